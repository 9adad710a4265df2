import type { Problem } from "../lib/web/form_errors.ts";

/**
 * The list of a form's problems at its top, each a link to its field (the GOV.UK error summary). It is an
 * alert and takes the focus when the page loads, so a screen reader reads it first; nothing when no problem.
 */
export function ErrorSummary(props: { id: string; problems: Problem[] }) {
  if (props.problems.length === 0) return null;
  return (
    <div
      class="error-summary"
      id={props.id}
      role="alert"
      tabindex={-1}
      autofocus
      aria-labelledby={`${props.id}-title`}
    >
      <h2 id={`${props.id}-title`}>There is a problem</h2>
      <ul>
        {props.problems.map((problem) => (
          <li>{problem.inputId ? <a href={`#${problem.inputId}`}>{problem.message}</a> : problem.message}</li>
        ))}
      </ul>
    </div>
  );
}

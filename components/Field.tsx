/**
 * A labelled input with its hint and error message above it, tied to it for screen readers: a field with an
 * error is `aria-invalid` and described by the message (read after the hint). The message is an alert unless
 * `summarised`: a form with an `ErrorSummary` announces its errors there, once.
 */
export function Field(props: {
  id: string;
  name: string;
  label: string;
  type?: string;
  value?: string;
  error?: string;
  autocomplete?: string;
  required?: boolean;
  maxLength?: number;
  accept?: string;
  hint?: string;
  summarised?: boolean;
}) {
  const describedBy = [props.hint && `${props.id}-hint`, props.error && `${props.id}-error`].filter(Boolean)
    .join(" ");
  return (
    <div class={props.error ? "field has-error" : "field"}>
      <label for={props.id}>{props.label}</label>
      {props.hint && <p class="hint" id={`${props.id}-hint`}>{props.hint}</p>}
      {props.error && (
        <p class="error" id={`${props.id}-error`} role={props.summarised ? undefined : "alert"}>
          <span class="visually-hidden">Error:</span> {props.error}
        </p>
      )}
      <input
        id={props.id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value}
        autocomplete={props.autocomplete}
        required={props.required}
        maxLength={props.maxLength}
        accept={props.accept}
        aria-invalid={props.error ? "true" : undefined}
        aria-describedby={describedBy || undefined}
      />
    </div>
  );
}

/** A labelled input with its error message right below it, tied together for screen readers. */
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
  hint?: string;
}) {
  const describedBy = [props.error && `${props.id}-error`, props.hint && `${props.id}-hint`].filter(Boolean)
    .join(" ");
  return (
    <div class={props.error ? "field has-error" : "field"}>
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value}
        autocomplete={props.autocomplete}
        required={props.required}
        maxLength={props.maxLength}
        aria-invalid={props.error ? "true" : undefined}
        aria-describedby={describedBy || undefined}
      />
      {props.hint && <p class="hint" id={`${props.id}-hint`}>{props.hint}</p>}
      {props.error && <p class="error" id={`${props.id}-error`} role="alert">{props.error}</p>}
    </div>
  );
}

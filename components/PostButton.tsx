/** A one-button form that POSTs hidden fields: works without JavaScript and with the keyboard. */
export function PostButton(props: {
  fields: Record<string, string>;
  label: string;
  /** Spoken name when the visible label is not enough ("Join Engineering"). */
  ariaLabel?: string;
  action?: string;
  class?: string;
}) {
  return (
    <form method="post" action={props.action} class="inline">
      {Object.entries(props.fields).map(([name, value]) => (
        <input key={name} type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={props.class} aria-label={props.ariaLabel}>{props.label}</button>
    </form>
  );
}

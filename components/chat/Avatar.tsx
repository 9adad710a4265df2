/** A person's picture, or their initials on a colour of their own when they have none. Decorative: a name follows. */
const COLOURS = 8;

export function initialsOf(name: string): string {
  const words = name.replace(/[._-]+/g, " ").trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [name];
  return letters.map((w) => [...w][0] ?? "").join("").toUpperCase() || "?";
}

/** One of the `avatar c0`..`c7` colour classes, the same for a person everywhere (CSP allows no inline style). */
function colourOf(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return hash % COLOURS;
}

export function Avatar(
  { id, name, url, size = 36 }: { id: string; name: string; url: string | null; size?: number },
) {
  if (url) return <img class="avatar" src={url} alt="" width={size} height={size} loading="lazy" />;
  return (
    <span class={`avatar initials c${colourOf(id)} s${size}`} aria-hidden="true">
      {initialsOf(name)}
    </span>
  );
}

/** Message text as text (never HTML), with http(s) links made clickable. Newlines are kept by CSS. */
const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/g;
/** Punctuation that usually ends a sentence rather than a URL. */
const TRAILING_RE = /[.,;:!?)\]}]+$/;

export function MessageText({ text }: { text: string }) {
  const parts: (string | { href: string; label: string })[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const raw = match[0];
    const trail = TRAILING_RE.exec(raw)?.[0] ?? "";
    const url = raw.slice(0, raw.length - trail.length);
    const start = match.index!;
    let href: string | null = null;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") href = parsed.href;
    } catch {
      href = null;
    }
    if (href === null) continue;
    if (start > last) parts.push(text.slice(last, start));
    parts.push({ href, label: url });
    last = start + url.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return (
    <span class="msg-text">
      {parts.map((part, i) =>
        typeof part === "string"
          ? part
          : (
            <a key={i} href={part.href} target="_blank" rel="noopener noreferrer nofollow ugc">
              {part.label}
            </a>
          )
      )}
    </span>
  );
}

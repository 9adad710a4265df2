/**
 * A message's text, rendered as chat markdown by lib/markdown (never as HTML): bold, italics, code, lists,
 * quotes, tables, safe links and emoji shortcodes. Styled by static/markdown.css.
 */
import { useMemo } from "preact/hooks";
import { emojiVersion } from "../lib/markdown/emoji.ts";
import { renderMarkdown } from "../lib/markdown/markdown.ts";

export function MessageText({ text }: { text: string }) {
  // The room re-renders on every new message; each text is parsed once (again when more emoji became known).
  const content = useMemo(() => renderMarkdown(text), [text, emojiVersion()]);
  return <div class="msg-text" dir="auto">{content}</div>;
}

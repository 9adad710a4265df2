/**
 * The message box: Enter sends, Shift+Enter starts a new line; a counter shows near the length limit and Send
 * is disabled past it, so an over-long message stays in the box to shorten. Without JavaScript it is a plain
 * form that posts the message to the room's page.
 */
import type { JSX } from "preact";

/** The counter shows once this share of the limit is used. */
const COUNT_FROM = 0.9;

/** Characters as the server counts them (code points); cheap for short texts. */
export function lengthOf(text: string, max: number): number {
  if (text.length < max * COUNT_FROM) return text.length;
  let count = 0;
  for (const _ of text) count++;
  return count;
}

export interface ComposerProps {
  roomId: string;
  /** `# general` or a person's name. */
  title: string;
  maxChars: number;
  draft: string;
  /** For the form without JavaScript: the message's idempotency key. */
  clientId: string;
  /** Shown above the box, e.g. why a message came back for editing. */
  notice?: string | null;
  onDraft?: (text: string) => void;
  onSend?: () => void;
  /** Extra controls (the emoji picker) next to Send. */
  tools?: JSX.Element;
  inputRef?: { current: HTMLTextAreaElement | null };
}

export function Composer(props: ComposerProps) {
  const length = lengthOf(props.draft, props.maxChars);
  const left = props.maxChars - length;
  const over = left < 0;
  const showCount = length >= props.maxChars * COUNT_FROM;
  const submit = (event: Event) => {
    if (!props.onSend) return; // No JavaScript yet: the form posts.
    event.preventDefault();
    if (!over) props.onSend();
  };
  return (
    <form class="composer" id="composer" method="post" action={`/rooms/${props.roomId}`} onSubmit={submit}>
      <input type="hidden" name="intent" value="send" />
      <input type="hidden" name="client_id" value={props.clientId} />
      {props.notice && <p class="composer-notice error" role="alert">{props.notice}</p>}
      <label for="composer-input" class="visually-hidden">Message {props.title}</label>
      <textarea
        id="composer-input"
        name="content"
        rows={2}
        ref={props.inputRef}
        value={props.draft}
        aria-describedby="composer-count"
        aria-invalid={over ? "true" : undefined}
        placeholder={`Message ${props.title}`}
        onInput={(event) =>
          props.onDraft?.((event.target as HTMLTextAreaElement).value)}
        onKeyDown={(event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            submit(event);
          }
        }}
      />
      <div class="composer-bar">
        <span id="composer-count" class={over ? "count over" : "count"} aria-live="polite">
          {showCount &&
            (over ? `${-left} ${-left === 1 ? "character" : "characters"} too many` : `${left} left`)}
        </span>
        <span class="composer-hint muted">Enter to send, Shift+Enter for a new line</span>
        {props.tools}
        {/* Without JavaScript the counter cannot follow edits: the server says when it is too long. */}
        <button type="submit" disabled={over && props.onSend !== undefined}>Send</button>
      </div>
    </form>
  );
}

/**
 * A room's messages as list items: day separators, the "new messages" line, grouped messages under one avatar
 * and name, system notices, and the user's own messages on their way (sending, or refused with Edit and
 * Discard). Long messages collapse behind "Show more".
 */
import type { JSX } from "preact";
import type { Member, PendingMessage } from "../../lib/client/mod.ts";
import { MessageText } from "../MessageText.tsx";
import { Avatar } from "./Avatar.tsx";
import { personLabel } from "./titles.ts";
import { fullTime, shortTime, type TimelineItem } from "./timeline.ts";

/** Longer messages (characters or lines) start collapsed. */
const COLLAPSE_CHARS = 1_200;
const COLLAPSE_LINES = 16;

export function isLong(text: string): boolean {
  if (text.length > COLLAPSE_CHARS) return true;
  let lines = 1;
  for (let i = text.indexOf("\n"); i !== -1 && lines <= COLLAPSE_LINES; i = text.indexOf("\n", i + 1)) {
    lines++;
  }
  return lines > COLLAPSE_LINES;
}

export interface MessagesProps {
  items: readonly TimelineItem[];
  members: ReadonlyMap<string, Member>;
  me: { id: string; username: string; display_name: string | null; avatar_url: string | null };
  timeZone: string;
  /** Seqs of long messages the user expanded. */
  expanded: ReadonlySet<number>;
  onExpand?: (seq: number) => void;
}

export function messageItems({ items, members, timeZone, expanded, onExpand }: MessagesProps): JSX.Element[] {
  return items.map((item) => {
    if (item.kind === "day") {
      return (
        <li key={item.key} class="day-separator">
          <span>{item.label}</span>
        </li>
      );
    }
    if (item.kind === "unread") {
      return (
        <li key={item.key} class="unread-line" id="unread-line">
          <span>New messages</span>
        </li>
      );
    }
    const m = item.message;
    if (m.type === "system") {
      return (
        <li key={item.key} class="msg is-system" data-seq={m.seq}>
          <span class="msg-text system" dir="auto">{m.content}</span>
          <time dateTime={m.timestamp} title={fullTime(m.timestamp, timeZone)}>
            {shortTime(m.timestamp, timeZone)}
          </time>
        </li>
      );
    }
    const member = members.get(m.user_id);
    const name = member?.display_name ?? m.username;
    const long = isLong(m.content) && !expanded.has(m.seq);
    return (
      <li
        key={item.key}
        class={`msg is-${m.type}${item.continued ? " continued" : ""}`}
        data-seq={m.seq}
        data-user-id={m.user_id}
      >
        <div class="msg-gutter">
          {item.continued
            ? (
              <time class="hover-time" dateTime={m.timestamp} title={fullTime(m.timestamp, timeZone)}>
                {shortTime(m.timestamp, timeZone)}
              </time>
            )
            : <Avatar id={m.user_id} name={name} url={member?.avatar_url ?? null} />}
        </div>
        <div class="msg-main">
          {!item.continued && (
            <div class="msg-meta">
              <strong
                class="msg-user"
                dir="auto"
                title={personLabel({ username: m.username, display_name: member?.display_name ?? null })}
              >
                {name}
              </strong>
              {member?.display_name && <span class="msg-username">@{m.username}</span>}
              {m.type === "bot" && <span class="tag">bot</span>}
              <time dateTime={m.timestamp} title={fullTime(m.timestamp, timeZone)}>
                {shortTime(m.timestamp, timeZone)}
              </time>
            </div>
          )}
          <div class={long ? "msg-body collapsed" : "msg-body"}>
            <MessageText text={m.content} />
          </div>
          {long && (
            <button type="button" class="link show-more" onClick={() => onExpand?.(m.seq)}>Show more</button>
          )}
        </div>
      </li>
    );
  });
}

export interface PendingProps {
  pending: readonly PendingMessage[];
  me: MessagesProps["me"];
  onEdit?: (clientId: string) => void;
  onDiscard?: (clientId: string) => void;
}

export function pendingItems({ pending, me, onEdit, onDiscard }: PendingProps): JSX.Element[] {
  const name = me.display_name ?? me.username;
  return pending.map((p) => (
    <li
      key={p.client_id}
      class={`msg own pending ${p.state}`}
      data-client-id={p.client_id}
      data-state={p.state}
    >
      <div class="msg-gutter">
        <Avatar id={me.id} name={name} url={me.avatar_url} />
      </div>
      <div class="msg-main">
        <div class="msg-meta">
          <strong class="msg-user">{name}</strong>
          <span class="msg-state">{p.state === "failed" ? `Not sent: ${p.error}` : "Sending…"}</span>
        </div>
        <div class="msg-body">
          <MessageText text={p.content} />
        </div>
        {p.state === "failed" && (
          <div class="msg-actions">
            <button type="button" class="edit" onClick={() => onEdit?.(p.client_id)}>Edit</button>
            <button type="button" class="discard" onClick={() => onDiscard?.(p.client_id)}>Discard</button>
          </div>
        )}
      </div>
    </li>
  ));
}

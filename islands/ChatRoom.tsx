/**
 * The live room, as a view: it renders what the chat client (`lib/client/`) holds for the room (messages,
 * pending own messages, members with presence, typing, connection status) and passes the user's actions to it.
 * The socket, catch-up and the outbox are the client's. Scrolling stays here: the list follows the newest
 * messages and stays still when older ones are prepended.
 */
import type { JSX } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { MessageText } from "../components/MessageText.tsx";
import {
  ChatClient,
  type ConnectionStatus,
  type RoomSeed,
  type RoomSnapshot,
  seedSnapshot,
} from "../lib/client/mod.ts";
import type { ChatMessage } from "../lib/hub/protocol.ts";

/** The room's seed (the newest page of history, whose last `seq` is where the client resumes, and members). */
export interface ChatRoomProps extends RoomSeed {
  room: { id: string; name: string; description: string; is_direct: boolean; is_private: boolean };
  me: { id: string; username: string };
}

/** While the view follows the newest messages, only this many are kept; older ones load on scroll. */
const MAX_SHOWN = 500;
/** Renders are batched to at most one per this many ms, so a backfill of thousands of frames stays cheap. */
const RENDER_MS = 16;
/** The read marker moves after the shown messages stayed this long. */
const READ_MS = 500;
export const HISTORY_RESET_TEXT = "Older messages are no longer available";

const STATUS_TEXT: Record<ConnectionStatus, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

export default function ChatRoom(props: ChatRoomProps) {
  const roomId = props.room.id;
  const [room, setRoom] = useState<RoomSnapshot>(() => seedSnapshot(roomId, props, props.me.id));
  const [status, setStatus] = useState<ConnectionStatus>("connecting");
  const [draft, setDraft] = useState("");
  const client = useRef<ChatClient | null>(null);
  const rendered = useRef(room);
  const listRef = useRef<HTMLOListElement>(null);
  const keepBottom = useRef(true);
  const scrollAnchor = useRef<{ height: number; top: number } | null>(null);

  // The client: made once the page runs, watching this room; its changes show at most once per frame.
  useEffect(() => {
    const chat = new ChatClient({ me: props.me });
    chat.watch(roomId, props);
    client.current = chat;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const show = () => {
      // While following the newest messages, older ones go (this render shows that too).
      if (keepBottom.current) chat.trim(roomId, MAX_SHOWN);
      timer = undefined;
      const next = chat.room(roomId);
      const list = listRef.current;
      const first = rendered.current.messages[0]?.seq;
      // Older messages are about to be prepended: keep what is on screen where it is.
      if (list && first !== undefined && (next.messages[0]?.seq ?? first) < first) {
        scrollAnchor.current = { height: list.scrollHeight, top: list.scrollTop };
      }
      rendered.current = next;
      setRoom(next);
      setStatus(chat.status);
    };
    const unsubscribe = chat.subscribe(() => {
      timer ??= setTimeout(show, RENDER_MS);
    });
    chat.connect();
    return () => {
      unsubscribe();
      clearTimeout(timer);
      chat.close();
    };
  }, []);

  // Read marker: what is shown while the page is visible counts as read.
  useEffect(() => {
    if (document.visibilityState !== "visible") return;
    const t = setTimeout(() => client.current?.markRead(roomId), READ_MS);
    return () => clearTimeout(t);
  });

  // Scrolling: stay at the bottom for new messages; keep the view still when older ones are prepended.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    if (scrollAnchor.current) {
      list.scrollTop = scrollAnchor.current.top + (list.scrollHeight - scrollAnchor.current.height);
      scrollAnchor.current = null;
    } else if (keepBottom.current) {
      list.scrollTop = list.scrollHeight;
    }
  });

  function loadOlder(): void {
    client.current?.loadOlder(roomId);
  }

  function onScroll(): void {
    const list = listRef.current!;
    const wasFollowing = keepBottom.current;
    keepBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (keepBottom.current && !wasFollowing) client.current?.trim(roomId, MAX_SHOWN);
    if (list.scrollTop < 60) loadOlder();
  }

  function submit(): void {
    if (!client.current?.send(roomId, draft)) return;
    setDraft("");
    keepBottom.current = true;
  }

  function onKeyDown(event: KeyboardEvent): void {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  function onInput(event: Event): void {
    setDraft((event.target as HTMLTextAreaElement).value);
    client.current?.typing(roomId);
  }

  const renderMessage = (m: ChatMessage) => (
    <li
      key={m.seq}
      class={`msg is-${m.type}${m.user_id === props.me.id ? " own" : ""}`}
      data-seq={m.seq}
    >
      {m.type === "system" ? <span class="msg-text system">{m.content}</span> : (
        <>
          <span class="msg-meta">
            <strong class="msg-user">{m.username}</strong>
            <time dateTime={m.timestamp}>{formatTime(m.timestamp)}</time>
          </span>
          <MessageText text={m.content} />
        </>
      )}
    </li>
  );
  // The reset notice sits where the hole is: before the first message from `from_seq` on.
  const { messages, historyReset, typists } = room;
  let shown: JSX.Element[] = messages.map(renderMessage);
  if (historyReset !== null) {
    const at = messages.findIndex((m) => m.seq >= historyReset);
    const notice = (
      <li key="history-reset" id="history-reset" class="msg is-system">
        <span class="msg-text system">{HISTORY_RESET_TEXT}</span>
      </li>
    );
    shown = at < 0 ? [...shown, notice] : [...shown.slice(0, at), notice, ...shown.slice(at)];
  }
  const title = props.room.is_direct ? props.room.name : `# ${props.room.name}`;
  return (
    <div class="chat">
      <header class="chat-head">
        <h1>{title}</h1>
        <p class={`conn conn-${status}`} id="connection-status" data-status={status} role="status">
          <span class="dot" aria-hidden="true" />
          {STATUS_TEXT[status]}
        </p>
      </header>
      {props.room.description && <p class="muted chat-desc">{props.room.description}</p>}
      <div class="chat-body">
        <section class="chat-main" aria-label="Messages">
          <ol
            class="messages"
            id="messages"
            ref={listRef}
            onScroll={onScroll}
            tabIndex={0}
            aria-live="polite"
            data-last-seq={room.lastSeq}
          >
            {room.hasOlder && (
              <li class="older">
                <button type="button" onClick={loadOlder} disabled={room.loadingOlder}>
                  {room.loadingOlder ? "Loading…" : "Load older messages"}
                </button>
              </li>
            )}
            {shown}
            {room.pending.map((p) => (
              <li
                key={p.client_id}
                class={`msg own pending ${p.state}`}
                data-client-id={p.client_id}
                data-state={p.state}
              >
                <span class="msg-meta">
                  <strong class="msg-user">{props.me.username}</strong>
                  <span class="muted">{p.state === "failed" ? `Not sent: ${p.error}` : "sending…"}</span>
                  {p.state === "failed" && (
                    <button
                      type="button"
                      class="discard"
                      onClick={() => client.current?.discard(p.client_id)}
                    >
                      Discard
                    </button>
                  )}
                </span>
                <MessageText text={p.content} />
              </li>
            ))}
          </ol>
          <p class="typing" id="typing" aria-live="polite">
            {typists.length === 1 && `${typists[0]} is typing…`}
            {typists.length > 1 && `${typists.join(", ")} are typing…`}
          </p>
          <form
            class="composer"
            id="composer"
            onSubmit={(e) => {
              e.preventDefault();
              submit();
            }}
          >
            <label for="composer-input" class="visually-hidden">Message {title}</label>
            <textarea
              id="composer-input"
              rows={2}
              value={draft}
              onInput={onInput}
              onKeyDown={onKeyDown}
              placeholder={`Message ${title} (Enter to send, Shift+Enter for a new line)`}
            />
            <button type="submit">Send</button>
          </form>
        </section>
        <aside class="members" aria-labelledby="members-title">
          <h2 id="members-title">Members ({room.members.length})</h2>
          <ul id="members">
            {room.members.map((m) => (
              <li key={m.id} data-user-id={m.id} data-online={m.online ? "true" : "false"}>
                <span class={m.online ? "dot online" : "dot"} aria-hidden="true" />
                {m.avatar_url && <img class="avatar" src={m.avatar_url} alt="" width={20} height={20} />}
                <span>{m.display_name ?? m.username}</span>
                <span class="visually-hidden">{m.online ? " (online)" : " (offline)"}</span>
              </li>
            ))}
          </ul>
        </aside>
      </div>
    </div>
  );
}

function formatTime(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

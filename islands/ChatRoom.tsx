/**
 * The live room: messages over the WebSocket (authenticated by the session cookie), own messages shown at once
 * and confirmed by the server, catch-up by `seq` after every (re)connect and on any gap, scrollback, typing,
 * presence, and a connection status. Imports protocol types only, never server code.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { MessageText } from "../components/MessageText.tsx";
import type { ChatMessage, ServerFrame } from "../lib/hub/protocol.ts";

export interface Member {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
  online: boolean;
}

export interface ChatRoomProps {
  room: { id: string; name: string; description: string; is_direct: boolean; is_private: boolean };
  me: { id: string; username: string };
  /** The newest page of history, oldest first; its last `seq` is where the island resumes. */
  messages: ChatMessage[];
  hasOlder: boolean;
  members: Member[];
}

type Status = "connecting" | "connected" | "reconnecting" | "offline";

interface Pending {
  client_id: string;
  content: string;
  state: "sending" | "sent" | "failed";
  error?: string;
}

const PAGE = 100;
const TYPING_SEND_MS = 2_000;
const TYPING_SHOW_MS = 4_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;

const STATUS_TEXT: Record<Status, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

/** Delay before reconnect attempt `n` (from 0): exponential with "equal jitter", capped. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + random() * ceiling / 2;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return res.json();
}

export default function ChatRoom(props: ChatRoomProps) {
  const roomId = props.room.id;
  const [, setVersion] = useState(0);
  const rerender = () => setVersion((v) => v + 1);
  const [status, setStatus] = useState<Status>("connecting");
  const [members, setMembers] = useState<Member[]>(props.members);
  const [typing, setTyping] = useState<Map<string, { username: string; until: number }>>(new Map());
  const [hasOlder, setHasOlder] = useState(props.hasOlder);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [draft, setDraft] = useState("");

  // Mutable chat state lives in a ref; `rerender()` shows it.
  const s = useRef({
    bySeq: new Map<number, ChatMessage>(props.messages.map((m) => [m.seq, m])),
    /** Highest seq up to which the island holds every message (the resume point). */
    lastSeq: props.messages.at(-1)?.seq ?? 0,
    pending: new Map<string, Pending>(),
    ws: null as WebSocket | null,
    ready: false,
    catchingUp: false,
    catchUpAgain: false,
    lastTypingSent: 0,
    readSent: 0,
  }).current;
  const listRef = useRef<HTMLOListElement>(null);
  const keepBottom = useRef(true);
  const scrollAnchor = useRef<{ height: number; top: number } | null>(null);

  const ordered = useMemo(
    () => [...s.bySeq.values()].sort((a, b) => a.seq - b.seq),
    // Messages are only ever added, so the count tells when the order must be recomputed.
    [s.bySeq.size],
  );

  function add(message: ChatMessage): boolean {
    if (message.room_id !== roomId || s.bySeq.has(message.seq)) return false;
    s.bySeq.set(message.seq, message);
    if (message.client_id && message.user_id === props.me.id) s.pending.delete(message.client_id);
    while (s.bySeq.has(s.lastSeq + 1)) s.lastSeq++;
    return true;
  }

  /** Loads everything after `lastSeq` from the REST API, page by page; repeats if asked again meanwhile. */
  async function catchUp(): Promise<void> {
    if (s.catchingUp) {
      s.catchUpAgain = true;
      return;
    }
    s.catchingUp = true;
    try {
      do {
        s.catchUpAgain = false;
        while (true) {
          const page = await getJson<{ messages: ChatMessage[] }>(
            `/api/rooms/${roomId}/messages?after_seq=${s.lastSeq}&limit=${PAGE}`,
          );
          for (const m of page.messages) add(m);
          rerender();
          if (page.messages.length < PAGE) break;
        }
      } while (s.catchUpAgain);
    } catch {
      // Offline or server gone: the next reconnect catches up again.
    } finally {
      s.catchingUp = false;
    }
  }

  function sendFrame(frame: unknown): boolean {
    if (!s.ready || s.ws?.readyState !== WebSocket.OPEN) return false;
    s.ws.send(JSON.stringify(frame));
    return true;
  }

  function flushOutbox(): void {
    for (const p of s.pending.values()) {
      if (p.state === "sending") {
        sendFrame({ type: "message", room_id: roomId, content: p.content, client_id: p.client_id });
      }
    }
  }

  function refreshMembers(): void {
    getJson<{ members: Member[] }>(`/api/rooms/${roomId}/members`).then(
      (r) => setMembers(r.members),
      () => {},
    );
  }

  function onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "pong":
        if (!s.ready) {
          // The server handled the connect (every room subscribed) before this pong: safe to catch up now.
          s.ready = true;
          setStatus("connected");
          catchUp().then(flushOutbox);
        }
        return;
      case "text":
      case "system":
      case "bot": {
        if (frame.room_id !== roomId) return;
        const gap = frame.seq > s.lastSeq + 1;
        if (add(frame)) rerender();
        if (gap) catchUp();
        if (frame.type === "system") refreshMembers();
        return;
      }
      case "ack": {
        const p = frame.client_id ? s.pending.get(frame.client_id) : undefined;
        if (p) {
          p.state = "sent";
          if (frame.seq > s.lastSeq) catchUp();
          rerender();
        }
        return;
      }
      case "error": {
        const p = frame.client_id ? s.pending.get(frame.client_id) : undefined;
        if (p && !frame.retryable) {
          p.state = "failed";
          p.error = frame.message;
          rerender();
        } else if (p && frame.retryable) {
          setTimeout(flushOutbox, frame.retry_after_ms ?? 1_000);
        }
        return;
      }
      case "presence":
        setMembers((list) =>
          list.map((m) => m.id === frame.user_id ? { ...m, online: frame.status === "online" } : m)
        );
        return;
      case "typing":
        if (frame.room_id !== roomId || frame.user_id === props.me.id) return;
        setTyping((map) =>
          new Map(map).set(frame.user_id, { username: frame.username, until: Date.now() + TYPING_SHOW_MS })
        );
        return;
    }
  }

  // The socket, with reconnects.
  useEffect(() => {
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const connect = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${location.host}/ws`);
      s.ws = ws;
      s.ready = false;
      ws.onopen = () => {
        attempt = 0;
        ws.send(JSON.stringify({ type: "ping" }));
      };
      ws.onmessage = (event) => onFrame(JSON.parse(event.data));
      ws.onclose = () => {
        if (s.ws !== ws) return;
        s.ready = false;
        if (stopped) return;
        setStatus(navigator.onLine ? "reconnecting" : "offline");
        timer = setTimeout(connect, backoff(attempt++));
      };
    };
    const reconnectNow = () => {
      if (s.ws?.readyState === WebSocket.OPEN) return;
      clearTimeout(timer);
      connect();
    };
    const wentOffline = () => setStatus("offline");
    addEventListener("online", reconnectNow);
    addEventListener("offline", wentOffline);
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      removeEventListener("online", reconnectNow);
      removeEventListener("offline", wentOffline);
      s.ws?.close();
    };
  }, []);

  // Typing notices expire.
  useEffect(() => {
    if (typing.size === 0) return;
    const t = setInterval(() => {
      const now = Date.now();
      setTyping((map) => {
        const next = new Map([...map].filter(([, v]) => v.until > now));
        return next.size === map.size ? map : next;
      });
    }, 500);
    return () => clearInterval(t);
  }, [typing.size > 0]);

  // Read marker: what is shown while the page is visible counts as read.
  useEffect(() => {
    if (s.lastSeq <= s.readSent || document.visibilityState !== "visible") return;
    const t = setTimeout(() => {
      const seq = s.lastSeq;
      fetch(`/api/rooms/${roomId}/read`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ seq }),
      }).then((r) => r.ok && (s.readSent = seq), () => {});
    }, 500);
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

  async function loadOlder(): Promise<void> {
    if (loadingOlder || !hasOlder) return;
    const first = ordered[0]?.seq;
    if (first === undefined || first <= 1) {
      setHasOlder(false);
      return;
    }
    setLoadingOlder(true);
    try {
      const page = await getJson<{ messages: ChatMessage[] }>(
        `/api/rooms/${roomId}/messages?before_seq=${first}&limit=50`,
      );
      const list = listRef.current;
      if (list) scrollAnchor.current = { height: list.scrollHeight, top: list.scrollTop };
      for (const m of page.messages) add(m);
      if (page.messages.length < 50 || page.messages[0]?.seq === 1) setHasOlder(false);
      rerender();
    } catch {
      // Try again on the next scroll.
    } finally {
      setLoadingOlder(false);
    }
  }

  function onScroll(): void {
    const list = listRef.current!;
    keepBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (list.scrollTop < 60) loadOlder();
  }

  function submit(): void {
    const content = draft;
    if (content.trim() === "") return;
    const client_id = crypto.randomUUID();
    s.pending.set(client_id, { client_id, content, state: "sending" });
    setDraft("");
    keepBottom.current = true;
    sendFrame({ type: "message", room_id: roomId, content, client_id });
    rerender();
  }

  function onKeyDown(event: KeyboardEvent): void {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  function onInput(event: Event): void {
    setDraft((event.target as HTMLTextAreaElement).value);
    const now = Date.now();
    if (now - s.lastTypingSent > TYPING_SEND_MS && sendFrame({ type: "typing", room_id: roomId })) {
      s.lastTypingSent = now;
    }
  }

  const typists = [...typing.values()].map((t) => t.username);
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
          >
            {hasOlder && (
              <li class="older">
                <button type="button" onClick={loadOlder} disabled={loadingOlder}>
                  {loadingOlder ? "Loading…" : "Load older messages"}
                </button>
              </li>
            )}
            {ordered.map((m) => (
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
            ))}
            {[...s.pending.values()].map((p) => (
              <li
                key={p.client_id}
                class={`msg own pending ${p.state}`}
                data-client-id={p.client_id}
                data-state={p.state}
              >
                <span class="msg-meta">
                  <strong class="msg-user">{props.me.username}</strong>
                  <span class="muted">{p.state === "failed" ? `Not sent: ${p.error}` : "sending…"}</span>
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
          <h2 id="members-title">Members ({members.length})</h2>
          <ul id="members">
            {members.map((m) => ({ ...m, online: m.id === props.me.id ? status === "connected" : m.online }))
              .map((m) => (
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

/**
 * The live room: messages over the WebSocket (authenticated by the session cookie); own messages kept in an
 * outbox (IndexedDB) from the moment they are sent until the server confirms them, so a reload or a crash loses
 * none; catch-up with a `resume` frame after every (re)connect and on any gap; scrollback, typing, presence, and
 * a connection status. Imports protocol types only, never server code.
 */
import type { JSX } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { MessageText } from "../components/MessageText.tsx";
import type { ChatMessage, ServerFrame } from "../lib/hub/protocol.ts";
import { openOutbox, type Outbox, type OutboxEntry } from "./outbox.ts";

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

/** An own message the server has not confirmed as stored and broadcast yet. */
interface Pending extends OutboxEntry {
  /** sending: no answer yet; sent: acknowledged, its broadcast not seen yet; failed: refused for good. */
  state: "sending" | "sent" | "failed";
  error?: string;
  /** Written to the outbox (or the write failed): only then is it sent. */
  saved: boolean;
  /** The socket it was last sent on: sent once per connection, and again after a retryable error. */
  sentOn: WebSocket | null;
}

const PAGE = 100;
/** While the view follows the newest messages, only this many are kept; older ones load on scroll. */
const MAX_SHOWN = 500;
/** Renders are batched to at most one per this many ms, so a backfill of thousands of frames stays cheap. */
const RENDER_MS = 16;
/** How long an acknowledged message's broadcast may take before the island asks for what it missed. */
const ACK_GAP_MS = 1_000;
const RETRY_MS = 1_000;
const TYPING_SEND_MS = 2_000;
const TYPING_SHOW_MS = 4_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;
export const HISTORY_RESET_TEXT = "Older messages are no longer available";

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

const bySeqOrder = (a: ChatMessage, b: ChatMessage) => a.seq - b.seq;
const byCreation = (a: OutboxEntry, b: OutboxEntry) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;

export default function ChatRoom(props: ChatRoomProps) {
  const roomId = props.room.id;
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<Status>("connecting");
  const [members, setMembers] = useState<Member[]>(props.members);
  const [typing, setTyping] = useState<Map<string, { username: string; until: number }>>(new Map());
  const [hasOlder, setHasOlder] = useState(props.hasOlder);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [draft, setDraft] = useState("");
  /** `from_seq` of the last `reset`: history has a hole below it. */
  const [historyReset, setHistoryReset] = useState<number | null>(null);

  // Mutable chat state lives in a ref; `rerender()` shows it.
  const s = useRef({
    bySeq: new Map<number, ChatMessage>(props.messages.map((m) => [m.seq, m])),
    /** Highest seq up to which the island has received every message (the resume point). */
    lastSeq: props.messages.at(-1)?.seq ?? 0,
    /** Own unconfirmed messages by `client_id`. */
    pending: new Map<string, Pending>(),
    outbox: null as Promise<Outbox> | null,
    outboxLoaded: false,
    ws: null as WebSocket | null,
    /** The socket's first pong arrived: the server subscribed it to every room. */
    ready: false,
    /** The socket's first resume is done: the outbox may be sent. */
    synced: false,
    resuming: false,
    /** `lastSeq` when the current resume was asked for. */
    resumeFrom: 0,
    fetching: false,
    fetchAgain: false,
    attempt: 0,
    renderTimer: undefined as ReturnType<typeof setTimeout> | undefined,
    membersTimer: undefined as ReturnType<typeof setTimeout> | undefined,
    lastTypingSent: 0,
    readSent: 0,
  }).current;
  const listRef = useRef<HTMLOListElement>(null);
  const keepBottom = useRef(true);
  const scrollAnchor = useRef<{ height: number; top: number } | null>(null);

  // `version` changes whenever `s.bySeq` did.
  const ordered = useMemo(() => [...s.bySeq.values()].sort(bySeqOrder), [version]);

  /** Shows the changed state soon; many changes in a row make one render. */
  function rerender(): void {
    if (s.renderTimer !== undefined) return;
    s.renderTimer = setTimeout(() => {
      s.renderTimer = undefined;
      trim();
      setVersion((v) => v + 1);
    }, RENDER_MS);
  }

  /** While the view follows the newest messages, forgets all but the newest `MAX_SHOWN` received ones. */
  function trim(): void {
    if (!keepBottom.current || s.bySeq.size <= MAX_SHOWN) return;
    const held = [...s.bySeq.keys()].filter((seq) => seq <= s.lastSeq).sort((a, b) => a - b);
    const drop = Math.min(held.length, s.bySeq.size - MAX_SHOWN);
    for (let i = 0; i < drop; i++) s.bySeq.delete(held[i]);
    if (drop > 0) setHasOlder(true);
  }

  function outbox(): Promise<Outbox> {
    return s.outbox ??= openOutbox();
  }

  function advance(): void {
    while (s.bySeq.has(s.lastSeq + 1)) s.lastSeq++;
  }

  /** Whether a message above `lastSeq` arrived without the ones before it. */
  function hasGap(): boolean {
    for (const seq of s.bySeq.keys()) if (seq > s.lastSeq) return true;
    return false;
  }

  /** A stored message from the socket (live or backfill) or the catch-up API; false when already had. */
  function received(message: ChatMessage): boolean {
    if (message.room_id !== roomId) return false;
    if (message.client_id && message.user_id === props.me.id) settle(message.client_id);
    if (message.seq <= s.lastSeq || s.bySeq.has(message.seq)) return false;
    s.bySeq.set(message.seq, message);
    advance();
    return true;
  }

  /** The server has stored an own message: it leaves the pending list and the outbox. */
  function settle(clientId: string): void {
    if (!s.pending.delete(clientId)) return;
    forget(clientId);
    rerender();
  }

  function forget(clientId: string): void {
    outbox().then((o) => o.delete(clientId)).catch(() => {});
  }

  /** Asks the open socket for everything after `lastSeq` (the answer ends with `resumed`). */
  function resume(): void {
    if (!s.ready || s.resuming) return;
    s.resuming = true;
    s.resumeFrom = s.lastSeq;
    if (!sendFrame({ type: "resume", rooms: { [roomId]: s.lastSeq } })) s.resuming = false;
  }

  /** A resume ended; `sent` is the last seq the server sent for this room. */
  function resumed(sent: number | undefined): void {
    s.resuming = false;
    if (!s.synced) {
      s.synced = true;
      flushOutbox();
    }
    if (sent !== undefined && sent > s.lastSeq) fetchAfter();
    else if (hasGap()) s.lastSeq > s.resumeFrom ? resume() : fetchAfter();
    rerender();
  }

  /** Fills a gap: a resume on the open socket, else the history API. */
  function catchUp(): void {
    if (s.ready) resume();
    else fetchAfter();
  }

  /** Loads everything after `lastSeq` from the REST API, page by page; repeats if asked again meanwhile. */
  async function fetchAfter(): Promise<void> {
    if (s.fetching) {
      s.fetchAgain = true;
      return;
    }
    s.fetching = true;
    try {
      do {
        s.fetchAgain = false;
        while (true) {
          const page = await getJson<{ messages: ChatMessage[] }>(
            `/api/rooms/${roomId}/messages?after_seq=${s.lastSeq}&limit=${PAGE}`,
          );
          for (const m of page.messages) received(m);
          rerender();
          if (page.messages.length < PAGE) break;
        }
      } while (s.fetchAgain);
    } catch {
      // Offline or server gone: the next reconnect resumes.
    } finally {
      s.fetching = false;
    }
  }

  function sendFrame(frame: unknown): boolean {
    if (!s.ready || s.ws?.readyState !== WebSocket.OPEN) return false;
    s.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a pending message once per connection, after the connection's resume and the outbox load. */
  function sendPending(p: Pending): void {
    if (!s.synced || !s.outboxLoaded || !p.saved || p.state !== "sending") return;
    if (s.pending.get(p.client_id) !== p || p.sentOn === s.ws) return;
    if (sendFrame({ type: "message", room_id: roomId, content: p.content, client_id: p.client_id })) {
      p.sentOn = s.ws;
    }
  }

  function flushOutbox(): void {
    for (const p of [...s.pending.values()].sort(byCreation)) sendPending(p);
  }

  /** Shows the outbox's entries for this room as pending; those already stored leave it. */
  function loadOutbox(entries: OutboxEntry[]): void {
    const stored = new Set<string>();
    for (const m of s.bySeq.values()) if (m.client_id && m.user_id === props.me.id) stored.add(m.client_id);
    for (const entry of entries) {
      if (stored.has(entry.client_id)) forget(entry.client_id);
      else if (!s.pending.has(entry.client_id)) {
        s.pending.set(entry.client_id, { ...entry, state: "sending", saved: true, sentOn: null });
      }
    }
    rerender();
  }

  function discard(clientId: string): void {
    s.pending.delete(clientId);
    forget(clientId);
    rerender();
  }

  function refreshMembers(): void {
    clearTimeout(s.membersTimer);
    s.membersTimer = setTimeout(() => {
      getJson<{ members: Member[] }>(`/api/rooms/${roomId}/members`).then(
        (r) => setMembers(r.members),
        () => {},
      );
    }, 200);
  }

  function onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "pong":
        if (!s.ready) {
          // The server handled the connect (every room subscribed) before this pong: safe to resume now.
          s.ready = true;
          s.attempt = 0;
          setStatus("connected");
          resume();
        }
        return;
      case "text":
      case "system":
      case "bot": {
        if (frame.room_id !== roomId) return;
        // Before and during the connection's resume, `resumed` checks for holes instead.
        const gap = s.ready && !s.resuming && frame.seq > s.lastSeq + 1;
        if (received(frame)) {
          rerender();
          if (frame.type === "system") refreshMembers();
        }
        if (gap) catchUp();
        return;
      }
      case "reset":
        if (frame.room_id !== roomId) return;
        // Retention removed part of the gap: history continues at `from_seq`.
        if (frame.from_seq - 1 > s.lastSeq) {
          s.lastSeq = frame.from_seq - 1;
          advance();
        }
        setHistoryReset(frame.from_seq);
        rerender();
        return;
      case "resumed":
        if (s.resuming) resumed(frame.rooms[roomId]);
        return;
      case "ack": {
        const p = frame.client_id ? s.pending.get(frame.client_id) : undefined;
        if (!p) return;
        forget(p.client_id);
        // A command (`/stock=…`) is not stored: done once queued; its bot's answer arrives as a message.
        if ("job_id" in frame) s.pending.delete(p.client_id);
        else if (frame.seq <= s.lastSeq) s.pending.delete(p.client_id);
        else {
          // Shown as sent until its broadcast arrives; if that got lost, ask for it.
          p.state = "sent";
          const seq = frame.seq;
          setTimeout(() => s.lastSeq < seq && catchUp(), ACK_GAP_MS);
        }
        rerender();
        return;
      }
      case "error": {
        if (frame.client_id) {
          const p = s.pending.get(frame.client_id);
          if (!p) return;
          if (frame.retryable) {
            p.sentOn = null;
            setTimeout(() => sendPending(p), frame.retry_after_ms ?? RETRY_MS);
          } else {
            p.state = "failed";
            p.error = frame.message;
            rerender();
          }
          return;
        }
        if (s.resuming && frame.room_id === undefined) {
          // The resume itself failed (e.g. the store is unavailable): no `resumed` follows.
          s.resuming = false;
          const ws = s.ws;
          if (frame.retryable) setTimeout(() => s.ws === ws && resume(), frame.retry_after_ms ?? RETRY_MS);
          else resumed(undefined);
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

  // The outbox of an earlier page: shown as pending and sent once connected.
  useEffect(() => {
    outbox().then((o) => o.list(roomId)).then(loadOutbox, () => {}).finally(() => {
      s.outboxLoaded = true;
      flushOutbox();
    });
  }, []);

  // The socket, with reconnects.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const connect = () => {
      const previous = s.ws;
      if (previous) {
        previous.onclose = previous.onmessage = null;
        previous.close();
      }
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${location.host}/ws`);
      s.ws = ws;
      s.ready = s.synced = s.resuming = false;
      ws.onopen = () => ws.send(JSON.stringify({ type: "ping" }));
      ws.onmessage = (event) => onFrame(JSON.parse(event.data));
      ws.onclose = () => {
        if (s.ws !== ws) return;
        s.ready = s.synced = s.resuming = false;
        if (stopped) return;
        setStatus(navigator.onLine ? "reconnecting" : "offline");
        timer = setTimeout(connect, backoff(s.attempt++));
      };
    };
    const reconnectNow = () => {
      if (s.ws?.readyState === WebSocket.OPEN) return;
      clearTimeout(timer);
      connect();
    };
    // The network is gone: the socket is dead, whether or not the browser has noticed; `online` reconnects.
    const wentOffline = () => {
      setStatus("offline");
      s.ws?.close();
    };
    addEventListener("online", reconnectNow);
    addEventListener("offline", wentOffline);
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(s.renderTimer);
      clearTimeout(s.membersTimer);
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
      for (const m of page.messages) if (m.room_id === roomId && !s.bySeq.has(m.seq)) s.bySeq.set(m.seq, m);
      if (page.messages.length < 50 || page.messages[0]?.seq === 1) setHasOlder(false);
      setVersion((v) => v + 1);
    } catch {
      // Try again on the next scroll.
    } finally {
      setLoadingOlder(false);
    }
  }

  function onScroll(): void {
    const list = listRef.current!;
    const wasFollowing = keepBottom.current;
    keepBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (keepBottom.current && !wasFollowing && s.bySeq.size > MAX_SHOWN) rerender();
    if (list.scrollTop < 60) loadOlder();
  }

  function submit(): void {
    const content = draft;
    if (content.trim() === "") return;
    const entry: OutboxEntry = {
      client_id: crypto.randomUUID(),
      room_id: roomId,
      content,
      created_at: new Date().toISOString(),
    };
    const p: Pending = { ...entry, state: "sending", saved: false, sentOn: null };
    s.pending.set(entry.client_id, p);
    setDraft("");
    keepBottom.current = true;
    rerender();
    // Into the outbox first, then onto the socket (a failed write still sends: the memory fallback).
    outbox().then((o) => o.put(entry)).catch(() => {}).finally(() => {
      p.saved = true;
      sendPending(p);
    });
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
  let shown: JSX.Element[] = ordered.map(renderMessage);
  if (historyReset !== null) {
    const at = ordered.findIndex((m) => m.seq >= historyReset);
    const notice = (
      <li key="history-reset" id="history-reset" class="msg is-system">
        <span class="msg-text system">{HISTORY_RESET_TEXT}</span>
      </li>
    );
    shown = at < 0 ? [...shown, notice] : [...shown.slice(0, at), notice, ...shown.slice(at)];
  }
  const pending = [...s.pending.values()].sort(byCreation);

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
            data-last-seq={s.lastSeq}
          >
            {hasOlder && (
              <li class="older">
                <button type="button" onClick={loadOlder} disabled={loadingOlder}>
                  {loadingOlder ? "Loading…" : "Load older messages"}
                </button>
              </li>
            )}
            {shown}
            {pending.map((p) => (
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
                      onClick={() => discard(p.client_id)}
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

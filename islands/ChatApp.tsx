/**
 * The chat app, as a view of the chat client (`lib/client/`): the sidebar of the user's rooms with live unread
 * counts, the open room (messages, typing, composer), and its details panel (members, settings). One client,
 * one socket for every room; switching rooms changes the URL with the history API, no page load. The tab title
 * and the favicon show the unread total. The server renders the same markup first (rooms, the open room's
 * newest messages); without JavaScript the links and forms still work.
 *
 * Scrolling stays here: the list follows the newest messages, stays still when older ones are prepended, and
 * offers a jump back down when new ones arrive while the user reads further up.
 */
import { Component, type ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { Composer } from "../components/chat/Composer.tsx";
import { NewDirectDialog, NewRoomDialog } from "../components/chat/Dialogs.tsx";
import { Directory, type DirectoryData } from "../components/chat/Directory.tsx";
import { EmojiPicker } from "../components/EmojiPicker.tsx";
import { messageItems, pendingItems } from "../components/chat/Messages.tsx";
import { setFavicon } from "../components/chat/favicon.ts";
import { Missing, NotAMember, Preview } from "../components/chat/Notices.tsx";
import { RoomDetails } from "../components/chat/RoomDetails.tsx";
import {
  ConnectionBanner,
  DrawerToggle,
  RoomHeader,
  SignedOutBanner,
  StoreDownBanner,
} from "../components/chat/RoomHeader.tsx";
import { Sidebar } from "../components/chat/Sidebar.tsx";
import { roomTitle } from "../components/chat/titles.ts";
import { knownTimeZone, LOCAL, timeline } from "../components/chat/timeline.ts";
import {
  ChatClient,
  type ConnectionStatus,
  localExpiry,
  type Member,
  type RoomEntry,
  type RoomSeed,
  type RoomSnapshot,
  seedSnapshot,
  type SidebarRoom,
} from "../lib/client/mod.ts";
import { RoomList } from "../lib/client/room_list.ts";
import { IS_BROWSER } from "../lib/fresh/runtime.ts";
import { addEmoji, onEmojiTable } from "../lib/markdown/emoji.ts";

/** What a page opens with in its main column. */
export type AppView =
  | {
    kind: "room";
    room: RoomEntry;
    seed: RoomSeed;
    /** The user's read marker before this visit: the "new messages" line goes after it. */
    readSeq: number | null;
    /** A message the page could not send (the form without JavaScript): back in the box, with why. */
    draft?: string;
    notice?: string;
  }
  | { kind: "browse"; directory: DirectoryData }
  | { kind: "preview"; room: { id: string; name: string; description: string; member_count: number } }
  | { kind: "missing" };

export interface ChatAppProps {
  me: { id: string; username: string; display_name: string | null; avatar_url: string | null };
  rooms: RoomEntry[];
  view: AppView;
  /** The emoji the view's messages name (the browser loads the whole table only when it needs more). */
  emoji: Record<string, string>;
  maxChars: number;
  /** The zone the server formats times in (the browser's own, from its cookie, else UTC), and the server's now. */
  timeZone: string;
  now: number;
  /** The idempotency key of a message sent by the form without JavaScript. */
  clientId: string;
  /** When the page's access token expires (ms, the server's clock, as `now`): the client renews it before. */
  token_expires_at?: number;
  /** How long an access token lives (ms). */
  token_ttl_ms?: number;
  /** The page's sign-in session. */
  session_id?: string;
}

/** While the view follows the newest messages, only this many are kept; older ones load on scroll. */
const MAX_SHOWN = 500;
/** Renders are batched to at most one per this many ms, so a backfill of thousands of frames stays cheap. */
const RENDER_MS = 16;
/** The read marker moves after the shown messages stayed this long. */
const READ_MS = 500;
/** The connection banner shows after this long without a connection. */
const BANNER_MS = 2_000;
export const HISTORY_RESET_TEXT = "Older messages are no longer available";

export default function ChatApp(props: ChatAppProps) {
  const { me } = props;
  // Before anything renders a message: the shortcodes the server rendered render the same here.
  useState(() => addEmoji(props.emoji));
  const client = useRef<ChatClient | null>(null);
  const [, setVersion] = useState(0);
  const [status, setStatus] = useState<ConnectionStatus>("connecting");
  const [banner, setBanner] = useState(false);
  const [currentId, setCurrentId] = useState(props.view.kind === "room" ? props.view.room.id : null);
  const [draft, setDraft] = useState(props.view.kind === "room" ? props.view.draft ?? "" : "");
  const [notice, setNotice] = useState<string | null>(
    props.view.kind === "room" ? props.view.notice ?? null : null,
  );
  // The server's zone and clock for the server render; the browser's own from its first render (hydration
  // corrects the few texts that differ).
  const timeZone = IS_BROWSER ? LOCAL : props.timeZone;
  const [now, setNow] = useState(() => IS_BROWSER ? Date.now() : props.now);
  const [visible, setVisible] = useState(true);
  const [drawer, setDrawer] = useState<"sidebar" | "details" | null>(null);
  const [dialog, setDialog] = useState<"room" | "direct" | null>(null);
  const [detailsShown, setDetailsShown] = useState(true);
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(new Set());
  const [newBelow, setNewBelow] = useState(0);
  const drafts = useRef(new Map<string, string>());
  const readAt = useRef(
    new Map<string, number | null>(
      props.view.kind === "room" ? [[props.view.room.id, props.view.readSeq]] : [],
    ),
  );
  const returned = useRef(new Set<string>());
  const listRef = useRef<HTMLOListElement>(null);
  const inputRef = useRef<HTMLTextAreaElement | null>(null);
  const keepBottom = useRef(true);
  const seenBottom = useRef(0);
  const scrollAnchor = useRef<{ height: number; top: number } | null>(null);
  const firstShown = useRef<number | undefined>(undefined);
  const openedAt = useRef<string | null>(null);
  // For callbacks made once (popstate, the client's listener): the values of the latest render.
  const latest = useRef({ currentId, draft });
  latest.current = { currentId, draft };

  // Before the client runs (server render, hydration): the page's own data.
  const initialRows = useMemo(() => new RoomList(props.rooms).rows(), []);
  const initialRoom = useMemo(
    () => props.view.kind === "room" ? seedSnapshot(props.view.room.id, props.view.seed, me.id) : null,
    [],
  );

  // The client: made once the page runs, watching the page's room; its changes show at most once per frame.
  useEffect(() => {
    // For the page budget (docs/benchmarks.md): when the app became interactive.
    performance.mark("chat:hydrated");
    const chat = new ChatClient({
      me,
      rooms: props.rooms,
      session: props.token_expires_at === undefined ? undefined : {
        expiresAt: localExpiry(props.token_expires_at, props.now, performance.timeOrigin),
        lifetimeMs: props.token_ttl_ms,
        id: props.session_id,
      },
    });
    if (props.view.kind === "room") chat.watch(props.view.room.id, props.view.seed);
    client.current = chat;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const show = () => {
      timer = undefined;
      // While following the newest messages, older ones go (this render shows that too).
      const roomId = latest.current.currentId;
      if (keepBottom.current && roomId !== null && chat.isWatched(roomId)) chat.trim(roomId, MAX_SHOWN);
      setStatus(chat.status);
      setVersion((v) => v + 1);
    };
    const unsubscribe = chat.subscribe(() => {
      timer ??= setTimeout(show, RENDER_MS);
    });
    chat.connect();
    const stopEmoji = onEmojiTable(() => setVersion((v) => v + 1));
    // The server renders the next page in the browser's zone (an `Intl` call: after the first render).
    const tz = setTimeout(() => {
      const zone = knownTimeZone(Intl.DateTimeFormat().resolvedOptions().timeZone);
      document.cookie = `tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; samesite=lax`;
    }, 1_000);
    const minute = setInterval(() => setNow(Date.now()), 60_000);
    const onVisibility = () => setVisible(document.visibilityState === "visible");
    onVisibility();
    document.addEventListener("visibilitychange", onVisibility);
    const onPop = () => {
      const match = /^\/rooms\/([0-9a-f]{24})$/.exec(location.pathname);
      if (match && chat.roomEntry(match[1])) open(match[1], false);
      else location.reload();
    };
    addEventListener("popstate", onPop);
    return () => {
      unsubscribe();
      stopEmoji();
      clearTimeout(timer);
      clearInterval(minute);
      clearTimeout(tz);
      document.removeEventListener("visibilitychange", onVisibility);
      removeEventListener("popstate", onPop);
      chat.close();
    };
  }, []);

  const chat = client.current;
  const rows: readonly SidebarRoom[] = chat ? chat.rooms() : initialRows;
  const watching = currentId !== null && (chat ? chat.isWatched(currentId) : initialRoom !== null);
  const room: RoomSnapshot | null = !watching ? null : chat ? chat.room(currentId!) : initialRoom;
  const entry: RoomEntry | undefined = currentId === null
    ? undefined
    : chat?.roomEntry(currentId) ?? (props.view.kind === "room" ? props.view.room : undefined);
  const title = entry ? roomTitle(entry, me.username) : "";
  const unreadTotal = chat ? chat.unreadTotal(visible && watching ? currentId! : undefined) : 0;

  // Older messages are about to be prepended: keep what is on screen where it is.
  const first = room?.messages[0]?.seq;
  if (
    listRef.current && first !== undefined && firstShown.current !== undefined && first < firstShown.current
  ) {
    scrollAnchor.current = { height: listRef.current.scrollHeight, top: listRef.current.scrollTop };
  }
  firstShown.current = first;

  // An open drawer closes with Escape.
  useEffect(() => {
    if (!drawer) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") setDrawer(null);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [drawer]);

  // The connection banner: after 2 s without a connection (signed out: its own notice, at once).
  useEffect(() => {
    if (status === "connected" || status === "signed_out") {
      setBanner(false);
      return;
    }
    const t = setTimeout(() => setBanner(true), BANNER_MS);
    return () => clearTimeout(t);
  }, [status]);

  // The tab title and the favicon show the unread total.
  useEffect(() => {
    const page = props.view.kind === "browse" && currentId === null ? "Browse rooms" : title || "Chat";
    document.title = `${unreadTotal > 0 ? `(${unreadTotal}) ` : ""}${page} · Chat`;
    setFavicon(unreadTotal);
  }, [unreadTotal, title]);

  // Read marker: what is shown at the bottom while the page is visible counts as read.
  const lastSeq = room?.lastSeq ?? 0;
  const markedRoom = useRef<string | null>(null);
  useEffect(() => {
    if (!chat || !watching || !visible || !keepBottom.current) return;
    // A room just opened is read at once; then new messages after they stayed a moment.
    const delay = markedRoom.current === currentId ? READ_MS : 0;
    const t = setTimeout(() => {
      markedRoom.current = currentId;
      chat.markRead(currentId!);
    }, delay);
    return () => clearTimeout(t);
  }, [chat, currentId, lastSeq, visible, watching]);

  // A message the server refused for good comes back into an empty box for editing.
  useEffect(() => {
    if (!chat || !room) return;
    for (const p of room.pending) {
      if (p.state !== "failed" || returned.current.has(p.client_id)) continue;
      returned.current.add(p.client_id);
      if (draft !== "") continue; // Kept in the list with Edit and Discard.
      const content = chat.takeBack(p.client_id);
      if (content === null) continue;
      setDraft(content);
      setNotice(`Not sent: ${p.error}. Your message is back in the box to edit.`);
    }
  }, [room?.pending]);

  // Scrolling: a newly opened room shows its unread line or its end; then new messages keep it at the end,
  // older ones keep the view still.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    if (openedAt.current !== currentId) {
      openedAt.current = currentId;
      keepBottom.current = true;
      list.scrollTop = list.scrollHeight;
      const line = list.querySelector<HTMLElement>("#unread-line");
      if (line && line.offsetTop < list.scrollTop) {
        list.scrollTop = Math.max(0, line.offsetTop - 16);
        keepBottom.current = false;
        seenBottom.current = lastSeq;
      }
    } else if (scrollAnchor.current) {
      list.scrollTop = scrollAnchor.current.top + (list.scrollHeight - scrollAnchor.current.height);
      scrollAnchor.current = null;
    } else if (keepBottom.current) {
      list.scrollTop = list.scrollHeight;
    }
    const below = keepBottom.current
      ? 0
      : (room?.messages.filter((m) => m.seq > seenBottom.current).length ?? 0);
    if (below !== newBelow) setNewBelow(below);
  });

  /** Opens one of the user's rooms in place; false when the page should navigate instead. */
  function openRoom(roomId: string): boolean {
    if (!client.current?.roomEntry(roomId)) return false;
    open(roomId, true);
    return true;
  }

  async function open(roomId: string, push: boolean): Promise<void> {
    const chat = client.current!;
    const entry = chat.roomEntry(roomId);
    // The "new messages" line marks what was unread when the room opened, if anything was.
    const marker = entry && entry.last_seq > (entry.last_read_seq ?? 0) ? entry.last_read_seq ?? 0 : null;
    const { currentId, draft } = latest.current;
    setDrawer(null);
    if (roomId === currentId) return;
    try {
      await chat.open(roomId);
    } catch {
      location.assign(`/rooms/${roomId}`);
      return;
    }
    if (currentId !== null) {
      drafts.current.set(currentId, draft);
      // Left while showing its newest messages: read, even before the read timer ran.
      if (keepBottom.current && document.visibilityState === "visible" && chat.isWatched(currentId)) {
        chat.markRead(currentId);
      }
    }
    readAt.current.set(roomId, marker);
    setDraft(drafts.current.get(roomId) ?? "");
    setNotice(null);
    setExpanded(new Set());
    setCurrentId(roomId);
    if (push) history.pushState({ roomId }, "", `/rooms/${roomId}`);
    inputRef.current?.focus();
  }

  function onScroll(): void {
    const list = listRef.current!;
    const wasFollowing = keepBottom.current;
    keepBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (!keepBottom.current && wasFollowing) seenBottom.current = lastSeq;
    if (keepBottom.current !== wasFollowing) setVersion((v) => v + 1);
    if (list.scrollTop < 60 && currentId) client.current?.loadOlder(currentId);
  }

  function jumpDown(): void {
    const list = listRef.current!;
    keepBottom.current = true;
    list.scrollTop = list.scrollHeight;
    setVersion((v) => v + 1);
  }

  function send(): void {
    if (!currentId || !client.current?.send(currentId, draft)) return;
    setDraft("");
    setNotice(null);
    keepBottom.current = true;
  }

  /** Puts an emoji at the caret (or over the selection) and the caret after it. */
  function insertEmoji(emoji: string): void {
    const input = inputRef.current;
    const [start, end] = input ? [input.selectionStart, input.selectionEnd] : [draft.length, draft.length];
    setDraft(draft.slice(0, start) + emoji + draft.slice(end));
    requestAnimationFrame(() => {
      input?.focus();
      input?.setSelectionRange(start + emoji.length, start + emoji.length);
    });
  }

  function editFailed(clientId: string): void {
    const content = client.current?.takeBack(clientId);
    if (content == null) return;
    setDraft(draft === "" ? content : `${content}\n${draft}`);
    inputRef.current?.focus();
  }

  const members = useMemo(() => new Map<string, Member>(room?.members.map((m) => [m.id, m]) ?? []), [
    room?.members,
  ]);

  const toggleSidebar = () => setDrawer(drawer === "sidebar" ? null : "sidebar");
  const main = (() => {
    if (currentId === null) {
      return (
        <>
          <div class="room-head phone-only">
            <DrawerToggle open={drawer === "sidebar"} onToggle={toggleSidebar} />
          </div>
          {props.view.kind === "browse"
            ? (
              <Once>
                <Directory data={props.view.directory} />
              </Once>
            )
            : props.view.kind === "preview"
            ? <Preview room={props.view.room} />
            : <Missing />}
        </>
      );
    }
    if (!room || !entry) return <NotAMember />;
    const items = timeline(room.messages, {
      timeZone,
      now,
      readSeq: readAt.current.get(currentId) ?? null,
      meId: me.id,
    });
    const shown = messageItems({
      items,
      members,
      me,
      timeZone,
      expanded,
      onExpand: (seq) => setExpanded(new Set([...expanded, seq])),
    });
    if (room.historyReset !== null) {
      const at = items.findIndex((i) => i.kind === "message" && i.message.seq >= room.historyReset!);
      const notice = (
        <li key="history-reset" id="history-reset" class="msg is-system">
          <span class="msg-text system">{HISTORY_RESET_TEXT}</span>
        </li>
      );
      if (at < 0) shown.push(notice);
      else shown.splice(at, 0, notice);
    }
    const { typists } = room;
    return (
      <>
        <RoomHeader
          title={title}
          description={entry.description}
          status={status}
          memberCount={room.members.length}
          sidebarOpen={drawer === "sidebar"}
          detailsOpen={drawer === "details" || detailsShown}
          onSidebar={toggleSidebar}
          onDetails={() => {
            if (matchMedia("(max-width: 60rem)").matches) setDrawer(drawer === "details" ? null : "details");
            else setDetailsShown(!detailsShown);
          }}
        />
        <div class="messages-wrap">
          <ol
            class="messages"
            id="messages"
            ref={listRef}
            onScroll={onScroll}
            tabIndex={0}
            aria-label={`Messages in ${title}`}
            aria-live="polite"
            data-last-seq={room.lastSeq}
          >
            {room.hasOlder
              ? (
                <li class="older">
                  <button
                    type="button"
                    onClick={() => client.current?.loadOlder(currentId)}
                    disabled={room.loadingOlder}
                  >
                    {room.loadingOlder ? "Loading…" : "Load older messages"}
                  </button>
                </li>
              )
              : (
                <li class="room-start" id="room-start">
                  <strong>
                    This is the start of {entry.is_direct ? `your conversation with ${title}` : title}.
                  </strong>
                  {entry.description && <span dir="auto">{entry.description}</span>}
                </li>
              )}
            {shown}
            {pendingItems({
              pending: room.pending,
              me,
              onEdit: editFailed,
              onDiscard: (id) => client.current?.discard(id),
            })}
          </ol>
          {newBelow > 0 && (
            <button type="button" class="jump-new" id="jump-new" onClick={jumpDown}>
              {newBelow} new {newBelow === 1 ? "message" : "messages"} ↓
            </button>
          )}
        </div>
        <p class="typing" id="typing" aria-live="polite">
          {typists.length === 1 && `${typists[0]} is typing…`}
          {typists.length > 1 && `${typists.join(", ")} are typing…`}
        </p>
        <Composer
          roomId={currentId}
          title={title}
          maxChars={props.maxChars}
          draft={draft}
          clientId={props.clientId}
          notice={notice}
          inputRef={inputRef}
          onDraft={chat
            ? (text) => {
              setDraft(text);
              chat.typing(currentId);
            }
            : undefined}
          onSend={chat ? send : undefined}
          tools={<EmojiPicker onPick={insertEmoji} />}
        />
      </>
    );
  })();

  const details = room && entry && (
    <aside class="details" id="details" aria-label="Room details">
      <RoomDetails
        key={currentId}
        room={entry}
        members={room.members}
        meId={me.id}
        actions={chat
          ? {
            update: (change) => chat.updateRoom(currentId!, change),
            addMember: (username) => chat.addMember(currentId!, username),
            removeMember: (userId) => chat.removeMember(currentId!, userId),
            leave: async () => {
              await chat.leave(currentId!);
              const next = chat.rooms()[0];
              if (next) open(next.id, true);
              else location.assign("/rooms");
            },
          }
          : undefined}
      />
    </aside>
  );

  return (
    <div
      class={`app${drawer ? ` drawer-${drawer}` : ""}${details && detailsShown ? "" : " no-details"}`}
      id="app"
      data-room-id={currentId ?? undefined}
    >
      {status === "signed_out"
        ? <SignedOutBanner next={location.pathname + location.search} />
        : banner
        ? <ConnectionBanner status={status} onRetry={() => client.current?.retry()} />
        : chat?.storeDown && <StoreDownBanner />}
      <nav class="sidebar" id="sidebar" aria-label="Rooms and conversations">
        <Sidebar
          rows={rows}
          currentId={currentId}
          meUsername={me.username}
          onOpen={openRoom}
          onNewRoom={chat ? () => setDialog("room") : undefined}
          onNewDirect={chat ? () => setDialog("direct") : undefined}
        />
      </nav>
      <section class="room" aria-label={title || "Rooms"}>{main}</section>
      {details}
      {chat && (
        <>
          <NewRoomDialog
            open={dialog === "room"}
            onClose={() => setDialog(null)}
            onCreate={async (input) => {
              const room = await chat.createRoom(input);
              setDialog(null);
              await open(room.id, true);
            }}
          />
          <NewDirectDialog
            open={dialog === "direct"}
            meId={me.id}
            onClose={() => setDialog(null)}
            onSearch={(q) => chat.people(q)}
            onMessage={async (userId) => {
              const room = await chat.direct(userId);
              setDialog(null);
              await open(room.id, true);
            }}
          />
        </>
      )}
      {drawer && (
        <button
          type="button"
          class="scrim"
          aria-label="Close the panel"
          onClick={() => setDrawer(null)}
        />
      )}
    </div>
  );
}

/**
 * Renders its children once and never again: the directory's plain forms keep what the user typed while the
 * rest of the app re-renders (their `value`s are the server's, from the last submit).
 */
class Once extends Component<{ children: ComponentChildren }> {
  override shouldComponentUpdate(): boolean {
    return false;
  }
  override render(): ComponentChildren {
    return this.props.children;
  }
}

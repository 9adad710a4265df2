/**
 * The browser's chat client: ONE WebSocket for every room it watches, and everything a view needs as plain
 * state. Messages are kept once each, in seq order, caught up after every (re)connect and on every gap
 * (`CatchUp`); own messages go through the outbox (`Outgoing`); presence and typing come from their frames.
 * Views subscribe and read one snapshot per room; they never see the socket. The sign-in is kept alive
 * (`SessionKeeper`): the socket gets each renewed access token, one closed because its token expired (4001)
 * reconnects once renewed, and one closed because its session ended (4003), like a refused renewal or an API
 * call answered `session_revoked`, stops the client: status `signed_out`. No Preact here, and no server code:
 * protocol types only.
 *
 * @example
 * const client = new ChatClient({ me: { id: userId } });
 * client.watch(roomId, { messages, hasOlder, members });
 * const unsubscribe = client.subscribe(() => render(client.room(roomId), client.status));
 * client.connect();
 * client.send(roomId, "Hello");
 */
import type { ChatMessage, ErrorFrame, ServerFrame } from "../hub/protocol.ts";
import { CatchUp } from "./catch_up.ts";
import { type Clock, systemClock, Timers } from "./clock.ts";
import {
  browserNetwork,
  Connection,
  type ConnectionStatus,
  type Network,
  type SocketLike,
} from "./connection.ts";
import { openOutbox, type Outbox } from "./outbox.ts";
import { Outgoing, type PendingMessage } from "./outgoing.ts";
import { ApiError, RoomApi } from "./room_api.ts";
import { type RoomEntry, RoomList, type SidebarRoom } from "./room_list.ts";
import { type Member, type RoomSeed, RoomState } from "./room_state.ts";
import { browserLocks, type Locks, SessionKeeper } from "./session_keeper.ts";
import { type RoomSnapshot, snapshotOf } from "./snapshot.ts";

export { ApiError };
export type { ConnectionStatus, Member, PendingMessage, RoomEntry, RoomSeed, RoomSnapshot, SidebarRoom };

export interface ChatClientOptions {
  /** The signed-in user (the socket authenticates with the session cookie). */
  me: { id: string };
  /** The socket's URL; default `/ws` on the page's host. */
  url?: string;
  /** Makes a socket; default the browser's `WebSocket`. */
  openSocket?: (url: string) => SocketLike;
  /** For the REST API (catch-up without a socket, older history, members, read marker); default `fetch`. */
  fetch?: typeof fetch;
  /** Default: the IndexedDB outbox (memory where IndexedDB is unavailable). */
  openOutbox?: () => Promise<Outbox>;
  clock?: Clock;
  /** For the reconnect jitter; default `Math.random`. */
  random?: () => number;
  /** Default: the browser's `navigator.onLine` and `online`/`offline` events. */
  network?: Network;
  /** Makes a message's `client_id`; default `crypto.randomUUID()`. */
  newId?: () => string;
  /**
   * The user's rooms (for a sidebar): given, the client keeps them live for every room, watched or not (new
   * rooms appear, left ones go, unread counts move) and reads them again after every reconnect.
   */
  rooms?: readonly RoomEntry[];
  /**
   * The page's sign-in: its access token's expiry in `clock`'s time (see `localExpiry()`), how long a token
   * lives, and the session's id. Given, the client renews the token before it expires; without it, only when
   * the socket is closed for an expired token.
   */
  session?: { expiresAt: number; lifetimeMs?: number; id?: string };
  /** Serialises renewals across the tabs; default `navigator.locks` (null: none). */
  locks?: Locks | null;
}

/** WebSocket close codes of the sign-in (lib/hub/transport.ts `CloseCode`). */
const TOKEN_EXPIRED = 4001;
const SESSION_ENDED = 4003;
/** A socket that closes when its token has less than this left renews it before reconnecting. */
const EXPIRY_SLACK_MS = 2_000;
/** Error codes a `refresh` frame is refused with (an error frame without a room is otherwise a resume's). */
const SIGN_IN_ERRORS = new Set(["invalid_token", "token_expired", "session_revoked"]);

const OLDER_PAGE = 50;
/** The notices of a rename (`alice renamed the room to "design"`) and of a new description. */
const RENAMED = /^\S+ renamed the room to "(.*)"$/s;
const DESCRIBED = /^\S+ changed the description$/;
/** How long an acknowledged message's broadcast may take before the client asks for what it missed. */
const ACK_GAP_MS = 1_000;
/** Own typing notices go out at most this often per room. */
const TYPING_SEND_MS = 2_000;
/** How long a typing notice shows, unless its typist's message comes first. */
export const TYPING_SHOW_MS = 4_000;
const MEMBERS_DEBOUNCE_MS = 200;

interface Watched {
  state: RoomState;
  loadingOlder: boolean;
  readSent: number;
  lastTypingSent: number;
  membersTimer?: number;
  snapshot: RoomSnapshot | null;
}

/** One user's live view of their rooms over one socket; see the module documentation. */
export class ChatClient {
  readonly #me: { id: string };
  readonly #newId: () => string;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #api: RoomApi;
  readonly #keeper: SessionKeeper;
  readonly #connection: Connection;
  readonly #catchUp: CatchUp;
  readonly #outgoing: Outgoing;
  readonly #rooms = new Map<string, Watched>();
  readonly #listeners = new Set<() => void>();
  readonly #list: RoomList | null;
  #rows: SidebarRoom[] | null = null;
  /** Rooms being looked up (a message came from a room not in the list, or one's notice may rename it). */
  readonly #lookups = new Set<string>();
  #started = false;

  constructor(options: ChatClientOptions) {
    this.#me = options.me;
    this.#newId = options.newId ?? (() => crypto.randomUUID());
    this.#clock = options.clock ?? systemClock;
    this.#timers = new Timers(this.#clock);
    this.#keeper = new SessionKeeper({
      fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      clock: this.#clock,
      timers: this.#timers,
      locks: options.locks === undefined ? browserLocks() : options.locks,
      expiresAt: options.session?.expiresAt,
      lifetimeMs: options.session?.lifetimeMs,
      sessionId: options.session?.id,
      renewed: (token) => {
        // The open socket stays authorised; a held one (closed for its token) reconnects with the new cookie.
        if (!this.#connection.send({ type: "refresh", token })) this.#connection.release();
      },
      ended: () => {
        this.#connection.stop("signed_out");
        this.#changedAll();
      },
    });
    this.#api = new RoomApi(this.#keeper.fetch);
    this.#list = options.rooms ? new RoomList(options.rooms) : null;
    this.#connection = new Connection({
      // `resume=1`: every socket's first frame is a resume (`CatchUp.opened()`), so the server holds what it has
      // for it until then, and never sends again what this client already has.
      url: options.url ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?resume=1`,
      openSocket: options.openSocket ?? ((url) => new WebSocket(url)),
      network: options.network ?? browserNetwork(),
      timers: this.#timers,
      random: options.random ?? Math.random,
      onOpen: () => this.#catchUp.opened(),
      onFrame: (frame) => this.#onFrame(frame),
      onClose: (code) => {
        this.#catchUp.closed();
        if (code === SESSION_ENDED) {
          this.#keeper.end();
          return "hold";
        }
        if (code !== TOKEN_EXPIRED && !this.#keeper.expiring(EXPIRY_SLACK_MS)) return "retry";
        // Reconnecting with this token would be refused: renew first (its success releases the connection).
        this.#keeper.renew();
        return "hold";
      },
      onStatus: (status) => {
        if (status === "connected") this.#refreshList();
        this.#changedAll();
      },
    });
    this.#catchUp = new CatchUp({
      connection: this.#connection,
      api: this.#api,
      timers: this.#timers,
      receive: (roomId, message) => this.#receive(this.#rooms.get(roomId)!, message),
      synced: (roomId) => this.#outgoing.flush(roomId),
    });
    this.#outgoing = new Outgoing({
      openOutbox: options.openOutbox ?? openOutbox,
      timers: this.#timers,
      sendable: (roomId) =>
        this.#catchUp.synced(roomId) && this.#connection.open ? this.#connection.generation : 0,
      send: (frame) => this.#connection.send(frame),
      changed: (roomId) => this.#changed(this.#rooms.get(roomId)),
    });
  }

  get status(): ConnectionStatus {
    return this.#connection.status;
  }

  /** Some of the user's messages wait because the server cannot store them right now (they go when it can). */
  get storeDown(): boolean {
    return this.#outgoing.awaitingStore;
  }

  /** Calls `listener` after any change of the status or of a watched room; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A watched room as it is now (the same object until it changes). */
  room(roomId: string): RoomSnapshot {
    const room = this.#watched(roomId);
    return room.snapshot ??= this.#snapshot(room);
  }

  /** The user's rooms, rooms first then direct conversations, each with its unread count (the same array until a change). */
  rooms(): readonly SidebarRoom[] {
    return this.#rows ??= this.#list?.rows() ?? [];
  }

  /** One of the user's rooms; undefined when they do not belong to it (or no room list is kept). */
  roomEntry(roomId: string): RoomEntry | undefined {
    return this.#list?.get(roomId);
  }

  /** Unread events over the user's rooms, leaving out `exceptRoomId` (the one on screen). */
  unreadTotal(exceptRoomId?: string): number {
    return this.#list?.unreadTotal(exceptRoomId) ?? 0;
  }

  isWatched(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  /** Watches a room the page did not render: loads its newest history and members first. */
  async open(roomId: string): Promise<void> {
    if (this.#rooms.has(roomId)) return;
    const seed = await this.#api.seed(roomId);
    this.watch(roomId, seed);
  }

  /** Reconnects now instead of waiting for the next attempt ("retry now"); renews the sign-in first if due. */
  retry(): void {
    if (this.#connection.held) this.#keeper.renew();
    else this.#connection.reconnectNow();
  }

  /** The session ended (elsewhere, or it could not be renewed): the client has stopped; sign in again. */
  get signedOut(): boolean {
    return this.#keeper.ended;
  }

  /** Follows one of the user's rooms from `seed`: caught up after it, its outbox sent. Again: no effect. */
  watch(roomId: string, seed: RoomSeed): void {
    if (this.#rooms.has(roomId)) return;
    const state = new RoomState(roomId, seed);
    const room: Watched = {
      state,
      loadingOlder: false,
      readSent: 0,
      lastTypingSent: -Infinity,
      snapshot: null,
    };
    this.#rooms.set(roomId, room);
    this.#catchUp.add(state);
    if (this.#started) this.#loadOutbox(room);
  }

  /** Opens the socket (and reconnects it until `close()`); shows and sends what the outbox holds. */
  connect(): void {
    if (this.#started) return;
    this.#started = true;
    for (const room of this.#rooms.values()) this.#loadOutbox(room);
    this.#connection.start();
    this.#keeper.start();
  }

  /** Closes the socket for good and cancels every timer. */
  close(): void {
    this.#keeper.stop();
    this.#connection.stop();
    this.#timers.clear();
  }

  /** Sends a message (blank ones are ignored): shown as pending at once, kept in the outbox until stored. */
  send(roomId: string, content: string): boolean {
    this.#watched(roomId);
    if (content.trim() === "") return false;
    this.#outgoing.add({
      client_id: this.#newId(),
      room_id: roomId,
      content,
      created_at: new Date(this.#clock.now()).toISOString(),
    });
    return true;
  }

  /** The user is typing: tells the other members, at most once per 2 s. */
  typing(roomId: string): void {
    const room = this.#watched(roomId);
    const now = this.#clock.now();
    if (now - room.lastTypingSent <= TYPING_SEND_MS) return;
    if (this.#connection.send({ type: "typing", room_id: roomId })) room.lastTypingSent = now;
  }

  /** Drops a pending message (one the server refused) from the view and the outbox. */
  discard(clientId: string): void {
    this.#outgoing.discard(clientId);
  }

  /** Takes a refused message back for editing: drops it like `discard()` and returns its text. */
  takeBack(clientId: string): string | null {
    const content = this.#outgoing.contentOf(clientId);
    this.#outgoing.discard(clientId);
    return content;
  }

  /** Creates a room (the creator is its first member) and lists it. */
  async createRoom(input: { name: string; description: string; is_private: boolean }): Promise<RoomEntry> {
    const room = await this.#api.create(input);
    this.#listed({ ...room, last_read_seq: room.last_seq });
    return room;
  }

  /** The direct conversation with a user (made on first call), listed. */
  async direct(userId: string): Promise<RoomEntry> {
    const room = await this.#api.direct(userId);
    if (!this.#list?.has(room.id)) this.#listed({ ...room, last_read_seq: room.last_seq });
    return room;
  }

  /** Renames a room or changes its description (the creator only). */
  async updateRoom(roomId: string, change: { name?: string; description?: string }): Promise<void> {
    this.#listed(await this.#api.update(roomId, change));
  }

  /** Adds a user, by username, to a room (the creator only); the members list follows from its notice. */
  addMember(roomId: string, username: string): Promise<void> {
    return this.#api.addMember(roomId, username);
  }

  /** Removes a member (the creator only); the members list follows from its notice. */
  removeMember(roomId: string, userId: string): Promise<void> {
    return this.#api.removeMember(roomId, userId);
  }

  /** Leaves a room: it leaves the list and is no longer watched. */
  async leave(roomId: string): Promise<void> {
    await this.#api.leave(roomId);
    this.#gone(roomId);
  }

  /** People whose username or display name contains `q`. */
  people(q: string): Promise<Member[]> {
    return this.#api.people(q);
  }

  /** Loads the page of history before the oldest message held. */
  async loadOlder(roomId: string): Promise<void> {
    const room = this.#watched(roomId);
    if (room.loadingOlder || !room.state.hasOlder) return;
    const first = this.room(roomId).messages[0]?.seq;
    if (first === undefined || first <= 1) {
      room.state.hasOlder = false;
      return this.#changed(room);
    }
    room.loadingOlder = true;
    this.#changed(room);
    try {
      const messages = await this.#api.before(roomId, first, OLDER_PAGE);
      room.state.addOlder(messages, messages.length < OLDER_PAGE || messages[0]?.seq === 1);
    } catch {
      // Asked again on the next request.
    } finally {
      room.loadingOlder = false;
      this.#changed(room);
    }
  }

  /** Moves the server's read marker to the room's last contiguous seq, when that is past the last one sent. */
  async markRead(roomId: string): Promise<void> {
    const room = this.#watched(roomId);
    const seq = room.state.lastSeq;
    if (seq <= room.readSent) return;
    if (this.#list?.read(roomId, seq)) this.#changedList();
    try {
      if (await this.#api.markRead(roomId, seq)) room.readSent = Math.max(room.readSent, seq);
    } catch {
      // Offline: the next call sends it.
    }
  }

  /** Forgets all but the newest `keep` messages of a room (for a view that follows the newest); older load again. */
  trim(roomId: string, keep: number): void {
    const room = this.#watched(roomId);
    if (room.state.trim(keep)) this.#changed(room);
  }

  #watched(roomId: string): Watched {
    const room = this.#rooms.get(roomId);
    if (!room) throw new Error(`Room ${roomId} is not watched`);
    return room;
  }

  #snapshot(room: Watched): RoomSnapshot {
    return snapshotOf(room.state, {
      meId: this.#me.id,
      connected: this.status === "connected",
      loadingOlder: room.loadingOlder,
      pending: this.#outgoing.of(room.state.id),
    });
  }

  #changed(room: Watched | undefined): void {
    if (!room) return;
    room.snapshot = null;
    for (const listener of this.#listeners) listener();
  }

  #changedAll(): void {
    for (const room of this.#rooms.values()) room.snapshot = null;
    this.#rows = null;
    for (const listener of this.#listeners) listener();
  }

  #changedList(): void {
    this.#rows = null;
    for (const listener of this.#listeners) listener();
  }

  #listed(entry: RoomEntry): void {
    if (!this.#list) return;
    this.#list.upsert(entry);
    this.#changedList();
  }

  /** The user no longer belongs to the room: out of the list, not watched. */
  #gone(roomId: string): void {
    this.#list?.remove(roomId);
    if (this.#rooms.delete(roomId)) this.#catchUp.remove(roomId);
    this.#changedAll();
  }

  /** Reads the user's rooms again (after a (re)connect: what happened meanwhile). */
  async #refreshList(): Promise<void> {
    if (!this.#list) return;
    try {
      this.#list.replace(await this.#api.rooms());
      this.#changedList();
    } catch {
      // The next reconnect reads them again.
    }
  }

  /** Reads one room (new to the user, or maybe renamed) into the list; once at a time per room. */
  async #lookUp(roomId: string): Promise<void> {
    if (!this.#list || this.#lookups.has(roomId)) return;
    this.#lookups.add(roomId);
    try {
      const { entry, member } = await this.#api.room(roomId, this.#me.id);
      if (member) this.#listed({ ...entry, last_read_seq: this.#list.get(roomId)?.last_read_seq ?? null });
    } catch {
      // Gone or not visible: the next reconnect reads the list again.
    } finally {
      this.#lookups.delete(roomId);
    }
  }

  #loadOutbox(room: Watched): void {
    this.#outgoing.load(room.state.id, () => room.state.clientIdsOf(this.#me.id));
  }

  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case "text":
      case "system":
      case "bot":
        return this.#onMessage(frame);
      case "resumed":
        return this.#catchUp.resumed(frame);
      case "error":
        if (frame.client_id !== undefined) return this.#outgoing.refused(frame);
        if (frame.room_id === undefined && SIGN_IN_ERRORS.has(frame.code)) return this.#refreshRefused(frame);
        return this.#catchUp.refused(frame);
      case "refreshed":
        return;
      case "store_available":
        return this.#outgoing.storeAvailable();
      case "ack": {
        const room = this.#rooms.get(frame.room_id);
        if (room && this.#outgoing.acked(frame, room.state.lastSeq) && "seq" in frame) {
          // Shown as sent until its broadcast arrives; if that got lost, ask for it.
          const seq = frame.seq;
          this.#timers.after(ACK_GAP_MS, () => room.state.lastSeq < seq && this.#catchUp.fill(frame.room_id));
        }
        return;
      }
      case "reset": {
        const room = this.#rooms.get(frame.room_id);
        room?.state.reset(frame.from_seq);
        return this.#changed(room);
      }
      case "presence_state": {
        const room = this.#rooms.get(frame.room_id);
        room?.state.presenceState(frame.online);
        return this.#changed(room);
      }
      case "left":
        return this.#gone(frame.room_id);
      case "presence":
        for (const room of this.#rooms.values()) {
          if (room.state.presence(frame.user_id, frame.status === "online")) this.#changed(room);
        }
        return;
      case "typing":
        return this.#onTyping(frame.room_id, frame.user_id, frame.username);
    }
  }

  /**
   * The socket's `refresh` was refused: a revoked session is over; an expired or foreign token leaves the
   * socket to be closed at its expiry (4001), which renews again.
   */
  #refreshRefused(frame: ErrorFrame): void {
    if (frame.code === "session_revoked") this.#keeper.end();
  }

  /** A stored message from the socket (live or backfilled): a jump past `lastSeq + 1` asks for the gap. */
  #onMessage(message: ChatMessage): void {
    this.#onListed(message);
    const room = this.#rooms.get(message.room_id);
    if (!room) return;
    const jump = this.#catchUp.isJump(message.room_id, message.seq);
    this.#receive(room, message);
    if (jump) this.#catchUp.fill(message.room_id);
  }

  /**
   * A live message moves its room's row. A room not listed is read from the server; a rename's notice renames
   * the row, a description's notice reads a watched room again.
   */
  #onListed(message: ChatMessage): void {
    if (!this.#list) return;
    const { room_id: roomId } = message;
    if (!this.#list.has(roomId)) this.#lookUp(roomId);
    // What the user wrote is read; a notice about them ("bob was added by alice") is not their doing.
    const own = message.user_id === this.#me.id && message.type !== "system";
    let changed = this.#list.seen(roomId, message.seq, own);
    if (message.type === "system") {
      const renamed = RENAMED.exec(message.content);
      if (renamed) changed = this.#list.rename(roomId, renamed[1]) || changed;
      else if (DESCRIBED.test(message.content) && this.#rooms.has(roomId)) this.#lookUp(roomId);
    }
    if (changed) this.#changedList();
  }

  /** A stored message from the socket or the history API. */
  #receive(room: Watched, message: ChatMessage): void {
    if (message.client_id && message.user_id === this.#me.id) this.#outgoing.settle(message.client_id);
    if (!room.state.add(message)) return;
    this.#changed(room);
    if (message.type === "system") this.#refreshMembers(room);
  }

  #onTyping(roomId: string, userId: string, username: string): void {
    const room = this.#rooms.get(roomId);
    if (!room || userId === this.#me.id) return;
    room.state.typing(userId, username, this.#clock.now() + TYPING_SHOW_MS);
    this.#changed(room);
    this.#timers.after(TYPING_SHOW_MS, () => {
      if (room.state.expireTyping(this.#clock.now())) this.#changed(room);
    });
  }

  /** Reads the room's members again soon (someone joined or left); several calls in a row make one read. */
  #refreshMembers(room: Watched): void {
    this.#timers.cancel(room.membersTimer);
    room.membersTimer = this.#timers.after(MEMBERS_DEBOUNCE_MS, async () => {
      try {
        room.state.members = await this.#api.members(room.state.id);
        this.#changed(room);
      } catch {
        // The next join or leave reads them again.
      }
    });
  }
}

import type { Bus } from "../bus/bus.ts";
import { ChatError, errorFrameOf } from "../errors.ts";
import type { Logger } from "../log.ts";
import { Client, type Identity } from "./client.ts";
import { decodeEnvelope, encodeEnvelope, type EnvelopeMeta, roomChannel, userChannel } from "./envelope.ts";
import { type ClientFrame, MAX_FRAME_BYTES, parseClientFrame, type PingFrame } from "./protocol.ts";
import {
  BusCatchUp,
  type History,
  RecentWindow,
  resume,
  RESUME_MAX_MESSAGES,
  type ResumeOutcome,
  type ResumeResult,
  type SeqFrame,
  SeqOrder,
} from "./recovery/mod.ts";
import { CloseCode, type Transport } from "./transport.ts";

/** What the application does with connections; the hub only routes. */
export interface HubHandler {
  /** After a socket is registered (and its user channel subscribed): subscribe rooms, announce presence. */
  connect(client: Client): Promise<void>;
  /** Every parsed frame but `ping`, one at a time per socket. Must answer errors with error frames itself. */
  frame(client: Client, frame: Exclude<ClientFrame, PingFrame>): Promise<void>;
  /** After a socket is gone from every room. */
  disconnect(client: Client): Promise<void>;
}

/** What the hub counts (the application's metrics, seen through this small interface). */
export interface HubMetrics {
  /** `count` sockets were sent one stored frame; `publishedAt` (ms) is when it was published, if known. */
  fannedOut(count: number, publishedAt: number | undefined): void;
  gapRepaired(outcome: "filled" | "skipped" | "failed"): void;
  resumed(outcome: ResumeOutcome | "failed"): void;
  /** The hub reads new stored frames from the store while its bus is deaf (true), or no longer (false). */
  busCatchUp?(active: boolean): void;
  /** `count` stored frames were read from the store while the bus was deaf. */
  caughtUpFromStore?(count: number): void;
}

/**
 * Longest a socket that declared `resume=1` waits for its first frame before its stored frames flow anyway. Held
 * frames count against the slow-consumer cap meanwhile, so a client that never sends cannot pile them up.
 */
export const RESUME_FIRST_WAIT_MS = 30_000;

export interface HubOptions {
  bus: Bus;
  /** Stored frames, read to fill bus gaps and resumes. */
  history: History;
  log: Logger;
  /** A socket whose unsent backlog passes this many bytes is closed with 4008. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** How long a stored frame that arrived early waits for earlier ones before the store fills the gap (100 ms). */
  gapWaitMs?: number;
  /** Longest gap filled from the store (500); clients catch up past it themselves. */
  maxGapRepair?: number;
  /** Stored frames kept per room for resumes (at least 256); longer gaps are read from the store. */
  recentSize?: number;
  /** Counts deliveries, their latency, gap repairs and resumes. */
  metrics?: HubMetrics;
  /**
   * How long a new socket's stored room frames wait for its first frame (0: they do not wait). When that frame
   * is a `resume`, frames the client already has are not sent again: see `SocketStream.startHold()`.
   */
  resumeGraceMs?: number;
  /**
   * Most stored frames one `resume` frame is answered with, over all its rooms (`RESUME_MAX_MESSAGES`, 1,000);
   * the rest is asked for again (the `resumed` frame's `more`).
   */
  resumeMaxMessages?: number;
  /**
   * How often the bus's health is looked at; while it is not "ok" the rooms' new stored frames are read from
   * the store this often (`BusCatchUp`). Default 1 s; 0: never.
   */
  busCatchUpIntervalMs?: number;
}

export interface HubStats {
  clients: number;
  users: number;
  rooms: number;
}

/**
 * Frames a socket may have waiting to be handled; past this it is flooding (a well-behaved client under the
 * message rate limit never gets near it) and is closed with 1008.
 */
export const MAX_PENDING_FRAMES = 256;

interface Entry {
  clients: Set<Client>;
  /** Settles when the bus subscription for this entry's channel is in place. */
  ready: Promise<void>;
  /** A room's stored frames in seq order (made on the first one). */
  order?: SeqOrder;
  /** The last stored frames delivered here: the resume window (made on the first one). */
  recent?: RecentWindow;
}

/**
 * The per-process hub: owns this instance's sockets and which rooms each receives. Everything it delivers comes
 * from the bus (one path, so a frame published here reaches local members exactly once, as on other instances).
 * It subscribes a bus channel when a room (or user) gets its first local socket and unsubscribes after the last.
 * It never persists anything.
 */
export class Hub {
  readonly #bus: Bus;
  readonly #history: History;
  readonly #log: Logger;
  #handler: HubHandler | undefined;
  readonly #maxBuffered: number;
  readonly #gapWaitMs: number;
  readonly #maxGapRepair: number;
  readonly #recentSize: number;
  readonly #metrics: HubMetrics | undefined;
  readonly #resumeGraceMs: number;
  readonly #resumeMaxMessages: number;
  readonly #catchUp: BusCatchUp | undefined;
  readonly #clients = new Set<Client>();
  readonly #rooms = new Map<string, Entry>();
  readonly #users = new Map<string, Entry>();
  /** Bus (un)subscriptions are chained per channel so they take effect in the order they were asked for. */
  readonly #busOps = new Map<string, Promise<void>>();
  readonly #draining = new Set<Promise<void>>();
  readonly #listeners = new Map<string, (payload: string) => void>();
  #nextId = 0;
  /** Names this hub in the controls it publishes. */
  readonly #id = crypto.randomUUID();

  constructor(options: HubOptions) {
    this.#bus = options.bus;
    this.#history = options.history;
    this.#log = options.log;
    this.#maxBuffered = options.maxBufferedBytes ?? 1_048_576;
    this.#gapWaitMs = options.gapWaitMs ?? 100;
    this.#maxGapRepair = options.maxGapRepair ?? 500;
    this.#recentSize = options.recentSize ?? 256;
    this.#metrics = options.metrics;
    this.#resumeGraceMs = options.resumeGraceMs ?? 0;
    this.#resumeMaxMessages = options.resumeMaxMessages ?? RESUME_MAX_MESSAGES;
    const catchUpMs = options.busCatchUpIntervalMs ?? 1_000;
    this.#catchUp = catchUpMs <= 0 ? undefined : new BusCatchUp({
      history: this.#history,
      log: this.#log,
      intervalMs: catchUpMs,
      healthy: () => this.#bus.health() === "ok",
      rooms: () => [...this.#rooms.keys()],
      expected: (roomId) => this.#rooms.get(roomId)?.order?.expected,
      push: (roomId, seq, frame) => {
        const entry = this.#rooms.get(roomId);
        if (entry !== undefined) this.#orderOf(roomId, entry).push(seq, frame, { s: seq });
      },
      onActive: (active) => this.#metrics?.busCatchUp?.(active),
      onFrames: (count) => this.#metrics?.caughtUpFromStore?.(count),
    });
  }

  /** Sets what the application does with sockets and attaches the hub to its bus; once, before `connect()`. */
  async start(handler: HubHandler): Promise<void> {
    if (this.#handler !== undefined) throw new Error("The hub is already started");
    this.#handler = handler;
    await this.#bus.start((channel, payload) => this.#deliver(channel, payload));
    this.#catchUp?.start();
  }

  /** Whether new stored frames are being read from the store because the bus is deaf (`BusCatchUp`). */
  get catchingUpFromStore(): boolean {
    return this.#catchUp?.active ?? false;
  }

  get #app(): HubHandler {
    if (this.#handler === undefined) throw new Error("The hub is not started");
    return this.#handler;
  }

  /**
   * Registers a socket. Its user channel is subscribed and `handler.connect()` run before any of its frames is
   * handled; if that fails the socket is closed with 1013 (try again later).
   */
  connect(transport: Transport, identity: Identity): Client {
    const client = new Client(
      `c${++this.#nextId}`,
      identity,
      transport,
      (c) => this.#overflow(c),
      this.#maxBuffered,
    );
    this.#clients.add(client);
    if (identity.expiresAt !== undefined) this.renew(client, identity.expiresAt);
    // A client that said its first frame is a resume gets nothing stored before it: after the short grace,
    // frames it already has (from another instance, ahead of this one) would otherwise go out again.
    const hold = identity.resumeFirst ? RESUME_FIRST_WAIT_MS : this.#resumeGraceMs;
    if (hold > 0) client.stream.startHold(hold);
    this.#log.debug("Socket opened", { conn_id: client.id, user_id: identity.userId });
    client.enqueue(async () => {
      // Gone before set-up began (closed or shut down at once): joining now would leak the user channel.
      if (client.closed) return;
      await this.#join(this.#users, identity.userId, userChannel(identity.userId), client);
      await this.#app.connect(client);
      client.releaseLive();
    }).catch((error) => {
      this.#log.error("Cannot set up connection", { conn_id: client.id, user_id: client.userId, error });
      this.#close(client, CloseCode.TryAgainLater, "Server busy, reconnect later");
    });
    return client;
  }

  /** Forgets a socket (idempotent): leaves every room, then runs `handler.disconnect()`. */
  disconnect(client: Client): void {
    if (!this.#clients.delete(client)) return;
    clearTimeout(client.expiryTimer);
    client.markClosed();
    this.#log.debug("Socket closed", { conn_id: client.id, user_id: client.userId });
    for (const roomId of client.rooms) this.#leave(this.#rooms, roomId, roomChannel(roomId), client);
    client.rooms.clear();
    this.#leave(this.#users, client.userId, userChannel(client.userId), client);
    const done = client.enqueue(() => this.#app.disconnect(client)).catch((error) => {
      this.#log.error("Disconnect handler failed", { conn_id: client.id, user_id: client.userId, error });
    });
    this.#draining.add(done);
    done.finally(() => this.#draining.delete(done));
  }

  /** Handles one frame as received from the socket. */
  receive(client: Client, data: string | ArrayBuffer | Uint8Array | Blob): void {
    if (client.closed) return;
    if (typeof data !== "string") {
      client.sendFrame(errorFrameOf(new ChatError("binary_not_supported")));
      return;
    }
    if (
      data.length > MAX_FRAME_BYTES ||
      (data.length * 3 > MAX_FRAME_BYTES && utf8Length(data) > MAX_FRAME_BYTES)
    ) {
      this.#close(client, CloseCode.TooBig, `Frame larger than ${MAX_FRAME_BYTES} bytes`);
      return;
    }
    if (client.pending >= MAX_PENDING_FRAMES) {
      this.#close(client, CloseCode.PolicyViolation, "Too many frames waiting to be handled");
      return;
    }
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(data);
    } catch (error) {
      client.sendFrame(errorFrameOf(error));
      return;
    }
    // Even a ping waits its turn: its pong tells the client that everything it sent before was handled.
    const task = frame.type === "ping"
      ? () => Promise.resolve(client.sendFrame({ type: "pong" }))
      : () => this.#app.frame(client, frame);
    // The first frame ends the start hold: a resume once it has been handled, anything else at once.
    const endsHold = client.stream.startHolding;
    if (endsHold && frame.type !== "resume") client.stream.endStartHold();
    const run = client.enqueue(task);
    if (endsHold && frame.type === "resume") run.finally(() => client.stream.endStartHold()).catch(() => {});
    run.catch((error) => {
      this.#log.error("Frame handler failed", { conn_id: client.id, user_id: client.userId, error });
      client.sendFrame(errorFrameOf(new ChatError("internal_error")));
    });
  }

  /** Makes `client` receive the room's frames; throws (and changes nothing) when the bus cannot subscribe. */
  async subscribe(client: Client, roomId: string): Promise<void> {
    if (client.closed || client.rooms.has(roomId)) return;
    client.rooms.add(roomId);
    try {
      await this.#join(this.#rooms, roomId, roomChannel(roomId), client);
    } catch (error) {
      client.rooms.delete(roomId);
      throw error;
    }
  }

  /** Stops sending the room to the socket; false when it was not subscribed. */
  unsubscribe(client: Client, roomId: string): boolean {
    if (!client.rooms.delete(roomId)) return false;
    client.stream.forget(roomId);
    this.#leave(this.#rooms, roomId, roomChannel(roomId), client);
    return true;
  }

  /**
   * A membership change: every socket of `userId`, on every instance, starts (`sub`) or stops (`unsub`)
   * receiving the room; each socket that stops gets a `left` frame. Applied here at once (so this instance's sockets are subscribed before anything is
   * published to the room), and on the other instances by a control on the user's channel, which this hub
   * skips when it comes back. A failed publish is logged: the user's other sockets pick the room up when they
   * reconnect.
   */
  async changeMembership(userId: string, roomId: string, op: "sub" | "unsub"): Promise<void> {
    await this.#applyMembership(userId, roomId, op);
    try {
      await this.#bus.publish(userChannel(userId), encodeEnvelope({ c: op, r: roomId, o: this.#id }, ""));
    } catch (error) {
      this.#log.error("Cannot publish a membership change", { user_id: userId, room_id: roomId, error });
    }
  }

  async #applyMembership(userId: string, roomId: string, op: "sub" | "unsub"): Promise<void> {
    const clients = [...this.#users.get(userId)?.clients ?? []];
    if (op === "sub") await Promise.all(clients.map((client) => this.subscribe(client, roomId)));
    else {
      // The user's pages learn that the room is gone from their list (they may not have left it themselves).
      for (const client of clients) {
        if (this.unsubscribe(client, roomId)) client.sendFrame({ type: "left", room_id: roomId });
      }
    }
  }

  /** Sends `frame` (already serialised) to every member socket of the room, on every instance. */
  publishToRoom(roomId: string, frame: string, meta: EnvelopeMeta = {}): Promise<void> {
    return this.#bus.publish(roomChannel(roomId), encodeEnvelope(meta, frame));
  }

  /** Sends a frame and/or a control (`meta.c`) to every socket of the user, on every instance. */
  publishToUser(userId: string, frame: string, meta: EnvelopeMeta = {}): Promise<void> {
    return this.#bus.publish(userChannel(userId), encodeEnvelope(meta, frame));
  }

  /**
   * Keeps the socket open until `expiresAt` (ms since the epoch; a renewed access token's expiry), then closes
   * it with 4001 so that no socket outlives the token that authorised it.
   */
  renew(client: Client, expiresAt: number): void {
    clearTimeout(client.expiryTimer);
    if (client.closed) return;
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1);
    client.expiryTimer = setTimeout(() => {
      this.#close(client, CloseCode.TokenExpired, "Access token expired; renew it and reconnect");
    }, delay);
  }

  /** Closes this instance's sockets of the user's ended sessions with 4003 (do not reconnect with them). */
  closeSessions(userId: string, sessionIds: string[]): number {
    const ended = new Set(sessionIds);
    let closed = 0;
    for (const client of [...this.#users.get(userId)?.clients ?? []]) {
      if (client.identity.sessionId === undefined || !ended.has(client.identity.sessionId)) continue;
      this.#close(client, CloseCode.SessionEnded, "Signed out");
      closed++;
    }
    return closed;
  }

  /**
   * Receives every payload published to `channel` by any instance (through `publish()`): a broadcast channel
   * for the application (e.g. ended sessions), beside the room and user channels the hub routes itself.
   */
  async listen(channel: string, handler: (payload: string) => void): Promise<void> {
    if (channel.startsWith("room:") || channel.startsWith("user:")) {
      throw new Error(`"${channel}" is a channel the hub routes itself`);
    }
    this.#listeners.set(channel, handler);
    await this.#busOp(channel, () => this.#bus.subscribe(channel));
  }

  /** Publishes to a channel `listen()`ed to on every instance. */
  publish(channel: string, payload: string): Promise<void> {
    return this.#bus.publish(channel, payload);
  }

  /** Sends `frame` (its text) to every local socket, e.g. `{"type":"store_available"}`. */
  broadcast(frame: string): void {
    for (const client of this.#clients) client.send(frame);
  }

  /** Whether this instance holds a socket of `userId`. */
  hasLocalUser(userId: string): boolean {
    return this.#users.has(userId);
  }

  stats(): HubStats {
    return { clients: this.#clients.size, users: this.#users.size, rooms: this.#rooms.size };
  }

  /** Closes every socket with `code` and waits until their queued frames and disconnect handlers are done. */
  async shutdown(code: number = CloseCode.GoingAway, reason = "Server shutting down"): Promise<void> {
    const catchingUp = this.#catchUp?.stop();
    for (const client of [...this.#clients]) this.#close(client, code, reason);
    await catchingUp;
    while (this.#draining.size > 0) await Promise.allSettled([...this.#draining]);
    await Promise.allSettled([...this.#busOps.values()]);
  }

  #close(client: Client, code: number, reason: string): void {
    try {
      client.transport.close(code, reason);
    } catch (error) {
      this.#log.debug("Closing a socket failed", { conn_id: client.id, error });
    }
    this.disconnect(client);
  }

  #overflow(client: Client): void {
    this.#log.warn("Closing slow consumer", { conn_id: client.id, user_id: client.userId });
    this.#close(client, CloseCode.SlowConsumer, "Slow consumer: too many unsent bytes");
  }

  async #join(map: Map<string, Entry>, key: string, channel: string, client: Client): Promise<void> {
    let entry = map.get(key);
    if (entry === undefined) {
      entry = { clients: new Set(), ready: this.#busOp(channel, () => this.#bus.subscribe(channel)) };
      map.set(key, entry);
    }
    entry.clients.add(client);
    try {
      await entry.ready;
    } catch (cause) {
      entry.clients.delete(client);
      if (entry.clients.size === 0 && map.get(key) === entry) map.delete(key);
      throw new Error(`Cannot subscribe to "${channel}"`, { cause });
    }
  }

  #leave(map: Map<string, Entry>, key: string, channel: string, client: Client): void {
    const entry = map.get(key);
    if (entry === undefined || !entry.clients.delete(client) || entry.clients.size > 0) return;
    map.delete(key);
    entry.order?.close();
    this.#busOp(channel, () => this.#bus.unsubscribe(channel)).catch((error) => {
      this.#log.warn("Cannot unsubscribe", { channel, error });
    });
  }

  #busOp(channel: string, op: () => Promise<void>): Promise<void> {
    const previous = this.#busOps.get(channel) ?? Promise.resolve();
    const run = previous.catch(() => {}).then(op);
    this.#busOps.set(channel, run);
    run.catch(() => {}).finally(() => {
      if (this.#busOps.get(channel) === run) this.#busOps.delete(channel);
    });
    return run;
  }

  /** Sends a room frame to its local member sockets, honouring the envelope's `x` and `p`. */
  #fanOut(roomId: string, frame: string, meta: EnvelopeMeta): void {
    const entry = this.#rooms.get(roomId);
    if (entry === undefined) return;
    if (meta.s !== undefined) (entry.recent ??= new RecentWindow(this.#recentSize)).push(meta.s, frame);
    let stored = 0;
    for (const client of entry.clients) {
      if (meta.x === client.userId) continue;
      if (meta.p !== undefined && meta.p.find((r) => client.rooms.has(r)) !== roomId) continue;
      if (meta.s !== undefined) stored += client.stream.live(roomId, meta.s, frame) ? 1 : 0;
      else client.sendLive(frame);
    }
    if (meta.s !== undefined) this.#metrics?.fannedOut(stored, meta.t);
  }

  /**
   * The stored frames of a room after `afterSeq` from this instance's recent window, when the window reaches
   * back that far without a hole; otherwise null (read the store).
   */
  recentAfter(roomId: string, afterSeq: number): SeqFrame[] | null {
    return this.#rooms.get(roomId)?.recent?.after(afterSeq) ?? null;
  }

  /**
   * Catches `client` up in each room from the `last_seq` given: every stored frame after it that this socket
   * was not sent, in order, once, at most `resumeMaxMessages` of them, written as the socket drains (see
   * `recovery/resume.ts`). The caller answers `resumed` (with `more` for the rooms left) and the failures.
   */
  resume(client: Client, rooms: Record<string, number>): Promise<ResumeResult> {
    return resume(client, rooms, {
      history: this.#history,
      recent: (roomId, afterSeq) => this.recentAfter(roomId, afterSeq),
      onResumed: (outcome) => this.#metrics?.resumed(outcome),
      maxMessages: this.#resumeMaxMessages,
      // Well under the slow-consumer cap, so that live frames of other rooms still fit beside the backfill.
      drainBytes: Math.floor(this.#maxBuffered / 4),
    });
  }

  /** Stored frames of a room with `afterSeq < seq < beforeSeq`: what the bus did not bring. */
  async #missing(roomId: string, afterSeq: number, beforeSeq: number, limit: number): Promise<SeqFrame[]> {
    const frames = await this.#history.after(roomId, afterSeq, limit);
    return frames.filter((f) => f.seq < beforeSeq);
  }

  /** The room's stored frames in seq order, made on the first one (off the bus or read from the store). */
  #orderOf(roomId: string, entry: Entry): SeqOrder {
    entry.order ??= new SeqOrder({
      deliver: (f, m) => this.#fanOut(roomId, f, m),
      missing: (after, before, limit) => this.#missing(roomId, after, before, limit),
      waitMs: this.#gapWaitMs,
      maxRepair: this.#maxGapRepair,
      onError: (error) => this.#log.warn("Cannot fill a gap from the store", { room_id: roomId, error }),
      onRepair: (outcome) => this.#metrics?.gapRepaired(outcome),
    });
    return entry.order;
  }

  #deliver(channel: string, payload: string): void {
    const listener = this.#listeners.get(channel);
    if (listener !== undefined) {
      try {
        listener(payload);
      } catch (error) {
        this.#log.error("A channel listener failed", { channel, error });
      }
      return;
    }
    let meta: EnvelopeMeta, frame: string;
    try {
      ({ meta, frame } = decodeEnvelope(payload));
    } catch (error) {
      this.#log.warn("Dropping malformed bus payload", { channel, error });
      return;
    }
    if (channel.startsWith("room:")) {
      const roomId = channel.slice(5);
      const entry = this.#rooms.get(roomId);
      if (entry === undefined) return;
      if (meta.s === undefined) {
        this.#fanOut(roomId, frame, meta);
        return;
      }
      this.#orderOf(roomId, entry).push(meta.s, frame, meta);
    } else if (channel.startsWith("user:")) {
      const userId = channel.slice(5);
      if (meta.c !== undefined && meta.r !== undefined && meta.o !== this.#id) {
        this.#applyMembership(userId, meta.r, meta.c).catch((error) => {
          this.#log.error("Cannot apply a membership change", { user_id: userId, room_id: meta.r, error });
        });
      }
      if (frame !== "") { for (const client of this.#users.get(userId)?.clients ?? []) client.send(frame); }
    }
  }
}

/** UTF-8 byte length of a string without allocating. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

import type { ServerFrame } from "./protocol.ts";
import { SentSeqs } from "./sent_seqs.ts";
import type { Transport } from "./transport.ts";

/** Who a socket belongs to. */
export interface Identity {
  userId: string;
  username: string;
  /** A room to join when the socket opens (the `room_id` of the connect URL). */
  roomId?: string;
}

/**
 * One connected socket: who it is, which rooms it receives, and a queue that runs its frames one at a time so
 * that a client's messages are stored in the order it sent them.
 */
export class Client {
  readonly rooms = new Set<string>();
  /**
   * Per room: exactly which stored seqs this socket was sent (live or by a backfill), and the highest `last_seq`
   * a resume declared (the client holds everything up to it, possibly from another socket).
   */
  readonly #stored = new Map<string, { sent: SentSeqs; has: number }>();
  /** Rooms being resumed (and, during the start hold, every room): live stored frames wait here. */
  readonly #held = new Map<string, { seq: number; frame: string }[]>();
  /**
   * Until the socket's first frame is handled, its live stored frames are held: when that frame is a `resume`,
   * frames the client already has (it may be ahead of this instance's stream, having had them from another
   * instance) are dropped by the resume instead of being sent again. Off when the hub gives no grace period.
   */
  #startHold = false;
  #startTimer: ReturnType<typeof setTimeout> | undefined;
  /** Rooms a resume is holding (their release is the resume's). */
  readonly #resuming = new Set<string>();
  /**
   * Room frames that are not stored (presence, typing) arriving while the socket is being set up: they go out
   * after what the set-up sends (e.g. the presence state it read), so a change newer than that state is not
   * overwritten by it. Null once set up.
   */
  #early: string[] | null = [];
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  #closed = false;

  constructor(
    readonly id: string,
    readonly identity: Identity,
    readonly transport: Transport,
    readonly onOverflow: (client: Client) => void,
    readonly maxBuffered: number,
  ) {}

  get userId(): string {
    return this.identity.userId;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a frame's text; a socket whose backlog passes `maxBuffered` is handed to `onOverflow`. */
  send(data: string): void {
    if (this.#closed) return;
    this.transport.send(data);
    if (this.transport.buffered > this.maxBuffered) this.onOverflow(this);
  }

  /** Sends a live room frame that is not stored; during the socket's set-up it waits (see `setUp()`). */
  sendLive(data: string): void {
    if (this.#early !== null) this.#early.push(data);
    else this.send(data);
  }

  /** The set-up (`HubHandler.connect`) is done: the live frames that waited go out, in order. */
  setUp(): void {
    const early = this.#early ?? [];
    this.#early = null;
    for (const data of early) this.send(data);
  }

  /**
   * Sends a stored room frame arriving live: held while the room is being resumed; otherwise sent unless this
   * socket was sent it already or the client said it has it. False when dropped as a repeat.
   */
  sendStored(roomId: string, seq: number, frame: string): boolean {
    let held = this.#held.get(roomId);
    if (held === undefined && this.#startHold) this.#held.set(roomId, held = []);
    if (held !== undefined) {
      held.push({ seq, frame });
      return true;
    }
    const stored = this.#storedOf(roomId);
    if (seq <= stored.has || !stored.sent.add(seq)) return false;
    this.send(frame);
    return true;
  }

  /** Sends a stored frame a resume asked for, unless this socket was sent it already. */
  sendBackfilled(roomId: string, seq: number, frame: string): boolean {
    if (!this.#storedOf(roomId).sent.add(seq)) return false;
    this.send(frame);
    return true;
  }

  /** Forgets what was sent in a room the socket no longer receives. */
  forgetRoom(roomId: string): void {
    this.#stored.delete(roomId);
    this.#held.delete(roomId);
  }

  /** Holds every room's stored frames until `endStartHold()` or `graceMs` pass (a client that sends nothing). */
  startHold(graceMs: number): void {
    this.#startHold = true;
    this.#startTimer = setTimeout(() => this.endStartHold(), graceMs);
  }

  get startHolding(): boolean {
    return this.#startHold;
  }

  /** Ends the start hold: the rooms no resume is holding get their held frames, in order, once. */
  endStartHold(): void {
    if (!this.#startHold) return;
    this.#startHold = false;
    clearTimeout(this.#startTimer);
    for (const roomId of [...this.#held.keys()]) {
      if (!this.#resuming.has(roomId)) this.release(roomId);
    }
  }

  /** A resume of the room from `lastSeq` begins: its live stored frames are held until `release()`. */
  hold(roomId: string, lastSeq: number): void {
    this.#resuming.add(roomId);
    if (!this.#held.has(roomId)) this.#held.set(roomId, []);
    const stored = this.#storedOf(roomId);
    stored.has = Math.max(stored.has, lastSeq);
  }

  /** Ends a resume (or the start hold): the held frames this socket was not sent go out in order, once. */
  release(roomId: string): void {
    const held = this.#held.get(roomId) ?? [];
    this.#held.delete(roomId);
    this.#resuming.delete(roomId);
    held.sort((a, b) => a.seq - b.seq);
    for (const { seq, frame } of held) this.sendStored(roomId, seq, frame);
  }

  /** Resolves once the unsent backlog is under `bytes` (or the socket closed): flow control for backfills. */
  async drained(bytes: number): Promise<void> {
    while (!this.#closed && this.transport.buffered > bytes) await new Promise((r) => setTimeout(r, 5));
  }

  sendFrame(frame: ServerFrame): void {
    this.send(JSON.stringify(frame));
  }

  /** Runs `task` after every task enqueued before it; the returned promise settles with it. */
  enqueue(task: () => Promise<void>): Promise<void> {
    this.#pending++;
    const run = this.#queue.then(task).finally(() => this.#pending--);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Tasks enqueued and not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /** Settles once every enqueued task has. */
  idle(): Promise<void> {
    return this.#queue;
  }

  #storedOf(roomId: string): { sent: SentSeqs; has: number } {
    let stored = this.#stored.get(roomId);
    if (stored === undefined) this.#stored.set(roomId, stored = { sent: new SentSeqs(), has: 0 });
    return stored;
  }

  markClosed(): void {
    clearTimeout(this.#startTimer);
    this.#closed = true;
  }
}

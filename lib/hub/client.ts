import type { ServerFrame } from "./protocol.ts";
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
  /** Per room, the first and last seq of the stored frames sent live (in seq order), to resume without repeats. */
  readonly #live = new Map<string, { first: number; last: number }>();
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

  /**
   * Sends a stored room frame arriving live (in seq order): held while the room is being resumed, otherwise
   * sent and remembered, so a resume does not send it again. False when dropped as a repeat.
   */
  sendStored(roomId: string, seq: number, frame: string): boolean {
    let held = this.#held.get(roomId);
    if (held === undefined && this.#startHold) this.#held.set(roomId, held = []);
    if (held !== undefined) {
      held.push({ seq, frame });
      return true;
    }
    const live = this.#live.get(roomId);
    // Live frames come in seq order, so one at or below the last sent (live or by a backfill) is a repeat.
    if (live !== undefined && seq <= live.last) return false;
    if (live === undefined) this.#live.set(roomId, { first: seq, last: seq });
    else live.last = seq;
    this.send(frame);
    return true;
  }

  /** Whether a stored frame of `roomId` with `seq` was already sent live on this socket. */
  sentLive(roomId: string, seq: number): boolean {
    const live = this.#live.get(roomId);
    return live !== undefined && seq >= live.first && seq <= live.last;
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
      if (!this.#resuming.has(roomId)) this.release(roomId, 0);
    }
  }

  /** Starts holding the room's live stored frames (a resume begins). */
  hold(roomId: string): void {
    this.#resuming.add(roomId);
    if (!this.#held.has(roomId)) this.#held.set(roomId, []);
  }

  /**
   * Ends a resume whose backfill sent everything up to `afterSeq`: from now on frames at or below it are
   * repeats (the bus may still bring some the store already gave); the held ones after it go out in order.
   */
  release(roomId: string, afterSeq: number): void {
    const held = this.#held.get(roomId) ?? [];
    this.#held.delete(roomId);
    this.#resuming.delete(roomId);
    const live = this.#live.get(roomId);
    if (live !== undefined) live.last = Math.max(live.last, afterSeq);
    else if (afterSeq > 0) this.#live.set(roomId, { first: afterSeq, last: afterSeq });
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

  markClosed(): void {
    clearTimeout(this.#startTimer);
    this.#closed = true;
  }
}

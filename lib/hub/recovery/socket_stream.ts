import { SentSeqs } from "./sent_seqs.ts";

/**
 * One socket's stream of stored room frames, so that it gets each seq once, in order:
 * - it records exactly which seqs it was sent (live or by a resume's backfill), per room (`SentSeqs`);
 * - while a room is being resumed its live frames are held, and go out after the backfill, each once;
 * - live frames at or below a resume's `last_seq` are dropped: the client said it has them (it may be ahead of
 *   this instance's stream, having had them from another instance);
 * - until the socket's first frame is handled every room's live frames are held (the start hold), so that
 *   when that first frame is a resume, what the client already has is not sent before it;
 * - a room whose resume stopped at its bound (`pause()`) gets no live frames until the client resumes it again:
 *   they are stored, so that next resume sends them, in order, after the rest of the gap;
 * - held frames are unsent backlog like the socket's own: past `maxHeldBytes` the socket is a slow consumer
 *   (`overflow()`), so a client that stops reading during a resume of a busy room cannot pile them up.
 */
export class SocketStream {
  /** Per room: what was sent, and the highest `last_seq` a resume declared. */
  readonly #rooms = new Map<string, { sent: SentSeqs; has: number }>();
  /** Rooms being resumed (and, during the start hold, every room): live stored frames wait here. */
  readonly #held = new Map<string, { seq: number; frame: string }[]>();
  /** Rooms a resume is holding (their release is the resume's, not the start hold's). */
  readonly #resuming = new Set<string>();
  /** Rooms whose resume stopped at its bound: their live frames are dropped until the next `hold()`. */
  readonly #paused = new Set<string>();
  /** UTF-16 code units of every held frame (about their bytes: frames are mostly ASCII JSON). */
  #heldBytes = 0;
  #startHold = false;
  #startTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly send: (frame: string) => void,
    readonly options: { maxHeldBytes?: number; overflow?: () => void } = {},
  ) {}

  /**
   * A stored room frame arriving live (rooms' frames come in seq order): held while the room is being resumed;
   * dropped while the room is paused; otherwise sent unless this socket was sent it already or the client said
   * it has it. False when dropped.
   */
  live(roomId: string, seq: number, frame: string): boolean {
    if (this.#paused.has(roomId)) return false;
    let held = this.#held.get(roomId);
    if (held === undefined && this.#startHold) this.#held.set(roomId, held = []);
    if (held !== undefined) {
      held.push({ seq, frame });
      this.#heldBytes += frame.length;
      if (this.#heldBytes > (this.options.maxHeldBytes ?? Infinity)) this.options.overflow?.();
      return true;
    }
    const room = this.#room(roomId);
    if (seq <= room.has || !room.sent.add(seq)) return false;
    this.send(frame);
    return true;
  }

  /** A stored frame a resume asked for: sent unless this socket was sent it already. */
  backfilled(roomId: string, seq: number, frame: string): boolean {
    if (!this.#room(roomId).sent.add(seq)) return false;
    this.send(frame);
    return true;
  }

  /** A resume of the room from `lastSeq` begins: its live stored frames are held until `release()`. */
  hold(roomId: string, lastSeq: number): void {
    this.#paused.delete(roomId);
    this.#resuming.add(roomId);
    if (!this.#held.has(roomId)) this.#held.set(roomId, []);
    const room = this.#room(roomId);
    room.has = Math.max(room.has, lastSeq);
  }

  /** Ends a resume (or the start hold): the held frames this socket was not sent go out in order, once. */
  release(roomId: string): void {
    const held = this.#take(roomId);
    this.#resuming.delete(roomId);
    held.sort((a, b) => a.seq - b.seq);
    for (const { seq, frame } of held) this.live(roomId, seq, frame);
  }

  /**
   * Ends a resume that stopped at its bound before the end of the room's gap (or never reached the room): the
   * held frames are dropped, and so are the room's live frames until the next `hold()`. Nothing is lost: they
   * are stored, and the client's next resume of the room sends them after the rest of the gap, in order.
   * Nothing piles up either, however long the client takes to ask.
   */
  pause(roomId: string): void {
    this.#take(roomId);
    this.#resuming.delete(roomId);
    this.#paused.add(roomId);
  }

  /** Whether the room is paused (`pause()`) until its next resume. */
  paused(roomId: string): boolean {
    return this.#paused.has(roomId);
  }

  /** Holds every room's live frames until `endStartHold()`, or `graceMs` (a client that sends nothing). */
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

  /** Forgets a room the socket no longer receives. */
  forget(roomId: string): void {
    this.#rooms.delete(roomId);
    this.#take(roomId);
    this.#paused.delete(roomId);
  }

  /** The socket is gone: no timer left behind. */
  close(): void {
    clearTimeout(this.#startTimer);
  }

  /** Bytes of the frames held (see `maxHeldBytes`). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Removes and returns the room's held frames. */
  #take(roomId: string): { seq: number; frame: string }[] {
    const held = this.#held.get(roomId) ?? [];
    this.#held.delete(roomId);
    for (const { frame } of held) this.#heldBytes -= frame.length;
    return held;
  }

  #room(roomId: string): { sent: SentSeqs; has: number } {
    let room = this.#rooms.get(roomId);
    if (room === undefined) this.#rooms.set(roomId, room = { sent: new SentSeqs(), has: 0 });
    return room;
  }
}

import type { Logger } from "../../log.ts";
import type { History } from "./history.ts";

export interface BusCatchUpOptions {
  history: History;
  log: Logger;
  /** Whether the bus delivers right now (`Bus.health()` is "ok"). */
  healthy(): boolean;
  /** The rooms that have local sockets now. */
  rooms(): string[];
  /** The seq the room's stream waits for next; undefined when it has seen no stored frame yet. */
  expected(roomId: string): number | undefined;
  /** Hands a stored frame to the room's stream, as if it came off the bus (repeats are dropped there). */
  push(roomId: string, seq: number, frame: string): void;
  /** How often the bus's health is looked at, and the store read while it is not healthy (1 s). */
  intervalMs?: number;
  /** Rooms whose last seq one store read asks for (500). */
  batch?: number;
  /** Most frames read per room per round (200): a busy room catches up over several rounds. */
  pageSize?: number;
  /** The mode changed: reading from the store (true), or back to the bus alone (false). */
  onActive?(active: boolean): void;
  /** Frames read from the store and handed on in one round. */
  onFrames?(count: number): void;
}

/**
 * While the bus is deaf (its probe says so, within a few seconds of a link that went silent), the rooms' new
 * stored frames are read from the store instead, so that this instance's sockets never wait for the link to come
 * back. Every `intervalMs` one read asks for the last seq of up to `batch` rooms; each room that has frames past
 * what its stream delivered has them read (at most `pageSize` per round) and handed to the stream, which delivers
 * them in seq order, once, exactly like frames off the bus (and drops them if the bus brought them first). Any
 * event type that is stored with a seq is covered.
 *
 * A room whose stream has seen no frame yet starts at the last seq read the first time (nothing before it is
 * known to be missing here; a client that finds a hole resumes). Once the bus is healthy again, one more round
 * reads what was stored up to then, and the reading stops when a round found every room read to its end.
 */
export class BusCatchUp {
  readonly #options: BusCatchUpOptions;
  readonly #intervalMs: number;
  readonly #batch: number;
  readonly #pageSize: number;
  /** Rooms without a stream yet: the last seq read the first time. */
  readonly #base = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #round: Promise<void> | undefined;
  #active = false;

  constructor(options: BusCatchUpOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 1_000;
    this.#batch = options.batch ?? 500;
    this.#pageSize = options.pageSize ?? 200;
  }

  /** Whether the store is being read (the bus was found deaf and has not caught up since). */
  get active(): boolean {
    return this.#active;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.check(), this.#intervalMs);
  }

  /** Stops the timer and waits for a round under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  /** Looks at the bus now; starts a round when the store must be read. Returns the round, if one runs. */
  check(): Promise<void> | undefined {
    if (this.#round !== undefined) return this.#round;
    const healthy = this.#options.healthy();
    if (healthy && !this.#active) return undefined;
    if (!healthy && !this.#active) {
      this.#active = true;
      this.#options.log.warn("The bus is not delivering: reading new messages from the store meanwhile");
      this.#options.onActive?.(true);
    }
    this.#round = this.#read()
      .then((complete) => {
        if (!healthy || !complete || !this.#active) return;
        this.#active = false;
        this.#base.clear();
        this.#options.log.info("The bus delivers again: no longer reading new messages from the store");
        this.#options.onActive?.(false);
      })
      .catch((error) => this.#options.log.warn("Cannot read new messages from the store", { error }))
      .finally(() => this.#round = undefined);
    return this.#round;
  }

  /** One round over every room; true when each was read to its last seq. */
  async #read(): Promise<boolean> {
    const { history } = this.#options;
    const rooms = this.#options.rooms();
    let complete = true;
    for (let start = 0; start < rooms.length; start += this.#batch) {
      const ids = rooms.slice(start, start + this.#batch);
      const heads = await history.lastSeqs(ids);
      for (const roomId of ids) {
        const head = heads.get(roomId) ?? 0;
        const base = this.#base.get(roomId);
        const expected = this.#options.expected(roomId) ?? (base === undefined ? undefined : base + 1);
        if (expected === undefined) {
          this.#base.set(roomId, head);
          continue;
        }
        if (head < expected) continue;
        const frames = await history.after(roomId, expected - 1, this.#pageSize);
        for (const { seq, frame } of frames) this.#options.push(roomId, seq, frame);
        if (frames.length > 0) this.#options.onFrames?.(frames.length);
        // A full page short of the head: more next round. (A short one is all there is: retention may have
        // removed some, and the stream goes on from what came.)
        if (frames.length === this.#pageSize && frames.at(-1)!.seq < head) complete = false;
      }
    }
    return complete;
  }
}

import type { EnvelopeMeta } from "../envelope.ts";
import type { SeqFrame } from "./history.ts";

export interface SeqOrderOptions {
  /** Hands a frame on, in seq order, each seq once. */
  deliver(frame: string, meta: EnvelopeMeta): void;
  /**
   * Stored frames with `afterSeq < seq < beforeSeq`, ascending (at most `limit`): what the bus did not bring.
   */
  missing(afterSeq: number, beforeSeq: number, limit: number): Promise<SeqFrame[]>;
  /** How long an early frame waits for the ones before it before the gap is filled from the store. */
  waitMs: number;
  /** Longest gap filled from the store; past it the stream jumps ahead and clients catch up themselves. */
  maxRepair: number;
  onError(error: unknown): void;
  /** After each repair: every missing frame found, part of the gap skipped, or the store failed (metrics). */
  onRepair?(outcome: "filled" | "skipped" | "failed"): void;
}

/**
 * Puts one room's stored frames back in `seq` order as they come off the bus. Instances publish after their own
 * store write, so two instances' frames can cross on the way; a lost publish (a Redis outage) leaves a gap. Early
 * frames wait; a seq seen before is dropped; a gap still open after `waitMs` is filled from the store.
 * The first frame seen sets where the stream starts.
 */
export class SeqOrder {
  readonly #options: SeqOrderOptions;
  #next: number | undefined;
  readonly #early = new Map<number, { frame: string; meta: EnvelopeMeta }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #repairing = false;
  #closed = false;

  constructor(options: SeqOrderOptions) {
    this.#options = options;
  }

  push(seq: number, frame: string, meta: EnvelopeMeta): void {
    if (this.#closed) return;
    this.#next ??= seq;
    if (seq < this.#next || this.#early.has(seq)) return;
    this.#early.set(seq, { frame, meta });
    this.#drain();
  }

  /** The seq delivered next; undefined until the first frame (the stream starts where that one is). */
  get expected(): number | undefined {
    return this.#next;
  }

  /** Frames waiting for earlier ones (tests, metrics). */
  get waiting(): number {
    return this.#early.size;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#early.clear();
  }

  #drain(): void {
    for (let item = this.#early.get(this.#next!); item !== undefined; item = this.#early.get(this.#next!)) {
      this.#early.delete(this.#next!);
      this.#next!++;
      this.#options.deliver(item.frame, item.meta);
    }
    if (this.#early.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (this.#timer === undefined && !this.#repairing) {
      this.#timer = setTimeout(() => this.#repair(), this.#options.waitMs);
    }
  }

  async #repair(): Promise<void> {
    this.#timer = undefined;
    this.#repairing = true;
    const next = this.#next!;
    const firstEarly = Math.min(...this.#early.keys());
    let failed = false;
    try {
      const found = await this.#options.missing(next - 1, firstEarly, this.#options.maxRepair);
      for (const { seq, frame } of found) {
        if (!this.#closed && seq >= this.#next! && !this.#early.has(seq)) {
          // Marked as stored, like a frame off the bus: sockets hold it during a resume and send it once.
          this.#early.set(seq, { frame, meta: { s: seq } });
        }
      }
    } catch (error) {
      failed = true;
      this.#options.onError(error);
    }
    this.#repairing = false;
    if (this.#closed) return;
    const filled = this.#early.size === 0 || this.#early.has(this.#next!);
    this.#options.onRepair?.(failed ? "failed" : filled ? "filled" : "skipped");
    // Whatever is still missing (too long a gap, or the store failed) is skipped: clients see the jump in seq
    // and catch up from the store themselves.
    // Nothing waiting (the bus brought the gap while the store was read): the stream just goes on.
    if (this.#early.size > 0 && !this.#early.has(this.#next!)) {
      this.#next = Math.max(this.#next!, Math.min(...this.#early.keys()));
    }
    this.#drain();
  }
}

/**
 * A `History` for hub tests: a test puts the stored frames of each room in `stored`; every call is recorded in
 * `calls`, and `gate` lets a test hold the answers to play a slow store.
 *
 * @example
 * const history = new FakeHistory();
 * history.store("r1", [{ seq: 1, frame: "..." }]);
 * const hub = new Hub({ bus, history, log });
 */

import { Watched } from "./watched.ts";
import type { History, SeqFrame } from "../recovery/mod.ts";

export class FakeHistory extends Watched implements History {
  /** Per room, its stored frames in seq order. */
  readonly stored = new Map<string, SeqFrame[]>();
  /** `lastSeq r1`, `after r1 3`, ... in the order the hub called them. */
  readonly calls: string[] = [];
  /** When set, `after()` waits for it before answering. */
  gate: Promise<void> | undefined;

  /** Adds frames to a room's store (kept in seq order). */
  store(roomId: string, frames: SeqFrame[]): void {
    const all = [...this.stored.get(roomId) ?? [], ...frames].sort((a, b) => a.seq - b.seq);
    this.stored.set(roomId, all);
  }

  lastSeq(roomId: string): Promise<number> {
    this.#record(`lastSeq ${roomId}`);
    return Promise.resolve(this.stored.get(roomId)?.at(-1)?.seq ?? 0);
  }

  lastSeqs(roomIds: string[]): Promise<Map<string, number>> {
    this.#record(`lastSeqs ${[...roomIds].sort().join(",")}`);
    const known = roomIds.filter((id) => this.stored.has(id));
    return Promise.resolve(new Map(known.map((id) => [id, this.stored.get(id)!.at(-1)?.seq ?? 0])));
  }

  async after(roomId: string, afterSeq: number, limit: number): Promise<SeqFrame[]> {
    this.#record(`after ${roomId} ${afterSeq}`);
    await this.gate;
    return (this.stored.get(roomId) ?? []).filter((f) => f.seq > afterSeq).slice(0, limit);
  }

  /** The calls that start with `prefix`. */
  only(prefix: string): string[] {
    return this.calls.filter((call) => call.startsWith(prefix));
  }

  #record(call: string): void {
    this.calls.push(call);
    this.notify();
  }
}

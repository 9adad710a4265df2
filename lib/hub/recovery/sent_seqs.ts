/**
 * The seqs of one room that one socket was sent, exactly: a sorted list of disjoint ranges. Live frames extend
 * the last range (the usual case, O(1)); a jump in the live stream starts a new one, and a resume's backfill
 * fills the hole between them. A resume asks "was this seq sent?", never "is it below the highest sent?": a
 * socket that got 1000.. live after a jump has not been sent 851..999.
 *
 * The list is bounded: past `maxRanges` the lowest ranges are forgotten, so at worst a resume from far back
 * sends some of those seqs again (a repeat, never a loss).
 */
export class SentSeqs {
  /** `[first, last]` pairs, ascending, neither overlapping nor adjacent. */
  readonly #ranges: [number, number][] = [];

  constructor(readonly maxRanges = 64) {}

  has(seq: number): boolean {
    const i = this.#indexOf(seq);
    return i >= 0 && seq <= this.#ranges[i][1];
  }

  /** Records `seq` as sent; false when it already was. */
  add(seq: number): boolean {
    const ranges = this.#ranges;
    const tail = ranges.at(-1);
    if (tail !== undefined && seq === tail[1] + 1) {
      tail[1] = seq;
      return true;
    }
    // The range at or before `seq` (its index), if any.
    const i = this.#indexOf(seq);
    const at = i >= 0 ? ranges[i] : undefined;
    if (at !== undefined && seq <= at[1]) return false;
    const next = ranges[i + 1];
    if (at !== undefined && seq === at[1] + 1) {
      at[1] = seq;
      if (next !== undefined && next[0] === seq + 1) {
        at[1] = next[1];
        ranges.splice(i + 1, 1);
      }
    } else if (next !== undefined && next[0] === seq + 1) {
      next[0] = seq;
    } else {
      ranges.splice(i + 1, 0, [seq, seq]);
      if (ranges.length > this.maxRanges) ranges.splice(0, ranges.length - this.maxRanges);
    }
    return true;
  }

  /** The ranges, for tests and logs. */
  ranges(): [number, number][] {
    return this.#ranges.map(([a, b]) => [a, b]);
  }

  /** Index of the last range that starts at or below `seq`, or -1. */
  #indexOf(seq: number): number {
    const ranges = this.#ranges;
    let lo = 0, hi = ranges.length - 1, found = -1;
    // The common question is about the newest range: answer it without a search.
    if (hi >= 0 && ranges[hi][0] <= seq) return hi;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ranges[mid][0] <= seq) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

// The latency histogram of the generator's workers and of the orchestrator that merges them: one definition, so
// that every histogram has the same range and precision (merging requires it). Values are microseconds.
import * as hdr from "hdr-histogram-js";

/** An empty histogram of 1 us .. 120 s at 3 significant digits. */
export function newHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

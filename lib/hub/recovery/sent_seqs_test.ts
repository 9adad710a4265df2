import assert from "node:assert/strict";
import { SentSeqs } from "./sent_seqs.ts";

Deno.test("`SentSeqs` keeps contiguous seqs as one range and a jump as a new one", () => {
  const sent = new SentSeqs();
  for (const seq of [5, 6, 7]) assert.equal(sent.add(seq), true);
  assert.equal(sent.add(20), true);
  assert.equal(sent.add(21), true);
  assert.deepEqual(sent.ranges(), [[5, 7], [20, 21]]);
  assert.deepEqual([4, 5, 7, 8, 19, 20, 21, 22].map((s) => sent.has(s)), [
    false,
    true,
    true,
    false,
    false,
    true,
    true,
    false,
  ]);
});

Deno.test("`SentSeqs.add()` refuses a seq already in, and filling a hole merges the ranges", () => {
  const sent = new SentSeqs();
  for (const seq of [1, 2, 10, 11, 5]) sent.add(seq);
  assert.deepEqual(sent.ranges(), [[1, 2], [5, 5], [10, 11]]);
  assert.equal(sent.add(2), false);
  assert.equal(sent.add(10), false);
  assert.equal(sent.add(5), false);
  for (const seq of [3, 4]) assert.equal(sent.add(seq), true);
  assert.deepEqual(sent.ranges(), [[1, 5], [10, 11]]);
  assert.equal(sent.add(9), true);
  assert.deepEqual(sent.ranges(), [[1, 5], [9, 11]]);
  for (const seq of [6, 7, 8]) sent.add(seq);
  assert.deepEqual(sent.ranges(), [[1, 11]]);
  assert.equal(sent.add(0), true);
  assert.deepEqual(sent.ranges(), [[0, 11]]);
});

Deno.test("`SentSeqs` forgets the lowest ranges past its bound", () => {
  const sent = new SentSeqs(3);
  for (const seq of [1, 3, 5, 7]) sent.add(seq);
  assert.deepEqual(sent.ranges(), [[3, 3], [5, 5], [7, 7]]);
  assert.equal(sent.has(1), false);
});

Deno.test("`SentSeqs` agrees with a plain set on random adds", () => {
  let state = 42;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const sent = new SentSeqs(1_000);
  const set = new Set<number>();
  for (let i = 0; i < 2_000; i++) {
    const seq = Math.floor(random() * 500);
    assert.equal(sent.add(seq), !set.has(seq), `add ${seq}`);
    set.add(seq);
  }
  for (let seq = -1; seq <= 501; seq++) assert.equal(sent.has(seq), set.has(seq), `has ${seq}`);
  const ranges = sent.ranges();
  for (let i = 1; i < ranges.length; i++) {
    assert.ok(ranges[i][0] > ranges[i - 1][1] + 1, "disjoint, not adjacent");
  }
});

import assert from "node:assert/strict";
import { SharedReads } from "./shared_reads.ts";

Deno.test("`SharedReads` shares a read between callers that ask before it starts, never one that started before", async () => {
  let value = 0;
  const started: number[] = [];
  const gates: PromiseWithResolvers<void>[] = [];
  const reads = new SharedReads(async (key) => {
    const seen = value; // what the read sees when it starts
    const gate = Promise.withResolvers<void>();
    gates.push(gate);
    started.push(seen);
    await gate.promise;
    return `${key}:${seen}`;
  });

  value = 1;
  const a = reads.get("r");
  const b = reads.get("r"); // asked before the first read started: the same read
  assert.equal(a, b);
  await Promise.resolve(); // the first read starts
  await Promise.resolve();
  value = 2; // a change after the first read started...
  const c = reads.get("r"); // ...so this caller needs a read that starts later
  const d = reads.get("r");
  assert.equal(c, d);
  assert.notEqual(c, a);
  const other = reads.get("s"); // keys are independent
  gates[0].resolve();
  assert.equal(await a, "r:1");
  await new Promise((resolve) => setTimeout(resolve, 0));
  gates.slice(1).forEach((g) => g.resolve());
  assert.equal(await c, "r:2");
  assert.equal(await other, "s:2");
  assert.deepEqual(started.length, 3);
});

Deno.test("`SharedReads` goes on after a failed read", async () => {
  let fail = true;
  const reads = new SharedReads((key) => fail ? Promise.reject(new Error("down")) : Promise.resolve(key));
  await assert.rejects(reads.get("r"), /down/);
  fail = false;
  assert.equal(await reads.get("r"), "r");
});

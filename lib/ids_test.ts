import assert from "node:assert/strict";
import { isId, newId } from "./ids.ts";

Deno.test("newId() returns 24 lowercase hex characters", () => {
  for (let i = 0; i < 100; i++) assert.match(newId(), /^[0-9a-f]{24}$/);
});

Deno.test("newId() never repeats over 10,000 calls", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 10_000; i++) ids.add(newId());
  assert.equal(ids.size, 10_000);
});

Deno.test("newId() starts with the current time in seconds, so ids sort roughly by creation", () => {
  const before = Math.floor(Date.now() / 1000);
  const ids = Array.from({ length: 1_000 }, () => newId());
  const after = Math.floor(Date.now() / 1000);

  const seconds = ids.map((id) => parseInt(id.slice(0, 8), 16));
  for (const s of seconds) {
    assert.ok(s >= before && s <= after, `timestamp ${s} outside [${before}, ${after}]`);
  }
  for (let i = 1; i < seconds.length; i++) assert.ok(seconds[i] >= seconds[i - 1], "timestamps go backwards");

  // An id from an earlier second sorts first as a string.
  const older = (before - 1).toString(16).padStart(8, "0") + "f".repeat(16);
  assert.ok(older < ids[0]);
});

Deno.test("newId() keeps the per-process part and advances the counter", () => {
  const [a, b] = [newId(), newId()];
  assert.equal(a.slice(8, 18), b.slice(8, 18)); // 5 random bytes, fixed for the process
  const counter = (id: string) => parseInt(id.slice(18), 16);
  assert.equal(counter(b), (counter(a) + 1) & 0xffffff);
});

Deno.test("isId() accepts newId() output and rejects anything else", async (t) => {
  assert.equal(isId(newId()), true);
  assert.equal(isId("6745f0c2a1b2c3d4e5000001"), true);
  assert.equal(isId("000000000000000000000000"), true);
  const cases: [string, unknown][] = [
    ["23 characters", "6745f0c2a1b2c3d4e500000"],
    ["25 characters", "6745f0c2a1b2c3d4e50000011"],
    ["uppercase", "6745F0C2A1B2C3D4E5000001"],
    ["non-hex", "6745f0c2a1b2c3d4e500000g"],
    ["trailing newline", "6745f0c2a1b2c3d4e5000001\n"],
    ["leading space", " 6745f0c2a1b2c3d4e5000001"],
    ["empty", ""],
    ["uuid", "6f9619ff-8b86-d011-b42d-00c04fc964ff"],
    ["number", 6745],
    ["null", null],
    ["undefined", undefined],
    ["object", { $ne: "" }],
    ["array", ["6745f0c2a1b2c3d4e5000001"]],
  ];
  for (const [name, value] of cases) {
    await t.step(name, () => assert.equal(isId(value), false));
  }
});

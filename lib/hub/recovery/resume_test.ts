import assert from "node:assert/strict";
import { Client } from "../client.ts";
import { FakeHistory } from "../testing/fake_history.ts";
import { FakeTransport } from "../testing/fake_transport.ts";
import type { SeqFrame } from "./history.ts";
import { NotSubscribedError, RecentWindow, resume, type ResumeOutcome } from "./resume.ts";

const frames = (...seqs: number[]): SeqFrame[] => seqs.map((seq) => ({ seq, frame: `f${seq}` }));

/** A socket in `rooms`, its transport, and what resumes reported. */
function socket(rooms: string[]) {
  const transport = new FakeTransport();
  const client = new Client("c1", { userId: "u", username: "u" }, transport, () => {}, 1 << 20);
  for (const room of rooms) client.rooms.add(room);
  const outcomes: (ResumeOutcome | "failed")[] = [];
  return { client, transport, outcomes };
}

Deno.test("`resume()` reads the history after `last_seq` in pages and says where it came from", async () => {
  const history = new FakeHistory();
  history.store("r", frames(1, 2, 3, 4, 5));
  const { client, transport, outcomes } = socket(["r"]);
  const result = await resume(client, { r: 1 }, {
    history,
    recent: () => null,
    onResumed: (o) => outcomes.push(o),
    pageSize: 2,
  });
  assert.deepEqual(transport.sent, ["f2", "f3", "f4", "f5"]);
  assert.deepEqual(result, { done: { r: 5 }, more: {}, failed: [] });
  assert.deepEqual(outcomes, ["store"]);
  assert.deepEqual(history.only("after"), ["after r 1", "after r 3"], "5 was the last stored: no more reads");
});

Deno.test("`resume()` uses the recent window only when it reaches the room's last stored seq", async () => {
  const history = new FakeHistory();
  history.store("r", frames(1, 2, 3, 4));
  const window = new RecentWindow(256);
  for (const f of frames(2, 3)) window.push(f.seq, f.frame);
  const lagging = socket(["r"]);
  await resume(lagging.client, { r: 1 }, {
    history,
    recent: (_, after) => window.after(after),
    onResumed: (o) => lagging.outcomes.push(o),
  });
  assert.deepEqual(lagging.transport.sent, ["f2", "f3", "f4"], "4 was never published: the store has it");
  assert.deepEqual(lagging.outcomes, ["store"]);

  window.push(4, "f4");
  const current = socket(["r"]);
  await resume(current.client, { r: 2 }, {
    history,
    recent: (_, after) => window.after(after),
    onResumed: (o) => current.outcomes.push(o),
  });
  assert.deepEqual(current.transport.sent, ["f3", "f4"]);
  assert.deepEqual(current.outcomes, ["window"]);
  assert.deepEqual(history.only("after"), ["after r 1"], "the window answered the second");
});

Deno.test("`resume()` says `reset` first when retention removed part of the gap", async () => {
  const history = new FakeHistory();
  history.store("r", frames(7, 8));
  const { client, transport, outcomes } = socket(["r"]);
  const result = await resume(client, { r: 2 }, {
    history,
    recent: () => null,
    onResumed: (o) => outcomes.push(o),
  });
  assert.deepEqual(JSON.parse(transport.sent[0]), { type: "reset", room_id: "r", from_seq: 7 });
  assert.deepEqual(transport.sent.slice(1), ["f7", "f8"]);
  assert.deepEqual(result.done, { r: 8 });
  assert.deepEqual(outcomes, ["reset"]);
});

Deno.test("`resume()` fails a room it cannot read or the socket is not in, and goes on with the others", async () => {
  const history = new FakeHistory();
  history.store("ok", frames(1, 2));
  history.store("down", frames(1, 2));
  const broken = {
    lastSeq: (room: string) => history.lastSeq(room),
    lastSeqs: (rooms: string[]) => history.lastSeqs(rooms),
    after: (room: string, after: number, limit: number) =>
      room === "down" ? Promise.reject(new Error("store down")) : history.after(room, after, limit),
  };
  const { client, transport, outcomes } = socket(["ok", "down"]);
  client.stream.hold("down", 0); // a live frame of the failing room arrives meanwhile
  const result = await resume(client, { down: 0, stranger: 0, ok: 0 }, {
    history: broken,
    recent: () => null,
    onResumed: (o) => outcomes.push(o),
  });
  assert.deepEqual(result.done, { ok: 2 });
  assert.deepEqual(result.failed.map((f) => f.roomId), ["down", "stranger"]);
  assert.ok(result.failed[1].error instanceof NotSubscribedError);
  assert.deepEqual(outcomes, ["failed", "failed", "store"]);
  assert.deepEqual(transport.sent, ["f1", "f2"]);
});

Deno.test("`RecentWindow` answers only a gap it covers without a hole, and trims in batches", () => {
  const window = new RecentWindow(3);
  assert.equal(window.after(0), null, "empty");
  for (const seq of [5, 6, 7]) window.push(seq, `f${seq}`);
  assert.deepEqual(window.after(4)!.map((f) => f.seq), [5, 6, 7]);
  assert.deepEqual(window.after(7), []);
  assert.equal(window.after(3), null, "6 is older than the window");
  window.push(9, "f9"); // 8 never came
  assert.equal(window.after(6), null, "a hole");
  for (const seq of [10, 11]) window.push(seq, `f${seq}`); // six frames: trimmed to the newest three
  assert.equal(window.after(7), null, "8 never came");
  assert.deepEqual(window.after(8)!.map((f) => f.seq), [9, 10, 11]);
});

Deno.test("`resume()` reads at most `maxMessages` over all its rooms; the rest is in `more`, paused", async () => {
  const history = new FakeHistory();
  history.store("a", frames(1, 2, 3));
  history.store("b", frames(1, 2, 3, 4, 5, 6));
  history.store("c", frames(1, 2));
  const { client, transport } = socket(["a", "b", "c"]);
  const options = { history, recent: () => null, pageSize: 2, maxMessages: 5 };
  const first = await resume(client, { a: 0, b: 1, c: 0 }, options);
  assert.deepEqual(transport.sent, ["f1", "f2", "f3", "f2", "f3"], "a whole, then b up to the bound");
  assert.deepEqual(first, { done: { a: 3, b: 3 }, more: { b: 3, c: 0 }, failed: [] });
  assert.deepEqual(history.only("after"), ["after a 0", "after a 2", "after b 1"], "c was not read");
  assert.ok(client.stream.paused("b") && client.stream.paused("c") && !client.stream.paused("a"));

  // Live frames of the paused rooms are dropped, not kept: they are stored, and come with the next page.
  assert.equal(client.stream.live("b", 7, "f7"), false);
  assert.equal(client.stream.live("a", 4, "f4"), true);
  history.store("b", frames(7));
  transport.sent.length = 0;
  const second = await resume(client, first.more, options);
  assert.deepEqual(transport.sent, ["f4", "f5", "f6", "f7", "f1"], "b goes on at 4, c starts");
  assert.deepEqual(second, { done: { b: 7, c: 1 }, more: { c: 1 }, failed: [] });
  transport.sent.length = 0;
  const third = await resume(client, second.more, options);
  assert.deepEqual(transport.sent, ["f2"]);
  assert.deepEqual(third, { done: { c: 2 }, more: {}, failed: [] });
  assert.equal(client.stream.live("b", 8, "f8"), true, "b is live again");
  assert.deepEqual(transport.sent, ["f2", "f8"]);
});

Deno.test("`resume()` ending at the bound on a room's last stored frame finishes the room", async () => {
  const history = new FakeHistory();
  history.store("r", frames(1, 2, 3, 4));
  const { client, transport } = socket(["r"]);
  client.stream.hold("r", 0);
  const result = await resume(client, { r: 2 }, { history, recent: () => null, maxMessages: 2 });
  assert.deepEqual(result, { done: { r: 4 }, more: {}, failed: [] });
  assert.deepEqual(transport.sent, ["f3", "f4"]);
  assert.equal(client.stream.paused("r"), false);
});

Deno.test("`resume()` from the recent window also stops at the bound", async () => {
  const history = new FakeHistory();
  history.store("r", frames(1, 2, 3, 4, 5));
  const window = new RecentWindow(256);
  for (const f of frames(1, 2, 3, 4, 5)) window.push(f.seq, f.frame);
  const { client, transport } = socket(["r"]);
  const recent = (_: string, after: number) => window.after(after);
  const first = await resume(client, { r: 0 }, { history, recent, maxMessages: 3 });
  assert.deepEqual(first, { done: { r: 3 }, more: { r: 3 }, failed: [] });
  const second = await resume(client, first.more, { history, recent, maxMessages: 3 });
  assert.deepEqual(second, { done: { r: 5 }, more: {}, failed: [] });
  assert.deepEqual(transport.sent, ["f1", "f2", "f3", "f4", "f5"]);
  assert.deepEqual(history.only("after"), []);
});

Deno.test("`resume()` writes as the socket drains: a backlog over `drainBytes` waits, never a page at once", async () => {
  const history = new FakeHistory();
  const big = "x".repeat(2_000);
  history.store("r", Array.from({ length: 300 }, (_, i) => ({ seq: i + 1, frame: `${i + 1} ${big}` })));
  const transport = new FakeTransport();
  let overflowed = false;
  const client = new Client(
    "c1",
    { userId: "u", username: "u" },
    transport,
    () => overflowed = true,
    64 * 1024,
  );
  client.rooms.add("r");
  // The peer reads 16 KiB every millisecond: far faster than a page of 300 frames of 2 KB is written at once.
  let most = 0;
  transport.onSend = (data) => most = Math.max(most, transport.buffered += data.length);
  const reader = setInterval(() => transport.buffered = Math.max(0, transport.buffered - 16 * 1024), 1);
  try {
    const result = await resume(client, { r: 0 }, {
      history,
      recent: () => null,
      pageSize: 300,
      drainBytes: 16 * 1024,
    });
    assert.deepEqual(result.done, { r: 300 });
  } finally {
    clearInterval(reader);
  }
  assert.equal(transport.sent.length, 300);
  assert.equal(overflowed, false, "never over the slow-consumer cap");
  assert.ok(most <= 16 * 1024 + 2_010, `the backlog stayed near drainBytes (${most})`);
});

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
  assert.deepEqual(result, { done: { r: 5 }, failed: [] });
  assert.deepEqual(outcomes, ["store"]);
  assert.deepEqual(history.only("after"), ["after r 1", "after r 3", "after r 5"]);
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

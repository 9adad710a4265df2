import assert from "node:assert/strict";
import { SocketStream } from "./socket_stream.ts";

/** A stream whose sends are recorded. */
function stream(): { stream: SocketStream; sent: string[] } {
  const sent: string[] = [];
  return { stream: new SocketStream((frame) => sent.push(frame)), sent };
}

Deno.test("`SocketStream.release()` makes later copies of backfilled seqs repeats: each seq is sent once", () => {
  const { stream: s, sent } = stream();
  s.hold("r", 0);
  assert.equal(s.live("r", 4, "h4"), true); // arrives live while the backfill runs: held
  for (const seq of [1, 2, 3]) s.backfilled("r", seq, `b${seq}`); // the backfill read 1..3 from the store
  s.release("r");
  assert.equal(s.live("r", 3, "l3"), false); // the bus brings 3 late: a repeat
  s.live("r", 5, "l5");
  assert.equal(s.live("r", 5, "l5 again"), false);
  assert.deepEqual(sent, ["b1", "b2", "b3", "h4", "l5"]);
});

Deno.test("`SocketStream.backfilled()` skips exactly the seqs this socket was sent, not all below the highest", () => {
  const { stream: s, sent } = stream();
  for (const seq of [7, 8, 9]) s.live("r", seq, `l${seq}`);
  s.live("r", 20, "l20"); // a jump in the live stream
  s.hold("r", 5);
  for (let seq = 6; seq <= 21; seq++) s.backfilled("r", seq, `b${seq}`);
  s.release("r");
  assert.deepEqual(sent, [
    "l7",
    "l8",
    "l9",
    "l20",
    "b6",
    ...Array.from({ length: 10 }, (_, i) => `b${10 + i}`),
    "b21",
  ]);
  s.backfilled("other", 7, "other7");
  assert.equal(sent.at(-1), "other7", "rooms are separate");
});

Deno.test("`SocketStream.live()` drops frames at or below a resume's `last_seq`: the client has them", () => {
  const { stream: s, sent } = stream();
  s.hold("r", 10);
  s.live("r", 9, "h9"); // the bus of this instance lags the client's
  s.live("r", 11, "h11");
  s.release("r");
  s.live("r", 10, "l10");
  s.live("r", 12, "l12");
  assert.deepEqual(sent, ["h11", "l12"]);
});

Deno.test("`SocketStream` start hold: every room waits for the first frame; a resume's rooms wait for the resume", () => {
  const { stream: s, sent } = stream();
  s.startHold(60_000);
  s.live("a", 1, "a1");
  s.live("b", 1, "b1");
  s.live("b", 2, "b2");
  assert.deepEqual(sent, [], "held");
  s.hold("b", 1); // the first frame is a resume of b from 1
  s.endStartHold(); // a goes out now; b stays with its resume
  assert.deepEqual(sent, ["a1"]);
  s.backfilled("b", 2, "b2 backfilled");
  s.release("b");
  assert.deepEqual(sent, ["a1", "b2 backfilled"], "b1 the client had; b2 once");
  s.close();
});

Deno.test("`SocketStream.forget()` forgets what was sent in a room left", () => {
  const { stream: s, sent } = stream();
  s.live("r", 1, "l1");
  s.forget("r");
  s.backfilled("r", 1, "b1");
  assert.deepEqual(sent, ["l1", "b1"]);
});

Deno.test("`SocketStream.pause()` drops the held frames and the live ones until the room's next resume", () => {
  const { stream: s, sent } = stream();
  s.hold("r", 0);
  s.live("r", 3, "h3"); // held while the backfill runs
  s.backfilled("r", 1, "b1");
  s.pause("r"); // the resume stopped at its bound after 1
  assert.equal(s.paused("r"), true);
  assert.equal(s.live("r", 4, "l4"), false);
  s.startHold(60_000);
  s.live("r", 5, "l5"); // not held for the start either
  s.endStartHold();
  assert.deepEqual(sent, ["b1"]);
  s.hold("r", 1); // the next page
  assert.equal(s.paused("r"), false);
  s.live("r", 6, "h6");
  for (const seq of [2, 3, 4, 5]) s.backfilled("r", seq, `b${seq}`);
  s.release("r");
  assert.deepEqual(sent, ["b1", "b2", "b3", "b4", "b5", "h6"]);
  s.pause("r");
  s.forget("r");
  assert.equal(s.paused("r"), false, "a room left is forgotten, pause included");
  s.close();
});

Deno.test("`SocketStream` counts held frames as backlog: past `maxHeldBytes` the socket overflows", () => {
  const sent: string[] = [];
  let overflows = 0;
  const s = new SocketStream((frame) => sent.push(frame), { maxHeldBytes: 10, overflow: () => overflows++ });
  s.hold("a", 0);
  s.live("a", 1, "aaaa");
  s.live("a", 2, "aaaa");
  assert.equal(s.heldBytes, 8);
  s.release("a"); // sent: no longer held
  assert.equal(s.heldBytes, 0);
  s.hold("a", 2);
  s.hold("b", 0);
  s.live("a", 3, "aaaa");
  s.live("b", 1, "bbbb");
  s.pause("a"); // dropped: no longer held
  assert.equal(s.heldBytes, 4);
  assert.equal(overflows, 0);
  s.live("b", 2, "bbbb");
  s.live("b", 3, "bbbb"); // 12 bytes held in b: a client that does not read while its resume waits
  assert.equal(overflows, 1);
  s.forget("b");
  assert.equal(s.heldBytes, 0);
  assert.deepEqual(sent, ["aaaa", "aaaa"]);
});

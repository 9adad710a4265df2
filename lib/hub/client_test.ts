import assert from "node:assert/strict";
import { Client } from "./client.ts";
import { FakeTransport } from "./testing/fake_transport.ts";

function client(): { client: Client; transport: FakeTransport } {
  const transport = new FakeTransport();
  return {
    client: new Client("c1", { userId: "u", username: "u" }, transport, () => {}, 1 << 20),
    transport,
  };
}

Deno.test("`Client.release()` makes later copies of backfilled seqs repeats: each seq is sent once", () => {
  const { client: c, transport } = client();
  c.hold("r", 0);
  c.sendStored("r", 4, "h4"); // arrives live while the backfill runs: held
  for (const seq of [1, 2, 3]) c.sendBackfilled("r", seq, `b${seq}`); // the backfill read 1..3 from the store
  c.release("r");
  c.sendStored("r", 3, "l3"); // the bus brings 3 late: a repeat
  c.sendStored("r", 5, "l5");
  c.sendStored("r", 5, "l5 again");
  assert.deepEqual(transport.sent, ["b1", "b2", "b3", "h4", "l5"]);
});

Deno.test("`Client.sendBackfilled()` skips exactly the seqs this socket was sent, not all below the highest", () => {
  const { client: c, transport } = client();
  for (const seq of [7, 8, 9]) c.sendStored("r", seq, `l${seq}`);
  c.sendStored("r", 20, "l20"); // a jump in the live stream
  c.hold("r", 5);
  for (let seq = 6; seq <= 21; seq++) c.sendBackfilled("r", seq, `b${seq}`);
  c.release("r");
  assert.deepEqual(transport.sent, [
    "l7",
    "l8",
    "l9",
    "l20",
    "b6",
    ...Array.from({ length: 10 }, (_, i) => `b${10 + i}`),
    "b21",
  ]);
  c.sendBackfilled("other", 7, "other7");
  assert.equal(transport.sent.at(-1), "other7", "rooms are separate");
});

Deno.test("`Client.sendStored()` drops live frames at or below a resume's `last_seq`: the client has them", () => {
  const { client: c, transport } = client();
  c.hold("r", 10);
  c.sendStored("r", 9, "h9"); // the bus of this instance lags the client's
  c.sendStored("r", 11, "h11");
  c.release("r");
  c.sendStored("r", 10, "l10");
  c.sendStored("r", 12, "l12");
  assert.deepEqual(transport.sent, ["h11", "l12"]);
});

Deno.test("`Client.forgetRoom()` forgets what was sent in a room left", () => {
  const { client: c, transport } = client();
  c.sendStored("r", 1, "l1");
  c.forgetRoom("r");
  c.sendBackfilled("r", 1, "b1");
  assert.deepEqual(transport.sent, ["l1", "b1"]);
});

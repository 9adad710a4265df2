import assert from "node:assert/strict";
import { Client } from "./client.ts";
import { FakeTransport } from "./fake_transport.ts";

function client(): { client: Client; transport: FakeTransport } {
  const transport = new FakeTransport();
  return {
    client: new Client("c1", { userId: "u", username: "u" }, transport, () => {}, 1 << 20),
    transport,
  };
}

Deno.test("`Client.release()` makes later copies of backfilled seqs repeats: each seq is sent once", () => {
  const { client: c, transport } = client();
  c.hold("r");
  c.sendStored("r", 4, "h4"); // arrives live while the backfill runs: held
  for (const seq of [1, 2, 3]) c.send(`b${seq}`); // the backfill read 1..3 from the store
  c.release("r", 3);
  c.sendStored("r", 3, "l3"); // the bus brings 3 late: a repeat
  c.sendStored("r", 5, "l5");
  c.sendStored("r", 5, "l5 again");
  assert.deepEqual(transport.sent, ["b1", "b2", "b3", "h4", "l5"]);
});

Deno.test("`Client.sentLive()` tells which seqs a resume must not send again", () => {
  const { client: c } = client();
  for (const seq of [7, 8, 9]) c.sendStored("r", seq, `l${seq}`);
  assert.deepEqual([6, 7, 9, 10].map((seq) => c.sentLive("r", seq)), [false, true, true, false]);
  assert.equal(c.sentLive("other", 7), false);
});

/** The server on MongoDB (a real FerretDB process) while the database goes away and comes back. */
import assert from "node:assert/strict";
import { ChatClient } from "./helpers/chat_client.ts";
import { startFerretDb } from "./helpers/ferretdb.ts";
import { spawnServer } from "./helpers/process.ts";
import { api, newUser } from "./helpers/server.ts";
import { type Frame, TestSocket } from "./helpers/socket.ts";

Deno.test("MongoDB stopped for 10 s mid-traffic: no crash, quick retryable errors, no acked message lost, recovery", async () => {
  const ferret = await startFerretDb();
  const server = await spawnServer({ DATABASE_URL: `${ferret.url.replace(/\/$/, "")}/outage` });
  try {
    const user = await newUser(server.url, "steady");
    const room = await api(server.url, "POST", "/api/rooms", { token: user.token, body: { name: "outage" } });
    const client = new ChatClient({
      wsUrl: `ws://127.0.0.1:${server.port}/ws`,
      httpUrl: server.url,
      token: user.token,
      rooms: [room.body.id],
    });
    await client.connect();
    // A raw socket too, to see the error frames themselves.
    const raw = await TestSocket.open(`ws://127.0.0.1:${server.port}/ws?token=${user.token}`);
    await raw.sync();

    let stop = false;
    const traffic = (async () => {
      for (let n = 0; !stop; n++) {
        client.send(room.body.id, `steady ${n}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    await ferret.kill();

    // During the outage: a send gets a retryable error within 5 s, health says 503, the process stays up.
    const sentAt = Date.now();
    raw.send({ type: "message", room_id: room.body.id, content: "while down", client_id: "down-1" });
    const error = await raw.waitFor(
      (f: Frame) => f.type === "error" && f.client_id === "down-1",
      "error frame",
      {
        timeoutMs: 6_000,
      },
    );
    assert.ok(Date.now() - sentAt < 5_000, `error after ${Date.now() - sentAt} ms`);
    assert.deepEqual([error.code, error.retryable], ["store_unavailable", true]);
    assert.equal(raw.count((f: Frame) => f.type === "ack" && f.client_id === "down-1"), 0, "never an ack");
    const health = await api(server.url, "GET", "/api/health");
    assert.deepEqual([health.status, health.body.checks.store], [503, "error"]);
    await new Promise((r) => setTimeout(r, 10_000 - (Date.now() - sentAt)));

    await ferret.restart();
    // Recovery without a restart of the chat server: health is ok again by itself.
    for (let i = 0; (await api(server.url, "GET", "/api/health")).status !== 200; i++) {
      assert.ok(i < 100, "health did not recover within 10 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    stop = true;
    await traffic;
    await client.until(() => client.unacked === 0, "every send acked after recovery", 30_000);
    await client.catchUp();

    // Every acked message is stored exactly where its ack said; history is contiguous.
    const held = client.received.get(room.body.id)!;
    for (const ack of client.acked.values()) assert.equal(held.get(ack.seq)?.id, ack.id);
    const seqs = [...held.keys()].sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
    const contents = [...held.values()].map((m) => m.content);
    assert.equal(new Set(contents).size, contents.length, "no message stored twice");

    // The outage and the recovery were each logged once (by the same process: it was never restarted).
    const lost = server.logs.filter((l) => l.msg === "MongoDB unavailable").length;
    const back = server.logs.filter((l) => l.msg === "MongoDB available again").length;
    assert.deepEqual([lost, back], [1, 1]);
    client.close();
    await raw.close();
  } finally {
    await server.stop();
    await ferret.stop();
  }
});

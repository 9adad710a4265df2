/**
 * Scale-out against a real cluster: Redis, three instances sharing one SQLite file, nginx in front
 * (scripts/cluster_lib.ts, as `deno task cluster` runs it).
 */
import assert from "node:assert/strict";
import { type Cluster, startCluster } from "../scripts/cluster_lib.ts";
import { ChatClient } from "./helpers/chat_client.ts";
import { api, newUser, type TestUser } from "./helpers/server.ts";
import { type Frame, TestSocket } from "./helpers/socket.ts";

const FAST = { RATE_LIMIT_PER_SEC: "1000", RATE_LIMIT_BURST: "1000", AUTH_RATE_LIMIT_PER_MIN: "60000" };

async function withCluster(fn: (cluster: Cluster) => Promise<void>, instances = 3): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-cluster-" });
  const cluster = await startCluster({ dir, instances, env: { ...FAST, BCRYPT_COST: "4" } });
  try {
    await fn(cluster);
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** `users` spread over `rooms` (each user in one room, round-robin), all rooms created by the first user. */
async function population(cluster: Cluster, users: number, rooms: number) {
  const people: TestUser[] = [];
  for (let i = 0; i < users; i++) people.push(await newUser(cluster.url, "u"));
  const roomIds: string[] = [];
  for (let r = 0; r < rooms; r++) {
    const res = await api(cluster.url, "POST", "/api/rooms", {
      token: people[r].token,
      body: { name: `room ${r}` },
    });
    roomIds.push(res.body.id);
  }
  const roomOf = (i: number) => roomIds[i % rooms];
  for (let i = 0; i < users; i++) {
    if (i >= rooms) {
      await api(cluster.url, "POST", `/api/rooms/${roomOf(i)}/join`, { token: people[i].token });
    }
  }
  return { people, roomIds, roomOf };
}

/** Each client on the instance `i % 3` directly, so all three instances hold members of every room. */
function clientsOn(cluster: Cluster, people: TestUser[], roomOf: (i: number) => string, viaNginx = false) {
  return people.map((p, i) =>
    new ChatClient({
      wsUrl: viaNginx ? cluster.wsUrl : `ws://127.0.0.1:${cluster.instances[i % 3].port}/ws`,
      httpUrl: cluster.url,
      token: p.token,
      rooms: [roomOf(i)],
    })
  );
}

/** Every client holds seqs 1..last of its room, where `last` is the room's last seq in the store. */
async function assertComplete(cluster: Cluster, clients: ChatClient[], token: string, roomIds: string[]) {
  const lastSeq = new Map<string, number>();
  for (const room of roomIds) {
    const res = await api(cluster.url, "GET", `/api/rooms/${room}`, { token });
    lastSeq.set(room, res.body.last_seq);
  }
  for (const client of clients) {
    const room = client.options.rooms[0];
    const held = [...client.received.get(room)!.keys()].sort((a, b) => a - b);
    assert.deepEqual(held, Array.from({ length: lastSeq.get(room)! }, (_, i) => i + 1));
    assert.equal(client.duplicates, 0);
    assert.equal(client.outOfOrder, 0);
  }
}

Deno.test("30 clients on 3 instances in 5 rooms: 3,000 messages reach every member exactly once, in seq order", () =>
  withCluster(async (cluster) => {
    const { people, roomIds, roomOf } = await population(cluster, 30, 5);
    const clients = clientsOn(cluster, people, roomOf);
    await Promise.all(clients.map((c) => c.connect()));
    const before = new Map<string, number>();
    for (const c of clients) before.set(c.options.rooms[0], c.lastSeq(c.options.rooms[0]));

    // 100 messages from each client, 10 at a time per client.
    for (let round = 0; round < 10; round++) {
      clients.forEach((c, i) => {
        for (let k = 0; k < 10; k++) c.send(roomOf(i), `m ${i}.${round * 10 + k}`);
      });
      await Promise.all(clients.map((c) => c.until(() => c.unacked === 0, "acks")));
    }
    const acked = clients.reduce((n, c) => n + c.acked.size, 0);
    assert.equal(acked, 3_000);
    // Every member has every message of its room: each room got 600 text messages after `before`.
    for (const c of clients) {
      const room = c.options.rooms[0];
      await c.until(() => c.lastSeq(room) >= before.get(room)! + 600, "all messages of the room", 60_000);
    }
    // Live delivery alone was exact: no client ever saw a seq twice or out of order.
    for (const c of clients) {
      assert.equal(c.duplicates, 0);
      assert.equal(c.outOfOrder, 0);
      assert.equal(c.connects, 1, "no reconnect was needed");
    }
    await assertComplete(cluster, clients, people[0].token, roomIds);
    clients.forEach((c) => c.close());
  }));

Deno.test("presence crosses instances: online on A is seen on C; offline after the last socket anywhere", () =>
  withCluster(async (cluster) => {
    const [alice, carol] = [await newUser(cluster.url, "alice"), await newUser(cluster.url, "carol")];
    const room = await api(cluster.url, "POST", "/api/rooms", { token: alice.token, body: { name: "p" } });
    await api(cluster.url, "POST", `/api/rooms/${room.body.id}/join`, { token: carol.token });
    const [a, b, c] = cluster.instances.map((i) => `ws://127.0.0.1:${i.port}/ws`);
    const carolOnC = await TestSocket.open(`${c}?token=${carol.token}`);
    await carolOnC.sync();
    const aliceOnA = await TestSocket.open(`${a}?token=${alice.token}`);
    const online = (f: Frame) => f.type === "presence" && f.user_id === alice.id && f.status === "online";
    const offline = (f: Frame) => f.type === "presence" && f.user_id === alice.id && f.status === "offline";
    await carolOnC.waitFor(online, "alice online");
    const profile = await api(cluster.url, "GET", `/api/users/${alice.id}`, { token: carol.token });
    assert.equal(profile.body.online, true, "any instance answers online");

    const aliceOnB = await TestSocket.open(`${b}?token=${alice.token}`);
    await aliceOnB.sync();
    await aliceOnA.close();
    await aliceOnB.sync();
    await carolOnC.sync();
    assert.equal(carolOnC.count(offline), 0, "alice still has a socket on B");
    await aliceOnB.close();
    await carolOnC.waitFor(offline, "alice offline");
    await carolOnC.sync();
    assert.equal(carolOnC.count(online), 1);
    assert.equal(carolOnC.count(offline), 1);
    await carolOnC.close();
  }));

Deno.test("kill -9 of an instance mid-traffic: its clients reconnect through nginx and nothing acked is lost", () =>
  withCluster(async (cluster) => {
    const { people, roomIds, roomOf } = await population(cluster, 9, 3);
    const clients = clientsOn(cluster, people, roomOf, true);
    await Promise.all(clients.map((c) => c.connect()));
    let stop = false;
    const traffic = (async () => {
      for (let n = 0; !stop; n++) {
        clients.forEach((c, i) => c.send(roomOf(i), `t ${i}.${n}`));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const killed = await cluster.instances[1].stop("SIGKILL");
    assert.equal(killed.signal, "SIGKILL");
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await traffic;
    await Promise.all(clients.map((c) => c.until(() => c.unacked === 0, "every send acked", 30_000)));
    for (const c of clients) await c.catchUp();

    // Every acked message is in the store, once, where the ack said.
    const token = people[0].token;
    for (const room of roomIds) {
      const stored = new Map<number, { id: string }>();
      for (let after = 0;;) {
        const page = await api(
          cluster.url,
          "GET",
          `/api/rooms/${room}/messages?after_seq=${after}&limit=100`,
          {
            token,
          },
        );
        for (const m of page.body.messages) stored.set(m.seq, m);
        if (page.body.messages.length < 100) break;
        after = page.body.messages.at(-1).seq;
      }
      for (const c of clients) {
        for (const ack of c.acked.values()) {
          if (ack.room_id === room) assert.equal(stored.get(ack.seq)?.id, ack.id);
        }
      }
    }
    assert.ok(
      clients.some((c) => c.connects > 1),
      "some clients were on the killed instance and reconnected",
    );
    await assertComplete(cluster, clients, token, roomIds);
    clients.forEach((c) => c.close());
  }));

Deno.test("Redis stopped for 5 s mid-traffic: instances stay up, live delivery returns, nothing acked is lost", () =>
  withCluster(async (cluster) => {
    const { people, roomIds, roomOf } = await population(cluster, 9, 3);
    const clients = clientsOn(cluster, people, roomOf);
    await Promise.all(clients.map((c) => c.connect()));
    let stop = false;
    const traffic = (async () => {
      for (let n = 0; !stop; n++) {
        clients.forEach((c, i) => c.send(roomOf(i), `r ${i}.${n}`));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await cluster.redis.stop();
    const during = await api(cluster.url, "GET", "/api/health");
    assert.equal(during.status, 200, "still serving");
    await new Promise((r) => setTimeout(r, 5_000));
    const degraded = await Promise.all(cluster.instances.map(async (i) => {
      const res = await api(`http://127.0.0.1:${i.port}`, "GET", "/api/health");
      return res.body.status;
    }));
    assert.deepEqual(degraded, ["degraded", "degraded", "degraded"]);
    await cluster.redis.start();
    const restartedAt = Date.now();

    // Live cross-instance delivery returns: a message sent on instance 1 arrives live on instances 2 and 3.
    const probeRoom = roomOf(0);
    const watchers = clients.filter((_, i) => roomOf(i) === probeRoom && i % 3 !== 0);
    await Promise.all(cluster.instances.map((i) =>
      (async () => {
        for (;;) {
          const res = await api(`http://127.0.0.1:${i.port}`, "GET", "/api/health");
          if (res.body.status === "ok") return;
          await new Promise((r) => setTimeout(r, 100));
        }
      })()
    ));
    stop = true;
    await traffic;
    const marker = clients[0].send(probeRoom, "after the outage");
    await clients[0].until(() => clients[0].acked.has(marker), "marker acked", 10_000);
    const seq = clients[0].acked.get(marker)!.seq;
    await Promise.all(
      watchers.map((w) => w.until(() => w.received.get(probeRoom)!.has(seq), "live marker", 5_000)),
    );
    assert.ok(Date.now() - restartedAt < 5_000 + 5_000);

    await Promise.all(clients.map((c) => c.until(() => c.unacked === 0, "every send acked", 30_000)));
    for (const c of clients) await c.catchUp();
    await assertComplete(cluster, clients, people[0].token, roomIds);
    clients.forEach((c) => c.close());
  }));

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until every instance's health check says `ok` (Redis reached again and probed). */
async function allHealthy(cluster: Cluster): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const instance of cluster.instances) {
    for (;;) {
      const res = await api(`http://127.0.0.1:${instance.port}`, "GET", "/api/health");
      if (res.body.status === "ok") break;
      assert.ok(Date.now() < deadline, `${instance.name} healthy again`);
      await delay(100);
    }
  }
}

Deno.test(
  "Redis killed and restarted empty while members of rooms served only by A move to B: their resume on the " +
    "open socket after the jump fills the whole gap, within 2 s, with no repeat and no reconnect",
  () =>
    withCluster(async (cluster) => {
      // 10 rooms of 10 members; user i is in room i % 10 and users 0..9 send 10 messages/s each (100/s).
      const ROOMS = 10;
      const { people, roomIds, roomOf } = await population(cluster, 100, ROOMS);
      const [a, b] = cluster.instances.map((i) => `ws://127.0.0.1:${i.port}/ws`);
      // Rooms 0-4 have all their members on A; rooms 5-9 half on A, half on B.
      const onB = (i: number) => i % ROOMS >= 5 && Math.floor(i / ROOMS) % 2 === 1;
      // Five members of each of rooms 0-4 (never the sender) move to B during the outage: 25 clients.
      const moves = (i: number) => i % ROOMS < 5 && i >= ROOMS && Math.floor(i / ROOMS) <= 5;
      const clients = people.map((p, i) =>
        new ChatClient({
          wsUrl: onB(i) ? b : a,
          httpUrl: cluster.url,
          token: p.token,
          rooms: [roomOf(i)],
          catchUp: "resume",
          resumeOnGap: true,
        })
      );
      const movers = clients.filter((_, i) => moves(i));
      assert.equal(movers.length, 25);
      const senders = clients.slice(0, ROOMS);
      let stop = false;
      let traffic = Promise.resolve();
      try {
        await Promise.all(clients.map((c) => c.connect()));
        traffic = (async () => {
          for (let n = 0; !stop; n++) {
            senders.forEach((c, r) => {
              // The server closes a socket with 256 frames waiting: at most 100 unacked sends each.
              if (c.unacked < 100) c.send(roomIds[r], `m ${r}.${n}`);
            });
            await delay(100);
          }
        })();
        await delay(1_000);
        await cluster.redis.stop("SIGKILL");
        await delay(3_000);
        // The movers lose their socket and come back on B, which has never served rooms 0-4.
        for (const c of movers) {
          c.close();
          c.options.wsUrl = b;
        }
        await Promise.all(movers.map((c) => c.connect()));
        await delay(7_000);
        await cluster.redis.start(); // empty: it keeps nothing on disk
        await allHealthy(cluster);
        // B starts rooms 0-4 at the first message it sees now: every mover sees the jump and resumes.
        await Promise.all(
          movers.map((c) => c.until(() => c.openResumes.length > 0, "a resume on the open socket")),
        );
        await delay(2_000);
        stop = true;
        await traffic;
        await Promise.all(senders.map((c) => c.until(() => c.unacked === 0, "every send acked")));

        const last = new Map<string, number>();
        for (const room of roomIds) {
          const res = await api(cluster.url, "GET", `/api/rooms/${room}`, { token: people[0].token });
          last.set(room, res.body.last_seq);
        }
        await Promise.all(clients.map((c) => {
          const room = c.options.rooms[0];
          return c.until(() => c.lastSeq(room) >= last.get(room)!, "every stored message", 10_000);
        }));
        for (const [i, c] of clients.entries()) {
          const room = c.options.rooms[0];
          const held = [...c.received.get(room)!.keys()].sort((x, y) => x - y);
          assert.deepEqual(
            held,
            Array.from({ length: last.get(room)! }, (_, k) => k + 1),
            `client ${i} holds all`,
          );
          assert.equal(c.duplicates, 0, `client ${i}: repeats ${c.duplicateSeqs.join(", ")}`);
          assert.equal(c.gaps, 0, `client ${i}: holes left by a resume at connect`);
          assert.equal(c.connects, moves(i) ? 2 : 1, `client ${i} never reconnected on its own`);
        }
        for (const c of movers) {
          assert.ok(c.jumps > 0, "the mover saw the jump");
          for (const r of c.openResumes) {
            assert.ok(r.resumedAt !== undefined, "every open resume was answered");
            assert.equal(r.complete, true, `no hole left below the resumed seq ${r.to} (from ${r.from})`);
            assert.ok(
              r.resumedAt - r.sentAt <= 2_000,
              `resumed in ${(r.resumedAt - r.sentAt).toFixed(0)} ms`,
            );
          }
        }
      } finally {
        stop = true;
        await traffic;
        clients.forEach((c) => c.close());
      }
    }, 2),
);

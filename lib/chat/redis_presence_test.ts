import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { nullLogger } from "../log.ts";
import { startRedis } from "../../tests/helpers/redis.ts";
import { RedisPresence } from "./redis_presence.ts";

async function withRedis(fn: (url: string) => Promise<void>): Promise<void> {
  const server = await startRedis();
  try {
    await fn(server.url);
  } finally {
    await server.stop();
  }
}

function client(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 0 });
}

/** Two instances' presences on one Redis (started; stopped after `fn`). */
async function withTwoInstances(
  url: string,
  fn: (a: RedisPresence, b: RedisPresence) => Promise<void>,
): Promise<void> {
  const [ra, rb] = [client(url), client(url)];
  const a = new RedisPresence({ redis: ra, log: nullLogger, instanceId: "a", ttlMs: 60_000 });
  const b = new RedisPresence({ redis: rb, log: nullLogger, instanceId: "b", ttlMs: 60_000 });
  await a.start(() => {});
  await b.start(() => {});
  try {
    await fn(a, b);
  } finally {
    a.stop();
    b.stop();
    ra.disconnect();
    rb.disconnect();
  }
}

Deno.test("`RedisPresence` counts a user's sockets across instances; one transition each way", () =>
  withRedis((url) =>
    withTwoInstances(url, async (a, b) => {
      assert.equal(await a.connected("u1"), true, "first socket anywhere: online");
      assert.equal(await b.connected("u1"), false, "second socket on another instance");
      assert.equal(await a.connected("u1"), false);
      assert.deepEqual(await b.online(["u1", "u2"]), new Set(["u1"]));
      assert.equal(await a.disconnected("u1"), false);
      assert.equal(await a.disconnected("u1"), false, "still on instance b");
      assert.equal(await b.disconnected("u1"), true, "last socket anywhere: offline");
      assert.deepEqual(await a.online(["u1"]), new Set());

      // Concurrent first sockets on both instances: exactly one sees the user come online.
      const results = await Promise.all([a.connected("u2"), b.connected("u2"), a.connected("u2")]);
      assert.equal(results.filter(Boolean).length, 1);
    })
  ));

Deno.test("`RedisPresence.online()` answers for a whole big room at once, across instances", () =>
  withRedis((url) =>
    withTwoInstances(url, async (a, b) => {
      // 2,600 members: every second on a (a big hash, asked 500 at a time), every fifth on b (a small hash,
      // read whole), the rest offline.
      const ids = Array.from({ length: 2_600 }, (_, i) => `u${i}`);
      const onA = ids.filter((_, i) => i % 2 === 0);
      const onB = ids.filter((_, i) => i % 5 === 0);
      await Promise.all([...onA.map((id) => a.connected(id)), ...onB.map((id) => b.connected(id))]);
      const expected = new Set([...onA, ...onB]);
      assert.deepEqual(await a.online(ids), expected);
      assert.deepEqual(await b.online([...ids].reverse()), expected);
      await Promise.all(onB.map((id) => b.disconnected(id)));
      assert.deepEqual(await a.online(ids), new Set(onA));
    })
  ));

Deno.test("`RedisPresence` reaps a dead instance and reports its users who are offline everywhere", () =>
  withRedis(async (url) => {
    const [rd, rl] = [client(url), client(url)];
    const dead = new RedisPresence({ redis: rd, log: nullLogger, instanceId: "dead", ttlMs: 300 });
    const live = new RedisPresence({ redis: rl, log: nullLogger, instanceId: "live", ttlMs: 300 });
    const { promise: lost, resolve } = Promise.withResolvers<string[]>();
    await dead.start(() => {});
    await live.start(resolve);
    try {
      await dead.connected("gone");
      await dead.connected("both");
      await live.connected("both");
      dead.stop(); // Its heartbeat stops, as with kill -9.
      assert.deepEqual(await lost, ["gone"], "a user still connected elsewhere is not lost");
      assert.deepEqual(await live.online(["gone", "both"]), new Set(["both"]));
    } finally {
      live.stop();
      rd.disconnect();
      rl.disconnect();
    }
  }));

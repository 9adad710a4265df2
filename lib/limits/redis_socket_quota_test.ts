import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Logger } from "../log.ts";
import { startRedis } from "../../tests/helpers/redis.ts";
import { RedisSocketQuota } from "./redis_socket_quota.ts";
import { MemorySocketQuota } from "./socket_quota.ts";

const connect = (url: string) => {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 50,
  });
  redis.on("error", () => {});
  return redis;
};
const ready = (redis: Redis) =>
  redis.status === "ready" ? Promise.resolve() : new Promise<void>((ok) => redis.once("ready", () => ok()));

Deno.test("`MemorySocketQuota` holds at most `max` per user; a release gives one place back, once", async () => {
  const quota = new MemorySocketQuota(2);
  const [a, b] = [await quota.acquire("u"), await quota.acquire("u")];
  assert.ok(a !== null && b !== null);
  assert.equal(await quota.acquire("u"), null);
  assert.notEqual(await quota.acquire("v"), null, "users are independent");
  a();
  a();
  assert.equal(quota.count("u"), 1, "a second release changes nothing");
  assert.notEqual(await quota.acquire("u"), null);
  assert.equal(await quota.acquire("u"), null);
});

Deno.test("`RedisSocketQuota` shares the cap between instances, atomically, and survives Redis and instance deaths", async () => {
  const server = await startRedis();
  const lines: string[][] = [[], [], []];
  const clients = [connect(server.url), connect(server.url), connect(server.url)];
  const make = (i: number) =>
    new RedisSocketQuota({
      redis: clients[i],
      log: new Logger("info", (level, msg) => lines[i].push(`${level} ${msg}`)),
      instanceId: `i${i}`,
      max: 3,
      ttlMs: 1_500,
      prefix: "t:",
    });
  const [one, two] = [make(0), make(1)];
  try {
    await Promise.all(clients.map(ready));
    await one.start();
    await two.start();

    // Ten concurrent reservations of one user on two instances: exactly three places.
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).acquire("u")));
    const held = burst.filter((r) => r !== null);
    assert.equal(held.length, 3);
    assert.equal(one.localCount("u") + two.localCount("u"), 3);
    assert.notEqual(await one.acquire("other"), null, "users are independent");

    // A release on either instance frees a place for the other.
    held[0]!();
    held[0]!();
    await waitFor(async () => (await two.acquire("u")) !== null, "the released place");
    assert.equal(await one.acquire("u"), null);

    // An instance that dies (no release, no heartbeat) stops counting once its heartbeat is stale.
    const third = make(2);
    await third.start();
    for (const release of burst) release?.();
    for (let i = 0; i < 3; i++) assert.notEqual(await third.acquire("w"), null);
    third.stop(); // killed: its three places stay in Redis until its heartbeat is stale
    assert.equal(await one.acquire("w"), null, "the third instance's places still count");
    await waitFor(async () => (await one.acquire("w")) !== null, "the dead instance's places to lapse");

    // Redis away: the cap holds per instance (three here), and the outage is logged once.
    await server.kill();
    const local = await Promise.all([1, 2, 3, 4].map(() => two.acquire("x")));
    assert.deepEqual(local.map((r) => r !== null), [true, true, true, false]);
    assert.equal(lines[1].filter((l) => l.startsWith("warn")).length, 1, "logged once");

    // Back: the first heartbeat writes the local counts again, so the other instance sees them.
    await server.restart();
    await Promise.all(clients.slice(0, 2).map(ready));
    await waitFor(async () => (await one.acquire("x")) === null, "instance two's three places in Redis");
    await waitFor(() => Promise.resolve(lines[1].includes("info Shared socket counts restored")), "the log");
  } finally {
    one.stop();
    two.stop();
    for (const client of clients) client.disconnect();
    await server.stop();
  }
});

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

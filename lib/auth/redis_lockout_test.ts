import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { startRedis } from "../../tests/helpers/redis.ts";
import { Logger, nullLogger } from "../log.ts";
import { lockoutPolicy } from "./lockout.ts";
import { RedisLockout } from "./redis_lockout.ts";
import { lockoutContract } from "./testing/lockout_contract.ts";

/** Short enough for real time, with locks long enough to be checked halfway through at a clear margin. */
const POLICY = lockoutPolicy({
  windowMs: 2_000,
  baseLockMs: 400,
  maxLockMs: 1_200,
  pendingMs: 600,
  reportMs: 60_000,
});

/** A client that fails at once while the server is down, as the server's clients are set up for lockout. */
function connect(url: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => 50,
  });
  redis.on("error", () => {});
  return redis;
}

function ready(...clients: Redis[]): Promise<unknown> {
  return Promise.all(
    clients.map((r) => r.status === "ready" ? null : new Promise((ok) => r.once("ready", ok))),
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

lockoutContract("RedisLockout", async () => {
  const server = await startRedis();
  const redis = connect(server.url);
  await ready(redis);
  return {
    lockout: new RedisLockout({ redis, log: nullLogger, prefix: "test:lockout:", policy: POLICY }),
    policy: POLICY,
    now: Date.now,
    pass: sleep,
    slackMs: 150,
    async close() {
      redis.disconnect();
      await server.stop();
    },
  };
});

Deno.test("`RedisLockout` counts failures on every instance against one budget, in prefixed expiring keys", async () => {
  const server = await startRedis();
  const [r1, r2] = [connect(server.url), connect(server.url)];
  try {
    await ready(r1, r2);
    const make = (redis: Redis) =>
      new RedisLockout({ redis, log: nullLogger, prefix: "chat:lo:", policy: POLICY });
    const [one, two] = [make(r1), make(r2)];

    // 3 × 5 attempts at once, spread over both instances: only 5 reach the password check.
    const checks = await Promise.all(Array.from({ length: 15 }, (_, i) => (i % 2 ? one : two).check("u")));
    assert.equal(checks.filter((d) => d.ok).length, 5);
    const fails = [await one.fail("u"), await two.fail("u"), await one.fail("u"), await two.fail("u")];
    assert.deepEqual(fails.map((d) => d.ok), [true, true, true, true]);
    assert.deepEqual(await one.fail("u"), { ok: false, retryAfterMs: 400, lockedNow: true });
    assert.equal((await two.check("u")).ok, false, "locked on the other instance too");

    assert.deepEqual(await r1.keys("*"), ["chat:lo:u"]);
    const ttl = await r1.pttl("chat:lo:u");
    assert.ok(ttl > 50_000 && ttl <= 60_000, `the key lives as long as the report (${ttl} ms)`);
    await one.check("v");
    const pendingTtl = await r1.pttl("chat:lo:v");
    assert.ok(pendingTtl > 0 && pendingTtl <= 600, `a slot alone lives pendingMs (${pendingTtl} ms)`);
    await one.release("v");
    assert.equal(await r1.exists("chat:lo:v"), 0, "an account with nothing to remember has no key");

    const report = await two.succeed("u");
    assert.deepEqual([report.failures, report.locks], [5, 1]);
    assert.equal(await r1.exists("chat:lo:u"), 0);
  } finally {
    r1.disconnect();
    r2.disconnect();
    await server.stop();
  }
});

Deno.test("`RedisLockout` falls back to a per-instance lockout while Redis is down, and says so once", async () => {
  const server = await startRedis();
  const lines: string[] = [];
  const log = new Logger("info", (level, msg) => lines.push(`${level} ${msg}`));
  const redis = connect(server.url);
  try {
    await ready(redis);
    const lockout = new RedisLockout({ redis, log, prefix: "test:lockout:", policy: POLICY });
    await server.kill();
    for (let i = 0; i < 4; i++) {
      assert.deepEqual(await lockout.fail("local"), { ok: true, retryAfterMs: 0, lockedNow: false });
    }
    assert.deepEqual(await lockout.fail("local"), { ok: false, retryAfterMs: 400, lockedNow: true });
    assert.equal((await lockout.check("local")).ok, false, "the fallback's lock holds");
    await lockout.clear("local");
    assert.deepEqual(
      await lockout.check("local"),
      { ok: true, retryAfterMs: 0 },
      "clear() reaches the fallback",
    );
    for (let i = 0; i < 4; i++) await lockout.fail("x");
    assert.deepEqual(lines, ["warn Redis unavailable: account lockout holds per instance until it is back"]);

    await server.restart();
    await ready(redis);
    const back = await lockout.fail("x");
    assert.deepEqual(
      back,
      { ok: true, retryAfterMs: 0, lockedNow: false },
      "Redis again: its first failure of x",
    );
    assert.deepEqual(lines.slice(1), ["info Shared account lockout restored"]);
  } finally {
    redis.disconnect();
    await server.stop();
  }
});

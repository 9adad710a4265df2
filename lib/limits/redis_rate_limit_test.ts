import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Logger } from "../log.ts";
import { startRedis } from "../../tests/helpers/redis.ts";
import { TokenBucketLimiter } from "./token_bucket.ts";
import { RedisRateLimiter } from "./redis_rate_limit.ts";

Deno.test("`RedisRateLimiter` shares one bucket between instances and falls back when Redis is gone", async () => {
  const server = await startRedis();
  const lines: string[] = [];
  const log = new Logger("info", (level, msg) => lines.push(`${level} ${msg}`));
  const [r1, r2] = [0, 1].map(() =>
    new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 50 })
  );
  r1.on("error", () => {});
  r2.on("error", () => {});
  const make = (redis: Redis) =>
    new RedisRateLimiter({
      redis,
      log,
      prefix: "test:rl:",
      ratePerSec: 0.01,
      burst: 3,
      fallback: new TokenBucketLimiter({ ratePerSec: 0.01, burst: 2 }),
    });
  const [one, two] = [make(r1), make(r2)];
  try {
    await Promise.all(
      [r1, r2].map((r) => r.status === "ready" ? null : new Promise((ok) => r.once("ready", ok))),
    );
    const decisions = [await one.take("u"), await two.take("u"), await one.take("u"), await two.take("u")];
    assert.deepEqual(decisions.slice(0, 3), [{ ok: true }, { ok: true }, { ok: true }]);
    assert.equal(decisions[3].ok, false, "the fourth take on either instance exceeds the shared burst of 3");
    assert.ok(!decisions[3].ok && decisions[3].retryAfterMs > 90_000 && decisions[3].retryAfterMs <= 100_000);
    assert.deepEqual(await one.take("other"), { ok: true }, "keys are independent");

    await server.kill();
    const fallback = [await one.take("v"), await one.take("v"), await one.take("v")];
    assert.deepEqual(
      fallback.map((d) => d.ok),
      [true, true, false],
      "the per-instance bucket (burst 2) applies",
    );
    await one.take("v");
    assert.deepEqual(lines.filter((l) => l.startsWith("warn")).length, 1, "the outage is logged once");
  } finally {
    r1.disconnect();
    r2.disconnect();
    await server.stop();
  }
});

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  freePort,
  type MuteProxy,
  type RedisServer,
  startMuteProxy,
  startRedis,
} from "../../tests/helpers/redis.ts";
import { type LogFields, Logger, type LogLevel, nullLogger } from "../log.ts";
import { busContract } from "./testing/bus_contract.ts";
import { busProbeIntervalMs, PROBE_TIMEOUT_MS, RedisBus } from "./redis.ts";

busContract("RedisBus", async () => {
  const redis = await startRedis();
  const a = new RedisBus({ url: redis.url, log: nullLogger, name: "a" });
  const b = new RedisBus({ url: redis.url, log: nullLogger, name: "b" });
  const close = async () => {
    await a.close();
    await b.close();
    await redis.stop();
  };
  return { a, b, close };
});

/** How long a case waits for a recovery or a delivery before failing. */
const WAIT_MS = 10_000;

/** Resolves once `done()` holds, checking every 10 ms; fails after `ms`. */
async function waitUntil(done: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Records what a bus delivers. */
class Inbox {
  readonly received: { channel: string; payload: string }[] = [];
  readonly handler = (channel: string, payload: string): void => {
    this.received.push({ channel, payload });
  };

  payloads(channel: string): string[] {
    return this.received.filter((d) => d.channel === channel).map((d) => d.payload);
  }

  waitFor(channel: string, payload: string): Promise<void> {
    return waitUntil(() => this.payloads(channel).includes(payload), `${payload} on ${channel}`);
  }
}

interface LogEntry {
  level: LogLevel;
  message: string;
  fields: LogFields;
}

interface Fixture {
  redis: RedisServer;
  /** Between the buses and Redis when asked for. */
  proxy: MuteProxy | undefined;
  a: RedisBus;
  b: RedisBus;
  inA: Inbox;
  inB: Inbox;
  logs: LogEntry[];
  /** A channel name unique to this case. */
  channel(name: string): string;
  /** Waits until both buses report `health` (after a kill or restart). */
  both(health: "ok" | "degraded"): Promise<void>;
}

/**
 * Two started buses (named "a" and "b") on a fresh redis-server, optionally through a `MuteProxy`, with a
 * recording logger; all closed afterwards.
 */
async function withBuses(
  fn: (f: Fixture) => Promise<void>,
  options: { proxy?: boolean } = {},
): Promise<void> {
  const redis = await startRedis();
  const proxy = options.proxy ? startMuteProxy(redis.port) : undefined;
  const url = proxy?.url ?? redis.url;
  const logs: LogEntry[] = [];
  const log = new Logger("debug", (level, message, fields) => logs.push({ level, message, fields }));
  const a = new RedisBus({ url, log, name: "a" });
  const b = new RedisBus({ url, log, name: "b" });
  try {
    const inA = new Inbox();
    const inB = new Inbox();
    await a.start(inA.handler);
    await b.start(inB.handler);
    const prefix = `redis-test:${crypto.randomUUID()}:`;
    await fn({
      redis,
      proxy,
      a,
      b,
      inA,
      inB,
      logs,
      channel: (name) => prefix + name,
      both: (health) =>
        waitUntil(() => a.health() === health && b.health() === health, `both buses ${health}`),
    });
  } finally {
    await a.close();
    await b.close();
    await proxy?.close();
    await redis.stop();
  }
}

/** A plain ioredis client for poking at the server behind the buses' backs. */
async function withAdmin(url: string, fn: (admin: Redis) => Promise<void>): Promise<void> {
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await admin.connect();
  try {
    await fn(admin);
  } finally {
    await admin.quit();
  }
}

function messages(logs: LogEntry[], bus: string, message: string): LogEntry[] {
  return logs.filter((entry) => entry.fields.bus === bus && entry.message === message);
}

Deno.test("`RedisBus` resubscribes after Redis restarts, channels wanted before and during the outage", async () => {
  await withBuses(async ({ redis, a, b, inB, channel, both }) => {
    const before = channel("before");
    const during = channel("during");
    await b.subscribe(before);
    await a.publish(before, "1");
    await inB.waitFor(before, "1");

    await redis.kill();
    await both("degraded");
    await b.subscribe(during); // Recorded; resolves although Redis is down.
    await redis.restart();
    await both("ok");

    await a.publish(before, "2");
    await a.publish(during, "3");
    await inB.waitFor(before, "2");
    await inB.waitFor(during, "3");
    assert.deepEqual(inB.payloads(before), ["1", "2"]);
    assert.deepEqual(inB.payloads(during), ["3"]);
  });
});

Deno.test("`RedisBus.publish()` rejects within 1 s with a wrapped error while Redis is down", async () => {
  await withBuses(async ({ redis, a, channel }) => {
    const ch = channel("down");
    await redis.kill();
    await waitUntil(() => a.health() === "degraded", "bus a degraded");
    const started = performance.now();
    await assert.rejects(a.publish(ch, "lost"), (error: Error) => {
      assert.equal(error.message, `Cannot publish to "${ch}"`);
      assert.ok(error.cause instanceof Error, "the driver's error is the cause");
      return true;
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1_000, `rejected after ${Math.round(elapsed)} ms`);
  });
});

Deno.test("`RedisBus` repairs subscriptions dropped by `CLIENT KILL TYPE pubsub`", async () => {
  await withBuses(async ({ redis, a, b, inA, inB, logs, channel }) => {
    const ch = channel("killed");
    await a.subscribe(ch);
    await b.subscribe(ch);
    await withAdmin(redis.url, async (admin) => {
      const killed = await admin.client("KILL", "TYPE", "pubsub");
      assert.equal(killed, 2, "one subscriber connection per bus");
    });
    await waitUntil(
      () => ["a", "b"].every((bus) => messages(logs, bus, "Redis connection restored").length === 1),
      "both buses restored",
    );
    assert.equal(a.health(), "ok");
    assert.equal(b.health(), "ok");
    await a.publish(ch, "after kill");
    await inA.waitFor(ch, "after kill");
    await inB.waitFor(ch, "after kill");
  });
});

Deno.test("`RedisBus` reconnects a subscriber that silently stops receiving, found by its probe", async () => {
  await withBuses(async ({ proxy, a, b, inB, logs, channel }) => {
    const ch = channel("muted");
    await b.subscribe(ch);
    // The connection stays open and Redis still counts the subscription; only the replies are lost.
    assert.equal(proxy!.mute("b:sub"), 1);
    await waitUntil(() => b.health() === "degraded", "the probe to notice (within 5 s + 2 s)");
    assert.equal(a.health(), "ok");
    await waitUntil(() => b.health() === "ok", "bus b to reconnect its subscriber");

    await a.publish(ch, "after reconnect");
    await inB.waitFor(ch, "after reconnect");
    const lost = messages(logs, "b", "Redis connection lost");
    assert.equal(lost.length, 1);
    assert.equal(lost[0].fields.reason, "subscriber not receiving");
    assert.equal(messages(logs, "b", "Redis connection restored").length, 1);
    assert.deepEqual(messages(logs, "a", "Redis connection lost"), []);
  }, { proxy: true });
});

Deno.test("`RedisBus.unsubscribe()` during an outage is honoured after Redis restarts", async () => {
  await withBuses(async ({ redis, a, b, inB, channel, both }) => {
    const gone = channel("gone");
    const kept = channel("kept");
    await b.subscribe(gone);
    await b.subscribe(kept);

    await redis.kill();
    await both("degraded");
    await b.unsubscribe(gone);
    await redis.restart();
    await both("ok");

    await withAdmin(redis.url, async (admin) => {
      assert.deepEqual(await admin.pubsub("NUMSUB", gone, kept), [gone, 0, kept, 1]);
    });
    // One publisher connection, one subscriber connection: Redis keeps the order across channels.
    await a.publish(gone, "unsubscribed");
    await a.publish(kept, "sentinel");
    await inB.waitFor(kept, "sentinel");
    assert.deepEqual(inB.payloads(gone), []);
  });
});

Deno.test("`RedisBus` logs an outage once and the recovery once", async () => {
  await withBuses(async ({ redis, a, b, logs, channel, both }) => {
    const ch = channel("logged");
    await redis.kill();
    await both("degraded");
    // Commands and reconnect attempts during the outage must not log: let ioredis retry a few times.
    const down = Date.now();
    while (Date.now() - down < 700) {
      await assert.rejects(a.publish(ch, "lost"));
      await b.subscribe(ch);
      await b.unsubscribe(ch);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await redis.restart();
    await both("ok");

    for (const bus of ["a", "b"]) {
      const lost = messages(logs, bus, "Redis connection lost");
      const restored = messages(logs, bus, "Redis connection restored");
      assert.equal(lost.length, 1, `bus ${bus} logs the loss once`);
      assert.equal(lost[0].level, "warn");
      assert.equal(restored.length, 1, `bus ${bus} logs the recovery once`);
      assert.equal(restored[0].level, "info");
    }
    assert.deepEqual(logs.filter((entry) => entry.level !== "info" && entry.level !== "warn"), []);
  });
});

Deno.test("`new RedisBus()` validates the URL", async (t) => {
  const rejected = [
    { url: "http://127.0.0.1:6379", message: /expected redis:\/\/ or rediss:\/\/, got http:\/\// },
    { url: "127.0.0.1:6379", message: /expected redis:\/\/host:port/ },
    { url: "localhost", message: /expected redis:\/\/host:port/ },
    { url: "", message: /expected redis:\/\/host:port/ },
    { url: "redis://", message: /no host/ },
    { url: "https://user:s3cret@example.com", message: /got https:\/\/$/ },
  ];
  for (const { url, message } of rejected) {
    await t.step(`rejects ${JSON.stringify(url)}`, () => {
      assert.throws(() => new RedisBus({ url, log: nullLogger }), (error: Error) => {
        assert.match(error.message, message);
        assert.ok(!error.message.includes("s3cret"), "never shows the password");
        return true;
      });
    });
  }
  for (const url of ["redis://127.0.0.1:6379", "rediss://:s3cret@redis.example.com:6380/2"]) {
    await t.step(`accepts ${JSON.stringify(url)}`, async () => {
      const bus = new RedisBus({ url, log: nullLogger });
      assert.equal(bus.health(), "degraded", "not started yet");
      await bus.close();
    });
  }
});

Deno.test("`RedisBus.start()` rejects with a wrapped error when nothing listens, without the password", async () => {
  const port = freePort();
  const bus = new RedisBus({ url: `redis://:s3cret@127.0.0.1:${port}/0`, log: nullLogger });
  const started = performance.now();
  await assert.rejects(bus.start(() => {}), (error: Error) => {
    assert.equal(error.message, `Cannot connect to Redis at redis://127.0.0.1:${port}/0`);
    assert.ok(error.cause instanceof Error, "the driver's error is the cause");
    assert.ok(!JSON.stringify(error, Object.getOwnPropertyNames(error)).includes("s3cret"));
    assert.ok(!String(error.cause.message).includes("s3cret"));
    return true;
  });
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 7_000, `rejected after ${Math.round(elapsed)} ms`);
  assert.equal(bus.health(), "degraded");
  await bus.close();
  await bus.close();
  await assert.rejects(bus.publish("room:1", "x"), { message: "The bus is closed" });
});

Deno.test("`RedisBus.close()` is idempotent and quick while Redis is down", async () => {
  await withBuses(async ({ redis, a, both }) => {
    await redis.kill();
    await both("degraded");
    const started = performance.now();
    await Promise.all([a.close(), a.close()]);
    await a.close();
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 500, `closed after ${Math.round(elapsed)} ms`);
    assert.equal(a.health(), "degraded");
    await assert.rejects(a.subscribe("room:1"), { message: "The bus is closed" });
  });
});

Deno.test("busProbeIntervalMs() leaves room for the probe's timeout, the hub's catch-up and a margin", () => {
  assert.equal(busProbeIntervalMs(10), 3_000);
  assert.equal(busProbeIntervalMs(6), 1_000);
  assert.equal(busProbeIntervalMs(3_600), 5_000, "never less often than the default");
  for (const bound of [8, 9, 10, 11, 12]) {
    assert.ok(busProbeIntervalMs(bound) + PROBE_TIMEOUT_MS + 5_000 <= bound * 1_000, `${bound} s`);
  }
});

/**
 * The benchmark harness (bench/) at a tiny size: each workload against our server and a peer, asserting what
 * the harness counts (connections opened, every delivery arrived, no gap, no repeat) so that a broken
 * generator or peer fails here rather than in a benchmark run. Nothing is timed.
 */
import assert from "node:assert/strict";
import { bigRoom, idleCapacity, reconnectStorm, rooms } from "../bench/lib/scenarios.ts";
import { deploy, startRedis, type Target, TARGETS } from "../bench/lib/targets.ts";

async function withTarget(
  target: Target,
  fn: (d: Awaited<ReturnType<typeof deploy>>) => Promise<void>,
  options: { instances?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-test-" });
  const redis = (options.instances ?? 1) > 1 ? await startRedis() : undefined;
  try {
    const d = await deploy(target, { dir, instances: options.instances, redisUrl: redis?.url });
    try {
      await fn(d);
    } finally {
      await d.stop();
    }
  } finally {
    await redis?.proc.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

const plan = {};

for (const key of ["ours", "socketio", "ws", "deno", "bun"] as const) {
  Deno.test(`bench harness against ${TARGETS[key].name}: idle sockets, rooms of 10, a big room`, () =>
    withTarget(TARGETS[key], async (d) => {
      const idle = await idleCapacity(d, plan, 60, 0.2);
      assert.equal(idle.opened, 60);
      assert.deepEqual(idle.refused, {});

      const [result] = await rooms(d, plan, 40, [200], 1);
      // 20 messages into rooms of 10: 200 deliveries, each once, in order per sender.
      assert.equal(result.sent, 20);
      assert.equal(result.expected, 200);
      assert.equal(result.received, 200);
      assert.equal(result.gaps, 0);
      assert.equal(result.dups, 0);
      assert.equal(result.closes, 0);

      const big = await bigRoom(d, plan, 30, 3);
      assert.equal(big.opened, 30);
      assert.equal(big.messages, 3);
      assert.equal(big.complete, 3, "every message reached all 30 members");
      assert.equal(big.dups, 0);
    }));
}

Deno.test("bench harness: ours across two instances and Redis delivers every message once", () =>
  withTarget(TARGETS.ours, async (d) => {
    const [result] = await rooms(d, plan, 40, [200], 1);
    assert.equal(result.received, result.expected);
    assert.equal(result.expected, 200);
    assert.equal(result.gaps + result.dups, 0);
  }, { instances: 2 }));

Deno.test("bench harness: a reconnect storm against ours resumes every socket with no gap or repeat", () =>
  withTarget(TARGETS.ours, async (d) => {
    const storm = await reconnectStorm(d, plan, 40, 200, 300);
    assert.equal(storm.conns, 40);
    assert.ok(storm.received > 0);
    assert.equal(storm.gaps, 0);
    assert.equal(storm.dups, 0);
    assert.equal(storm.closes, 0);
  }));

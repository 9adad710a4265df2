import assert from "node:assert/strict";
import type { RateDecision } from "./rate_limit.ts";
import { TokenBucketLimiter, type TokenBucketOptions } from "./token_bucket.ts";

/** A limiter on a clock the test moves by hand. */
function limiter(options: Omit<TokenBucketOptions, "now">, start = 1_000_000) {
  const clock = { t: start };
  return { clock, limiter: new TokenBucketLimiter({ ...options, now: () => clock.t }) };
}

const OK: RateDecision = { ok: true };
const refused = (retryAfterMs: number): RateDecision => ({ ok: false, retryAfterMs });

Deno.test("TokenBucketLimiter allows a burst, then refuses with the exact retryAfterMs", () => {
  const { clock, limiter: l } = limiter({ ratePerSec: 10, burst: 3 });
  assert.deepEqual([l.takeSync("u"), l.takeSync("u"), l.takeSync("u")], [OK, OK, OK]);
  assert.deepEqual(l.takeSync("u"), refused(100));
  assert.deepEqual(l.takeSync("u"), refused(100)); // a refusal costs nothing

  clock.t += 40;
  assert.deepEqual(l.takeSync("u"), refused(60));
  clock.t += 59;
  assert.deepEqual(l.takeSync("u"), refused(1));
  clock.t += 1;
  assert.deepEqual(l.takeSync("u"), OK);
  assert.deepEqual(l.takeSync("u"), refused(100));
});

Deno.test("TokenBucketLimiter.take() resolves to the same decisions as takeSync()", async () => {
  const { limiter: l } = limiter({ ratePerSec: 2, burst: 1 });
  assert.deepEqual(await l.take("u"), OK);
  assert.deepEqual(await l.take("u"), refused(500));
});

Deno.test("TokenBucketLimiter refills over time, never above the burst", () => {
  const { clock, limiter: l } = limiter({ ratePerSec: 10, burst: 3 });
  for (let i = 0; i < 3; i++) assert.deepEqual(l.takeSync("u"), OK);
  clock.t += 60_000; // long idle: back to 3, not 600
  assert.deepEqual([l.takeSync("u"), l.takeSync("u"), l.takeSync("u")], [OK, OK, OK]);
  assert.deepEqual(l.takeSync("u"), refused(100));

  clock.t += 250; // 2.5 tokens
  assert.deepEqual([l.takeSync("u"), l.takeSync("u")], [OK, OK]);
  assert.deepEqual(l.takeSync("u"), refused(50));
});

Deno.test("TokenBucketLimiter handles fractional rates", async (t) => {
  await t.step("0.5 per second: one event every 2 s", () => {
    const { clock, limiter: l } = limiter({ ratePerSec: 0.5, burst: 1 });
    assert.deepEqual(l.takeSync("u"), OK);
    assert.deepEqual(l.takeSync("u"), refused(2000));
    clock.t += 1500;
    assert.deepEqual(l.takeSync("u"), refused(500));
    clock.t += 500;
    assert.deepEqual(l.takeSync("u"), OK);
  });

  await t.step("20 per minute (auth limit): one event every 3 s", () => {
    const { clock, limiter: l } = limiter({ ratePerSec: 20 / 60, burst: 2 });
    assert.deepEqual([l.takeSync("ip"), l.takeSync("ip")], [OK, OK]);
    assert.deepEqual(l.takeSync("ip"), refused(3000));
    clock.t += 2999;
    assert.deepEqual(l.takeSync("ip"), refused(1));
    clock.t += 1;
    assert.deepEqual(l.takeSync("ip"), OK);
  });

  await t.step("3 per second: retryAfterMs rounds 333.3 ms up", () => {
    const { clock, limiter: l } = limiter({ ratePerSec: 3, burst: 1 });
    assert.deepEqual(l.takeSync("u"), OK);
    assert.deepEqual(l.takeSync("u"), refused(334));
    clock.t += 333;
    assert.deepEqual(l.takeSync("u"), refused(1));
    clock.t += 1;
    assert.deepEqual(l.takeSync("u"), OK);
  });

  await t.step("1/3 per second: waiting 1 ms then retryAfterMs is enough", () => {
    // Regression: 1 ms of refill plus 2999 ms added up to 0.9999999999999999 token in floating point.
    const { clock, limiter: l } = limiter({ ratePerSec: 1 / 3, burst: 1 }, 100_000);
    assert.deepEqual(l.takeSync("u"), OK);
    clock.t += 1;
    assert.deepEqual(l.takeSync("u"), refused(2999));
    clock.t += 2999;
    assert.deepEqual(l.takeSync("u"), OK);
  });
});

Deno.test("TokenBucketLimiter: waiting the announced retryAfterMs always gets the next event through", () => {
  const random = seeded(42);
  for (const ratePerSec of [0.01, 0.1, 1 / 3, 0.7, 1, 3, 7, 10, 13, 33.3, 100, 999]) {
    for (const burst of [1, 2, 5]) {
      const { clock, limiter: l } = limiter({ ratePerSec, burst }, 0);
      for (let i = 0; i < 500; i++) {
        const decision = l.takeSync("u");
        if (decision.ok) {
          clock.t += Math.floor(random() * 5);
          continue;
        }
        assert.ok(decision.retryAfterMs >= 1, `retryAfterMs ${decision.retryAfterMs} at rate ${ratePerSec}`);
        clock.t += decision.retryAfterMs;
        assert.deepEqual(l.takeSync("u"), OK, `rate ${ratePerSec}, burst ${burst}, t ${clock.t}`);
      }
    }
  }
});

Deno.test("TokenBucketLimiter keeps keys independent", () => {
  const { limiter: l } = limiter({ ratePerSec: 1, burst: 2 });
  assert.deepEqual([l.takeSync("alice"), l.takeSync("alice")], [OK, OK]);
  assert.deepEqual(l.takeSync("alice"), refused(1000));
  assert.deepEqual([l.takeSync("bob"), l.takeSync("bob")], [OK, OK]);
  assert.deepEqual(l.takeSync("bob"), refused(1000));
  assert.deepEqual(l.takeSync("carol"), OK);
  assert.equal(l.size, 3);
});

Deno.test("TokenBucketLimiter drops only refilled buckets once maxKeys is reached", () => {
  const { clock, limiter: l } = limiter({ ratePerSec: 1, burst: 2, maxKeys: 2 });
  assert.deepEqual(l.takeSync("a"), OK); // a: 1 token left
  assert.deepEqual([l.takeSync("b"), l.takeSync("b")], [OK, OK]); // b: empty
  assert.equal(l.size, 2);

  clock.t += 1000; // a is full again, b holds 1 token
  assert.deepEqual(l.takeSync("c"), OK); // full house: prunes a, keeps b
  assert.equal(l.size, 2);
  assert.deepEqual(l.takeSync("b"), OK);
  assert.deepEqual(l.takeSync("b"), refused(1000)); // b's state survived the pruning
  assert.deepEqual([l.takeSync("a"), l.takeSync("a")], [OK, OK]); // a starts full, as it would have been
  assert.deepEqual(l.takeSync("a"), refused(1000));
  assert.equal(l.size, 3); // nothing was idle: the map may grow past maxKeys rather than forget state
});

Deno.test("TokenBucketLimiter decides the same with and without pruning", () => {
  const random = seeded(7);
  const options = { ratePerSec: 2, burst: 3 };
  const pruned = limiter({ ...options, maxKeys: 4 }, 0);
  const unbounded = limiter(options, 0);
  let maxSize = 0;
  for (let i = 0; i < 5_000; i++) {
    const step = Math.floor(random() * 400);
    pruned.clock.t += step;
    unbounded.clock.t += step;
    const key = `k${Math.floor(random() * 12)}`;
    assert.deepEqual(pruned.limiter.takeSync(key), unbounded.limiter.takeSync(key), `event ${i} (${key})`);
    maxSize = Math.max(maxSize, pruned.limiter.size);
  }
  assert.equal(unbounded.limiter.size, 12);
  assert.ok(maxSize < 12, `pruning never happened (max size ${maxSize})`);
});

Deno.test("new TokenBucketLimiter() rejects ratePerSec <= 0 and burst < 1", async (t) => {
  const message = "A token bucket needs ratePerSec > 0 and burst >= 1";
  const cases: [string, TokenBucketOptions][] = [
    ["rate 0", { ratePerSec: 0, burst: 1 }],
    ["rate -1", { ratePerSec: -1, burst: 1 }],
    ["rate NaN", { ratePerSec: NaN, burst: 1 }],
    ["burst 0", { ratePerSec: 1, burst: 0 }],
    ["burst 0.5", { ratePerSec: 1, burst: 0.5 }],
    ["burst -1", { ratePerSec: 1, burst: -1 }],
    ["burst NaN", { ratePerSec: 1, burst: NaN }],
  ];
  for (const [name, options] of cases) {
    await t.step(name, () => {
      assert.throws(() => new TokenBucketLimiter(options), (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
  await t.step("smallest valid values", () => {
    const l = new TokenBucketLimiter({ ratePerSec: 0.001, burst: 1 });
    assert.deepEqual(l.takeSync("u"), OK);
  });
});

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The contract every `AccountLockout` adapter must pass. It sees only the interface in `lockout.ts` and the
 * policy the adapter was made with, so the same suite runs against `MemoryLockout` (with a fake clock) and
 * `RedisLockout` (with real time and a short policy).
 *
 * With real time nothing is asserted about how long anything took: only "locked" or "not locked" at points well
 * inside or well past a lock, and waits reported by the adapter within `slackMs` of what the policy says.
 *
 * @example
 * // lib/auth/lockout_test.ts
 * lockoutContract("MemoryLockout", () => {
 *   let now = 1_000_000;
 *   const lockout = new MemoryLockout({}, () => now);
 *   return Promise.resolve({
 *     lockout, policy: lockoutPolicy(), slackMs: 0, now: () => now,
 *     pass: (ms) => Promise.resolve(void (now += ms)), close: () => Promise.resolve(),
 *   });
 * });
 */

import assert from "node:assert/strict";
import { type AccountLockout, lockDurationMs, type LockoutPolicy } from "../lockout.ts";

/** One adapter made for one case. */
export interface LockoutFixture {
  lockout: AccountLockout;
  /** The complete policy the adapter was made with. */
  policy: LockoutPolicy;
  /** The adapter's clock, in milliseconds since the epoch. */
  now(): number;
  /** Lets `ms` go by on the adapter's clock (moves a fake clock, or sleeps). */
  pass(ms: number): Promise<void>;
  /** How much time may go by unaccounted between two calls: 0 with a fake clock. Well below `baseLockMs / 2`. */
  slackMs: number;
  close(): Promise<void>;
}

/** Registers the contract suite as `Deno.test` cases named "`name` ...". Each case makes and closes a fixture. */
export function lockoutContract(name: string, make: () => Promise<LockoutFixture>): void {
  function test(
    title: string,
    fn: (f: LockoutFixture, account: (n: string) => string) => Promise<void>,
  ): void {
    Deno.test(`\`${name}\` ${title}`, async () => {
      const fixture = await make();
      try {
        const prefix = `lockout-contract:${crypto.randomUUID()}:`;
        await fn(fixture, (n) => prefix + n);
      } finally {
        await fixture.close();
      }
    });
  }

  /** Asserts that `ms` is what the adapter should say with `expected` left: within slack below it. */
  function assertWait(f: LockoutFixture, ms: number, expected: number, what: string): void {
    assert.ok(ms <= expected && ms > expected - f.slackMs - 1e-9, `${what}: ${ms} ms, expected ${expected}`);
  }

  /** `n` attempts that `check()` lets through and that fail; returns the last `fail()`'s decision. */
  async function failTimes(f: LockoutFixture, id: string, n: number) {
    let last;
    for (let i = 0; i < n; i++) {
      assert.deepEqual(
        await f.lockout.check(id),
        { ok: true, retryAfterMs: 0 },
        `check before failure ${i + 1}`,
      );
      last = await f.lockout.fail(id);
    }
    return last!;
  }

  test(
    "lets 4 failures through, locks on the 5th, and refuses attempts until the lock ends",
    async (f, account) => {
      const id = account("a");
      const { maxFailures, baseLockMs } = f.policy;
      assert.equal(maxFailures, 5);
      for (let i = 1; i < maxFailures; i++) {
        assert.deepEqual(
          await failTimes(f, id, 1),
          { ok: true, retryAfterMs: 0, lockedNow: false },
          `failure ${i}`,
        );
      }
      assert.deepEqual(await failTimes(f, id, 1), { ok: false, retryAfterMs: baseLockMs, lockedNow: true });

      const refused = await f.lockout.check(id);
      assert.equal(refused.ok, false);
      assertWait(f, refused.retryAfterMs, baseLockMs, "right after the lock");

      await f.pass(baseLockMs / 2);
      const later = await f.lockout.check(id);
      assert.equal(later.ok, false, "still locked halfway through");
      assertWait(f, later.retryAfterMs, baseLockMs / 2, "halfway through the lock");

      await f.pass(baseLockMs / 2 + f.slackMs);
      assert.deepEqual(
        await f.lockout.check(id),
        { ok: true, retryAfterMs: 0 },
        "free once the lock is over",
      );
    },
  );

  test("doubles the lock on each further burst, up to maxLockMs", async (f, account) => {
    const id = account("a");
    const { maxFailures, baseLockMs, maxLockMs } = f.policy;
    const expected: number[] = [];
    for (let lock = baseLockMs; expected.at(-1) !== maxLockMs; lock *= 2) {
      expected.push(Math.min(lock, maxLockMs));
    }
    expected.push(maxLockMs);
    assert.ok(expected.length >= 3, "the policy has room for doubling");

    const got: number[] = [];
    for (const lockMs of expected) {
      const last = await failTimes(f, id, maxFailures);
      assert.equal(last.lockedNow, true);
      got.push(last.retryAfterMs);
      await f.pass(lockMs / 2);
      assert.equal((await f.lockout.check(id)).ok, false, `locked halfway through the ${lockMs} ms lock`);
      await f.pass(lockMs / 2 + f.slackMs);
    }
    assert.deepEqual(got, expected);
    const report = await f.lockout.succeed(id);
    assert.deepEqual([report.failures, report.locks], [maxFailures * expected.length, expected.length]);
  });

  test(
    "counts a failure that comes while locked, without a new burst or a longer lock",
    async (f, account) => {
      const id = account("a");
      const { maxFailures, baseLockMs } = f.policy;
      await failTimes(f, id, maxFailures);
      const during = await f.lockout.fail(id);
      assert.equal(during.ok, false);
      assert.equal(during.lockedNow, false);
      assertWait(f, during.retryAfterMs, baseLockMs, "a failure during the lock");
      await f.pass(baseLockMs + f.slackMs);
      assert.deepEqual(await failTimes(f, id, maxFailures - 1), {
        ok: true,
        retryAfterMs: 0,
        lockedNow: false,
      });
      const report = await f.lockout.succeed(id);
      assert.deepEqual([report.failures, report.locks], [2 * maxFailures, 1]);
    },
  );

  test("reports failures and locks on success, then starts afresh", async (f, account) => {
    const id = account("a");
    const { maxFailures, baseLockMs } = f.policy;
    assert.deepEqual(await f.lockout.succeed(id), { failures: 0, locks: 0, lastFailureAt: null });

    await failTimes(f, id, maxFailures);
    await f.pass(baseLockMs + f.slackMs);
    await failTimes(f, id, 1);
    assert.deepEqual(await f.lockout.check(id), { ok: true, retryAfterMs: 0 });
    const before = f.now();
    await f.lockout.fail(id);
    const after = f.now();
    assert.deepEqual(await f.lockout.check(id), { ok: true, retryAfterMs: 0 });
    const report = await f.lockout.succeed(id);
    assert.deepEqual([report.failures, report.locks], [maxFailures + 2, 1]);
    const at = Date.parse(report.lastFailureAt ?? "");
    assert.ok(
      at >= before && at <= after,
      `lastFailureAt ${report.lastFailureAt} is the last failure's time`,
    );
    assert.equal(new Date(at).toISOString(), report.lastFailureAt);

    assert.deepEqual(await f.lockout.succeed(id), { failures: 0, locks: 0, lastFailureAt: null }, "cleared");
    const next = await failTimes(f, id, maxFailures);
    assert.deepEqual(next, { ok: false, retryAfterMs: baseLockMs, lockedNow: true }, "the first lock again");
  });

  test(
    "clear() lifts the lock, forgets the burst, the doubling and the slots, but keeps the report",
    async (f, account) => {
      const id = account("a");
      const { maxFailures, baseLockMs } = f.policy;
      await failTimes(f, id, maxFailures);
      assert.equal((await f.lockout.check(id)).ok, false);
      await f.lockout.clear(id);
      assert.deepEqual(await failTimes(f, id, maxFailures - 1), {
        ok: true,
        retryAfterMs: 0,
        lockedNow: false,
      });
      assert.deepEqual(await failTimes(f, id, 1), { ok: false, retryAfterMs: baseLockMs, lockedNow: true });
      await f.lockout.clear(id);
      const report = await f.lockout.succeed(id);
      assert.deepEqual([report.failures, report.locks], [2 * maxFailures, 2], "the next sign-in is told");
      assert.deepEqual(await f.lockout.succeed(id), { failures: 0, locks: 0, lastFailureAt: null });

      const busy = account("busy");
      for (let i = 0; i < maxFailures; i++) assert.equal((await f.lockout.check(busy)).ok, true);
      assert.equal((await f.lockout.check(busy)).ok, false, "every slot is held");
      await f.lockout.clear(busy);
      assert.deepEqual(await f.lockout.check(busy), { ok: true, retryAfterMs: 0 }, "the slots are freed");
      await f.lockout.clear(account("never seen"));
    },
  );

  test("forgets failures older than the window, but still reports them", async (f, account) => {
    const id = account("a");
    const { maxFailures, windowMs, baseLockMs } = f.policy;
    await failTimes(f, id, maxFailures - 1);
    await f.pass(windowMs + f.slackMs);
    assert.deepEqual(await failTimes(f, id, maxFailures - 1), {
      ok: true,
      retryAfterMs: 0,
      lockedNow: false,
    });
    assert.deepEqual(await failTimes(f, id, 1), { ok: false, retryAfterMs: baseLockMs, lockedNow: true });
    const report = await f.lockout.succeed(id);
    assert.deepEqual([report.failures, report.locks], [2 * maxFailures - 1, 1]);
  });

  test("forgets the doubling once no failure came for windowMs + maxLockMs", async (f, account) => {
    const id = account("a");
    const { maxFailures, windowMs, baseLockMs, maxLockMs } = f.policy;
    await failTimes(f, id, maxFailures);
    await f.pass(baseLockMs + f.slackMs);
    assert.equal((await failTimes(f, id, maxFailures)).retryAfterMs, lockDurationMs(f.policy, 2));
    await f.pass(windowMs + maxLockMs + f.slackMs);
    assert.deepEqual(await failTimes(f, id, maxFailures), {
      ok: false,
      retryAfterMs: baseLockMs,
      lockedNow: true,
    });
    const report = await f.lockout.succeed(id);
    assert.deepEqual([report.failures, report.locks], [3 * maxFailures, 3]);
  });

  test("keeps accounts apart", async (f, account) => {
    const [a, b] = [account("a"), account("b")];
    const { maxFailures } = f.policy;
    await failTimes(f, a, maxFailures);
    assert.equal((await f.lockout.check(a)).ok, false);
    assert.deepEqual(await f.lockout.check(b), { ok: true, retryAfterMs: 0 });
    assert.deepEqual(await f.lockout.fail(b), { ok: true, retryAfterMs: 0, lockedNow: false });
    const report = await f.lockout.succeed(b);
    assert.deepEqual([report.failures, report.locks], [1, 0]);
    assert.equal((await f.lockout.check(a)).ok, false, "b's success does not unlock a");
  });

  test("lets no more attempts run at once than would lock the account", async (f, account) => {
    const id = account("a");
    const { maxFailures, pendingMs, baseLockMs } = f.policy;
    const decisions = await Promise.all(Array.from({ length: 3 * maxFailures }, () => f.lockout.check(id)));
    assert.equal(decisions.filter((d) => d.ok).length, maxFailures);
    for (const d of decisions.filter((d) => !d.ok)) {
      assertWait(f, d.retryAfterMs, pendingMs, "attempts in flight");
    }

    const fails = await Promise.all(Array.from({ length: maxFailures }, () => f.lockout.fail(id)));
    assert.equal(fails.filter((d) => d.lockedNow).length, 1, "exactly one failure locks");
    assert.deepEqual(fails.find((d) => d.lockedNow), {
      ok: false,
      retryAfterMs: baseLockMs,
      lockedNow: true,
    });
    assert.equal((await f.lockout.check(id)).ok, false);
  });

  test("frees an attempt's slot on release(), or once pendingMs has passed", async (f, account) => {
    const id = account("a");
    const { maxFailures, pendingMs } = f.policy;
    await failTimes(f, id, 2);
    for (let i = 2; i < maxFailures; i++) assert.equal((await f.lockout.check(id)).ok, true);
    assert.equal((await f.lockout.check(id)).ok, false, "2 failures + 3 attempts in flight fill the budget");
    await f.lockout.release(id);
    assert.deepEqual(await f.lockout.check(id), { ok: true, retryAfterMs: 0 }, "released slot");
    assert.equal((await f.lockout.check(id)).ok, false);
    await f.pass(pendingMs + f.slackMs);
    assert.deepEqual(await failTimes(f, id, 2), { ok: true, retryAfterMs: 0, lockedNow: false });
    const report = await f.lockout.succeed(id);
    assert.deepEqual([report.failures, report.locks], [4, 0], "release() and expired slots are not failures");
  });
}

import assert from "node:assert/strict";
import { DEFAULT_LOCKOUT_POLICY, lockDurationMs, lockoutPolicy, MemoryLockout } from "./lockout.ts";
import { lockoutContract } from "./testing/lockout_contract.ts";

/** A clock that moves only when told to. */
function fakeClock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let now = start;
  return { now: () => now, pass: (ms: number) => void (now += ms) };
}

lockoutContract("MemoryLockout", () => {
  const clock = fakeClock();
  const lockout = new MemoryLockout({}, clock.now);
  return Promise.resolve({
    lockout,
    policy: lockoutPolicy(),
    now: clock.now,
    pass: (ms) => Promise.resolve(clock.pass(ms)),
    slackMs: 0,
    close: () => Promise.resolve(),
  });
});

const MIN = 60_000;

Deno.test("`MemoryLockout` by default locks for 1, 2, 4, 8, then 15 minutes per burst of 5 failures", async () => {
  const clock = fakeClock();
  const lockout = new MemoryLockout(undefined, clock.now);
  const locks: number[] = [];
  for (let burst = 0; burst < 7; burst++) {
    for (let i = 0; i < 5; i++) {
      assert.equal((await lockout.check("u")).ok, true);
      const decision = await lockout.fail("u");
      if (decision.lockedNow) locks.push(decision.retryAfterMs);
      clock.pass(1_000);
    }
    // A check 1 ms before the lock ends is refused with 1 ms to go; at the end it is let through.
    clock.pass(locks.at(-1)! - 1_000 - 1);
    assert.deepEqual(await lockout.check("u"), { ok: false, retryAfterMs: 1 });
    clock.pass(1);
  }
  assert.deepEqual(locks, [1, 2, 4, 8, 15, 15, 15].map((m) => m * MIN));
  const at = new Date(clock.now() - locks.at(-1)!).toISOString();
  assert.deepEqual(await lockout.succeed("u"), { failures: 35, locks: 7, lastFailureAt: at });
});

Deno.test("`MemoryLockout` reports to the sign-in a month later, then forgets the account", async () => {
  const clock = fakeClock();
  const lockout = new MemoryLockout({}, clock.now);
  for (let i = 0; i < 6; i++) await lockout.fail("u");
  const lastFailureAt = new Date(clock.now()).toISOString();
  clock.pass(DEFAULT_LOCKOUT_POLICY.reportMs - 1);
  assert.deepEqual(await lockout.check("u"), { ok: true, retryAfterMs: 0 }, "the lock is long over");
  await lockout.release("u");
  assert.deepEqual(await lockout.succeed("u"), { failures: 6, locks: 1, lastFailureAt });

  for (let i = 0; i < 6; i++) await lockout.fail("u");
  clock.pass(DEFAULT_LOCKOUT_POLICY.reportMs);
  assert.deepEqual(await lockout.succeed("u"), { failures: 0, locks: 0, lastFailureAt: null });
});

Deno.test("`MemoryLockout` holds only accounts with something to remember, and at most maxAccounts", async () => {
  const clock = fakeClock();
  const policy = {
    windowMs: 10_000,
    baseLockMs: 1_000,
    maxLockMs: 5_000,
    pendingMs: 2_000,
    reportMs: 60_000,
  };
  const lockout = new MemoryLockout({ ...policy, maxAccounts: 3 }, clock.now);

  await lockout.check("released");
  await lockout.release("released");
  await lockout.check("succeeded");
  await lockout.succeed("succeeded");
  await lockout.check("cleared");
  await lockout.clear("cleared");
  await lockout.clear("never seen");
  assert.equal(lockout.size, 0, "nothing is kept for attempts that ended without a failure");

  await lockout.check("pending");
  await lockout.fail("failed");
  assert.equal(lockout.size, 2);
  clock.pass(policy.windowMs);
  await lockout.check("other");
  await lockout.release("other");
  assert.equal(lockout.size, 1, "the sweep after a window dropped the expired slot, kept the report");
  clock.pass(policy.reportMs);
  await lockout.check("other");
  await lockout.release("other");
  assert.equal(lockout.size, 0, "the report is dropped after reportMs");

  for (const id of ["a", "b", "c", "d"]) await lockout.fail(id);
  assert.equal(lockout.size, 3);
  assert.deepEqual(
    (await lockout.succeed("a")).failures,
    0,
    "past maxAccounts the least recently touched went",
  );
  assert.deepEqual((await lockout.succeed("d")).failures, 1);
});

Deno.test("`lockoutPolicy` fills in the defaults and refuses a policy that makes no sense", () => {
  assert.deepEqual(lockoutPolicy(), {
    maxFailures: 5,
    windowMs: 15 * MIN,
    baseLockMs: MIN,
    maxLockMs: 15 * MIN,
    pendingMs: 10_000,
    reportMs: 30 * 24 * 60 * MIN,
  });
  assert.equal(lockDurationMs(lockoutPolicy(), 1_000), 15 * MIN, "no overflow far down the doubling");
  assert.throws(() => lockoutPolicy({ maxFailures: 0 }), RangeError);
  assert.throws(() => lockoutPolicy({ windowMs: 0.5 }), RangeError);
  assert.throws(() => lockoutPolicy({ baseLockMs: 2 * MIN, maxLockMs: MIN }), RangeError);
  assert.throws(() => lockoutPolicy({ reportMs: 10 * MIN }), RangeError);
  assert.throws(() => new MemoryLockout({ maxAccounts: 0 }), RangeError);
});

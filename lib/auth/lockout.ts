/**
 * Account lockout: failed logins counted per account, whatever address they come from, so that guessing one
 * account's password from many addresses is throttled as much as from one. Adapters: `MemoryLockout` (one
 * process) and `RedisLockout` (shared by every instance).
 *
 * The caller asks `check()` before each password (or second-factor code) check and then reports the outcome
 * with exactly one of `fail()`, `succeed()` or `release()`. `check()` holds a slot for the attempt until then
 * (or until `pendingMs` passes), so attempts running in parallel cannot get more password checks through than
 * `maxFailures`.
 */

/** Whether an attempt may go ahead; when not, after how long one might. */
export interface LockoutDecision {
  ok: boolean;
  /** 0 when `ok`. */
  retryAfterMs: number;
}

/** What happened to an account since its last successful sign-in, shown to the user when they sign in. */
export interface LockoutReport {
  /** Wrong passwords or codes. */
  failures: number;
  /** How many times the account was locked. */
  locks: number;
  /** ISO 8601 time of the last failure, or `null` when there was none. */
  lastFailureAt: string | null;
}

/** Failed logins per account, and the lock that follows too many. */
export interface AccountLockout {
  /**
   * Before checking a password: refused while the account is locked, or while as many attempts are in flight
   * as would lock it. Otherwise it holds a slot for this attempt until `fail`, `succeed` or `release`.
   */
  check(accountId: string): Promise<LockoutDecision>;
  /** A wrong password (or 2FA code): counts it; returns the decision for the NEXT attempt (locked now?). */
  fail(accountId: string): Promise<LockoutDecision & { lockedNow: boolean }>;
  /** A successful login: returns what happened since the last success, and clears the counters. */
  succeed(accountId: string): Promise<LockoutReport>;
  /** An attempt that `check()` let through was neither a failure nor a success (e.g. a second factor follows). */
  release(accountId: string): Promise<void>;
  /**
   * Lifts the lock and forgets the burst and the doubling (password reset); the report stays for the next
   * sign-in to tell.
   */
  clear(accountId: string): Promise<void>;
}

/** When an account locks and for how long. */
export interface LockoutPolicy {
  /** Failures within `windowMs` that lock the account (5). */
  maxFailures: number;
  /** How far back failures count (15 min). */
  windowMs: number;
  /** The first lock (1 min); each further lock doubles it. */
  baseLockMs: number;
  /** The longest lock (15 min). */
  maxLockMs: number;
  /** How long `check()` holds a slot for an attempt that never reports its outcome (10 s). */
  pendingMs: number;
  /** How long the failures are kept for the next sign-in's report (30 days); at least `windowMs + maxLockMs`. */
  reportMs: number;
}

/** The policy used where none is given. */
export const DEFAULT_LOCKOUT_POLICY: Readonly<LockoutPolicy> = Object.freeze({
  maxFailures: 5,
  windowMs: 15 * 60_000,
  baseLockMs: 60_000,
  maxLockMs: 15 * 60_000,
  pendingMs: 10_000,
  reportMs: 30 * 24 * 3_600_000,
});

/** `DEFAULT_LOCKOUT_POLICY` with `policy`'s values; throws `RangeError` for a policy that makes no sense. */
export function lockoutPolicy(policy: Partial<LockoutPolicy> = {}): LockoutPolicy {
  const p = { ...DEFAULT_LOCKOUT_POLICY, ...policy };
  if (!Number.isInteger(p.maxFailures) || p.maxFailures < 1) {
    throw new RangeError("maxFailures must be a whole number >= 1");
  }
  for (const key of ["windowMs", "baseLockMs", "maxLockMs", "pendingMs", "reportMs"] as const) {
    if (!Number.isInteger(p[key]) || p[key] < 1) throw new RangeError(`${key} must be a whole number >= 1`);
  }
  if (p.maxLockMs < p.baseLockMs) throw new RangeError("maxLockMs must be >= baseLockMs");
  if (p.reportMs < p.windowMs + p.maxLockMs) throw new RangeError("reportMs must be >= windowMs + maxLockMs");
  return p;
}

/** How long the `level`th lock in a row lasts (level 1: `baseLockMs`), at most `maxLockMs`. */
export function lockDurationMs(policy: LockoutPolicy, level: number): number {
  // Past 2^40 the product is far beyond any maxLockMs; stopping there keeps it finite.
  return Math.min(policy.maxLockMs, policy.baseLockMs * 2 ** Math.min(level - 1, 40));
}

/** One account's state. Times are milliseconds since the epoch. */
interface Entry {
  /** Failures of the current burst, within the window. */
  recent: number[];
  /** Expiry of each slot held by `check()`. */
  pending: number[];
  /** Locks in a row; forgotten with the burst once no failure came for `windowMs + maxLockMs`. */
  level: number;
  /** End of the current lock (0: none). */
  until: number;
  /** Last failure (0: none). */
  last: number;
  /** Report: failures and locks since the last success. */
  failures: number;
  locks: number;
}

export interface MemoryLockoutOptions extends Partial<LockoutPolicy> {
  /** At most this many accounts are held; past it, the least recently touched are forgotten (100 000). */
  maxAccounts?: number;
}

/**
 * The in-process lockout, the default without Redis and the fallback while Redis is down. Memory is bounded:
 * an account is held only while it has something to remember (a lock, recent failures, a report, an attempt in
 * flight), idle ones are swept out, and past `maxAccounts` the least recently touched go first.
 *
 * @example
 * const lockout = new MemoryLockout();
 * const decision = await lockout.check(user.id);
 * if (!decision.ok) throw tooManyAttempts(decision.retryAfterMs);
 * if (await verifyPassword(user, password)) report = await lockout.succeed(user.id);
 * else await lockout.fail(user.id);
 */
export class MemoryLockout implements AccountLockout {
  readonly #policy: LockoutPolicy;
  readonly #now: () => number;
  readonly #maxAccounts: number;
  /** In order of last touch, least recent first. */
  readonly #entries = new Map<string, Entry>();
  #lastSweep: number;

  constructor(policy: MemoryLockoutOptions = {}, now: () => number = Date.now) {
    const { maxAccounts = 100_000, ...rest } = policy;
    if (!Number.isInteger(maxAccounts) || maxAccounts < 1) {
      throw new RangeError("maxAccounts must be a whole number >= 1");
    }
    this.#policy = lockoutPolicy(rest);
    this.#now = now;
    this.#maxAccounts = maxAccounts;
    this.#lastSweep = now();
  }

  check(accountId: string): Promise<LockoutDecision> {
    const now = this.#now();
    const entry = this.#entry(accountId, now);
    if (entry.until > now) {
      return this.#keep(accountId, entry, { ok: false, retryAfterMs: entry.until - now });
    }
    const { maxFailures, windowMs } = this.#policy;
    if (entry.recent.length + entry.pending.length >= maxFailures) {
      // Full of attempts in flight: a slot frees when one of them ends, or when a failure leaves the window.
      const frees = Math.min(...entry.pending, ...entry.recent.map((t) => t + windowMs));
      return this.#keep(accountId, entry, { ok: false, retryAfterMs: Math.max(1, frees - now) });
    }
    entry.pending.push(now + this.#policy.pendingMs);
    return this.#keep(accountId, entry, { ok: true, retryAfterMs: 0 });
  }

  fail(accountId: string): Promise<LockoutDecision & { lockedNow: boolean }> {
    const now = this.#now();
    const entry = this.#entry(accountId, now);
    takeSlot(entry);
    entry.failures++;
    entry.last = now;
    if (entry.until > now) {
      // Already locked (an attempt that was in flight when the lock began): reported, but no new burst.
      return this.#keep(accountId, entry, { ok: false, retryAfterMs: entry.until - now, lockedNow: false });
    }
    entry.recent.push(now);
    if (entry.recent.length < this.#policy.maxFailures) {
      return this.#keep(accountId, entry, { ok: true, retryAfterMs: 0, lockedNow: false });
    }
    entry.level++;
    entry.locks++;
    entry.recent = [];
    const lockMs = lockDurationMs(this.#policy, entry.level);
    entry.until = now + lockMs;
    return this.#keep(accountId, entry, { ok: false, retryAfterMs: lockMs, lockedNow: true });
  }

  succeed(accountId: string): Promise<LockoutReport> {
    const now = this.#now();
    const entry = this.#entry(accountId, now);
    this.#entries.delete(accountId);
    return Promise.resolve({
      failures: entry.failures,
      locks: entry.locks,
      lastFailureAt: entry.failures > 0 ? new Date(entry.last).toISOString() : null,
    });
  }

  release(accountId: string): Promise<void> {
    const now = this.#now();
    const entry = this.#entry(accountId, now);
    takeSlot(entry);
    return this.#keep(accountId, entry, undefined);
  }

  clear(accountId: string): Promise<void> {
    const entry = this.#entry(accountId, this.#now());
    Object.assign(entry, { recent: [], pending: [], level: 0, until: 0 });
    return this.#keep(accountId, entry, undefined);
  }

  /** Number of accounts held (tests, metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** The account's entry with what has expired by `now` dropped (a fresh one when there is none). */
  #entry(accountId: string, now: number): Entry {
    const entry = this.#entries.get(accountId);
    if (entry === undefined) {
      return { recent: [], pending: [], level: 0, until: 0, last: 0, failures: 0, locks: 0 };
    }
    expire(this.#policy, entry, now);
    return entry;
  }

  /** Stores `entry` as the most recently touched (or drops it when empty), sweeps if due, resolves `result`. */
  #keep<T>(accountId: string, entry: Entry, result: T): Promise<T> {
    this.#entries.delete(accountId);
    if (!isEmpty(entry)) this.#entries.set(accountId, entry);
    const now = this.#now();
    if (now - this.#lastSweep >= this.#policy.windowMs) this.#sweep(now);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxAccounts) break;
      this.#entries.delete(oldest);
    }
    return Promise.resolve(result);
  }

  /** Drops every account with nothing left to remember (at most once per window, so amortised O(1)). */
  #sweep(now: number): void {
    this.#lastSweep = now;
    for (const [accountId, entry] of this.#entries) {
      expire(this.#policy, entry, now);
      if (isEmpty(entry)) this.#entries.delete(accountId);
    }
  }
}

/** Drops from `entry` what has expired by `now`: slots, failures out of the window, an idle burst, the report. */
function expire(policy: LockoutPolicy, entry: Entry, now: number): void {
  entry.pending = entry.pending.filter((t) => t > now);
  if (now - entry.last >= policy.windowMs + policy.maxLockMs) {
    entry.recent = [];
    entry.level = 0;
    entry.until = 0;
  } else {
    entry.recent = entry.recent.filter((t) => now - t < policy.windowMs);
  }
  if (now - entry.last >= policy.reportMs) {
    entry.failures = 0;
    entry.locks = 0;
    entry.last = 0;
  }
}

/** Frees the oldest slot held by `check()`, if any. */
function takeSlot(entry: Entry): void {
  if (entry.pending.length === 0) return;
  entry.pending.splice(entry.pending.indexOf(Math.min(...entry.pending)), 1);
}

function isEmpty(entry: Entry): boolean {
  return entry.pending.length === 0 && entry.failures === 0 && entry.level === 0;
}

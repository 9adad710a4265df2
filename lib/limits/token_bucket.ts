import type { RateDecision, RateLimiter } from "./rate_limit.ts";

export interface TokenBucketOptions {
  /** Tokens added per second. */
  ratePerSec: number;
  /** Bucket size: how many events may come at once. */
  burst: number;
  /** Injected clock in milliseconds (tests). */
  now?: () => number;
  /** Idle buckets are dropped once this many keys are held. */
  maxKeys?: number;
}

/** Slack for floating-point error in fractional token counts: a billionth of a token. */
const EPSILON = 1e-9;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * An in-process token bucket per key.
 *
 * @example
 * const limiter = new TokenBucketLimiter({ ratePerSec: 10, burst: 20 });
 * if (!(await limiter.take(userId)).ok) refuse();
 */
export class TokenBucketLimiter implements RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSec > 0) || !(options.burst >= 1)) {
      throw new RangeError("A token bucket needs ratePerSec > 0 and burst >= 1");
    }
    this.#rate = options.ratePerSec / 1000;
    this.#burst = options.burst;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  take(key: string): Promise<RateDecision> {
    return Promise.resolve(this.takeSync(key));
  }

  takeSync(key: string): RateDecision {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#prune(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#rate);
      bucket.at = now;
    }
    if (bucket.tokens >= 1 - EPSILON) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    // Aim half the slack short of a token: waiting retryAfterMs then always lets the next event through.
    return { ok: false, retryAfterMs: Math.ceil((1 - EPSILON / 2 - bucket.tokens) / this.#rate) };
  }

  /** Number of keys held (tests, metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Drops buckets that have refilled completely: forgetting them changes nothing. */
  #prune(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#rate >= this.#burst) this.#buckets.delete(key);
    }
  }
}

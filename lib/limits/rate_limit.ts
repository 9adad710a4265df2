/** The answer of a rate limiter: allowed, or refused with the time after which one more would be allowed. */
export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

/** Limits events per key (a user id, an IP address). Async so that a shared (Redis) limiter fits behind it. */
export interface RateLimiter {
  take(key: string): Promise<RateDecision>;
}

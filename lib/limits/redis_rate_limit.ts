import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import type { RateDecision, RateLimiter } from "./rate_limit.ts";

export interface RedisRateLimiterOptions {
  redis: Redis;
  log: Logger;
  ratePerSec: number;
  burst: number;
  /** Key prefix, e.g. `chat:rl:msg:`. */
  prefix: string;
  /** Used while Redis cannot be reached, so limits still hold per instance. */
  fallback: RateLimiter;
}

// The same token bucket as `TokenBucketLimiter`, kept in Redis and timed by Redis' clock, so that a user's
// sockets on several instances share one bucket. ARGV: tokens per ms, burst.
const TAKE = `
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local ok, retry = 0, 0
if tokens >= 1 - 1e-9 then
  tokens = tokens - 1
  ok = 1
else
  retry = math.ceil((1 - 0.5e-9 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return {ok, retry}
`;

/**
 * A token bucket per key shared by every instance through Redis. While Redis is unreachable it falls back to
 * the per-instance limiter (limits then hold per instance only) and says so once in the log.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly #options: RedisRateLimiterOptions;
  readonly #rate: number;
  #degraded = false;

  constructor(options: RedisRateLimiterOptions) {
    if (!(options.ratePerSec > 0) || !(options.burst >= 1)) {
      throw new RangeError("A token bucket needs ratePerSec > 0 and burst >= 1");
    }
    this.#options = options;
    this.#rate = options.ratePerSec / 1000;
  }

  async take(key: string): Promise<RateDecision> {
    const { redis, prefix, burst, fallback, log } = this.#options;
    try {
      const [ok, retry] = await redis.eval(TAKE, 1, prefix + key, this.#rate, burst) as [number, number];
      if (this.#degraded) {
        this.#degraded = false;
        log.info("Shared rate limits restored");
      }
      return ok === 1 ? { ok: true } : { ok: false, retryAfterMs: Math.max(1, retry) };
    } catch (error) {
      if (!this.#degraded) {
        this.#degraded = true;
        log.warn("Redis unavailable: rate limits hold per instance until it is back", { error });
      }
      return fallback.take(key);
    }
  }
}

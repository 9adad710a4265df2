import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import { MemorySocketQuota, once, type SocketQuota } from "./socket_quota.ts";

export interface RedisSocketQuotaOptions {
  redis: Redis;
  log: Logger;
  /** This instance's id; unique per process. */
  instanceId: string;
  /** The most sockets one user may hold over all instances (`MAX_SOCKETS_PER_USER`). */
  max: number;
  /** An instance whose heartbeat is older than this is dead and its sockets no longer count (default 15 s). */
  ttlMs?: number;
  /** Key prefix (tests use their own). */
  prefix?: string;
}

// Each instance keeps its users' socket counts in a hash (`<prefix>held:<instance>`) and its heartbeat in a
// sorted set of instances, as presence does. A reservation sums the user's counts over the live instances and
// this one, and adds one only below the cap, in one script: two instances can never both take the last place.
// Standalone Redis only: the scripts touch keys they are not given.
const NOW = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** ARGV: prefix, instance, user, max, ttl. Returns {1, held} when reserved, {0, held} at the cap. */
const ACQUIRE = NOW + `
local prefix, inst, user, max, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local own = prefix .. 'held:' .. inst
local sum = tonumber(redis.call('HGET', own, user) or '0')
for _, other in ipairs(redis.call('ZRANGEBYSCORE', prefix .. 'instances', now_ms() - ttl, '+inf')) do
  if other ~= inst then sum = sum + tonumber(redis.call('HGET', prefix .. 'held:' .. other, user) or '0') end
end
if sum >= max then return {0, sum} end
redis.call('HINCRBY', own, user, 1)
return {1, sum + 1}
`;

/** ARGV: prefix, instance, user. */
const RELEASE = `
local own = ARGV[1] .. 'held:' .. ARGV[2]
if redis.call('HINCRBY', own, ARGV[3], -1) <= 0 then redis.call('HDEL', own, ARGV[3]) end
return 1
`;

/**
 * ARGV: prefix, instance, ttl, expiry. Refreshes this instance's heartbeat, drops the counts of instances that
 * stopped beating (killed), and returns 1 when this instance was not registered (new, or dropped by another).
 */
const HEARTBEAT = NOW + `
local prefix, inst, ttl, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local zset = prefix .. 'instances'
local now = now_ms()
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', '(' .. (now - ttl))) do
  if dead ~= inst and redis.call('ZREM', zset, dead) == 1 then redis.call('DEL', prefix .. 'held:' .. dead) end
end
local added = redis.call('ZADD', zset, now, inst)
redis.call('PEXPIRE', prefix .. 'held:' .. inst, expiry)
return added
`;

/** ARGV: prefix, instance, expiry, then user, count pairs. Replaces this instance's counts. */
const SYNC = `
local own = ARGV[1] .. 'held:' .. ARGV[2]
redis.call('DEL', own)
for i = 4, #ARGV, 2 do redis.call('HSET', own, ARGV[i], ARGV[i + 1]) end
if #ARGV >= 4 then redis.call('PEXPIRE', own, tonumber(ARGV[3])) end
return 1
`;

/**
 * `MAX_SOCKETS_PER_USER` over every instance, through Redis. This instance's own counts (kept in memory) are
 * the truth that Redis mirrors: while Redis is unreachable the cap holds per instance, and the first heartbeat
 * after it is back writes this instance's counts again. An instance killed without closing its sockets stops
 * counting once its heartbeat is `ttlMs` old.
 */
export class RedisSocketQuota implements SocketQuota {
  readonly max: number;
  readonly #redis: Redis;
  readonly #log: Logger;
  readonly #instance: string;
  readonly #ttl: number;
  readonly #prefix: string;
  readonly #local: MemorySocketQuota;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Redis may not match the local counts (a command failed): the next heartbeat writes them again. */
  #dirty = false;
  #degraded = false;

  constructor(options: RedisSocketQuotaOptions) {
    this.max = options.max;
    this.#local = new MemorySocketQuota(options.max);
    this.#redis = options.redis;
    this.#log = options.log;
    this.#instance = options.instanceId;
    this.#ttl = options.ttlMs ?? 15_000;
    this.#prefix = options.prefix ?? "chat:sockets:";
  }

  async start(): Promise<void> {
    await this.#heartbeat();
    this.#timer = setInterval(() => this.#heartbeat(), Math.max(100, Math.floor(this.#ttl / 3)));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async acquire(userId: string): Promise<(() => void) | null> {
    let reserved;
    try {
      const args = [this.#prefix, this.#instance, userId, this.max, this.#ttl];
      [reserved] = await this.#redis.eval(ACQUIRE, 0, ...args) as [number, number];
      this.#restored();
    } catch (error) {
      this.#failed(error);
      const release = this.#local.tryAcquire(userId);
      // Redis never counted this one: the next heartbeat after the outage writes it with the rest.
      return release && once(() => {
        release();
        this.#dirty = true;
      });
    }
    if (reserved !== 1) return null;
    this.#local.add(userId, 1);
    return once(() => {
      this.#local.add(userId, -1);
      this.#redis.eval(RELEASE, 0, this.#prefix, this.#instance, userId).catch((error) =>
        this.#failed(error)
      );
    });
  }

  /** Sockets of `userId` counted on this instance (tests). */
  localCount(userId: string): number {
    return this.#local.count(userId);
  }

  async #heartbeat(): Promise<void> {
    try {
      const expiry = this.#ttl * 4;
      const added = await this.#redis.eval(
        HEARTBEAT,
        0,
        this.#prefix,
        this.#instance,
        this.#ttl,
        expiry,
      ) as number;
      if (added === 1 || this.#dirty) {
        this.#dirty = false;
        const pairs = this.#local.entries().flat();
        await this.#redis.eval(SYNC, 0, this.#prefix, this.#instance, expiry, ...pairs);
      }
      this.#restored();
    } catch (error) {
      this.#failed(error);
    }
  }

  #failed(error: unknown): void {
    this.#dirty = true;
    if (this.#degraded) return;
    this.#degraded = true;
    this.#log.warn("Redis unavailable: sockets per user are capped per instance until it is back", { error });
  }

  #restored(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#log.info("Shared socket counts restored");
  }
}

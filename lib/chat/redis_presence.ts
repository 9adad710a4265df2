import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import type { Presence } from "./presence.ts";

export interface RedisPresenceOptions {
  redis: Redis;
  log: Logger;
  /** This instance's id; unique per process. */
  instanceId: string;
  /** An instance that has not refreshed its heartbeat for this long is dead (default 15 s). */
  ttlMs?: number;
  /** Key prefix (tests use their own). */
  prefix?: string;
}

// Every script reads the live instances (heartbeat within ttl) and sums the user's sockets over them, atomically,
// so exactly one instance sees a user's 0 -> 1 and 1 -> 0 transitions. Standalone Redis only: the scripts touch
// keys they are not given, which Redis Cluster forbids.
const SUM = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function total(prefix, zset, user, ttl)
  local sum = 0
  for _, inst in ipairs(redis.call('ZRANGEBYSCORE', zset, now_ms() - ttl, '+inf')) do
    sum = sum + tonumber(redis.call('HGET', prefix .. 'sockets:' .. inst, user) or '0')
  end
  return sum
end
`;

/** KEYS: none. ARGV: prefix, instance, user, delta, ttl. Returns the user's sockets over all live instances. */
const CHANGE = SUM + `
local prefix, inst, user, delta, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local zset, hash = prefix .. 'instances', prefix .. 'sockets:' .. inst
local n = redis.call('HINCRBY', hash, user, delta)
if n <= 0 then redis.call('HDEL', hash, user) end
return total(prefix, zset, user, ttl)
`;

/**
 * ARGV: prefix, ttl, user ids... Returns a string with "1" or "0" per user. Reads the live instances once, then
 * each one's counts: a small hash (Redis keeps up to 512 fields as a list, where each lookup is a scan) is read
 * whole with HGETALL, a big one is asked with HMGET, 500 users at a time. So asking about a whole room costs a
 * few commands, not a few per member, and never a scan per member.
 */
const ONLINE = SUM + `
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local live = redis.call('ZRANGEBYSCORE', prefix .. 'instances', now_ms() - ttl, '+inf')
local out = {}
for i = 3, #ARGV do out[i - 2] = 0 end
for _, inst in ipairs(live) do
  local hash = prefix .. 'sockets:' .. inst
  if redis.call('HLEN', hash) <= 1024 then
    local counts = {}
    local all = redis.call('HGETALL', hash)
    for j = 1, #all, 2 do counts[all[j]] = tonumber(all[j + 1]) end
    for i = 3, #ARGV do
      if (counts[ARGV[i]] or 0) > 0 then out[i - 2] = 1 end
    end
  else
    for first = 3, #ARGV, 500 do
      local last = math.min(first + 499, #ARGV)
      local counts = redis.call('HMGET', hash, unpack(ARGV, first, last))
      for j, count in ipairs(counts) do
        if count and tonumber(count) > 0 then out[first - 3 + j] = 1 end
      end
    end
  end
end
return table.concat(out)
`;

/** ARGV: prefix, instance, hash expiry. Returns 1 when the instance was not registered (new, or reaped). */
const HEARTBEAT = SUM + `
local prefix, inst, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3])
local added = redis.call('ZADD', prefix .. 'instances', now_ms(), inst)
redis.call('PEXPIRE', prefix .. 'sockets:' .. inst, expiry)
return added
`;

/**
 * ARGV: prefix, ttl. Claims every dead instance (ZREM succeeds for one claimer only), drops its sockets and
 * returns the users who are now offline everywhere.
 */
const REAP = SUM + `
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local zset = prefix .. 'instances'
local lost = {}
for _, inst in ipairs(redis.call('ZRANGEBYSCORE', zset, '-inf', '(' .. (now_ms() - ttl))) do
  if redis.call('ZREM', zset, inst) == 1 then
    local hash = prefix .. 'sockets:' .. inst
    local users = redis.call('HKEYS', hash)
    redis.call('DEL', hash)
    for _, user in ipairs(users) do
      if total(prefix, zset, user, ttl) == 0 then lost[#lost + 1] = user end
    end
  end
end
return lost
`;

/**
 * Presence across instances: each instance keeps its users' socket counts in a Redis hash and a heartbeat in a
 * sorted set of live instances. When an instance dies (kill -9), the others find it stale after `ttlMs`, reap
 * it, and report its users who have no socket left anywhere through the `onLost` callback of `start()`.
 */
export class RedisPresence implements Presence {
  readonly #redis: Redis;
  readonly #log: Logger;
  readonly #instance: string;
  readonly #ttl: number;
  readonly #prefix: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** This instance's sockets per user: the truth that Redis mirrors. */
  readonly #local = new Map<string, number>();

  constructor(options: RedisPresenceOptions) {
    this.#redis = options.redis;
    this.#log = options.log;
    this.#instance = options.instanceId;
    this.#ttl = options.ttlMs ?? 15_000;
    this.#prefix = options.prefix ?? "chat:presence:";
  }

  /** Starts the heartbeat and the reaping of dead instances; `onLost` gets users who went offline with one. */
  async start(onLost: (userIds: string[]) => void): Promise<void> {
    await this.#heartbeat();
    this.#timer = setInterval(async () => {
      try {
        await this.#heartbeat();
        const lost = await this.#redis.eval(REAP, 0, this.#prefix, this.#ttl) as string[];
        if (lost.length > 0) onLost(lost);
      } catch (error) {
        this.#log.debug("Presence heartbeat failed", { error });
      }
    }, Math.max(100, Math.floor(this.#ttl / 3)));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  health(): "ok" | "degraded" {
    return this.#redis.status === "ready" ? "ok" : "degraded";
  }

  async connected(userId: string): Promise<boolean> {
    return await this.#change(userId, 1) === 1;
  }

  async disconnected(userId: string): Promise<boolean> {
    return await this.#change(userId, -1) === 0;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const flags = await this.#redis.eval(ONLINE, 0, this.#prefix, this.#ttl, ...userIds) as string;
    return new Set(userIds.filter((_, i) => flags[i] === "1"));
  }

  async #change(userId: string, delta: number): Promise<number> {
    const local = (this.#local.get(userId) ?? 0) + delta;
    if (local > 0) this.#local.set(userId, local);
    else this.#local.delete(userId);
    return await this.#redis.eval(
      CHANGE,
      0,
      this.#prefix,
      this.#instance,
      userId,
      delta,
      this.#ttl,
    ) as number;
  }

  /**
   * Refreshes this instance's heartbeat. If the instance had been reaped (its heartbeat lapsed, e.g. during a
   * Redis outage), its socket counts are written again from the local ones, which are the truth.
   */
  async #heartbeat(): Promise<void> {
    const added = await this.#redis.eval(HEARTBEAT, 0, this.#prefix, this.#instance, this.#ttl * 4) as number;
    if (added === 1 && this.#local.size > 0) {
      this.#log.warn("Presence of this instance was reaped; writing it again", { users: this.#local.size });
      await this.#redis.hset(`${this.#prefix}sockets:${this.#instance}`, Object.fromEntries(this.#local));
    }
  }
}

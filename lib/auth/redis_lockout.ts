import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import {
  type AccountLockout,
  type LockoutDecision,
  type LockoutPolicy,
  lockoutPolicy,
  type LockoutReport,
  MemoryLockout,
} from "./lockout.ts";

export interface RedisLockoutOptions {
  redis: Redis;
  log: Logger;
  /** Key prefix, e.g. `chat:lockout:`; an account's state is one hash at prefix + account id. */
  prefix: string;
  /** `DEFAULT_LOCKOUT_POLICY` where not given. */
  policy?: Partial<LockoutPolicy>;
  /** Used while Redis cannot be reached, so lockout still holds per instance (a `MemoryLockout` if not given). */
  fallback?: AccountLockout;
}

// The same state and steps as `MemoryLockout`, in one hash per account, timed by Redis' clock so that every
// instance agrees. Lists of times are kept as space-separated integers. The key expires when nothing in it is
// still needed. ARGV: operation, then the policy's maxFailures, windowMs, baseLockMs, maxLockMs, pendingMs,
// reportMs. Replies: check/fail {ok, retryAfterMs, lockedNow}; succeed {failures, locks, lastFailureMs};
// release, clear {}.
const SCRIPT = `
local op = ARGV[1]
local maxFailures, windowMs, baseLockMs = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local maxLockMs, pendingMs, reportMs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function parse(s)
  local list = {}
  if s then for n in string.gmatch(s, '%d+') do list[#list + 1] = tonumber(n) end end
  return list
end
local function keep(list, pred)
  local out = {}
  for _, v in ipairs(list) do if pred(v) then out[#out + 1] = v end end
  return out
end
local function join(list)
  local parts = {}
  for i, v in ipairs(list) do parts[i] = string.format('%d', v) end
  return table.concat(parts, ' ')
end

local h = redis.call('HMGET', KEYS[1], 'recent', 'pending', 'level', 'until', 'last', 'failures', 'locks')
local e = {
  recent = parse(h[1]), pending = parse(h[2]), level = tonumber(h[3]) or 0, ['until'] = tonumber(h[4]) or 0,
  last = tonumber(h[5]) or 0, failures = tonumber(h[6]) or 0, locks = tonumber(h[7]) or 0,
}

-- What has expired: slots, failures out of the window, an idle burst, the report.
e.pending = keep(e.pending, function(x) return x > now end)
if now - e.last >= windowMs + maxLockMs then
  e.recent, e.level, e['until'] = {}, 0, 0
else
  e.recent = keep(e.recent, function(x) return now - x < windowMs end)
end
if now - e.last >= reportMs then e.failures, e.locks, e.last = 0, 0, 0 end

local function save()
  if #e.pending == 0 and e.failures == 0 and e.level == 0 then
    redis.call('DEL', KEYS[1])
    return
  end
  redis.call('HSET', KEYS[1], 'recent', join(e.recent), 'pending', join(e.pending), 'level', e.level,
    'until', string.format('%d', e['until']), 'last', string.format('%d', e.last), 'failures', e.failures,
    'locks', e.locks)
  local expires = 0
  if e.failures > 0 then expires = e.last + reportMs end
  for _, x in ipairs(e.pending) do if x > expires then expires = x end end
  redis.call('PEXPIRE', KEYS[1], math.max(1, expires - now))
end
local function takeSlot()
  local oldest = nil
  for i, x in ipairs(e.pending) do if oldest == nil or x < e.pending[oldest] then oldest = i end end
  if oldest then table.remove(e.pending, oldest) end
end

if op == 'check' then
  if e['until'] > now then return {0, e['until'] - now, 0} end
  if #e.recent + #e.pending >= maxFailures then
    local frees = nil
    for _, x in ipairs(e.pending) do if frees == nil or x < frees then frees = x end end
    for _, x in ipairs(e.recent) do if frees == nil or x + windowMs < frees then frees = x + windowMs end end
    return {0, math.max(1, frees - now), 0}
  end
  e.pending[#e.pending + 1] = now + pendingMs
  save()
  return {1, 0, 0}
elseif op == 'fail' then
  takeSlot()
  e.failures = e.failures + 1
  e.last = now
  if e['until'] > now then
    save()
    return {0, e['until'] - now, 0}
  end
  e.recent[#e.recent + 1] = now
  if #e.recent < maxFailures then
    save()
    return {1, 0, 0}
  end
  e.level = e.level + 1
  e.locks = e.locks + 1
  e.recent = {}
  local lockMs = math.min(maxLockMs, baseLockMs * 2 ^ math.min(e.level - 1, 40))
  e['until'] = now + lockMs
  save()
  return {0, lockMs, 1}
elseif op == 'succeed' then
  redis.call('DEL', KEYS[1])
  local last = -1
  if e.failures > 0 then last = e.last end
  return {e.failures, e.locks, last}
elseif op == 'release' then
  takeSlot()
  save()
  return {}
elseif op == 'clear' then
  e.recent, e.pending, e.level, e['until'] = {}, {}, 0, 0
  save()
  return {}
end
return redis.error_reply('unknown lockout operation ' .. tostring(op))
`;

/**
 * Account lockout shared by every instance through Redis: each operation is one atomic script, so that
 * attempts on several instances count against one budget. While Redis is unreachable it falls back to a
 * per-instance lockout (which then holds per instance only) and says so once in the log.
 *
 * @example
 * const lockout = new RedisLockout({ redis, log, prefix: "chat:lockout:" });
 * if (!(await lockout.check(user.id)).ok) refuse();
 */
export class RedisLockout implements AccountLockout {
  readonly #redis: Redis;
  readonly #log: Logger;
  readonly #prefix: string;
  readonly #policyArgs: number[];
  readonly #fallback: AccountLockout;
  #degraded = false;

  constructor(options: RedisLockoutOptions) {
    const policy = lockoutPolicy(options.policy);
    this.#redis = options.redis;
    this.#log = options.log;
    this.#prefix = options.prefix;
    this.#policyArgs = [
      policy.maxFailures,
      policy.windowMs,
      policy.baseLockMs,
      policy.maxLockMs,
      policy.pendingMs,
      policy.reportMs,
    ];
    this.#fallback = options.fallback ?? new MemoryLockout(policy);
  }

  async check(accountId: string): Promise<LockoutDecision> {
    const reply = await this.#run("check", accountId);
    if (reply === null) return this.#fallback.check(accountId);
    return { ok: reply[0] === 1, retryAfterMs: reply[1] };
  }

  async fail(accountId: string): Promise<LockoutDecision & { lockedNow: boolean }> {
    const reply = await this.#run("fail", accountId);
    if (reply === null) return this.#fallback.fail(accountId);
    return { ok: reply[0] === 1, retryAfterMs: reply[1], lockedNow: reply[2] === 1 };
  }

  async succeed(accountId: string): Promise<LockoutReport> {
    const reply = await this.#run("succeed", accountId);
    if (reply === null) return this.#fallback.succeed(accountId);
    const [failures, locks, last] = reply;
    return { failures, locks, lastFailureAt: last >= 0 ? new Date(last).toISOString() : null };
  }

  async release(accountId: string): Promise<void> {
    if ((await this.#run("release", accountId)) === null) await this.#fallback.release(accountId);
  }

  async clear(accountId: string): Promise<void> {
    // A reset must clear the lock wherever it may be held: in Redis and in the fallback of this instance.
    await this.#fallback.clear(accountId);
    await this.#run("clear", accountId);
  }

  /** Runs the script; `null` when Redis cannot be reached (the caller then asks the fallback). */
  async #run(op: string, accountId: string): Promise<number[] | null> {
    try {
      const reply = await this.#redis.eval(SCRIPT, 1, this.#prefix + accountId, op, ...this.#policyArgs);
      this.#restored();
      return reply as number[];
    } catch (error) {
      this.#lost(error);
      return null;
    }
  }

  #restored(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#log.info("Shared account lockout restored");
  }

  #lost(error: unknown): void {
    if (this.#degraded) return;
    this.#degraded = true;
    this.#log.warn("Redis unavailable: account lockout holds per instance until it is back", { error });
  }
}

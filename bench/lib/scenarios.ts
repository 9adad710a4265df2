/**
 * The workloads (S1 idle capacity, S3 chat rooms, S4 big room, S5 cross-instance, S6 reconnect storm, S8 with
 * persistence on another store). Each takes a running deployment and a generator and returns plain numbers;
 * bench/run.ts decides which run, with which sizes, and writes the report.
 */
import { Generator, PER_WORKER, percentiles, type Stats } from "./generator.ts";
import { cpuOf, rssKiB, sleep } from "./procs.ts";
import type { Deployment, Member } from "./targets.ts";

/** Where the generator runs and how many processes it needs for `conns` connections. */
export interface GeneratorPlan {
  cpus?: string;
}

export function generatorFor(conns: number, plan: GeneratorPlan): Generator {
  return new Generator(Math.max(2, Math.ceil(conns / PER_WORKER)), plan.cpus);
}

export interface Latency {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

// ---- S1 ----

export interface IdleResult {
  sockets: number;
  opened: number;
  refused: Record<string, number>;
  connectPerSec: number;
  baselineKiB: number;
  rssKiB: number;
  /** RSS above the baseline per open socket. */
  kibPerSocket: number;
  /** Server CPU while idle, % of one core. */
  idleCpuPct: number;
  generatorCpuPct: number;
}

/** S1: `sockets` authenticated sockets held idle; memory per socket, connect rate, idle CPU. */
export async function idleCapacity(
  deployment: Deployment,
  plan: GeneratorPlan,
  sockets: number,
  idleSeconds: number,
): Promise<IdleResult> {
  const members: Member[] = Array.from(
    { length: sockets },
    () => ({ rooms: [] }),
  );
  const specs = await deployment.prepare(members, 20);
  const generator = generatorFor(sockets, plan);
  try {
    await sleep(1_000);
    const baselineKiB = deployment.pids.reduce((n, pid) => n + rssKiB(pid), 0);
    const genCpu = generator.cpu();
    const connected = await generator.connect(
      deployment.target.protocol,
      specs,
      50,
    );
    const genCpuPct = (generator.cpu() - genCpu) / (connected.ms / 1000) * 100;
    await sleep(1_000);
    const cpu0 = cpuOf(deployment.pids);
    await sleep(idleSeconds * 1000);
    const idleCpuPct = (cpuOf(deployment.pids) - cpu0) / idleSeconds * 100;
    const rss = deployment.pids.reduce((n, pid) => n + rssKiB(pid), 0);
    return {
      sockets,
      opened: connected.opened,
      refused: connected.errors,
      connectPerSec: connected.opened / (connected.ms / 1000),
      baselineKiB,
      rssKiB: rss,
      kibPerSocket: (rss - baselineKiB) / Math.max(1, connected.opened),
      idleCpuPct,
      generatorCpuPct: genCpuPct,
    };
  } finally {
    await generator.close().catch(() => {});
    await generator.exit();
  }
}

// ---- S3 / S5 / S8: rooms of 10 ----

export interface RateResult {
  /** Target deliveries per second (messages/s x room size). */
  rate: number;
  seconds: number;
  sent: number;
  expected: number;
  received: number;
  gaps: number;
  dups: number;
  closes: number;
  /** Error frames the server answered sends with, by code. */
  errors?: Record<string, number>;
  latency: Latency;
  serverCpuSec: number;
  deliveriesPerCpuSec: number;
  /** Generator CPU over the wall time, % of its core (near 100 means the generator was the limit). */
  generatorCpuPct: number;
  /** Every message reached every member and p99 stayed under 50 ms. */
  keptUp: boolean;
}

/** Waits until `expected` deliveries arrived, or nothing new came for `quietMs`; returns the last stats. */
async function drain(
  generator: Generator,
  expected: number,
  quietMs = 3_000,
  maxMs = 60_000,
): Promise<Stats> {
  const start = Date.now();
  let last = -1, lastChange = Date.now();
  for (;;) {
    const stats = await generator.stats();
    if (stats.received >= expected) return stats;
    if (stats.received !== last) {
      last = stats.received;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > quietMs || Date.now() - start > maxMs) {
      return stats;
    }
    await sleep(200);
  }
}

/**
 * S3: `conns` connections in rooms of `roomSize`, each room's members publishing in turn, open loop, at each of
 * `rates` deliveries per second for `seconds`.
 */
export async function rooms(
  deployment: Deployment,
  plan: GeneratorPlan,
  conns: number,
  rates: number[],
  seconds: number,
  roomSize = 10,
): Promise<RateResult[]> {
  const members: Member[] = Array.from(
    { length: conns },
    (_, i) => ({ rooms: [`r${Math.floor(i / roomSize)}`] }),
  );
  const specs = await deployment.prepare(members);
  const generator = generatorFor(conns, plan);
  const results: RateResult[] = [];
  try {
    const connected = await generator.connect(
      deployment.target.protocol,
      specs,
    );
    if (connected.failed > 0) {
      throw new Error(
        `S3: ${connected.failed} connections failed: ${JSON.stringify(connected.errors)}`,
      );
    }
    // Warm-up (JIT, caches), not measured.
    await generator.publish(Math.min(...rates) / roomSize, 1);
    await drain(generator, Infinity, 500, 3_000);
    for (const rate of rates) {
      await generator.stats({ reset: true });
      const cpu0 = cpuOf(deployment.pids),
        gen0 = generator.cpu(),
        t0 = performance.now();
      const { sent } = await generator.publish(rate / roomSize, seconds);
      const expected = sent * roomSize;
      const stats = await drain(generator, expected);
      const wall = (performance.now() - t0) / 1000;
      const serverCpuSec = cpuOf(deployment.pids) - cpu0;
      const latency = percentiles(stats.histogram);
      const result: RateResult = {
        rate,
        seconds,
        sent,
        expected,
        received: stats.received,
        gaps: stats.gaps,
        dups: stats.dups,
        closes: stats.unexpectedCloses,
        errors: stats.errors,
        latency,
        serverCpuSec,
        deliveriesPerCpuSec: stats.received / Math.max(0.01, serverCpuSec),
        generatorCpuPct: (generator.cpu() - gen0) / wall * 100,
        keptUp: stats.received === expected && latency.p99 <= 50,
      };
      results.push(result);
      if (stats.unexpectedCloses > 0 || stats.received < expected * 0.5) break; // far past its limit
    }
    return results;
  } finally {
    await generator.close().catch(() => {});
    await generator.exit();
  }
}

// ---- S4: one big room ----

export interface BigRoomResult {
  members: number;
  opened: number;
  connectSec: number;
  messages: number;
  /** Messages that reached every member. */
  complete: number;
  /** Time from publish to the last member, per message: median and worst. */
  lastRecipientP50: number;
  lastRecipientMax: number;
  latency: Latency;
  dups: number;
  gaps: number;
}

/** S4: `size` members in one room; one member publishes `messages` messages 200 ms apart. */
export async function bigRoom(
  deployment: Deployment,
  plan: GeneratorPlan,
  size: number,
  messages: number,
): Promise<BigRoomResult> {
  const members: Member[] = Array.from(
    { length: size },
    () => ({ rooms: ["big"] }),
  );
  const specs = await deployment.prepare(members);
  const generator = generatorFor(size, plan);
  try {
    const t0 = performance.now();
    const connected = await generator.connect(
      deployment.target.protocol,
      specs,
      50,
    );
    const connectSec = (performance.now() - t0) / 1000;
    // Let whatever the connects set off (presence) settle before measuring.
    await drain(generator, Infinity, 1_000, 30_000);
    await generator.stats({ reset: true, track: true });
    const { sent } = await generator.publishFrom(0, 5, messages / 5, [0]);
    const stats = await drain(generator, sent * connected.opened);
    const perMessage = [...(stats.perMessage ?? new Map()).values()];
    const lastTimes = perMessage.map(([, ms]) => ms).sort((a, b) => a - b);
    return {
      members: size,
      opened: connected.opened,
      connectSec,
      messages: sent,
      complete: perMessage.filter(([count]) => count === connected.opened).length,
      lastRecipientP50: lastTimes[Math.floor(lastTimes.length / 2)] ?? NaN,
      lastRecipientMax: lastTimes.at(-1) ?? NaN,
      latency: percentiles(stats.histogram),
      dups: stats.dups,
      gaps: stats.gaps,
    };
  } finally {
    await generator.stats({ track: false }).catch(() => {});
    await generator.close().catch(() => {});
    await generator.exit();
  }
}

// ---- S6: reconnect storm ----

export interface StormResult {
  conns: number;
  rate: number;
  /** From dropping every socket until the last one resumed (caught up with everything stored meanwhile). */
  allBackMs: number;
  reconnectFailures: number;
  received: number;
  gaps: number;
  dups: number;
  closes: number;
}

/**
 * S6 (ours): `conns` sockets in rooms of 10 while messages flow at `rate` deliveries/s; every socket is dropped
 * at once and reconnects within `jitterMs`, resuming from the last seq it holds. Gaps and repeats are counted
 * per room seq over the whole run, backfill included.
 */
export async function reconnectStorm(
  deployment: Deployment,
  plan: GeneratorPlan,
  conns: number,
  rate: number,
  jitterMs: number,
): Promise<StormResult> {
  const members: Member[] = Array.from(
    { length: conns },
    (_, i) => ({ rooms: [`s${Math.floor(i / 10)}`] }),
  );
  const specs = await deployment.prepare(members);
  const generator = generatorFor(conns, plan);
  try {
    const connected = await generator.connect(
      deployment.target.protocol,
      specs,
    );
    if (connected.failed > 0) {
      throw new Error(`S6: ${connected.failed} connections failed`);
    }
    await generator.stats({ reset: true, recording: false });
    const seconds = Math.ceil(jitterMs / 1000) + 6;
    const traffic = generator.publish(rate / 10, seconds);
    await sleep(2_000);
    const storm = await generator.storm(jitterMs);
    await traffic;
    const stats = await drain(generator, Infinity, 2_000, 30_000);
    return {
      conns,
      rate,
      allBackMs: storm.ms,
      reconnectFailures: storm.failures,
      received: stats.received,
      gaps: stats.gaps,
      dups: stats.dups,
      closes: stats.unexpectedCloses,
    };
  } finally {
    await generator.stats({ recording: true }).catch(() => {});
    await generator.close().catch(() => {});
    await generator.exit();
  }
}

// deno-lint-ignore-file no-console
/**
 * Runs the benchmarks side by side and writes the report.
 *
 *   deno task bench               the quick profile (under 5 minutes)
 *   deno task bench:full          everything, at full size (about 30 minutes)
 *   deno task bench --only=S1,S3 --targets=ours,bun    a subset
 *   deno task bench --report      rewrites the docs from the last results without measuring
 *
 * Servers run pinned to core 0 and the generator's processes to core 1 (`taskset`), on loopback. Results go to
 * bench/results/<profile>.json; the markdown tables are printed, written between markers in
 * docs/benchmarks.md, and the headline table and chart (docs/bench-latency.svg) into the README (full
 * profile, or the quick one when no full run exists).
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { output, type Proc } from "./lib/procs.ts";
import {
  bigRoom,
  type BigRoomResult,
  type GeneratorPlan,
  idleCapacity,
  type IdleResult,
  type RateResult,
  reconnectStorm,
  rooms,
  type StormResult,
} from "./lib/scenarios.ts";
import {
  deploy,
  ROOT,
  startFerretDb,
  startRedis,
  type Target,
  type TargetKey,
  TARGETS,
} from "./lib/targets.ts";
import { writeReport } from "./lib/report.ts";

export interface Profile {
  name: "quick" | "full";
  s1Sockets: number;
  s1IdleSeconds: number;
  s3Conns: number;
  s3Rates: number[];
  s3Seconds: number;
  s4Sizes: number[];
  s4Messages: number;
  s5Rates: number[];
  s6Conns: number;
  s6Rate: number;
  s8Conns: number;
  s8Rates: number[];
}

const PROFILES: Record<"quick" | "full", Profile> = {
  quick: {
    name: "quick",
    s1Sockets: 2_000,
    s1IdleSeconds: 3,
    s3Conns: 1_000,
    s3Rates: [2_000, 10_000],
    s3Seconds: 4,
    s4Sizes: [1_000],
    s4Messages: 10,
    s5Rates: [5_000],
    s6Conns: 1_000,
    s6Rate: 1_000,
    s8Conns: 500,
    s8Rates: [200],
  },
  full: {
    name: "full",
    s1Sockets: 19_000,
    s1IdleSeconds: 10,
    s3Conns: 2_000,
    s3Rates: [1_000, 5_000, 10_000, 20_000, 40_000, 80_000],
    s3Seconds: 10,
    s4Sizes: [5_000, 19_000],
    s4Messages: 20,
    s5Rates: [5_000, 10_000, 20_000],
    s6Conns: 5_000,
    s6Rate: 2_000,
    s8Conns: 1_000,
    s8Rates: [100, 200, 1_000],
  },
};

export interface Results {
  profile: Profile;
  date: string;
  machine: Record<string, string>;
  versions: Record<string, string>;
  pinning: string;
  command: string;
  s1: Partial<Record<TargetKey, IdleResult>>;
  s3: Partial<Record<TargetKey, RateResult[]>>;
  s4: Partial<Record<TargetKey, BigRoomResult[]>>;
  s5: Partial<
    Record<TargetKey, { rates: RateResult[]; bigRoom?: BigRoomResult }>
  >;
  s6: Partial<Record<TargetKey, StormResult>>;
  s8: Partial<Record<string, RateResult[]>>;
  errors: string[];
  /** Scenarios measured again later with --only, merged into these results. */
  reruns?: string[];
}

const SERVER_CPUS = "0";
const GENERATOR_CPUS = "1";

async function machineFacts(): Promise<Record<string, string>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  return {
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? "unknown",
    cores: String(navigator.hardwareConcurrency),
    memory: `${
      Math.round(
        Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1] ?? 0) / 1024 / 1024,
      )
    } GiB`,
    kernel: await output(["uname", "-r"]),
    "open files (hard limit)": await output(["bash", "-c", "ulimit -Hn"]),
  };
}

async function versions(): Promise<Record<string, string>> {
  const lock = JSON.parse(
    await Deno.readTextFile(join(ROOT, "bench", "package-lock.json")),
  );
  const pkg = (name: string) => lock.packages?.[`node_modules/${name}`]?.version ?? "?";
  return {
    deno: Deno.version.deno,
    node: await output(["node", "--version"]),
    bun: await output([
      join(ROOT, "bench", "node_modules", "bun", "bin", "bun.exe"),
      "--version",
    ]),
    "socket.io": pkg("socket.io"),
    "@socket.io/redis-adapter": pkg("@socket.io/redis-adapter"),
    ws: pkg("ws"),
    redis: (await output(["redis-server", "--version"])).split(" ")[2]?.replace(
      "v=",
      "",
    ) ?? "?",
    ferretdb: (await output(["ferretdb", "--version"])).split("\n")[0]?.replace(
      "version: ",
      "",
    ) ?? "?",
  };
}

async function ensureNodeModules(): Promise<void> {
  try {
    await Deno.stat(join(ROOT, "bench", "node_modules", "ws"));
    await Deno.stat(join(ROOT, "bench", "node_modules", "socket.io"));
  } catch {
    console.log("Installing bench/node_modules (npm ci)...");
    const status = await new Deno.Command("npm", {
      args: ["ci", "--no-audit", "--no-fund"],
      cwd: join(ROOT, "bench"),
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!status.success) throw new Error("npm ci failed in bench/");
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      full: { type: "boolean", default: false },
      only: { type: "string" },
      targets: { type: "string" },
      report: { type: "boolean", default: false },
    },
  });
  const profile = PROFILES[values.full ? "full" : "quick"];
  const resultsFile = join(ROOT, "bench", "results", `${profile.name}.json`);
  if (values.report) {
    await writeReport(ROOT);
    return;
  }
  await ensureNodeModules();
  const only = new Set(
    (values.only ?? "S1,S3,S4,S5,S6,S8").toUpperCase().split(","),
  );
  const keys = (values.targets ?? "ours,socketio,ws,deno,bun").split(
    ",",
  ) as TargetKey[];
  const targets = keys.map((k) => {
    if (!(k in TARGETS)) {
      throw new Error(
        `Unknown target "${k}"; known: ${Object.keys(TARGETS).join(", ")}`,
      );
    }
    return TARGETS[k];
  });
  const plan: GeneratorPlan = { cpus: GENERATOR_CPUS };
  const started = performance.now();
  const results: Results = {
    profile,
    date: new Date().toISOString(),
    machine: await machineFacts(),
    versions: await versions(),
    pinning:
      `servers, Redis and FerretDB: taskset -c ${SERVER_CPUS}; generator processes: taskset -c ${GENERATOR_CPUS}`,
    command: `deno task ${profile.name === "full" ? "bench:full" : "bench"}${
      values.only ? ` --only=${values.only}` : ""
    }${values.targets ? ` --targets=${values.targets}` : ""}`,
    s1: {},
    s3: {},
    s4: {},
    s5: {},
    s6: {},
    s8: {},
    errors: [],
  };
  // With --only, the other scenarios' results of the last run of this profile are kept.
  const previous: Results | null = values.only === undefined ? null : await Deno.readTextFile(resultsFile)
    .then((text) => JSON.parse(text) as Results).catch(() => null);
  if (previous !== null) {
    const rerun = `${[...only].join(",")} at ${results.date}`;
    Object.assign(results, {
      ...previous,
      profile,
      errors: [],
      reruns: [...(previous.reruns ?? []), rerun],
    });
    // Only the re-measured targets' entries are replaced (S8's are ours, by store).
    for (const key of ["s1", "s3", "s4", "s5", "s6", "s8"] as const) {
      if (!only.has(key.toUpperCase())) continue;
      const entries = results[key] as Record<string, unknown>;
      for (const k of key === "s8" ? ["sqlite", "mongodb"] : keys) {
        delete entries[k];
      }
    }
  }
  await Deno.mkdir(join(ROOT, "bench", "results"), { recursive: true });
  const save = () => Deno.writeTextFile(resultsFile, JSON.stringify(results, null, 2) + "\n");
  const step = async (what: string, fn: () => Promise<void>) => {
    const t0 = performance.now();
    console.log(`- ${what}...`);
    try {
      await fn();
      console.log(
        `  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    } catch (error) {
      const message = `${what}: ${error instanceof Error ? error.message : String(error)}`;
      console.log(`  FAILED: ${message}`);
      results.errors.push(message);
    }
    await save();
  };

  for (const target of targets) {
    for (const scenario of ["S1", "S3", "S4"]) {
      if (!only.has(scenario)) continue;
      await step(
        `${scenario} ${target.name}`,
        () =>
          withDeployment(target, {}, async (d) => {
            if (scenario === "S1") {
              results.s1[target.key] = await idleCapacity(
                d,
                plan,
                profile.s1Sockets,
                profile.s1IdleSeconds,
              );
            } else if (scenario === "S3") {
              results.s3[target.key] = await rooms(
                d,
                plan,
                profile.s3Conns,
                profile.s3Rates,
                profile.s3Seconds,
              );
            } else {
              const list: BigRoomResult[] = [];
              for (const size of profile.s4Sizes) {
                list.push(await bigRoom(d, plan, size, profile.s4Messages));
              }
              results.s4[target.key] = list;
            }
          }),
      );
    }
  }
  if (only.has("S5")) {
    for (const target of targets.filter((t) => t.scalesOut)) {
      await step(
        `S5 ${target.name} x2 + Redis`,
        () =>
          withDeployment(target, { instances: 2, redis: true }, async (d) => {
            const rates = await rooms(
              d,
              plan,
              profile.s3Conns,
              profile.s5Rates,
              profile.s3Seconds,
            );
            const big = await bigRoom(
              d,
              plan,
              profile.s4Sizes[0],
              profile.s4Messages,
            );
            results.s5[target.key] = { rates, bigRoom: big };
          }),
      );
    }
  }
  if (only.has("S6") && keys.includes("ours")) {
    await step(
      "S6 ours: reconnect storm",
      () =>
        withDeployment(TARGETS.ours, {}, async (d) => {
          results.s6.ours = await reconnectStorm(
            d,
            plan,
            profile.s6Conns,
            profile.s6Rate,
            1_000,
          );
        }),
    );
  }
  if (only.has("S8") && keys.includes("ours")) {
    await step(
      "S8 ours on SQLite",
      () =>
        withDeployment(TARGETS.ours, {}, async (d) => {
          results.s8.sqlite = await rooms(
            d,
            plan,
            profile.s8Conns,
            profile.s8Rates,
            profile.s3Seconds,
          );
        }),
    );
    await step(
      "S8 ours on MongoDB wire (FerretDB)",
      () =>
        withDeployment(TARGETS.ours, { ferret: true }, async (d) => {
          results.s8.mongodb = await rooms(
            d,
            plan,
            profile.s8Conns,
            profile.s8Rates,
            profile.s3Seconds,
          );
        }),
    );
  }

  await save();
  const markdown = await writeReport(ROOT);
  console.log("\n" + markdown);
  console.log(
    `Finished in ${((performance.now() - started) / 60_000).toFixed(1)} min; results in ${resultsFile}`,
  );
  if (results.errors.length > 0) {
    console.log(
      `${results.errors.length} step(s) failed:\n${results.errors.join("\n")}`,
    );
    Deno.exitCode = 1;
  }
}

/** Starts `target` (with Redis / FerretDB when asked), runs `fn`, and stops everything. */
async function withDeployment(
  target: Target,
  options: { instances?: number; redis?: boolean; ferret?: boolean },
  fn: (d: Awaited<ReturnType<typeof deploy>>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
  const extra: Proc[] = [];
  try {
    const redis = options.redis ? await startRedis(SERVER_CPUS) : undefined;
    if (redis) extra.push(redis.proc);
    const ferret = options.ferret ? await startFerretDb(dir, SERVER_CPUS) : undefined;
    if (ferret) extra.push(ferret.proc);
    const d = await deploy(target, {
      dir,
      cpus: SERVER_CPUS,
      instances: options.instances,
      redisUrl: redis?.url,
      databaseUrl: ferret?.url,
    });
    try {
      await fn(d);
    } finally {
      await d.stop();
    }
  } finally {
    await Promise.all(extra.map((p) => p.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();

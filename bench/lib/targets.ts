/**
 * The servers measured side by side: ours (main.ts) and the peers in bench/peers/. Each starts pinned to the
 * server core, as one instance or as two behind one Redis, and turns a list of connections (each with its
 * rooms) into URLs its protocol understands; for ours that means users registered and logged in over REST and
 * rooms created and joined, as a real client would.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ConnSpec, Protocol } from "./generator.ts";
import { freePort, type Proc, startProc } from "./procs.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BENCH = join(ROOT, "bench");

export type TargetKey = "ours" | "socketio" | "ws" | "deno" | "bun";

export interface Target {
  key: TargetKey;
  /** The name in tables. */
  name: string;
  protocol: Protocol;
  /** Whether it can run as several instances sharing rooms (over Redis). */
  scalesOut: boolean;
}

export const TARGETS: Record<TargetKey, Target> = {
  ours: {
    key: "ours",
    name: "ours (Deno, SQLite)",
    protocol: "ours",
    scalesOut: true,
  },
  socketio: {
    key: "socketio",
    name: "Socket.IO 4 (Node)",
    protocol: "socketio",
    scalesOut: true,
  },
  ws: { key: "ws", name: "Node + ws", protocol: "plain", scalesOut: false },
  deno: {
    key: "deno",
    name: "naive Deno hub",
    protocol: "plain",
    scalesOut: false,
  },
  bun: {
    key: "bun",
    name: "Bun server.publish",
    protocol: "plain",
    scalesOut: false,
  },
};

export interface DeployOptions {
  instances?: number;
  /** Required for two instances. */
  redisUrl?: string;
  /** For ours: `sqlite:<file>` (default, in `dir`) or `mongodb://...`. */
  databaseUrl?: string;
  /** A scratch directory for this deployment. */
  dir: string;
  /** CPU list the server processes are pinned to. */
  cpus?: string;
}

/** One connection to prepare: its rooms (by name; all connections naming a room share it). */
export interface Member {
  rooms: string[];
}

export interface Deployment {
  target: Target;
  procs: Proc[];
  pids: number[];
  /**
   * Connection specs for `members` (connection i goes to instance i % instances). With `socketsPerUser` > 1,
   * ours logs in fewer users and gives each several sockets (members of one user must name the same rooms).
   */
  prepare(members: Member[], socketsPerUser?: number): Promise<ConnSpec[]>;
  stop(): Promise<void>;
}

export function bunBinary(): string {
  return join(BENCH, "node_modules", "bun", "bin", "bun.exe");
}

export const OURS_ENV: Record<string, string> = {
  APP_ENV: "production",
  LOG_LEVEL: "warn",
  JWT_SECRET: "bench-secret-bench-secret-bench-secret-0123456789",
  BCRYPT_COST: "4",
  // Rate limits off: the generator is one IP and publishes faster than a person would.
  RATE_LIMIT_PER_SEC: "1000000",
  RATE_LIMIT_BURST: "1000000",
  AUTH_RATE_LIMIT_PER_MIN: "100000000",
  AUTH_RATE_LIMIT_BURST: "1000000",
  // Per-user caps off too: a scenario's users hold many sockets and make rooms and DMs in bursts.
  MAX_SOCKETS_PER_USER: "1000000",
  ROOMS_PER_USER_PER_HOUR: "1000000",
  DMS_PER_USER_PER_HOUR: "1000000",
  // Each generator worker opens thousands of sockets from one address.
  MAX_CONNECTIONS_PER_IP: "0",
};

export async function deploy(
  target: Target,
  options: DeployOptions,
): Promise<Deployment> {
  const instances = options.instances ?? 1;
  if (instances > 1 && options.redisUrl === undefined) {
    throw new Error("two instances need Redis");
  }
  const ports = Array.from({ length: instances }, () => freePort());
  const procs: Proc[] = [];
  try {
    for (const [i, port] of ports.entries()) {
      procs.push(await startOne(target, options, port, i));
    }
  } catch (error) {
    await Promise.all(procs.map((p) => p.stop()));
    throw error;
  }
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
  };
  const base = { target, procs, pids: procs.map((p) => p.pid), stop };
  if (target.key === "ours") {
    return {
      ...base,
      prepare: (m, s) => prepareOurs(ports, m, s),
    };
  }
  return {
    ...base,
    prepare(members) {
      return Promise.resolve(members.map((m, i) => {
        const port = ports[i % ports.length];
        const rooms = encodeURIComponent(m.rooms.join(","));
        const url = target.protocol === "socketio"
          ? `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket&rooms=${rooms}`
          : `ws://127.0.0.1:${port}/ws?rooms=${rooms}`;
        return { url, rooms: m.rooms };
      }));
    },
  };
}

function startOne(
  target: Target,
  options: DeployOptions,
  port: number,
  index: number,
): Promise<Proc> {
  const common = {
    cpus: options.cpus,
    timeoutMs: 120_000,
    name: `${target.key}#${index}`,
  };
  const env = { PORT: String(port), HOST: "127.0.0.1" };
  switch (target.key) {
    case "ours":
      return startProc({
        ...common,
        // BENCH_DENO_FLAGS adds flags, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a run.
        cmd: [
          Deno.execPath(),
          "run",
          "-A",
          "--unstable-bundle",
          ...(Deno.env.get("BENCH_DENO_FLAGS")?.split(" ").filter(Boolean) ??
            []),
          // BENCH_OURS_MAIN runs another entry point (e.g. one that imports main.ts and logs memory).
          Deno.env.get("BENCH_OURS_MAIN") ?? "main.ts",
        ],
        cwd: ROOT,
        env: {
          ...OURS_ENV,
          ...env,
          INSTANCE_ID: `bench-${index}`,
          DATABASE_URL: options.databaseUrl ??
            `sqlite:${join(options.dir, "chat.db")}`,
          ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
        },
        readyUrl: `http://127.0.0.1:${port}/api/health`,
      });
    default:
      // The peers: their command line, the same health URL, and REDIS_URL for those that scale out.
      return startProc({
        ...common,
        cmd: PEER_COMMANDS[target.key](),
        env: {
          ...env,
          ...(target.scalesOut && options.redisUrl !== undefined ? { REDIS_URL: options.redisUrl } : {}),
        },
        readyUrl: `http://127.0.0.1:${port}/health`,
      });
  }
}

/** How each peer server starts. */
const PEER_COMMANDS: Record<Exclude<TargetKey, "ours">, () => string[]> = {
  socketio: () => ["node", join(BENCH, "peers", "socketio_server.mjs")],
  ws: () => ["node", join(BENCH, "peers", "ws_server.mjs")],
  deno: () => [Deno.execPath(), "run", "-A", join(BENCH, "peers", "naive_deno.ts")],
  bun: () => [bunBinary(), join(BENCH, "peers", "bun_server.mjs")],
};

/** Starts a Redis server pinned to `cpus` (no persistence). */
export async function startRedis(
  cpus?: string,
): Promise<{ url: string; proc: Proc }> {
  const port = freePort();
  const proc = await startProc({
    name: "redis",
    cmd: [
      "redis-server",
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
    ],
    cpus,
    readyLine: /Ready to accept connections/,
  });
  return { url: `redis://127.0.0.1:${port}`, proc };
}

/** Starts FerretDB (the MongoDB wire protocol on SQLite files in `dir`) pinned to `cpus`. */
export async function startFerretDb(
  dir: string,
  cpus?: string,
): Promise<{ url: string; proc: Proc }> {
  const port = freePort();
  await Deno.mkdir(join(dir, "ferretdb"), { recursive: true });
  const proc = await startProc({
    name: "ferretdb",
    cmd: [
      "ferretdb",
      "--handler=sqlite",
      `--sqlite-url=file:${join(dir, "ferretdb")}/`,
      `--state-dir=${join(dir, "ferretdb")}`,
      `--listen-addr=127.0.0.1:${port}`,
      "--debug-addr=-",
      "--telemetry=disable",
      "--log-level=error",
    ],
    cpus,
    readyPort: port,
    timeoutMs: 20_000,
  });
  return { url: `mongodb://127.0.0.1:${port}/bench`, proc };
}

// ---- ours: users, tokens and rooms over the REST API ----

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
) {
  for (let attempt = 0;; attempt++) {
    const res = await fetch(base + path, {
      method,
      headers: {
        "content-type": "application/json",
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (res.ok) return json;
    if (res.status >= 500 && attempt < 3) continue;
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  }
}

/** Runs `task` for 0..count-1 with `limit` at a time. */
async function parallel(
  count: number,
  limit: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) await task(next++);
  }));
}

let userSerial = 0;

async function prepareOurs(
  ports: number[],
  members: Member[],
  socketsPerUser = 1,
): Promise<ConnSpec[]> {
  const base = `http://127.0.0.1:${ports[0]}`;
  const users = Math.ceil(members.length / socketsPerUser);
  const userOf = (i: number) => i % users;
  const tokens: string[] = new Array(users);
  const ids: string[] = new Array(users);
  const run = `${Date.now().toString(36)}${userSerial++}`;
  await parallel(users, 16, async (u) => {
    const name = `b${run}_${u}`;
    const email = `${name}@bench.test`;
    const password = "bench-password";
    const user = await call(base, "POST", "/api/auth/register", {
      username: name,
      email,
      password,
    });
    const login = await call(base, "POST", "/api/auth/login", {
      email,
      password,
    });
    tokens[u] = login.token;
    ids[u] = user.id;
  });
  // Each room is created by its first member's user; the others join it.
  const roomIds = new Map<string, string>();
  const membersOf = new Map<string, Set<number>>();
  members.forEach((m, i) => {
    for (const room of m.rooms) {
      if (!membersOf.has(room)) membersOf.set(room, new Set());
      membersOf.get(room)!.add(userOf(i));
    }
  });
  const rooms = [...membersOf.keys()];
  await parallel(rooms.length, 16, async (r) => {
    const owner = membersOf.get(rooms[r])!.values().next().value!;
    const room = await call(base, "POST", "/api/rooms", {
      name: `bench ${rooms[r]}`,
    }, tokens[owner]);
    roomIds.set(rooms[r], room.id);
  });
  const joins = rooms.flatMap((room) => [...membersOf.get(room)!].slice(1).map((u) => ({ room, u })));
  await parallel(joins.length, 16, async (j) => {
    const { room, u } = joins[j];
    await call(
      base,
      "POST",
      `/api/rooms/${roomIds.get(room)}/join`,
      undefined,
      tokens[u],
    );
  });
  return members.map((m, i) => ({
    url: `ws://127.0.0.1:${ports[i % ports.length]}/ws?token=${tokens[userOf(i)]}`,
    rooms: m.rooms.map((room) => roomIds.get(room)!),
  }));
}

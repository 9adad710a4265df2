/** Runs a real, throwaway FerretDB v1 (a MongoDB-wire server on SQLite) on a free loopback port for tests. */

import { accepts, type Process, retryOnPortInUse, spawnUntilReady } from "./port_process.ts";
import { freePort } from "./redis.ts";

export interface FerretDbServer {
  /** `mongodb://127.0.0.1:<port>/` (add a database name to the path). */
  url: string;
  port: number;
  /** The temporary directory holding the SQLite files and FerretDB's state. */
  dir: string;
  /** SIGTERM, waits for the exit, then removes `dir`: call it last (in `finally`), also after `kill()`. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: clients see their connections drop), then waits for the exit; the data stays. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and directory (after `kill()`), resolving once it accepts. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/**
 * The FerretDB binary: `$FERRETDB_BIN`, else `ferretdb` on PATH, else `/usr/local/bin/ferretdb` (where
 * `scripts/services.sh` installs it), else `/tmp/fdb/ferretdb`. Throws when none exists.
 */
export function ferretDbBinary(): string {
  const fromEnv = Deno.env.get("FERRETDB_BIN");
  if (fromEnv) return fromEnv;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isFile(`${dir}/ferretdb`)) return `${dir}/ferretdb`;
  }
  for (const path of ["/usr/local/bin/ferretdb", "/tmp/fdb/ferretdb"]) {
    if (isFile(path)) return path;
  }
  throw new Error("ferretdb not found: run scripts/services.sh");
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Spawns FerretDB with its SQLite backend in a fresh temporary directory and resolves once it accepts
 * connections. Fails (never skips) when FerretDB is not installed.
 *
 * @example
 * const ferret = await startFerretDb();
 * try {
 *   const store = await MongoStore.open({ url: `${ferret.url}chat` });
 *   // ...
 * } finally {
 *   await ferret.stop();
 * }
 */
export async function startFerretDb(): Promise<FerretDbServer> {
  const binary = ferretDbBinary();
  const dir = await Deno.makeTempDir({ prefix: "ferretdb_" });
  try {
    // Another process may take the port between freePort() and FerretDB's bind: then try another.
    return await retryOnPortInUse(() => serve(binary, freePort(), dir), 3);
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

async function serve(binary: string, port: number, dir: string): Promise<FerretDbServer> {
  let process: Process | undefined = await spawn(binary, port, dir);
  const exit = async (signal: Deno.Signal) => {
    if (!process) return;
    try {
      process.child.kill(signal);
    } catch {
      // Already exited.
    }
    await process.done;
    process = undefined;
  };
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    port,
    dir,
    async stop() {
      await exit("SIGTERM");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    kill: () => exit("SIGKILL"),
    async restart() {
      await exit("SIGKILL");
      await Deno.mkdir(dir, { recursive: true });
      // The port was ours a moment ago, but a client's reconnect attempt cannot hold it: retry only briefly.
      process = await retryOnPortInUse(() => spawn(binary, port, dir), 5, 100);
    },
  };
}

/** Starts FerretDB on `port` and resolves once it accepts connections; on failure the process is gone. */
async function spawn(binary: string, port: number, dir: string): Promise<Process> {
  return await spawnUntilReady(
    "ferretdb",
    binary,
    [
      "--handler=sqlite",
      `--sqlite-url=file:${dir}/`,
      `--state-dir=${dir}`,
      `--listen-addr=127.0.0.1:${port}`,
      "--debug-addr=-",
      "--telemetry=disable",
      "--log-level=error",
    ],
    port,
    () => accepts(port),
    READY_TIMEOUT_MS,
  );
}

/** Runs `main.ts` as a real child process, the way an operator starts it. */
import { TEST_ENV } from "./server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export interface ServerProcess {
  port: number;
  url: string;
  child: Deno.ChildProcess;
  /** Every log line printed so far, parsed. */
  logs: Record<string, unknown>[];
  /** Sends `signal` and resolves with the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

export interface SpawnOptions {
  /** Runs the server under `prlimit --nofile=N:N`: at most N open files (soft and hard limit). */
  openFiles?: number;
}

/** Starts `deno run -A main.ts` on a free port and resolves once it logs "Listening". */
export async function spawnServer(
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  const deno = [Deno.execPath(), "run", "-A", "--unstable-bundle", MAIN];
  // prlimit sets the limit and then execs deno, so `child` is the server itself (signals reach it).
  const argv = options.openFiles === undefined
    ? deno
    : ["prlimit", `--nofile=${options.openFiles}:${options.openFiles}`, "--", ...deno];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { ...TEST_ENV, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const logs: Record<string, unknown>[] = [];
  const { promise: listening, resolve, reject } = Promise.withResolvers<number>();
  (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          const entry = JSON.parse(line);
          logs.push(entry);
          if (entry.msg === "Listening") resolve(entry.port);
        } catch {
          logs.push({ raw: line });
        }
      }
    }
    reject(new Error(`Server exited before listening: ${JSON.stringify(logs)}`));
  })();
  const timer = setTimeout(() => reject(new Error("Server did not start within 30 s")), 30_000);
  try {
    const port = await listening;
    return {
      port,
      url: `http://127.0.0.1:${port}`,
      child,
      logs,
      async stop(signal: Deno.Signal = "SIGTERM") {
        try {
          child.kill(signal);
        } catch {
          // Already gone.
        }
        return await child.status;
      },
    };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

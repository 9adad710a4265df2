/** What the test helpers that run a server process on a loopback port (Redis, FerretDB, Mailpit) share. */

/** The server could not bind its port (another process took it first). */
export class PortInUseError extends Error {}

/** A spawned server process. */
export interface Process {
  child: Deno.ChildProcess;
  /** Settles once the process has exited and its output is read to the end. */
  done: Promise<void>;
}

/** The error for a server that exited before it was ready: `PortInUseError` when its output says so. */
export function exitError(name: string, port: number, output: string): Error {
  if (/address already in use/i.test(output)) return new PortInUseError(`Port ${port} is in use`);
  return new Error(`${name} exited before it was ready:\n${output}`);
}

/**
 * Runs `start` until it does not fail with `PortInUseError`, at most `attempts` times, waiting a little longer
 * each time when `backoffMs` is given (a port that was ours a moment ago may be held briefly by a client).
 */
export async function retryOnPortInUse<T>(
  start: () => Promise<T>,
  attempts: number,
  backoffMs = 0,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof PortInUseError) || attempt === attempts) throw error;
      if (backoffMs > 0) await new Promise((resolve) => setTimeout(resolve, backoffMs * attempt));
    }
  }
}

/**
 * Spawns `binary` with both pipes read to the end (so it never blocks on a full pipe) and resolves once
 * `ready()` says so and the process still runs a moment later (another process that held the port would answer
 * too). On failure the process is killed and gone: the error is `exitError()`'s when it exited, or a timeout.
 */
export async function spawnUntilReady(
  name: string,
  binary: string,
  args: string[],
  port: number,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<Process> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(binary, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${name} not found: run scripts/services.sh`, { cause: error });
    }
    throw error;
  }
  let output = "";
  let exited = false;
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const done = Promise.all([read(child.stdout), read(child.stderr), child.status]).then(() => {
    exited = true;
  });
  try {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      if (exited) throw exitError(name, port, output);
      if (Date.now() > deadline) throw new Error(`${name} not ready within ${timeoutMs} ms\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (exited) throw exitError(name, port, output);
    return { child, done };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await done.catch(() => {});
    throw error;
  }
}

/** Whether something accepts TCP connections on the loopback `port`. */
export async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

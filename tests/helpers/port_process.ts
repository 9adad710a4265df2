/** What the test helpers that run a server process on a loopback port (Redis, FerretDB) share. */

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

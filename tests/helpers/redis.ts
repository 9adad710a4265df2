/** Runs a real, throwaway `redis-server` on a free loopback port (no persistence) for tests. */

import { exitError, PortInUseError, type Process, retryOnPortInUse } from "./port_process.ts";

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** SIGTERM, then waits for the exit; does nothing when already stopped. */
  stop(): Promise<void>;
  /** SIGKILL (a crash: clients see their connections drop), then waits for the exit. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (after `stop()` or `kill()`), resolving once it is ready. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;

/**
 * Spawns `redis-server` and resolves once it logs "Ready to accept connections". Fails (never skips) when
 * `redis-server` is not installed.
 *
 * @example
 * const redis = await startRedis();
 * try {
 *   // ... new RedisBus({ url: redis.url, log })
 * } finally {
 *   await redis.stop();
 * }
 */
export async function startRedis(): Promise<RedisServer> {
  // Another process may take the port between freePort() and redis-server's bind: then try another.
  return await retryOnPortInUse(() => serve(freePort()), 3);
}

async function serve(port: number): Promise<RedisServer> {
  let process = await spawn(port);
  const exit = async (signal: Deno.Signal) => {
    try {
      process.child.kill(signal);
    } catch {
      // Already exited.
    }
    await process.done;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => exit("SIGTERM"),
    kill: () => exit("SIGKILL"),
    async restart() {
      await exit("SIGKILL");
      // The port was ours a moment ago, but a client's reconnect attempt cannot hold it: retry only briefly.
      process = await retryOnPortInUse(() => spawn(port), 5, 100);
    },
  };
}

/** Starts redis-server on `port` and resolves once it is ready; on failure the process is gone. */
async function spawn(port: number): Promise<Process> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("redis-server", {
      args: ["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", String(port)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("redis-server not found: run scripts/services.sh", { cause: error });
    }
    throw error;
  }

  let output = "";
  const { promise: ready, resolve, reject } = Promise.withResolvers<void>();
  // Both pipes are read to the end, also after "ready", so redis-server never blocks on a full pipe.
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      if (output.includes("Ready to accept connections")) resolve();
    }
  };
  const done = Promise.all([read(child.stdout), read(child.stderr), child.status]).then(() => {});
  done.then(() => reject(exitError("redis-server", port, output)), reject);
  const timer = setTimeout(
    () => reject(new Error(`redis-server not ready within ${READY_TIMEOUT_MS} ms`)),
    READY_TIMEOUT_MS,
  );
  try {
    await ready;
    return { child, done };
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await done.catch(() => {});
    throw error instanceof PortInUseError ? error : new Error(`${(error as Error).message}\n${output}`);
  } finally {
    clearTimeout(timer);
  }
}

/** A loopback port nobody listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * A TCP proxy in front of a Redis server that can silently stop passing replies on chosen connections, or all
 * traffic (`freeze()`).
 */
export interface MuteProxy {
  /** `redis://127.0.0.1:<proxy port>` */
  url: string;
  /**
   * From now on drops everything the server sends on the open connections whose client has sent `marker`
   * (e.g. a connection name given with CLIENT SETNAME). The connections stay open. Returns how many it muted.
   */
  mute(marker: string): number;
  /**
   * From now on passes nothing either way on any connection, open or new, and closes none: a link that went
   * silent. Held bytes go on after `thaw()`.
   */
  freeze(): void;
  thaw(): void;
  /** Closes the listener and every connection, and waits until all is released. */
  close(): Promise<void>;
}

interface Link {
  client: Deno.TcpConn;
  server: Deno.TcpConn;
  /** The first bytes the client sent, to find a connection by its name. */
  sent: string;
  muted: boolean;
}

/** Starts a `MuteProxy` on a free loopback port in front of `127.0.0.1:port`. */
export function startMuteProxy(port: number): MuteProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const links = new Set<Link>();
  const tasks = new Set<Promise<void>>();
  const track = (task: Promise<void>) => {
    tasks.add(task);
    task.finally(() => tasks.delete(task));
  };
  const closeLink = (link: Link) => {
    if (!links.delete(link)) return;
    for (const conn of [link.client, link.server]) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  let thawed: PromiseWithResolvers<void> | undefined;
  const pump = async (link: Link, from: Deno.TcpConn, to: Deno.TcpConn, upstream: boolean) => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of from.readable) {
        while (thawed !== undefined) await thawed.promise;
        if (upstream && link.sent.length < 4096) link.sent += decoder.decode(chunk, { stream: true });
        if (!upstream && link.muted) continue;
        let written = 0;
        while (written < chunk.length) written += await to.write(chunk.subarray(written));
      }
    } catch {
      // Either side went away.
    } finally {
      closeLink(link);
    }
  };
  track(
    (async () => {
      for await (const client of listener) {
        let server: Deno.TcpConn;
        try {
          server = await Deno.connect({ hostname: "127.0.0.1", port });
        } catch {
          client.close();
          continue;
        }
        const link: Link = { client, server, sent: "", muted: false };
        links.add(link);
        track(pump(link, client, server, true));
        track(pump(link, server, client, false));
      }
    })().catch(() => {}),
  );
  return {
    url: `redis://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    mute(marker) {
      let count = 0;
      for (const link of links) {
        if (link.sent.includes(marker)) {
          link.muted = true;
          count++;
        }
      }
      return count;
    },
    freeze() {
      thawed ??= Promise.withResolvers<void>();
    },
    thaw() {
      thawed?.resolve();
      thawed = undefined;
    },
    async close() {
      thawed?.resolve();
      thawed = undefined;
      listener.close();
      for (const link of [...links]) closeLink(link);
      while (tasks.size > 0) await Promise.allSettled([...tasks]);
    },
  };
}

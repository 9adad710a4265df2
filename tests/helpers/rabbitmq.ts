/**
 * RabbitMQ for tests: the broker is a running service (`scripts/services.sh` installs and starts it), shared by
 * every test; each test isolates itself with a random name prefix and deletes its queues and exchanges after.
 *
 * A broker that cannot be reached fails the test (never skips), as with Redis and FerretDB: CI must not pass a
 * suite that did not run.
 */

import { connect } from "amqplib";
import { amqpNames } from "../../lib/commands/amqp_queue.ts";

export const DEFAULT_TEST_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";

/** `$TEST_AMQP_URL`, else the local broker `amqp://guest:guest@127.0.0.1:5672`. */
export function amqpTestUrl(): string {
  return Deno.env.get("TEST_AMQP_URL")?.trim() || DEFAULT_TEST_AMQP_URL;
}

/** A fresh name prefix for one test's exchanges and queues, e.g. `test_1a2b3c4d5e6f`. */
export function randomPrefix(): string {
  return `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** `url` with its password hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

/**
 * Resolves once a connection to `url` opens (then closes it); throws a clear error naming the broker and the
 * fix otherwise.
 */
export async function requireRabbitMq(url: string = amqpTestUrl()): Promise<void> {
  let connection;
  try {
    connection = await connect(url, { timeout: 5_000 });
  } catch (error) {
    throw new Error(
      `RabbitMQ is not reachable at ${redactUrl(url)} (${error instanceof Error ? error.message : error}): ` +
        "run scripts/services.sh (or set TEST_AMQP_URL)",
      { cause: error },
    );
  }
  connection.on("error", () => {});
  await connection.close();
}

/** Deletes the exchanges and queues `AmqpQueue` declares for `prefix` (the job queues of `commands`). */
export async function deleteTopology(
  url: string,
  prefix: string,
  commands: readonly string[],
): Promise<void> {
  const names = amqpNames(prefix);
  const connection = await connect(url, { timeout: 5_000 });
  connection.on("error", () => {});
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    // deleteQueue/deleteExchange succeed when the thing does not exist.
    for (const command of commands) await channel.deleteQueue(names.jobQueue(command));
    await channel.deleteQueue(names.deadQueue);
    await channel.deleteQueue(names.answersQueue);
    await channel.deleteExchange(names.commandsExchange);
    await channel.deleteExchange(names.deadExchange);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/**
 * Has RabbitMQ close (CONNECTION_FORCED, as when it shuts down) every connection whose client properties
 * contain `connectionName`, with `rabbitmqctl` (so only for a broker on this machine). Returns how many.
 */
export async function forceCloseConnections(connectionName: string): Promise<number> {
  const list = await rabbitmqctl([
    "list_connections",
    "pid",
    "client_properties",
    "-q",
    "--no-table-headers",
  ]);
  const pids = list.split("\n").filter((line) => line.includes(connectionName)).map((line) =>
    line.split("\t")[0]
  );
  for (const pid of pids) await rabbitmqctl(["close_connection", pid, "closed by a test"]);
  return pids.length;
}

/** Runs `rabbitmqctl` (on this machine's broker) and returns its output; throws when it fails. */
export async function rabbitmqctl(args: string[]): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("rabbitmqctl", { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("rabbitmqctl not found: run scripts/services.sh", { cause: error });
    }
    throw error;
  }
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(`rabbitmqctl ${args[0]} failed: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

/** A TCP proxy in front of a broker that can cut its connections and refuse new ones, like a network outage. */
export interface DropProxy {
  /** The broker URL with the proxy's host and port. */
  url: string;
  /** Closes every open connection (clients see them drop). Returns how many. */
  drop(): number;
  /** While down, a new connection is closed as soon as it is accepted. */
  down: boolean;
  /** Closes the listener and every connection, and waits until all is released. */
  close(): Promise<void>;
}

/** Starts a `DropProxy` on a free loopback port in front of the broker of `url`. */
export function startDropProxy(url: string): DropProxy {
  const target = new URL(url);
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  const port = Number(target.port || 5672);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const links = new Set<[Deno.TcpConn, Deno.TcpConn]>();
  const tasks = new Set<Promise<void>>();
  const track = (task: Promise<void>) => {
    tasks.add(task);
    task.finally(() => tasks.delete(task));
  };
  const closeLink = (link: [Deno.TcpConn, Deno.TcpConn]) => {
    if (!links.delete(link)) return;
    for (const conn of link) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  const pump = async (link: [Deno.TcpConn, Deno.TcpConn], from: Deno.TcpConn, to: Deno.TcpConn) => {
    try {
      for await (const chunk of from.readable) {
        let written = 0;
        while (written < chunk.length) written += await to.write(chunk.subarray(written));
      }
    } catch {
      // Either side went away.
    } finally {
      closeLink(link);
    }
  };
  const proxy: DropProxy = {
    url: "",
    down: false,
    drop() {
      const count = links.size;
      for (const link of [...links]) closeLink(link);
      return count;
    },
    async close() {
      listener.close();
      proxy.drop();
      while (tasks.size > 0) await Promise.allSettled([...tasks]);
    },
  };
  track(
    (async () => {
      for await (const client of listener) {
        if (proxy.down) {
          client.close();
          continue;
        }
        let server: Deno.TcpConn;
        try {
          server = await Deno.connect({ hostname, port });
        } catch {
          client.close();
          continue;
        }
        const link: [Deno.TcpConn, Deno.TcpConn] = [client, server];
        links.add(link);
        track(pump(link, client, server));
        track(pump(link, server, client));
      }
    })().catch(() => {}),
  );
  const proxied = new URL(url);
  proxied.hostname = "127.0.0.1";
  proxied.port = String((listener.addr as Deno.NetAddr).port);
  proxy.url = proxied.href;
  return proxy;
}

/**
 * The composition root: config -> logger -> store and bus adapters -> hub -> app -> Deno.serve.
 * Only this file picks adapters.
 */
import { MemoryBus } from "./lib/bus/memory.ts";
import { ConfigError, loadConfig } from "./lib/config.ts";
import { jsonLineHandler, Logger } from "./lib/log.ts";
import { createChatServer } from "./lib/server.ts";
import { SqliteStore } from "./lib/storage/sqlite.ts";
import type { Store } from "./lib/storage/store.ts";

function openStore(databaseUrl: string): Store {
  if (databaseUrl.startsWith("sqlite:")) {
    const path = databaseUrl.slice("sqlite:".length);
    return SqliteStore.open({ path: path === "" ? "./data/chat.db" : path });
  }
  throw new Error(
    `DATABASE_URL "${databaseUrl.split("@").pop()}" is not supported by this build (sqlite: only)`,
  );
}

async function main(): Promise<number> {
  const sink = jsonLineHandler();
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    sink("error", "Invalid configuration", { problems: error.problems });
    return 2;
  }
  const log = new Logger(config.logLevel, sink);
  if (config.jwtSecretGenerated) {
    log.warn("JWT_SECRET is not set: using a random secret, so tokens will not survive a restart");
  }

  const store = openStore(config.databaseUrl);
  const bus = new MemoryBus();
  const server = await createChatServer({ config, log, store, bus });

  const httpServer = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) =>
      log.info("Listening", { host: hostname, port, store: "sqlite", bus: "memory" }),
  }, server.app.fetch);

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => stop(signal));
  const signal = await stopped;

  log.info("Shutting down", { signal });
  const deadline = setTimeout(() => {
    log.error("Shutdown took too long; exiting", { timeout_s: config.shutdownTimeoutSeconds });
    Deno.exit(1);
  }, config.shutdownTimeoutSeconds * 1000);
  const serverDone = httpServer.shutdown();
  await server.drain();
  await serverDone;
  await bus.close();
  await store.close();
  clearTimeout(deadline);
  log.info("Stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main());

/**
 * The composition root: config -> logger -> store and bus adapters -> hub -> app -> Deno.serve.
 * Only this file picks adapters.
 */
import { Redis } from "ioredis";
import { RedisRateLimiter } from "./lib/limits/redis_rate_limit.ts";
import { RedisSocketQuota } from "./lib/limits/redis_socket_quota.ts";
import { RedisLockout } from "./lib/auth/redis_lockout.ts";
import { SmtpMailer } from "./lib/mail/smtp.ts";
import type { Bus } from "./lib/bus/bus.ts";
import { MemoryBus } from "./lib/bus/memory.ts";
import { busProbeIntervalMs, RedisBus } from "./lib/bus/redis.ts";
import { RedisPresence } from "./lib/chat/redis_presence.ts";
import { AmqpQueue } from "./lib/commands/amqp_queue.ts";
import { MemoryQueue } from "./lib/commands/memory_queue.ts";
import type { CommandQueue } from "./lib/commands/queue.ts";
import { defaultRegistry } from "./lib/commands/registry.ts";
import { stockBot } from "./lib/commands/stock.ts";
import { type Config, ConfigError, loadConfig } from "./lib/config.ts";
import { jsonLineHandler, Logger } from "./lib/log.ts";
import {
  type ChatServerOptions,
  createChatServer,
  hourly,
  localAuthLimiter,
  localMessageLimiter,
  localTypingLimiter,
} from "./lib/server.ts";
import { MongoStore } from "./lib/storage/mongo.ts";
import { guardAvailable, type GuardHandler, serveGuarded } from "./lib/web/connection_guard.ts";
import { SqliteStore } from "./lib/storage/sqlite.ts";
import { StoreBreaker } from "./lib/storage/breaker.ts";
import type { Store } from "./lib/storage/store.ts";

/** SQLite for `sqlite:<path>` (the embedded default), MongoDB for `mongodb://…`. */
/**
 * The chat commands' queue: RabbitMQ when `AMQP_URL` is set (bots run as their own processes, `deno task bot`),
 * otherwise an in-process queue with the stock bot running inside this server.
 */
async function openCommands(config: Config, log: Logger): Promise<{ queue: CommandQueue; kind: string }> {
  if (config.amqpUrl !== undefined) {
    const queue = new AmqpQueue({
      url: config.amqpUrl,
      prefix: config.amqpPrefix,
      log: log.with({ component: "amqp" }),
    });
    await queue.start();
    return { queue, kind: "rabbitmq" };
  }
  const queue = new MemoryQueue();
  await queue.start();
  await stockBot(queue, {
    baseUrl: config.quoteUrl,
    timeoutMs: config.quoteTimeoutMs,
    log: log.with({ component: "stockbot" }),
  });
  return { queue, kind: "in-process" };
}

async function openStore(config: Config, log: Logger): Promise<{ store: Store; kind: string }> {
  const url = config.databaseUrl;
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    const store = SqliteStore.open({
      path: path === "" ? "./data/chat.db" : path,
      busyTimeoutMs: config.sqliteBusyTimeoutMs,
    });
    return { store, kind: "sqlite" };
  }
  const store = await MongoStore.open({
    url,
    poolSize: config.mongoPoolSize,
    log: log.with({ component: "store" }),
  });
  return { store, kind: "mongodb" };
}

/** With REDIS_URL: the Redis bus, and presence and rate limits shared by every instance. */
function sharedAdapters(config: Config, log: Logger): {
  bus: Bus;
  shared: Pick<ChatServerOptions, "presence" | "messageLimiter" | "authLimiter" | "lockout" | "userLimits">;
  /** Settles once the shared connections are up. */
  ready: Promise<void>;
  close(): Promise<void>;
} {
  if (config.redisUrl === undefined) {
    return { bus: new MemoryBus(), shared: {}, ready: Promise.resolve(), close: () => Promise.resolve() };
  }
  const bus = new RedisBus({
    url: config.redisUrl,
    log: log.with({ component: "bus" }),
    name: config.instanceId,
    probeIntervalMs: busProbeIntervalMs(config.busStaleMaxSeconds),
  });
  // Commands fail fast while Redis is down; the callers fall back or report degraded.
  const redis = new Redis(config.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1_000,
    connectionName: `${config.instanceId}:cmd`,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  redis.on("error", () => {}); // The bus logs outages once; this client just retries.
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("Cannot connect to Redis for presence and rate limits")),
      5_000,
    );
    redis.once("ready", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    bus,
    ready,
    shared: {
      presence: new RedisPresence({ redis, log, instanceId: config.instanceId }),
      messageLimiter: new RedisRateLimiter({
        redis,
        log,
        prefix: "chat:rl:msg:",
        ratePerSec: config.rateLimitPerSec,
        burst: config.rateLimitBurst,
        fallback: localMessageLimiter(config),
      }),
      authLimiter: new RedisRateLimiter({
        redis,
        log,
        prefix: "chat:rl:auth:",
        ratePerSec: config.authRateLimitPerMin / 60,
        burst: config.authRateLimitBurst,
        fallback: localAuthLimiter(config),
      }),
      lockout: new RedisLockout({ redis, log: log.with({ component: "lockout" }), prefix: "chat:lockout:" }),
      // The per-user caps, one bucket (or socket count) per user for every instance.
      userLimits: {
        roomCreations: new RedisRateLimiter({
          redis,
          log,
          prefix: "chat:rl:rooms:",
          ratePerSec: config.roomsPerUserPerHour / 3600,
          burst: config.roomsPerUserPerHour,
          fallback: hourly(config.roomsPerUserPerHour),
        }),
        newDirectRooms: new RedisRateLimiter({
          redis,
          log,
          prefix: "chat:rl:dms:",
          ratePerSec: config.dmsPerUserPerHour / 3600,
          burst: config.dmsPerUserPerHour,
          fallback: hourly(config.dmsPerUserPerHour),
        }),
        typing: new RedisRateLimiter({
          redis,
          log,
          prefix: "chat:rl:typing:",
          ratePerSec: config.typingPerUserPerSec,
          burst: config.typingPerUserBurst,
          fallback: localTypingLimiter(config),
        }),
        sockets: new RedisSocketQuota({
          redis,
          log: log.with({ component: "ws" }),
          instanceId: config.instanceId,
          max: config.maxSocketsPerUser,
        }),
      },
    },
    async close() {
      redis.disconnect();
      await bus.close();
    },
  };
}

/**
 * The HTTP server: connections accepted, timed and capped by the connection guard (lib/web/connection_guard.ts),
 * or, on a runtime without `Deno.serveHttp`, plain `Deno.serve` without those limits.
 */
function serveHttp(
  config: Config,
  log: Logger,
  fetch: GuardHandler,
  onListen: (addr: Deno.NetAddr) => void,
): { shutdown(): Promise<void> } {
  if (guardAvailable()) {
    return serveGuarded({
      hostname: config.host,
      port: config.port,
      maxHttpConnections: config.maxHttpConnections,
      maxPerIp: config.maxConnectionsPerIp,
      trustProxy: config.trustProxy,
      headerTimeoutMs: config.headerTimeoutSeconds * 1000,
      idleTimeoutMs: config.keepAliveTimeoutSeconds * 1000,
      log: log.with({ component: "http" }),
      onListen,
    }, (request, info) => fetch(request, info));
  }
  log.warn("This runtime has no Deno.serveHttp: serving without connection timeouts or caps");
  return Deno.serve({
    hostname: config.host,
    port: config.port,
    // Off by default in Deno 2.9 (denoland/deno#35486): gzip or brotli for compressible types (pages, CSS, JS,
    // JSON) when the client accepts it; never for an upgrade, a body already encoded, or `no-transform`.
    // (Deno.serveHttp, used by the guard, always compresses so.)
    automaticCompression: true,
    onListen,
  }, fetch);
}

export async function main(): Promise<number> {
  const sink = jsonLineHandler();
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    sink("error", "Invalid configuration", { problems: error.problems });
    return 2;
  }
  const log = new Logger(config.logLevel, sink, { instance: config.instanceId });
  if (config.jwtSecretGenerated) {
    log.warn("JWT_SECRET is not set: using a random secret, so tokens will not survive a restart");
  }

  let opened;
  try {
    opened = await openStore(config, log);
  } catch (error) {
    log.error("Cannot open the store", { error });
    return 1;
  }
  // Every call goes through the circuit breaker: refused at once while the store is down (lib/storage/breaker.ts).
  const breaker = new StoreBreaker(opened.store, {
    timeoutMs: config.storeTimeoutMs,
    probeIntervalMs: config.storeProbeIntervalMs,
    log: log.with({ component: "store" }),
  });
  breaker.start();
  const store = breaker.store;
  const adapters = sharedAdapters(config, log);
  let server, commands;
  // Without SMTP_URL mail is logged (recipient and subject), not sent.
  const mailer = config.smtpUrl === undefined
    ? undefined
    : new SmtpMailer({ url: config.smtpUrl, from: config.mailFrom });
  try {
    await adapters.ready;
    commands = await openCommands(config, log);
    server = await createChatServer({
      // A compiled binary cannot bundle islands at start-up: it serves the ones prebuilt into it (`_fresh/`),
      // which the web layer loads in production mode. Nothing else reads `appEnv`.
      config: Deno.build.standalone ? { ...config, appEnv: "production" } : config,
      log,
      store,
      breaker,
      bus: adapters.bus,
      ...adapters.shared,
      commands: { registry: defaultRegistry(), queue: commands.queue },
      // Without SMTP_URL mail is logged (recipient and subject), not sent.
      mailer: config.smtpUrl === undefined
        ? undefined
        : new SmtpMailer({ url: config.smtpUrl, from: config.mailFrom }),
    });
  } catch (error) {
    log.error("Cannot start", { error });
    await commands?.queue.close();
    await adapters.close();
    await store.close();
    return 1;
  }

  const listening = ({ hostname, port }: Deno.NetAddr) =>
    log.info("Listening", {
      host: hostname,
      port,
      store: opened.kind,
      bus: config.redisUrl === undefined ? "memory" : "redis",
      commands: commands.kind,
      max_connections: config.maxConnections,
      max_http_connections: config.maxHttpConnections,
      max_connections_per_ip: config.maxConnectionsPerIp,
      header_timeout_s: config.headerTimeoutSeconds,
      keepalive_timeout_s: config.keepAliveTimeoutSeconds,
    });
  const httpServer = serveHttp(config, log, server.app.fetch, listening);

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
  await commands.queue.close();
  await mailer?.close();
  await adapters.close();
  await store.close();
  clearTimeout(deadline);
  log.info("Stopped");
  return 0;
}

/** The health check's timeout: well under Docker's default HEALTHCHECK timeout (30 s) and compose's (5 s). */
const HEALTHCHECK_TIMEOUT_MS = 3_000;

/**
 * `main.ts healthcheck`: exits 0 when this container's server answers 200 on `/api/health`, otherwise 1 (the
 * image's HEALTHCHECK, which needs no curl). The server is asked on 127.0.0.1 and `PORT` (default 8080), or on
 * `HOST` when it names one address. `healthcheck --amqp` instead checks that the broker in `AMQP_URL` accepts
 * TCP connections (the bot has no HTTP port).
 */
export async function healthcheck(
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = HEALTHCHECK_TIMEOUT_MS,
): Promise<number> {
  const sink = jsonLineHandler();
  try {
    if (args[0] === "--amqp") {
      const url = new URL(env.AMQP_URL?.trim() || "amqp://localhost");
      const port = Number(url.port || (url.protocol === "amqps:" ? 5671 : 5672));
      const conn = await Deno.connect({
        hostname: url.hostname,
        port,
        signal: AbortSignal.timeout(timeoutMs),
      });
      conn.close();
      return 0;
    }
    const host = env.HOST?.trim() || "0.0.0.0";
    const address = ["0.0.0.0", "::", "[::]"].includes(host) ? "127.0.0.1" : host;
    const url = `http://${address.includes(":") ? `[${address}]` : address}:${env.PORT?.trim() || "8080"}` +
      "/api/health";
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    if (res.status === 200) return 0;
    sink("error", "Health check failed", { url, status: res.status, body: body.slice(0, 200) });
    return 1;
  } catch (error) {
    sink("error", "Health check failed", { error: error instanceof Error ? error.message : String(error) });
    return 1;
  }
}

/**
 * The one entry point of the compiled binary and the container image: no argument starts the server,
 * `bot` the stock bot (bot.ts), `healthcheck` the health check.
 */
export async function run(args: string[]): Promise<number> {
  switch (args[0]) {
    case undefined:
      return await main();
    case "bot":
      return await (await import("./bot.ts")).main();
    case "healthcheck":
      return await healthcheck(args.slice(1), Deno.env.toObject());
    default:
      jsonLineHandler()("error", "Unknown command; expected no argument, bot or healthcheck", {
        command: args[0],
      });
      return 2;
  }
}

if (import.meta.main) Deno.exit(await run(Deno.args));

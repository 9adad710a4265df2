import { isLogLevel, type LogLevel } from "./log.ts";

/** Everything the server reads from its environment, validated once at start-up. See the README's table. */
export interface Config {
  appEnv: "development" | "production" | "test";
  host: string;
  port: number;
  databaseUrl: string;
  /** Connections in the MongoDB driver's pool (per process). */
  mongoPoolSize: number;
  /**
   * A store call unanswered after this long makes the store's circuit breaker ping the store; a ping unanswered
   * after this long opens it (calls refused at once until a probe answers).
   */
  storeTimeoutMs: number;
  /** How often the store breaker probes the store (open: until it answers; closed: to notice an idle outage). */
  storeProbeIntervalMs: number;
  /** How long a SQLite write waits for another process's lock (the process is blocked meanwhile). */
  sqliteBusyTimeoutMs: number;
  /** `redis://…` to bridge instances through Redis; absent: one process, in-memory bus. */
  redisUrl: string | undefined;
  /**
   * With Redis: longest a client may wait for a message stored on another instance while this instance's bus
   * link is deaf; the bus is probed often enough, and the store read meanwhile (`BusCatchUp`).
   */
  busStaleMaxSeconds: number;
  /** Names this process in logs and shared presence. */
  instanceId: string;
  jwtSecret: string;
  /** True when no JWT_SECRET was set and a random one was generated. */
  jwtSecretGenerated: boolean;
  /** Lifetime of an access token (a JWT naming its session). */
  accessTokenTtlSeconds: number;
  /** A session's refresh token stops working after this many days unused (each use starts them again). */
  refreshTokenTtlDays: number;
  /** The address people open the app at (`https://chat.example.com`), for links in mail and SSO redirects; absent: taken from each request. */
  publicUrl: string | undefined;
  /** `smtp://user:pass@host:port` (or `smtps://`) to send mail (password resets); absent: mail is logged, not sent. */
  smtpUrl: string | undefined;
  /** The sender of the server's mail. */
  mailFrom: string;
  /** Single sign-on with an OpenID Connect provider, when `OIDC_ISSUER` is set. */
  oidc: { issuer: string; clientId: string; clientSecret: string; name: string } | undefined;
  bcryptCost: number;
  maxMessageChars: number;
  /** Largest request body of any route but the profile's (whose avatar may be up to 256 KB); more gets 413. */
  maxBodyBytes: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  authRateLimitPerMin: number;
  authRateLimitBurst: number;
  /** Rooms one user may create: a bucket of this many, refilled at this many per hour (all instances). */
  roomsPerUserPerHour: number;
  /** Direct conversations one user may start with people they had none with: bucket size and hourly refill. */
  dmsPerUserPerHour: number;
  /** Typing notices one user may send, over all their sockets and rooms: refill per second, and burst. */
  typingPerUserPerSec: number;
  typingPerUserBurst: number;
  /** Sockets one user may hold at once, over all instances; the next upgrade gets 429 `too_many_sockets`. */
  maxSocketsPerUser: number;
  corsOrigins: string[];
  heartbeatSeconds: number;
  wsMaxBufferedBytes: number;
  /** Most stored messages one WebSocket `resume` frame is answered with; the client asks again for the rest. */
  resumeMaxMessages: number;
  trustProxy: boolean;
  logLevel: LogLevel;
  shutdownTimeoutSeconds: number;
  /**
   * Most WebSocket connections this process holds (opening ones included); upgrades past it get 503
   * `server_full`. Default: the open-file limit minus a reserve (`defaultMaxConnections`).
   */
  maxConnections: number;
  /**
   * Most connections that are not WebSockets (plain HTTP, upgrades not yet answered); past it a new one replaces
   * the longest-idle one, or only gets `/api/health`. Default: a share of the open-file reserve
   * (`defaultMaxHttpConnections`).
   */
  maxHttpConnections: number;
  /** Most connections per client address, WebSockets included (0: no cap). */
  maxConnectionsPerIp: number;
  /** A connection's first request header must be complete within this. */
  headerTimeoutSeconds: number;
  /** A kept-alive connection waiting longer than this for its next request is closed. */
  keepAliveTimeoutSeconds: number;
  /** Presence frames go to rooms of at most this many members and always to direct rooms (0: only those). */
  presenceMaxRoomMembers: number;
  /** `amqp://…` to send chat commands to bot processes through RabbitMQ; absent: an in-process queue and bot. */
  amqpUrl: string | undefined;
  /** Prefix of the RabbitMQ exchanges and queues (several deployments can share one broker). */
  amqpPrefix: string;
  /** The quote endpoint of the in-process stock bot, without its query (Stooq's CSV by default). */
  quoteUrl: string;
  quoteTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/**
 * Every environment variable `loadConfig` reads, in the README's order. `.env.example`, `docker-compose.yml` and
 * tests/deploy_test.ts are checked against it (and it against what `loadConfig` really reads).
 */
export const CONFIG_VARIABLES = [
  "PORT",
  "HOST",
  "DATABASE_URL",
  "MONGO_POOL_SIZE",
  "STORE_TIMEOUT_MS",
  "STORE_PROBE_INTERVAL_MS",
  "SQLITE_BUSY_TIMEOUT_MS",
  "REDIS_URL",
  "BUS_STALE_MAX_SECONDS",
  "INSTANCE_ID",
  "JWT_SECRET",
  "ACCESS_TOKEN_TTL_SECONDS",
  "REFRESH_TOKEN_TTL_DAYS",
  "APP_ENV",
  "PUBLIC_URL",
  "SMTP_URL",
  "MAIL_FROM",
  "OIDC_ISSUER",
  "OIDC_CLIENT_ID",
  "OIDC_CLIENT_SECRET",
  "OIDC_NAME",
  "BCRYPT_COST",
  "MAX_MESSAGE_CHARS",
  "MAX_BODY_BYTES",
  "RATE_LIMIT_PER_SEC",
  "RATE_LIMIT_BURST",
  "AUTH_RATE_LIMIT_PER_MIN",
  "AUTH_RATE_LIMIT_BURST",
  "ROOMS_PER_USER_PER_HOUR",
  "DMS_PER_USER_PER_HOUR",
  "TYPING_PER_USER_PER_SEC",
  "TYPING_PER_USER_BURST",
  "MAX_SOCKETS_PER_USER",
  "CORS_ORIGINS",
  "TRUST_PROXY",
  "HEARTBEAT_SECONDS",
  "WS_MAX_BUFFERED_BYTES",
  "RESUME_MAX_MESSAGES",
  "MAX_CONNECTIONS",
  "MAX_HTTP_CONNECTIONS",
  "MAX_CONNECTIONS_PER_IP",
  "HEADER_TIMEOUT_SECONDS",
  "KEEPALIVE_TIMEOUT_SECONDS",
  "PRESENCE_MAX_ROOM_MEMBERS",
  "AMQP_URL",
  "AMQP_PREFIX",
  "QUOTE_URL",
  "QUOTE_TIMEOUT_MS",
  "SHUTDOWN_TIMEOUT_SECONDS",
  "LOG_LEVEL",
] as const;

/** The open-file limit assumed when `/proc/self/limits` cannot be read. */
export const FALLBACK_OPEN_FILE_LIMIT = 10_000;

/**
 * The default `MAX_CONNECTIONS` for a process allowed `openFileLimit` open files (undefined: unknown, assume
 * `FALLBACK_OPEN_FILE_LIMIT`). Each socket holds one file; the reserve, `max(64, ceil(2.5 %))`, keeps files
 * for the listener, the database, the runtime and plain HTTP requests, since running out of them (EMFILE in
 * `accept()`) ends the process. 20,000 -> 19,500; 300 -> 236.
 */
export function defaultMaxConnections(openFileLimit: number | undefined): number {
  const limit = openFileLimit ?? FALLBACK_OPEN_FILE_LIMIT;
  const reserve = Math.max(64, Math.ceil(limit * 0.025));
  return Math.max(1, limit - reserve);
}

/**
 * The default `MAX_HTTP_CONNECTIONS` for a process allowed `openFileLimit` open files: a quarter of the reserve
 * that `defaultMaxConnections` keeps, so that WebSockets, plain connections, the health reserve and the
 * runtime's own files fit in the limit together. 20,000 -> 125; 300 -> 16.
 */
export function defaultMaxHttpConnections(openFileLimit: number | undefined): number {
  const limit = openFileLimit ?? FALLBACK_OPEN_FILE_LIMIT;
  return Math.floor(Math.max(64, Math.ceil(limit * 0.025)) / 4);
}

/**
 * The soft "Max open files" limit in the text of `/proc/<pid>/limits`; undefined when it is missing or
 * "unlimited".
 */
export function parseOpenFileLimit(limits: string): number | undefined {
  const match = /^Max open files\s+(\d+)\s/m.exec(limits);
  return match === null ? undefined : Number(match[1]);
}

/**
 * This process's soft open-file limit (Deno raises it to the hard limit at start-up), or undefined when
 * `/proc/self/limits` cannot be read (not Linux, no read permission).
 */
export function readOpenFileLimit(): number | undefined {
  try {
    return parseOpenFileLimit(Deno.readTextFileSync("/proc/self/limits"));
  } catch {
    return undefined;
  }
}

export interface LoadConfigOptions {
  /** Reads the open-file limit for the default `MAX_CONNECTIONS`: `readOpenFileLimit`, or a test's own. */
  openFileLimit?: () => number | undefined;
}

/**
 * Reads and validates the configuration; throws `ConfigError` naming every bad variable at once.
 *
 * @example
 * const config = loadConfig(Deno.env.toObject());
 */
export function loadConfig(env: Env, options: LoadConfigOptions = {}): Config {
  const problems: string[] = [];
  const int = (name: string, fallback: number | (() => number), min: number, max: number): number => {
    const raw = env[name]?.trim();
    const orDefault = () => typeof fallback === "number" ? fallback : fallback();
    if (raw === undefined || raw === "") return orDefault();
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return orDefault();
    }
    return value;
  };
  const num = (name: string, fallback: number, min: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) {
      problems.push(`${name} must be a number of at least ${min}, got "${raw}"`);
      return fallback;
    }
    return value;
  };
  const bool = (name: string): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === "") return false;
    if (["1", "true", "yes"].includes(raw)) return true;
    if (["0", "false", "no"].includes(raw)) return false;
    problems.push(`${name} must be true or false, got "${env[name]}"`);
    return false;
  };

  const appEnv = env.APP_ENV?.trim() || "development";
  if (appEnv !== "development" && appEnv !== "production" && appEnv !== "test") {
    problems.push(`APP_ENV must be development, production or test, got "${appEnv}"`);
  }

  let jwtSecret = env.JWT_SECRET ?? "";
  let jwtSecretGenerated = false;
  if (jwtSecret === "") {
    if (appEnv === "production") problems.push("JWT_SECRET is required when APP_ENV=production");
    jwtSecret = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
    jwtSecretGenerated = true;
  } else if (new TextEncoder().encode(jwtSecret).length < 32) {
    problems.push("JWT_SECRET must be at least 32 bytes long");
  }

  const databaseUrl = env.DATABASE_URL?.trim() || "sqlite:./data/chat.db";
  if (!/^(sqlite:|mongodb(\+srv)?:\/\/)/.test(databaseUrl)) {
    problems.push(`DATABASE_URL must start with sqlite: or mongodb://, got "${databaseUrl}"`);
  }

  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    problems.push("REDIS_URL must look like redis://host:port (or rediss://)");
  }
  const instanceId = env.INSTANCE_ID?.trim() ||
    `${Deno.hostname()}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(instanceId)) {
    problems.push("INSTANCE_ID may only use letters, digits, '_', '.', ':' and '-' (at most 100)");
  }

  const amqpUrl = env.AMQP_URL?.trim() || undefined;
  if (amqpUrl !== undefined && !/^amqps?:\/\/[^\s]+$/.test(amqpUrl)) {
    problems.push("AMQP_URL must look like amqp://user:password@host:port (or amqps://)");
  }
  const amqpPrefix = env.AMQP_PREFIX?.trim() || "chat";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(amqpPrefix)) {
    problems.push("AMQP_PREFIX may only use letters, digits, '_', '.' and '-' (at most 64)");
  }
  const quoteUrl = env.QUOTE_URL?.trim() || "https://stooq.com/q/l/";
  if (!/^https?:\/\/[^\s?#]+$/.test(quoteUrl)) {
    problems.push(`QUOTE_URL must be an http(s) URL without a query, got "${quoteUrl}"`);
  }

  const publicUrl = env.PUBLIC_URL?.trim().replace(/\/+$/, "") || undefined;
  if (publicUrl !== undefined && !/^https?:\/\/[^/\s?#]+$/.test(publicUrl)) {
    problems.push(`PUBLIC_URL must look like https://host[:port] (no path), got "${publicUrl}"`);
  }
  const smtpUrl = env.SMTP_URL?.trim() || undefined;
  if (smtpUrl !== undefined && !/^smtps?:\/\/[^\s]+$/.test(smtpUrl)) {
    problems.push("SMTP_URL must look like smtp://user:password@host:port (or smtps://)");
  }
  const mailFrom = env.MAIL_FROM?.trim() || "Chat <chat@localhost>";
  const oidcIssuer = env.OIDC_ISSUER?.trim() || undefined;
  const oidcClientId = env.OIDC_CLIENT_ID?.trim() ?? "";
  const oidcClientSecret = env.OIDC_CLIENT_SECRET?.trim() ?? "";
  const oidcName = env.OIDC_NAME?.trim() || "single sign-on";
  let oidc: Config["oidc"];
  if (oidcIssuer !== undefined) {
    if (!/^https?:\/\/[^\s]+$/.test(oidcIssuer)) problems.push("OIDC_ISSUER must be an https URL");
    if (oidcClientId === "" || oidcClientSecret === "") {
      problems.push("OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are required with OIDC_ISSUER");
    }
    oidc = { issuer: oidcIssuer, clientId: oidcClientId, clientSecret: oidcClientSecret, name: oidcName };
  }

  const corsOrigins = (env.CORS_ORIGINS ?? "").split(",").map((o) => o.trim()).filter((o) => o !== "");
  for (const origin of corsOrigins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS entries must look like https://host[:port] (or *), got "${origin}"`);
    }
  }

  // Read once, and only when a default needs it.
  let openFiles: { limit: number | undefined } | undefined;
  const openFileLimit = () => (openFiles ??= { limit: (options.openFileLimit ?? readOpenFileLimit)() }).limit;

  const logLevel = env.LOG_LEVEL?.trim() || "info";
  if (!isLogLevel(logLevel)) problems.push(`LOG_LEVEL must be debug, info, warn or error, got "${logLevel}"`);

  const config: Config = {
    appEnv: appEnv as Config["appEnv"],
    host: env.HOST?.trim() || "0.0.0.0",
    port: int("PORT", 8080, 0, 65535),
    databaseUrl,
    mongoPoolSize: int("MONGO_POOL_SIZE", 20, 1, 1_000),
    storeTimeoutMs: int("STORE_TIMEOUT_MS", 1_000, 100, 60_000),
    storeProbeIntervalMs: int("STORE_PROBE_INTERVAL_MS", 250, 50, 10_000),
    sqliteBusyTimeoutMs: int("SQLITE_BUSY_TIMEOUT_MS", 1_000, 0, 60_000),
    redisUrl,
    busStaleMaxSeconds: int("BUS_STALE_MAX_SECONDS", 10, 6, 3_600),
    instanceId,
    jwtSecret,
    jwtSecretGenerated,
    accessTokenTtlSeconds: int("ACCESS_TOKEN_TTL_SECONDS", 900, 5, 86_400),
    refreshTokenTtlDays: int("REFRESH_TOKEN_TTL_DAYS", 30, 1, 365),
    publicUrl,
    smtpUrl,
    mailFrom,
    oidc,
    bcryptCost: int("BCRYPT_COST", 12, 4, 15),
    maxMessageChars: int("MAX_MESSAGE_CHARS", 4_000, 1, 16_000),
    maxBodyBytes: int("MAX_BODY_BYTES", 65_536, 1_024, 16_777_216),
    rateLimitPerSec: num("RATE_LIMIT_PER_SEC", 10, 0.01),
    rateLimitBurst: int("RATE_LIMIT_BURST", 20, 1, 1_000_000),
    authRateLimitPerMin: num("AUTH_RATE_LIMIT_PER_MIN", 20, 0.01),
    authRateLimitBurst: int("AUTH_RATE_LIMIT_BURST", 10, 1, 1_000_000),
    roomsPerUserPerHour: int("ROOMS_PER_USER_PER_HOUR", 20, 1, 1_000_000),
    dmsPerUserPerHour: int("DMS_PER_USER_PER_HOUR", 20, 1, 1_000_000),
    typingPerUserPerSec: num("TYPING_PER_USER_PER_SEC", 1, 0.001),
    typingPerUserBurst: int("TYPING_PER_USER_BURST", 3, 1, 1_000_000),
    maxSocketsPerUser: int("MAX_SOCKETS_PER_USER", 20, 1, 1_000_000),
    corsOrigins,
    heartbeatSeconds: int("HEARTBEAT_SECONDS", 25, 1, 300),
    wsMaxBufferedBytes: int("WS_MAX_BUFFERED_BYTES", 1_048_576, 1_024, 1_073_741_824),
    resumeMaxMessages: int("RESUME_MAX_MESSAGES", 1_000, 1, 100_000),
    trustProxy: bool("TRUST_PROXY"),
    logLevel: logLevel as LogLevel,
    shutdownTimeoutSeconds: int("SHUTDOWN_TIMEOUT_SECONDS", 10, 1, 300),
    maxConnections: int("MAX_CONNECTIONS", () => defaultMaxConnections(openFileLimit()), 1, 10_000_000),
    maxHttpConnections: int(
      "MAX_HTTP_CONNECTIONS",
      () => defaultMaxHttpConnections(openFileLimit()),
      1,
      10_000_000,
    ),
    maxConnectionsPerIp: int("MAX_CONNECTIONS_PER_IP", 256, 0, 10_000_000),
    headerTimeoutSeconds: num("HEADER_TIMEOUT_SECONDS", 10, 0.1),
    keepAliveTimeoutSeconds: num("KEEPALIVE_TIMEOUT_SECONDS", 30, 0.1),
    presenceMaxRoomMembers: int("PRESENCE_MAX_ROOM_MEMBERS", 1_000, 0, 10_000_000),
    amqpUrl,
    amqpPrefix,
    quoteUrl,
    quoteTimeoutMs: int("QUOTE_TIMEOUT_MS", 5_000, 100, 120_000),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

import type { Hono } from "hono";
import { TokenService } from "./auth/jwt.ts";
import { Passwords } from "./auth/password.ts";
import { AuthService } from "./auth/service.ts";
import { Sessions, type SessionsEnded } from "./auth/sessions.ts";
import { type AccountLockout, MemoryLockout } from "./auth/lockout.ts";
import { PasswordReset } from "./auth/password_reset.ts";
import { TwoFactor } from "./auth/two_factor.ts";
import { LogMailer, type Mailer } from "./mail/mailer.ts";
import type { RateLimiter } from "./limits/rate_limit.ts";
import { TokenBucketLimiter } from "./limits/token_bucket.ts";
import { MemorySocketQuota } from "./limits/socket_quota.ts";
import type { Bus } from "./bus/bus.ts";
import type { Presence } from "./chat/presence.ts";
import { MemoryPresence } from "./chat/memory_presence.ts";
import type { CommandQueue } from "./commands/queue.ts";
import type { CommandRegistry } from "./commands/registry.ts";
import { type Chat, type ChatLimits, createChat } from "./chat/chat.ts";
import { hubHandler } from "./chat/hub_handler.ts";
import { storeHistory } from "./chat/history.ts";
import type { Config } from "./config.ts";
import { Hub } from "./hub/hub.ts";
import type { Logger } from "./log.ts";
import { countRefusals, Metrics } from "./metrics/metrics.ts";
import type { Store } from "./storage/store.ts";
import type { StoreBreaker } from "./storage/breaker.ts";
import { ConnectionSlots } from "./websocket/connection_slots.ts";
import { createFresh } from "./fresh/mod.ts";
import { createApp } from "./app.ts";
import type { AppEnv, Services } from "./web/env.ts";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export interface ChatServerOptions {
  config: Config;
  log: Logger;
  store: Store;
  /**
   * The circuit breaker `store` goes through (`breaker.store`), when there is one: `/api/health` and the metrics
   * answer from its state, and every local socket hears `store_available` when it closes again.
   */
  breaker?: StoreBreaker;
  bus: Bus;
  /** Serve the web UI (default true); API-only tests leave it out to skip bundling the islands. */
  web?: boolean;
  /** Shared presence (Redis) when several instances run; in-process by default. */
  presence?: Presence;
  /** Shared per-user message limit (Redis); in-process by default. */
  messageLimiter?: RateLimiter;
  /** Shared per-IP register/login limit (Redis); in-process by default. */
  authLimiter?: RateLimiter;
  /** Shared per-user caps (Redis: rooms, new direct rooms, typing, sockets); in-process by default. */
  userLimits?: Partial<ChatLimits>;
  /** Failed sign-ins per account, shared by every instance (Redis); in-process by default. */
  lockout?: AccountLockout;
  /** Sends the server's mail (SMTP); by default mail is logged, not sent. */
  mailer?: Mailer;
  /**
   * Chat commands: their registry and a started queue. The server consumes bot answers from it; the bots
   * (in-process or separate) consume the jobs. Without it `/text` is ordinary text.
   */
  commands?: { registry: CommandRegistry; queue: CommandQueue };
}

/** The project folder: `routes/`, `islands/`, `static/` live there. */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface ChatServer {
  app: Hono<AppEnv>;
  hub: Hub;
  /** WebSocket connections held against `MAX_CONNECTIONS` (opening ones included). */
  connections: ConnectionSlots;
  chat: Chat;
  tokens: TokenService;
  sessions: Sessions;
  auth: AuthService;
  passwordReset: PasswordReset;
  /** The Prometheus metrics served at `GET /metrics`. */
  metrics: Metrics;
  /** Refuses new sockets, closes the open ones with 1001 and waits for their queued work. */
  drain(): Promise<void>;
}

/**
 * Builds the hub, the chat service and the HTTP app on top of adapters chosen by the caller (`main.ts`, or a
 * test). Starts nothing that listens.
 */
export async function createChatServer(options: ChatServerOptions): Promise<ChatServer> {
  const { config, log, store, bus, web = true } = options;
  let shuttingDown = false;
  const metrics = new Metrics();
  const messageLimiter = countRefusals(
    options.messageLimiter ?? localMessageLimiter(config),
    metrics,
    "message",
  );
  const authLimiter = countRefusals(options.authLimiter ?? localAuthLimiter(config), metrics, "auth");
  const presence: Presence = options.presence ?? new MemoryPresence();
  const userLimits: ChatLimits = { ...localUserLimits(config), ...options.userLimits };
  const tokens = new TokenService({ secret: config.jwtSecret, ttlSeconds: config.accessTokenTtlSeconds });

  const hub = new Hub({
    bus,
    history: storeHistory(store),
    log: log.with({ component: "hub" }),
    maxBufferedBytes: config.wsMaxBufferedBytes,
    // A reconnecting client sends `resume` first: until then its live frames wait, so none it has is repeated.
    resumeGraceMs: 1_000,
    resumeMaxMessages: config.resumeMaxMessages,
    metrics,
  });
  const chat = createChat({
    store,
    hub,
    presence,
    messageLimiter,
    limits: userLimits,
    log,
    maxMessageChars: config.maxMessageChars,
    presenceMaxRoomMembers: config.presenceMaxRoomMembers,
    commands: options.commands,
    metrics,
  });
  const connections = new ConnectionSlots({
    max: config.maxConnections,
    log: log.with({ component: "ws" }),
    onRefused: () => metrics.connectionRefused(),
  });
  metrics.watch({
    connections,
    hub,
    store,
    breaker: options.breaker,
    bus,
    presence,
    commands: options.commands?.queue,
  });
  // Sends refused while the store was down may go again now: the web client resends its outbox at this frame.
  options.breaker?.onChange((state) => {
    if (state === "closed") hub.broadcast(JSON.stringify({ type: "store_available" }));
  });
  const sessions = new Sessions({
    store,
    tokens,
    refreshTtlDays: config.refreshTokenTtlDays,
    log: log.with({ component: "sessions" }),
    broadcast: (ended) => hub.publish(SESSIONS_CHANNEL, JSON.stringify(ended)),
  });
  // Every instance hears of every ended session: it refuses their tokens and closes their sockets here.
  sessions.onEnded((ended) => hub.closeSessions(ended.user_id, ended.session_ids));
  const passwords = new Passwords(config.bcryptCost);
  const lockout = options.lockout ?? new MemoryLockout();
  const twoFactor = new TwoFactor({ store });
  const auth = new AuthService({
    store,
    sessions,
    passwords,
    lockout,
    twoFactor,
    mfaTokens: new TokenService({
      secret: config.jwtSecret,
      ttlSeconds: 300,
      audience: "chat-second-factor",
    }),
    log: log.with({ component: "auth" }),
  });
  const passwordReset = new PasswordReset({
    store,
    mailer: options.mailer ?? new LogMailer(log.with({ component: "mail" })),
    passwords,
    sessions,
    lockout,
    log: log.with({ component: "auth" }),
  });
  await hub.start(hubHandler(chat, hub, log, Date.now, (token) => sessions.authenticate(token)));
  await hub.listen(SESSIONS_CHANNEL, (payload) => {
    const ended = parseEnded(payload);
    if (ended === null) {
      log.warn("Dropping a malformed ended-sessions message", { payload: payload.slice(0, 200) });
    } else sessions.ended(ended);
  });
  const commands = chat.commands;
  if (commands !== undefined) {
    await options.commands?.queue.consumeAnswers((answer) => commands.answer(answer));
  }
  await userLimits.sockets.start?.();
  await presence.start?.((userIds) => {
    chat.activity.usersLost(userIds).catch((error) =>
      log.error("Cannot report lost users offline", { error })
    );
  });

  const services: Services = {
    config,
    log,
    store,
    storeBreaker: options.breaker,
    bus,
    hub,
    connections,
    chat,
    tokens,
    sessions,
    auth,
    twoFactor,
    passwordReset,
    authLimiter,
    metrics,
    isShuttingDown: () => shuttingDown,
  };
  const pages = web
    ? await createFresh({
      root: ROOT,
      dev: config.appEnv === "development",
      prebuiltDir: config.appEnv === "production" ? join(ROOT, "_fresh") : undefined,
      onError: (error, request) =>
        log.error("Cannot render the error page", { error, path: new URL(request.url).pathname }),
    })
    : undefined;
  const app = createApp(services, { pages });
  return {
    app,
    hub,
    connections,
    chat,
    tokens,
    sessions,
    auth,
    passwordReset,
    metrics,
    async drain() {
      shuttingDown = true;
      await hub.shutdown();
      await passwordReset.idle();
      presence.stop?.();
      userLimits.sockets.stop?.();
    },
  };
}

/** The bus channel every instance listens to for ended sessions. */
const SESSIONS_CHANNEL = "sessions:ended";

function parseEnded(payload: string): SessionsEnded | null {
  try {
    const value = JSON.parse(payload);
    if (typeof value?.user_id === "string" && Array.isArray(value.session_ids)) {
      const ids = value.session_ids.filter((id: unknown): id is string => typeof id === "string");
      return { user_id: value.user_id, session_ids: ids };
    }
  } catch {
    // malformed: null below
  }
  return null;
}

/** The per-instance message limit from the configuration (also the fallback of a shared one). */
export function localMessageLimiter(config: Config): TokenBucketLimiter {
  return new TokenBucketLimiter({ ratePerSec: config.rateLimitPerSec, burst: config.rateLimitBurst });
}

/** The per-instance register/login limit from the configuration. */
export function localAuthLimiter(config: Config): TokenBucketLimiter {
  return new TokenBucketLimiter({
    ratePerSec: config.authRateLimitPerMin / 60,
    burst: config.authRateLimitBurst,
  });
}

/**
 * The per-instance per-user caps from the configuration (also the fallbacks of shared ones): token buckets
 * whose burst is the hourly number, refilled over the hour, and a socket count.
 */
export function localUserLimits(config: Config): ChatLimits {
  return {
    roomCreations: hourly(config.roomsPerUserPerHour),
    newDirectRooms: hourly(config.dmsPerUserPerHour),
    typing: localTypingLimiter(config),
    sockets: new MemorySocketQuota(config.maxSocketsPerUser),
  };
}

/** A bucket of `perHour` that refills at `perHour` an hour: at most `perHour` at once, then one per 1/perHour h. */
export function hourly(perHour: number): TokenBucketLimiter {
  return new TokenBucketLimiter({ ratePerSec: perHour / 3600, burst: perHour });
}

/** The per-instance typing limit per user. */
export function localTypingLimiter(config: Config): TokenBucketLimiter {
  return new TokenBucketLimiter({ ratePerSec: config.typingPerUserPerSec, burst: config.typingPerUserBurst });
}

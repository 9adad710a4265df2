import type { RateLimiter } from "../limits/rate_limit.ts";
import type { TokenService } from "../auth/jwt.ts";
import type { AuthService } from "../auth/service.ts";
import type { Bus } from "../bus/bus.ts";
import type { Chat } from "../chat/chat.ts";
import type { Config } from "../config.ts";
import type { Identity } from "../hub/client.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Store } from "../storage/store.ts";
import type { ConnectionSlots } from "../websocket/connection_slots.ts";

/** Everything the HTTP layer uses, built once by `main.ts` (or a test). */
export interface ApiDeps {
  config: Config;
  log: Logger;
  store: Store;
  bus: Bus;
  hub: Hub;
  /** WebSocket connections held against `MAX_CONNECTIONS`. */
  connections: ConnectionSlots;
  chat: Chat;
  tokens: TokenService;
  auth: AuthService;
  /** Per-IP limit on register and login. */
  authLimiter: RateLimiter;
  /** Served at `GET /metrics` and fed by the HTTP middleware; no metrics without it. */
  metrics?: Metrics;
  /** The web UI (pages, islands, static files): everything outside `/api` and `/ws`. */
  web?: (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;
  /** True once shutdown began: new sockets are refused with 503. */
  isShuttingDown?: () => boolean;
}

/** Typed per-request state (Hono's `c.var`). */
export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    user: Identity;
  };
}

export { SESSION_COOKIE } from "../auth/session.ts";

/**
 * The one request state of the HTTP app, for the API and the pages alike: Hono's `c.var` (typed by `AppEnv`),
 * which pages see as `ctx.state` (typed by `define`). `utils.ts` re-exports `define` and `State`, as a Fresh
 * app's `utils.ts` does.
 */
import type { TokenService } from "../auth/jwt.ts";
import type { RateLimiter } from "../limits/rate_limit.ts";
import type { AuthService } from "../auth/service.ts";
import type { Sessions } from "../auth/sessions.ts";
import type { PasswordReset } from "../auth/password_reset.ts";
import type { TwoFactor } from "../auth/two_factor.ts";
import type { Bus } from "../bus/bus.ts";
import type { Chat } from "../chat/chat.ts";
import type { Config } from "../config.ts";
import type { ChatError } from "../errors.ts";
import { createDefine } from "../fresh/mod.ts";
import type { Identity } from "../hub/client.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { Store } from "../storage/store.ts";
import type { StoreBreaker } from "../storage/breaker.ts";
import type { ConnectionSlots } from "../websocket/connection_slots.ts";

/** Everything requests reach the application through; built once by `createChatServer` (or a test). */
export interface Services {
  config: Config;
  log: Logger;
  store: Store;
  /** The store's circuit breaker, when it has one: `/api/health` answers from its state (lib/storage/breaker.ts). */
  storeBreaker?: Pick<StoreBreaker, "state">;
  bus: Bus;
  hub: Hub;
  /** WebSocket connections held against `MAX_CONNECTIONS`. */
  connections: ConnectionSlots;
  chat: Chat;
  tokens: TokenService;
  /** Sign-in sessions: access tokens are checked against them (in memory), and they end everywhere at once. */
  sessions: Sessions;
  auth: AuthService;
  twoFactor: TwoFactor;
  passwordReset: PasswordReset;
  /** Per-IP limit on register and login (the API's and the home page's forms). */
  authLimiter: RateLimiter;
  /** Served at `GET /metrics` and fed by the HTTP middleware; no metrics without it. */
  metrics?: Metrics;
  /** True once shutdown began: new sockets are refused with 503. */
  isShuttingDown?: () => boolean;
}

/** Per-request state. */
export interface State {
  /** From `X-Request-Id` when sane, else new; sent back in `X-Request-Id`. */
  requestId: string;
  /** The application's logger with `request_id`. */
  log: Logger;
  services: Services;
  /** The signed-in user (Bearer token or session cookie), or null. */
  user: Identity | null;
  /** Why `user` is null: the 401 a route that needs a user answers with. */
  authError: ChatError | null;
  /** Failed sign-ins to tell about on this page, once (lib/web/sign_in_notice.ts). */
  signInNotice?: { failed: number; locks: number };
  /** The page title; `_app.tsx` appends the product name. */
  title?: string;
}

/** The Hono environment of the app. */
export interface AppEnv {
  Variables: State;
}

/** The environment of routes behind `requireUser`: `c.var.user` is set. */
export interface SignedInEnv {
  Variables: State & { user: Identity };
}

/** Fresh's typed helpers for routes and `_middleware.ts`. */
export const define = createDefine<State>();

/**
 * Keeps the web app's sign-in alive and says when it is over. The page is authorised by HttpOnly cookies it
 * cannot read: a short-lived access token and a refresh token (sent only to `POST /api/auth/refresh`, which
 * answers new cookies and the new access token in its body). Shortly before the access token expires (60 s,
 * or the last fifth of a short lifetime) the keeper asks for a new pair and hands the new access token to its
 * owner (for the socket's `refresh` frame). Tabs of one browser share the cookies, and a refresh token
 * presented twice ends the session, so every tab renews under one Web Lock: under it, the cookie always holds
 * the newest refresh token. A renewal answered 401 (or another session than the page's) means the session
 * ended: `ended()`, once. No Preact, no server code.
 *
 * @example
 * const keeper = new SessionKeeper({ fetch, clock, timers, locks: browserLocks(), expiresAt, renewed, ended });
 * keeper.start(); // renews on time from now on
 * const api = new RoomApi(keeper.fetch); // a 401 token_expired renews and retries once; session_revoked ends
 */
import type { Clock, Timers } from "./clock.ts";

/** The part of the Web Locks API (`navigator.locks`) the keeper uses: runs `callback` holding lock `name`. */
export interface Locks {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** Where the refresh cookie is exchanged for a new pair. */
export const REFRESH_URL = "/api/auth/refresh";
/** The Web Lock every tab of the origin renews under. */
export const REFRESH_LOCK = "chat-refresh";
/** A token is renewed at most this long before it expires… */
const MAX_LEAD_MS = 60_000;
/** …and at the latest when this share of its lifetime is left. */
const LEAD_SHARE = 0.2;
/** A token's `exp` is in whole seconds: it may expire up to this much sooner than `expires_in` says. */
const EXP_ROUNDING_MS = 1_000;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** The browser's `navigator.locks`, or null where it is missing (an insecure origin, an old browser). */
export function browserLocks(): Locks | null {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return null;
  return { request: (name, callback) => locks.request(name, () => callback()) };
}

/**
 * When to renew a token that expires in `remainingMs` and lived `lifetimeMs` in all: 60 s before it expires,
 * or when a fifth of its lifetime is left if that is shorter; never negative.
 */
export function renewDelay(remainingMs: number, lifetimeMs: number): number {
  return Math.max(0, remainingMs - Math.min(MAX_LEAD_MS, lifetimeMs * LEAD_SHARE));
}

/**
 * The expiry of the page's access token in the browser's clock: the server rendered the page `expiresAt -
 * serverNow` ms before it expires, and did so after the page's navigation started (`pageStart`, the browser's
 * `performance.timeOrigin`), so counting from there errs early, never late, whatever the two clocks say.
 */
export function localExpiry(expiresAt: number, serverNow: number, pageStart: number): number {
  return pageStart + Math.max(0, expiresAt - serverNow);
}

/** Wait before renewal retry `n` (from 0) after a failure that is not a refusal: 1 s, 2 s, 4 s … 30 s. */
export function retryDelay(attempt: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
}

export interface SessionKeeperOptions {
  /** For the refresh and (through `keeper.fetch`) the app's API calls; same origin, the cookies go along. */
  fetch: typeof fetch;
  clock: Clock;
  timers: Timers;
  /** Serialises renewals across tabs; null: no lock (then two tabs could, rarely, collide). */
  locks: Locks | null;
  /** When the page's access token expires, in `clock`'s time; unknown: renewed only when asked. */
  expiresAt?: number;
  /** How long an access token lives (ms), for the first renewal; default: what is left of it now. */
  lifetimeMs?: number;
  /** The page's sign-in session: a renewal that answers another one means this one is over. */
  sessionId?: string;
  /** A new access token, valid until `expiresAt` (`clock`'s time): for the socket's `refresh` frame. */
  renewed(token: string, expiresAt: number): void;
  /** The session is over (ended elsewhere, or it cannot be renewed): called once. */
  ended(): void;
}

type Outcome = { token: string; expires_in: number } | "ended" | "failed";

export class SessionKeeper {
  readonly #options: SessionKeeperOptions;
  #expiresAt: number | undefined;
  #lifetimeMs: number | undefined;
  #timer: number | undefined;
  #renewing: Promise<boolean> | null = null;
  #failures = 0;
  #ended = false;
  #stopped = false;

  constructor(options: SessionKeeperOptions) {
    this.#options = options;
    this.#expiresAt = options.expiresAt;
    this.#lifetimeMs = options.lifetimeMs;
  }

  /** The session is over: nothing renews it any more. */
  get ended(): boolean {
    return this.#ended;
  }

  /** When the newest access token expires (`clock`'s time); undefined when unknown. */
  get expiresAt(): number | undefined {
    return this.#expiresAt;
  }

  /** Whether the access token is known to expire within `marginMs` (or to have expired). */
  expiring(marginMs = 0): boolean {
    return this.#expiresAt !== undefined && this.#expiresAt - this.#options.clock.now() <= marginMs;
  }

  /** Renews on time from now on. */
  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  /** No more renewals (the page is closing); a renewal under way is not reported. */
  stop(): void {
    this.#stopped = true;
    this.#options.timers.cancel(this.#timer);
    this.#timer = undefined;
  }

  /** The session ended (the socket was closed with 4003, an API call answered `session_revoked`). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.stop();
    this.#options.ended();
  }

  /**
   * Renews now; calls made while one is under way share it. True with a new token (`renewed()` was called),
   * false when the session ended or the server could not be reached (then it tries again after a while).
   */
  renew(): Promise<boolean> {
    if (this.#ended) return Promise.resolve(false);
    return this.#renewing ??= this.#renew().finally(() => this.#renewing = null);
  }

  /**
   * `fetch` for the app's API calls: a 401 `token_expired` (the renewal came too late: a sleeping laptop)
   * renews and sends the request once more; a 401 `session_revoked` ends the session.
   */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const res = await this.#options.fetch(input, init);
    if (res.status !== 401 || this.#ended) return res;
    const code = await errorCode(res.clone());
    if (code === "token_expired" && await this.renew()) return await this.#options.fetch(input, init);
    if (code === "session_revoked") this.end();
    return res;
  };

  async #renew(): Promise<boolean> {
    const { timers, clock, locks } = this.#options;
    timers.cancel(this.#timer);
    this.#timer = undefined;
    const started = clock.now();
    let outcome: Outcome;
    try {
      outcome = locks === null
        ? await this.#exchange()
        : await locks.request(REFRESH_LOCK, () => this.#exchange());
    } catch {
      outcome = "failed";
    }
    if (this.#stopped) return false;
    if (outcome === "ended") {
      this.end();
      return false;
    }
    if (outcome === "failed") {
      this.#timer = timers.after(retryDelay(this.#failures++), () => this.renew());
      return false;
    }
    this.#failures = 0;
    this.#lifetimeMs = outcome.expires_in * 1000;
    // Counted from before the request, and less the rounding of `exp`: errs early.
    this.#expiresAt = started + this.#lifetimeMs - EXP_ROUNDING_MS;
    this.#schedule();
    this.#options.renewed(outcome.token, this.#expiresAt);
    return true;
  }

  /** One `POST /api/auth/refresh` with the refresh cookie (the browser keeps the cookies it answers). */
  async #exchange(): Promise<Outcome> {
    const res = await this.#options.fetch(REFRESH_URL, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: "{}",
    });
    if (res.status === 401) return "ended";
    if (!res.ok) return "failed";
    const body = await res.json() as { token?: unknown; expires_in?: unknown; session_id?: unknown };
    if (typeof body.token !== "string" || typeof body.expires_in !== "number") return "failed";
    const { sessionId } = this.#options;
    // The cookies now belong to another sign-in (made in another tab): this page's is over.
    if (sessionId !== undefined && body.session_id !== sessionId) return "ended";
    return { token: body.token, expires_in: body.expires_in };
  }

  #schedule(): void {
    const { timers, clock } = this.#options;
    timers.cancel(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || this.#ended || this.#expiresAt === undefined) return;
    const remaining = this.#expiresAt - clock.now();
    const delay = renewDelay(remaining, this.#lifetimeMs ?? remaining);
    this.#timer = timers.after(delay, () => {
      this.#timer = undefined;
      this.renew();
    });
  }
}

/** The `error.code` of a JSON error answer; undefined when it has none. */
async function errorCode(res: Response): Promise<string | undefined> {
  try {
    const { error } = await res.json();
    return typeof error?.code === "string" ? error.code : undefined;
  } catch {
    return undefined;
  }
}

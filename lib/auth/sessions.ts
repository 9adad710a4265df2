/**
 * Server-side sessions: each sign-in is a session (a device), with short-lived access tokens that name it and
 * a refresh token that is rotated on every use. Ending a session (logout, logout everywhere, the sessions list,
 * a password change or reset) refuses its access tokens on every instance at once, without a store read per
 * request: each instance keeps the sessions it has seen in memory and hears of ended ones over the bus.
 */
import { ChatError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Session, Store } from "../storage/store.ts";
import { TokenError, type TokenService } from "./jwt.ts";

/** Who an access token signs in: the user and the session, until `expiresAt` (ms since the epoch). */
export interface SignedIn {
  userId: string;
  username: string;
  sessionId: string;
  expiresAt: number;
}

/** What a sign-in or a refresh answers. */
export interface IssuedTokens {
  token: string;
  /** Seconds until `token` expires. */
  expires_in: number;
  refresh_token: string;
  session_id: string;
}

/** Ended sessions, as they travel between instances. */
export interface SessionsEnded {
  user_id: string;
  session_ids: string[];
}

export interface SessionsOptions {
  store: Store;
  tokens: TokenService;
  refreshTtlDays: number;
  log: Logger;
  /** Tells every instance (this one too) that sessions ended; they call `ended()`. */
  broadcast: (ended: SessionsEnded) => Promise<void>;
  now?: () => number;
  /** How long a session read from the store is trusted before it is read again (60 s). */
  recheckMs?: number;
}

/** About one sign-in: where it comes from. */
export interface Device {
  userAgent: string | undefined;
  ip: string;
}

interface Known {
  userId: string;
  /** The refresh token's expiry (ms): the session is over then. */
  expiresAt: number;
  checkedAt: number;
}

const DAY_MS = 86_400_000;

/**
 * @example
 * const sessions = new Sessions({ store, tokens, refreshTtlDays: 30, log, broadcast });
 * const issued = await sessions.start(user, { userAgent, ip });
 * const who = await sessions.authenticate(issued.token); // throws ChatError
 * await sessions.end(who.sessionId, who.userId);
 */
export class Sessions {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #refreshTtlMs: number;
  readonly #log: Logger;
  readonly #broadcast: (ended: SessionsEnded) => Promise<void>;
  readonly #now: () => number;
  readonly #recheckMs: number;
  readonly #known = new Map<string, Known>();
  readonly #loading = new Map<string, Promise<Known | null>>();
  /** Ended session ids and when this instance learnt it; kept as long as an access token of theirs may live. */
  readonly #ended = new Map<string, number>();
  readonly #listeners = new Set<(ended: SessionsEnded) => void>();

  constructor(options: SessionsOptions) {
    this.#store = options.store;
    this.#tokens = options.tokens;
    this.#refreshTtlMs = options.refreshTtlDays * DAY_MS;
    this.#log = options.log;
    this.#broadcast = options.broadcast;
    this.#now = options.now ?? Date.now;
    this.#recheckMs = options.recheckMs ?? 60_000;
  }

  /** Seconds an access token lives. */
  get accessTtlSeconds(): number {
    return this.#tokens.ttlSeconds;
  }

  /** Seconds a refresh token lives unused. */
  get refreshTtlSeconds(): number {
    return this.#refreshTtlMs / 1000;
  }

  /** Starts a session for a user whose credentials were checked; answers its first tokens. */
  async start(user: { id: string; username: string }, device: Device): Promise<IssuedTokens> {
    const refresh = newOpaqueToken();
    const session = await this.#store.sessions.create({
      user_id: user.id,
      device: deviceName(device.userAgent),
      ip: device.ip,
      expires_at: new Date(this.#now() + this.#refreshTtlMs).toISOString(),
      refresh_hash: await sha256Hex(refresh),
    });
    this.#remember(session);
    return await this.#issue(user, session.id, refresh);
  }

  /**
   * A new token pair for a refresh token, which stops working. A refresh token used a second time ends its
   * session (one of the two users of it is a thief): `session_revoked`, on every instance.
   */
  async refresh(refreshToken: unknown, ip: string): Promise<IssuedTokens & { user_id: string }> {
    if (typeof refreshToken !== "string" || refreshToken === "" || refreshToken.length > 200) {
      throw new ChatError("invalid_refresh_token", 'Send the "refresh_token" from the sign-in answer');
    }
    const next = newOpaqueToken();
    const at = this.#now();
    const result = await this.#store.sessions.rotate(await sha256Hex(refreshToken), {
      hash: await sha256Hex(next),
      at: new Date(at).toISOString(),
      ip,
      expires_at: new Date(at + this.#refreshTtlMs).toISOString(),
    });
    switch (result.outcome) {
      case "unknown":
        throw new ChatError("invalid_refresh_token");
      case "ended":
        throw new ChatError("session_revoked");
      case "reused":
        this.#log.warn("A used refresh token came back: the session is ended", {
          user_id: result.session.user_id,
          session_id: result.session.id,
          ip,
        });
        await this.#announce({ user_id: result.session.user_id, session_ids: [result.session.id] });
        throw new ChatError("session_revoked", "This sign-in was used from somewhere else and has ended");
    }
    const user = await this.#store.users.byId(result.session.user_id);
    if (user === null) throw new ChatError("session_revoked");
    this.#remember(result.session);
    return { ...await this.#issue(user, result.session.id, next), user_id: user.id };
  }

  /**
   * Who a token signs in, when its signature and expiry are good and its session has not ended. Reads the store
   * only for a session this instance has not seen in the last `recheckMs`.
   */
  async authenticate(token: string | null | undefined): Promise<SignedIn> {
    let claims;
    try {
      claims = await this.#tokens.verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw new ChatError(error.code, error.message);
      throw error;
    }
    // The signature check forgives 5 s of clock skew; an access token is not used past its `exp` here.
    if (claims.exp * 1000 <= this.#now()) {
      throw new ChatError("token_expired", "The access token has expired");
    }
    const known = await this.#session(claims.sid);
    if (known === null || known.userId !== claims.sub) throw new ChatError("session_revoked");
    return {
      userId: claims.sub,
      username: claims.username,
      sessionId: claims.sid,
      expiresAt: claims.exp * 1000,
    };
  }

  /** The user's signed-in devices, most recently used first. */
  list(userId: string): Promise<Session[]> {
    return this.#store.sessions.activeOf(userId, new Date(this.#now()).toISOString());
  }

  /** Ends one session of the user (logout, or "log out" in the sessions list); false when it was not active. */
  async end(sessionId: string, userId: string): Promise<boolean> {
    const session = await this.#store.sessions.revoke(sessionId, userId, new Date(this.#now()).toISOString());
    if (session === null) return false;
    await this.#announce({ user_id: userId, session_ids: [sessionId] });
    return true;
  }

  /** Ends every session of the user but `exceptId` (logout everywhere, password change and reset). */
  async endAll(userId: string, exceptId?: string): Promise<string[]> {
    const ids = await this.#store.sessions.revokeAllOf(userId, new Date(this.#now()).toISOString(), exceptId);
    if (ids.length > 0) await this.#announce({ user_id: userId, session_ids: ids });
    return ids;
  }

  /** Ended sessions heard from the bus (this instance's own announcements too): refuse their tokens from now. */
  ended(ended: SessionsEnded): void {
    const now = this.#now();
    for (const id of ended.session_ids) {
      this.#known.delete(id);
      this.#ended.set(id, now);
    }
    this.#forgetOldEnded(now);
    for (const listener of this.#listeners) listener(ended);
  }

  /** Calls `listener` for every ended session this instance hears of (the server closes their sockets). */
  onEnded(listener: (ended: SessionsEnded) => void): void {
    this.#listeners.add(listener);
  }

  /** Sessions cached and ended ids remembered (metrics, tests). */
  get cached(): { sessions: number; ended: number } {
    return { sessions: this.#known.size, ended: this.#ended.size };
  }

  async #issue(
    user: { id: string; username: string },
    sessionId: string,
    refresh: string,
  ): Promise<IssuedTokens> {
    return {
      token: await this.#tokens.sign(user, sessionId),
      expires_in: this.#tokens.ttlSeconds,
      refresh_token: refresh,
      session_id: sessionId,
    };
  }

  /** Marks the sessions ended here at once, then tells every instance; a failed broadcast is logged. */
  async #announce(ended: SessionsEnded): Promise<void> {
    this.ended(ended);
    try {
      await this.#broadcast(ended);
    } catch (error) {
      this.#log.error("Cannot tell the other instances that sessions ended; they notice within a minute", {
        user_id: ended.user_id,
        error,
      });
    }
  }

  #remember(session: Session): void {
    if (session.revoked_at !== null) return;
    this.#known.set(session.id, {
      userId: session.user_id,
      expiresAt: Date.parse(session.expires_at),
      checkedAt: this.#now(),
    });
  }

  async #session(id: string): Promise<Known | null> {
    if (this.#ended.has(id)) return null;
    const now = this.#now();
    const known = this.#known.get(id);
    if (known !== undefined && now - known.checkedAt < this.#recheckMs && now < known.expiresAt) return known;
    let loading = this.#loading.get(id);
    if (loading === undefined) {
      loading = this.#load(id).finally(() => this.#loading.delete(id));
      this.#loading.set(id, loading);
    }
    return await loading;
  }

  async #load(id: string): Promise<Known | null> {
    const session = await this.#store.sessions.byId(id);
    // Ended while it was being read: the bus message is newer than the row.
    if (this.#ended.has(id)) return null;
    if (session === null || session.revoked_at !== null || Date.parse(session.expires_at) <= this.#now()) {
      this.#known.delete(id);
      return null;
    }
    this.#remember(session);
    if (this.#known.size > 100_000) this.#known.delete(this.#known.keys().next().value!);
    return this.#known.get(id) ?? null;
  }

  /** An ended id is kept while an access token of it may still verify (its TTL and the clock tolerance). */
  #forgetOldEnded(now: number): void {
    const keepMs = (this.#tokens.ttlSeconds + 60) * 1000;
    for (const [id, at] of this.#ended) {
      if (now - at < keepMs) break;
      this.#ended.delete(id);
    }
  }
}

/** 32 random bytes, base64url: what a client keeps (refresh and reset tokens); only its hash is stored. */
export function newOpaqueToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** SHA-256 of a token, in hex: how refresh and reset tokens are stored. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const BROWSERS: [RegExp, string][] = [
  [/Edg(?:e|A|iOS)?\//, "Edge"],
  [/OPR\/|Opera/, "Opera"],
  [/Firefox\/|FxiOS\//, "Firefox"],
  [/Chrome\/|CriOS\/|Chromium\//, "Chrome"],
  [/Safari\//, "Safari"],
];
const SYSTEMS: [RegExp, string][] = [
  [/iPhone|iPad|iPod/, "iOS"],
  [/Android/, "Android"],
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/CrOS/, "ChromeOS"],
  [/Linux/, "Linux"],
];

/**
 * A person-readable name for the device a user agent describes: "Firefox on Linux", "Safari on iOS"; a client
 * that is not a browser keeps the first word of its agent ("curl", "Deno"), up to 60 characters.
 */
export function deviceName(userAgent: string | undefined): string {
  const agent = (userAgent ?? "").trim();
  if (agent === "") return "Unknown device";
  const browser = BROWSERS.find(([re]) => re.test(agent))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(agent))?.[1];
  if (browser !== undefined) return system === undefined ? browser : `${browser} on ${system}`;
  const name = agent.split(/[\s/]/)[0].replace(/[^\p{L}\p{N}._-]/gu, "").slice(0, 60);
  return name === "" ? "Unknown device" : name;
}

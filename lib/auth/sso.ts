/**
 * Single sign-on in the app: the configured OpenID Connect provider (lib/auth/oidc.ts), found lazily so that a
 * provider that is down when the server starts does not stop it, and the account a verified identity signs in
 * to (the one with its email, or a new one without a password).
 *
 * @example
 * const sso = ssoLoginFor(config); // undefined without OIDC_ISSUER
 * const { url, pending } = await sso.start(redirectUri, "/rooms");
 * // …at the callback:
 * const identity = await sso.finish(callbackUrl, pending, redirectUri);
 * const { user } = await userForIdentity(store, identity);
 */
import type { Config } from "../config.ts";
import { ConflictError, type Store, type User } from "../storage/store.ts";
import {
  OidcError,
  type OidcIdentity,
  OidcLogin,
  type OidcPending,
  type OidcSettings,
  PENDING_TTL_MS,
} from "./oidc.ts";
import { publicBaseOf } from "./session.ts";

/** How long after a failed discovery the provider is left alone: sign-ins fail fast meanwhile. */
export const DISCOVERY_RETRY_MS = 30_000;

/** The provider could not be reached or described itself wrongly (discovery failed): not the person's fault. */
export class ProviderUnavailableError extends OidcError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("oidc_failed", message, options);
    this.name = "ProviderUnavailableError";
  }
}

export interface SsoLoginOptions {
  /** Accept an `http:` issuer; default: only when its host is a loopback address (`isLoopbackIssuer`). */
  allowHttp?: boolean;
  /** Milliseconds between discovery attempts after a failure (`DISCOVERY_RETRY_MS`). */
  retryMs?: number;
  now?: () => number;
}

/**
 * The configured provider, discovered on first use and again after a failure (at most once per `retryMs`);
 * one discovery serves every sign-in after it.
 */
export class SsoLogin {
  /** The provider's name for people: "Sign in with <name>". */
  readonly name: string;
  readonly #settings: OidcSettings;
  readonly #allowHttp: boolean;
  readonly #retryMs: number;
  readonly #now: () => number;
  #login: Promise<OidcLogin> | undefined;
  #failure: { at: number; error: ProviderUnavailableError } | undefined;

  constructor(settings: OidcSettings, options: SsoLoginOptions = {}) {
    this.#settings = settings;
    this.name = settings.name;
    this.#allowHttp = options.allowHttp ?? isLoopbackIssuer(settings.issuer);
    this.#retryMs = options.retryMs ?? DISCOVERY_RETRY_MS;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The discovered provider. Throws `ProviderUnavailableError` when discovery fails, and again without asking
   * the provider until `retryMs` has passed since.
   */
  provider(): Promise<OidcLogin> {
    if (this.#login !== undefined) return this.#login;
    const failure = this.#failure;
    if (failure !== undefined && this.#now() - failure.at < this.#retryMs) {
      return Promise.reject(failure.error);
    }
    const attempt = OidcLogin.discover(this.#settings, { allowHttp: this.#allowHttp }).then(
      (login) => {
        this.#failure = undefined;
        return login;
      },
      (error) => {
        const message = error instanceof Error ? error.message : String(error);
        const unavailable = new ProviderUnavailableError(message, { cause: error });
        this.#failure = { at: this.#now(), error: unavailable };
        this.#login = undefined;
        throw unavailable;
      },
    );
    this.#login = attempt;
    return attempt;
  }

  /** `OidcLogin.start` on the discovered provider. */
  async start(redirectUri: string, next: string): Promise<{ url: URL; pending: OidcPending }> {
    return await (await this.provider()).start(redirectUri, next);
  }

  /** `OidcLogin.finish` on the discovered provider. */
  async finish(callbackUrl: URL, pending: OidcPending, redirectUri: string): Promise<OidcIdentity> {
    return await (await this.provider()).finish(callbackUrl, pending, redirectUri);
  }
}

/** Whether an issuer URL names a loopback host (127.0.0.0/8, ::1, localhost): the only `http:` issuers taken. */
export function isLoopbackIssuer(issuer: string): boolean {
  let host: string;
  try {
    host = new URL(issuer).hostname.toLowerCase();
  } catch {
    return false;
  }
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Where the provider sends the browser back: `PUBLIC_URL`, else the request's own origin, + the callback path. */
export function redirectUriFor(config: Config, req: Request): string {
  return `${publicBaseOf(req, config)}${CALLBACK_PATH}`;
}

/** The routes of the sign-in: `start` sends the browser to the provider, which sends it back to `callback`. */
export const START_PATH = "/auth/oidc/start";
export const CALLBACK_PATH = "/auth/oidc/callback";

/** The cookie holding the sealed pending sign-in between `start` and `callback` (sent to nothing else). */
export const PENDING_COOKIE = "chat_oidc";
const PENDING_NAMES = { secure: `__Secure-${PENDING_COOKIE}`, plain: PENDING_COOKIE };
const PENDING_PATH = "/auth/oidc";

/** `Set-Cookie` for the sealed pending sign-in: HttpOnly, SameSite=Lax (it comes back on the provider's redirect), 10 minutes. */
export function pendingCookie(sealed: string, secure: boolean): string {
  const name = secure ? PENDING_NAMES.secure : PENDING_NAMES.plain;
  return `${name}=${sealed}; Path=${PENDING_PATH}; HttpOnly; SameSite=Lax; Max-Age=${PENDING_TTL_MS / 1000}` +
    (secure ? "; Secure" : "");
}

/** `Set-Cookie` values that remove the pending sign-in cookie. */
export function clearedPendingCookies(secure: boolean): string[] {
  const tail = `=; Path=${PENDING_PATH}; HttpOnly; SameSite=Lax; Max-Age=0`;
  const cleared = [PENDING_NAMES.plain + tail];
  if (secure) cleared.push(`${PENDING_NAMES.secure}${tail}; Secure`);
  return cleared;
}

/** The sealed pending sign-in a request carries, under either name. */
export function pendingCookieOf(req: Request): string | undefined {
  const header = req.headers.get("cookie");
  if (header === null) return undefined;
  const found = new Map<string, string>();
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) found.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return found.get(PENDING_NAMES.secure) ?? found.get(PENDING_NAMES.plain);
}

const logins = new WeakMap<Config, SsoLogin>();

/** The server's one `SsoLogin` for `config` (made on first call), or undefined when OIDC is not configured. */
export function ssoLoginFor(config: Config): SsoLogin | undefined {
  if (config.oidc === undefined) return undefined;
  let login = logins.get(config);
  if (login === undefined) {
    login = new SsoLogin(config.oidc);
    logins.set(config, login);
  }
  return login;
}

const USERNAME_MIN = 3;
const USERNAME_MAX = 32;
const DISPLAY_NAME_MAX = 64;
/** Numbered usernames tried ("alice2" … "alice50") before a random number. */
const NUMBERED_TRIES = 50;

/**
 * The account a provider's identity signs in to: the one whose email is the identity's (compared
 * case-insensitively), or a new one with no password (`password_hash: ""`), a username from
 * `preferred_username` or the email's local part (`usernameBase`, made unique with a number) and the display
 * name `name`. Refuses an identity whose email is not verified (`OidcError` "oidc_email_unverified").
 */
export async function userForIdentity(
  store: Store,
  identity: OidcIdentity,
): Promise<{ user: User; created: boolean }> {
  if (identity.emailVerified !== true || identity.email.trim() === "") {
    throw new OidcError("oidc_email_unverified", "The provider has not verified this email address");
  }
  const email = identity.email.trim();
  const existing = await store.users.byEmail(email);
  if (existing !== null) return { user: existing, created: false };

  const base = usernameBase(identity);
  for (let attempt = 1;; attempt++) {
    if (attempt > NUMBERED_TRIES + 20) throw new Error(`No free username for ${base}`);
    const username = attempt === 1
      ? base
      : numbered(base, attempt <= NUMBERED_TRIES ? attempt : randomNumber());
    if (await store.users.byUsername(username) !== null) continue;
    let user: User;
    try {
      user = await store.users.create({ username, email, password_hash: "" });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      if (error.field === "email") {
        // Made at the same moment by another sign-in of the same person.
        const raced = await store.users.byEmail(email);
        if (raced !== null) return { user: raced, created: false };
      }
      continue;
    }
    const name = displayName(identity.name);
    if (name !== undefined) user = await store.users.updateProfile(user.id, { display_name: name }) ?? user;
    return { user, created: true };
  }
}

/**
 * The username a new account starts from: `preferred_username`, else the email's local part, cleaned to
 * letters, digits, '_', '.' and '-' (accents dropped, spaces as '_'), at most 32; "-user" is added to one
 * shorter than 3.
 */
export function usernameBase(identity: Pick<OidcIdentity, "email" | "preferredUsername">): string {
  const preferred = cleanUsername(identity.preferredUsername ?? "");
  if (preferred.length >= USERNAME_MIN) return preferred;
  const local = cleanUsername(identity.email.split("@")[0] ?? "");
  if (local.length >= USERNAME_MIN) return local;
  const short = local || preferred;
  return short === "" ? "user" : `${short}-user`;
}

function cleanUsername(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").trim().replace(/\s+/g, "_")
    .replace(/[^A-Za-z0-9_.-]/g, "").slice(0, USERNAME_MAX);
}

/** `base` with `n` at its end, shortened to stay within 32 characters. */
function numbered(base: string, n: number): string {
  const suffix = String(n);
  return base.slice(0, USERNAME_MAX - suffix.length) + suffix;
}

function randomNumber(): number {
  return 1000 + (crypto.getRandomValues(new Uint32Array(1))[0] % 9_000_000);
}

function displayName(name: string | undefined): string | undefined {
  const trimmed = name?.replace(/\p{Cc}/gu, "").trim() ?? "";
  if (trimmed === "") return undefined;
  return [...trimmed].slice(0, DISPLAY_NAME_MAX).join("").trim();
}

/** Why a sign-in with the provider failed, as the home page's `?sso_error=` names it. */
export type SsoErrorCode = "cancelled" | "state" | "nonce" | "expired" | "email" | "unavailable" | "failed";

/**
 * The `?sso_error=` code for a failed sign-in: `error` as thrown by `decodePending`, `SsoLogin` or
 * `userForIdentity`; `callbackUrl` tells a person's "Cancel" at the provider (`error=access_denied`) apart.
 */
export function ssoErrorCode(error: unknown, callbackUrl: URL, stage: "pending" | "finish"): SsoErrorCode {
  if (error instanceof ProviderUnavailableError) return "unavailable";
  if (!(error instanceof OidcError)) return "failed";
  switch (error.code) {
    case "oidc_state_mismatch":
      return "state";
    case "oidc_nonce_mismatch":
      return "nonce";
    case "oidc_email_unverified":
      return "email";
    case "oidc_failed":
      if (stage === "pending") return "expired";
      return callbackUrl.searchParams.get("error") === "access_denied" ? "cancelled" : "failed";
  }
}

const MESSAGES: Record<SsoErrorCode, (name: string) => string> = {
  cancelled: (name) => `You cancelled signing in with ${name}. Try again, or log in with your password.`,
  state: (name) =>
    `This sign-in with ${name} was not started in this browser, or was started again since. Start again.`,
  nonce: (name) => `The answer from ${name} was not made for this sign-in. Start again.`,
  expired: (name) => `Signing in with ${name} took longer than 10 minutes. Start again.`,
  email: (name) =>
    `${name} did not share a verified email address. Verify your email address there, then try again.`,
  unavailable: (name) =>
    `${name} cannot be reached right now. Try again in a minute, or log in with your password.`,
  failed: (name) => `Signing in with ${name} did not work. Start again.`,
};

/** What the home page says for `?sso_error=<code>`: a fixed text per code; undefined for an unknown code. */
export function ssoErrorMessage(code: string | null, providerName: string): string | undefined {
  if (code === null || !Object.hasOwn(MESSAGES, code)) return undefined;
  return MESSAGES[code as SsoErrorCode](providerName);
}

/**
 * "Sign in with <provider>": the OpenID Connect side of it (authorization code flow with PKCE S256, state and
 * nonce), on `openid-client`. Independent of HTTP routing and of the store: the caller keeps the pending state
 * between `start` and `finish` (sealed with `encodePending` into a cookie) and turns the identity into a
 * session.
 *
 * @example
 * const oidc = await OidcLogin.discover({ issuer, clientId, clientSecret, name: "Acme" });
 * const { url, pending } = await oidc.start(redirectUri, "/rooms/general");
 * setCookie(await encodePending(pending, secret)); redirect(url);
 * // …at the callback:
 * const identity = await oidc.finish(new URL(request.url), await decodePending(cookie, secret), redirectUri);
 */

import { base64url } from "jose";
import * as client from "openid-client";

export interface OidcSettings {
  /** Issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The provider's name for people: "Sign in with <name>". */
  name: string;
}

/** What the client keeps between `start` and `finish`: never shown to the browser unsealed. */
export interface OidcPending {
  state: string;
  nonce: string;
  /** PKCE code verifier. */
  verifier: string;
  /** Local path to go to after signing in. */
  next: string;
  /** When `start` made it, milliseconds since the epoch. */
  created: number;
}

/** Who the provider says signed in. */
export interface OidcIdentity {
  issuer: string;
  /** The provider's stable user id (`sub`); with `issuer` the key to link an account by. */
  subject: string;
  email: string;
  /** Always true: `finish` refuses an unverified email. */
  emailVerified: boolean;
  name?: string;
  preferredUsername?: string;
}

export type OidcErrorCode =
  | "oidc_state_mismatch"
  | "oidc_nonce_mismatch"
  | "oidc_failed"
  | "oidc_email_unverified";

/** Why a sign-in with the provider was refused; `message` is for people, `code` for the error table. */
export class OidcError extends Error {
  constructor(readonly code: OidcErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OidcError";
  }
}

/** How long a started sign-in may take, in milliseconds. */
export const PENDING_TTL_MS = 10 * 60 * 1000;

const SCOPE = "openid email profile";

/**
 * One configured provider, discovered once at startup.
 *
 * @example
 * const oidc = await OidcLogin.discover(settings);
 * oidc.name; // "Acme", for the button
 */
export class OidcLogin {
  readonly #config: client.Configuration;
  /** The provider's name for the button. */
  readonly name: string;
  /** The issuer identifier as the provider's metadata states it. */
  readonly issuer: string;

  private constructor(config: client.Configuration, name: string) {
    this.#config = config;
    this.name = name;
    this.issuer = config.serverMetadata().issuer;
  }

  /**
   * Reads the provider's metadata (OpenID Connect discovery) and checks that it names `settings.issuer`.
   * An `http:` issuer is refused unless `allowHttp` (tests). Throws `OidcError` "oidc_failed".
   */
  static async discover(settings: OidcSettings, options: { allowHttp?: boolean } = {}): Promise<OidcLogin> {
    let issuer: URL;
    try {
      issuer = new URL(settings.issuer);
    } catch {
      throw new OidcError("oidc_failed", `The OpenID Connect issuer "${settings.issuer}" is not a URL`);
    }
    if (issuer.protocol !== "https:" && !(issuer.protocol === "http:" && options.allowHttp)) {
      throw new OidcError(
        "oidc_failed",
        `The OpenID Connect issuer must be an https URL, not ${issuer.href}`,
      );
    }
    let config: client.Configuration;
    try {
      config = await client.discovery(
        issuer,
        settings.clientId,
        { client_secret: settings.clientSecret },
        undefined,
        options.allowHttp ? { execute: [client.allowInsecureRequests] } : undefined,
      );
    } catch (error) {
      throw new OidcError(
        "oidc_failed",
        `OpenID Connect discovery at ${issuer.href} failed: ${describe(error)}`,
        { cause: error },
      );
    }
    // The client authentication the provider takes: client_secret_basic is the default when it lists none.
    const methods = config.serverMetadata().token_endpoint_auth_methods_supported;
    const basic = methods === undefined || methods.includes("client_secret_basic");
    const auth = basic
      ? client.ClientSecretBasic(settings.clientSecret)
      : client.ClientSecretPost(settings.clientSecret);
    const configured = new client.Configuration(config.serverMetadata(), settings.clientId, {
      client_secret: settings.clientSecret,
    }, auth);
    if (options.allowHttp) client.allowInsecureRequests(configured);
    return new OidcLogin(configured, settings.name);
  }

  /**
   * The provider's authorization URL (code flow, PKCE S256, state, nonce, scope "openid email profile") and
   * what to keep until the callback. `next` is kept only if it is a local path (else "/").
   */
  async start(redirectUri: string, next: string): Promise<{ url: URL; pending: OidcPending }> {
    const verifier = client.randomPKCECodeVerifier();
    const pending: OidcPending = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier,
      next: localPath(next),
      created: Date.now(),
    };
    const url = client.buildAuthorizationUrl(this.#config, {
      redirect_uri: redirectUri,
      response_type: "code",
      scope: SCOPE,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    });
    return { url, pending };
  }

  /**
   * Checks the callback (state, the provider's error, then via openid-client: issuer, code exchange with the
   * PKCE verifier, ID token signature, issuer, audience, expiry and nonce), reads the claims (from the ID token,
   * else the userinfo endpoint) and returns the identity. Only the query of `callbackUrl` is used; the token
   * request names `redirectUri`, which must be the one given to `start`. Throws `OidcError`.
   */
  async finish(callbackUrl: URL, pending: OidcPending, redirectUri: string): Promise<OidcIdentity> {
    const params = callbackUrl.searchParams;
    if (!sameString(params.get("state") ?? "", pending.state)) {
      throw new OidcError(
        "oidc_state_mismatch",
        "This sign-in answer does not belong to the sign-in started in this browser; start again",
      );
    }
    const refused = params.get("error");
    if (refused !== null) {
      const why = params.get("error_description") ?? refused;
      throw new OidcError("oidc_failed", `${this.name} did not sign you in: ${why}`);
    }
    const current = new URL(redirectUri);
    current.search = callbackUrl.search;
    current.hash = "";

    let claims: Record<string, unknown>;
    try {
      const tokens = await client.authorizationCodeGrant(this.#config, current, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      const idToken = tokens.claims();
      if (idToken === undefined) throw new Error("no ID token");
      claims = { ...idToken };
      if ((claims.email === undefined || claims.email_verified === undefined) && this.#hasUserInfo()) {
        const info = await client.fetchUserInfo(this.#config, tokens.access_token, idToken.sub);
        claims = { ...info, ...definedOnly(claims) };
      }
    } catch (error) {
      throw this.#failure(error);
    }

    const email = typeof claims.email === "string" ? claims.email.trim() : "";
    if (email === "") {
      throw new OidcError(
        "oidc_email_unverified",
        `${this.name} did not share your email address; allow it to share your email and try again`,
      );
    }
    if (claims.email_verified !== true && claims.email_verified !== "true") {
      throw new OidcError(
        "oidc_email_unverified",
        `${this.name} has not verified your email address ${email}; verify it there and try again`,
      );
    }
    return {
      issuer: this.issuer,
      subject: String(claims.sub),
      email,
      emailVerified: true,
      ...(typeof claims.name === "string" && claims.name !== "" ? { name: claims.name } : {}),
      ...(typeof claims.preferred_username === "string" && claims.preferred_username !== ""
        ? { preferredUsername: claims.preferred_username }
        : {}),
    };
  }

  #hasUserInfo(): boolean {
    return this.#config.serverMetadata().userinfo_endpoint !== undefined;
  }

  #failure(error: unknown): OidcError {
    if (error instanceof client.ClientError && error.code === "OAUTH_JWT_CLAIM_COMPARISON_FAILED") {
      const claim = ((error.cause as { cause?: { claim?: unknown } } | undefined)?.cause)?.claim;
      if (claim === "nonce") {
        return new OidcError(
          "oidc_nonce_mismatch",
          `The sign-in answer from ${this.name} was not made for this sign-in; start again`,
          { cause: error },
        );
      }
    }
    if (error instanceof client.ResponseBodyError && error.error === "invalid_grant") {
      return new OidcError(
        "oidc_failed",
        `${this.name} refused the sign-in code (used already, expired, or not for this sign-in); start again`,
        { cause: error },
      );
    }
    return new OidcError("oidc_failed", `Signing in with ${this.name} failed: ${describe(error)}`, {
      cause: error,
    });
  }
}

/** Seals `pending` into a cookie value (AES-256-GCM, key derived from `secret`): unreadable, unforgeable. */
export async function encodePending(pending: OidcPending, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify(pending));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: AAD },
    await pendingKey(secret),
    plain,
  );
  const out = new Uint8Array(iv.length + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), iv.length);
  return base64url.encode(out);
}

/**
 * Opens a value made by `encodePending` with the same `secret`. Throws `OidcError` "oidc_state_mismatch" when
 * it is missing, changed or sealed with another secret, "oidc_failed" when it is older than 10 minutes.
 */
export async function decodePending(
  value: string | null | undefined,
  secret: string,
  now: number = Date.now(),
): Promise<OidcPending> {
  const lost = () =>
    new OidcError("oidc_state_mismatch", "This browser has no valid sign-in in progress; start again");
  const bytes = value ? fromBase64url(value) : null;
  if (bytes === null || bytes.length < 12 + 16) throw lost();
  let pending: unknown;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: AAD },
      await pendingKey(secret),
      bytes.subarray(12),
    );
    pending = JSON.parse(new TextDecoder().decode(plain));
  } catch {
    throw lost();
  }
  if (!isPending(pending)) throw lost();
  const age = now - pending.created;
  if (age > PENDING_TTL_MS || age < -60_000) {
    throw new OidcError("oidc_failed", "The sign-in took longer than 10 minutes; start again");
  }
  return pending;
}

const AAD = new TextEncoder().encode("chat oidc pending v1");
const keys = new Map<string, Promise<CryptoKey>>();

/** The AES-GCM key for `secret` (HKDF-SHA-256, its own `info` so it differs from other uses of the secret). */
function pendingKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (key === undefined) {
    const bytes = new TextEncoder().encode(secret);
    if (bytes.length < 32) throw new Error("The secret sealing OIDC state must be at least 32 bytes long");
    key = crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveKey"]).then((base) =>
      crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: AAD },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      )
    );
    if (keys.size >= 16) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

function isPending(value: unknown): value is OidcPending {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.state === "string" && typeof v.nonce === "string" && typeof v.verifier === "string" &&
    typeof v.next === "string" && typeof v.created === "number" && Number.isFinite(v.created);
}

/** `next` if it is a path on this site ("/…", not "//host" or "/\host"), else "/". */
function localPath(next: string): string {
  const control = [...next].some((char) => char.charCodeAt(0) < 0x20 || char === "\x7f");
  return /^\/(?![/\\])/.test(next) && !control ? next : "/";
}

function sameString(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

function definedOnly(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

function describe(error: unknown): string {
  if (error instanceof client.ResponseBodyError) {
    return error.error_description ? `${error.error} (${error.error_description})` : error.error;
  }
  if (error instanceof client.AuthorizationResponseError) return error.error_description ?? error.error;
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${message}${cause}`;
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
  try {
    return new Uint8Array(base64url.decode(text));
  } catch {
    return null;
  }
}

import { errors as joseErrors, jwtVerify, SignJWT } from "jose";

export type TokenErrorCode = "missing_token" | "invalid_token" | "token_expired";

/** Why a token was refused; `code` goes to the client as is. */
export class TokenError extends Error {
  constructor(readonly code: TokenErrorCode, message: string) {
    super(message);
    this.name = "TokenError";
  }
}

export interface TokenClaims {
  /** User id. */
  sub: string;
  username: string;
  /** The session the token was issued to (lib/auth/sessions.ts): ending it refuses the token. */
  sid: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export interface TokenServiceOptions {
  secret: string;
  ttlSeconds: number;
  issuer?: string;
  audience?: string;
  /** Injected clock in milliseconds (tests). */
  now?: () => number;
}

const ALG = "HS256";

/**
 * Signs and verifies the server's access tokens: HS256 only, with `iss`, `aud`, `iat` and `exp`.
 *
 * @example
 * const tokens = new TokenService({ secret, ttlSeconds: 3600 });
 * const jwt = await tokens.sign({ id: "…", username: "alice" }, sessionId);
 * const claims = await tokens.verify(jwt); // throws TokenError
 */
export class TokenService {
  readonly #key: Uint8Array;
  readonly #ttl: number;
  readonly #issuer: string;
  readonly #audience: string;
  readonly #now: () => number;

  constructor(options: TokenServiceOptions) {
    this.#key = new TextEncoder().encode(options.secret);
    if (this.#key.length < 32) throw new Error("The JWT secret must be at least 32 bytes long");
    this.#ttl = options.ttlSeconds;
    this.#issuer = options.issuer ?? "chat-server";
    this.#audience = options.audience ?? "chat-client";
    this.#now = options.now ?? Date.now;
  }

  /** Seconds a token is valid for. */
  get ttlSeconds(): number {
    return this.#ttl;
  }

  sign(user: { id: string; username: string }, sessionId: string): Promise<string> {
    const iat = Math.floor(this.#now() / 1000);
    return new SignJWT({ username: user.username, sid: sessionId })
      .setProtectedHeader({ alg: ALG, typ: "JWT" })
      .setSubject(user.id)
      .setIssuer(this.#issuer)
      .setAudience(this.#audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.#ttl)
      .sign(this.#key);
  }

  /** Verifies `token`; throws `TokenError` with `missing_token`, `token_expired` or `invalid_token`. */
  async verify(token: string | null | undefined): Promise<TokenClaims> {
    if (token === null || token === undefined || token === "") {
      throw new TokenError("missing_token", "An access token is required");
    }
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: [ALG],
        issuer: this.#issuer,
        audience: this.#audience,
        requiredClaims: ["sub", "exp", "iat"],
        currentDate: new Date(this.#now()),
        clockTolerance: 5,
      });
      if (typeof payload.sub !== "string" || typeof payload.username !== "string") {
        throw new TokenError("invalid_token", "The access token is missing its subject");
      }
      if (typeof payload.sid !== "string") {
        throw new TokenError("invalid_token", "The access token names no session; sign in again");
      }
      return { sub: payload.sub, username: payload.username, sid: payload.sid, exp: payload.exp as number };
    } catch (error) {
      if (error instanceof TokenError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new TokenError("token_expired", "The access token has expired; log in again");
      }
      throw new TokenError("invalid_token", "The access token is invalid");
    }
  }
}

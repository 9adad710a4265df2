import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { TokenError, type TokenService } from "../auth/jwt.ts";
import { clearedSessionCookie, SESSION_COOKIE } from "../auth/session.ts";
import { ChatError } from "../errors.ts";
import type { Identity } from "../hub/client.ts";
import type { AppEnv } from "./env.ts";

/** The identity an access token carries; a missing, malformed, expired or wrongly signed one is a 401. */
export async function identify(tokens: TokenService, token: string | undefined): Promise<Identity> {
  try {
    const claims = await tokens.verify(token);
    return { userId: claims.sub, username: claims.username };
  } catch (error) {
    if (error instanceof TokenError) throw new ChatError(error.code, error.message);
    throw error;
  }
}

export interface SessionOptions {
  /** Clear a session cookie that does not verify (pages; the API leaves the cookie alone). */
  clearStaleCookie?: boolean;
}

/**
 * Who is asking: `Authorization: Bearer <token>`, else the `chat_session` cookie. Sets `c.var.user` (null for
 * nobody, or for credentials that fail) and `c.var.authError` (why). It refuses nothing itself: pages render
 * for anyone, and API routes that need a user put `requireUser` after it.
 *
 * @example
 * app.use(session({ clearStaleCookie: true }));
 */
export function session(options: SessionOptions = {}): MiddlewareHandler<AppEnv> {
  return async function session(c, next) {
    const header = c.req.header("authorization");
    const cookie = header === undefined ? getCookie(c, SESSION_COOKIE) : undefined;
    let user: Identity | null = null;
    let authError: ChatError | null = null;
    try {
      if (header === undefined) user = await identify(c.var.services.tokens, cookie);
      else {
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        if (match === null) throw new ChatError("invalid_token", 'Authorization must be "Bearer <token>"');
        user = await identify(c.var.services.tokens, match[1]);
      }
    } catch (error) {
      if (!(error instanceof ChatError)) throw error;
      authError = error;
    }
    c.set("user", user);
    c.set("authError", authError);
    await next();
    if (options.clearStaleCookie && cookie !== undefined && user === null) {
      c.header("set-cookie", clearedSessionCookie(), { append: true });
    }
  };
}

/** Refuses a request without a signed-in user with the 401 the session found (`missing_token` …). */
export const requireUser: MiddlewareHandler<AppEnv> = async function requireUser(c, next) {
  if (c.var.user === null) throw c.var.authError ?? new ChatError("missing_token");
  await next();
};

import type { MiddlewareHandler } from "hono";
import { accessCookie, clearedSessionCookies, isHttps, REFRESH_PATH, setsSession } from "../auth/session.ts";
import { ChatError } from "../errors.ts";
import type { Identity } from "../hub/client.ts";
import type { AppEnv, Services } from "./env.ts";

/**
 * The identity an access token carries: its user and session. A missing, malformed, expired or wrongly signed
 * token, or one whose session has ended, is a 401 (`session_revoked` for the last).
 */
export async function identify(services: Services, token: string | undefined): Promise<Identity> {
  const who = await services.sessions.authenticate(token);
  return { userId: who.userId, username: who.username, sessionId: who.sessionId, expiresAt: who.expiresAt };
}

export interface SessionOptions {
  /**
   * Pages: a browser whose access token expired is sent to be renewed (`GET /api/auth/refresh?next=`) and
   * comes back; a cookie that cannot sign in any more (ended session, bad token) is cleared.
   */
  pages?: boolean;
}

/**
 * Who is asking: `Authorization: Bearer <token>`, else the session cookie. Sets `c.var.user` (null for nobody,
 * or for credentials that fail) and `c.var.authError` (why). It refuses nothing itself: pages render for
 * anyone, and API routes that need a user put `requireUser` after it.
 *
 * @example
 * app.use(session({ pages: true }));
 */
export function session(options: SessionOptions = {}): MiddlewareHandler<AppEnv> {
  return async function session(c, next) {
    const header = c.req.header("authorization");
    const cookie = header === undefined ? accessCookie(c.req.raw) : undefined;
    let user: Identity | null = null;
    let authError: ChatError | null = null;
    try {
      if (header === undefined) user = await identify(c.var.services, cookie);
      else {
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        if (match === null) throw new ChatError("invalid_token", 'Authorization must be "Bearer <token>"');
        user = await identify(c.var.services, match[1]);
      }
    } catch (error) {
      if (!(error instanceof ChatError)) throw error;
      authError = error;
    }
    c.set("user", user);
    c.set("authError", authError);
    if (
      options.pages && cookie !== undefined && authError?.code === "token_expired" && wantsPage(c.req.raw)
    ) {
      const next = c.req.path + (new URL(c.req.url).search);
      return c.redirect(`${REFRESH_PATH}?next=${encodeURIComponent(next)}`, 303);
    }
    await next();
    // A stale cookie is cleared, unless the page just signed someone in (its new cookies must stand).
    if (options.pages && cookie !== undefined && user === null && !setsSession(c.res.headers)) {
      const secure = isHttps(c.req.raw, c.var.services.config.trustProxy);
      for (const value of clearedSessionCookies(secure)) c.header("set-cookie", value, { append: true });
    }
  };
}

/** A browser navigating to a page (not a script's fetch, not a form post). */
function wantsPage(req: Request): boolean {
  return (req.method === "GET" || req.method === "HEAD") &&
    (req.headers.get("accept") ?? "").includes("text/html");
}

/** Refuses a request without a signed-in user with the 401 the session found (`missing_token` …). */
export const requireUser: MiddlewareHandler<AppEnv> = async function requireUser(c, next) {
  if (c.var.user === null) throw c.var.authError ?? new ChatError("missing_token");
  await next();
};

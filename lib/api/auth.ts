import { type Context, Hono } from "hono";
import { clearedSessionCookies, isHttps, refreshCookie, sessionCookies } from "../auth/session.ts";
import { ChatError } from "../errors.ts";
import { readJson } from "../validate.ts";
import { limitAuthAttempts } from "../web/auth_attempts.ts";
import { safeNext } from "../web/forms.ts";
import { publicBaseOf } from "../auth/session.ts";
import { clientIp } from "../web/client_ip.ts";
import type { AppEnv, Services } from "../web/env.ts";
import { requireUser } from "../web/session.ts";

/**
 * Accounts and sessions under `/api/auth`:
 * - `POST /register`, `POST /login` (limited per client IP, as the login form is);
 * - `POST /refresh` (`{refresh_token}`, or the browser's refresh cookie), and `GET /refresh?next=` for a page
 *   whose access token expired;
 * - `POST /logout` (this session), `POST /logout-all` (every session of the user).
 */
export function authRoutes(deps: Services): Hono<AppEnv> {
  const { auth, sessions, config } = deps;
  const app = new Hono<AppEnv>();

  // Exact paths: Hono's "/login/*" would also match "/login" and take two attempts for one.
  for (
    const path of ["/register", "/login", "/login/two-factor", "/password-reset", "/password-reset/confirm"]
  ) {
    app.use(path, limitAuthAttempts());
  }

  app.post("/register", async (c) => {
    const user = await auth.register(await readJson(c.req.raw));
    return c.json(
      { id: user.id, username: user.username, email: user.email, created_at: user.created_at },
      201,
    );
  });

  app.post("/login", async (c) => c.json(await auth.login(await readJson(c.req.raw), deviceOf(c))));

  app.post("/login/two-factor", async (c) => {
    return c.json(await auth.loginSecondFactor(await readJson(c.req.raw), deviceOf(c)));
  });

  app.post("/password-reset", async (c) => {
    await deps.passwordReset.request(await readJson(c.req.raw), publicBaseOf(c.req.raw, config));
    return c.json({ status: "sent" }, 202);
  });

  app.post("/password-reset/confirm", async (c) => {
    await deps.passwordReset.confirm(await readJson(c.req.raw));
    return c.body(null, 204);
  });

  /**
   * An API client sends `{refresh_token}` and gets both tokens back. The web app sends its cookie: it gets the
   * new cookies, and the access token in the body (for its socket's `refresh` frame), never the refresh token.
   */
  app.post("/refresh", async (c) => {
    const cookie = refreshCookie(c.req.raw);
    const body = cookie !== undefined && !isJson(c) ? {} : await readJson(c.req.raw);
    const fromBody = body.refresh_token !== undefined;
    const issued = await sessions.refresh(
      fromBody ? body.refresh_token : cookie,
      clientIp(c, config.trustProxy),
    );
    if (fromBody) return c.json(withoutUser(issued));
    setCookies(c, sessionCookies(issued, sessions.refreshTtlSeconds, secure(c)));
    return c.json({ token: issued.token, expires_in: issued.expires_in, session_id: issued.session_id });
  });

  app.get("/refresh", async (c) => {
    const next = safeNext(c.req.query("next"));
    try {
      const issued = await sessions.refresh(refreshCookie(c.req.raw), clientIp(c, config.trustProxy));
      setCookies(c, sessionCookies(issued, sessions.refreshTtlSeconds, secure(c)));
      return c.redirect(next, 303);
    } catch (error) {
      // An outage (the store is down) is not the end of the session: the browser keeps its cookies.
      if (!(error instanceof ChatError) || error.retryable) throw error;
      setCookies(c, clearedSessionCookies(secure(c)));
      // To sign in again, then back; a page that is itself the sign-in page (`/?…`) is not wrapped again.
      const home = next === "/rooms"
        ? "/"
        : next === "/" || next.startsWith("/?")
        ? next
        : `/?next=${encodeURIComponent(next)}`;
      return c.redirect(home, 303);
    }
  });

  app.post("/logout", requireUser, async (c) => {
    const { userId, sessionId } = c.var.user!;
    if (sessionId !== undefined) await sessions.end(sessionId, userId);
    setCookies(c, clearedSessionCookies(secure(c)));
    return c.body(null, 204);
  });

  app.post("/logout-all", requireUser, async (c) => {
    const ended = await sessions.endAll(c.var.user!.userId);
    setCookies(c, clearedSessionCookies(secure(c)));
    return c.json({ ended: ended.length });
  });

  function secure(c: Context<AppEnv>): boolean {
    return isHttps(c.req.raw, config.trustProxy);
  }

  return app;
}

/** Where a sign-in comes from, for the sessions list. */
export function deviceOf(c: Context<AppEnv>): { userAgent: string | undefined; ip: string } {
  return { userAgent: c.req.header("user-agent"), ip: clientIp(c, c.var.services.config.trustProxy) };
}

function setCookies(c: Context<AppEnv>, cookies: string[]): void {
  for (const cookie of cookies) c.header("set-cookie", cookie, { append: true });
}

function isJson(c: Context<AppEnv>): boolean {
  return (c.req.header("content-type") ?? "").toLowerCase().startsWith("application/json");
}

function withoutUser<T extends { user_id?: string }>(issued: T): Omit<T, "user_id"> {
  const { user_id: _, ...rest } = issued;
  return rest;
}

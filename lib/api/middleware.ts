import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { TokenError, type TokenService } from "../auth/jwt.ts";
import { ChatError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { clientIpOf } from "../web/client_ip.ts";
import { type AppEnv, SESSION_COOKIE } from "./context.ts";

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Gives each request an id (kept from `X-Request-Id` when sane), a logger carrying it, and one log line. */
export function requestLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async function requestLog(c, next) {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID_RE.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", requestId);
    c.set("log", log.with({ request_id: requestId }));
    const started = performance.now();
    await next();
    c.header("X-Request-Id", requestId);
    c.var.log.info("request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      user_id: c.get("user")?.userId,
    });
  };
}

/**
 * Requires a valid access token: `Authorization: Bearer …`, or the session cookie. A request authenticated by the
 * cookie that changes state must come from an allowed origin (cross-site request forgery).
 */
export function requireAuth(
  tokens: TokenService,
  isAllowedOrigin: (c: Context) => boolean,
): MiddlewareHandler<AppEnv> {
  return async function requireAuth(c, next) {
    const header = c.req.header("authorization");
    let token: string | undefined;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (match === null) throw new ChatError("invalid_token", 'Authorization must be "Bearer <token>"');
      token = match[1];
    } else {
      token = getCookie(c, SESSION_COOKIE);
      if (token !== undefined && !["GET", "HEAD", "OPTIONS"].includes(c.req.method) && !isAllowedOrigin(c)) {
        throw new ChatError("origin_not_allowed", "Cross-origin request refused");
      }
    }
    try {
      const claims = await tokens.verify(token);
      c.set("user", { userId: claims.sub, username: claims.username });
    } catch (error) {
      if (error instanceof TokenError) throw new ChatError(error.code, error.message);
      throw error;
    }
    await next();
  };
}

/** The client's address (see `clientIpOf`). */
export function clientIp(c: Context, trustProxy: boolean): string {
  return clientIpOf(c.req.raw, c.env as Deno.ServeHandlerInfo | undefined, trustProxy);
}

/**
 * Whether the request's `Origin` may use the API/socket: absent (not a browser), the same origin as the request,
 * or listed in CORS_ORIGINS.
 */
export function originAllowed(request: Request, allowed: string[]): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  const host = request.headers.get("host");
  try {
    return host !== null && new URL(origin).host === host;
  } catch {
    return false;
  }
}

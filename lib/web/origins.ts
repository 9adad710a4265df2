/**
 * Which browser origins may use the app: the one place that reads `CORS_ORIGINS`. The API's CORS headers, the
 * same-origin check of state-changing requests (cross-site request forgery) and the socket's origin check all
 * ask here.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { isHttps } from "../auth/session.ts";
import type { Config } from "../config.ts";
import { ChatError } from "../errors.ts";
import type { AppEnv } from "./env.ts";

/** Whether `origin` is listed in CORS_ORIGINS, or CORS_ORIGINS is `*`. */
export function listedOrigin(config: Config, origin: string): boolean {
  return config.corsOrigins.includes("*") || config.corsOrigins.includes(origin);
}

/**
 * Whether the request's `Origin` may use the API, the pages and the socket: absent (not a browser), listed in
 * CORS_ORIGINS, `PUBLIC_URL`'s origin, or the request's own origin. The request's own origin is compared whole:
 * scheme, host and port, with the scheme https when the connection is TLS or, with `TRUST_PROXY`, when
 * `X-Forwarded-Proto` says so. `https://host` is not the origin of `http://host`.
 */
export function originAllowed(request: Request, config: Config): boolean {
  const origin = request.headers.get("origin");
  if (origin === null || listedOrigin(config, origin)) return true;
  const theirs = originOf(origin);
  if (theirs === null) return false;
  if (config.publicUrl !== undefined && originOf(config.publicUrl) === theirs) return true;
  const host = request.headers.get("host");
  if (host === null) return false;
  const scheme = isHttps(request, config.trustProxy) ? "https" : "http";
  return originOf(`${scheme}://${host}`) === theirs;
}

/** `scheme://host[:port]` as the URL parser serialises it (default port left out), or null. */
function originOf(url: string): string | null {
  try {
    const parsed = new URL(url);
    // Only http(s) origins compare: `null`, `file:` and the like are never "the same".
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
    if (parsed.username !== "" || parsed.password !== "") return null;
    return parsed.origin;
  } catch {
    return null;
  }
}

/** CORS for the API: the listed origins may call it (with credentials unless CORS_ORIGINS is `*`). */
export function apiCors(config: Config): MiddlewareHandler<AppEnv> {
  return cors({
    origin: (origin) => listedOrigin(config, origin) ? origin : null,
    credentials: !config.corsOrigins.includes("*"),
    allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "X-Request-Id"],
    exposeHeaders: ["Retry-After", "X-Request-Id"],
    maxAge: 600,
  });
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Refuses (403 `origin_not_allowed`) a state-changing request that a browser may have sent on another site's
 * behalf: one without an `Authorization` header (so carrying at most the session cookie, or nothing, as a
 * login form) whose `Origin` is not allowed (`originAllowed`). Bearer-token calls and requests without
 * `Origin` (curl, other servers) pass. `hono/csrf` does not fit: it lets JSON bodies through and refuses
 * requests without `Origin`.
 */
export function sameOrigin(): MiddlewareHandler<AppEnv> {
  return async function sameOrigin(c, next) {
    if (
      !SAFE_METHODS.has(c.req.method) && c.req.header("authorization") === undefined &&
      !originAllowed(c.req.raw, c.var.services.config)
    ) {
      throw new ChatError("origin_not_allowed", "Cross-origin request refused");
    }
    await next();
  };
}

import type { MiddlewareHandler } from "hono";
import { requestId } from "hono/request-id";
import type { AppEnv } from "./env.ts";

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives each request an id (`hono/request-id`): the client's `X-Request-Id` when it is 1-64 characters of
 * `A-Z a-z 0-9 . _ - =`, otherwise a new UUID.
 */
export function requestIds(): MiddlewareHandler<AppEnv> {
  return requestId({
    limitLength: 64,
    // Called for ids Hono's own check refuses; those with a dot are still the client's.
    generator: (c) => {
      const incoming = c.req.header("x-request-id");
      return incoming !== undefined && REQUEST_ID_RE.test(incoming) ? incoming : crypto.randomUUID();
    },
  });
}

/**
 * A logger carrying the request id (`c.var.log`), the `X-Request-Id` response header on every answer (errors,
 * pages and upgrades too), and one `request` log line with method, path, status, duration and user.
 */
export function requestLog(): MiddlewareHandler<AppEnv> {
  return async function requestLog(c, next) {
    const requestId = c.var.requestId;
    c.set("log", c.var.services.log.with({ request_id: requestId }));
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

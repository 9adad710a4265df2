import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Metrics } from "./metrics.ts";

/** The `route` label of requests no route handler matched (404s), so raw paths never become labels. */
export const UNMATCHED_ROUTE = "unmatched";

/**
 * Counts every request under `chat_http_requests_total{route,method,status}` and times it in
 * `chat_http_request_duration_seconds{route,method}`. `route` is the pattern the request matched
 * (`/api/rooms/:id/messages`), never the raw path, so the number of series stays bounded.
 */
export function httpMetrics(metrics: Metrics): MiddlewareHandler {
  return async function httpMetrics(c, next) {
    const started = performance.now();
    await next();
    metrics.httpRequest(routeLabel(c), c.req.method, c.res.status, (performance.now() - started) / 1000);
  };
}

/**
 * The pattern of the route handler that answered the request, or would have when a middleware before it
 * refused (401, 413, 429): the first handler matched at or after the current route index. Middleware is told
 * apart by its arity `(c, next)`, as Hono's own route helper does.
 */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = c.req.routeIndex; i < routes.length; i++) {
    if (routes[i].handler.length < 2) return routes[i].path;
  }
  return UNMATCHED_ROUTE;
}

/**
 * The one HTTP app: API, socket and pages are routes of one Hono app, with one request state (`AppEnv`), one
 * session middleware, one same-origin check and one error handler.
 *
 * Every request: services -> request id -> request log -> HTTP metrics, then
 * - `/api/*` (lib/api/app.ts): CORS -> body limit -> session -> same origin -> [register/login limit |
 *   requireUser] -> route, or a JSON 404;
 * - `GET /ws`: the upgrade (origin, token and capacity checked there); `GET /metrics`;
 * - anything else, with pages: island bundles and static files -> trailing slashes -> page headers ->
 *   session (clearing a stale cookie) -> same origin -> the file route (its `_middleware.ts` first), or `_404`.
 */
import { Hono } from "hono";
import { wsHandler } from "./api/ws.ts";
import { apiApp } from "./api/app.ts";
import { type Fresh, pageHeaders, trailingSlashes } from "./fresh/mod.ts";
import { httpMetrics } from "./metrics/http.ts";
import { metricsResponse } from "./metrics/metrics.ts";
import type { AppEnv, Services } from "./web/env.ts";
import { errorHandler, notFoundHandler } from "./web/error_handler.ts";
import { sameOrigin } from "./web/origins.ts";
import { requestIds, requestLog } from "./web/request_log.ts";
import { session } from "./web/session.ts";

export interface AppOptions {
  /** The web UI (pages, islands, static files); without it only the API, the socket and metrics answer. */
  pages?: Fresh;
}

/**
 * The app for `Deno.serve(app.fetch)`.
 *
 * @example
 * const app = createApp(services, { pages: await createFresh({ root }) });
 * Deno.serve(app.fetch);
 */
export function createApp(services: Services, options: AppOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { metrics } = services;
  const { pages } = options;

  app.use(async function provideServices(c, next) {
    c.set("services", services);
    await next();
  });
  app.use(requestIds(), requestLog());
  if (metrics !== undefined) app.use(httpMetrics(metrics));

  // Every API answer (errors and 404s too) is what its Content-Type says: a browser never sniffs it into HTML.
  app.use("/api/*", async function noSniff(c, next) {
    await next();
    c.res.headers.set("x-content-type-options", "nosniff");
  });
  app.route("/api", apiApp(services));
  app.get("/ws", wsHandler(services));
  // Prometheus text format, outside /api; for the scraper: keep it off the public network.
  if (metrics !== undefined) app.get("/metrics", () => metricsResponse(metrics));

  if (pages !== undefined) {
    app.use(
      pages.staticFiles,
      trailingSlashes(),
      pageHeaders(),
      session({ pages: true }),
      sameOrigin(),
    );
    pages.fsRoutes(app);
  }

  app.notFound(notFoundHandler(pages));
  app.onError(errorHandler(services.log, pages));
  return app;
}

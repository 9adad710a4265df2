import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { ChatError, errorResponse, isUnexpected } from "../errors.ts";
import { StoreUnavailableError } from "../storage/errors.ts";
import { authRoutes } from "./auth.ts";
import type { ApiDeps, AppEnv } from "./context.ts";
import { originAllowed, requestLog, requireAuth } from "./middleware.ts";
import { apiDocsHandler, openApiHandler } from "./openapi.ts";
import { httpMetrics } from "../metrics/http.ts";
import { metricsResponse } from "../metrics/metrics.ts";
import { dmRoutes, roomRoutes } from "./rooms.ts";
import { userRoutes } from "./users.ts";
import { wsHandler } from "./ws.ts";

/** Largest JSON body outside the profile update (which may carry a data: avatar). */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The HTTP application: REST API under `/api`, the WebSocket at `/ws`. Errors thrown anywhere below become
 * `{"error":{"code","message"}}`; only 5xx are logged as errors.
 *
 * @example
 * const app = createApp(deps);
 * Deno.serve(app.fetch);
 */
export function createApp(deps: ApiDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const allowed = deps.config.corsOrigins;

  app.use("*", requestLog(deps.log));
  const metrics = deps.metrics;
  if (metrics !== undefined) app.use("*", httpMetrics(metrics));
  app.use(
    "/api/*",
    cors({
      origin: (origin) => (allowed.includes("*") || allowed.includes(origin) ? origin : null),
      credentials: !allowed.includes("*"),
      allowMethods: ["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
      allowHeaders: ["Authorization", "Content-Type", "X-Request-Id"],
      exposeHeaders: ["Retry-After", "X-Request-Id"],
      maxAge: 600,
    }),
  );
  app.use("/api/*", limitBody);

  app.get("/api/health", async (c) => {
    if (deps.isShuttingDown?.()) return c.json({ status: "shutting_down", checks: {} }, 503);
    let store = "ok";
    try {
      await deps.store.ping();
    } catch (error) {
      store = "error";
      c.var.log.warn("Store health check failed", { error });
    }
    const bus = deps.bus.health();
    const status = store !== "ok" ? "error" : bus !== "ok" ? "degraded" : "ok";
    return c.json({ status, checks: { store, bus } }, store === "ok" ? 200 : 503);
  });
  app.route("/api/auth", authRoutes(deps));

  const auth = requireAuth(deps.tokens, (c) => originAllowed(c.req.raw, allowed));
  for (const path of ["/api/users/*", "/api/rooms/*", "/api/dms/*"]) app.use(path, auth);
  app.route("/api/users", userRoutes(deps));
  app.route("/api/rooms", roomRoutes(deps));
  app.route("/api/dms", dmRoutes(deps));
  app.get("/api/openapi.json", openApiHandler(deps.config));
  app.get("/api/docs", apiDocsHandler(deps.config));
  app.get("/ws", wsHandler(deps));
  // Prometheus text format, outside /api; for the scraper: keep it off the public network.
  if (metrics !== undefined) app.get("/metrics", () => metricsResponse(metrics));
  const web = deps.web;
  if (web !== undefined) {
    app.all(
      "*",
      (c) => c.req.path.startsWith("/api/") ? notFound(c) : web(c.req.raw, c.env as Deno.ServeHandlerInfo),
    );
  }

  app.notFound(notFound);
  app.onError((error, c) => {
    const log = c.var.log ?? deps.log;
    if (error instanceof StoreUnavailableError) log.warn("Store unavailable", { path: c.req.path, error });
    else if (isUnexpected(error)) log.error("Unhandled error", { error, path: c.req.path });
    return errorResponse(error);
  });
  return app;
}

function notFound(c: Context): Response {
  return errorResponse(new ChatError("not_found", `No route for ${c.req.method} ${c.req.path}`));
}

const limitSmall = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });

/** The profile update has its own, larger limit; everything else gets `MAX_BODY_BYTES`. */
const limitBody: MiddlewareHandler<AppEnv> = (c, next) =>
  c.req.path === "/api/users/me" ? next() : limitSmall(c, next);

function tooLarge(): never {
  throw new ChatError("payload_too_large", `The request body is larger than ${MAX_BODY_BYTES} bytes`);
}

import { type Context, Hono } from "hono";
import { ChatError, errorResponse } from "../errors.ts";
import type { AppEnv, Services } from "../web/env.ts";
import { noRoute } from "../web/error_handler.ts";
import { apiCors, sameOrigin } from "../web/origins.ts";
import { requireUser, session } from "../web/session.ts";
import { authRoutes } from "./auth.ts";
import { apiDocsHandler, openApiHandler } from "./openapi.ts";
import { dmRoutes, roomRoutes } from "./rooms.ts";
import { userRoutes } from "./users.ts";
import { sessionRoutes } from "./sessions.ts";

/**
 * The REST API, mounted at `/api` by the app (lib/app.ts, which also limits every body): CORS, the session and
 * the same-origin check for every route, a signed-in user for users, rooms and direct messages. It answers
 * everything under `/api`: a known path asked with a method it does not answer is a JSON 405 with `Allow`, a
 * path it has no route for a JSON 404, never a page.
 *
 * @example
 * app.route("/api", apiApp(services));
 */
export function apiApp(deps: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(apiCors(deps.config), session(), sameOrigin());

  app.get("/health", async (c) => {
    if (deps.isShuttingDown?.()) return c.json({ status: "shutting_down", checks: {} }, 503);
    let store = "ok";
    if (deps.storeBreaker !== undefined) {
      // The breaker's state: it pings the store in the background, so this never waits on a driver timeout.
      store = deps.storeBreaker.state === "closed" ? "ok" : "error";
    } else {
      try {
        await deps.store.ping();
      } catch (error) {
        store = "error";
        c.var.log.warn("Store health check failed", { error });
      }
    }
    const bus = deps.bus.health();
    const status = store !== "ok" ? "error" : bus !== "ok" ? "degraded" : "ok";
    return c.json({ status, checks: { store, bus } }, store === "ok" ? 200 : 503);
  });
  app.route("/auth", authRoutes(deps));

  for (const path of ["/users/*", "/rooms/*", "/dms/*", "/sessions/*", "/sessions"]) {
    app.use(path, requireUser);
  }
  app.route("/users", userRoutes(deps));
  app.route("/sessions", sessionRoutes(deps));
  app.route("/rooms", roomRoutes(deps));
  app.route("/dms", dmRoutes(deps));
  app.get("/openapi.json", openApiHandler(deps.config));
  app.get("/docs", apiDocsHandler(deps.config));
  let methods: MethodsOfPath | undefined;
  app.use(function unmatched(c: Context<AppEnv>, _next: unknown): Promise<Response> {
    // Read once, on the first miss: every route is registered by then.
    methods ??= methodsOfPath(app.routes, "/api");
    const allow = methods(c.req.path);
    if (allow.length === 0) throw noRoute(c);
    const response = errorResponse(
      new ChatError(
        "method_not_allowed",
        `${c.req.path} does not answer ${c.req.method}; it answers ${allow.join(", ")}`,
      ),
    );
    response.headers.set("allow", allow.join(", "));
    return Promise.resolve(response);
  });
  return app;
}

/** The methods a path is answered with (empty: no route has the path). */
export type MethodsOfPath = (path: string) => string[];

/**
 * From a Hono app's routes (mounted at `prefix`), what answers a path: the methods of every route whose pattern
 * matches it, with HEAD wherever GET is (Hono answers HEAD with the GET route) and OPTIONS (CORS preflights).
 * Middleware (`ALL`) and wildcard patterns are not routes. Each `:param` is one non-empty segment, as Hono
 * matches it.
 */
export function methodsOfPath(
  routes: readonly { method: string; path: string }[],
  prefix = "",
): MethodsOfPath {
  const byPattern = new Map<string, Set<string>>();
  for (const { method, path } of routes) {
    if (method === "ALL" || path.includes("*")) continue;
    const methods = byPattern.get(path) ?? new Set<string>();
    methods.add(method);
    byPattern.set(path, methods);
  }
  const matchers = [...byPattern].map(([pattern, methods]) => {
    const segments = (prefix + pattern).split("/");
    return {
      matches: (parts: string[]) =>
        parts.length === segments.length &&
        segments.every((segment, i) => segment.startsWith(":") ? parts[i] !== "" : segment === parts[i]),
      methods,
    };
  });
  const order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
  return (path) => {
    const parts = path.split("/");
    const allowed = new Set<string>();
    for (const { matches, methods } of matchers) {
      if (matches(parts)) { for (const method of methods) allowed.add(method); }
    }
    if (allowed.size === 0) return [];
    if (allowed.has("GET")) allowed.add("HEAD");
    allowed.add("OPTIONS");
    return [...allowed].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  };
}

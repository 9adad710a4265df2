import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ChatError } from "../errors.ts";
import type { AppEnv, Services } from "../web/env.ts";
import { noRoute } from "../web/error_handler.ts";
import { apiCors, sameOrigin } from "../web/origins.ts";
import { requireUser, session } from "../web/session.ts";
import { authRoutes } from "./auth.ts";
import { apiDocsHandler, openApiHandler } from "./openapi.ts";
import { dmRoutes, roomRoutes } from "./rooms.ts";
import { userRoutes } from "./users.ts";
import { sessionRoutes } from "./sessions.ts";

/** Largest JSON body outside the profile update (which may carry a data: avatar). */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The REST API, mounted at `/api` by the app (lib/app.ts): CORS, body limits, the session and the
 * same-origin check for every route, a signed-in user for users, rooms and direct messages. It answers
 * everything under `/api`: a path it has no route for is a JSON 404 here, never a page.
 *
 * @example
 * app.route("/api", apiApp(services));
 */
export function apiApp(deps: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(apiCors(deps.config), limitBody, session(), sameOrigin());

  app.get("/health", async (c) => {
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
  app.use(unmatched);
  return app;
}

/**
 * The last step under `/api`. Middleware-shaped (it takes `next`) so that the HTTP metrics label its requests
 * `unmatched`.
 */
function unmatched(c: Context<AppEnv>, _next: unknown): never {
  throw noRoute(c);
}

const limitSmall = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });

/** The profile update has its own, larger limit; everything else gets `MAX_BODY_BYTES`. */
const limitBody: MiddlewareHandler<AppEnv> = (c, next) =>
  c.req.path === "/api/users/me" ? next() : limitSmall(c, next);

function tooLarge(): never {
  throw new ChatError("payload_too_large", `The request body is larger than ${MAX_BODY_BYTES} bytes`);
}

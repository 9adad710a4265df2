/**
 * The one HTTP app: API, socket and pages are routes of one Hono app, with one request state (`AppEnv`), one
 * session middleware, one same-origin check and one error handler.
 *
 * Every request: services -> request id -> request log -> a Host that makes a URL (else 400) -> HTTP metrics ->
 * body limit -> `Referrer-Policy`, then
 * - `/api/*` (lib/api/app.ts): `nosniff` and `no-store` -> CORS -> session -> same origin ->
 *   [register/login limit | requireUser] -> route, or a JSON 405 (known path, other method) or 404;
 * - `GET /ws`: the upgrade (origin, token and capacity checked there); `GET /metrics`; other methods 405;
 * - anything else, with pages: island bundles and static files -> trailing slashes -> page headers ->
 *   session (clearing a stale cookie) -> same origin -> the file route (its `_middleware.ts` first), or `_404`.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Config } from "./config.ts";
import { ChatError, errorResponse } from "./errors.ts";
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
  // Deno builds the request's URL from the Host header as sent: `Host: [::1` makes one no URL parser takes.
  app.use(function validHost(c, next) {
    if (!URL.canParse(c.req.url)) throw new ChatError("invalid_host", "The Host header is not a valid host");
    return next();
  });
  if (metrics !== undefined) app.use(httpMetrics(metrics));
  app.use(limitBodies(services.config));
  // No page, API answer or redirect tells another site which of our URLs a link was followed from.
  app.use(async function referrerPolicy(c, next) {
    await next();
    if (!c.res.headers.has("referrer-policy")) c.res.headers.set("referrer-policy", "same-origin");
  });

  // Every API answer (errors and 404s too) is what its Content-Type says: a browser never sniffs it into HTML.
  // Nor is one kept by a browser or a shared cache (it may hold a user's data), unless it says it may be.
  app.use("/api/*", async function apiHeaders(c, next) {
    await next();
    c.res.headers.set("x-content-type-options", "nosniff");
    if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
  });
  app.route("/api", apiApp(services));
  app.get("/ws", wsHandler(services));
  app.all("/ws", onlyGet);
  // Prometheus text format, outside /api; for the scraper: keep it off the public network.
  if (metrics !== undefined) {
    app.get("/metrics", () => metricsResponse(metrics));
    app.all("/metrics", onlyGet);
  }

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

/**
 * Largest body of the two routes that take an avatar, up to 256 KB of image: base64 in JSON
 * (`PATCH /api/users/me`) or a file in a multipart form (`POST /profile`). `MAX_BODY_BYTES` when larger.
 */
export const PROFILE_BODY_BYTES = 512 * 1024;
const PROFILE_PATHS = new Set(["/api/users/me", "/profile"]);

/**
 * One body limit in front of every route, API and pages' forms alike: `MAX_BODY_BYTES`, and
 * `PROFILE_BODY_BYTES` for the avatar's routes. A declared `Content-Length` over it is refused before any of
 * the body is read; a chunked body is read up to the limit and refused there: 413 `payload_too_large`.
 */
function limitBodies(config: Pick<Config, "maxBodyBytes">): MiddlewareHandler<AppEnv> {
  const limit = (maxSize: number) =>
    bodyLimit({
      maxSize,
      onError(): never {
        throw new ChatError("payload_too_large", `The request body is larger than ${maxSize} bytes`);
      },
    });
  const smallBytes = config.maxBodyBytes;
  const largeBytes = Math.max(config.maxBodyBytes, PROFILE_BODY_BYTES);
  const small = limit(smallBytes);
  const large = limit(largeBytes);
  return async function limitBodies(c, next) {
    const profile = PROFILE_PATHS.has(c.req.path);
    const maxSize = profile ? largeBytes : smallBytes;
    const declared = Number(c.req.header("content-length") ?? NaN);
    if (declared > maxSize && declared <= maxSize + DRAIN_BYTES && !c.req.header("transfer-encoding")) {
      // Read to the end (and dropped) so that the client, still sending, gets to read the 413: a connection
      // closed under a browser's upload shows as a network error, not as "too large".
      await drain(c.req.raw.body, maxSize + DRAIN_BYTES);
      throw new ChatError("payload_too_large", `The request body is larger than ${maxSize} bytes`);
    }
    return (profile ? large : small)(c, next);
  };
}

/**
 * A declared body over the limit by at most this much is read (and dropped) before the 413 (an avatar a little
 * too large); a larger one is refused without reading it.
 */
const DRAIN_BYTES = 4 * 1024 * 1024;

/** Reads and drops a body, stopping after `maxBytes`. */
async function drain(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<void> {
  if (body === null || body.locked) return;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read <= maxBytes) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.length;
    }
  } catch {
    // The client went away: nothing to answer.
  } finally {
    reader.releaseLock();
  }
}

/** `/ws` and `/metrics` answer GET (and HEAD) only. */
function onlyGet(c: Context<AppEnv>): Response {
  const response = errorResponse(
    new ChatError("method_not_allowed", `${c.req.path} answers GET only, not ${c.req.method}`),
  );
  response.headers.set("allow", "GET, HEAD");
  return response;
}

/**
 * The app's one error handler and its not-found answer. Everything thrown below becomes an answer through the
 * error table (lib/errors.ts): `{"error":{"code","message"}}` under `/api` and at `/ws`, a page elsewhere (`_404`
 * for a 404, `_500` for a 5xx, the message as text for other refusals, such as a cross-origin form post).
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { asChatError, ChatError, errorResponse, httpErrorOf, isUnexpected } from "../errors.ts";
import type { Fresh } from "../fresh/mod.ts";
import type { Logger } from "../log.ts";
import { StoreUnavailableError } from "../storage/errors.ts";
import type { AppEnv } from "./env.ts";

/** The pages' error pages (`Fresh` provides them). */
export type ErrorPages = Pick<Fresh, "notFoundPage" | "errorPage">;

/** Whether a request is the API's or the socket's (errors as JSON), not a page's. */
export function isApiRequest(c: Context): boolean {
  const path = c.req.path;
  return path === "/api" || path.startsWith("/api/") || path === "/ws";
}

/**
 * Answers anything thrown: JSON for the API and the socket (or everywhere without pages), a page otherwise.
 * Logs a store outage as a warning and anything unexpected as an error; refusals are not logged.
 */
export function errorHandler(log: Logger, pages?: ErrorPages): ErrorHandler<AppEnv> {
  return function onError(error, c) {
    const requestLog = c.get("log") ?? log;
    if (error instanceof StoreUnavailableError) {
      requestLog.warn("Store unavailable", { path: c.req.path, error });
    } else if (isUnexpected(error)) requestLog.error("Unhandled error", { error, path: c.req.path });
    if (pages === undefined || isApiRequest(c)) return errorResponse(error);
    const { status, headers } = httpErrorOf(error);
    if (status === 404) return pages.notFoundPage(c);
    if (status >= 500) return pages.errorPage(c, error, { status, headers });
    return new Response(asChatError(error).message, { status, headers });
  };
}

/** What no route answered: a JSON 404 naming the request, or the `_404` page for a page's path. */
export function notFoundHandler(pages?: ErrorPages): NotFoundHandler<AppEnv> {
  return function notFound(c) {
    if (pages !== undefined && !isApiRequest(c)) return pages.notFoundPage(c);
    return errorResponse(noRoute(c));
  };
}

/** The refusal of a request no route answers. */
export function noRoute(c: Context): ChatError {
  return new ChatError("not_found", `No route for ${c.req.method} ${c.req.path}`);
}

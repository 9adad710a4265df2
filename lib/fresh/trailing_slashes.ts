import type { MiddlewareHandler } from "hono";

/**
 * Redirects `/path/` to `/path` (308, query kept), as Fresh's `trailingSlashes("never")`. Leading slashes are
 * collapsed too, so `//evil.example/` cannot become a protocol-relative redirect.
 */
export function trailingSlashes(): MiddlewareHandler {
  return async function trailingSlashes(c, next) {
    const url = new URL(c.req.url);
    if (url.pathname.length > 1 && url.pathname.endsWith("/")) {
      const location = "/" + url.pathname.replace(/^\/+|\/+$/g, "") + url.search;
      return new Response(null, { status: 308, headers: { location } });
    }
    await next();
  };
}

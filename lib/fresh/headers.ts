/**
 * The security headers of every HTML page, from `hono/secure-headers`: a Content-Security-Policy that allows no
 * inline script, `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin`, and no other header.
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/** The directives of `Content-Security-Policy`, as `hono/secure-headers` takes them. */
export type CspDirectives = NonNullable<
  NonNullable<Parameters<typeof secureHeaders>[0]>["contentSecurityPolicy"]
>;

/**
 * `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self';
 * font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'`
 */
export const DEFAULT_CSP: CspDirectives = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:", "https:"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
};

/**
 * Adds the page security headers to every HTML response below it (pages, `_404`, `_500`) that has not set them
 * itself; redirects and other answers are left as they are.
 *
 * ```ts
 * app.use(pageHeaders());
 * app.use(pageHeaders({ defaultSrc: ["'none'"] }));
 * ```
 */
export function pageHeaders(csp: CspDirectives = DEFAULT_CSP): MiddlewareHandler {
  const secure = secureHeaders({
    contentSecurityPolicy: csp,
    xContentTypeOptions: true,
    referrerPolicy: "same-origin",
    crossOriginEmbedderPolicy: false,
    crossOriginResourcePolicy: false,
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    strictTransportSecurity: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xFrameOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
    overwrite: false,
  });
  const done = () => Promise.resolve();
  return async function pageHeaders(c, next) {
    await next();
    if (c.res.headers.get("content-type")?.startsWith("text/html")) await secure(c, done);
  };
}

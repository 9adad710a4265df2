/** The address people reach this server at, for links that leave the page (the password-reset mail). */
import { isHttps } from "../auth/session.ts";
import type { Config } from "../config.ts";

/**
 * `PUBLIC_URL` when set; otherwise the request's own origin: its host (a trusted proxy's `X-Forwarded-Host`)
 * and scheme (`https` when the request or a trusted proxy says so). No trailing slash.
 *
 * @example
 * const base = publicBaseOf(ctx.req, config); // "https://chat.example.com"
 */
export function publicBaseOf(req: Request, config: Pick<Config, "publicUrl" | "trustProxy">): string {
  if (config.publicUrl !== undefined) return config.publicUrl;
  const url = new URL(req.url);
  const forwarded = config.trustProxy
    ? req.headers.get("x-forwarded-host")?.split(",")[0].trim() || undefined
    : undefined;
  const scheme = isHttps(req, config.trustProxy) ? "https" : url.protocol.slice(0, -1);
  return `${scheme}://${forwarded ?? url.host}`;
}

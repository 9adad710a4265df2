import type { Context } from "hono";

/** The client's address: the connection's, or behind a trusted proxy the last `X-Forwarded-For` hop. */
export function clientIpOf(
  req: Request,
  info: Deno.ServeHandlerInfo | undefined,
  trustProxy: boolean,
): string {
  if (trustProxy) {
    const last = req.headers.get("x-forwarded-for")?.split(",").map((s) => s.trim()).filter(Boolean).pop();
    if (last) return last;
  }
  const addr = info?.remoteAddr as Deno.NetAddr | undefined;
  return addr?.hostname ?? "unknown";
}

/** `clientIpOf` for a Hono request (`Deno.serve` passes the connection info as `c.env`). */
export function clientIp(c: Context, trustProxy: boolean): string {
  return clientIpOf(c.req.raw, c.env as Deno.ServeHandlerInfo | undefined, trustProxy);
}

import { originAllowed } from "../lib/api/middleware.ts";
import { clearedSessionCookie, define, sessionToken } from "../utils.ts";

/**
 * Every page: the signed-in user from the session cookie (an invalid or expired cookie is cleared), and no
 * state-changing form post from another origin.
 */
export const handler = define.middleware(async function session(ctx) {
  const { tokens, config } = ctx.state.services;
  const unsafe = !["GET", "HEAD", "OPTIONS"].includes(ctx.req.method);
  if (unsafe && !originAllowed(ctx.req, config.corsOrigins)) {
    return new Response("Cross-origin form submission refused", { status: 403 });
  }
  const token = sessionToken(ctx.req.headers.get("cookie"));
  let stale = false;
  if (token !== undefined) {
    try {
      const claims = await tokens.verify(token);
      ctx.state.user = { userId: claims.sub, username: claims.username };
    } catch {
      stale = true;
    }
  }
  const response = await ctx.next();
  if (stale) response.headers.append("set-cookie", clearedSessionCookie());
  return response;
});

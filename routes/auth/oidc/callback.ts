import { decodePending } from "../../../lib/auth/oidc.ts";
import {
  clearedPendingCookies,
  pendingCookieOf,
  redirectUriFor,
  ssoErrorCode,
  ssoLoginFor,
  userForIdentity,
} from "../../../lib/auth/sso.ts";
import { ChatError } from "../../../lib/errors.ts";
import { clientIpOf } from "../../../lib/web/client_ip.ts";
import { define, isHttps, noticeCookie, redirect, sessionCookies } from "../../../utils.ts";

/**
 * Where the provider sends the browser back (`GET /auth/oidc/callback?code&state`): opens the pending sign-in
 * cookie, has the provider's answer checked (state, code with PKCE, ID token, nonce, verified email), signs in
 * to the account with that email (made on first sign-in), and goes on to the page the sign-in started from.
 * Any failure signs nobody in and goes home with `?sso_error=<code>` (a fixed message there). The pending
 * cookie is cleared either way: an answer is good once. 404 when single sign-on is not set up.
 */
export const handler = define.handlers({
  async GET(ctx) {
    const { config, sessions, store, auth } = ctx.state.services;
    const sso = ssoLoginFor(config);
    if (sso === undefined) throw new ChatError("sso_not_configured");
    const secure = isHttps(ctx.req, config.trustProxy);
    const cleared = clearedPendingCookies(secure);
    let stage: "pending" | "finish" = "pending";
    let next = "/rooms";
    try {
      const pending = await decodePending(pendingCookieOf(ctx.req), config.jwtSecret);
      next = pending.next;
      stage = "finish";
      const identity = await sso.finish(ctx.url, pending, redirectUriFor(config, ctx.req));
      const { user, created } = await userForIdentity(store, identity);
      if (user.totp_secret !== null) {
        // The provider vouched for the email, not for the second factor: the home page asks for the code.
        const { mfa_token } = await auth.beginSecondFactor(user);
        const step = new URLSearchParams({ two_factor: mfa_token });
        if (next !== "/rooms") step.set("next", next);
        return noStore(redirect(`/?${step}`, cleared));
      }
      const issued = await auth.signInVerified(user, {
        userAgent: ctx.req.headers.get("user-agent") ?? undefined,
        ip: clientIpOf(ctx.req, ctx.info, config.trustProxy),
      });
      ctx.state.log.info("Signed in with the OpenID Connect provider", {
        user_id: user.id,
        session_id: issued.session_id,
        created,
      });
      return noStore(
        redirect(next, [
          ...sessionCookies(issued, sessions.refreshTtlSeconds, secure),
          ...(issued.notice === undefined ? [] : [noticeCookie(issued.notice)]),
          ...cleared,
        ]),
      );
    } catch (error) {
      const code = ssoErrorCode(error, ctx.url, stage);
      if (code === "failed" || code === "unavailable") {
        ctx.state.log.warn("Signing in with the OpenID Connect provider failed", { error, reason: code });
      } else {
        const message = error instanceof Error ? error.message : String(error);
        ctx.state.log.info("Signing in with the OpenID Connect provider was refused", {
          reason: code,
          message,
        });
      }
      const home = new URLSearchParams({ sso_error: code });
      if (next !== "/rooms") home.set("next", next);
      return noStore(redirect(`/?${home}`, cleared));
    }
  },
});

function noStore(response: Response): Response {
  response.headers.set("cache-control", "no-store");
  return response;
}

import { encodePending } from "../../../lib/auth/oidc.ts";
import { pendingCookie, redirectUriFor, ssoErrorCode, ssoLoginFor } from "../../../lib/auth/sso.ts";
import { ChatError } from "../../../lib/errors.ts";
import { define, isHttps, redirect, safeNext } from "../../../utils.ts";

/**
 * "Sign in with <provider>" (`GET /auth/oidc/start?next=/rooms/x`): seals the new sign-in's state, nonce and
 * PKCE verifier into a 10-minute cookie and sends the browser to the provider. A provider that cannot be
 * reached sends it back home with a message. 404 when single sign-on is not set up.
 */
export const handler = define.handlers({
  async GET(ctx) {
    const { config } = ctx.state.services;
    const sso = ssoLoginFor(config);
    if (sso === undefined) throw new ChatError("sso_not_configured");
    const next = safeNext(ctx.url.searchParams.get("next"));
    try {
      const { url, pending } = await sso.start(redirectUriFor(config, ctx.req), next);
      const cookie = pendingCookie(
        await encodePending(pending, config.jwtSecret),
        isHttps(ctx.req, config.trustProxy),
      );
      return noStore(redirect(url.href, [cookie], 302));
    } catch (error) {
      const code = ssoErrorCode(error, ctx.url, "finish");
      ctx.state.log.warn("Cannot start signing in with the OpenID Connect provider", { error, reason: code });
      const home = new URLSearchParams({ sso_error: code });
      if (next !== "/rooms") home.set("next", next);
      return noStore(redirect(`/?${home}`, [], 302));
    }
  },
});

function noStore(response: Response): Response {
  response.headers.set("cache-control", "no-store");
  return response;
}

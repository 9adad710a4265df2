/**
 * A chat server (in process, with pages, on a real port) whose single sign-on is a real OpenID Connect provider
 * (tests/helpers/oidc_provider.ts). The provider must know the callback URL before it starts, so the port is
 * bound first and the app plugged into it once the provider runs.
 *
 * @example
 * await withSsoServer({ accounts: [{ sub: "a", email: "a@example.com", email_verified: true }] }, async ({ base }) => {
 *   const start = await fetch(`${base}/auth/oidc/start`, { redirect: "manual" });
 * });
 */
import { type OidcTestAccount, type OidcTestProvider, startOidcProvider } from "./oidc_provider.ts";
import { createTestApp, type TestApp } from "./server.ts";

export const SSO_CLIENT_ID = "chat";
export const SSO_CLIENT_SECRET = "a-client-secret-for-the-tests-only";
/** The provider's name on the button: "Sign in with Acme ID". */
export const SSO_NAME = "Acme ID";

export interface SsoServer {
  /** `http://127.0.0.1:<port>` of the chat server. */
  base: string;
  app: TestApp;
  provider: OidcTestProvider;
}

export interface SsoServerOptions {
  accounts: OidcTestAccount[];
  /** More environment for the chat server. */
  env?: Record<string, string>;
}

/** Runs `fn` with the chat server and its provider, and stops both (and removes the data) afterwards. */
export async function withSsoServer(
  options: SsoServerOptions,
  fn: (server: SsoServer) => Promise<void>,
): Promise<void> {
  let handler: Deno.ServeHandler = () => new Response("starting", { status: 503 });
  const ac = new AbortController();
  const listening = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req, info) => handler(req, info),
  );
  const base = `http://127.0.0.1:${listening.addr.port}`;
  let provider: OidcTestProvider | undefined;
  let app: TestApp | undefined;
  try {
    provider = await startOidcProvider({
      clientId: SSO_CLIENT_ID,
      clientSecret: SSO_CLIENT_SECRET,
      redirectUris: [`${base}/auth/oidc/callback`],
      accounts: options.accounts,
    });
    app = await createTestApp({
      OIDC_ISSUER: provider.issuer,
      OIDC_CLIENT_ID: SSO_CLIENT_ID,
      OIDC_CLIENT_SECRET: SSO_CLIENT_SECRET,
      OIDC_NAME: SSO_NAME,
      ...options.env,
    }, { web: true });
    const chat = app.chat;
    handler = (req, info) => chat.app.fetch(req, info);
    await fn({ base, app, provider });
  } finally {
    await app?.chat.drain();
    ac.abort();
    await listening.finished;
    await app?.close();
    await provider?.close();
  }
}

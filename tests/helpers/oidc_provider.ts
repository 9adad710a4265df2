/**
 * A real OpenID Connect provider for tests: `oidc-provider` (Koa based, run through Deno's Node compatibility)
 * on a free loopback port, with one confidential client, PKCE required, and the test's own accounts. Its
 * login page is one form (login, password, "Sign in" or "Cancel") that grants consent together with the
 * login, so a test completes it with `loginAtProvider` (plain fetch) or a browser by filling the form
 * (Playwright: `getByLabel("Login")`, `getByLabel("Password")`, `getByRole("button", { name: "Sign in" })`;
 * a refused login shows the page again with `role="alert"` "Wrong login or password").
 *
 * @example
 * const provider = await startOidcProvider({
 *   clientId: "chat", clientSecret: "s3cret", redirectUris: ["http://127.0.0.1:8000/auth/oidc/callback"],
 *   accounts: [{ sub: "alice", email: "alice@example.com", email_verified: true }],
 * });
 * try {
 *   const callback = await loginAtProvider(authorizationUrl, "alice");
 * } finally {
 *   await provider.close();
 * }
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

/** An account at the test provider; its fields are the claims it releases. */
export interface OidcTestAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  preferred_username?: string;
  /** When set, the login form asks for it; otherwise any password is accepted. */
  password?: string;
}

export interface OidcProviderOptions {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  accounts: OidcTestAccount[];
  /**
   * Put the scope's claims (email, name…) in the ID token too. By default (`conformIdTokenClaims`) a code
   * flow's ID token carries only `sub` and the client must ask the userinfo endpoint.
   */
  claimsInIdToken?: boolean;
}

export interface OidcTestProvider {
  /** `http://127.0.0.1:<port>`, the issuer identifier and discovery base. */
  issuer: string;
  /** Every request's method and path ("POST /token", "GET /me"…), in arrival order. */
  readonly requests: string[];
  /** Stops the server and drops its connections. */
  close(): Promise<void>;
}

/** The path of the login page of interaction `uid`. */
const interactionPath = (uid: string) => `/interaction/${uid}`;

/** Starts a provider; see the module doc. */
export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcTestProvider> {
  const accounts = new Map(options.accounts.map((account) => [account.sub, account]));
  const keyPair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const signingKey = {
    ...(await crypto.subtle.exportKey("jwk", keyPair.privateKey)),
    use: "sig",
    alg: "RS256",
  };

  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: options.clientId,
      client_secret: options.clientSecret,
      redirect_uris: options.redirectUris,
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomUUID()] },
    adapter: memoryAdapter(),
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Grant: 600,
      Session: 600,
    },
    renderError(ctx: { type: string; body: string }, out: Record<string, string>) {
      ctx.type = "html";
      ctx.body = `<!doctype html><title>Test provider: error</title>` +
        `<p role="alert">${escapeHtml(`${out.error}: ${out.error_description ?? ""}`)}</p>`;
    },
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "preferred_username"],
    },
    conformIdTokenClaims: !options.claimsInIdToken,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => interactionPath(interaction.uid) },
    findAccount(_ctx: unknown, sub: string) {
      const account = accounts.get(sub);
      if (account === undefined) return undefined;
      return {
        accountId: sub,
        claims: () => {
          const { password: _password, ...claims } = account;
          return claims;
        },
      };
    },
  });
  const providerCallback = provider.callback();

  const requests: string[] = [];
  handler = (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    requests.push(`${req.method} ${url.pathname}`);
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|abort))?$/);
    if (match === null) {
      providerCallback(req, res);
      return;
    }
    interaction(req, res, match[2]).catch((error) => {
      if (!res.headersSent) {
        res.statusCode = 400;
        res.setHeader("Content-Type", "text/plain; charset=utf-8");
      }
      res.end(`The sign-in could not continue: ${error instanceof Error ? error.message : String(error)}`);
    });
  };

  /** The login page (GET), its submission (`login`) and "Cancel" (`abort`). */
  async function interaction(req: IncomingMessage, res: ServerResponse, action: string | undefined) {
    const details = await provider.interactionDetails(req, res);
    if (action === undefined && req.method === "GET") {
      page(res, 200, details.uid, "");
      return;
    }
    if (req.method !== "POST") {
      res.statusCode = 405;
      res.end();
      return;
    }
    if (action === "abort") {
      await provider.interactionFinished(req, res, {
        error: "access_denied",
        error_description: "The user cancelled the sign-in",
      }, { mergeWithLastSubmission: false });
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const login = form.get("login") ?? "";
    const account = [...accounts.values()].find((account) =>
      account.sub === login || account.email === login || account.preferred_username === login
    );
    if (
      account === undefined || (account.password !== undefined && account.password !== form.get("password"))
    ) {
      page(res, 401, details.uid, "Wrong login or password");
      return;
    }
    const grant = new provider.Grant({ accountId: account.sub, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? "openid"));
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, {
      login: { accountId: account.sub },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }

  return {
    issuer,
    requests,
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => error ? reject(error) : resolve());
        server.closeAllConnections();
      });
    },
  };
}

type Payload = Record<string, unknown> & { grantId?: string; uid?: string; userCode?: string };

/**
 * The provider's store, one per provider (oidc-provider's own memory adapter is shared by all providers of
 * the process and warns): each model's entries by id, with expiry.
 */
function memoryAdapter() {
  const entries = new Map<string, { payload: Payload; expires: number }>();
  const live = (key: string): Payload | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };
  const findBy = (model: string, field: "uid" | "userCode", value: string) => {
    for (const key of entries.keys()) {
      if (!key.startsWith(`${model}:`)) continue;
      const payload = live(key);
      if (payload?.[field] === value) return payload;
    }
    return undefined;
  };
  return class MemoryAdapter {
    constructor(readonly model: string) {}
    #key = (id: string) => `${this.model}:${id}`;
    upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const expires = expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000;
      entries.set(this.#key(id), { payload, expires });
      return Promise.resolve();
    }
    find(id: string): Promise<Payload | undefined> {
      return Promise.resolve(live(this.#key(id)));
    }
    findByUid(uid: string): Promise<Payload | undefined> {
      return Promise.resolve(findBy(this.model, "uid", uid));
    }
    findByUserCode(userCode: string): Promise<Payload | undefined> {
      return Promise.resolve(findBy(this.model, "userCode", userCode));
    }
    consume(id: string): Promise<void> {
      const payload = live(this.#key(id));
      if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
      return Promise.resolve();
    }
    destroy(id: string): Promise<void> {
      entries.delete(this.#key(id));
      return Promise.resolve();
    }
    revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, entry] of entries) if (entry.payload.grantId === grantId) entries.delete(key);
      return Promise.resolve();
    }
  };
}

function page(res: ServerResponse, status: number, uid: string, error: string): void {
  const action = interactionPath(uid);
  const alert = error === "" ? "" : `<p role="alert">${escapeHtml(error)}</p>`;
  res.statusCode = status;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><main><h1>Sign in to the test provider</h1>${alert}
<form method="post" action="${action}/login">
<label>Login <input name="login" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${action}/abort"><button type="submit">Cancel</button></form>
</main></body></html>`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  req.setEncoding("utf8");
  let body = "";
  for await (const chunk of req) body += chunk;
  return body;
}

/**
 * Drives the provider's pages with plain fetch, starting at `authorizationUrl`: follows redirects by hand,
 * keeps cookies, submits the login form with `login` (an account's sub, email or preferred_username) and
 * `password`, and returns the URL the provider finally redirects to off its own origin (the client's
 * callback, with `code` and `state`, or `error`). Throws when the provider answers with a page it cannot
 * continue from (wrong password, an error page).
 */
export function loginAtProvider(authorizationUrl: URL | string, login: string, password = ""): Promise<URL> {
  return driveProvider(authorizationUrl, "login", new URLSearchParams({ login, password }));
}

/** Like `loginAtProvider`, but presses "Cancel": the provider redirects back with `error=access_denied`. */
export function cancelAtProvider(authorizationUrl: URL | string): Promise<URL> {
  return driveProvider(authorizationUrl, "abort", new URLSearchParams());
}

async function driveProvider(
  authorizationUrl: URL | string,
  button: "login" | "abort",
  form: URLSearchParams,
): Promise<URL> {
  const start = new URL(authorizationUrl);
  const cookies = new Map<string, string>();
  let url = start;
  let init: RequestInit = { method: "GET" };
  let submitted = false;
  for (let hop = 0; hop < 20; hop++) {
    const headers = new Headers(init.headers);
    if (cookies.size > 0) {
      headers.set(
        "Cookie",
        [...cookies].map(([name, value]) => `${name}=${value}`).join("; "),
      );
    }
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((attribute) => /^\s*expires=.*1970/i.test(attribute)) || value === "";
      if (expired) cookies.delete(name);
      else cookies.set(name, value);
    }
    const location = response.headers.get("Location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      url = new URL(location, url);
      init = { method: "GET" };
      if (url.origin !== start.origin) return url;
      continue;
    }
    const body = await response.text();
    const action = body.match(new RegExp(`<form method="post" action="([^"]+/${button})"`));
    if (response.status !== 200 || action === null || submitted) {
      const reason = body.match(/<p role="alert">([^<]*)<\/p>/)?.[1] ?? body.slice(0, 200);
      throw new Error(`The provider answered ${response.status} at ${url.pathname}: ${reason}`);
    }
    submitted = true;
    url = new URL(action[1], url);
    init = {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    };
  }
  throw new Error("The provider redirected too many times");
}

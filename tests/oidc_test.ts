import { totpCode } from "../lib/auth/totp.ts";
/**
 * "Sign in with …" end to end over real sockets: the chat server (in process, with pages) and a real OpenID
 * Connect provider (tests/helpers/oidc_provider.ts), driven the way a browser is (cookies kept, redirects
 * followed by hand).
 */
import assert from "node:assert/strict";
import { decodePending, encodePending } from "../lib/auth/oidc.ts";
import { cancelAtProvider, loginAtProvider, type OidcTestAccount } from "./helpers/oidc_provider.ts";
import { call, createTestApp, TEST_SECRET, type TestApp } from "./helpers/server.ts";
import {
  SSO_CLIENT_ID,
  SSO_CLIENT_SECRET,
  SSO_NAME,
  type SsoServer,
  withSsoServer,
} from "./helpers/sso_server.ts";

const CLIENT_ID = SSO_CLIENT_ID;
const NAME = SSO_NAME;

const ACCOUNTS: OidcTestAccount[] = [
  {
    sub: "alice-1",
    email: "alice@example.com",
    email_verified: true,
    name: "Alice Liddell",
    preferred_username: "alice",
    password: "wonderland",
  },
  {
    sub: "bob-2",
    email: "Bob@Example.com",
    email_verified: true,
    name: "Bob B",
    preferred_username: "bobby",
  },
  { sub: "mallory-3", email: "mallory@example.com", email_verified: false, preferred_username: "mallory" },
  { sub: "carol-4", email: "carol@example.com", email_verified: true, preferred_username: "carol" },
];

/** The chat server with the provider and `ACCOUNTS`. */
function withServer(fn: (server: SsoServer) => Promise<void>): Promise<void> {
  return withSsoServer({ accounts: ACCOUNTS }, fn);
}

/** A browser's cookies for one site: what `Set-Cookie` set, sent back on every request. */
class Jar {
  readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** GET as a browser navigating: no redirects followed, cookies sent and kept. */
  async get(url: string | URL, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(url, {
      redirect: "manual",
      headers: {
        accept: "text/html",
        ...(this.cookies.size > 0 ? { cookie: this.header() } : {}),
        ...headers,
      },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      const [name, value] = [pair.slice(0, eq), pair.slice(eq + 1)];
      if (/Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }
}

/** `GET /auth/oidc/start`: the provider's authorization URL; the pending cookie is in `jar`. */
async function startSignIn(jar: Jar, base: string, next?: string): Promise<URL> {
  const start = await jar.get(
    `${base}/auth/oidc/start${next === undefined ? "" : `?next=${encodeURIComponent(next)}`}`,
  );
  assert.equal(start.status, 302);
  await start.body?.cancel();
  return new URL(start.headers.get("location")!);
}

/** The whole sign-in as `login` at the provider; resolves with the callback's answer. */
async function signIn(
  jar: Jar,
  base: string,
  login: string,
  password = "",
  next?: string,
): Promise<Response> {
  const authorization = await startSignIn(jar, base, next);
  const callback = await loginAtProvider(authorization, login, password);
  return await jar.get(callback);
}

/** Where a response redirects, and its body consumed. */
async function locationOf(response: Response): Promise<string | null> {
  await response.body?.cancel();
  return response.headers.get("location");
}

async function me(base: string, jar: Jar) {
  const response = await fetch(`${base}/api/users/me`, { headers: { cookie: jar.header() } });
  return { status: response.status, body: await response.json() };
}

/** The home page's text for a failed sign-in. */
async function homeMessage(base: string, query: string): Promise<{ title: string; alert: string | null }> {
  const html = await (await fetch(`${base}/${query}`)).text();
  const title = html.match(/<title>([^<]*)<\/title>/)?.[1] ?? "";
  const alert = html.match(/<div class="error-summary" id="sso-errors"[^>]*>.*?<li>([^<]*)<\/li>/s)?.[1] ??
    null;
  return { title, alert };
}

Deno.test("a first sign-in with the provider makes the account and lands on /rooms signed in; the next reuses it", () =>
  withServer(async ({ base, app }) => {
    const jar = new Jar();
    const authorization = await startSignIn(jar, base);
    const pending = [...jar.cookies.keys()];
    assert.deepEqual(pending, ["chat_oidc"], "only the pending sign-in cookie so far");
    assert.equal(authorization.searchParams.get("redirect_uri"), `${base}/auth/oidc/callback`);
    assert.equal(authorization.searchParams.get("client_id"), CLIENT_ID);

    const callback = await loginAtProvider(authorization, "alice", "wonderland");
    assert.equal(callback.origin + callback.pathname, `${base}/auth/oidc/callback`);
    const answer = await jar.get(callback);
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.get("cache-control"), "no-store");
    const setCookies = answer.headers.getSetCookie().map((line) => line.split("=")[0]);
    assert.deepEqual(setCookies, ["chat_session", "chat_refresh", "chat_oidc"]);
    assert.match(answer.headers.getSetCookie()[2], /^chat_oidc=; Path=\/auth\/oidc; .*Max-Age=0/);
    assert.equal(await locationOf(answer), "/rooms");
    assert.deepEqual([...jar.cookies.keys()].sort(), ["chat_refresh", "chat_session"]);

    const rooms = await jar.get(`${base}/rooms`);
    assert.equal(rooms.status, 200);
    assert.match(await rooms.text(), /<nav aria-label="Main">/);
    const first = await me(base, jar);
    assert.equal(first.status, 200);
    assert.deepEqual(
      [first.body.username, first.body.email, first.body.display_name],
      ["alice", "alice@example.com", "Alice Liddell"],
    );
    assert.equal((await app.store.users.byId(first.body.id))?.password_hash, "", "no password yet");
    // No password signs in to it: the login form refuses any.
    const login = await call(base, "POST", "/api/auth/login", {
      body: { login: "alice", password: "wonderland" },
    });
    assert.deepEqual([login.status, login.body.error.code], [401, "invalid_credentials"]);

    // Another browser, another sign-in, back to the page it started from: the same account, a second session.
    const other = new Jar();
    const again = await signIn(other, base, "alice@example.com", "wonderland", "/profile");
    assert.equal(await locationOf(again), "/profile");
    const second = await me(base, other);
    assert.equal(second.body.id, first.body.id);
    const sessions = await fetch(`${base}/api/sessions`, { headers: { cookie: other.header() } });
    assert.equal((await sessions.json()).sessions.length, 2);
  }));

Deno.test("an existing password account with the provider's email is signed into, not duplicated", () =>
  withServer(async ({ base, app }) => {
    const registered = await call(base, "POST", "/api/auth/register", {
      body: { username: "bob", email: "bob@example.com", password: "correct horse battery" },
    });
    assert.equal(registered.status, 201);
    const jar = new Jar();
    assert.equal(await locationOf(await signIn(jar, base, "bob-2")), "/rooms");
    const who = await me(base, jar);
    assert.deepEqual([who.body.id, who.body.username, who.body.display_name], [
      registered.body.id,
      "bob",
      null,
    ]);
    assert.equal(await app.store.users.byUsername("bobby"), null, "no second account");
    // The password still works.
    const login = await call(base, "POST", "/api/auth/login", {
      body: { login: "bob", password: "correct horse battery" },
    });
    assert.equal(login.status, 200);
  }));

Deno.test("a callback with a wrong state, or from another browser, is refused and signs nobody in", () =>
  withServer(async ({ base, app }) => {
    const jar = new Jar();
    const callback = await loginAtProvider(await startSignIn(jar, base), "carol");
    const forged = new URL(callback);
    forged.searchParams.set("state", "not-the-state-we-sent");
    const refused = await jar.get(forged);
    assert.equal(refused.status, 303);
    assert.deepEqual(refused.headers.getSetCookie(), [
      "chat_oidc=; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=0",
    ]);
    assert.equal(await locationOf(refused), "/?sso_error=state");
    assert.equal(jar.cookies.size, 0);
    assert.equal(await app.store.users.byEmail("carol@example.com"), null);

    // The real answer opened in a browser that did not start this sign-in (no pending cookie): refused too.
    const elsewhere = await new Jar().get(callback);
    assert.equal(await locationOf(elsewhere), "/?sso_error=state");
    assert.equal(elsewhere.headers.getSetCookie().some((line) => line.startsWith("chat_session=")), false);
    assert.equal(await app.store.users.byEmail("carol@example.com"), null);

    assert.deepEqual(await homeMessage(base, "?sso_error=state"), {
      title: "Error: Welcome · Chat",
      alert:
        `This sign-in with ${NAME} was not started in this browser, or was started again since. Start again.`,
    });
  }));

Deno.test("a pending sign-in re-sealed with another nonce is refused: the ID token's nonce does not match", () =>
  withServer(async ({ base, app }) => {
    const jar = new Jar();
    const callback = await loginAtProvider(await startSignIn(jar, base), "carol");
    const pending = await decodePending(jar.cookies.get("chat_oidc"), TEST_SECRET);
    jar.cookies.set(
      "chat_oidc",
      await encodePending({ ...pending, nonce: "a-nonce-of-the-attacker" }, TEST_SECRET),
    );
    const refused = await jar.get(callback);
    assert.equal(await locationOf(refused), "/?sso_error=nonce");
    assert.equal(refused.headers.getSetCookie().some((line) => line.startsWith("chat_session=")), false);
    assert.equal(await app.store.users.byEmail("carol@example.com"), null);
    assert.equal(
      (await homeMessage(base, "?sso_error=nonce")).alert,
      `The answer from ${NAME} was not made for this sign-in. Start again.`,
    );
  }));

Deno.test("a sign-in cancelled at the provider, or with an unverified email, comes home with its message", () =>
  withServer(async ({ base, app }) => {
    const jar = new Jar();
    const cancelled = await jar.get(await cancelAtProvider(await startSignIn(jar, base, "/rooms/abc")));
    assert.equal(await locationOf(cancelled), "/?sso_error=cancelled&next=%2Frooms%2Fabc");
    assert.equal(jar.cookies.size, 0);
    const home = await (await fetch(`${base}/?sso_error=cancelled&next=%2Frooms%2Fabc`)).text();
    assert.match(
      home,
      /<li>You cancelled signing in with Acme ID\. Try again, or log in with your password\.<\/li>/,
    );
    assert.match(
      home,
      /<a class="sso-button" href="\/auth\/oidc\/start\?next=%2Frooms%2Fabc" id="sso-button">/,
    );

    const unverified = await signIn(new Jar(), base, "mallory");
    assert.equal(await locationOf(unverified), "/?sso_error=email");
    assert.equal(await app.store.users.byEmail("mallory@example.com"), null);
    assert.equal(
      (await homeMessage(base, "?sso_error=email")).alert,
      `${NAME} did not share a verified email address. Verify your email address there, then try again.`,
    );
    // Only the table's texts are shown: never what the query says.
    assert.deepEqual(await homeMessage(base, "?sso_error=%3Cb%3Ehi"), {
      title: "Welcome · Chat",
      alert: null,
    });
  }));

Deno.test({
  name: "a stale session cookie in the browser does not undo a new sign-in",
  fn: () =>
    withServer(async ({ base }) => {
      const jar = new Jar();
      const callback = await loginAtProvider(await startSignIn(jar, base), "carol");
      // A session ended meanwhile (or a token of another server): the page middleware clears such a cookie.
      jar.cookies.set("chat_session", "abc.def.ghi");
      const answer = await jar.get(callback);
      assert.equal(await locationOf(answer), "/rooms");
      assert.equal((await me(base, jar)).body.username, "carol");
    }),
});

Deno.test("an account with two-factor sign-in on is not signed in by the provider alone: the code follows", () =>
  withServer(async ({ base, app }) => {
    const user = await app.store.users.create({
      username: "carol",
      email: "carol@example.com",
      password_hash: "",
    });
    await app.store.users.setTwoFactor(user.id, { secret: "JBSWY3DPEHPK3PXP", recovery_codes: [] });
    const jar = new Jar();
    const answer = await signIn(jar, base, "carol");
    assert.equal(answer.headers.getSetCookie().some((line) => line.startsWith("chat_session=")), false);
    const location = new URL((await locationOf(answer))!, base);
    const mfaToken = location.searchParams.get("two_factor");
    assert.ok(mfaToken, `asked for the code: ${location}`);
    const form = await (await jar.get(location)).text();
    assert.match(form, /<h1 id="two-factor-title">Two-factor sign-in<\/h1>/);
    const done = await fetch(`${base}/`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
      body: new URLSearchParams({
        intent: "two-factor",
        mfa_token: mfaToken,
        code: totpCode("JBSWY3DPEHPK3PXP"),
      }),
      redirect: "manual",
    });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get("location"), "/rooms");
    assert.ok(done.headers.getSetCookie().some((line) => line.startsWith("chat_session=ey")));
    await done.body?.cancel();
  }));

Deno.test("a provider down when the server starts: the server runs, and the button says so when used", () =>
  withDeadProvider(async (app) => {
    const home = await app.chat.app.request("/");
    assert.equal(home.status, 200);
    assert.match(
      await home.text(),
      /<a class="sso-button" href="\/auth\/oidc\/start" id="sso-button">Sign in with Acme ID<\/a>/,
    );
    const start = await app.chat.app.request("/auth/oidc/start?next=/profile");
    assert.deepEqual([start.status, start.headers.get("location")], [
      302,
      "/?sso_error=unavailable&next=%2Fprofile",
    ]);
    assert.equal(start.headers.get("set-cookie"), null);
    const message = await (await app.chat.app.request("/?sso_error=unavailable")).text();
    assert.match(
      message,
      /<li>Acme ID cannot be reached right now\. Try again in a minute, or log in with your password\.<\/li>/,
    );
  }));

async function withDeadProvider(fn: (app: TestApp) => Promise<void>): Promise<void> {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  const app = await createTestApp({
    OIDC_ISSUER: `http://127.0.0.1:${port}`,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: SSO_CLIENT_SECRET,
    OIDC_NAME: NAME,
  }, { web: true });
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

Deno.test("without OIDC_ISSUER there is no button, no message and no SSO routes", async () => {
  const app = await createTestApp({}, { web: true });
  try {
    const home = await (await app.chat.app.request("/?sso_error=cancelled")).text();
    assert.match(home, /<h2 id="login-title">Log in<\/h2>/);
    assert.doesNotMatch(home, /Sign in with|sso-/);
    for (const path of ["/auth/oidc/start?next=/rooms", "/auth/oidc/callback?code=x&state=y"]) {
      const response = await app.chat.app.request(path);
      assert.equal(response.status, 404, path);
      assert.equal(response.headers.get("set-cookie"), null);
      assert.match(await response.text(), /<h1>404 Not Found<\/h1>/);
    }
  } finally {
    await app.close();
  }
});

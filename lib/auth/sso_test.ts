import assert from "node:assert/strict";
import { openTestStore, testDatabaseUrl } from "../../tests/helpers/database.ts";
import { startOidcProvider } from "../../tests/helpers/oidc_provider.ts";
import { loadConfig } from "../config.ts";
import type { Store } from "../storage/store.ts";
import { OidcError, type OidcIdentity } from "./oidc.ts";
import {
  clearedPendingCookies,
  DISCOVERY_RETRY_MS,
  isLoopbackIssuer,
  pendingCookie,
  pendingCookieOf,
  ProviderUnavailableError,
  redirectUriFor,
  ssoErrorMessage,
  SsoLogin,
  ssoLoginFor,
  userForIdentity,
  usernameBase,
} from "./sso.ts";

const SECRET = "a-sealing-secret-that-is-at-least-32-bytes";

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-sso-" });
  const store = await openTestStore(testDatabaseUrl(dir));
  try {
    await fn(store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function identity(fields: Partial<OidcIdentity> & { email: string }): OidcIdentity {
  return { issuer: "https://id.example.com", subject: "sub-1", emailVerified: true, ...fields };
}

Deno.test("userForIdentity: a new email makes an account without a password, named from the identity", () =>
  withStore(async (store) => {
    const who = identity({ email: "Alice@Example.com", name: "Alice Liddell", preferredUsername: "alice" });
    const first = await userForIdentity(store, who);
    assert.equal(first.created, true);
    const { username, email, password_hash, display_name, totp_secret } = first.user;
    assert.deepEqual({ username, email, password_hash, display_name, totp_secret }, {
      username: "alice",
      email: "Alice@Example.com",
      password_hash: "",
      display_name: "Alice Liddell",
      totp_secret: null,
    });
    assert.equal((await store.users.byId(first.user.id))?.display_name, "Alice Liddell", "stored");

    // The same person again, the email in another case: the same account, nothing changed.
    const second = await userForIdentity(store, { ...who, email: "alice@EXAMPLE.com", name: "Someone Else" });
    assert.deepEqual([second.created, second.user.id, second.user.display_name], [
      false,
      first.user.id,
      "Alice Liddell",
    ]);
  }));

Deno.test("userForIdentity: an existing password account with the email is signed into, not duplicated", () =>
  withStore(async (store) => {
    const existing = await store.users.create({
      username: "bob",
      email: "bob@example.com",
      password_hash: "x",
    });
    const { user, created } = await userForIdentity(
      store,
      identity({ email: "BOB@example.com", preferredUsername: "bobby", name: "Bob" }),
    );
    assert.deepEqual([created, user.id, user.username, user.password_hash, user.display_name], [
      false,
      existing.id,
      "bob",
      "x",
      null,
    ]);
    assert.equal(await store.users.byUsername("bobby"), null);
  }));

Deno.test("userForIdentity: a taken username gets the next free number, within 32 characters", () =>
  withStore(async (store) => {
    await store.users.create({ username: "carol", email: "c1@example.com", password_hash: "x" });
    await store.users.create({ username: "Carol2", email: "c2@example.com", password_hash: "x" });
    const carol = await userForIdentity(
      store,
      identity({ email: "c3@example.com", preferredUsername: "carol" }),
    );
    assert.equal(carol.user.username, "carol3");

    const long = "d".repeat(32);
    await store.users.create({ username: long, email: "d1@example.com", password_hash: "x" });
    const d = await userForIdentity(store, identity({ email: "d2@example.com", preferredUsername: long }));
    assert.equal(d.user.username, "d".repeat(31) + "2");
  }));

Deno.test("userForIdentity: an unverified email is never linked nor made an account", () =>
  withStore(async (store) => {
    const existing = await store.users.create({
      username: "eve",
      email: "eve@example.com",
      password_hash: "x",
    });
    for (const email of ["eve@example.com", "new@example.com"]) {
      await assert.rejects(
        () => userForIdentity(store, identity({ email, emailVerified: false })),
        (error) => error instanceof OidcError && error.code === "oidc_email_unverified",
      );
    }
    assert.equal(await store.users.byEmail("new@example.com"), null);
    assert.equal((await store.users.byEmail("eve@example.com"))?.id, existing.id);
  }));

Deno.test("usernameBase: preferred_username, else the email's local part, cleaned to the username rule", () => {
  const cases: [Partial<OidcIdentity> & { email: string }, string][] = [
    [{ email: "x@example.com", preferredUsername: "alice" }, "alice"],
    [{ email: "x@example.com", preferredUsername: "José Núñez" }, "Jose_Nunez"],
    [{ email: "ann.lee+chat@example.com" }, "ann.leechat"],
    [{ email: "ann@example.com", preferredUsername: "李" }, "ann"],
    [{ email: "jo@example.com", preferredUsername: "@@" }, "jo-user"],
    [{ email: "李@example.com" }, "user"],
    [{ email: "x@example.com", preferredUsername: "a".repeat(40) }, "a".repeat(32)],
  ];
  for (const [who, expected] of cases) {
    assert.equal(usernameBase(who), expected, JSON.stringify(who));
    assert.match(usernameBase(who), /^[A-Za-z0-9_.-]{3,32}$/);
  }
});

Deno.test("isLoopbackIssuer: http issuers are taken only on this machine", () => {
  const cases: [string, boolean][] = [
    ["http://127.0.0.1:4000", true],
    ["http://127.10.0.3", true],
    ["http://localhost:8080/realms/chat", true],
    ["http://[::1]:9000", true],
    ["http://id.example.com", false],
    ["http://127.0.0.1.example.com", false],
    ["http://10.0.0.1", false],
    ["not a url", false],
  ];
  for (const [issuer, expected] of cases) assert.equal(isLoopbackIssuer(issuer), expected, issuer);
});

Deno.test("SsoLogin: a provider down at first use is asked again only after the retry delay", async () => {
  // A real port that accepts connections and closes them at once: discovery fails there.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.close();
    }
  })();
  let now = 1_000_000;
  const sso = new SsoLogin(
    { issuer: `http://127.0.0.1:${listener.addr.port}`, clientId: "c", clientSecret: "s", name: "Acme" },
    { now: () => now },
  );
  try {
    assert.equal(sso.name, "Acme");
    await assert.rejects(() => sso.start("http://127.0.0.1/cb", "/"), ProviderUnavailableError);
    const asked = connections;
    assert.ok(asked >= 1, "discovery reached the port");
    now += DISCOVERY_RETRY_MS - 1;
    await assert.rejects(() => sso.start("http://127.0.0.1/cb", "/"), ProviderUnavailableError);
    assert.equal(connections, asked, "not asked again within the delay");
    now += 1;
    await assert.rejects(() => sso.start("http://127.0.0.1/cb", "/"), ProviderUnavailableError);
    assert.ok(connections > asked, "asked again after the delay");
  } finally {
    listener.close();
    await accepting;
  }
});

Deno.test("SsoLogin: one discovery serves every sign-in; an https issuer is required off this machine", async () => {
  const provider = await startOidcProvider({
    clientId: "chat",
    clientSecret: "secret",
    redirectUris: ["http://127.0.0.1:1/auth/oidc/callback"],
    accounts: [],
  });
  try {
    const sso = new SsoLogin({
      issuer: provider.issuer,
      clientId: "chat",
      clientSecret: "secret",
      name: "Acme",
    });
    const [a, b] = await Promise.all([
      sso.start("http://127.0.0.1:1/auth/oidc/callback", "/rooms/x"),
      sso.start("http://127.0.0.1:1/auth/oidc/callback", "//evil.example"),
    ]);
    await sso.start("http://127.0.0.1:1/auth/oidc/callback", "/");
    assert.deepEqual(provider.requests, ["GET /.well-known/openid-configuration"]);
    assert.equal(a.url.origin, provider.issuer);
    assert.equal(a.url.searchParams.get("state"), a.pending.state);
    assert.deepEqual([a.pending.next, b.pending.next], ["/rooms/x", "/"]);
    assert.notEqual(a.pending.state, b.pending.state);

    const strict = new SsoLogin(
      { issuer: provider.issuer, clientId: "chat", clientSecret: "secret", name: "Acme" },
      { allowHttp: false },
    );
    await assert.rejects(() => strict.provider(), /must be an https URL/);
    assert.equal(provider.requests.length, 1, "an http issuer is refused before asking it");
  } finally {
    await provider.close();
  }
});

Deno.test("ssoLoginFor: one per configuration, none without OIDC_ISSUER", () => {
  const base = { JWT_SECRET: SECRET, APP_ENV: "test" };
  assert.equal(ssoLoginFor(loadConfig(base)), undefined);
  const config = loadConfig({
    ...base,
    OIDC_ISSUER: "https://id.example.com",
    OIDC_CLIENT_ID: "chat",
    OIDC_CLIENT_SECRET: "s",
    OIDC_NAME: "Example ID",
  });
  const sso = ssoLoginFor(config);
  assert.equal(sso?.name, "Example ID");
  assert.equal(ssoLoginFor(config), sso);
});

Deno.test("redirectUriFor: PUBLIC_URL, else the request's origin (https behind a trusted proxy)", () => {
  const env = { JWT_SECRET: SECRET, OIDC_ISSUER: "https://id.example.com", OIDC_CLIENT_ID: "c" };
  const withSecret = { ...env, OIDC_CLIENT_SECRET: "s" };
  const req = new Request("http://chat.internal:8080/auth/oidc/start", {
    headers: { "x-forwarded-proto": "https" },
  });
  assert.equal(
    redirectUriFor(loadConfig({ ...withSecret, PUBLIC_URL: "https://chat.example.com/" }), req),
    "https://chat.example.com/auth/oidc/callback",
  );
  assert.equal(redirectUriFor(loadConfig(withSecret), req), "http://chat.internal:8080/auth/oidc/callback");
  assert.equal(
    redirectUriFor(loadConfig({ ...withSecret, TRUST_PROXY: "true" }), req),
    "https://chat.internal:8080/auth/oidc/callback",
  );
});

Deno.test("the pending sign-in cookie: HttpOnly, Lax, 10 minutes, only for /auth/oidc; read under either name", () => {
  assert.equal(
    pendingCookie("sealed", false),
    "chat_oidc=sealed; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600",
  );
  assert.equal(
    pendingCookie("sealed", true),
    "__Secure-chat_oidc=sealed; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600; Secure",
  );
  assert.deepEqual(clearedPendingCookies(true), [
    "chat_oidc=; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=0",
    "__Secure-chat_oidc=; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=0; Secure",
  ]);
  const read = (cookie: string) => pendingCookieOf(new Request("http://x/", { headers: { cookie } }));
  assert.equal(read("a=1; chat_oidc=plain"), "plain");
  assert.equal(read("chat_oidc=plain; __Secure-chat_oidc=secure"), "secure");
  assert.equal(read("chat_oidc_x=1"), undefined);
  assert.equal(pendingCookieOf(new Request("http://x/")), undefined);
});

Deno.test("ssoErrorMessage: a fixed text per code, nothing for anything else", () => {
  assert.equal(
    ssoErrorMessage("cancelled", "Acme"),
    "You cancelled signing in with Acme. Try again, or log in with your password.",
  );
  assert.equal(
    ssoErrorMessage("email", "Acme"),
    "Acme did not share a verified email address. " +
      "Verify your email address there, then try again.",
  );
  for (const code of [null, "", "<script>", "__proto__", "toString", "constructor"]) {
    assert.equal(ssoErrorMessage(code, "Acme"), undefined, String(code));
  }
});

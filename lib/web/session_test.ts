import assert from "node:assert/strict";
import { TokenService } from "../auth/jwt.ts";
import type { Store } from "../storage/store.ts";
import { errorHandler } from "./error_handler.ts";
import { requireUser, session } from "./session.ts";
import { SECRET, webTestApp } from "./testing/test_utils.ts";

/** An app whose `/whoami` reports what `session()` left in `c.var`, with users that can sign in. */
function whoami(options: Parameters<typeof session>[0] = {}) {
  const test = webTestApp();
  test.app.use(session(options));
  test.app.get("/whoami", (c) => c.json({ user: c.var.user, error: c.var.authError?.code ?? null }));
  test.app.use("/api/*", requireUser);
  test.app.get("/api/me", (c) => c.json(c.var.user));
  test.app.onError(errorHandler(test.services.log));
  const store = test.services.store as Store;
  /** A new user signed in: their access token, ids and how `c.var.user` shows them. */
  async function signIn(username: string) {
    const user = await store.users.create({ username, email: `${username}@x.test`, password_hash: "h" });
    const issued = await test.sessions.start(user, { userAgent: "curl/8", ip: "127.0.0.1" });
    const claims = await test.tokens.verify(issued.token);
    return {
      token: issued.token,
      sessionId: issued.session_id,
      userId: user.id,
      identity: { userId: user.id, username, sessionId: issued.session_id, expiresAt: claims.exp * 1000 },
    };
  }
  return { ...test, signIn };
}

Deno.test("session() takes the user from a Bearer token, else from the chat_session cookie", async (t) => {
  const { app, signIn } = whoami();
  const ada = await signIn("ada");
  const bob = await signIn("bob");
  const cases: [string, Record<string, string>, unknown][] = [
    ["Bearer", { authorization: `Bearer ${ada.token}` }, ada.identity],
    ["bearer, any case", { authorization: `bearer ${ada.token}` }, ada.identity],
    ["cookie", { cookie: `theme=dark; chat_session=${bob.token}` }, bob.identity],
    ["__Host- cookie", { cookie: `__Host-chat_session=${bob.token}` }, bob.identity],
    ["Bearer wins over the cookie", {
      authorization: `Bearer ${ada.token}`,
      cookie: `chat_session=${bob.token}`,
    }, {
      ...ada.identity,
    }],
  ];
  for (const [name, headers, user] of cases) {
    await t.step(name, async () => {
      assert.deepEqual(await (await app.request("/whoami", { headers })).json(), { user, error: null });
    });
  }
});

Deno.test("session() leaves user null for nobody or failing credentials, and says why", async (t) => {
  const { app, signIn, sessions } = whoami();
  const good = await signIn("ada");
  const ended = await signIn("bob");
  assert.equal(await sessions.end(ended.sessionId, ended.userId), true);
  const expired = await new TokenService({
    secret: SECRET,
    ttlSeconds: 60,
    now: () => Date.now() - 7_200_000,
  })
    .sign({ id: good.userId, username: "ada" }, good.sessionId);
  const cases: [string, Record<string, string>, string][] = [
    ["nothing", {}, "missing_token"],
    ["empty cookie", { cookie: "chat_session=" }, "missing_token"],
    ["not Bearer", { authorization: "Basic abc" }, "invalid_token"],
    ["garbage", { authorization: "Bearer abc.def.ghi" }, "invalid_token"],
    ["wrongly signed cookie", { cookie: `chat_session=${good.token}x` }, "invalid_token"],
    ["expired", { cookie: `chat_session=${expired}` }, "token_expired"],
    ["ended session", { authorization: `Bearer ${ended.token}` }, "session_revoked"],
    ["a bad Authorization hides a good cookie", {
      authorization: "Basic abc",
      cookie: `chat_session=${good.token}`,
    }, "invalid_token"],
  ];
  for (const [name, headers, error] of cases) {
    await t.step(name, async () => {
      assert.deepEqual(await (await app.request("/whoami", { headers })).json(), { user: null, error });
    });
  }
});

Deno.test("session({ pages }) clears a session cookie that cannot sign in, and nothing else", async () => {
  const { app, signIn, sessions } = whoami({ pages: true });
  const good = await signIn("ada");
  const ended = await signIn("bob");
  await sessions.end(ended.sessionId, ended.userId);
  const cleared = [
    "chat_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
    "chat_refresh=; Path=/api/auth/refresh; HttpOnly; SameSite=Lax; Max-Age=0",
  ].join(", ");
  const setCookie = async (headers: Record<string, string>) =>
    (await app.request("/whoami", { headers })).headers.get("set-cookie");
  assert.equal(await setCookie({ cookie: "chat_session=abc.def.ghi" }), cleared);
  assert.equal(await setCookie({ cookie: "chat_session=" }), cleared);
  assert.equal(await setCookie({ cookie: `chat_session=${ended.token}` }), cleared);
  assert.equal(await setCookie({ cookie: `chat_session=${good.token}` }), null);
  assert.equal(await setCookie({}), null);
  assert.equal(await setCookie({ authorization: "Bearer abc", cookie: "chat_session=abc" }), null);

  const { app: api } = whoami();
  const response = await api.request("/whoami", { headers: { cookie: "chat_session=abc" } });
  assert.equal(response.headers.get("set-cookie"), null, "without the option the cookie is left alone");
});

Deno.test("session({ pages }) sends a page whose access token expired to be renewed, and comes back", async () => {
  const { app, signIn } = whoami({ pages: true });
  const ada = await signIn("ada");
  const expired = await new TokenService({
    secret: SECRET,
    ttlSeconds: 60,
    now: () => Date.now() - 7_200_000,
  })
    .sign({ id: ada.userId, username: "ada" }, ada.sessionId);
  const page = await app.request("/whoami?x=1", {
    headers: { cookie: `chat_session=${expired}`, accept: "text/html,*/*" },
  });
  assert.equal(page.status, 303);
  assert.equal(page.headers.get("location"), `/api/auth/refresh?next=${encodeURIComponent("/whoami?x=1")}`);
  // A script's fetch is not redirected: it is told the token expired.
  const fetched = await app.request("/whoami", { headers: { cookie: `chat_session=${expired}` } });
  assert.deepEqual(await fetched.json(), { user: null, error: "token_expired" });
});

Deno.test("requireUser answers the session's 401 through the error table, and lets a user through", async () => {
  const { app, signIn } = whoami();
  const none = await app.request("/api/me");
  assert.equal(none.status, 401);
  assert.deepEqual(await none.json(), {
    error: { code: "missing_token", message: "An access token is required" },
  });
  const basic = await app.request("/api/me", { headers: { authorization: "Basic x" } });
  assert.deepEqual([basic.status, (await basic.json()).error], [401, {
    code: "invalid_token",
    message: 'Authorization must be "Bearer <token>"',
  }]);
  const ada = await signIn("ada");
  const ok = await app.request("/api/me", { headers: { cookie: `chat_session=${ada.token}` } });
  assert.deepEqual([ok.status, await ok.json()], [200, ada.identity]);
});

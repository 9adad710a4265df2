import assert from "node:assert/strict";
import { TokenService } from "../auth/jwt.ts";
import { errorHandler } from "./error_handler.ts";
import { requireUser, session } from "./session.ts";
import { SECRET, webTestApp } from "./testing/test_utils.ts";

/** An app whose `/whoami` reports what `session()` left in `c.var`. */
function whoami(options: Parameters<typeof session>[0] = {}) {
  const test = webTestApp();
  test.app.use(session(options));
  test.app.get("/whoami", (c) => c.json({ user: c.var.user, error: c.var.authError?.code ?? null }));
  test.app.use("/api/*", requireUser);
  test.app.get("/api/me", (c) => c.json(c.var.user));
  test.app.onError(errorHandler(test.services.log));
  return test;
}

Deno.test("session() takes the user from a Bearer token, else from the chat_session cookie", async (t) => {
  const { app, tokens } = whoami();
  const ada = await tokens.sign({ id: "u1", username: "ada" });
  const bob = await tokens.sign({ id: "u2", username: "bob" });
  const cases: [string, Record<string, string>, unknown][] = [
    ["Bearer", { authorization: `Bearer ${ada}` }, { userId: "u1", username: "ada" }],
    ["bearer, any case", { authorization: `bearer ${ada}` }, { userId: "u1", username: "ada" }],
    ["cookie", { cookie: `theme=dark; chat_session=${bob}` }, { userId: "u2", username: "bob" }],
    ["Bearer wins over the cookie", { authorization: `Bearer ${ada}`, cookie: `chat_session=${bob}` }, {
      userId: "u1",
      username: "ada",
    }],
  ];
  for (const [name, headers, user] of cases) {
    await t.step(name, async () => {
      assert.deepEqual(await (await app.request("/whoami", { headers })).json(), { user, error: null });
    });
  }
});

Deno.test("session() leaves user null for nobody or failing credentials, and says why", async (t) => {
  const { app, tokens } = whoami();
  const good = await tokens.sign({ id: "u1", username: "ada" });
  const expired = await new TokenService({
    secret: SECRET,
    ttlSeconds: 60,
    now: () => Date.now() - 7_200_000,
  })
    .sign({ id: "u1", username: "ada" });
  const cases: [string, Record<string, string>, string][] = [
    ["nothing", {}, "missing_token"],
    ["empty cookie", { cookie: "chat_session=" }, "missing_token"],
    ["not Bearer", { authorization: "Basic abc" }, "invalid_token"],
    ["garbage", { authorization: "Bearer abc.def.ghi" }, "invalid_token"],
    ["wrongly signed cookie", { cookie: `chat_session=${good}x` }, "invalid_token"],
    ["expired", { cookie: `chat_session=${expired}` }, "token_expired"],
    ["a bad Authorization hides a good cookie", {
      authorization: "Basic abc",
      cookie: `chat_session=${good}`,
    }, "invalid_token"],
  ];
  for (const [name, headers, error] of cases) {
    await t.step(name, async () => {
      assert.deepEqual(await (await app.request("/whoami", { headers })).json(), { user: null, error });
    });
  }
});

Deno.test("session({ clearStaleCookie }) clears a session cookie that fails, and nothing else", async () => {
  const { app, tokens } = whoami({ clearStaleCookie: true });
  const good = await tokens.sign({ id: "u1", username: "ada" });
  const cleared = "chat_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";
  const setCookie = async (headers: Record<string, string>) =>
    (await app.request("/whoami", { headers })).headers.get("set-cookie");
  assert.equal(await setCookie({ cookie: "chat_session=abc.def.ghi" }), cleared);
  assert.equal(await setCookie({ cookie: "chat_session=" }), cleared);
  assert.equal(await setCookie({ cookie: `chat_session=${good}` }), null);
  assert.equal(await setCookie({}), null);
  assert.equal(await setCookie({ authorization: "Bearer abc", cookie: "chat_session=abc" }), null);

  const { app: api } = whoami();
  const response = await api.request("/whoami", { headers: { cookie: "chat_session=abc" } });
  assert.equal(response.headers.get("set-cookie"), null, "without the option the cookie is left alone");
});

Deno.test("requireUser answers the session's 401 through the error table, and lets a user through", async () => {
  const { app, tokens } = whoami();
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
  const token = await tokens.sign({ id: "u1", username: "ada" });
  const ok = await app.request("/api/me", { headers: { cookie: `chat_session=${token}` } });
  assert.deepEqual([ok.status, await ok.json()], [200, { userId: "u1", username: "ada" }]);
});

/**
 * Pages and the API on the one pipeline (lib/app.ts), called through the app's handler (no port, no
 * browser) with the web UI on: the request state, session, same-origin check, register/login limit, user
 * search and error handler that both share.
 */
import assert from "node:assert/strict";
import { createTestApp, newUser, type TestApp } from "./helpers/server.ts";

async function withWebApp(
  fn: (app: TestApp) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const app = await createTestApp(env, { web: true });
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const IP = { remoteAddr: { transport: "tcp" as const, hostname: "10.9.9.9", port: 1 } };

/** A raw request to the app (pages answer HTML, so not through `TestApp.request`). */
function raw(app: TestApp, path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(app.chat.app.request(path, { redirect: "manual", ...init }, IP));
}

Deno.test("the register/login limit is one budget per address for the API and the home page's forms", () =>
  withWebApp(async (app) => {
    const login = { email: "nobody@example.com", password: "wrong password" };
    const api = () =>
      raw(app, "/api/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(login),
      });
    const form = () =>
      raw(app, "/", {
        method: "POST",
        headers: FORM,
        body: new URLSearchParams({ intent: "login", ...login }),
      });
    assert.equal((await api()).status, 401);
    assert.equal((await form()).status, 401);
    const refusedForm = await form();
    assert.equal(refusedForm.status, 429);
    assert.match(refusedForm.headers.get("retry-after")!, /^\d+$/);
    assert.match(await refusedForm.text(), /role="alert">Too many attempts; try again in \d+ s</);
    const refusedApi = await api();
    assert.equal(refusedApi.status, 429);
    assert.equal((await refusedApi.json()).error.code, "too_many_requests");
  }, { AUTH_RATE_LIMIT_BURST: "2", AUTH_RATE_LIMIT_PER_MIN: "1" }));

Deno.test("one session: pages and the API accept the cookie and a Bearer token; pages alone clear a stale cookie", () =>
  withWebApp(async (app) => {
    const user = await newUser(app, "web");
    for (
      const headers of [{ cookie: `chat_session=${user.token}` }, {
        authorization: `Bearer ${user.token}`,
      }] as Record<string, string>[]
    ) {
      const page = await raw(app, "/rooms", { headers });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<nav aria-label="Main">/);
      const me = await raw(app, "/api/users/me", { headers });
      assert.equal((await me.json()).username, user.username);
    }
    const stale = { cookie: "chat_session=abc.def.ghi" };
    const page = await raw(app, "/rooms", { headers: stale });
    assert.deepEqual([page.status, page.headers.get("location")], [302, "/?next=%2Frooms"]);
    assert.equal(page.headers.get("set-cookie"), "chat_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    const api = await raw(app, "/api/users/me", { headers: stale });
    assert.deepEqual([api.status, (await api.json()).error.code], [401, "invalid_token"]);
    assert.equal(api.headers.get("set-cookie"), null);
  }));

Deno.test("one same-origin check: a foreign form post and a foreign cookie call are refused, Bearer calls pass", () =>
  withWebApp(async (app) => {
    const user = await newUser(app, "csrf");
    const foreign = { origin: "https://evil.example", host: "chat.local" };
    const form = await raw(app, "http://chat.local/rooms", {
      method: "POST",
      headers: { ...FORM, ...foreign, cookie: `chat_session=${user.token}` },
      body: new URLSearchParams({ intent: "create", name: "csrf" }),
    });
    assert.deepEqual([form.status, await form.text()], [403, "Cross-origin request refused"]);
    const cookieCall = await raw(app, "http://chat.local/api/rooms", {
      method: "POST",
      headers: { "content-type": "application/json", ...foreign, cookie: `chat_session=${user.token}` },
      body: JSON.stringify({ name: "csrf" }),
    });
    assert.deepEqual([cookieCall.status, (await cookieCall.json()).error.code], [403, "origin_not_allowed"]);
    const bearerCall = await raw(app, "http://chat.local/api/rooms", {
      method: "POST",
      headers: { "content-type": "application/json", ...foreign, authorization: `Bearer ${user.token}` },
      body: JSON.stringify({ name: "not csrf" }),
    });
    assert.equal(bearerCall.status, 201);
    assert.equal((await app.chat.chat.rooms.list({ userId: user.id, username: user.username })).length, 1);
  }));

Deno.test("one error handler: JSON under /api, pages elsewhere, with the page headers and a request id", () =>
  withWebApp(async (app) => {
    const api = await raw(app, "/api/nope");
    assert.deepEqual([api.status, await api.json()], [404, {
      error: { code: "not_found", message: "No route for GET /api/nope" },
    }]);
    assert.equal(api.headers.get("content-security-policy"), null);
    const page = await raw(app, "/nope", { headers: { "x-request-id": "trace.7" } });
    assert.equal(page.status, 404);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy")!, /^default-src 'self'; script-src 'self';/);
    assert.equal(page.headers.get("x-request-id"), "trace.7");
    assert.match(await page.text(), /<h1>404 Not Found<\/h1>/);
    const file = await raw(app, "/styles.css");
    assert.equal(file.headers.get("content-security-policy"), null, "static files as before");
    assert.ok(file.headers.get("x-request-id"));
    await file.body?.cancel();
  }));

Deno.test("one user search: the room list finds who GET /api/users?q= finds, less oneself", () =>
  withWebApp(async (app) => {
    const me = await newUser(app, "finder");
    const others = [await newUser(app, "finder"), await newUser(app, "finder")];
    const api = await app.request("GET", "/api/users?q=finder", { token: me.token });
    assert.deepEqual(
      api.body.users.map((u: { username: string }) => u.username).sort(),
      [me, ...others].map((u) => u.username).sort(),
    );
    const page =
      await (await raw(app, "/rooms?q=finder", { headers: { cookie: `chat_session=${me.token}` } }))
        .text();
    const listed = [...page.matchAll(/aria-label="Message ([^"]+)"/g)].map((m) => m[1]).sort();
    assert.deepEqual(listed, others.map((u) => u.username).sort());
  }));

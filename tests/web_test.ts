/**
 * Pages and the API on the one pipeline (lib/app.ts), called through the app's handler (no port, no
 * browser) with the web UI on: the request state, session, same-origin check, register/login limit, user
 * search and error handler that both share.
 */
import assert from "node:assert/strict";
import { createTestApp, newUser, type TestApp } from "./helpers/server.ts";
import { formProblems } from "./helpers/form_html.ts";

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
        body: new URLSearchParams({ intent: "login", login: login.email, password: login.password }),
      });
    assert.equal((await api()).status, 401);
    assert.equal((await form()).status, 401);
    const refusedForm = await form();
    assert.equal(refusedForm.status, 429);
    assert.match(refusedForm.headers.get("retry-after")!, /^\d+$/);
    assert.match(
      await refusedForm.text(),
      /<div class="error-summary" id="login-errors" role="alert"[^>]*>.*<li>Too many attempts; try again in \d+ s<\/li>/,
    );
    const refusedApi = await api();
    assert.equal(refusedApi.status, 429);
    assert.equal((await refusedApi.json()).error.code, "too_many_requests");
  }, { AUTH_RATE_LIMIT_BURST: "2", AUTH_RATE_LIMIT_PER_MIN: "1" }));

/** The attributes of the input with `id`, from a page's HTML. */
function inputOf(html: string, id: string): Record<string, string> {
  const tag = new RegExp(`<input[^>]*\\bid="${id}"[^>]*>`).exec(html)?.[0] ?? "";
  return Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

Deno.test("the home page says what this is and offers both forms", () =>
  withWebApp(async (app) => {
    const page = await raw(app, "/");
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<h1 id="home-title">Team chat on your own server<\/h1>/);
    assert.match(html, /rooms, send direct messages/);
    assert.match(html, /<h2 id="login-title">Log in<\/h2>/);
    assert.match(html, /<h2 id="signup-title">Create an account<\/h2>/);
    assert.match(html, /<label for="login-name">Username or email<\/label>/);
    assert.match(html, /<link rel="stylesheet" href="\/auth.css"\/>/);
    assert.doesNotMatch(html, /error-summary|aria-invalid/, "no errors before a submit");
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, "no inline script");
    assert.doesNotMatch(html, /<img/);
  }));

Deno.test("the sign-up form shows every problem at once, by its field and in a summary; values kept but the password", () =>
  withWebApp(async (app) => {
    const res = await raw(app, "/", {
      method: "POST",
      headers: FORM,
      body: new URLSearchParams({
        intent: "signup",
        username: "a b",
        email: "bob-at-example",
        password: "short",
      }),
    });
    assert.equal(res.status, 400);
    const html = await res.text();
    assert.match(html, /<title>Error: Welcome · Chat<\/title>/);
    const username = "Username must be 3-32 letters, digits, dots, dashes or underscores";
    const email = "Enter an email address like name@example.com";
    const password = "Password must be at least 8 characters";
    assert.deepEqual(formProblems(html), {
      summary: [`signup-username: ${username}`, `signup-email: ${email}`, `signup-password: ${password}`],
      byField: { "signup-username": username, "signup-email": email, "signup-password": password },
    });
    for (const id of ["signup-username", "signup-email", "signup-password"]) {
      assert.equal(inputOf(html, id)["aria-invalid"], "true", id);
    }
    assert.equal(
      inputOf(html, "signup-username")["aria-describedby"],
      "signup-username-hint signup-username-error",
    );
    assert.equal(inputOf(html, "signup-email")["aria-describedby"], "signup-email-error");
    assert.deepEqual([inputOf(html, "signup-username").value, inputOf(html, "signup-email").value], [
      "a b",
      "bob-at-example",
    ]);
    assert.equal(inputOf(html, "signup-password").value, undefined, "the password is not sent back");
    assert.equal(html.match(/role="alert"/g)?.length, 1, "one alert: the summary");
    assert.equal(inputOf(html, "login-name")["aria-invalid"], undefined, "the other form is untouched");

    // Fixed, the same form signs up and logs in; then the username logs in on the login form.
    const ok = await raw(app, "/", {
      method: "POST",
      headers: FORM,
      body: new URLSearchParams({
        intent: "signup",
        username: " bob ",
        email: "bob@example.com ",
        password: "long enough",
      }),
    });
    assert.deepEqual([ok.status, ok.headers.get("location")], [303, "/rooms"]);
    assert.equal(
      (await app.store.users.byEmail("bob@example.com"))?.username,
      "bob",
      "spaces around trimmed",
    );
    const login = await raw(app, "/", {
      method: "POST",
      headers: FORM,
      body: new URLSearchParams({ intent: "login", login: "bob", password: "long enough" }),
    });
    assert.equal(login.headers.get("location"), "/rooms");
    assert.match(login.headers.get("set-cookie")!, /^chat_session=/);
  }));

Deno.test("the login form: an empty submit names both fields; wrong credentials one message by the password", () =>
  withWebApp(async (app) => {
    const post = (fields: Record<string, string>) =>
      raw(app, "/", {
        method: "POST",
        headers: FORM,
        body: new URLSearchParams({ intent: "login", ...fields }),
      });
    const empty = await post({ login: "", password: "" });
    assert.equal(empty.status, 400);
    assert.deepEqual(formProblems(await empty.text()), {
      summary: ["login-name: Enter your username or email", "login-password: Enter your password"],
      byField: { "login-name": "Enter your username or email", "login-password": "Enter your password" },
    });
    const wrong = await post({ login: "nobody", password: "wrong password" });
    assert.equal(wrong.status, 401);
    const html = await wrong.text();
    assert.deepEqual(formProblems(html), {
      summary: ["login-password: Wrong username, email or password"],
      byField: { "login-password": "Wrong username, email or password" },
    });
    assert.equal(inputOf(html, "login-name").value, "nobody");
  }));

Deno.test("the profile form shows every problem at once and saves nothing; the typed values are kept", () =>
  withWebApp(async (app) => {
    const user = await newUser(app, "prof");
    const form = new FormData();
    form.set("display_name", "x".repeat(65));
    form.set("avatar_url", "http://example.com/me.png");
    const res = await raw(app, "/profile", {
      method: "POST",
      headers: { cookie: `chat_session=${user.token}` },
      body: form,
    });
    assert.equal(res.status, 400);
    const html = await res.text();
    const name = "Display name must be at most 64 characters";
    const url = "Enter an image address that starts with https:// (at most 2048 characters)";
    assert.deepEqual(formProblems(html), {
      summary: [`display-name: ${name}`, `avatar-url: ${url}`],
      byField: { "display-name": name, "avatar-url": url },
    });
    assert.equal(inputOf(html, "display-name").value, "x".repeat(65));
    assert.equal(inputOf(html, "avatar-url").value, "http://example.com/me.png");
    const me = await app.store.users.byId(user.id);
    assert.deepEqual([me!.display_name, me!.avatar_url], [null, null], "nothing saved");
  }));

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
    assert.equal(
      page.headers.get("set-cookie"),
      "chat_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0, " +
        "chat_refresh=; Path=/api/auth/refresh; HttpOnly; SameSite=Lax; Max-Age=0",
    );
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

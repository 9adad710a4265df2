/**
 * Sessions on one real server (lib/auth/sessions.ts behind the API, the socket and the pages): refresh token
 * rotation and reuse, logout of one session or of all, the sessions list, password change, sockets closed when
 * their access token expires (4001) or their session ends (4003) and kept open by a `refresh` frame, the
 * session cookies over https behind a trusted proxy, and the security headers of API answers and pages.
 */
import assert from "node:assert/strict";
import {
  api,
  type ApiResult,
  createTestApp,
  startServer,
  type TestApp,
  type TestServer,
} from "./helpers/server.ts";
import { type Frame, rawUpgrade, TestSocket } from "./helpers/socket.ts";
import { clientTextFrame, ServerFrameReader } from "./helpers/ws_frames.ts";

const PASSWORD = "correct horse battery";

interface Account {
  id: string;
  username: string;
  email: string;
  password: string;
}

/** What a sign-in answers: one session and its tokens. */
interface SignIn {
  token: string;
  expires_in: number;
  refresh_token: string;
  session_id: string;
}

const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IOS = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " +
  "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

let accounts = 0;

/** Registers a fresh account (not signed in). */
async function register(url: string, prefix: string): Promise<Account> {
  const username = `${prefix}${++accounts}_${crypto.randomUUID().slice(0, 6)}`;
  const account = { username, email: `${username}@example.com`, password: PASSWORD };
  const res = await api(url, "POST", "/api/auth/register", { body: account });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, ...account };
}

/** Signs the account in once more: a new session, from a device named by `userAgent`. */
async function signIn(url: string, account: Account, userAgent = "sessions-test/1.0"): Promise<SignIn> {
  const res = await api(url, "POST", "/api/auth/login", {
    body: { email: account.email, password: account.password },
    headers: { "user-agent": userAgent },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const { token, expires_in, refresh_token, session_id } = res.body;
  return { token, expires_in, refresh_token, session_id };
}

const me = (url: string, token: string) => api(url, "GET", "/api/users/me", { token });
const refresh = (url: string, body: unknown) => api(url, "POST", "/api/auth/refresh", { body });

/** Asserts a JSON error answer: its status and code. */
function assertError(res: ApiResult, status: number, code: string, what: string): void {
  assert.deepEqual([res.status, res.body?.error?.code], [status, code], what);
}

/** The `exp` of an access token, in ms since the epoch. */
function expiryOf(token: string): number {
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload)).exp * 1000;
}

/**
 * What a refresh token of an ended session answers. The stores drop an ended session's refresh tokens, so
 * they are unknown (`invalid_refresh_token`), not `session_revoked`; either way a 401 that means "sign in".
 */
const ENDED_REFRESH = "invalid_refresh_token";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withServer(
  fn: (server: TestServer) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const server = await startServer(env);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** Sockets opened by a test, closed at its end whatever happens. */
class Sockets {
  readonly #open: TestSocket[] = [];

  async open(server: TestServer, token: string): Promise<TestSocket> {
    const socket = await TestSocket.open(`${server.wsUrl}?token=${token}`);
    this.#open.push(socket);
    return socket;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#open.map((s) => s.close()));
  }
}

// ---- refresh tokens ----

Deno.test("refresh rotates both tokens; a used refresh token coming back ends the session everywhere", () =>
  withServer(async ({ url }) => {
    const alice = await register(url, "rot");
    const first = await signIn(url, alice);

    const second = await refresh(url, { refresh_token: first.refresh_token });
    assert.equal(second.status, 200);
    assert.deepEqual(Object.keys(second.body).sort(), ["expires_in", "refresh_token", "session_id", "token"]);
    assert.equal(second.body.session_id, first.session_id, "the same session");
    assert.equal(second.body.expires_in, 900);
    assert.notEqual(second.body.refresh_token, first.refresh_token, "a new refresh token");
    assert.equal((await me(url, second.body.token)).body.id, alice.id, "the new access token works");

    // The newest refresh token works once more; the old one is refused and its reuse ends the session.
    const third = await refresh(url, { refresh_token: second.body.refresh_token });
    assert.equal(third.status, 200);
    assert.equal((await me(url, third.body.token)).status, 200);
    assertError(await refresh(url, { refresh_token: first.refresh_token }), 401, "session_revoked", "reuse");
    assertError(await me(url, third.body.token), 401, "session_revoked", "the session's access token");
    assertError(await me(url, first.token), 401, "session_revoked", "its first access token");
    assertError(
      await refresh(url, { refresh_token: third.body.refresh_token }),
      401,
      ENDED_REFRESH,
      "the newest refresh token",
    );
    const sessions = await signIn(url, alice);
    const listed = await api(url, "GET", "/api/sessions", { token: sessions.token });
    assert.deepEqual(listed.body.sessions.map((s: { id: string }) => s.id), [sessions.session_id]);
  }));

Deno.test("a missing, malformed or unknown refresh token is 401 invalid_refresh_token", () =>
  withServer(async ({ url }) => {
    const alice = await register(url, "badrt");
    const session = await signIn(url, alice);
    for (
      const [body, what] of [
        [{}, "missing"],
        [{ refresh_token: "" }, "empty"],
        [{ refresh_token: 42 }, "a number"],
        [{ refresh_token: "garbage" }, "garbage"],
        [{ refresh_token: "x".repeat(201) }, "too long"],
        [{ refresh_token: session.token }, "an access token"],
      ] as const
    ) {
      const res = await refresh(url, body);
      assertError(res, 401, "invalid_refresh_token", what);
    }
    assert.equal((await refresh(url, { refresh_token: session.refresh_token })).status, 200, "still valid");
  }));

// ---- logout, logout everywhere, the sessions list ----

Deno.test("logout ends only this session: its tokens are refused, the user's other session keeps working", () =>
  withServer(async ({ url }) => {
    const alice = await register(url, "out");
    const [a, b] = [await signIn(url, alice), await signIn(url, alice)];
    const res = await api(url, "POST", "/api/auth/logout", { token: a.token });
    assert.equal(res.status, 204);
    assert.equal(res.body, null);
    assert.deepEqual(res.headers.getSetCookie(), [
      "chat_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
      "chat_refresh=; Path=/api/auth/refresh; HttpOnly; SameSite=Lax; Max-Age=0",
    ]);
    assertError(await me(url, a.token), 401, "session_revoked", "the ended session's access token");
    assertError(
      await refresh(url, { refresh_token: a.refresh_token }),
      401,
      ENDED_REFRESH,
      "the ended session's refresh token",
    );
    assertError(
      await api(url, "POST", "/api/auth/logout", { token: a.token }),
      401,
      "session_revoked",
      "again",
    );
    assert.equal((await me(url, b.token)).status, 200, "the other session");
    assert.equal((await refresh(url, { refresh_token: b.refresh_token })).status, 200);
    assertError(await api(url, "POST", "/api/auth/logout"), 401, "missing_token", "no token");
  }));

Deno.test("logout-all ends every session of the caller and none of another user", () =>
  withServer(async ({ url }) => {
    const [alice, bob] = [await register(url, "all"), await register(url, "other")];
    const mine = [await signIn(url, alice), await signIn(url, alice), await signIn(url, alice)];
    const theirs = await signIn(url, bob);
    const res = await api(url, "POST", "/api/auth/logout-all", { token: mine[1].token });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { ended: 3 });
    for (const [i, session] of mine.entries()) {
      assertError(await me(url, session.token), 401, "session_revoked", `session ${i}`);
      assertError(
        await refresh(url, { refresh_token: session.refresh_token }),
        401,
        ENDED_REFRESH,
        `refresh ${i}`,
      );
    }
    assert.equal((await me(url, theirs.token)).status, 200, "another user's session");
    // Signing in again starts a new session, alone in the list.
    const again = await signIn(url, alice);
    const listed = await api(url, "GET", "/api/sessions", { token: again.token });
    assert.equal(listed.body.sessions.length, 1);
  }));

Deno.test("the sessions list names devices from the User-Agent and marks the caller's; DELETE signs one out", () =>
  withServer(async ({ url }) => {
    const [alice, bob] = [await register(url, "list"), await register(url, "stranger")];
    const firefox = await signIn(url, alice, FIREFOX_LINUX);
    const safari = await signIn(url, alice, SAFARI_IOS);
    const curl = await signIn(url, alice, "curl/8.5.0");
    const bobs = await signIn(url, bob);

    const res = await api(url, "GET", "/api/sessions", { token: safari.token });
    assert.equal(res.status, 200);
    const sessions = res.body.sessions as Record<string, unknown>[];
    for (const session of sessions) {
      assert.deepEqual(Object.keys(session).sort(), [
        "created_at",
        "current",
        "device",
        "expires_at",
        "id",
        "ip",
        "last_used_at",
      ]);
      assert.equal(session.ip, "127.0.0.1");
    }
    const byId = new Map(sessions.map((s) => [s.id, s]));
    assert.deepEqual(
      [firefox, safari, curl].map((s) => [byId.get(s.session_id)?.device, byId.get(s.session_id)?.current]),
      [["Firefox on Linux", false], ["Safari on iOS", true], ["curl", false]],
    );
    assert.equal(sessions.length, 3, "bob's session is not listed");

    // Another user's session is not found (and not ended); so is a malformed id.
    for (const id of [bobs.session_id, "nope", "0".repeat(24)]) {
      const refused = await api(url, "DELETE", `/api/sessions/${id}`, { token: safari.token });
      assertError(refused, 404, "session_not_found", `DELETE ${id}`);
    }
    assert.equal((await me(url, bobs.token)).status, 200, "bob is still signed in");

    const ended = await api(url, "DELETE", `/api/sessions/${curl.session_id}`, { token: safari.token });
    assert.equal(ended.status, 204);
    assertError(await me(url, curl.token), 401, "session_revoked", "the deleted session");
    assertError(
      await api(url, "DELETE", `/api/sessions/${curl.session_id}`, { token: safari.token }),
      404,
      "session_not_found",
      "deleted twice",
    );
    const after = await api(url, "GET", "/api/sessions", { token: firefox.token });
    assert.deepEqual(
      after.body.sessions.map((s: { id: string; current: boolean }) => [s.id, s.current]).sort(),
      [[firefox.session_id, true], [safari.session_id, false]].sort(),
    );
    assertError(await api(url, "GET", "/api/sessions"), 401, "missing_token", "no token");
  }));

// ---- password ----

Deno.test("password change: a wrong current password changes nothing; success ends every other session and its sockets", () =>
  withServer(async (server) => {
    const { url } = server;
    const sockets = new Sockets();
    try {
      const alice = await register(url, "pw");
      const [a, b, c] = [await signIn(url, alice), await signIn(url, alice), await signIn(url, alice)];
      const [onA, onB, onC] = [
        await sockets.open(server, a.token),
        await sockets.open(server, b.token),
        await sockets.open(server, c.token),
      ];
      await Promise.all([onA.sync(), onB.sync(), onC.sync()]);
      const next = "a brand new passphrase";

      const wrong = await api(url, "POST", "/api/users/me/password", {
        token: a.token,
        body: { current_password: "not my password", new_password: next },
      });
      assert.equal(wrong.status, 400);
      assert.deepEqual(wrong.body, {
        error: {
          code: "invalid_current_password",
          message: "That is not your current password",
          fields: { current_password: "That is not your current password" },
        },
      });
      const short = await api(url, "POST", "/api/users/me/password", {
        token: a.token,
        body: { new_password: "short" },
      });
      assert.equal(short.status, 400);
      assert.deepEqual(short.body.error.fields, {
        current_password: "Enter your current password",
        new_password: "Password must be at least 8 characters",
      });
      assert.equal((await me(url, b.token)).status, 200, "nothing ended");
      await onB.sync();

      const changed = await api(url, "POST", "/api/users/me/password", {
        token: a.token,
        body: { current_password: PASSWORD, new_password: next },
      });
      assert.equal(changed.status, 200);
      assert.deepEqual(changed.body, { ended_sessions: 2 });
      assert.deepEqual(await onB.closed, { code: 4003, reason: "Signed out" });
      assert.deepEqual(await onC.closed, { code: 4003, reason: "Signed out" });
      await onA.sync();
      assert.equal((await me(url, a.token)).status, 200, "this session stays");
      assertError(await me(url, b.token), 401, "session_revoked", "another session");
      assertError(
        await refresh(url, { refresh_token: c.refresh_token }),
        401,
        ENDED_REFRESH,
        "its refresh",
      );

      const login = (password: string) =>
        api(url, "POST", "/api/auth/login", { body: { username: alice.username, password } });
      assertError(await login(PASSWORD), 401, "invalid_credentials", "the old password");
      assert.equal((await login(next)).status, 200, "the new password");
    } finally {
      await sockets.closeAll();
    }
  }));

Deno.test("PATCH /api/users/me with a password is refused with 400 and changes nothing", () =>
  withServer(async ({ url }) => {
    const alice = await register(url, "patch");
    const session = await signIn(url, alice);
    const res = await api(url, "PATCH", "/api/users/me", {
      token: session.token,
      body: { display_name: "Changed", password: "a brand new passphrase" },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      error: { code: "invalid_password", message: "Change the password with POST /api/users/me/password" },
    });
    assert.equal((await me(url, session.token)).body.display_name, null, "the display name is unchanged");
    const login = (password: string) =>
      api(url, "POST", "/api/auth/login", { body: { email: alice.email, password } });
    assertError(await login("a brand new passphrase"), 401, "invalid_credentials", "the sent password");
    assert.equal((await login(PASSWORD)).status, 200, "the password is unchanged");
  }));

// ---- sockets and access token expiry ----

Deno.test("a socket is closed with 4001 when its access token expires: a message just before is stored, none after", () =>
  withServer(async (server) => {
    const { url } = server;
    const alice = await register(url, "exp");
    const session = await signIn(url, alice);
    assert.equal(session.expires_in, 5);
    const expiresAt = expiryOf(session.token);
    // Opened before the room exists, so that nothing arrives on it before the frames read below.
    const raw = await rawUpgrade(server.port, `/ws?token=${session.token}`);
    assert.equal(raw.status, 101);
    const reader = new ServerFrameReader(raw.conn);
    try {
      const room = await api(url, "POST", "/api/rooms", { token: session.token, body: { name: "Expiry" } });
      assert.equal(room.status, 201);
      const send = (clientId: string) =>
        raw.conn.write(
          clientTextFrame(
            JSON.stringify({
              type: "message",
              room_id: room.body.id,
              content: clientId,
              client_id: clientId,
            }),
          ),
        );

      await delay(expiresAt - 600 - Date.now());
      assert.ok(Date.now() < expiresAt, "sent before the expiry");
      await send("before");
      let ack: Frame | undefined;
      while (ack === undefined) {
        const text = await reader.nextText();
        assert.notEqual(text, null, "the socket stays open until the expiry");
        const frame = JSON.parse(text!);
        if (frame.type === "ack") ack = frame;
      }
      assert.equal(ack.client_id, "before");

      const end = await reader.drain();
      const closedAt = Date.now();
      assert.equal(end.closeCode, 4001);
      assert.equal(end.closeReason, "Access token expired; renew it and reconnect");
      assert.ok(closedAt >= expiresAt - 20, `closed ${expiresAt - closedAt} ms before the expiry`);
      assert.ok(closedAt - expiresAt < 3_000, `closed ${closedAt - expiresAt} ms after the expiry`);

      // Frames written after the close are not handled.
      for (const id of ["after-1", "after-2"]) {
        await send(id).catch((error) => {
          if (!(error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset)) {
            throw error;
          }
        });
      }
      await delay(300);
      const reader2 = await signIn(url, alice);
      const marker = await api(url, "POST", `/api/rooms/${room.body.id}/messages`, {
        token: reader2.token,
        body: { content: "marker" },
      });
      assert.equal(marker.status, 201);
      const history = await api(url, "GET", `/api/rooms/${room.body.id}/messages?after_seq=0`, {
        token: reader2.token,
      });
      assert.deepEqual(
        history.body.messages.filter((m: { type: string }) => m.type === "text").map((m: Frame) => m.content),
        ["before", "marker"],
      );
    } finally {
      raw.conn.close();
    }
  }, { ACCESS_TOKEN_TTL_SECONDS: "5" }));

Deno.test({
  name: "a socket is not opened with an expired access token, even inside the verifier's clock tolerance",
  fn: () =>
    withServer(async (server) => {
      const alice = await register(server.url, "late");
      const session = await signIn(server.url, alice);
      await delay(expiryOf(session.token) + 200 - Date.now());
      const refused = await rawUpgrade(server.port, `/ws?token=${session.token}`);
      if (refused.status === 101) refused.conn.close();
      assert.deepEqual([refused.status, JSON.parse(refused.body || "{}").error?.code], [
        401,
        "token_expired",
      ]);
    }, { ACCESS_TOKEN_TTL_SECONDS: "5" }),
});

Deno.test("a refresh frame with a new token of the same session keeps the socket open; another sign-in's is refused", () =>
  withServer(async (server) => {
    const { url } = server;
    const sockets = new Sockets();
    try {
      const [alice, bob] = [await register(url, "renew"), await register(url, "intruder")];
      const [a, b, theirs] = [await signIn(url, alice), await signIn(url, alice), await signIn(url, bob)];
      const [onA, onB] = [await sockets.open(server, a.token), await sockets.open(server, b.token)];
      const firstExpiry = expiryOf(a.token);
      // A token signed in a later second expires later.
      await delay(firstExpiry - 5_000 + 1_050 - Date.now());
      const renewed = await refresh(url, { refresh_token: a.refresh_token });
      assert.equal(renewed.status, 200);
      const newExpiry = expiryOf(renewed.body.token);
      assert.ok(newExpiry > firstExpiry, "the new token expires later");

      const refused = (message: string) => ({
        type: "error",
        code: "invalid_token",
        message,
        retryable: false,
      });
      const foreign = refused("The token belongs to another sign-in than this socket's");
      for (const token of [b.token, theirs.token]) {
        const from = onA.frames.length;
        onA.send({ type: "refresh", token });
        assert.deepEqual(await onA.waitFor((f) => f.type === "error", "refusal", { from }), foreign);
      }
      let from = onA.frames.length;
      onA.send({ type: "refresh", token: "garbage" });
      assert.deepEqual(
        await onA.waitFor((f) => f.type === "error", "refusal", { from }),
        refused("The access token is invalid"),
      );
      from = onB.frames.length;
      onB.send({ type: "refresh", token: renewed.body.token });
      assert.deepEqual(await onB.waitFor((f) => f.type === "error", "refusal", { from }), foreign);

      from = onA.frames.length;
      onA.send({ type: "refresh", token: renewed.body.token });
      assert.deepEqual(
        await onA.waitFor((f) => f.type === "refreshed", "refreshed", { from }),
        { type: "refreshed", expires_at: newExpiry },
      );

      // B (refused) is closed at its token's expiry; A is open past it, until the new token's.
      const closedB = await onB.closed;
      assert.equal(closedB.code, 4001);
      assert.ok(Date.now() >= expiryOf(b.token) - 20);
      await delay(firstExpiry + 300 - Date.now());
      await onA.sync();
      const closedA = await onA.closed;
      assert.equal(closedA.code, 4001);
      assert.ok(Date.now() >= newExpiry - 20, "closed at the new token's expiry, not before");
    } finally {
      await sockets.closeAll();
    }
  }, { ACCESS_TOKEN_TTL_SECONDS: "5" }));

// ---- cookies over https, security headers ----

async function withWebApp(env: Record<string, string>, fn: (app: TestApp) => Promise<void>): Promise<void> {
  const app = await createTestApp(env, { web: true });
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

const IP = { remoteAddr: { transport: "tcp" as const, hostname: "10.1.2.3", port: 1 } };

/** A request to the app's handler (no port), redirects not followed. */
function raw(app: TestApp, path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(app.chat.app.request(path, { redirect: "manual", ...init }, IP));
}

/** Signs in with the home page's login form; answers the response (cookies in `Set-Cookie`). */
async function loginForm(app: TestApp, account: Account, headers: Record<string, string> = {}) {
  const res = await raw(app, "/", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams({ intent: "login", login: account.username, password: account.password }),
  });
  await res.body?.cancel();
  assert.equal(res.status, 303);
  return res;
}

async function registerIn(app: TestApp, prefix: string): Promise<Account> {
  const username = `${prefix}${++accounts}`;
  const account = { username, email: `${username}@example.com`, password: PASSWORD };
  const res = await app.request("POST", "/api/auth/register", { body: account });
  assert.equal(res.status, 201);
  return { id: res.body.id, ...account };
}

/** `name=value; attributes` of each cookie with the value replaced by `…`, to compare exactly. */
const shapes = (res: Response) => res.headers.getSetCookie().map((c) => c.replace(/=[^;]+;/, "=…;"));
const valueOf = (res: Response, name: string) =>
  res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`))!.slice(name.length + 1).split(";")[0];

const REFRESH_TTL = 30 * 86_400;
const SECURE_COOKIES = [
  `__Host-chat_session=…; Path=/; HttpOnly; SameSite=Lax; Max-Age=${REFRESH_TTL}; Secure`,
  `__Secure-chat_refresh=…; Path=/api/auth/refresh; HttpOnly; SameSite=Lax; Max-Age=${REFRESH_TTL}; Secure`,
];
const PLAIN_COOKIES = [
  `chat_session=…; Path=/; HttpOnly; SameSite=Lax; Max-Age=${REFRESH_TTL}`,
  `chat_refresh=…; Path=/api/auth/refresh; HttpOnly; SameSite=Lax; Max-Age=${REFRESH_TTL}`,
];
const HTTPS = { "x-forwarded-proto": "https" };

Deno.test("behind a trusted proxy that says https the cookies are Secure with __Host-/__Secure- names, and work", () =>
  withWebApp({ TRUST_PROXY: "true" }, async (app) => {
    const alice = await registerIn(app, "https");
    const secure = await loginForm(app, alice, HTTPS);
    assert.deepEqual(shapes(secure), SECURE_COOKIES);
    assert.deepEqual(shapes(await loginForm(app, alice)), PLAIN_COOKIES, "plain http behind the proxy");

    // The prefixed cookies sign in, and the refresh cookie renews both under the same names.
    const access = valueOf(secure, "__Host-chat_session");
    const page = await raw(app, "/api/users/me", { headers: { cookie: `__Host-chat_session=${access}` } });
    assert.equal((await page.json()).id, alice.id);
    const renewed = await raw(app, "/api/auth/refresh", {
      method: "POST",
      headers: { ...HTTPS, cookie: `__Secure-chat_refresh=${valueOf(secure, "__Secure-chat_refresh")}` },
    });
    assert.equal(renewed.status, 200);
    assert.deepEqual(Object.keys(await renewed.json()).sort(), ["expires_in", "session_id", "token"]);
    assert.deepEqual(shapes(renewed), SECURE_COOKIES);
  }));

Deno.test("without TRUST_PROXY an X-Forwarded-Proto: https is ignored: plain cookie names, not Secure", () =>
  withWebApp({}, async (app) => {
    const alice = await registerIn(app, "plain");
    const res = await loginForm(app, alice, HTTPS);
    assert.deepEqual(shapes(res), PLAIN_COOKIES);
    const renewed = await raw(app, "/api/auth/refresh", {
      method: "POST",
      headers: { ...HTTPS, cookie: `chat_refresh=${valueOf(res, "chat_refresh")}` },
    });
    await renewed.body?.cancel();
    assert.deepEqual(shapes(renewed), PLAIN_COOKIES);
  }));

Deno.test("every /api answer has X-Content-Type-Options: nosniff; pages have a CSP with frame-ancestors and a Referrer-Policy", () =>
  withWebApp({}, async (app) => {
    const alice = await registerIn(app, "hdr");
    const login = await app.request("POST", "/api/auth/login", {
      body: { email: alice.email, password: PASSWORD },
    });
    const token = login.body.token as string;
    const answers: [number, ApiResult][] = [
      [200, await app.request("GET", "/api/health")],
      [200, await app.request("GET", "/api/sessions", { token })],
      [200, login],
      [401, await app.request("GET", "/api/users/me")],
      [401, await app.request("GET", "/api/sessions", { token: "abc.def.ghi" })],
      [401, await app.request("POST", "/api/auth/refresh", { body: { refresh_token: "nope" } })],
      [404, await app.request("DELETE", `/api/sessions/${"0".repeat(24)}`, { token })],
      [404, await app.request("GET", "/api/no-such-route", { token })],
    ];
    for (const [i, [status, res]] of answers.entries()) {
      assert.equal(res.status, status, `answer ${i}`);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff", `answer ${i}`);
    }

    const cookie = `chat_session=${token}`;
    for (const [path, headers] of [["/", {}], ["/rooms", { cookie }], ["/profile", { cookie }]] as const) {
      const page = await raw(app, path, { headers });
      assert.equal(page.status, 200, path);
      assert.match(page.headers.get("content-type")!, /^text\/html/, path);
      assert.match(page.headers.get("content-security-policy")!, /(^|; )frame-ancestors 'none'(;|$)/, path);
      assert.equal(page.headers.get("referrer-policy"), "same-origin", path);
      assert.equal(page.headers.get("x-content-type-options"), "nosniff", path);
      await page.body?.cancel();
    }
  }));

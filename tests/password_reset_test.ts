/**
 * Password reset through the API of a real server that mails over SMTP to a real Mailpit: the link in the
 * mail, the same answer for an unknown address, every session ended (tokens and sockets), single use, expiry.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "../lib/auth/sessions.ts";
import { MemoryBus } from "../lib/bus/memory.ts";
import { loadConfig } from "../lib/config.ts";
import { nullLogger } from "../lib/log.ts";
import { SmtpMailer } from "../lib/mail/smtp.ts";
import { type ChatServer, createChatServer } from "../lib/server.ts";
import type { Store } from "../lib/storage/store.ts";
import { openTestStore, testDatabaseUrl } from "./helpers/database.ts";
import { type MailpitServer, startMailpit } from "./helpers/mailpit.ts";
import { api, type ApiResult, newUser, TEST_ENV } from "./helpers/server.ts";
import { TestSocket } from "./helpers/socket.ts";

const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "a brand new passphrase";
const FROM = "chat@example.com";
const LINK = /(\S+)\/reset-password\?token=([A-Za-z0-9_-]+)/;

interface ResetServer {
  url: string;
  wsUrl: string;
  chat: ChatServer;
  store: Store;
  mailpit: MailpitServer;
}

/**
 * A Mailpit, and an in-process server on a real port whose mail goes to it over SMTP (as main.ts sets it up with
 * SMTP_URL), on a fresh database.
 */
async function withResetServer(
  env: Record<string, string>,
  fn: (server: ResetServer) => Promise<void>,
): Promise<void> {
  const mailpit = await startMailpit();
  const dir = await Deno.makeTempDir({ prefix: "chat-reset-" });
  const config = loadConfig({
    ...TEST_ENV,
    DATABASE_URL: testDatabaseUrl(dir),
    SMTP_URL: mailpit.smtpUrl,
    MAIL_FROM: `Chat <${FROM}>`,
    ...env,
  });
  const store = await openTestStore(config.databaseUrl);
  const bus = new MemoryBus();
  const mailer = new SmtpMailer({ url: config.smtpUrl!, from: config.mailFrom });
  const chat = await createChatServer({ config, log: nullLogger, store, bus, web: false, mailer });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    chat.app.fetch,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    await fn({ url, wsUrl: `ws://127.0.0.1:${server.addr.port}/ws`, chat, store, mailpit });
  } finally {
    await chat.drain();
    ac.abort();
    await server.finished;
    await mailer.close();
    await bus.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
    await mailpit.close();
  }
}

function assertRefused(res: ApiResult, status: number, code: string, what: string): void {
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error.code, code, what);
}

const requestReset = (url: string, email: string) =>
  api(url, "POST", "/api/auth/password-reset", { body: { email } });
const confirmReset = (url: string, token: unknown, newPassword: unknown) =>
  api(url, "POST", "/api/auth/password-reset/confirm", { body: { token, new_password: newPassword } });
const signIn = (url: string, email: string, password: string) =>
  api(url, "POST", "/api/auth/login", { body: { email, password } });

Deno.test("password reset: the mailed link sets a new password once and ends every session", () =>
  withResetServer({ PUBLIC_URL: "https://chat.example.test" }, async ({ url, wsUrl, chat, mailpit }) => {
    const user = await newUser(url, "reset");
    const second = await signIn(url, user.email, PASSWORD);
    assert.equal(second.status, 200);
    const tokens = [user.token, second.body.token as string];
    const sockets = await Promise.all(tokens.map((token) => TestSocket.open(`${wsUrl}?token=${token}`)));
    try {
      await Promise.all(sockets.map((socket) => socket.sync()));

      const unknown = await requestReset(url, "nobody-here@example.com");
      const known = await requestReset(url, user.email);
      for (const res of [unknown, known]) {
        assert.equal(res.status, 202);
        assert.deepEqual(res.body, { status: "sent" });
      }
      const mail = await mailpit.waitForMessage(user.email);
      await chat.passwordReset.idle();
      assert.equal((await mailpit.messages()).length, 1, "no mail for the unknown address");
      assert.deepEqual(mail.to, [user.email]);
      assert.equal(mail.from, FROM);
      assert.equal(mail.subject, "Reset your chat password");
      const [, base, token] = mail.text.match(LINK) ?? [];
      assert.equal(base, "https://chat.example.test", `the link starts with PUBLIC_URL:\n${mail.text}`);
      assert.ok(mail.text.includes(user.username), "the mail names the account");

      // Nothing changed until the link is used.
      for (const token of tokens) {
        assert.equal((await api(url, "GET", "/api/users/me", { token })).status, 200);
      }

      const short = await confirmReset(url, token, "short");
      assertRefused(short, 400, "invalid_new_password", "a short password");
      assert.deepEqual(short.body.error.fields, { new_password: "Password must be at least 8 characters" });
      assert.equal((await signIn(url, user.email, PASSWORD)).status, 200, "the password is unchanged");

      const confirmed = await confirmReset(url, token, NEW_PASSWORD);
      assert.equal(confirmed.status, 204, JSON.stringify(confirmed.body));
      assert.equal(confirmed.body, null);
      for (const [i, socket] of sockets.entries()) {
        assert.equal((await socket.closed).code, 4003, `socket ${i + 1} is closed as its session ended`);
      }
      for (const [i, token] of tokens.entries()) {
        assertRefused(
          await api(url, "GET", "/api/users/me", { token }),
          401,
          "session_revoked",
          `access token ${i + 1}`,
        );
      }
      const refresh = await api(url, "POST", "/api/auth/refresh", {
        body: { refresh_token: second.body.refresh_token },
      });
      assertRefused(refresh, 401, "invalid_refresh_token", "the refresh token");

      assertRefused(await signIn(url, user.email, PASSWORD), 401, "invalid_credentials", "the old password");
      const fresh = await signIn(url, user.email, NEW_PASSWORD);
      assert.equal(fresh.status, 200);
      assert.equal(fresh.body.user.id, user.id);
      assertRefused(
        await confirmReset(url, token, "another new passphrase"),
        400,
        "invalid_reset_token",
        "again",
      );
      assert.equal(
        (await signIn(url, user.email, NEW_PASSWORD)).status,
        200,
        "the second use changed nothing",
      );
    } finally {
      await Promise.all(sockets.map((socket) => socket.close()));
    }
  }));

Deno.test("password reset: without PUBLIC_URL the link is the request's origin; unknown and expired tokens are refused", () =>
  withResetServer({}, async ({ url, store, mailpit }) => {
    const user = await newUser(url, "expiry");
    assert.equal((await requestReset(url, user.email)).status, 202);
    const [, base, mailed] = (await mailpit.waitForMessage(user.email)).text.match(LINK) ?? [];
    assert.equal(base, url);

    // A token mailed more than 30 minutes ago: its row says it expired a second ago.
    const old = "an-old-token-" + crypto.randomUUID();
    await store.users.addPasswordReset(
      user.id,
      await sha256Hex(old),
      new Date(Date.now() - 1_000).toISOString(),
    );
    assertRefused(await confirmReset(url, old, NEW_PASSWORD), 400, "invalid_reset_token", "expired");
    assertRefused(await confirmReset(url, mailed + "x", NEW_PASSWORD), 400, "invalid_reset_token", "unknown");
    const missing = await confirmReset(url, undefined, NEW_PASSWORD);
    assertRefused(missing, 400, "invalid_reset_token", "no token");
    assert.deepEqual(Object.keys(missing.body.error.fields), ["token"]);
    const nothing = await confirmReset(url, "", "");
    assert.deepEqual(Object.keys(nothing.body.error.fields).sort(), ["new_password", "token"]);

    assert.equal(
      (await api(url, "GET", "/api/users/me", { token: user.token })).status,
      200,
      "still signed in",
    );
    assert.equal((await signIn(url, user.email, PASSWORD)).status, 200, "the password is unchanged");
    assert.equal((await confirmReset(url, mailed, NEW_PASSWORD)).status, 204, "the mailed token still works");
    assert.equal((await signIn(url, user.email, NEW_PASSWORD)).status, 200);
    // A row written the same way that has not expired works: the old one was refused for its age alone.
    const recent = "a-recent-token-" + crypto.randomUUID();
    await store.users.addPasswordReset(
      user.id,
      await sha256Hex(recent),
      new Date(Date.now() + 60_000).toISOString(),
    );
    assert.equal((await confirmReset(url, recent, "the third passphrase")).status, 204);
    assert.equal((await signIn(url, user.email, "the third passphrase")).status, 200);

    const malformed = await requestReset(url, "not an address");
    assertRefused(malformed, 400, "invalid_email", "a malformed address");
    assert.deepEqual(Object.keys(malformed.body.error.fields), ["email"]);
  }));

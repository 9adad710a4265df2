/**
 * The account's security pages over HTTP, as a browser without JavaScript uses them (forms, redirects,
 * cookies): where the account is signed in and logging devices out, changing the password, setting up and
 * turning off two-factor sign-in, the password reset by mail (a real Mailpit and the real server process),
 * and the notice of failed sign-ins shown once.
 */
import assert from "node:assert/strict";
import { dateText, timeAgo } from "../components/SessionList.tsx";
import { totpCode } from "../lib/auth/totp.ts";
import { noticeSentence } from "../lib/web/sign_in_notice.ts";
import { startMailpit } from "./helpers/mailpit.ts";
import { spawnServer } from "./helpers/process.ts";
import { createTestApp, type TestApp } from "./helpers/server.ts";
import { formProblems } from "./helpers/form_html.ts";

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " +
  "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const PASSWORD = "correct horse battery";

async function withWebApp(
  fn: (app: TestApp) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const app = await createTestApp(env, { web: true });
  try {
    await fn(app);
  } finally {
    await app.chat.passwordReset.idle();
    await app.close();
  }
}

/** A request to the app from 10.9.9.9 (pages answer HTML, so not through `TestApp.request`). */
function raw(app: TestApp, path: string, init: RequestInit = {}, ip = "10.9.9.9"): Promise<Response> {
  return Promise.resolve(
    app.chat.app.request(path, { redirect: "manual", ...init }, {
      remoteAddr: { transport: "tcp", hostname: ip, port: 1 },
    }),
  );
}

/** A form post with `cookie`. */
function postForm(
  app: TestApp,
  path: string,
  fields: Record<string, string>,
  cookie?: string,
): Promise<Response> {
  return raw(app, path, {
    method: "POST",
    headers: { ...FORM, ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields),
  });
}

/** A page's HTML, read as `cookie`; fails unless it is a 200. */
async function html(app: TestApp, path: string, cookie: string): Promise<string> {
  const res = await raw(app, path, { headers: { cookie, accept: "text/html" } });
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${text.slice(0, 300)}`);
  return text;
}

interface Account {
  id: string;
  username: string;
  email: string;
}

let counter = 0;

/** Registers an account through the API (no session). */
async function register(app: TestApp, prefix: string): Promise<Account> {
  const username = `${prefix}${++counter}_${crypto.randomUUID().slice(0, 6)}`;
  const email = `${username}@example.com`;
  const res = await app.request("POST", "/api/auth/register", {
    body: { username, email, password: PASSWORD },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, username, email };
}

/** Signs in through the home page's form from a browser `userAgent`: the session cookie to send. */
async function signIn(
  app: TestApp,
  account: Account,
  userAgent: string,
  password = PASSWORD,
): Promise<string> {
  const res = await raw(app, "/", {
    method: "POST",
    headers: { ...FORM, "user-agent": userAgent },
    body: new URLSearchParams({ intent: "login", login: account.username, password }),
  });
  assert.equal(res.status, 303, await res.text());
  return sessionCookieOf(res);
}

/** `chat_session=<token>` from a response's cookies. */
function sessionCookieOf(res: Response): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("chat_session="));
  assert.ok(cookie, "a session cookie");
  return cookie.split(";")[0];
}

const tokenOf = (cookie: string) => cookie.slice("chat_session=".length);

/** `GET /api/users/me` with a session's access token: its status and error code. */
async function whoAmI(app: TestApp, cookie: string): Promise<string> {
  const res = await app.request("GET", "/api/users/me", { token: tokenOf(cookie) });
  return res.status === 200 ? `200 ${res.body.username}` : `${res.status} ${res.body.error.code}`;
}

/** The sessions list as "device [This device]", in page order. */
function devices(page: string): string[] {
  return [...page.matchAll(/<li data-session-id="([^"]+)"[^>]*>.*?<p class="session-device">(.*?)<\/p>/gs)]
    .map((
      m,
    ) => m[2].replace(/<span class="tag tag-current">This device<\/span>/, " [This device]"));
}

/** The session ids in the list, in page order. */
function sessionIds(page: string): string[] {
  return [...page.matchAll(/<li data-session-id="([^"]+)"/g)].map((m) => m[1]);
}

/** The text of the page's status message, or null. */
function statusMessage(page: string): string | null {
  return /<p class="notice status-message" role="status"[^>]*>([^<]*)<\/p>/.exec(page)?.[1] ?? null;
}

/** The value of the hidden input named `name`. */
function hidden(page: string, name: string): string | undefined {
  return new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(page)?.[1];
}

Deno.test("the security page lists where the account is signed in; a device is logged out from it", () =>
  withWebApp(async (app) => {
    const account = await register(app, "dev");
    const laptop = await signIn(app, account, FIREFOX);
    const phone = await signIn(app, account, IPHONE);
    const tablet = await signIn(app, account, "");

    const before = await html(app, "/profile/security", laptop);
    assert.match(before, /<title>Password and security · Chat<\/title>/);
    assert.match(before, /<h2 id="sessions-title">Where you're signed in<\/h2>/);
    assert.deepEqual(devices(before), ["Firefox on Linux [This device]", "Unknown device", "Safari on iOS"]);
    assert.match(before, /<span>IP address 10\.9\.9\.9<\/span><span>Active now<\/span>/);
    assert.match(before, /<span>Last active <time datetime="[^"]+">just now<\/time><\/span>/);
    const today = dateText(new Date().toISOString());
    assert.equal(
      before.match(new RegExp(`Signed in <time datetime="[^"]+">${today}</time>`, "g"))?.length,
      3,
    );
    const buttons = [...before.matchAll(/aria-label="(Log out [^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(buttons, [
      "Log out Unknown device, IP address 10.9.9.9",
      "Log out Safari on iOS, IP address 10.9.9.9",
    ], "no button for this device");
    assert.equal(statusMessage(before), null);

    // "Log out" by the phone: it is ended at once, the rest go on.
    const [, tabletId, phoneId] = sessionIds(before);
    const out = await postForm(
      app,
      "/profile/security",
      { intent: "end-session", session_id: phoneId },
      laptop,
    );
    assert.deepEqual([out.status, out.headers.get("location")], [303, "/profile/security?done=device"]);
    assert.equal(await whoAmI(app, phone), "401 session_revoked");
    assert.equal(await whoAmI(app, laptop), `200 ${account.username}`);
    const after = await html(app, "/profile/security?done=device", laptop);
    assert.equal(statusMessage(after), "That device was signed out.");
    assert.deepEqual(devices(after), ["Firefox on Linux [This device]", "Unknown device"]);

    // The same button again (a second tab): nothing left to end.
    const again = await postForm(
      app,
      "/profile/security",
      { intent: "end-session", session_id: phoneId },
      laptop,
    );
    assert.equal(again.headers.get("location"), "/profile/security?done=device-gone");
    assert.equal(
      statusMessage(await html(app, "/profile/security?done=device-gone", laptop)),
      "That device was already signed out.",
    );

    const bogus = await postForm(
      app,
      "/profile/security",
      { intent: "end-session", session_id: "x" },
      laptop,
    );
    assert.equal(bogus.headers.get("location"), "/profile/security?done=device-gone");

    // Another account cannot end this one's sessions.
    const stranger = await signIn(app, await register(app, "stranger"), FIREFOX);
    await postForm(app, "/profile/security", { intent: "end-session", session_id: tabletId }, stranger);
    assert.equal(await whoAmI(app, tablet), `200 ${account.username}`);

    // "Log out everywhere else", then "Log out everywhere".
    const phone2 = await signIn(app, account, IPHONE);
    const others = await postForm(app, "/profile/security", { intent: "end-others" }, laptop);
    assert.equal(others.headers.get("location"), "/profile/security?done=others&n=2");
    assert.deepEqual([await whoAmI(app, tablet), await whoAmI(app, phone2)], [
      "401 session_revoked",
      "401 session_revoked",
    ]);
    const alone = await html(app, "/profile/security?done=others&n=2", laptop);
    assert.equal(statusMessage(alone), "Signed out of 2 other devices.");
    assert.deepEqual(devices(alone), ["Firefox on Linux [This device]"]);
    assert.doesNotMatch(alone, /Log out everywhere else/, "no other device to log out");

    const everywhere = await postForm(app, "/profile/security", { intent: "end-all" }, laptop);
    assert.deepEqual([everywhere.status, everywhere.headers.get("location")], [303, "/"]);
    assert.match(
      everywhere.headers.get("set-cookie")!,
      /^chat_session=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0/,
    );
    assert.equal(await whoAmI(app, laptop), "401 session_revoked");
    const gone = await raw(app, "/profile/security", { headers: { cookie: laptop, accept: "text/html" } });
    assert.deepEqual([gone.status, gone.headers.get("location")], [302, "/?next=%2Fprofile%2Fsecurity"]);
  }));

Deno.test("changing the password: a wrong current one is shown by its field; the right one signs the other devices out", () =>
  withWebApp(async (app) => {
    const account = await register(app, "pw");
    const laptop = await signIn(app, account, FIREFOX);
    const phone = await signIn(app, account, IPHONE);

    const empty = await postForm(app, "/profile/security", { intent: "password" }, laptop);
    assert.equal(empty.status, 400);
    const emptyPage = await empty.text();
    assert.match(emptyPage, /<title>Error: Password and security · Chat<\/title>/);
    assert.deepEqual(formProblems(emptyPage), {
      summary: ["current-password: Enter your current password", "new-password: Enter a password"],
      byField: { "current-password": "Enter your current password", "new-password": "Enter a password" },
    });
    assert.deepEqual(
      devices(emptyPage),
      ["Firefox on Linux [This device]", "Safari on iOS"],
      "the page is whole",
    );

    const wrong = await postForm(app, "/profile/security", {
      intent: "password",
      current_password: "not my password",
      new_password: "a new long password",
    }, laptop);
    assert.equal(wrong.status, 400);
    const wrongPage = await wrong.text();
    assert.deepEqual(formProblems(wrongPage), {
      summary: ["current-password: That is not your current password"],
      byField: { "current-password": "That is not your current password" },
    });
    assert.match(
      wrongPage,
      /<input id="current-password" name="current_password" type="password"[^>]*aria-invalid="true"/,
    );
    assert.doesNotMatch(
      wrongPage,
      /value="not my password"|value="a new long password"/,
      "no password comes back",
    );
    assert.equal(await whoAmI(app, phone), `200 ${account.username}`, "nothing changed");

    const ok = await postForm(app, "/profile/security", {
      intent: "password",
      current_password: PASSWORD,
      new_password: "a new long password",
    }, laptop);
    assert.deepEqual([ok.status, ok.headers.get("location")], [303, "/profile/security?done=password&n=1"]);
    assert.equal(await whoAmI(app, phone), "401 session_revoked");
    assert.equal(await whoAmI(app, laptop), `200 ${account.username}`);
    const done = await html(app, "/profile/security?done=password&n=1", laptop);
    assert.equal(statusMessage(done), "Your password was changed. 1 other device was signed out.");
    assert.deepEqual(devices(done), ["Firefox on Linux [This device]"]);
    await signIn(app, account, IPHONE, "a new long password");
  }));

Deno.test("two-factor: set up with the app's code and the password, 10 recovery codes once; sign-in asks for a code; turned off", () =>
  withWebApp(async (app) => {
    const account = await register(app, "tf");
    const laptop = await signIn(app, account, FIREFOX);

    const security = await html(app, "/profile/security", laptop);
    assert.match(security, /Two-factor authentication is <strong>off<\/strong>/);
    assert.match(
      security,
      /<a class="button" href="\/profile\/two-factor">Set up two-factor authentication<\/a>/,
    );

    const setup = await html(app, "/profile/two-factor", laptop);
    const secret = hidden(setup, "secret")!;
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const key = /<code class="secret" id="setup-key">([^<]+)<\/code>/.exec(setup)?.[1];
    assert.equal(key?.replaceAll(" ", ""), secret, "the key to type is the secret");
    assert.match(
      setup,
      /<figure class="qr"><div class="qr-image"><svg xmlns="http:\/\/www.w3.org\/2000\/svg" role="img"[^>]*><title>QR code to add this account to your authenticator app<\/title>/,
    );
    assert.equal(
      await app.store.users.byId(account.id).then((u) => u!.totp_secret),
      null,
      "nothing stored yet",
    );

    // A wrong code (one from ten minutes ago) and a wrong password: each by its field; the same secret again.
    const wrong = await postForm(app, "/profile/two-factor", {
      secret,
      code: totpCode(secret, Date.now() - 600_000),
      password: PASSWORD,
    }, laptop);
    assert.equal(wrong.status, 401);
    const wrongPage = await wrong.text();
    const badCode = "That code is not right; check the app's current code";
    assert.deepEqual(formProblems(wrongPage), {
      summary: [`two-factor-code: ${badCode}`],
      byField: { "two-factor-code": badCode },
    });
    assert.equal(hidden(wrongPage, "secret"), secret);
    const badPassword = await postForm(app, "/profile/two-factor", {
      secret,
      code: "",
      password: "not my password",
    }, laptop);
    assert.equal(badPassword.status, 400);
    assert.deepEqual(formProblems(await badPassword.text()), {
      summary: [
        "two-factor-code: Enter the 6-digit code your authenticator app shows",
        "two-factor-password: That is not your password",
      ],
      byField: {
        "two-factor-code": "Enter the 6-digit code your authenticator app shows",
        "two-factor-password": "That is not your password",
      },
    });
    assert.equal(await app.store.users.byId(account.id).then((u) => u!.totp_secret), null);

    const on = await postForm(app, "/profile/two-factor", {
      secret,
      code: totpCode(secret),
      password: PASSWORD,
    }, laptop);
    assert.equal(on.status, 200);
    assert.equal(on.headers.get("cache-control"), "no-store");
    const codesPage = await on.text();
    assert.match(codesPage, /<h1 id="codes-title">Save your recovery codes<\/h1>/);
    assert.match(codesPage, /this is the only time they are shown/);
    const codes = [...codesPage.matchAll(/<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{2})<\/code><\/li>/g)]
      .map((m) => m[1]);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    assert.equal(await app.store.users.byId(account.id).then((u) => u!.totp_secret), secret);

    // The set-up page now leads to the security page, which says two-factor is on.
    const setupAgain = await raw(app, "/profile/two-factor", { headers: { cookie: laptop } });
    assert.deepEqual([setupAgain.status, setupAgain.headers.get("location")], [302, "/profile/security"]);
    const onPage = await html(app, "/profile/security?done=two-factor-on", laptop);
    assert.equal(statusMessage(onPage), "Two-factor authentication is on.");
    assert.match(onPage, /Two-factor authentication is <strong>on<\/strong>/);
    assert.match(onPage, /<p>10 recovery codes are left, for when you cannot use your app\.<\/p>/);

    // Signing in now asks for a code: a recovery code does.
    const password = await postForm(app, "/", {
      intent: "login",
      login: account.username,
      password: PASSWORD,
    });
    assert.equal(password.status, 200);
    const step = await password.text();
    assert.match(step, /<h1 id="two-factor-title">Two-factor sign-in<\/h1>/);
    const second = await postForm(app, "/", {
      intent: "two-factor",
      mfa_token: hidden(step, "mfa_token")!,
      code: codes[0],
    });
    assert.deepEqual([second.status, second.headers.get("location")], [303, "/rooms"]);
    const phone = sessionCookieOf(second);
    assert.match(
      await html(app, "/profile/security", phone),
      /<p>9 recovery codes are left, for when you cannot use your app\.<\/p>/,
    );

    // Turning it off takes the password.
    const offWrong = await postForm(app, "/profile/security", {
      intent: "two-factor-off",
      password: "nope nope",
    }, phone);
    assert.equal(offWrong.status, 400);
    assert.deepEqual(formProblems(await offWrong.text()), {
      summary: ["two-factor-off-password: That is not your password"],
      byField: { "two-factor-off-password": "That is not your password" },
    });
    const off = await postForm(
      app,
      "/profile/security",
      { intent: "two-factor-off", password: PASSWORD },
      phone,
    );
    assert.equal(off.headers.get("location"), "/profile/security?done=two-factor-off");
    const offPage = await html(app, "/profile/security?done=two-factor-off", phone);
    assert.equal(statusMessage(offPage), "Two-factor authentication is off.");
    assert.match(offPage, /Two-factor authentication is <strong>off<\/strong>/);
    const plain = await postForm(app, "/", { intent: "login", login: account.username, password: PASSWORD });
    assert.equal(plain.status, 303, "no code asked any more");
  }));

Deno.test("the sign-in notice: after 2 failed sign-ins and a good one the next page says so, once", () =>
  withWebApp(async (app) => {
    const account = await register(app, "nt");
    for (let i = 0; i < 2; i++) {
      const failed = await postForm(app, "/", {
        intent: "login",
        login: account.username,
        password: "wrong one!",
      });
      assert.equal(failed.status, 401);
    }
    const good = await raw(app, "/", {
      method: "POST",
      headers: FORM,
      body: new URLSearchParams({ intent: "login", login: account.username, password: PASSWORD }),
    });
    assert.equal(good.status, 303);
    const notice = good.headers.getSetCookie().find((c) => c.startsWith("chat_notice="))!;
    assert.equal(notice, "chat_notice=2.0; Path=/; SameSite=Lax; Max-Age=300");
    const session = sessionCookieOf(good);

    const first = await raw(app, "/rooms", {
      headers: { cookie: `${session}; chat_notice=2.0`, accept: "text/html" },
    });
    assert.equal(first.status, 200);
    const firstPage = await first.text();
    assert.match(
      firstPage,
      /<main id="main"><div class="banner sign-in-notice" role="status"><p>2 failed sign-in attempts since you last signed in\. If this wasn't you, <a href="\/profile\/security#password-title">change your password<\/a>\.<\/p><\/div>/,
    );
    assert.deepEqual(first.headers.getSetCookie().filter((c) => c.startsWith("chat_notice=")), [
      "chat_notice=; Path=/; SameSite=Lax; Max-Age=0",
    ]);
    // The browser dropped the cookie: the next page has no notice, and nothing to clear.
    const next = await raw(app, "/rooms", { headers: { cookie: session, accept: "text/html" } });
    assert.doesNotMatch(await next.text(), /sign-in-notice/);
    assert.deepEqual(next.headers.getSetCookie().filter((c) => c.startsWith("chat_notice=")), []);

    // With a lock, as the brief words it; a notice is for a signed-in page only.
    const locked = await html(app, "/profile", `${session}; chat_notice=3.1`);
    assert.match(
      locked,
      /<p>3 failed sign-in attempts since you last signed in \(the account was locked once\)\. If this wasn't you, /,
    );
    const guest = await raw(app, "/", { headers: { cookie: "chat_notice=3.1", accept: "text/html" } });
    assert.doesNotMatch(await guest.text(), /sign-in-notice/);
    assert.deepEqual(guest.headers.getSetCookie(), [], "kept until someone signed in sees it");
    // A redirect (here a page that sends elsewhere) keeps it for the page after.
    const redirected = await raw(app, "/", {
      headers: { cookie: `${session}; chat_notice=3.1`, accept: "text/html" },
    });
    assert.equal(redirected.status, 302);
    assert.deepEqual(redirected.headers.getSetCookie(), []);
  }));

Deno.test("the notice's words: attempts, and how many times the account was locked", () => {
  assert.equal(noticeSentence({ failed: 1, locks: 0 }), "1 failed sign-in attempt since you last signed in.");
  assert.equal(
    noticeSentence({ failed: 3, locks: 1 }),
    "3 failed sign-in attempts since you last signed in (the account was locked once).",
  );
  assert.equal(
    noticeSentence({ failed: 12, locks: 2 }),
    "12 failed sign-in attempts since you last signed in (the account was locked twice).",
  );
  assert.equal(
    noticeSentence({ failed: 20, locks: 4 }),
    "20 failed sign-in attempts since you last signed in (the account was locked 4 times).",
  );
});

Deno.test("last active times read as people say them", () => {
  const now = Date.parse("2026-03-10T12:00:00Z");
  const ago = (ms: number) => timeAgo(new Date(now - ms).toISOString(), now);
  assert.deepEqual(
    [
      ago(-5_000),
      ago(30_000),
      ago(60_000),
      ago(5 * 60_000),
      ago(3 * 3_600_000),
      ago(30 * 3_600_000),
      ago(4 * 86_400_000),
    ],
    ["just now", "just now", "1 minute ago", "5 minutes ago", "3 hours ago", "yesterday", "4 days ago"],
  );
  assert.equal(ago(9 * 86_400_000), "Mar 1, 2026");
});

Deno.test("forgot password: one attempt from the address's sign-in budget; an empty address is shown by its field", () =>
  withWebApp(async (app) => {
    const empty = await postForm(app, "/forgot-password", { email: " " });
    assert.equal(empty.status, 400);
    assert.deepEqual(formProblems(await empty.text()), {
      summary: ["reset-email: Enter the email address of your account"],
      byField: { "reset-email": "Enter the email address of your account" },
    });
    const sent = await postForm(app, "/forgot-password", { email: "nobody@example.com" });
    assert.equal(sent.headers.get("location"), "/forgot-password?sent=1");
    const refused = await postForm(app, "/forgot-password", { email: "nobody@example.com" });
    assert.equal(refused.status, 429);
    assert.match(refused.headers.get("retry-after")!, /^\d+$/);
    assert.match(await refused.text(), /<li>Too many attempts; try again in \d+ s<\/li>/);
  }, { AUTH_RATE_LIMIT_BURST: "2", AUTH_RATE_LIMIT_PER_MIN: "1" }));

Deno.test("password reset by mail (real server and Mailpit): the link works once, signs out everywhere; unknown addresses get the same page", async () => {
  const mailpit = await startMailpit();
  const dir = await Deno.makeTempDir({ prefix: "chat-reset-" });
  const server = await spawnServer({
    DATABASE_URL: `sqlite:${dir}/chat.db`,
    SMTP_URL: mailpit.smtpUrl,
    MAIL_FROM: "Chat <chat@example.com>",
  });
  const base = server.url;
  const get = async (path: string, cookie?: string) => {
    const res = await fetch(base + path, { redirect: "manual", headers: cookie ? { cookie } : {} });
    return { status: res.status, text: await res.text(), location: res.headers.get("location") };
  };
  const post = async (path: string, fields: Record<string, string>) => {
    const res = await fetch(base + path, {
      method: "POST",
      redirect: "manual",
      headers: FORM,
      body: new URLSearchParams(fields),
    });
    return { status: res.status, text: await res.text(), location: res.headers.get("location") };
  };
  try {
    const email = `reset_${crypto.randomUUID().slice(0, 8)}@example.com`;
    const username = email.split("@")[0];
    const reg = await fetch(base + "/api/auth/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, email, password: PASSWORD }),
    });
    assert.equal(reg.status, 201, await reg.text());
    const oldSession = (await fetch(base + "/", {
      method: "POST",
      redirect: "manual",
      headers: FORM,
      body: new URLSearchParams({ intent: "login", login: email, password: PASSWORD }),
    })).headers.getSetCookie().find((c) => c.startsWith("chat_session="))!.split(";")[0];

    const form = await get("/forgot-password");
    assert.equal(form.status, 200);
    assert.match(form.text, /<h1 id="forgot-title">Reset your password<\/h1>/);
    assert.match(form.text, /<label for="reset-email">Email<\/label>/);

    // An unknown address and a known one: the same redirect, the same page.
    const SENT = "If an account has that address, we sent a link. It works for 30 minutes.";
    for (const address of ["nobody@example.com", email]) {
      const asked = await post("/forgot-password", { email: address });
      assert.deepEqual([asked.status, asked.location], [303, "/forgot-password?sent=1"]);
    }
    const sentPage = await get("/forgot-password?sent=1");
    assert.match(sentPage.text, /<h1 id="forgot-title">Check your email<\/h1>/);
    assert.match(sentPage.text, new RegExp(`<p class="notice status-message" role="status">${SENT}</p>`));

    const mail = await mailpit.waitForMessage(email);
    assert.equal(mail.subject, "Reset your chat password");
    assert.deepEqual(
      (await mailpit.messages()).map((m) => m.to.map((a) => a.address).join()),
      [email],
      "no mail to nobody",
    );
    const link = /^(http:\/\/\S+)$/m.exec(mail.text)?.[1] ?? "";
    assert.match(link, new RegExp(`^${base}/reset-password\\?token=[\\w-]{43}$`));
    const token = new URL(link).searchParams.get("token")!;

    const resetPage = await get(link.slice(base.length));
    assert.equal(resetPage.status, 200);
    assert.match(resetPage.text, /<h1 id="reset-title">Choose a new password<\/h1>/);
    assert.equal(hidden(resetPage.text, "token"), token);

    const short = await post("/reset-password", { token, new_password: "short" });
    assert.equal(short.status, 400);
    assert.deepEqual(formProblems(short.text), {
      summary: ["reset-new-password: Password must be at least 8 characters"],
      byField: { "reset-new-password": "Password must be at least 8 characters" },
    });
    assert.equal(hidden(short.text, "token"), token, "the link still works after a refused password");

    const done = await post("/reset-password", { token, new_password: "brand new password" });
    assert.deepEqual([done.status, done.location], [303, "/?reset=done"]);
    const home = await get("/?reset=done");
    assert.match(
      home.text,
      /<p class="notice status-message" role="status">Your password was changed and you were signed out everywhere\. Sign in with the new password\.<\/p>/,
    );
    const oldPage = await get("/profile/security", oldSession);
    assert.deepEqual([oldPage.status, oldPage.location], [302, "/?next=%2Fprofile%2Fsecurity"], "signed out");
    assert.equal((await post("/", { intent: "login", login: email, password: PASSWORD })).status, 401);
    assert.equal(
      (await post("/", { intent: "login", login: email, password: "brand new password" })).status,
      303,
    );

    // The link a second time.
    const reused = await post("/reset-password", { token, new_password: "another password" });
    assert.equal(reused.status, 400);
    assert.match(reused.text, /<h1 id="reset-title">This link does not work<\/h1>/);
    assert.match(reused.text, /<li>This reset link is not valid any more; ask for a new one<\/li>/);
    assert.match(reused.text, /<a href="\/forgot-password">Ask for a new link<\/a>/);
    const incomplete = await get("/reset-password");
    assert.equal(incomplete.status, 400);
    assert.match(incomplete.text, /<li>The reset link is incomplete; open it again from the mail<\/li>/);
  } finally {
    await server.stop();
    await mailpit.close();
    await Deno.remove(dir, { recursive: true });
  }
});

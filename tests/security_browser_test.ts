/**
 * The account's security pages as people use them, in Chromium (playwright-core) against the real server
 * process: logging another browser out from "Where you're signed in", setting up two-factor sign-in from the
 * page's setup key and signing in with a code, the notice after failed sign-ins, and every new page in light
 * and dark through axe. Screenshots go to test-output/security-*.png.
 */
import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { totpCode } from "../lib/auth/totp.ts";
import { checkA11y } from "./helpers/axe.ts";
import { connected, shot, until, withBrowser } from "./helpers/browser.ts";
import { spawnServer } from "./helpers/process.ts";
import { call } from "./helpers/server.ts";

const PASSWORD = "correct horse battery";
/** The second browser says it is Firefox on Windows, so the list tells the two apart. */
const FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";

/** An account made through the API, signed in nowhere. */
async function account(base: string, prefix: string): Promise<{ username: string; email: string }> {
  const username = `${prefix}_${crypto.randomUUID().slice(0, 6)}`;
  const email = `${username}@example.com`;
  const res = await call(base, "POST", "/api/auth/register", {
    body: { username, email, password: PASSWORD },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { username, email };
}

/** Fills in the home page's login form and submits it; resolves once the next page has loaded. */
async function logIn(page: Page, base: string, login: string, password = PASSWORD): Promise<void> {
  await page.goto(base + "/");
  await page.fill("#login-name", login);
  await page.fill("#login-password", password);
  await Promise.all([page.waitForNavigation(), page.click("#login-form button[type=submit]")]);
}

/** The sessions list as "device [This device]", in page order. */
function devices(page: Page): Promise<string[]> {
  return page.$$eval(".session-list li", (items) =>
    items.map((li) => {
      const name = li.querySelector(".session-device")?.firstChild?.textContent ?? "";
      return li.querySelector(".tag-current") ? `${name} [This device]` : name;
    }));
}

/** The page's status message, or null. */
function status(page: Page): Promise<string | null> {
  return page.locator("[role=status]").first().textContent();
}

/** Records the close code of every socket the context's pages open, as the server sent it. */
async function watchSocketCloses(context: BrowserContext): Promise<number[]> {
  const codes: number[] = [];
  await context.routeWebSocket(/\/ws(\?[^/]*)?$/, (ws) => {
    const server = ws.connectToServer();
    server.onClose((code, reason) => {
      codes.push(code ?? 0);
      ws.close({ code, reason }).catch(() => {});
    });
  });
  return codes;
}

async function newPage(browser: Browser, options: Parameters<Browser["newContext"]>[0] = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...options });
  return { context, page: await context.newPage() };
}

Deno.test("where you're signed in: a second browser is listed, logged out from the list, and its socket and pages end", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const { username } = await account(base, "devices");
      const laptop = await newPage(browser);
      await logIn(laptop.page, base, username);
      assert.equal(laptop.page.url(), `${base}/rooms`);

      const other = await newPage(browser, { userAgent: FIREFOX_WINDOWS });
      const closes = await watchSocketCloses(other.context);
      await logIn(other.page, base, username);
      // The other browser makes a room and stays in it, on the live socket.
      await other.page.fill("#room-name", `devices ${crypto.randomUUID().slice(0, 6)}`);
      await Promise.all([
        other.page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        other.page.click("#create-room-form button[type=submit]"),
      ]);
      await connected(other.page);
      const roomPath = new URL(other.page.url()).pathname;

      // The profile links to the security page.
      await laptop.page.click('nav[aria-label="Main"] >> text=Profile');
      await laptop.page.click('nav[aria-label="Account settings"] >> text=Password and security');
      await laptop.page.waitForURL(`${base}/profile/security`);
      assert.equal(await laptop.page.textContent("h1"), "Password and security");
      assert.deepEqual(await devices(laptop.page), ["Chrome on Linux [This device]", "Firefox on Windows"]);
      assert.equal(
        await laptop.page.textContent(".session-list li:not([aria-current]) .session-details"),
        "IP address 127.0.0.1Last active just nowSigned in " +
          new Intl.DateTimeFormat("en", { dateStyle: "medium", timeZone: "UTC" }).format(new Date()),
      );
      await shot(laptop.page, "security-sessions");
      await checkA11y(laptop.page, "security-sessions");

      await Promise.all([
        laptop.page.waitForURL(`${base}/profile/security?done=device`),
        laptop.page.getByRole("button", { name: "Log out Firefox on Windows, IP address 127.0.0.1" }).click(),
      ]);
      assert.equal(await status(laptop.page), "That device was signed out.");
      assert.deepEqual(await devices(laptop.page), ["Chrome on Linux [This device]"]);
      assert.equal(
        await laptop.page.evaluate(() => document.activeElement?.getAttribute("role")),
        "status",
        "the message has the focus",
      );
      await shot(laptop.page, "security-device-logged-out");

      // The other browser's socket is closed as "session ended" (4003): its page says it was signed out at
      // once, and its next page is the home page.
      await until(
        () => Promise.resolve(closes.includes(4003)),
        "the other browser's socket to close with 4003",
      );
      await other.page.waitForSelector("#signed-out-banner", { timeout: 5_000 });
      assert.equal(
        (await other.page.textContent("#signed-out-banner"))?.replace(/\s+/g, " ").trim(),
        "You were signed out on this device. Sign in again",
      );
      await shot(other.page, "security-other-browser-signed-out");
      await other.page.reload();
      assert.equal(other.page.url(), `${base}/?next=${encodeURIComponent(roomPath)}`);
      assert.equal(await other.page.textContent("h1"), "Team chat on your own server");
      // This browser goes on.
      await laptop.page.goto(base + "/rooms");
      assert.equal(laptop.page.url(), `${base}/rooms`);

      await other.context.close();
      await laptop.context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("two-factor set up as a person does it (the setup key typed into an app), then signing in with a code", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const { username } = await account(base, "twofa");
      const { context, page } = await newPage(browser);
      await logIn(page, base, username);
      await page.goto(base + "/profile/security");
      await page.click("text=Set up two-factor authentication");
      await page.waitForURL(`${base}/profile/two-factor`);
      assert.equal(
        await page.getAttribute(".qr svg", "role"),
        "img",
        "the QR code is an image named by its title",
      );
      const secret = (await page.textContent("#setup-key"))!.replaceAll(" ", "");
      assert.match(secret, /^[A-Z2-7]{32}$/);
      await shot(page, "security-two-factor-setup");

      // A typo first: the code is refused by its field, the same key stays.
      await page.fill("#two-factor-code", "12345");
      await page.fill("#two-factor-password", PASSWORD);
      await page.click("#two-factor-form button[type=submit]");
      await page.waitForSelector("#two-factor-code[aria-invalid=true]");
      assert.equal(
        await page.textContent("#setup-errors li"),
        "That code is not right; check the app's current code",
      );
      assert.equal((await page.textContent("#setup-key"))!.replaceAll(" ", ""), secret);
      assert.equal(await page.evaluate(() => document.activeElement?.id), "setup-errors");
      await shot(page, "security-two-factor-wrong-code");

      await page.fill("#two-factor-code", totpCode(secret));
      await page.fill("#two-factor-password", PASSWORD);
      await page.click("#two-factor-form button[type=submit]");
      await page.waitForSelector("#codes-title");
      const codes = await page.$$eval(".recovery-codes code", (els) => els.map((e) => e.textContent ?? ""));
      assert.equal(codes.length, 10);
      await shot(page, "security-recovery-codes");
      await page.click("text=I have stored my recovery codes");
      await page.waitForURL(`${base}/profile/security?done=two-factor-on`);
      assert.equal(await status(page), "Two-factor authentication is on.");
      assert.match(
        (await page.textContent("#two-factor-title + p + p"))!,
        /^10 recovery codes are left/,
      );
      await shot(page, "security-two-factor-on");

      // Log out, then in: the password, then the app's code.
      await Promise.all([page.waitForURL(`${base}/`), page.click('nav[aria-label="Main"] >> text=Log out')]);
      await logIn(page, base, username);
      assert.equal(await page.textContent("h1"), "Two-factor sign-in");
      await shot(page, "security-two-factor-sign-in");
      await page.fill("#two-factor-code", totpCode(secret));
      await Promise.all([
        page.waitForURL(`${base}/rooms`),
        page.click("#two-factor-form button[type=submit]"),
      ]);
      assert.equal(await page.textContent("h1"), "Browse rooms");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("after failed sign-ins the next page says so once; every security page passes axe in light and dark", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const { username, email } = await account(base, "axe");
      for (const colorScheme of ["light", "dark"] as const) {
        const { context, page } = await newPage(browser, { colorScheme });

        // Someone tries two passwords; then the owner signs in.
        for (const wrong of ["guess one", "guess two"]) {
          await logIn(page, base, username, wrong);
          await page.waitForSelector("#login-password[aria-invalid=true]");
        }
        await logIn(page, base, username);
        assert.equal(page.url(), `${base}/rooms`);
        assert.equal(
          await page.textContent(".sign-in-notice"),
          "2 failed sign-in attempts since you last signed in. If this wasn't you, change your password.",
        );
        await shot(page, `security-notice-${colorScheme}`);
        await checkA11y(page, `security-notice-${colorScheme}`);
        await page.click(".sign-in-notice a");
        await page.waitForURL(`${base}/profile/security#password-title`);
        assert.equal(await page.locator(".sign-in-notice").count(), 0, "shown once");

        // The security page with a refused password change.
        await page.fill("#current-password", "not it");
        await page.fill("#new-password", "short");
        await page.click("#password-form button[type=submit]");
        await page.waitForSelector("#password-errors");
        await shot(page, `security-password-errors-${colorScheme}`);
        await checkA11y(page, `security-password-errors-${colorScheme}`);

        for (
          const [name, path] of [
            ["profile", "/profile"],
            ["security", "/profile/security"],
            ["two-factor-setup", "/profile/two-factor"],
          ]
        ) {
          await page.goto(base + path);
          await checkA11y(page, `security-${name}-${colorScheme}`);
        }
        await shot(page, `security-two-factor-setup-${colorScheme}`);
        await context.close();

        // Signed out: asking for a reset link, and a link that does not work.
        const guest = await newPage(browser, { colorScheme });
        await guest.page.goto(base + "/");
        await guest.page.click("text=Forgot your password?");
        await guest.page.waitForURL(`${base}/forgot-password`);
        await checkA11y(guest.page, `security-forgot-${colorScheme}`);
        await guest.page.click("#forgot-form button[type=submit]");
        await guest.page.waitForSelector("#reset-email[aria-invalid=true]");
        await checkA11y(guest.page, `security-forgot-errors-${colorScheme}`);
        await guest.page.fill("#reset-email", email);
        await guest.page.click("#forgot-form button[type=submit]");
        await guest.page.waitForURL(`${base}/forgot-password?sent=1`);
        assert.equal(
          await status(guest.page),
          "If an account has that address, we sent a link. It works for 30 minutes.",
        );
        await shot(guest.page, `security-forgot-sent-${colorScheme}`);
        await checkA11y(guest.page, `security-forgot-sent-${colorScheme}`);
        await guest.page.goto(base + "/reset-password?token=not-a-real-token");
        await checkA11y(guest.page, `security-reset-${colorScheme}`);
        await shot(guest.page, `security-reset-${colorScheme}`);
        await guest.page.fill("#reset-new-password", "a long new password");
        await guest.page.click("#reset-form button[type=submit]");
        await guest.page.waitForSelector("text=This link does not work");
        await shot(guest.page, `security-reset-invalid-${colorScheme}`);
        await checkA11y(guest.page, `security-reset-invalid-${colorScheme}`);
        await guest.context.close();
      }
    } finally {
      await server.stop();
    }
  }));

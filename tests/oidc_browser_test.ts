/**
 * "Sign in with …" in Debian's Chromium: the home page's button, the real provider's login form, and back in
 * the app signed in; a cancelled sign-in comes back to the home page with its message. Screenshots and axe
 * results go to test-output/.
 */
import assert from "node:assert/strict";
import { checkA11y } from "./helpers/axe.ts";
import { connected, shot, withBrowser } from "./helpers/browser.ts";
import { SSO_NAME, withSsoServer } from "./helpers/sso_server.ts";

const ACCOUNTS = [{
  sub: "ada-1",
  email: "ada@example.com",
  email_verified: true,
  name: "Ada Lovelace",
  preferred_username: "ada",
  password: "analytical engine",
}];

Deno.test("a person signs in with the provider from the home page and lands in the app", () =>
  withBrowser((browser) =>
    withSsoServer({ accounts: ACCOUNTS }, async ({ base, provider, app }) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(base + "/");
      const button = page.getByRole("link", { name: `Sign in with ${SSO_NAME}` });
      assert.equal(await button.isVisible(), true);
      await shot(page, "oidc-home");
      await checkA11y(page, "oidc-home");

      await button.click();
      await page.waitForURL((url) => url.origin === provider.issuer);
      await page.getByLabel("Login").fill("ada");
      await page.getByLabel("Password").fill("analytical engine");
      await Promise.all([
        page.waitForURL(`${base}/rooms`),
        page.getByRole("button", { name: "Sign in" }).click(),
      ]);
      assert.equal(await page.title(), "Browse rooms · Chat");
      assert.equal(await page.getByRole("navigation", { name: "Main" }).isVisible(), true);
      await shot(page, "oidc-signed-in");
      // Signed in for the live app too: a new room opens with its socket connected.
      await page.fill("#room-name", "Analytics");
      await Promise.all([
        page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        page.click("#create-room-form button[type=submit]"),
      ]);
      await connected(page);
      await shot(page, "oidc-room");

      const user = await app.store.users.byEmail("ada@example.com");
      assert.deepEqual([user?.username, user?.display_name, user?.password_hash], [
        "ada",
        "Ada Lovelace",
        "",
      ]);
      // Cookies are per host, not port: the provider's own share 127.0.0.1.
      const cookies = (await context.cookies()).map((cookie) => cookie.name).filter((name) =>
        name.startsWith("chat")
      );
      assert.deepEqual(
        cookies.sort(),
        ["chat_refresh", "chat_session"],
        "the pending sign-in cookie is gone",
      );
      await context.close();
    })
  ));

Deno.test("a sign-in cancelled at the provider comes back to the home page with its message", () =>
  withBrowser((browser) =>
    withSsoServer({ accounts: ACCOUNTS }, async ({ base, provider }) => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(base + "/");
      await page.getByRole("link", { name: `Sign in with ${SSO_NAME}` }).click();
      await page.waitForURL((url) => url.origin === provider.issuer);
      await Promise.all([
        page.waitForURL(`${base}/?sso_error=cancelled`),
        page.getByRole("button", { name: "Cancel" }).click(),
      ]);
      const alert = page.locator("#sso-errors");
      assert.equal(
        (await alert.innerText()).replace(/\s+/g, " ").trim(),
        `There is a problem You cancelled signing in with ${SSO_NAME}. Try again, or log in with your password.`,
      );
      assert.equal(
        await page.evaluate(() => document.activeElement?.id),
        "sso-errors",
        "the message has the focus",
      );
      assert.equal(await page.title(), "Error: Welcome · Chat");
      await shot(page, "oidc-cancelled");
      await checkA11y(page, "oidc-cancelled");
      await context.close();
    })
  ));

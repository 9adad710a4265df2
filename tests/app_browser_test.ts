/**
 * The chat app as people use it, in Chromium (playwright-core) against the real server process: the sidebar's
 * live unread counts and the tab title, switching rooms without a page load on one socket, readable messages
 * (groups, day separators, right-to-left text, "new messages"), managing a private room from its panel, the
 * composer's limit and a refused message coming back for editing, sending without JavaScript, the connection
 * banner, and the drawers at phone width. Screenshots go to test-output/app-*.png.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { BrowserContext, Page } from "playwright-core";
import { connected, shot, socketSwitch, until, withBrowser } from "./helpers/browser.ts";
import { spawnServer } from "./helpers/process.ts";
import { call, createRoom, newUser, type TestUser } from "./helpers/server.ts";

type Target = string;

/** A page of `user`, signed in by their session cookie, open at `path`. */
async function openAs(context: BrowserContext, base: string, user: TestUser, path: string): Promise<Page> {
  await context.addCookies([{ name: "chat_session", value: user.token, url: base }]);
  const page = await context.newPage();
  await page.goto(base + path);
  return page;
}

async function post(base: Target, user: TestUser, roomId: string, content: string): Promise<void> {
  const res = await call(base, "POST", `/api/rooms/${roomId}/messages`, {
    token: user.token,
    body: { content },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

/** The sidebar's rows as `name: unread` (0 when no badge). */
function sidebar(page: Page): Promise<string[]> {
  return page.$$eval("#sidebar a[data-room-id]", (links) =>
    links.map((a) => {
      const name = a.querySelector(".room-name")?.textContent ?? "";
      const badge = a.querySelector(".badge")?.getAttribute("data-unread") ?? "0";
      return `${name}: ${badge}`;
    }));
}

/**
 * Watches for page loads and new WebSockets from now on: a mark on `window` is gone after any page load, and
 * every socket the page opens is counted.
 */
async function watchPage(page: Page) {
  const counts = { sockets: 0 };
  page.on("websocket", () => counts.sockets++);
  await page.evaluate(() => Object.assign(window, { __sameDocument: true }));
  return {
    sockets: () => counts.sockets,
    sameDocument: () =>
      page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument === true),
  };
}

Deno.test("the sidebar counts unread messages live, in the tab title too; rooms switch in place on one socket", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const [alice, bob, carol] = [
        await newUser(base, "alice"),
        await newUser(base, "bob"),
        await newUser(base, "carol"),
      ];
      const general = await createRoom(base, alice, { name: "general" });
      const random = await createRoom(base, alice, { name: "random" });
      for (const u of [bob, carol]) {
        for (const room of [general, random]) {
          await call(base, "POST", `/api/rooms/${room.id}/join`, { token: u.token });
        }
      }
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await openAs(context, base, alice, `/rooms/${general.id}`);
      await connected(page);
      const watch = await watchPage(page);
      await until(
        async () => (await sidebar(page)).includes("random: 2"),
        "random's two join notices as unread",
      );

      // Bob starts a conversation with 3 messages; carol writes in #random: alice's page counts them live.
      const dm = await call(base, "POST", "/api/dms", { token: bob.token, body: { user_id: alice.id } });
      for (const text of ["hi alice", "are you there?", "ping"]) await post(base, bob, dm.body.id, text);
      await post(base, carol, random.id, "lunch?");
      await until(
        async () => (await sidebar(page)).join() === `general: 0,random: 3,${bob.username}: 3`,
        "the live badges",
      );
      await until(
        async () => (await page.title()) === "(6) # general · Chat",
        "the unread total in the title",
      );
      assert.match(
        await page.$eval('link[rel="icon"]', (l) => (l as HTMLLinkElement).href),
        /^data:image\/svg\+xml,.*%3E6%3C/,
        "the favicon carries the count",
      );
      await shot(page, "app-sidebar-badges");

      // Switching: no page load, the same socket, the URL follows; the badge and title clear.
      await page.click(`#sidebar a[data-room-id="${dm.body.id}"]`);
      await page.waitForURL(`${base}/rooms/${dm.body.id}`);
      await page.waitForSelector("#messages li[data-seq] >> text=ping");
      assert.equal(await page.textContent(".room-title h1"), bob.username);
      assert.equal(
        await page.getAttribute(`#sidebar a[data-room-id="${dm.body.id}"]`, "aria-current"),
        "page",
      );
      await until(
        async () => (await page.title()) === `(3) ${bob.username} · Chat`,
        "the title without the DM",
      );
      await page.click(`#sidebar a[data-room-id="${random.id}"]`);
      await page.waitForSelector("#messages li[data-seq] >> text=lunch?");
      await until(async () => (await page.title()) === "# random · Chat", "nothing unread").catch(async (e) => {
        throw new Error(`${e.message}: ${await page.title()} ${await sidebar(page)}`);
      });
      assert.deepEqual(await sidebar(page), ["general: 0", "random: 0", `${bob.username}: 0`]);
      // The unread line sits before the first event the visit had not seen (the two join notices, then lunch).
      assert.deepEqual(
        await page.$$eval("#messages > li", (items) => items.map((li) => li.id || li.className)),
        ["room-start", "day-separator", "unread-line", "msg is-system", "msg is-system", "msg is-text"],
      );
      // Back goes to the conversation again, still without a page load.
      await page.goBack();
      await page.waitForURL(`${base}/rooms/${dm.body.id}`);
      await page.waitForSelector("#messages li[data-seq] >> text=hi alice");
      assert.equal(await watch.sameDocument(), true, "no page load");
      assert.equal(watch.sockets(), 0, "no new socket");
      await shot(page, "app-switched");

      // A direct load of the URL renders on the server.
      const direct = await openAs(context, base, alice, `/rooms/${random.id}`);
      assert.equal(await direct.textContent(".room-title h1"), "# random");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

/**
 * The web app's sign-in in Chromium (playwright-core) against the real server process with 5 s access tokens:
 * a page renews its token before it expires and hands it to its socket, so it stays live for many lifetimes
 * without a reconnect or a banner; two tabs of one browser renew the shared cookies in turn (a refresh token
 * presented twice would end the session); and a session ended from another device shows the page a
 * signed-out notice at once. Screenshots go to test-output/session-*.png.
 */
import assert from "node:assert/strict";
import type { BrowserContext, Page, WebSocket } from "playwright-core";
import { checkA11y } from "./helpers/axe.ts";
import { connected, joinFromList, shot, signUp, until, withBrowser } from "./helpers/browser.ts";
import { spawnServer } from "./helpers/process.ts";
import { call, createRoom, newUser, type TestUser } from "./helpers/server.ts";

/** Access tokens live 5 s (the least the server takes): a page must renew one every few seconds. */
const TTL_S = 5;
/** Longer than three token lifetimes. */
const THREE_LIFETIMES_MS = 3 * TTL_S * 1000 + 1_500;

/** A fresh access token for an API user (theirs from sign-up has long expired). */
async function tokenOf(base: string, user: TestUser): Promise<string> {
  const res = await call(base, "POST", "/api/auth/login", {
    body: { login: user.email, password: "correct horse battery" },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.token;
}

async function post(base: string, user: TestUser, roomId: string, content: string): Promise<void> {
  const res = await call(base, "POST", `/api/rooms/${roomId}/messages`, {
    token: await tokenOf(base, user),
    body: { content },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
}

/** What one socket of a page sent and received about the sign-in. */
interface SocketSeen {
  refreshFrames: number;
  refreshedFrames: number;
}

/**
 * What a page does about its sign-in, from before its first load: the statuses of its `POST
 * /api/auth/refresh` answers and its sockets with their `refresh` frames and `refreshed` answers.
 */
function watchNetwork(page: Page) {
  const seen = { refreshes: [] as number[], sockets: [] as SocketSeen[] };
  page.on("response", (res) => {
    if (res.request().method() === "POST" && new URL(res.url()).pathname === "/api/auth/refresh") {
      seen.refreshes.push(res.status());
    }
  });
  page.on("websocket", (ws: WebSocket) => {
    const socket = { refreshFrames: 0, refreshedFrames: 0 };
    seen.sockets.push(socket);
    ws.on("framesent", ({ payload }) => {
      if (String(payload).startsWith('{"type":"refresh"')) socket.refreshFrames++;
    });
    ws.on("framereceived", ({ payload }) => {
      if (String(payload).startsWith('{"type":"refreshed"')) socket.refreshedFrames++;
    });
  });
  return seen;
}

/**
 * From now on, in the loaded page: every connection status it shows, in order, and every banner that
 * appears. Also marks what the network watch had seen so far, to count only what comes after.
 */
async function watchPage(page: Page, network: ReturnType<typeof watchNetwork>) {
  const mark = { refreshes: network.refreshes.length, sockets: network.sockets.length };
  await page.evaluate(() => {
    const log = { statuses: [] as string[], banners: [] as string[] };
    Object.assign(window, { __session: log });
    const look = () => {
      const status = document.querySelector("#connection-status")?.getAttribute("data-status") ?? "none";
      if (log.statuses.at(-1) !== status) log.statuses.push(status);
      for (const banner of document.querySelectorAll(".banner")) {
        if (!log.banners.includes(banner.id)) log.banners.push(banner.id);
      }
    };
    look();
    new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  return {
    /** Renewal answers since the mark. */
    refreshes: () => network.refreshes.slice(mark.refreshes),
    /** Sockets opened since the mark. */
    newSockets: () => network.sockets.length - mark.sockets,
    /** The socket open at the mark. */
    socket: network.sockets[mark.sockets - 1],
    /** The statuses the page showed, in order, and the banners it showed. */
    shown: () =>
      page.evaluate(() =>
        (window as unknown as { __session: { statuses: string[]; banners: string[] } }).__session
      ),
  };
}

/**
 * Signs `name` up in a new page (the form sets both cookies) and opens `room` in it, live; the network is
 * watched from the page's first load.
 */
async function signedIn(context: BrowserContext, base: string, name: string, room: string) {
  let network: ReturnType<typeof watchNetwork> | undefined;
  context.once("page", (page) => network = watchNetwork(page));
  const page = await signUp(context, base, name);
  await joinFromList(page, room);
  return { page, network: network! };
}

/** The page a `next` finally names, through `/?next=` wrappings. */
function innermostNext(url: string): string | null {
  let next = new URL(url).searchParams.get("next");
  while (next?.startsWith("/?")) next = new URL(next, url).searchParams.get("next");
  return next;
}

Deno.test("a signed-in page renews its 5 s token on time: live for three lifetimes on one socket, no banner", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({
      DATABASE_URL: `sqlite:${dir}/chat.db`,
      ACCESS_TOKEN_TTL_SECONDS: "5",
    });
    try {
      const base = server.url;
      const bob = await newUser(base, "bob");
      const room = await createRoom(base, bob, { name: "general" });
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const { page, network } = await signedIn(context, base, `alice${Date.now() % 100_000}`, "general");
      const watch = await watchPage(page, network);

      await page.waitForTimeout(THREE_LIFETIMES_MS);
      await post(base, bob, room.id, "still there?");
      await page.waitForSelector("#messages li[data-seq] >> text=still there?", { timeout: 5_000 });

      const refreshes = watch.refreshes();
      assert.ok(refreshes.length >= 3, `renewed ${refreshes.length} times`);
      assert.deepEqual(refreshes.filter((status) => status !== 200), [], "every renewal answered 200");
      // Each new token went to the socket, which took it (the last answer may still be on its way).
      await until(
        () => Promise.resolve(watch.socket.refreshedFrames === watch.refreshes().length),
        "a refreshed frame for each renewal",
      );
      assert.equal(watch.socket.refreshFrames, watch.refreshes().length);
      assert.equal(watch.newSockets(), 0, "no reconnect: the first socket is still the one");
      assert.deepEqual(await watch.shown(), { statuses: ["connected"], banners: [] });
      assert.equal(await page.locator(".banner").count(), 0);
      await shot(page, "session-renewed");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("two tabs of one browser renew the shared cookies in turn for three lifetimes; the session lives on", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({
      DATABASE_URL: `sqlite:${dir}/chat.db`,
      ACCESS_TOKEN_TTL_SECONDS: "5",
    });
    try {
      const base = server.url;
      const bob = await newUser(base, "bob");
      const room = await createRoom(base, bob, { name: "general" });
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const { page: first, network } = await signedIn(
        context,
        base,
        `alice${Date.now() % 100_000}`,
        "general",
      );
      // The second tab opens with the same cookie: both pages' tokens expire together, so their renewals fall
      // due at the same moment, every time.
      const second = await context.newPage();
      const secondNetwork = watchNetwork(second);
      await second.goto(first.url());
      await connected(second);
      const watches = [await watchPage(first, network), await watchPage(second, secondNetwork)];
      // A slow network: a renewal's new cookies arrive 250 ms after its request left, so a tab renewing in
      // that time without waiting for the other would present the same refresh token (this test fails so
      // when `navigator.locks` is taken away).
      for (const page of [first, second]) {
        const cdp = await context.newCDPSession(page);
        await cdp.send("Network.emulateNetworkConditions", {
          offline: false,
          latency: 250,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
      }

      await first.waitForTimeout(THREE_LIFETIMES_MS);
      for (const [i, watch] of watches.entries()) {
        const refreshes = watch.refreshes();
        assert.ok(refreshes.length >= 3, `tab ${i + 1} renewed ${refreshes.length} times`);
        assert.deepEqual(refreshes.filter((status) => status !== 200), [], `tab ${i + 1}: all 200`);
        await until(
          () => Promise.resolve(watch.socket.refreshedFrames === watch.refreshes().length),
          `tab ${i + 1}: its socket taking each token`,
        );
        assert.equal(watch.newSockets(), 0, `tab ${i + 1}: no reconnect`);
        assert.deepEqual(await watch.shown(), { statuses: ["connected"], banners: [] });
      }
      await post(base, bob, room.id, "both of you?");
      for (const page of [first, second]) {
        await page.waitForSelector("#messages li[data-seq] >> text=both of you?", { timeout: 5_000 });
      }
      // The browser's cookies still name a live session.
      const cookie = (await context.cookies(base)).find((c) => c.name === "chat_session");
      const sessions = await call(base, "GET", "/api/sessions", { token: cookie?.value });
      assert.equal(sessions.status, 200, JSON.stringify(sessions.body));
      assert.equal(sessions.body.sessions.length, 1);
      assert.equal(sessions.body.sessions[0].current, true);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("a session ended from another device shows the page a signed-out notice at once; the page stays readable", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({
      DATABASE_URL: `sqlite:${dir}/chat.db`,
      ACCESS_TOKEN_TTL_SECONDS: "5",
    });
    try {
      const base = server.url;
      const bob = await newUser(base, "bob");
      const room = await createRoom(base, bob, { name: "general" });
      await post(base, bob, room.id, "welcome, all");
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const name = `alice${Date.now() % 100_000}`;
      const { page, network } = await signedIn(context, base, name, "general");
      await page.waitForSelector("#messages li[data-seq] >> text=welcome, all");
      const watch = await watchPage(page, network);

      // Alice, on her phone, signs in and ends the browser's session from her list of devices.
      const phone = await call(base, "POST", "/api/auth/login", {
        body: { login: name, password: "correct horse battery" },
      });
      assert.equal(phone.status, 200, JSON.stringify(phone.body));
      const list = await call(base, "GET", "/api/sessions", { token: phone.body.token });
      const browserSession = list.body.sessions.find((s: { current: boolean }) => !s.current);
      assert.equal(list.body.sessions.length, 2);
      const ended = await call(base, "DELETE", `/api/sessions/${browserSession.id}`, {
        token: phone.body.token,
      });
      assert.equal(ended.status, 204);

      await page.waitForSelector("#signed-out-banner", { timeout: 5_000 });
      const notice = page.locator("#signed-out-banner");
      assert.equal(await notice.getAttribute("role"), "alert");
      assert.equal(
        (await notice.textContent())?.replace(/\s+/g, " ").trim(),
        "You were signed out on this device. Sign in again",
      );
      assert.equal(
        await notice.locator("a").getAttribute("href"),
        `/?next=${encodeURIComponent(`/rooms/${room.id}`)}`,
      );
      assert.equal(await page.getAttribute("#connection-status", "data-status"), "signed_out");
      assert.equal(await page.textContent("#connection-status .conn-text"), "Signed out");
      assert.equal(await page.locator("#offline-banner").count(), 0, "not the connection banner");
      // What was on the page is still there to read.
      assert.equal(await page.locator("#messages li[data-seq] >> text=welcome, all").count(), 1);
      await shot(page, "session-signed-out");
      await checkA11y(page, "session-signed-out");
      await page.emulateMedia({ colorScheme: "dark" });
      await shot(page, "session-signed-out-dark");
      await checkA11y(page, "session-signed-out-dark");

      // It does not try again: no new socket, no renewal, over two more token lifetimes.
      await page.waitForTimeout(2 * TTL_S * 1000);
      assert.equal(watch.newSockets(), 0);
      assert.deepEqual(watch.refreshes(), []);
      assert.deepEqual(await watch.shown(), {
        statuses: ["connected", "signed_out"],
        banners: ["signed-out-banner"],
      });

      // The link goes to the sign-in page, which knows where to come back to.
      await Promise.all([page.waitForURL(/\/\?next=/), notice.locator("a").click()]);
      assert.equal(innermostNext(page.url()), `/rooms/${room.id}`);
      await until(async () => (await page.locator("#login-form").count()) === 1, "the login form");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

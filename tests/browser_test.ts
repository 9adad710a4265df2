/**
 * The web UI end to end: Debian's Chromium driven by playwright-core against the real server process.
 * Screenshots go to test-output/.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  connected,
  joinFromList,
  LIVE_MS,
  outboxContents,
  pendingTexts,
  send,
  seqs,
  shot,
  signUp,
  socketSwitch,
  texts,
  until,
  withBrowser,
} from "./helpers/browser.ts";
import { checkA11y } from "./helpers/axe.ts";
import { deleteMessagesUpTo, lockDatabase, openTestStore, seedMessages } from "./helpers/database.ts";
import { spawnServer } from "./helpers/process.ts";
import { startQuoteServer } from "./helpers/quote_server.ts";
import { api, newUser } from "./helpers/server.ts";

Deno.test("two browsers sign up, share a room and chat live with typing and presence", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const [ctxA, ctxB] = [await browser.newContext(), await browser.newContext()];
      const a = await signUp(ctxA, base, "ada");
      await a.fill("#room-name", "Engineering");
      await a.fill("#room-description", "Builds and deploys");
      await Promise.all([
        a.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        a.click("#create-room-form button[type=submit]"),
      ]);
      const roomUrl = a.url();
      await connected(a);

      const b = await signUp(ctxB, base, "grace");
      await Promise.all([b.waitForURL(roomUrl), b.click('button[aria-label="Join Engineering"]')]);
      await connected(b);
      // Ada sees Grace's join notice and Grace online in the member list.
      await a.waitForSelector("#messages .is-system >> text=grace joined the room");
      await a.waitForSelector('#members li[data-online="true"] >> text=grace');

      // Typing shows at the other side.
      await a.click("#composer-input");
      await a.keyboard.type("Hello Grace");
      await b.waitForSelector("#typing >> text=ada is typing…", { timeout: LIVE_MS * 3 });

      await a.keyboard.press("Enter");
      // Own message appears at once, then is confirmed (it gets a seq).
      await a.waitForSelector("#messages li[data-seq] >> text=Hello Grace");
      await b.waitForSelector("#messages li[data-seq] >> text=Hello Grace", { timeout: LIVE_MS });
      // The typist's message ends their typing notice: gone in the same render, not seconds later.
      assert.equal(await b.textContent("#typing"), "");

      // Shift+Enter makes a new line; Enter sends.
      await b.click("#composer-input");
      await b.keyboard.type("Hi Ada");
      await b.keyboard.press("Shift+Enter");
      await b.keyboard.type("second line https://example.com/docs.");
      await b.keyboard.press("Enter");
      const reply = "Hi Ada\nsecond line https://example.com/docs.";
      await a.waitForSelector("#messages li[data-seq] >> text=second line", { timeout: LIVE_MS });
      assert.deepEqual(await texts(a), await texts(b));
      assert.equal((await texts(a)).at(-1), reply);
      const link = await a.$eval("#messages li[data-seq]:last-child a", (el) => ({
        href: el.getAttribute("href"),
        rel: el.getAttribute("rel"),
        text: el.textContent,
      }));
      assert.deepEqual(link, {
        href: "https://example.com/docs",
        rel: "noopener noreferrer nofollow ugc",
        text: "https://example.com/docs",
      });
      await shot(a, "room-ada");
      await shot(b, "room-grace");

      // Phone width: nothing overflows sideways and the composer is on screen.
      await b.setViewportSize({ width: 375, height: 740 });
      assert.equal(await b.evaluate(() => document.documentElement.scrollWidth), 375);
      assert.ok(await b.isVisible("#composer-input"));
      await shot(b, "room-phone");

      // A reload keeps the history, in order, once.
      await b.reload();
      await connected(b);
      assert.deepEqual(await texts(b), await texts(a));
      const bSeqs = await seqs(b);
      assert.deepEqual(bSeqs, [...new Set(bSeqs)].sort((x, y) => x - y));

      // Presence: Ada leaves, Grace sees her offline.
      await ctxA.close();
      await b.waitForSelector('#members li[data-online="false"] >> text=ada', {
        state: "attached",
        timeout: 5_000,
      });
      assert.equal(
        await b.$eval("#members li:has-text('grace')", (el) => el.getAttribute("data-online")),
        "true",
        "one's own dot is online while connected",
      );
      await ctxB.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("two people open the same room at the same moment: each sees the other online, 5 times; offline after", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db`, HEARTBEAT_SECONDS: "5" });
    try {
      const base = server.url;
      const [ctxA, ctxB] = [await browser.newContext(), await browser.newContext()];
      const setup = await signUp(ctxA, base, "ada");
      await setup.fill("#room-name", "Standup");
      await Promise.all([
        setup.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        setup.click("#create-room-form button[type=submit]"),
      ]);
      const roomUrl = setup.url();
      await setup.close();
      const grace = await signUp(ctxB, base, "grace");
      await Promise.all([grace.waitForURL(roomUrl), grace.click('button[aria-label="Join Standup"]')]);
      await grace.close();
      const isOnline = (page: Page, name: string) =>
        page.$eval(`#members li:has-text('${name}')`, (el) => el.getAttribute("data-online"));

      for (let round = 1; round <= 5; round++) {
        const [a, b] = await Promise.all([ctxA.newPage(), ctxB.newPage()]);
        await Promise.all([a.goto(roomUrl), b.goto(roomUrl)]);
        await Promise.all([connected(a), connected(b)]);
        // The presence state comes with the connection: no dot may stay grey once both are connected.
        await a.waitForSelector('#members li[data-online="true"] >> text=grace', { timeout: LIVE_MS * 2 });
        await b.waitForSelector('#members li[data-online="true"] >> text=ada', { timeout: LIVE_MS * 2 });
        if (round === 1) {
          await shot(a, "presence-ada");
          await shot(b, "presence-grace");
        }
        await b.close();
        // Within the heartbeat bound (2 x HEARTBEAT_SECONDS); a closed page says goodbye at once.
        await a.waitForSelector('#members li[data-online="false"] >> text=grace', { timeout: 10_000 });
        assert.equal(await isOnline(a, "ada"), "true", `round ${round}: one's own dot`);
        await a.close();
      }
      await Promise.all([ctxA.close(), ctxB.close()]);
    } finally {
      await server.stop();
    }
  }));

Deno.test("after the server is killed and restarted the page reconnects and shows the gap's messages once", () =>
  withBrowser(async (browser, dir) => {
    const env = { DATABASE_URL: `sqlite:${dir}/chat.db` };
    let server = await spawnServer(env);
    const port = String(server.port);
    try {
      const owner = await newUser(server.url, "owner");
      const room = await api(server.url, "POST", "/api/rooms", {
        token: owner.token,
        body: { name: "Resilient" },
      });
      const context = await browser.newContext();
      const page = await signUp(context, server.url, "watcher");
      await joinFromList(page, "Resilient");
      await api(server.url, "POST", `/api/rooms/${room.body.id}/messages`, {
        token: owner.token,
        body: { content: "before" },
      });
      await page.waitForSelector("#messages li[data-seq] >> text=before");

      assert.equal((await server.stop("SIGKILL")).signal, "SIGKILL");
      await page.waitForSelector('#connection-status:not([data-status="connected"])');
      // Typed while the server is gone: kept as pending and sent after the reconnect.
      await page.fill("#composer-input", "typed while offline");
      await page.press("#composer-input", "Enter");
      await page.waitForSelector('#messages li[data-state="sending"] >> text=typed while offline');

      server = await spawnServer({ ...env, PORT: port });
      // Sent by someone else while the page is still reconnecting.
      await api(server.url, "POST", `/api/rooms/${room.body.id}/messages`, {
        token: owner.token,
        body: { content: "during the gap" },
      });
      await connected(page);
      await page.waitForSelector("#messages li[data-seq] >> text=during the gap");
      await page.waitForSelector("#messages li[data-seq] >> text=typed while offline");
      await page.waitForFunction(() => document.querySelectorAll("#messages li.pending").length === 0);

      const all = await texts(page);
      for (const text of ["before", "during the gap", "typed while offline"]) {
        assert.equal(all.filter((t) => t === text).length, 1, text);
      }
      const shown = await seqs(page);
      assert.deepEqual(
        shown,
        Array.from({ length: shown.length }, (_, i) => shown[0] + i),
        "contiguous, no duplicate",
      );
      const history = await api(server.url, "GET", `/api/rooms/${room.body.id}/messages`, {
        token: owner.token,
      });
      assert.equal(
        history.body.messages.filter((m: { content: string }) => m.content === "typed while offline").length,
        1,
      );
      await shot(page, "room-after-restart");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("a /stock command typed in the UI shows the bot's answer; an unknown one says why", () =>
  withBrowser(async (browser, dir) => {
    const quotes = await startQuoteServer();
    quotes.set("AAPL.US", { kind: "quote", close: 229.87 });
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db`, QUOTE_URL: quotes.url });
    try {
      const context = await browser.newContext();
      const page = await signUp(context, server.url, "trader");
      await page.fill("#room-name", "Markets");
      await Promise.all([
        page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        page.click("#create-room-form button[type=submit]"),
      ]);
      await connected(page);
      await send(page, "/stock=AAPL.US");
      const answer = page.locator("#messages li.is-bot");
      await answer.waitFor();
      assert.equal(await answer.locator(".msg-text").textContent(), "AAPL.US quote is $229.87 per share");
      assert.equal(await answer.locator(".msg-user").textContent(), "stockbot");
      // The command itself is neither shown as sent nor stored: only the answer is in the room.
      await page.waitForFunction(() => document.querySelectorAll("#messages li.pending").length === 0);
      assert.deepEqual(await texts(page), ["AAPL.US quote is $229.87 per share"]);

      // Refused for good: back in the box to edit, with why.
      await send(page, "/weather=Paris");
      const notice = page.locator(".composer-notice");
      await notice.waitFor();
      assert.match(
        (await notice.textContent())!,
        /Not sent: Unknown command "\/weather"\. Known commands: \/stock=CODE/,
      );
      assert.equal(await page.inputValue("#composer-input"), "/weather=Paris");
      await shot(page, "room-stock-command");
      await context.close();
    } finally {
      await server.stop();
      await quotes.close();
    }
  }));

Deno.test("messages are rendered as text: script and onerror payloads run nothing", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const context = await browser.newContext();
      const page = await signUp(context, server.url, "mallory");
      const dialogs: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        d.dismiss();
      });
      const violations: string[] = [];
      page.on("console", (m) => m.type() === "error" && violations.push(m.text()));
      await page.fill("#room-name", "<b>bold?</b>");
      await Promise.all([
        page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        page.click("#create-room-form button[type=submit]"),
      ]);
      await connected(page);
      const payloads = [
        "<script>window.__pwned = 1; alert(1)</script>",
        '<img src=x onerror="window.__pwned = 2; alert(2)">',
        '"><svg onload=alert(3)>',
        // Markdown links: only http(s) and mailto become links, so these stay text.
        "[click](javascript:window.__pwned=4;alert(4))",
        "<javascript:alert(5)>",
      ];
      for (const payload of payloads) {
        await page.fill("#composer-input", payload);
        await page.press("#composer-input", "Enter");
        await page.waitForSelector(`#messages li[data-seq]:nth-last-child(1) .msg-text`);
      }
      await page.waitForFunction(
        (n) => document.querySelectorAll("#messages li[data-seq] .msg-text").length === n,
        payloads.length,
      );
      assert.deepEqual(await texts(page), payloads);
      await page.reload();
      await connected(page);
      assert.deepEqual(await texts(page), payloads, "server-rendered history is text too");
      assert.equal(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
      assert.deepEqual(dialogs, []);
      assert.equal(
        await page.$$eval("#messages img, #messages script, #messages svg, #messages a", (els) => els.length),
        0,
      );
      assert.equal(await page.textContent("h1"), "# <b>bold?</b>");

      const response = await page.goto(page.url());
      const csp = response!.headers()["content-security-policy"];
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.deepEqual(
        violations.filter((v) => /Content Security Policy/i.test(v)),
        [],
        "the app itself needs no inline script",
      );
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("forms show the server's own messages next to the field", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const context = await browser.newContext();
      await signUp(context, server.url, "taken");
      for (const width of [1280, 390]) {
        const visitor = await browser.newContext({ viewport: { width, height: 800 } });
        const home = await visitor.newPage();
        await home.goto(server.url + "/");
        assert.equal(await home.textContent("h1"), "Team chat on your own server");
        const [login, signup] = [await home.$("#login-form"), await home.$("#signup-form")];
        const [a, b] = [(await login!.boundingBox())!, (await signup!.boundingBox())!];
        if (width === 1280) assert.ok(a.y === b.y && a.x + a.width < b.x, "side by side");
        else assert.ok(a.y + a.height < b.y && a.x === b.x, "stacked");
        await shot(home, `home-${width}`);
        await visitor.close();
      }

      const page = await (await browser.newContext()).newPage();
      await page.goto(server.url + "/");
      await page.fill("#signup-username", "taken");
      await page.fill("#signup-email", "other-at-example.com");
      await page.fill("#signup-password", "short");
      await page.click("#signup-form button[type=submit]");
      // The summary is announced first: an alert that has the focus, listing every problem as a link.
      await page.waitForSelector("#signup-errors");
      await page.waitForFunction(() => document.activeElement?.id === "signup-errors");
      assert.equal(await page.getAttribute("#signup-errors", "role"), "alert");
      const problems = [
        ["signup-username", "That username is taken"],
        ["signup-email", "Enter an email address like name@example.com"],
        ["signup-password", "Password must be at least 8 characters"],
      ];
      assert.deepEqual(
        await page.$$eval(
          "#signup-errors li a",
          (links) => links.map((a) => [a.getAttribute("href")!.slice(1), a.textContent]),
        ),
        problems,
      );
      for (const [id, message] of problems) {
        assert.equal(await page.textContent(`#${id}-error`), `Error: ${message}`);
        assert.equal(await page.getAttribute(`#${id}`, "aria-invalid"), "true");
        assert.match((await page.getAttribute(`#${id}`, "aria-describedby"))!, new RegExp(`\\b${id}-error$`));
      }
      assert.equal(await page.inputValue("#signup-username"), "taken", "typed values are kept");
      assert.equal(await page.inputValue("#signup-email"), "other-at-example.com");
      assert.equal(await page.inputValue("#signup-password"), "", "but not the password");
      await shot(page, "home-errors-1280");
      await page.click("#signup-errors a[href='#signup-email']");
      assert.match(page.url(), /#signup-email$/, "a summary line leads to its field");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "signup-email");
      await page.setViewportSize({ width: 390, height: 800 });
      await shot(page, "home-errors-390");

      // Log in with the username: a wrong password gets the one generic message, by the password.
      await page.fill("#login-name", "taken");
      await page.fill("#login-password", "wrong password");
      await page.click("#login-form button[type=submit]");
      assert.equal(
        await page.textContent("#login-password-error"),
        "Error: Wrong username, email or password",
      );
      assert.deepEqual(await page.$$eval("#login-errors li", (items) => items.map((li) => li.textContent)), [
        "Wrong username, email or password",
      ]);
      assert.equal(await page.inputValue("#login-name"), "taken");

      // Keyboard only: tab to the fields and submit with Enter.
      await page.focus("#login-name");
      await page.fill("#login-name", "taken");
      await page.keyboard.press("Tab");
      await page.keyboard.type("correct horse battery");
      await Promise.all([page.waitForURL(`${server.url}/rooms`), page.keyboard.press("Enter")]);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("scrolling up loads older history until the first message, without gaps or duplicates", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const owner = await newUser(server.url, "historian");
      const room = await api(server.url, "POST", "/api/rooms", {
        token: owner.token,
        body: { name: "Archive" },
      });
      for (let i = 1; i <= 130; i++) {
        await api(server.url, "POST", `/api/rooms/${room.body.id}/messages`, {
          token: owner.token,
          body: { content: `old ${i}` },
        });
      }
      const context = await browser.newContext();
      const page = await signUp(context, server.url, "reader");
      await joinFromList(page, "Archive");
      // 130 messages and the join notice: the first render shows the newest 50.
      assert.deepEqual(await seqs(page), Array.from({ length: 50 }, (_, i) => 82 + i));
      // Keep scrolling to the top, as a person would, until the first message shows.
      await page.waitForFunction(
        () => {
          document.querySelector("#messages")!.scrollTop = 0;
          return document.querySelector("#messages li[data-seq]")?.getAttribute("data-seq") === "1";
        },
        undefined,
        { polling: 100, timeout: 15_000 },
      );
      assert.deepEqual(await seqs(page), Array.from({ length: 131 }, (_, i) => i + 1));
      await page.waitForSelector("#messages li.older", { state: "detached" });
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("a message stored between the page render and the socket opening is not lost", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const owner = await newUser(server.url, "poster");
      const room = await api(server.url, "POST", "/api/rooms", {
        token: owner.token,
        body: { name: "Race" },
      });
      // No service worker: it would serve the cached client.js, past the hold below.
      const context = await browser.newContext({ serviceWorkers: "block" });
      const page = await signUp(context, server.url, "latecomer");
      await joinFromList(page, "Race");
      // Hold the island's code back on the next load, post meanwhile, then let it run.
      const { promise: held, resolve: holding } = Promise.withResolvers<void>();
      const { promise: release, resolve: letGo } = Promise.withResolvers<void>();
      await page.route("**/_fresh/js/**/client.js", async (route) => {
        holding();
        await release;
        await route.continue();
      });
      const reload = page.reload();
      await held;
      await api(server.url, "POST", `/api/rooms/${room.body.id}/messages`, {
        token: owner.token,
        body: { content: "in the gap" },
      });
      letGo();
      await reload;
      await connected(page);
      await page.waitForSelector("#messages li[data-seq] >> text=in the gap");
      assert.equal((await texts(page)).filter((t) => t === "in the gap").length, 1);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("sidebar: unread markers, direct messages by name, profile, logout", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const context = await browser.newContext();
      const page = await signUp(context, base, "lin");
      const friend = await newUser(base, "friend");
      const room = await api(base, "POST", "/api/rooms", { token: friend.token, body: { name: "Updates" } });
      await page.reload();
      await joinFromList(page, "Updates");
      await page.goto(base + "/rooms");
      for (let i = 0; i < 3; i++) {
        await api(base, "POST", `/api/rooms/${room.body.id}/messages`, {
          token: friend.token,
          body: { content: `news ${i}` },
        });
      }
      await page.reload();
      assert.equal(
        await page.getAttribute(`#sidebar a[data-room-id="${room.body.id}"] .badge`, "data-unread"),
        "3",
      );
      await page.click(`#sidebar a[data-room-id="${room.body.id}"]`);
      await connected(page);
      await page.waitForSelector("#messages li[data-seq] >> text=news 2");
      await page.goto(base + "/rooms");
      await page.waitForFunction(
        (id) => !document.querySelector(`#sidebar a[data-room-id="${id}"] .badge`),
        room.body.id,
      );

      // A direct message with someone found by name.
      await page.fill("#user-search", friend.username.slice(0, 8));
      await Promise.all([page.waitForURL(/[?]q=/), page.press("#user-search", "Enter")]);
      await Promise.all([
        page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        page.click(`button[aria-label="Message ${friend.username}"]`),
      ]);
      await connected(page);
      assert.equal(
        await page.textContent(".room-title h1"),
        friend.username,
        "a conversation is named by the other",
      );
      assert.deepEqual(await page.$$eval("#members li", (els) => els.length), 2);

      // Profile: display name and an uploaded avatar.
      await page.goto(base + "/profile");
      await page.fill("#display-name", "Lin Wei");
      const png = Uint8Array.from(
        atob(
          "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
        ),
        (c) => c.charCodeAt(0),
      );
      const avatarPath = `${dir}/me.png`;
      await Deno.writeFile(avatarPath, png);
      await page.setInputFiles("#avatar-file", avatarPath);
      await page.click("#profile-form button[type=submit]");
      await page.waitForSelector("text=Saved.");
      const me = await api(base, "GET", "/api/users/me", {
        headers: { cookie: (await context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ") },
      });
      assert.equal(me.body.display_name, "Lin Wei");
      assert.match(me.body.avatar_url, /^data:image\/png;base64,iVBOR/);

      // Logout clears the session.
      await Promise.all([page.waitForURL(`${base}/`), page.click("text=Log out")]);
      assert.deepEqual((await context.cookies()).filter((c) => c.name === "chat_session"), []);
      await page.goto(base + "/rooms");
      assert.match(page.url(), /\/\?next=%2Frooms$/);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("unsent messages survive a reload: the outbox shows them, sends them again, each is stored once", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const owner = await newUser(server.url, "host");
      const room = await api(server.url, "POST", "/api/rooms", {
        token: owner.token,
        body: { name: "Outbox" },
      });
      const history = async () =>
        (await api(server.url, "GET", `/api/rooms/${room.body.id}/messages?limit=100`, {
          token: owner.token,
        }))
          .body.messages as { content: string; seq: number }[];
      const context = await browser.newContext();
      const sockets = await socketSwitch(context);
      const page = await signUp(context, server.url, "sender");
      await joinFromList(page, "Outbox");

      // The first reaches the server, but the page never hears back (ack and broadcast lost).
      sockets.mute();
      await send(page, "stored, unconfirmed");
      await until(
        async () => (await history()).some((m) => m.content === "stored, unconfirmed"),
        "the first message stored",
      );
      // The next two never leave the page.
      await sockets.block();
      await page.waitForSelector('#connection-status:not([data-status="connected"])');
      await send(page, "unsent one");
      await send(page, "unsent two");
      await page.waitForFunction(() =>
        document.querySelectorAll('#messages li[data-state="sending"]').length === 3
      );
      assert.deepEqual(await outboxContents(page), ["stored, unconfirmed", "unsent one", "unsent two"]);

      // A reload, the socket still refused: the page shows the stored one, the outbox the other two as pending.
      await page.reload();
      await page.waitForFunction(() =>
        document.querySelectorAll('#messages li[data-state="sending"]').length === 2
      );
      assert.deepEqual(await pendingTexts(page), ["unsent one", "unsent two"]);
      assert.equal((await texts(page)).filter((t) => t === "stored, unconfirmed").length, 1);
      assert.deepEqual(await outboxContents(page), ["unsent one", "unsent two"]);
      assert.notEqual(await page.getAttribute("#connection-status", "data-status"), "connected");
      await shot(page, "room-outbox-pending");

      sockets.open();
      await connected(page);
      await page.waitForSelector("#messages li[data-seq] >> text=unsent two");
      await page.waitForFunction(() => document.querySelectorAll("#messages li.pending").length === 0);
      const all = await texts(page);
      const messages = await history();
      for (const text of ["stored, unconfirmed", "unsent one", "unsent two"]) {
        assert.equal(all.filter((t) => t === text).length, 1, `shown once: ${text}`);
        assert.equal(messages.filter((m) => m.content === text).length, 1, `stored once: ${text}`);
      }
      assert.deepEqual(messages.slice(-3).map((m) => m.content), [
        "stored, unconfirmed",
        "unsent one",
        "unsent two",
      ]);
      const shown = await seqs(page);
      assert.deepEqual(shown, Array.from({ length: shown.length }, (_, i) => i + 1), "contiguous, once");
      assert.deepEqual(await outboxContents(page), []);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("messages typed while the store is locked wait as sending and go through once when it is back", () =>
  withBrowser(async (browser, dir) => {
    const path = `${dir}/chat.db`;
    const server = await spawnServer({ DATABASE_URL: `sqlite:${path}` });
    let locker: Deno.ChildProcess | undefined;
    try {
      const owner = await newUser(server.url, "host");
      const room = await api(server.url, "POST", "/api/rooms", {
        token: owner.token,
        body: { name: "Outage" },
      });
      const history = async () =>
        (await api(server.url, "GET", `/api/rooms/${room.body.id}/messages?limit=100`, {
          token: owner.token,
        }))
          .body.messages as { content: string }[];
      const context = await browser.newContext();
      const page = await signUp(context, server.url, "typist");
      await joinFromList(page, "Outage");
      await send(page, "before");
      await page.waitForSelector("#messages li[data-seq] >> text=before");

      // Another process holds the database's write lock: the server refuses writes with store_unavailable.
      locker = lockDatabase(path);
      const reader = locker.stdout.pipeThrough(new TextDecoderStream()).getReader();
      assert.equal((await reader.read()).value?.trim(), "locked");
      reader.releaseLock();
      await send(page, "during one");
      await send(page, "during two");
      await until(async () =>
        (await fetch(`${server.url}/api/health`).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        })) === 503, "health 503");
      await page.waitForFunction(() =>
        document.querySelectorAll('#messages li[data-state="sending"]').length === 2
      );
      assert.deepEqual(await pendingTexts(page), ["during one", "during two"]);
      assert.equal(
        await page.$$eval('#messages li[data-state="failed"]', (els) => els.length),
        0,
        "none given up",
      );
      // The page says why they wait.
      await page.waitForSelector("#store-down-banner");
      assert.match(await page.textContent("#store-down-banner") ?? "", /cannot save messages right now/);
      await checkA11y(page, "room-store-outage");
      await shot(page, "room-store-outage-sending");

      // The lock goes: the server tells the socket the store is back, and the page sends both, once each.
      await locker.stdin.close();
      assert.equal((await locker.status).code, 0);
      locker = undefined;
      await page.waitForSelector("#messages li[data-seq] >> text=during two", { timeout: 20_000 });
      await page.waitForFunction(() => document.querySelectorAll("#messages li.pending").length === 0);
      await page.waitForSelector("#store-down-banner", { state: "detached" });
      const shown = await texts(page);
      const stored = (await history()).map((m) => m.content);
      for (const text of ["during one", "during two"]) {
        assert.equal(shown.filter((t) => t === text).length, 1, `shown once: ${text}`);
        assert.equal(stored.filter((t) => t === text).length, 1, `stored once: ${text}`);
      }
      assert.deepEqual(stored.slice(-3), ["before", "during one", "during two"]);
      await shot(page, "room-store-outage-sent");
      await context.close();
    } finally {
      if (locker !== undefined) {
        locker.kill("SIGKILL");
        await locker.status;
      }
      await server.stop();
    }
  }));

Deno.test("a failed send stays shown with its error until discarded, and leaves the outbox then", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const context = await browser.newContext();
      const sockets = await socketSwitch(context);
      const page = await signUp(context, server.url, "verbose");
      await page.fill("#room-name", "Short");
      await Promise.all([
        page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        page.click("#create-room-form button[type=submit]"),
      ]);
      await connected(page);
      // The server refuses a NUL character for good; the answer comes while the box holds a new draft.
      sockets.hold();
      await page.$eval("#composer-input", (el) => {
        (el as HTMLTextAreaElement).value = "nul \u0000 inside";
        el.dispatchEvent(new Event("input", { bubbles: true }));
      });
      await page.press("#composer-input", "Enter");
      await page.fill("#composer-input", "next draft");
      sockets.open();
      await page.waitForSelector('#messages li[data-state="failed"] >> text=Not sent:');
      assert.deepEqual(await outboxContents(page), ["nul \u0000 inside"]);
      await send(page, "short one");
      await page.waitForSelector("#messages li[data-seq] >> text=short one");
      await page.click('#messages li[data-state="failed"] button:has-text("Discard")');
      await page.waitForSelector("#messages li.pending", { state: "detached" });
      assert.deepEqual(await outboxContents(page), []);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("a long absence: 10,000 messages arrive while the page is offline and all show up in order", () =>
  withBrowser(async (browser, dir) => {
    const databaseUrl = `sqlite:${dir}/chat.db`;
    const server = await spawnServer({ DATABASE_URL: databaseUrl });
    try {
      const owner = await newUser(server.url, "chatty");
      const room = await api(server.url, "POST", "/api/rooms", {
        token: owner.token,
        body: { name: "Busy" },
      });
      const context = await browser.newContext();
      const page = await signUp(context, server.url, "traveller");
      await joinFromList(page, "Busy");
      const lastSeqOf = async () =>
        (await api(server.url, "GET", `/api/rooms/${room.body.id}`, { token: owner.token })).body
          .last_seq as number;
      const before = await lastSeqOf();
      await page.waitForSelector(`#messages[data-last-seq="${before}"]`);

      await context.setOffline(true);
      await page.waitForSelector('#connection-status[data-status="offline"]');
      // The server has let the socket go: its presence says so.
      await until(async () => {
        const res = await api(server.url, "GET", `/api/rooms/${room.body.id}/members`, {
          token: owner.token,
        });
        return res.body.members.some((m: { username: string; online: boolean }) =>
          m.username === "traveller" && !m.online
        );
      }, "the traveller offline");
      const count = 10_000;
      const store = await openTestStore(databaseUrl);
      try {
        await seedMessages(
          databaseUrl,
          store,
          { room_id: room.body.id, user_id: owner.id, username: owner.username },
          count,
          (i) => `while away ${i}`,
        );
      } finally {
        await store.close();
      }
      const last = await lastSeqOf();
      assert.equal(last, before + count);

      const fetched: string[] = [];
      page.on("request", (r) => r.url().includes("after_seq") && fetched.push(r.url()));
      await context.setOffline(false);
      await connected(page);
      await page.waitForSelector(`#messages[data-last-seq="${last}"]`, { timeout: 20_000 });
      await page.waitForSelector(`#messages li[data-seq="${last}"]`);
      const shown = await seqs(page);
      assert.equal(shown.at(-1), last);
      assert.deepEqual(shown, Array.from({ length: shown.length }, (_, i) => shown[0] + i), "contiguous");
      assert.equal((await texts(page)).at(-1), `while away ${count}`);
      assert.deepEqual(fetched, [], "the socket's resume brought them, not the history API");
      // Older ones are a click away, still without gaps.
      await page.click("#messages li.older button");
      await page.waitForSelector(`#messages li[data-seq="${shown[0] - 1}"]`);
      const more = await seqs(page);
      assert.deepEqual(more, Array.from({ length: more.length }, (_, i) => more[0] + i), "contiguous");
      assert.ok(more.length > shown.length);
      await shot(page, "room-after-absence");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("when retention removed part of the gap the page says so and continues after it", () =>
  withBrowser(async (browser, dir) => {
    const databaseUrl = `sqlite:${dir}/chat.db`;
    const server = await spawnServer({ DATABASE_URL: databaseUrl });
    try {
      const owner = await newUser(server.url, "keeper");
      const room = await api(server.url, "POST", "/api/rooms", {
        token: owner.token,
        body: { name: "Brief" },
      });
      const context = await browser.newContext();
      const page = await signUp(context, server.url, "wanderer");
      await joinFromList(page, "Brief");
      const before = Number(await page.getAttribute("#messages", "data-last-seq"));
      assert.ok(before > 0);
      await context.setOffline(true);
      await page.waitForSelector('#connection-status[data-status="offline"]');
      for (let i = 1; i <= 20; i++) {
        await api(server.url, "POST", `/api/rooms/${room.body.id}/messages`, {
          token: owner.token,
          body: { content: `later ${i}` },
        });
      }
      // Retention deletes the first half of what the page missed.
      await deleteMessagesUpTo(databaseUrl, room.body.id, before + 10);

      await context.setOffline(false);
      await connected(page);
      await page.waitForSelector(`#messages[data-last-seq="${before + 20}"]`);
      assert.equal(await page.textContent("#history-reset"), "Older messages are no longer available");
      const shown = await seqs(page);
      const kept = Array.from({ length: before }, (_, i) => i + 1);
      assert.deepEqual(shown, [...kept, ...Array.from({ length: 10 }, (_, i) => before + 11 + i)]);
      // The notice sits in the hole.
      assert.equal(
        await page.$eval("#history-reset", (el) => el.nextElementSibling?.getAttribute("data-seq")),
        String(before + 11),
      );
      await shot(page, "room-history-reset");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("without IndexedDB the page keeps its outbox in memory and still sends", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const context = await browser.newContext();
      await context.addInitScript(() => Object.defineProperty(globalThis, "indexedDB", { value: undefined }));
      const page = await signUp(context, server.url, "private");
      await page.fill("#room-name", "Ephemeral");
      await Promise.all([
        page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        page.click("#create-room-form button[type=submit]"),
      ]);
      await connected(page);
      assert.equal(await page.evaluate(() => typeof indexedDB), "undefined");
      await send(page, "from memory");
      await page.waitForSelector("#messages li[data-seq] >> text=from memory");
      await page.waitForSelector("#messages li.pending", { state: "detached" });
      await context.close();
    } finally {
      await server.stop();
    }
  }));

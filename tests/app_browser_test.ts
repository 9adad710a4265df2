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
import { checkA11y } from "./helpers/axe.ts";
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
      await until(async () => (await page.title()) === "# random · Chat", "nothing unread").catch(
        async (e) => {
          throw new Error(`${e.message}: ${await page.title()} ${await sidebar(page)}`);
        },
      );
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

Deno.test("a private room made from the UI: its creator adds and removes a member from the panel, renames it; members leave", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const [alice, bob] = [await newUser(base, "alice"), await newUser(base, "bob")];
      const lobby = await createRoom(base, bob, { name: "lobby" });
      await call(base, "POST", `/api/rooms/${lobby.id}/join`, { token: alice.token });
      const [ctxA, ctxB] = [await browser.newContext(), await browser.newContext()];
      const a = await openAs(ctxA, base, alice, "/rooms");
      const b = await openAs(ctxB, base, bob, `/rooms/${lobby.id}`);
      await connected(b);

      // Created from the browse page's form; the name is taken case-insensitively.
      await a.fill("#room-name", "LOBBY");
      await a.click("#create-room-form button[type=submit]");
      await a.waitForSelector("#room-name-error");
      assert.equal(await a.textContent("#room-name-error"), 'Error: A room named "LOBBY" already exists');
      await a.fill("#room-name", "Secret plans");
      await a.check("#room-private");
      // A live update re-renders the app: what the form holds stays.
      await post(base, bob, lobby.id, "anyone?");
      await until(async () => (await sidebar(a)).join() === "lobby: 1", "lobby's badge on the browse page");
      assert.equal(await a.inputValue("#room-name"), "Secret plans");
      assert.equal(await a.isChecked("#room-private"), true);
      await Promise.all([
        a.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        a.click("#create-room-form button[type=submit]"),
      ]);
      await connected(a);
      const secretId = a.url().split("/").pop()!;
      assert.deepEqual(await sidebar(b), ["lobby: 0"], "bob cannot see it");

      // Added by username from the panel: bob's sidebar lists it at once.
      await a.fill("#add-member", bob.username);
      await a.click("#add-member-form button[type=submit]");
      await a.waitForSelector(`#members li[data-user-id="${bob.id}"]`);
      await until(
        async () => (await sidebar(b)).join() === "lobby: 0,Secret plans: 1",
        "the new room in bob's sidebar",
      );
      await a.fill("#add-member", "nobody-by-that-name");
      await a.click("#add-member-form button[type=submit]");
      await a.waitForSelector("#add-member-error");
      await shot(a, "app-private-room-panel");

      // Renamed from the settings: both see the new name.
      await a.click("#room-settings summary");
      await a.fill("#settings-name", "Launch plans");
      await a.click("#room-settings-form button[type=submit]");
      await a.waitForSelector('.room-title h1:has-text("# Launch plans")');
      await a.waitForSelector('#messages li.is-system >> text=renamed the room to "Launch plans"');
      await until(
        async () => (await sidebar(b)).join() === "Launch plans: 2,lobby: 0",
        "the new name for bob",
      );

      // Removed: gone from bob's sidebar; bob's open page says so.
      await b.click(`#sidebar a[data-room-id="${secretId}"]`);
      await b.waitForSelector('.room-title h1:has-text("# Launch plans")');
      await a.click(`button[aria-label="Remove ${bob.username} from the room"]`);
      await a.waitForSelector(`#members li[data-user-id="${bob.id}"]`, { state: "detached" });
      await until(async () => (await sidebar(b)).join() === "lobby: 0", "the room gone from bob's sidebar");
      await b.waitForSelector("text=You are no longer a member of this room.");
      const member = await call(base, "GET", `/api/rooms/${secretId}/messages`, { token: bob.token });
      assert.equal(member.status, 404, "and the server agrees");

      // Leaving: alice leaves the lobby from its panel; it leaves her sidebar and bob sees the notice.
      await a.click(`#sidebar a[data-room-id="${lobby.id}"]`);
      await a.waitForSelector('.room-title h1:has-text("# lobby")');
      a.once("dialog", (dialog) => dialog.accept());
      await a.click("#leave-room");
      await until(
        async () => (await sidebar(a)).join() === "Launch plans: 0",
        "the lobby gone from alice's sidebar",
      );
      await b.click(`#sidebar a[data-room-id="${lobby.id}"]`);
      await b.waitForSelector(`#messages li.is-system >> text=${alice.username} left the room`);
      await shot(a, "app-after-leaving");
      await ctxA.close();
      await ctxB.close();
    } finally {
      await server.stop();
    }
  }));

/** Types `text` into the composer as input events do (also characters `fill()` would not take). */
async function typeDraft(page: Page, text: string): Promise<void> {
  await page.$eval("#composer-input", (el, value) => {
    const input = el as HTMLTextAreaElement;
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }, text);
}

Deno.test("the composer: a counter near the limit and no Send past it; a refused message comes back to edit", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db`, MAX_MESSAGE_CHARS: "4000" });
    try {
      const base = server.url;
      const alice = await newUser(base, "alice");
      const room = await createRoom(base, alice, { name: "drafts" });
      const context = await browser.newContext();
      const sockets = await socketSwitch(context);
      const page = await openAs(context, base, alice, `/rooms/${room.id}`);
      await connected(page);

      await typeDraft(page, "x".repeat(3_990));
      assert.equal(await page.textContent("#composer-count"), "10 left");
      await typeDraft(page, "é".repeat(4_001));
      assert.equal(await page.textContent("#composer-count"), "1 character too many");
      assert.equal(await page.isDisabled("#composer button[type=submit]"), true);
      await page.press("#composer-input", "Enter");
      assert.equal((await page.inputValue("#composer-input")).length, 4_001, "kept to shorten");
      assert.equal(await page.$$eval("#messages li.pending", (els) => els.length), 0, "nothing sent");
      await shot(page, "app-composer-too-long");
      await page.press("#composer-input", "Backspace");
      assert.equal(await page.textContent("#composer-count"), "0 left");
      assert.equal(await page.isDisabled("#composer button[type=submit]"), false);

      // Refused for good (a NUL character): back in the empty box, with why.
      await typeDraft(page, "bad\u0000text");
      await page.press("#composer-input", "Enter");
      await page.waitForSelector(".composer-notice");
      assert.equal(await page.inputValue("#composer-input"), "bad\u0000text");
      assert.match(
        await page.textContent(".composer-notice") ?? "",
        /^Not sent: .*NUL.*back in the box to edit\.$/,
      );
      assert.equal(await page.$$eval("#messages li.pending", (els) => els.length), 0);

      // Refused while the box holds a new draft: shown with Edit and Discard; Edit puts it before the draft.
      sockets.hold();
      await page.press("#composer-input", "Enter");
      await page.waitForSelector('#messages li.pending[data-state="sending"]');
      await typeDraft(page, "a new draft");
      sockets.open();
      await page.waitForSelector('#messages li[data-state="failed"] >> text=Not sent:');
      await shot(page, "app-failed-message");
      await page.click('#messages li[data-state="failed"] button.edit');
      assert.equal(await page.inputValue("#composer-input"), "bad\u0000text\na new draft");
      assert.equal(await page.$$eval("#messages li.pending", (els) => els.length), 0);
      await typeDraft(page, "fine now");
      await page.press("#composer-input", "Enter");
      await page.waitForSelector("#messages li[data-seq] >> text=fine now");
      assert.equal(await page.inputValue("#composer-input"), "");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("without JavaScript a room page still sends: the form posts, the page shows the message and says why it is not live", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db`, MAX_MESSAGE_CHARS: "20" });
    try {
      const base = server.url;
      const alice = await newUser(base, "alice");
      const room = await createRoom(base, alice, { name: "plain" });
      const context = await browser.newContext({ javaScriptEnabled: false });
      const page = await openAs(context, base, alice, `/rooms/${room.id}`);
      assert.equal(
        await page.textContent("noscript .banner, .banner"),
        "Live updates need JavaScript: reload the page to see new messages.",
      );
      await page.fill("#composer-input", "sent the old way");
      await Promise.all([
        page.waitForURL(`${base}/rooms/${room.id}#composer`),
        page.click("#composer button[type=submit]"),
      ]);
      assert.deepEqual(
        await page.$$eval("#messages li[data-seq] .msg-text", (els) => els.map((e) => e.textContent)),
        [
          "sent the old way",
        ],
      );
      // The same form again (a double click, a resent POST) stores it once: the key is the page's.
      const clientId = await page.inputValue("#composer input[name=client_id]");
      for (let i = 0; i < 2; i++) {
        const res = await context.request.post(`${base}/rooms/${room.id}`, {
          form: { intent: "send", client_id: clientId, content: "twice?" },
          headers: { origin: base },
          maxRedirects: 0,
        });
        assert.equal(res.status(), 303);
      }
      // Too long: the page says why and keeps the text.
      await page.reload();
      await page.fill("#composer-input", "this is longer than twenty");
      await page.click("#composer button[type=submit]");
      await page.waitForSelector(".composer-notice");
      assert.equal(
        await page.textContent(".composer-notice"),
        "Not sent: Message content is longer than 20 characters",
      );
      assert.equal(await page.inputValue("#composer-input"), "this is longer than twenty");
      await shot(page, "app-no-javascript");
      const history = await call(base, "GET", `/api/rooms/${room.id}/messages`, { token: alice.token });
      assert.deepEqual(history.body.messages.map((m: { content: string }) => m.content), [
        "sent the old way",
        "twice?",
      ]);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("budgets: a room page's JavaScript, compressed, and its first render with 300 messages (recorded)", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const [alice, bob] = [await newUser(base, "alice"), await newUser(base, "bob")];
      const room = await createRoom(base, alice, { name: "busy" });
      await call(base, "POST", `/api/rooms/${room.id}/join`, { token: bob.token });
      for (let i = 1; i <= 300; i++) {
        const text = i % 3 === 0
          ? `**${i}** with \`code\` and https://example.com/${i} :tada:`
          : `message ${i}`;
        await post(base, i % 2 ? alice : bob, room.id, text);
      }
      const context = await browser.newContext({ serviceWorkers: "block" });
      const page = await openAs(context, base, alice, `/rooms/${room.id}`);
      await connected(page);
      const scripts = await page.evaluate(() =>
        performance.getEntriesByType("resource").filter((r) => r.name.endsWith(".js")).map((r) => {
          const entry = r as PerformanceResourceTiming;
          return {
            url: new URL(entry.name).pathname,
            encoded: entry.encodedBodySize,
            decoded: entry.decodedBodySize,
          };
        })
      );
      const timing = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
        return {
          html_ms: Math.round(nav.responseEnd - nav.requestStart),
          first_paint_ms: Math.round(
            performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1,
          ),
          interactive_ms: Math.round(performance.getEntriesByName("chat:hydrated")[0]?.startTime ?? -1),
          hydrate_ms: Math.round(performance.getEntriesByName("hydrate ChatApp")[0]?.duration ?? -1),
        };
      });
      const shown = await page.$$eval("#messages li[data-seq]", (els) => els.length);
      assert.equal(shown, 50, "the newest page of 300");
      assert.ok(scripts.length >= 2, "the runtime and the island");
      for (const s of scripts) assert.ok(s.encoded < s.decoded, `${s.url} arrives compressed`);
      const jsGzipBytes = scripts.reduce((sum, s) => sum + s.encoded, 0);
      assert.ok(jsGzipBytes <= 80 * 1024, `${jsGzipBytes} bytes of compressed JavaScript, at most 80 KB`);
      assert.deepEqual(
        scripts.filter((s) => s.url.includes("emoji_table")),
        [],
        "the page's :tada: came with it",
      );
      assert.equal(
        await page.$$eval(
          "#messages .msg-text",
          (els) => els.filter((e) => e.textContent!.includes("🎉")).length,
        ),
        17,
      );
      const budget = {
        js_compressed_bytes: jsGzipBytes,
        js_bytes: scripts.reduce((sum, s) => sum + s.decoded, 0),
        ...timing,
        scripts,
      };
      await record(budget);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("messages people can read: groups, day separators, markdown and code, right-to-left text, show more, jump to new", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const [alice, bob] = [await newUser(base, "alice"), await newUser(base, "bob")];
      const room = await createRoom(base, alice, { name: "reading", description: "Long reads" });
      await call(base, "POST", `/api/rooms/${room.id}/join`, { token: bob.token });
      await post(base, alice, room.id, "from last week");
      await post(base, bob, room.id, "from yesterday");
      await post(base, alice, room.id, "**bold**, _italic_, ~~gone~~ and `code` :tada:");
      await post(base, alice, room.id, "```ts\nconst answer = 42;\n```");
      await post(base, alice, room.id, "> a quote\n\n- one\n- two");
      await post(base, bob, room.id, "שלום לכולם, מה שלומכם?");
      await post(base, bob, room.id, "long ".repeat(400));
      // Older days, as if written then (seq 1 is bob's join notice).
      const db = new DatabaseSync(`${dir}/chat.db`);
      const day = 86_400_000;
      const setTime = db.prepare("UPDATE messages SET timestamp = ? WHERE room_id = ? AND seq = ?");
      setTime.run(new Date(Date.now() - 7 * day).toISOString(), room.id, 1);
      setTime.run(new Date(Date.now() - 7 * day).toISOString(), room.id, 2);
      setTime.run(new Date(Date.now() - day).toISOString(), room.id, 3);
      db.close();

      const context = await browser.newContext({ timezoneId: "UTC", viewport: { width: 1280, height: 900 } });
      const page = await openAs(context, base, alice, `/rooms/${room.id}`);
      await connected(page);
      assert.equal(
        await page.textContent("#room-start"),
        "This is the start of # reading.Long reads",
      );
      const days = await page.$$eval("#messages .day-separator", (els) => els.map((e) => e.textContent));
      assert.equal(days.length, 3);
      assert.match(days[0]!, /^[A-Z][a-z]+day, [A-Z][a-z]+ \d{1,2}, \d{4}$/);
      assert.deepEqual(days.slice(1), ["Yesterday", "Today"]);
      // Alice's three messages in a row share one name and avatar; bob's two as well.
      const heads = await page.$$eval(
        "#messages li.msg:not(.is-system)",
        (els) =>
          els.map((e) => e.classList.contains("continued") ? "+" : e.querySelector(".msg-user")?.textContent),
      );
      assert.deepEqual(heads, [alice.username, bob.username, alice.username, "+", "+", bob.username, "+"]);
      assert.equal(await page.textContent("#messages .msg-text strong"), "bold");
      assert.equal(await page.textContent("#messages .msg-text em"), "italic");
      assert.equal(await page.textContent("#messages s, #messages del"), "gone");
      assert.equal(await page.textContent("#messages pre code"), "const answer = 42;\n");
      assert.equal(await page.textContent("#messages blockquote"), "a quote");
      assert.deepEqual(await page.$$eval("#messages ul li", (els) => els.map((e) => e.textContent)), [
        "one",
        "two",
      ]);
      assert.match(await page.textContent("#messages li[data-seq='4'] .msg-text") ?? "", /🎉$/);
      const hebrew = page.locator("#messages .msg-text p", { hasText: "שלום" });
      assert.equal(await hebrew.evaluate((p) => getComputedStyle(p).direction), "rtl");
      const time = page.locator(`#messages li[data-seq='3'] .msg-meta time`);
      assert.match(await time.getAttribute("title") ?? "", /^[A-Z][a-z]+day, .* at \d\d:\d\d:\d\d$/);
      // A long message starts collapsed.
      const long = page.locator("#messages li[data-seq='8']");
      assert.equal(await long.locator(".msg-body.collapsed").count(), 1);
      await shot(page, "app-messages");
      await long.locator("button.show-more").click();
      assert.equal(await long.locator(".msg-body.collapsed").count(), 0);

      // Scrolled up, new messages wait below behind a button.
      await page.$eval("#messages", (list) => list.scrollTop = 0);
      await post(base, bob, room.id, "while you were reading");
      await page.waitForSelector("#jump-new");
      assert.equal(await page.textContent("#jump-new"), "1 new message ↓");
      await shot(page, "app-jump-new");
      await page.click("#jump-new");
      await page.waitForSelector("#jump-new", { state: "detached" });
      assert.equal(
        await page.$eval("#messages", (list) => list.scrollHeight - list.scrollTop - list.clientHeight < 40),
        true,
      );
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("connection: a banner after 2 s without the server, with Retry now; the page is back when the server is", () =>
  withBrowser(async (browser, dir) => {
    const env = { DATABASE_URL: `sqlite:${dir}/chat.db` };
    let server = await spawnServer(env);
    const port = String(server.port);
    try {
      const alice = await newUser(server.url, "alice");
      const room = await createRoom(server.url, alice, { name: "steady" });
      const context = await browser.newContext();
      const page = await openAs(context, server.url, alice, `/rooms/${room.id}`);
      await connected(page);
      assert.equal(await page.$("#offline-banner"), null);

      await server.stop("SIGKILL");
      await page.waitForSelector('#connection-status:not([data-status="connected"])');
      await page.waitForSelector("#offline-banner");
      assert.equal(
        await page.textContent("#offline-banner span"),
        "Cannot reach the server. Messages you send are kept and go out when the connection is back.",
      );
      await shot(page, "app-offline-banner");
      await page.click("#retry-now"); // Nothing answers yet: the page keeps trying.
      await page.waitForSelector("#offline-banner");

      server = await spawnServer({ ...env, PORT: port });
      const answering = performance.now();
      await page.click("#retry-now").catch(() => {}); // The banner may be gone already.
      await connected(page);
      const reconnectMs = Math.round(performance.now() - answering);
      await page.waitForSelector("#offline-banner", { state: "detached" });
      await record({ reconnect_after_restart_ms: reconnectMs });

      // Without Retry now, the capped backoff brings it back too (recorded, not asserted: a timing).
      await server.stop("SIGKILL");
      await page.waitForSelector("#offline-banner");
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      server = await spawnServer({ ...env, PORT: port });
      const back = performance.now();
      await connected(page);
      await record({ reconnect_by_backoff_ms: Math.round(performance.now() - back) });
      await context.close();
    } finally {
      await server.stop();
    }
  }));

/** Adds `values` to test-output/budgets.json (what the budgets test and others measured). */
async function record(values: Record<string, unknown>): Promise<void> {
  const file = new URL("../test-output/budgets.json", import.meta.url);
  await Deno.mkdir(new URL(".", file), { recursive: true });
  let known: Record<string, unknown> = {};
  try {
    known = JSON.parse(await Deno.readTextFile(file));
  } catch {
    // First record.
  }
  await Deno.writeTextFile(file, JSON.stringify({ ...known, ...values }, null, 2));
}

/** Signs up `username` (with a display name) through the API, for screenshots that read naturally. */
async function person(base: string, username: string, displayName: string): Promise<TestUser> {
  const email = `${username}@example.com`;
  const password = "correct horse battery";
  const reg = await call(base, "POST", "/api/auth/register", { body: { username, email, password } });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const login = await call(base, "POST", "/api/auth/login", { body: { username, password } });
  await call(base, "PATCH", "/api/users/me", {
    token: login.body.token,
    body: { display_name: displayName },
  });
  return { id: reg.body.id, username, email, token: login.body.token };
}

/** A small team's chat for the screenshots and the accessibility checks. */
async function team(base: string) {
  const alice = await person(base, "alice", "Alice Chen");
  const bob = await person(base, "bob", "Bob Martin");
  const carol = await person(base, "carol", "Carol Diaz");
  const general = await createRoom(base, alice, {
    name: "general",
    description: "Company-wide news and chat",
  });
  const design = await createRoom(base, alice, { name: "design", is_private: true });
  const outside = await createRoom(base, carol, { name: "gardening", description: "Tomatoes and more" });
  for (const u of [bob, carol]) await call(base, "POST", `/api/rooms/${general.id}/join`, { token: u.token });
  await call(base, "POST", `/api/rooms/${design.id}/members`, {
    token: alice.token,
    body: { username: bob.username },
  });
  await post(base, bob, general.id, "Morning all :wave: the **release** is out.");
  await post(base, bob, general.id, "Notes: https://example.com/notes");
  await post(base, carol, general.id, "Nice! Deploy with\n```sh\ndeno task build && deno task start\n```");
  await post(base, alice, general.id, "Thanks both :tada:\n- docs updated\n- ~~old flag~~ removed");
  await post(base, bob, design.id, "New icons are in `static/icons`.");
  const dm = await call(base, "POST", "/api/dms", { token: carol.token, body: { user_id: alice.id } });
  await post(base, carol, dm.body.id, "Lunch at 12?");
  return { alice, bob, carol, general, design, outside, dm: dm.body as { id: string } };
}

Deno.test("every page in light and dark passes axe (0 serious or critical), also with a failed message; README screenshots", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const t = await team(base);
      for (const colorScheme of ["light", "dark"] as const) {
        const guest = await browser.newContext({ colorScheme });
        const home = await guest.newPage();
        await home.goto(base + "/");
        await checkA11y(home, `home-${colorScheme}`);
        await home.fill("#signup-username", "x");
        await home.click("#signup-form button[type=submit]");
        await home.waitForSelector("#signup-form [aria-invalid=true]");
        await checkA11y(home, `home-errors-${colorScheme}`);
        await guest.close();

        const context = await browser.newContext({ colorScheme, viewport: { width: 1280, height: 800 } });
        const sockets = await socketSwitch(context);
        const page = await openAs(context, base, t.alice, `/rooms/${t.general.id}`);
        await connected(page);
        await page.waitForSelector("#messages .msg-text >> text=docs updated");
        await shot(page, `readme-desktop-${colorScheme}`);
        await checkA11y(page, `room-${colorScheme}`);
        // A message refused while a draft is in the box stays on screen with Edit and Discard.
        sockets.hold();
        await typeDraft(page, "bad\u0000text");
        await page.press("#composer-input", "Enter");
        await typeDraft(page, "draft");
        sockets.open();
        await page.waitForSelector('#messages li[data-state="failed"]');
        await checkA11y(page, `room-failed-${colorScheme}`);
        await page.click('#messages li[data-state="failed"] button.discard');
        await page.click(`#sidebar a[data-room-id="${t.dm.id}"]`);
        await page.waitForSelector("#messages .msg-text >> text=Lunch at 12?");
        await page.click(".emoji-picker-toggle");
        await page.waitForSelector(".emoji-picker-grid button");
        await checkA11y(page, `dm-picker-${colorScheme}`);
        await page.keyboard.press("Escape");
        for (
          const [name, path] of [
            ["browse", "/rooms"],
            ["preview", `/rooms/${t.outside.id}`],
            ["missing", "/rooms/0123456789abcdef01234567"],
            ["profile", "/profile"],
          ]
        ) {
          await page.goto(base + path);
          await checkA11y(page, `${name}-${colorScheme}`);
        }
        await context.close();
      }
    } finally {
      await server.stop();
    }
  }));

Deno.test("at phone width the sidebar and the details are drawers; switching from the drawer closes it", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const t = await team(base);
      const context = await browser.newContext({
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
      });
      const page = await openAs(context, base, t.alice, `/rooms/${t.general.id}`);
      await connected(page);
      const watch = await watchPage(page);
      assert.equal(await page.isVisible("#sidebar"), false);
      assert.equal(await page.isVisible("#details"), false);
      await page.waitForSelector("#messages .msg-text >> text=docs updated");
      await shot(page, "readme-phone");

      await page.click(".room-head .drawer-toggle");
      await page.waitForSelector("#sidebar", { state: "visible" });
      assert.equal(await page.getAttribute(".room-head .drawer-toggle", "aria-expanded"), "true");
      await page.waitForTimeout(200); // The drawer's slide, for the screenshot.
      await shot(page, "app-phone-sidebar");
      await checkA11y(page, "phone-sidebar");
      await page.click(`#sidebar a[data-room-id="${t.dm.id}"]`);
      await page.waitForSelector("#messages .msg-text >> text=Lunch at 12?");
      await page.waitForSelector("#sidebar", { state: "hidden" });

      await page.click("#details-toggle");
      await page.waitForSelector("#details", { state: "visible" });
      await page.waitForTimeout(200);
      await shot(page, "app-phone-details");
      await checkA11y(page, "phone-details");
      await page.keyboard.press("Escape");
      await page.waitForSelector("#details", { state: "hidden" });
      // Or a tap beside the drawer.
      await page.click(".room-head .drawer-toggle");
      await page.waitForSelector("#sidebar", { state: "visible" });
      await page.click(".scrim", { position: { x: 370, y: 400 } });
      await page.waitForSelector("#sidebar", { state: "hidden" });
      assert.equal(await watch.sameDocument(), true);
      assert.equal(watch.sockets(), 0);
      await context.close();
    } finally {
      await server.stop();
    }
  }));

Deno.test("the sidebar's + makes a room or starts a conversation in place: no page load, no new socket", () =>
  withBrowser(async (browser, dir) => {
    const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
    try {
      const base = server.url;
      const t = await team(base);
      const context = await browser.newContext();
      const page = await openAs(context, base, t.alice, `/rooms/${t.general.id}`);
      await connected(page);
      const watch = await watchPage(page);

      await page.click('#sidebar a[aria-label="Create a room"]');
      await page.waitForSelector("#new-room[open]");
      assert.equal(await page.evaluate(() => document.activeElement?.id), "new-room-name");
      await page.fill("#new-room-name", "General");
      await page.click("#new-room-form button[type=submit]");
      await page.waitForSelector("#new-room-error");
      assert.equal(await page.textContent("#new-room-error"), 'A room named "General" already exists');
      await checkA11y(page, "new-room-dialog");
      await shot(page, "app-new-room-dialog");
      await page.fill("#new-room-name", "Launch");
      await page.check("#new-room-private");
      await page.click("#new-room-form button[type=submit]");
      await page.waitForSelector('.room-title h1:has-text("# Launch")');
      assert.equal(await page.$eval("#new-room", (d) => (d as HTMLDialogElement).open), false);
      assert.match(page.url(), /\/rooms\/[0-9a-f]{24}$/);
      assert.deepEqual(await sidebar(page), ["design: 2", "general: 0", "Launch: 0", "carol: 1"]);

      await page.click('#sidebar a[aria-label="Start a direct message"]');
      await page.waitForSelector("#new-direct[open]");
      await page.fill("#new-direct-search", "martin");
      await page.waitForSelector(`#new-direct-results button[aria-label="Message bob"]`);
      await checkA11y(page, "new-direct-dialog");
      await shot(page, "app-new-direct-dialog");
      await page.click(`#new-direct-results button[aria-label="Message bob"]`);
      await page.waitForSelector('.room-title h1:has-text("bob")');
      assert.deepEqual(await sidebar(page), ["design: 2", "general: 0", "Launch: 0", "bob: 0", "carol: 1"]);
      assert.equal(await watch.sameDocument(), true, "no page load");
      assert.equal(watch.sockets(), 0, "no new socket");
      await context.close();
    } finally {
      await server.stop();
    }
  }));

/**
 * The installable app against the real server process: compressed responses, the web app manifest and its
 * icons, the service worker (app shell cache, offline page), and the light and dark themes in Debian's Chromium
 * driven by playwright-core, each checked with axe-core. Screenshots and axe results go to test-output/.
 */
import assert from "node:assert/strict";
import { get, type IncomingHttpHeaders } from "node:http";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { checkA11y } from "./helpers/axe.ts";
import { launch, shot } from "./helpers/browser.ts";
import { type ServerProcess, spawnServer } from "./helpers/process.ts";
import { createRoom, newUser } from "./helpers/server.ts";

/** The page background (`--bg`) of each theme, as getComputedStyle reports it. */
const BACKGROUND = { light: "rgb(245, 246, 248)", dark: "rgb(21, 23, 26)" };
/** The top bar's colour (`--topbar-bg`), which the `theme-color` metas follow. */
const TOPBAR = { light: "rgb(36, 86, 201)", dark: "rgb(31, 45, 77)" };
/** What the service worker keeps from install on. */
const SHELL = [
  "/offline.html",
  "/styles.css",
  "/theme.js",
  "/app.js",
  "/favicon.svg",
  "/manifest.webmanifest",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
];
const SHELL_CACHE = "chat-shell-v1";

async function withServer(fn: (server: ServerProcess) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-pwa-" });
  const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
  try {
    await fn(server);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

async function withBrowser(fn: (browser: Browser, server: ServerProcess) => Promise<void>): Promise<void> {
  await withServer(async (server) => {
    const browser = await launch();
    try {
      await fn(browser, server);
    } finally {
      await browser.close();
    }
  });
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as sent, still encoded. */
  body: Uint8Array;
}

/** A GET with exactly `headers` (node:http adds no Accept-Encoding and decodes nothing). */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      res.on("end", () => {
        const body = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0));
        let offset = 0;
        for (const chunk of chunks) {
          body.set(chunk, offset);
          offset += chunk.length;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on("error", reject);
    }).on("error", reject);
  });
}

function decoded({ headers, body }: RawResponse): string {
  const encoding = headers["content-encoding"];
  const bytes = encoding === "br"
    ? brotliDecompressSync(body)
    : encoding === "gzip"
    ? gunzipSync(body)
    : encoding === undefined
    ? body
    : assert.fail(`unexpected content-encoding ${encoding}`);
  return new TextDecoder().decode(bytes);
}

/** The URLs of the client runtime and the chat island's bundle, from a room page. */
async function bundleUrls(server: ServerProcess): Promise<string[]> {
  const user = await newUser(server.url, "bundles");
  const room = await createRoom(server.url, user, { name: "Bundles" });
  const page = await fetch(`${server.url}/rooms/${room.id}`, {
    headers: { authorization: `Bearer ${user.token}` },
  });
  assert.equal(page.status, 200);
  const html = await page.text();
  const client = html.match(/<script type="module" src="(\/_fresh\/js\/[0-9a-f]+\/client\.js)"/)?.[1];
  const island = html.match(/data-island-src="(\/_fresh\/js\/[0-9a-f]+\/island-ChatApp\.js)"/)?.[1];
  assert.ok(client, "the room page loads the client runtime");
  assert.ok(island, "the room page loads the ChatApp island");
  return [client, island];
}

/** The width and height in a PNG's IHDR chunk. */
function pngSize(bytes: Uint8Array): [number, number] {
  assert.deepEqual(
    [...bytes.slice(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    "a PNG signature",
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [view.getUint32(16), view.getUint32(20)];
}

Deno.test("pages, styles and island bundles are compressed when the request accepts it, and only then", () =>
  withServer(async (server) => {
    const paths = ["/", "/styles.css", "/app.js", ...await bundleUrls(server)];
    for (const path of paths) {
      const url = server.url + path;
      const plain = await rawGet(url);
      assert.equal(plain.status, 200, path);
      assert.equal(plain.headers["content-encoding"], undefined, `${path} unencoded without Accept-Encoding`);
      const text = decoded(plain);

      const br = await rawGet(url, { "accept-encoding": "gzip, br" });
      assert.equal(br.headers["content-encoding"], "br", path);
      assert.match(String(br.headers.vary), /accept-encoding/i, path);
      assert.ok(br.body.length < plain.body.length, `${path}: ${br.body.length} < ${plain.body.length}`);
      assert.equal(decoded(br), text, `${path} decodes to the same body`);

      const gzip = await rawGet(url, { "accept-encoding": "gzip" });
      assert.equal(gzip.headers["content-encoding"], "gzip", path);
      assert.equal(decoded(gzip), text, `${path} decodes to the same body`);

      const identity = await rawGet(url, { "accept-encoding": "identity" });
      assert.equal(identity.headers["content-encoding"], undefined, path);
      assert.equal(decoded(identity), text, path);
    }
    // Compressing weakens the ETag; revalidating with it still gives a 304.
    const css = await rawGet(server.url + "/styles.css", { "accept-encoding": "br" });
    const etag = String(css.headers.etag);
    assert.match(etag, /^W\/"[0-9a-f]{32}"$/);
    const revalidated = await rawGet(server.url + "/styles.css", {
      "accept-encoding": "br",
      "if-none-match": etag,
    });
    assert.equal(revalidated.status, 304);
    // Production bundles are minified: no indented lines.
    for (const path of paths.filter((p) => p.startsWith("/_fresh/js/"))) {
      assert.doesNotMatch(decoded(await rawGet(server.url + path)), /\n\s+\S/, `${path} is minified`);
    }
    // Images are already compressed: sent as they are.
    const png = await rawGet(server.url + "/icons/icon-512.png", { "accept-encoding": "gzip, br" });
    assert.equal(png.status, 200);
    assert.equal(png.headers["content-encoding"], undefined);
  }));

Deno.test("the manifest is valid JSON whose icons exist, and the pages link it, the theme and the app scripts", () =>
  withServer(async (server) => {
    const res = await fetch(server.url + "/manifest.webmanifest");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/manifest+json; charset=utf-8");
    const manifest = await res.json();
    assert.equal(manifest.name, "Chat");
    assert.equal(manifest.short_name, "Chat");
    assert.equal(manifest.start_url, "/rooms");
    assert.equal(manifest.display, "standalone");
    assert.match(manifest.theme_color, /^#[0-9a-f]{6}$/);
    assert.match(manifest.background_color, /^#[0-9a-f]{6}$/);
    const icons = manifest.icons as { src: string; sizes: string; type: string; purpose: string }[];
    assert.deepEqual(
      icons.map(({ sizes, type, purpose }) => `${purpose} ${sizes} ${type}`),
      [
        "any any image/svg+xml",
        "any 192x192 image/png",
        "any 512x512 image/png",
        "maskable 192x192 image/png",
        "maskable 512x512 image/png",
      ],
    );
    for (const icon of icons) {
      const file = await fetch(server.url + icon.src);
      assert.equal(file.status, 200, icon.src);
      assert.equal(file.headers.get("content-type"), icon.type, icon.src);
      const bytes = new Uint8Array(await file.arrayBuffer());
      if (icon.type === "image/png") assert.equal(pngSize(bytes).join("x"), icon.sizes, icon.src);
    }

    const sw = await fetch(server.url + "/sw.js");
    assert.equal(sw.status, 200);
    assert.equal(sw.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(sw.headers.get("cache-control"), "no-cache");
    assert.equal(await sw.text(), await Deno.readTextFile(new URL("../static/sw.js", import.meta.url)));
    const offline = await fetch(server.url + "/offline.html");
    assert.equal(offline.status, 200);
    assert.equal(offline.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(await offline.text(), /<h1>You are offline<\/h1>/);

    const head = (await (await fetch(server.url + "/")).text()).match(/<head>.*<\/head>/s)?.[0] ?? "";
    for (
      const tag of [
        '<script src="/theme.js"></script>',
        '<script src="/app.js" defer></script>',
        '<link rel="manifest" href="/manifest.webmanifest"/>',
        '<meta name="theme-color" content="#2456c9" media="(prefers-color-scheme: light)"/>',
        '<meta name="theme-color" content="#1f2d4d" media="(prefers-color-scheme: dark)"/>',
      ]
    ) assert.ok(head.includes(tag), `the head has ${tag}`);
    assert.ok(
      head.indexOf("/theme.js") < head.indexOf("/styles.css"),
      "the theme is set before styles apply",
    );
  }));

/** What decides the theme on `page` and what it shows. */
function themeOf(page: Page) {
  return page.evaluate(() => ({
    background: getComputedStyle(document.documentElement).backgroundColor,
    dataTheme: document.documentElement.dataset.theme ?? null,
    stored: localStorage.getItem("theme"),
    pressed: document.getElementById("theme-toggle")?.getAttribute("aria-pressed") ?? null,
    themeColors: [...document.querySelectorAll<HTMLMetaElement>('meta[name="theme-color"]')].map((m) =>
      m.content
    ),
  }));
}

/** Signs up through the home page form; lands on /rooms. */
async function signUp(page: Page, base: string, username: string): Promise<void> {
  await page.goto(base + "/");
  await page.fill("#signup-username", username);
  await page.fill("#signup-email", `${username}@example.com`);
  await page.fill("#signup-password", "correct horse battery");
  await Promise.all([page.waitForURL(`${base}/rooms`), page.click("#signup-form button[type=submit]")]);
}

Deno.test("light and dark: the system's choice, the toggle kept across reloads, and no serious axe violation", () =>
  withBrowser(async (browser, server) => {
    const base = server.url;
    for (const scheme of ["light", "dark"] as const) {
      const other = scheme === "light" ? "dark" : "light";
      const context = await browser.newContext({ colorScheme: scheme });
      const page = await context.newPage();
      const system = {
        background: BACKGROUND[scheme],
        dataTheme: null,
        stored: null,
        pressed: `${scheme === "dark"}`,
        themeColors: [TOPBAR[scheme], TOPBAR[scheme]],
      };

      await page.goto(base + "/");
      assert.ok(await page.isVisible("#theme-toggle"), "the toggle shows once app.js runs");
      assert.equal(await page.getAttribute("#theme-toggle", "aria-pressed"), `${scheme === "dark"}`);
      assert.equal(await page.textContent("#theme-toggle"), "Dark mode");
      assert.deepEqual(await themeOf(page), system);
      await checkA11y(page, `home-${scheme}`);
      await shot(page, `theme-home-${scheme}`);

      await signUp(page, base, `theme_${scheme}`);
      assert.deepEqual(await themeOf(page), system);
      await checkA11y(page, `rooms-${scheme}`);
      await shot(page, `theme-rooms-${scheme}`);

      await page.fill("#room-name", `Palette ${scheme}`);
      await Promise.all([
        page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
        page.click("#create-room-form button[type=submit]"),
      ]);
      await page.waitForSelector('#connection-status[data-status="connected"]');
      await page.fill("#composer-input", "Colours **check**");
      await page.press("#composer-input", "Enter");
      await page.waitForSelector("#messages li[data-seq] >> text=Colours");
      assert.deepEqual(await themeOf(page), system);
      await checkA11y(page, `room-${scheme}`);
      await shot(page, `theme-room-${scheme}`);

      // The toggle picks the other theme; the choice is kept for this browser and survives a reload.
      const chosen = {
        background: BACKGROUND[other],
        dataTheme: other,
        stored: other,
        pressed: `${other === "dark"}`,
        themeColors: [TOPBAR[other], TOPBAR[other]],
      };
      await page.goto(base + "/rooms");
      await page.click("#theme-toggle");
      assert.deepEqual(await themeOf(page), chosen);
      await page.reload();
      assert.deepEqual(await themeOf(page), chosen);
      await checkA11y(page, `rooms-${other}-chosen`);
      await shot(page, `theme-rooms-${other}-chosen`);

      // Choosing the system's theme again forgets the choice: the page follows the system.
      await page.click("#theme-toggle");
      assert.deepEqual(await themeOf(page), system);
      await page.reload();
      assert.deepEqual(await themeOf(page), system);
      await context.close();
    }

    // Without JavaScript the system's choice still applies, and the toggle, which would do nothing, is hidden.
    const noScript = await browser.newContext({ colorScheme: "dark", javaScriptEnabled: false });
    const page = await noScript.newPage();
    await page.goto(base + "/");
    assert.equal(await page.isVisible("#theme-toggle"), false);
    assert.equal(
      await page.$eval("html", (html) => getComputedStyle(html).backgroundColor),
      BACKGROUND.dark,
    );
    await noScript.close();
  }));

/** Every cache of the page's origin and the paths it holds, in order. */
function cached(page: Page): Promise<Record<string, string[]>> {
  return page.evaluate(async () => {
    const all: Record<string, string[]> = {};
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      all[name] = (await cache.keys()).map((request) => new URL(request.url).pathname).sort();
    }
    return all;
  });
}

/** Resolves once a service worker controls `page`. */
function controlled(page: Page): Promise<void> {
  return page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (navigator.serviceWorker.controller) return;
    await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve));
  });
}

/** The status of a GET from the page (through its service worker), or the error's name when it fails. */
function statusOf(page: Page, path: string): Promise<number | string> {
  return page.evaluate((url) => fetch(url).then((res) => res.status, (error) => error.name), path);
}

Deno.test("the service worker keeps the shell, never the API, and shows the offline page without a network", () =>
  withBrowser(async (browser, server) => {
    const base = server.url;
    const context: BrowserContext = await browser.newContext();
    const page = await context.newPage();
    // A cache left by an older worker (offline.html registers no worker, so nothing races this).
    await page.goto(base + "/offline.html");
    await page.evaluate(async () => {
      const old = await caches.open("chat-shell-v0");
      await old.put("/styles.css", new Response("old"));
    });

    await signUp(page, base, "offline_ada");
    await controlled(page);
    // The rooms page runs the app's bundles; they are cached as they load, next to the shell.
    const installed = await cached(page);
    assert.deepEqual(Object.keys(installed), [SHELL_CACHE], "installing replaced v0");
    assert.deepEqual(
      installed[SHELL_CACHE].filter((path) => !path.startsWith("/_fresh/js/")),
      [...SHELL].sort(),
    );

    await page.fill("#room-name", "Offline");
    await Promise.all([
      page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
      page.click("#create-room-form button[type=submit]"),
    ]);
    await page.waitForSelector('#connection-status[data-status="connected"]');
    const roomUrl = page.url();
    assert.equal(await statusOf(page, "/api/health"), 200);
    assert.equal(await statusOf(page, "/metrics"), 200);
    const bundles = await page.$$eval(
      "script[src^='/_fresh/js/'], [data-island-src]",
      (els) => els.map((el) => el.getAttribute("src") ?? el.getAttribute("data-island-src")!),
    );
    assert.equal(bundles.length, 2, "the client runtime and the ChatApp island");
    const kept = (await cached(page))[SHELL_CACHE];
    for (const path of [...SHELL, ...bundles]) assert.ok(kept.includes(path), `${path} is cached`);
    assert.deepEqual(
      kept.filter((path) => !SHELL.includes(path) && !path.startsWith("/_fresh/js/")),
      [],
      "no page, API call or metrics is cached",
    );

    // Offline: pages give the offline page, styled from the cache; the shell and bundles still load; the API
    // fails as it would without a worker.
    await context.setOffline(true);
    await page.reload();
    assert.equal(await page.textContent("h1"), "You are offline");
    assert.equal(await page.title(), "Offline · Chat");
    assert.equal(page.url(), roomUrl);
    assert.equal(
      await page.$eval("html", (html) => getComputedStyle(html).backgroundColor),
      BACKGROUND.light,
    );
    await shot(page, "theme-offline-light");
    for (const path of ["/styles.css", ...bundles]) assert.equal(await statusOf(page, path), 200, path);
    assert.equal(await statusOf(page, "/api/health"), "TypeError");
    assert.equal(await statusOf(page, "/metrics"), "TypeError");
    await page.goto(base + "/rooms");
    assert.equal(await page.textContent("h1"), "You are offline");
    // Opening the API or the metrics is no page: the browser's own network error, not the offline page.
    for (const path of ["/api/health", "/metrics"]) {
      await assert.rejects(page.goto(base + path), /ERR_INTERNET_DISCONNECTED/, path);
    }

    // Back online, pages come from the network again.
    await context.setOffline(false);
    await page.goto(base + "/rooms");
    assert.equal(await page.title(), "Browse rooms · Chat");
    await context.close();
  }));

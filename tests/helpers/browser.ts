/**
 * Browser test helpers: Debian's Chromium through playwright-core, people signing up through the home page,
 * waiting for the live socket, reading the message list, screenshots under test-output/, and a switch on the
 * page's WebSockets.
 */
import { type Browser, type BrowserContext, chromium, type Page, type WebSocketRoute } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const OUT = new URL("../../test-output/", import.meta.url).pathname;
/** How long a live message may take to show up in the other browser (the bar). */
export const LIVE_MS = 1_000;

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export async function shot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(OUT, { recursive: true });
  await page.screenshot({ path: `${OUT}${name}.png`, fullPage: true });
}

/** Signs up through the home page form; lands on /rooms. */
export async function signUp(context: BrowserContext, base: string, username: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(base + "/");
  await page.fill("#signup-username", username);
  await page.fill("#signup-email", `${username}@example.com`);
  await page.fill("#signup-password", "correct horse battery");
  await Promise.all([page.waitForURL(`${base}/rooms`), page.click("#signup-form button[type=submit]")]);
  return page;
}

export async function connected(page: Page): Promise<void> {
  await page.waitForSelector('#connection-status[data-status="connected"]', { timeout: 15_000 });
}

/** Clicks the room list's Join button for `roomName` and waits for the room page with a live socket. */
export async function joinFromList(page: Page, roomName: string): Promise<void> {
  await Promise.all([
    page.waitForURL(/\/rooms\/[0-9a-f]{24}$/),
    page.click(`button[aria-label="Join ${roomName}"]`),
  ]);
  await connected(page);
}

/** The text of every confirmed message, in order. */
export function texts(page: Page): Promise<string[]> {
  return page.$$eval(
    "#messages li[data-seq] .msg-text",
    (els) => els.map((e) => e.textContent ?? ""),
  );
}

export function seqs(page: Page): Promise<number[]> {
  return page.$$eval("#messages li[data-seq]", (els) => els.map((e) => Number(e.getAttribute("data-seq"))));
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs` naming `what`. */
export async function until(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends `text` from the composer. */
export async function send(page: Page, text: string): Promise<void> {
  await page.fill("#composer-input", text);
  await page.press("#composer-input", "Enter");
}

/** The text of every unconfirmed own message, in order. */
export function pendingTexts(page: Page): Promise<string[]> {
  return page.$$eval(
    '#messages li[data-state="sending"] .msg-text',
    (els) => els.map((e) => e.textContent ?? ""),
  );
}

/** The island's outbox in IndexedDB: every entry's content, oldest first. */
export function outboxContents(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    new Promise<string[]>((resolve, reject) => {
      const open = indexedDB.open("chat-outbox");
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        const all = db.transaction("messages").objectStore("messages").getAll();
        all.onerror = () => reject(all.error);
        all.onsuccess = () => {
          db.close();
          const entries = all.result as { content: string; created_at: string }[];
          resolve(entries.sort((a, b) => a.created_at.localeCompare(b.created_at)).map((e) => e.content));
        };
      };
    })
  );
}

/**
 * A switch on the context's WebSockets to /ws (Playwright routes them through itself): `open` passes frames
 * both ways; `mute` still delivers the page's frames to the server but drops every answer; `hold` keeps the
 * answers back until `open` delivers them, in order; `block` closes the sockets and refuses new ones. `context.setOffline()` cannot do this: it leaves open sockets alone, and a
 * reload needs the network.
 */
export async function socketSwitch(context: BrowserContext) {
  let mode: "open" | "mute" | "hold" | "block" = "open";
  const sockets = new Set<WebSocketRoute>();
  const held: { ws: WebSocketRoute; frame: string | Buffer }[] = [];
  await context.routeWebSocket(/\/ws(\?[^/]*)?$/, (ws) => {
    if (mode === "block") {
      ws.close({ code: 4000, reason: "blocked by the test" }).catch(() => {});
      return;
    }
    sockets.add(ws);
    const server = ws.connectToServer();
    server.onMessage((frame) => {
      if (mode === "open") ws.send(frame);
      else if (mode === "hold") held.push({ ws, frame });
    });
    server.onClose((code, reason) => {
      sockets.delete(ws);
      ws.close({ code, reason }).catch(() => {});
    });
  });
  return {
    open: () => {
      mode = "open";
      for (const { ws, frame } of held.splice(0)) ws.send(frame);
    },
    mute: () => void (mode = "mute"),
    hold: () => void (mode = "hold"),
    block: async () => {
      mode = "block";
      await Promise.all(
        [...sockets].map((ws) => ws.close({ code: 4000, reason: "blocked by the test" }).catch(() => {})),
      );
      sockets.clear();
    },
  };
}

export async function withBrowser(fn: (browser: Browser, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-e2e-" });
  const browser = await launch();
  try {
    await fn(browser, dir);
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true });
  }
}

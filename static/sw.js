/*
 * The service worker: keeps the app shell so the app opens, styled, without a network.
 * - Island bundles (`/_fresh/js/<build>/…`, immutable): cache first; storing one drops the other builds' bundles.
 * - The shell files below: network first (so a deploy shows at once), the cached copy when offline.
 * - Page navigations: network only; when the network fails, the offline page cached at install.
 * - Never cached or answered from the cache: the API (`/api/`), the socket (`/ws`), `/metrics`, anything but GET
 *   (form posts), and other origins.
 * Browsers install a new worker whenever this file changes (bump VERSION when the cached set or layout changes);
 * activating it deletes the caches of every other version.
 */
const VERSION = "1";
const PREFIX = "chat-shell-v";
const CACHE = PREFIX + VERSION;
const OFFLINE_PAGE = "/offline.html";
const BUNDLES = "/_fresh/js/";
const SHELL = [
  OFFLINE_PAGE,
  "/styles.css",
  "/theme.js",
  "/app.js",
  "/favicon.svg",
  "/manifest.webmanifest",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
];
/** The API, the socket and the metrics: always the network, never stored. */
const isLive = (path) => path.startsWith("/api/") || path === "/ws" || path === "/metrics";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => names.filter((name) => name.startsWith(PREFIX) && name !== CACHE))
      .then((old) => Promise.all(old.map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (isLive(url.pathname)) return;
  if (request.mode === "navigate") event.respondWith(navigation(request));
  else if (url.pathname.startsWith(BUNDLES)) event.respondWith(bundle(request, url));
  else if (SHELL.includes(url.pathname)) event.respondWith(shellFile(request));
});

/** The page from the network, or the offline page when there is no network. */
async function navigation(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const offline = await caches.match(OFFLINE_PAGE, { cacheName: CACHE });
    if (offline) return offline;
    throw error;
  }
}

/** An island bundle from the cache, else from the network (then cached, replacing other builds' bundles). */
async function bundle(request, url) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const build = url.pathname.slice(0, url.pathname.indexOf("/", BUNDLES.length) + 1);
    await cache.put(request, response.clone());
    for (const old of await cache.keys()) {
      const path = new URL(old.url).pathname;
      if (path.startsWith(BUNDLES) && !path.startsWith(build)) await cache.delete(old);
    }
  }
  return response;
}

/** A shell file from the network (refreshing the cached copy), or the cached copy when offline. */
async function shellFile(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

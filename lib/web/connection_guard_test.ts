import assert from "node:assert/strict";
import { type LogFields, Logger } from "../log.ts";
import {
  addressKey,
  type ConnectionGuardOptions,
  type GuardedServer,
  type GuardHandler,
  holdConnection,
  serveGuarded,
} from "./connection_guard.ts";

function recorder() {
  const entries: { message: string; fields: LogFields }[] = [];
  const log = new Logger("debug", (_level, message, fields) => entries.push({ message, fields }));
  return { log, entries };
}

function serve(handler: GuardHandler, options: Partial<ConnectionGuardOptions> = {}): GuardedServer {
  return serveGuarded({
    hostname: "127.0.0.1",
    port: 0,
    maxHttpConnections: 2,
    maxPerIp: 0,
    trustProxy: false,
    headerTimeoutMs: 10_000,
    idleTimeoutMs: 10_000,
    log: recorder().log,
    ...options,
  }, handler);
}

/** A raw connection: sends `request` and collects everything until the server closes or `until` matches. */
async function exchange(port: number, request: string, until?: RegExp): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buffer = new Uint8Array(4096);
    while (until === undefined || !until.test(text)) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

const get = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

Deno.test("addressKey() counts IPv4 as it is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64", async (t) => {
  const cases: [string, string][] = [
    ["127.0.0.2", "127.0.0.2"],
    ["::ffff:203.0.113.9", "203.0.113.9"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::7", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002:ffff::1", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["unknown", "unknown"],
  ];
  for (const [address, key] of cases) {
    await t.step(address, () => assert.equal(addressKey(address), key));
  }
});

Deno.test("with every place busy, a connection in the health reserve gets the health path only, then is closed", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const server = serve(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/slow") await release;
    return new Response(`answer to ${path}`);
  }, { maxHttpConnections: 2, healthReserve: 1 });
  const port = server.addr.port;
  try {
    // Both places busy with a request in flight: nothing idle to make room with.
    const slow = [exchange(port, get("/slow"), /answer/), exchange(port, get("/slow"), /answer/)];
    await waitFor(() => server.stats().http === 2 && server.stats().idle === 0);
    const health = await exchange(port, get("/api/health"));
    assert.match(health, /^HTTP\/1\.1 200/);
    assert.match(health, /answer to \/api\/health$/, "the app's answer, then the connection is closed");
    const other = await exchange(port, get("/api/rooms"));
    assert.match(other, /^HTTP\/1\.1 503/);
    assert.match(other, /retry-after: 5/i);
    assert.match(other, /"code":"server_full"/);
    resolve();
    for (const text of await Promise.all(slow)) assert.match(text, /answer to \/slow/);
  } finally {
    resolve();
    await server.shutdown();
  }
});

Deno.test("shutdown closes idle connections at once, lets a request in flight finish, then settles", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const server = serve(async () => {
    await release;
    return new Response("done");
  }, { maxHttpConnections: 10 });
  const port = server.addr.port;
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  const busy = exchange(port, get("/"), /done/);
  await waitFor(() => server.stats().http === 2 && server.stats().idle === 1);
  const stopped = server.shutdown();
  assert.equal(await idle.read(new Uint8Array(10)).catch(() => null), null, "the idle one closed at once");
  idle.close();
  resolve();
  assert.match(await busy, /^HTTP\/1\.1 200[^]*done$/);
  await stopped;
  await server.finished;
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }), "no longer listening");
});

Deno.test("a WebSocket opens though the app answers with a copy of the 101, and holds its address's place", async () => {
  const server = serve((request, info) => {
    const held = holdConnection(info);
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(`echo ${event.data}`);
    socket.onclose = () => held.release();
    // As Hono does when a middleware sets a header after the handler.
    return held.upgraded(response) && new Response(null, response);
  }, { maxPerIp: 1 });
  const port = server.addr.port;
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    ws.send("hi");
    assert.equal(await new Promise((resolve) => ws.onmessage = (event) => resolve(event.data)), "echo hi");
    assert.equal(server.stats().held, 1);
    assert.equal(server.stats().http, 0, "a WebSocket is not an HTTP connection");
    // The socket holds the one place of 127.0.0.1: the next connection is closed at once.
    assert.equal(await exchange(port, get("/")), "");
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;
    await waitFor(() => server.stats().held === 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("holdConnection() outside the guard does nothing", () => {
  const held = holdConnection({ remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } });
  held.release();
  held.release();
  const response = new Response("x");
  assert.equal(held.upgraded(response), response);
  assert.doesNotThrow(() => holdConnection(undefined).release());
});

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("Timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * One open port against the real server process (main.ts): half-sent request headers are closed by the header
 * timeout, idle kept-alive connections by the keep-alive timeout (never a WebSocket), twice the connection cap
 * of them leaves `/api/health` answering, running out of files (EMFILE) is survived, and one address may hold
 * only MAX_CONNECTIONS_PER_IP connections while another still gets in. Clients come from chosen loopback
 * addresses (127.0.0.x) through `node:net`, which can bind a source address.
 */
import assert from "node:assert/strict";
import { createConnection, type Socket } from "node:net";
import { testDatabaseUrl } from "./helpers/database.ts";
import { type ServerProcess, spawnServer } from "./helpers/process.ts";
import { createRoom, newUser, type TestUser, waitUntil } from "./helpers/server.ts";
import { TestSocket } from "./helpers/socket.ts";

/** A raw TCP client that records what it receives and when the server ends the connection. */
class RawClient {
  text = "";
  /** Set when the connection is over (closed by either side). */
  closedAt: number | undefined;
  readonly openedAt = Date.now();
  readonly closed: Promise<void>;
  readonly #socket: Socket;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => this.text += chunk);
    socket.on("error", () => {}); // a reset ends the connection too; `close` follows
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.closedAt = Date.now();
        resolve();
      })
    );
  }

  /** Connects to 127.0.0.1:`port` from `from` (a loopback address); resolves once connected. */
  static open(port: number, from = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: "127.0.0.1", port, localAddress: from });
      const client = new RawClient(socket);
      socket.once("connect", () => resolve(client));
      socket.once("error", reject);
    });
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  send(text: string): void {
    this.#socket.write(text);
  }

  /** Sends a whole GET and waits for its whole answer (the connection stays open unless the server ends it). */
  async get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; head: string }> {
    const from = this.text.length;
    const lines = [
      `GET ${path} HTTP/1.1`,
      "Host: 127.0.0.1",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    this.send(lines.join("\r\n") + "\r\n\r\n");
    return await this.#response(from);
  }

  /** Sends a WebSocket upgrade for `path` and waits for the answer's head (and body, unless 101). */
  upgrade(path: string, headers: Record<string, string> = {}): Promise<{ status: number; head: string }> {
    const from = this.text.length;
    const lines = [
      `GET ${path} HTTP/1.1`,
      "Host: 127.0.0.1",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      `Sec-WebSocket-Key: ${btoa("0123456789abcdef")}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    this.send(lines.join("\r\n") + "\r\n\r\n");
    return this.#response(from);
  }

  async #response(from: number): Promise<{ status: number; head: string; body: string }> {
    await waitUntil(
      () => {
        const text = this.text.slice(from);
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) return this.isClosed;
        const head = text.slice(0, end);
        if (/^HTTP\/1\.1 101/.test(head)) return true;
        const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        return text.length - end - 4 >= length || this.isClosed;
      },
      "a whole response",
      10_000,
    );
    const text = this.text.slice(from);
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) throw new Error(`The connection ended without a response: ${JSON.stringify(text)}`);
    const head = text.slice(0, end);
    return { status: Number(head.split(" ")[1]), head, body: text.slice(end + 4) };
  }

  /** Closes from this side and waits until the socket is gone. */
  async close(): Promise<void> {
    this.#socket.destroy();
    await this.closed;
  }
}

async function closeAll(clients: Iterable<RawClient>): Promise<void> {
  await Promise.all([...clients].map((c) => c.close()));
}

/** `GET /api/health` on a connection of its own. */
async function health(port: number, from = "127.0.0.1"): Promise<number> {
  const client = await RawClient.open(port, from);
  try {
    return (await client.get("/api/health", { connection: "close" })).status;
  } finally {
    await client.close();
  }
}

/** A server process in a temp folder; `run` gets it; afterwards it must stop cleanly (exit code 0). */
async function withServer(
  env: Record<string, string>,
  run: (server: ServerProcess) => Promise<void>,
  options: { openFiles?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-connections-" });
  const server = await spawnServer(
    { DATABASE_URL: testDatabaseUrl(dir), HEARTBEAT_SECONDS: "300", ...env },
    options,
  );
  try {
    await run(server);
    assert.deepEqual(
      server.logs.filter((entry) => entry.level === "error" || "raw" in entry),
      [],
      "no errors",
    );
  } finally {
    const status = await server.stop();
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, "a clean shutdown, not a crash");
  }
}

const listening = (server: ServerProcess) => server.logs.find((entry) => entry.msg === "Listening")!;
const warnings = (server: ServerProcess, pattern: RegExp) =>
  server.logs.filter((entry) => entry.level === "warn" && pattern.test(String(entry.msg)));

const PARTIAL_HEADER = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";

Deno.test("a half-sent request header is closed by HEADER_TIMEOUT_SECONDS; a whole one is answered and kept", () =>
  withServer({ HEADER_TIMEOUT_SECONDS: "1", KEEPALIVE_TIMEOUT_SECONDS: "60" }, async (server) => {
    const kept = await RawClient.open(server.port);
    assert.equal((await kept.get("/api/health")).status, 200);
    const slow = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(server.port)));
    for (const client of slow) client.send(PARTIAL_HEADER);
    const silent = await RawClient.open(server.port); // connects and sends nothing at all
    const stalled = [...slow, silent];
    try {
      // Before the fix they were still open after 70 s; the bound here is generous, the timeout is 1 s.
      await waitUntil(
        () => stalled.every((c) => c.isClosed),
        "the server to close the stalled connections",
        10_000,
      );
      for (const client of stalled) {
        assert.equal(client.text, "", "closed without an answer");
        assert.ok(client.closedAt! - client.openedAt >= 900, "not before the timeout");
      }
      // Past the header timeout, the connection that sent a whole request is still open and serves another.
      assert.equal(kept.isClosed, false);
      assert.equal((await kept.get("/api/health")).status, 200);
    } finally {
      await closeAll([...stalled, kept]);
    }
  }));

Deno.test("an idle kept-alive connection is closed by KEEPALIVE_TIMEOUT_SECONDS, a WebSocket never; the API works", () =>
  withServer({ HEADER_TIMEOUT_SECONDS: "1", KEEPALIVE_TIMEOUT_SECONDS: "1" }, async (server) => {
    const user = await newUser(server.url);
    const room = await createRoom(server.url, user);
    const socket = await TestSocket.open(`ws://127.0.0.1:${server.port}/ws?token=${user.token}`);
    const client = await RawClient.open(server.port);
    try {
      assert.equal((await client.get("/api/health")).status, 200);
      await waitUntil(() => client.isClosed, "the server to close the idle connection", 10_000);
      // Both timeouts have passed for the socket's connection too: it still works both ways.
      await socket.sync();
      const res = await fetch(`${server.url}/api/rooms/${room.id}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
        body: JSON.stringify({ content: "after the timeouts" }),
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
      await socket.waitFor((f) => f.content === "after the timeouts", "the message on the socket");
    } finally {
      await socket.close();
      await client.close();
    }
  }));

Deno.test("2x the file limit of half-sent headers: the process lives, /api/health answers throughout", () =>
  withServer({ HEADER_TIMEOUT_SECONDS: "30", MAX_CONNECTIONS_PER_IP: "0" }, async (server) => {
    const attackers: RawClient[] = [];
    try {
      for (let wave = 0; wave < 6; wave++) {
        // 100 connections at once, each sending half a header and then nothing.
        const batch = await Promise.all(Array.from({ length: 100 }, () => RawClient.open(server.port)));
        for (const client of batch) client.send(PARTIAL_HEADER);
        attackers.push(...batch);
        assert.equal(await health(server.port), 200, `health after ${attackers.length} stalled connections`);
      }
      // The server holds at most its cap of them: each new one replaced the one that had waited longest.
      const cap = Number(listening(server).max_http_connections);
      assert.equal(cap, 16, "a quarter of the reserve of 300 files");
      await waitUntil(() => attackers.filter((c) => !c.isClosed).length <= cap, "the evictions to arrive");
      assert.ok(attackers.filter((c) => !c.isClosed).length >= cap - 2, "the newest ones are still served");
      assert.ok(attackers.every((c) => c.text === ""), "the stalled ones got no answer");
      assert.equal(warnings(server, /HTTP connections at the cap/).length, 1, "one warning for the burst");
      assert.equal(warnings(server, /Cannot accept/).length, 0, "never out of files");
    } finally {
      await closeAll(attackers);
    }
  }, { openFiles: 300 }));

Deno.test("out of files (caps above the limit): accept's EMFILE is logged once, the process lives and serves", () =>
  withServer(
    { MAX_HTTP_CONNECTIONS: "1000", MAX_CONNECTIONS_PER_IP: "0", HEADER_TIMEOUT_SECONDS: "30" },
    async (server) => {
      const attackers: RawClient[] = [];
      try {
        const batch = await Promise.all(Array.from({ length: 240 }, () => RawClient.open(server.port)));
        for (const client of batch) client.send(PARTIAL_HEADER);
        attackers.push(...batch);
        // More than the process has files for: accept() fails, and each failure frees the longest-idle one.
        await waitUntil(() => warnings(server, /Cannot accept/).length > 0, "accept to run out of files");
        assert.equal(await health(server.port), 200);
        const more = await Promise.all(Array.from({ length: 100 }, () => RawClient.open(server.port)));
        for (const client of more) client.send(PARTIAL_HEADER);
        attackers.push(...more);
        assert.equal(await health(server.port), 200);
        const failures = warnings(server, /Cannot accept/);
        assert.equal(failures.length, 1, "logged once for the burst");
        assert.equal(failures[0].code, "EMFILE");
      } finally {
        await closeAll(attackers);
      }
      // Files free again: everything works, the socket too.
      const user = await newUser(server.url);
      const socket = await TestSocket.open(`ws://127.0.0.1:${server.port}/ws?token=${user.token}`);
      await socket.sync();
      await socket.close();
    },
    { openFiles: 120 },
  ));

/** Opens WebSockets for `user` from `from`; each answered 101. */
async function sockets(port: number, user: TestUser, from: string, n: number): Promise<RawClient[]> {
  const opened: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const client = await RawClient.open(port, from);
    opened.push(client);
    assert.equal((await client.upgrade(`/ws?token=${user.token}`)).status, 101);
  }
  return opened;
}

/** Whether a connection from `from` is refused: closed by the server without an answer. */
async function refused(port: number, from: string): Promise<boolean> {
  const client = await RawClient.open(port, from);
  try {
    client.send("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await waitUntil(() => client.isClosed || client.text.includes("\r\n\r\n"), "an answer or a close");
    return client.isClosed && client.text === "";
  } finally {
    await client.close();
  }
}

Deno.test("MAX_CONNECTIONS_PER_IP: one address's next connection is closed at once, another's gets in", () =>
  withServer({ MAX_CONNECTIONS_PER_IP: "3" }, async (server) => {
    const user = await newUser(server.url);
    const held: RawClient[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const client = await RawClient.open(server.port, "127.0.0.2");
        held.push(client);
        assert.equal((await client.get("/api/health")).status, 200);
      }
      assert.equal(await refused(server.port, "127.0.0.2"), true, "the 4th from 127.0.0.2");
      assert.equal(await health(server.port, "127.0.0.3"), 200, "127.0.0.3 still gets in");
      assert.equal(warnings(server, /Too many connections from one address/).length, 1);

      // WebSockets count too, for as long as they are open.
      const ws = await sockets(server.port, user, "127.0.0.4", 3);
      held.push(...ws);
      assert.equal(await refused(server.port, "127.0.0.4"), true, "a 4th next to 3 WebSockets");
      await ws[0].close();
      await waitUntil(
        async () => !(await refused(server.port, "127.0.0.4")),
        "the closed socket's place back",
      );

      // A closed connection gives its place back.
      await held[0].close();
      await waitUntil(
        async () => await health(server.port, "127.0.0.2").catch(() => 0) === 200,
        "a place again",
      );
    } finally {
      await closeAll(held);
    }
  }));

Deno.test("behind a trusted proxy the cap counts per X-Forwarded-For client: its WebSockets and requests", () =>
  withServer({ MAX_CONNECTIONS_PER_IP: "2", TRUST_PROXY: "true" }, async (server) => {
    const user = await newUser(server.url);
    const held: RawClient[] = [];
    try {
      // The proxy's own address is not capped: many connections from it at once.
      for (let i = 0; i < 5; i++) {
        const client = await RawClient.open(server.port);
        held.push(client);
        assert.equal((await client.get("/api/health", { "x-forwarded-for": `198.51.100.${i}` })).status, 200);
      }
      const forwarded = { "x-forwarded-for": "203.0.113.9" };
      for (let i = 0; i < 2; i++) {
        const client = await RawClient.open(server.port);
        held.push(client);
        assert.equal((await client.upgrade(`/ws?token=${user.token}`, forwarded)).status, 101);
      }
      const third = await RawClient.open(server.port);
      held.push(third);
      const res = await third.upgrade(`/ws?token=${user.token}`, forwarded) as {
        status: number;
        head: string;
      };
      assert.equal(res.status, 429);
      assert.match(res.head, /^retry-after: 5$/im);
      assert.match(third.text, /"code":"too_many_connections"/);
      const other = await RawClient.open(server.port);
      held.push(other);
      const ok = await other.upgrade(`/ws?token=${user.token}`, { "x-forwarded-for": "203.0.113.10" });
      assert.equal(ok.status, 101, "another client still gets in");
    } finally {
      await closeAll(held);
    }
  }));

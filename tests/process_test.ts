/** The server as a real process: crash recovery, graceful shutdown, and the seed's usage examples verbatim. */
import assert from "node:assert/strict";
import { openTestStore, testDatabaseUrl } from "./helpers/database.ts";
import { spawnServer } from "./helpers/process.ts";
import { api, createRoom, newUser } from "./helpers/server.ts";
import { TestSocket } from "./helpers/socket.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-proc-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("history survives kill -9 and seq continues after the restart", () =>
  withDir(async (dir) => {
    const env = { DATABASE_URL: testDatabaseUrl(dir) };
    let server = await spawnServer(env);
    const user = await newUser(server.url, "crash");
    const room = await createRoom(server.url, user, { name: "durable" });
    const ws = await TestSocket.open(`ws://127.0.0.1:${server.port}/ws?token=${user.token}`);
    for (let i = 1; i <= 20; i++) {
      ws.send({ type: "message", room_id: room.id, content: `m${i}`, client_id: `c${i}` });
    }
    await ws.waitFor((f) => f.type === "ack" && f.client_id === "c20", "the 20th ack");
    assert.equal(
      ws.count((f) => f.type === "ack"),
      20,
    );

    const status = await server.stop("SIGKILL");
    assert.equal(status.signal, "SIGKILL");
    await ws.closed;

    server = await spawnServer(env);
    try {
      const history = await api(server.url, "GET", `/api/rooms/${room.id}/messages?limit=100`, {
        token: user.token,
      });
      assert.equal(history.status, 200, "the token (same JWT_SECRET) still works");
      assert.deepEqual(
        history.body.messages.map((m: { seq: number; content: string }) => [m.seq, m.content]),
        Array.from({ length: 20 }, (_, i) => [i + 1, `m${i + 1}`]),
      );
      const next = await api(server.url, "POST", `/api/rooms/${room.id}/messages`, {
        token: user.token,
        body: { content: "after the crash" },
      });
      assert.equal(next.body.seq, 21);
      const retry = await api(server.url, "POST", `/api/rooms/${room.id}/messages`, {
        token: user.token,
        body: { content: "m20", client_id: "c20" },
      });
      assert.deepEqual(
        [retry.status, retry.body.seq],
        [200, 20],
        "a retry after the crash is not stored twice",
      );
      const login = await api(server.url, "POST", "/api/auth/login", {
        body: { email: user.email, password: "correct horse battery" },
      });
      assert.equal(login.status, 200);
    } finally {
      await server.stop();
    }
  }));

Deno.test("SIGTERM closes sockets with 1001, keeps every acked message and exits 0", () =>
  withDir(async (dir) => {
    const server = await spawnServer({ DATABASE_URL: testDatabaseUrl(dir) });
    const user = await newUser(server.url, "term");
    const room = await createRoom(server.url, user);
    const sockets = await Promise.all(
      [1, 2].map(() => TestSocket.open(`ws://127.0.0.1:${server.port}/ws?token=${user.token}`)),
    );
    for (let i = 1; i <= 50; i++) {
      sockets[i % 2].send({ type: "message", room_id: room.id, content: `n${i}` });
    }
    await sockets[0].sync();
    await sockets[1].sync();
    const acked = sockets.flatMap((s) => s.frames.filter((f) => f.type === "ack").map((f) => f.id as string));
    assert.equal(acked.length, 50);

    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0);
    assert.deepEqual(await Promise.all(sockets.map(async (s) => (await s.closed).code)), [1001, 1001]);
    assert.ok(server.logs.some((l) => l.msg === "Stopped"));

    const store = await openTestStore(testDatabaseUrl(dir));
    try {
      const page = await store.messages.history(room.id, { limit: 100, offset: 0 });
      assert.deepEqual(page.messages.map((m) => m.id).sort(), acked.sort());
    } finally {
      await store.close();
    }
  }));

Deno.test("bad configuration stops the server at start with every problem named", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname],
    env: { JWT_SECRET: "short", PORT: "http", APP_ENV: "test" },
    stdout: "piped",
    stderr: "piped",
  });
  const { code, stdout } = await child.output();
  assert.equal(code, 2);
  const line = JSON.parse(new TextDecoder().decode(stdout).trim());
  assert.equal(line.msg, "Invalid configuration");
  assert.deepEqual(line.problems, [
    "JWT_SECRET must be at least 32 bytes long",
    'PORT must be an integer from 0 to 65535, got "http"',
  ]);
});

/** Runs curl with the seed's arguments and parses its JSON answer. */
async function curl(...args: string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await new Deno.Command("curl", { args: ["-sS", ...args] }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("the seed's usage examples 1-4 work verbatim with curl and the JavaScript client", () =>
  withDir(async (dir) => {
    const server = await spawnServer({ DATABASE_URL: testDatabaseUrl(dir) });
    // The examples use http://localhost:8080; only the port differs here.
    const base = `http://localhost:${server.port}`;
    try {
      // Example 1: registration and login.
      const user = await curl(
        "-X",
        "POST",
        `${base}/api/auth/register`,
        "-H",
        "Content-Type: application/json",
        "-d",
        `{
    "username": "alice",
    "email": "alice@example.com",
    "password": "SecurePass123!"
  }`,
      );
      assert.deepEqual(Object.keys(user).sort(), ["created_at", "email", "id", "username"]);
      assert.deepEqual([user.username, user.email], ["alice", "alice@example.com"]);
      const login = await curl(
        "-X",
        "POST",
        `${base}/api/auth/login`,
        "-H",
        "Content-Type: application/json",
        "-d",
        `{
    "email": "alice@example.com",
    "password": "SecurePass123!"
  }`,
      );
      assert.deepEqual(login.user, { id: user.id, username: "alice", email: "alice@example.com" });
      const token = login.token as string;
      assert.match(token, /^eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9\./, "an HS256 JWT like the seed's");

      // Example 2: create a room and list rooms.
      const room = await curl(
        "-X",
        "POST",
        `${base}/api/rooms`,
        "-H",
        "Content-Type: application/json",
        "-H",
        `Authorization: Bearer ${token}`,
        "-d",
        `{
    "name": "General Discussion",
    "description": "A place for general chat",
    "is_private": false
  }`,
      );
      for (const key of ["id", "name", "description", "creator_id", "members", "is_private", "created_at"]) {
        assert.ok(key in room, key);
      }
      assert.deepEqual([room.name, room.description, room.creator_id, room.members, room.is_private], [
        "General Discussion",
        "A place for general chat",
        user.id,
        [user.id],
        false,
      ]);
      const list = await curl(`${base}/api/rooms`, "-H", `Authorization: Bearer ${token}`);
      assert.deepEqual((list.rooms as { id: string }[]).map((r) => r.id), [room.id]);

      // Example 3: the JavaScript client, as in the seed (its arrow functions' parameters restored).
      const roomId = room.id as string;
      const ws = new WebSocket(`ws://localhost:${server.port}/ws?token=${token}&room_id=${roomId}`);
      const received: { username: string; content: string }[] = [];
      const { promise: got, resolve } = Promise.withResolvers<void>();
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "text") {
          received.push(message);
          resolve();
        }
      };
      await new Promise((open) => (ws.onopen = open));
      const sendMessage = (content: string) => {
        const message = { type: "message", room_id: roomId, content: content };
        ws.send(JSON.stringify(message));
      };
      sendMessage("Hello, everyone!");
      await got;
      assert.equal(`[${received[0].username}]: ${received[0].content}`, "[alice]: Hello, everyone!");
      const broadcast = received[0] as unknown as Record<string, unknown>;
      for (const key of ["id", "room_id", "user_id", "username", "content", "type", "timestamp"]) {
        assert.ok(key in broadcast, key);
      }
      assert.deepEqual([broadcast.room_id, broadcast.user_id, broadcast.type], [roomId, user.id, "text"]);
      const closed = new Promise((done) => (ws.onclose = done));
      ws.close();
      await closed;

      // Example 4: message history.
      const history = await curl(
        `${base}/api/rooms/${roomId}/messages?limit=50&offset=0`,
        "-H",
        `Authorization: Bearer ${token}`,
      );
      assert.deepEqual([history.total, history.offset, history.limit], [1, 0, 50]);
      assert.deepEqual(
        (history.messages as Record<string, unknown>[]).map((m) => [m.username, m.content, m.type]),
        [
          ["alice", "Hello, everyone!", "text"],
        ],
      );
    } finally {
      await server.stop();
    }
  }));

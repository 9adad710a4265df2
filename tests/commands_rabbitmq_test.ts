/**
 * Chat commands through a real RabbitMQ with the bot as its own process (`bot.ts`, what `deno task bot` runs)
 * and chat servers as real processes (`main.ts` with AMQP_URL), against a local fake quote server. Each test
 * uses its own AMQP_PREFIX, so its exchanges and queues are its own; they are deleted after.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ServerProcess, spawnServer } from "./helpers/process.ts";
import { type QuoteServer, startQuoteServer } from "./helpers/quote_server.ts";
import { amqpTestUrl, deleteTopology, randomPrefix, requireRabbitMq } from "./helpers/rabbitmq.ts";
import { startRedis } from "./helpers/redis.ts";
import { api, newUser, TEST_ENV, type TestUser } from "./helpers/server.ts";
import { type Frame, TestSocket } from "./helpers/socket.ts";

const BOT = new URL("../bot.ts", import.meta.url).pathname;

interface BotProcess {
  child: Deno.ChildProcess;
  /** Resolves once the bot logged "Bot ready". */
  ready: Promise<void>;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

function startBot(env: Record<string, string>): BotProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BOT],
    env: { LOG_LEVEL: "info", ...env },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { promise: ready, resolve, reject } = Promise.withResolvers<void>();
  (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      if (buffer.includes('"Bot ready"')) resolve();
    }
    reject(new Error(`The bot exited before it was ready: ${buffer}`));
  })();
  const timer = setTimeout(() => reject(new Error("The bot was not ready within 30 s")), 30_000);
  ready.finally(() => clearTimeout(timer)).catch(() => {});
  return {
    child,
    ready,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      return await child.status;
    },
  };
}

interface Setup {
  quotes: QuoteServer;
  env: Record<string, string>;
  dir: string;
}

async function withRabbit(fn: (s: Setup) => Promise<void>): Promise<void> {
  const url = amqpTestUrl();
  await requireRabbitMq(url);
  const prefix = randomPrefix();
  const quotes = await startQuoteServer();
  const dir = await Deno.makeTempDir({ prefix: "chat-commands-" });
  try {
    await fn({
      quotes,
      dir,
      env: {
        AMQP_URL: url,
        AMQP_PREFIX: prefix,
        QUOTE_URL: quotes.url,
        QUOTE_TIMEOUT_MS: "500",
        DATABASE_URL: `sqlite:${join(dir, "chat.db")}`,
      },
    });
  } finally {
    await quotes.close();
    await deleteTopology(url, prefix, ["stock"]).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

async function roomOf(base: string, owner: TestUser, members: TestUser[]): Promise<string> {
  const room = await api(base, "POST", "/api/rooms", { token: owner.token, body: { name: "quotes" } });
  assert.equal(room.status, 201);
  for (const m of members) {
    assert.equal(
      (await api(base, "POST", `/api/rooms/${room.body.id}/join`, { token: m.token })).status,
      200,
    );
  }
  return room.body.id;
}

const bots = (s: TestSocket) =>
  s.frames.filter((f: Frame) => f.type === "bot").map((f) => f.content as string);

Deno.test("RabbitMQ: bot killed, 5 commands sent, bot started again: all 5 answered in order; chat goes on", () =>
  withRabbit(async ({ quotes, env }) => {
    const codes = ["A.US", "B.US", "C.US", "D.US", "E.US"];
    codes.forEach((code, i) => quotes.set(code, { kind: "quote", close: 10 + i }));
    const chat = await spawnServer(env);
    let bot = startBot(env);
    const sockets: TestSocket[] = [];
    try {
      await bot.ready;
      const [alice, bob] = [await newUser(chat.url, "alice"), await newUser(chat.url, "bob")];
      const room = await roomOf(chat.url, alice, [bob]);
      const a = await TestSocket.open(`ws://127.0.0.1:${chat.port}/ws?token=${alice.token}`);
      const b = await TestSocket.open(`ws://127.0.0.1:${chat.port}/ws?token=${bob.token}`);
      sockets.push(a, b);
      await a.sync();
      await b.sync();

      // The bot works...
      quotes.set("AAPL.US", { kind: "quote", close: 229.87 });
      a.send({ type: "message", room_id: room, content: "/stock=AAPL.US" });
      await b.waitFor((f) => f.type === "bot", "the first answer", { timeoutMs: 10_000 });
      assert.deepEqual(bots(b), ["AAPL.US quote is $229.87 per share"]);

      // ...then dies (kill -9: no goodbye). Five commands wait in the queue; chat keeps working meanwhile.
      assert.equal((await bot.stop("SIGKILL")).signal, "SIGKILL");
      for (const code of codes) {
        a.send({
          type: "message",
          room_id: room,
          content: `/stock=${code}`,
          client_id: `cmd-${code.replace(".", "_")}`,
        });
      }
      for (const code of codes) {
        await a.waitFor(
          (f) => f.type === "ack" && f.client_id === `cmd-${code.replace(".", "_")}`,
          `the ack of ${code}`,
        );
      }
      a.send({ type: "message", room_id: room, content: "still chatting" });
      await b.waitFor(
        (f) => f.type === "text" && f.content === "still chatting",
        "chat while the bot is down",
      );
      assert.equal(bots(b).length, 1, "no answer while the bot is down");

      bot = startBot(env);
      await bot.ready;
      await b.waitFor(() => bots(b).length === 6, "all five answers", { timeoutMs: 20_000 });
      assert.deepEqual(
        bots(b).slice(1),
        codes.map((code, i) => `${code} quote is $${(10 + i).toFixed(2)} per share`),
      );
      await a.waitFor(() => bots(a).length === 6, "all five answers at alice");
      assert.deepEqual(bots(a), bots(b));
      // Stored once each, in order, as bot messages.
      const history = await api(chat.url, "GET", `/api/rooms/${room}/messages`, { token: bob.token });
      const stored = history.body.messages.filter((m: Frame) => m.type === "bot");
      assert.deepEqual(stored.map((m: Frame) => m.content), bots(b));
      assert.ok(stored.every((m: Frame) => m.username === "stockbot"));
    } finally {
      for (const s of sockets) await s.close();
      await bot.stop();
      await chat.stop();
    }
  }));

Deno.test("RabbitMQ: two chat instances behind Redis: each answer reaches every member once, in order", () =>
  withRabbit(async ({ quotes, env }) => {
    const redis = await startRedis();
    const shared = { ...env, REDIS_URL: redis.url };
    const servers: ServerProcess[] = [];
    const bot = startBot(env);
    const sockets: TestSocket[] = [];
    try {
      servers.push(await spawnServer({ ...shared, INSTANCE_ID: "one" }));
      servers.push(await spawnServer({ ...shared, INSTANCE_ID: "two" }));
      const [one, two] = servers;
      await bot.ready;
      const [alice, bob] = [await newUser(one.url, "alice"), await newUser(one.url, "bob")];
      const room = await roomOf(one.url, alice, [bob]);
      const codes = ["X.US", "Y.US", "Z.US"];
      codes.forEach((code, i) => quotes.set(code, { kind: "quote", close: i + 1 }));
      // A member on each instance; both instances consume answers (one at a time: single active consumer).
      const a = await TestSocket.open(`ws://127.0.0.1:${one.port}/ws?token=${alice.token}`);
      const b = await TestSocket.open(`ws://127.0.0.1:${two.port}/ws?token=${bob.token}`);
      sockets.push(a, b);
      await a.sync();
      await b.sync();
      for (const code of codes) {
        // Sent through both instances, one after the other.
        const via = code === "Y.US" ? two : one;
        a.send({ type: "message", room_id: room, content: `/stock=${code}` });
        const res = await api(via.url, "POST", `/api/rooms/${room}/messages`, {
          token: bob.token,
          body: { content: `/stock=${code}` },
        });
        assert.equal(res.status, 202);
      }
      const expected = codes.flatMap((code, i) => {
        const line = `${code} quote is $${(i + 1).toFixed(2)} per share`;
        return [line, line];
      });
      await a.waitFor(() => bots(a).length >= 6, "six answers at alice", { timeoutMs: 20_000 });
      await b.waitFor(() => bots(b).length >= 6, "six answers at bob", { timeoutMs: 20_000 });
      // A repeat would have arrived by the time a later message does.
      a.send({ type: "message", room_id: room, content: "sentinel" });
      await b.waitFor((f) => f.type === "text" && f.content === "sentinel", "the sentinel at bob");
      await a.waitFor((f) => f.type === "text" && f.content === "sentinel", "the sentinel at alice");
      assert.deepEqual(bots(a).sort(), [...expected].sort());
      assert.deepEqual(bots(b), bots(a), "both members got the same answers in the same order");
      const history = await api(one.url, "GET", `/api/rooms/${room}/messages`, { token: bob.token });
      const stored = history.body.messages.filter((m: Frame) => m.type === "bot").map((m: Frame) =>
        m.content
      );
      assert.deepEqual(stored, bots(a), "stored once each, in the order delivered");
      assert.equal(quotes.requests, 6);
    } finally {
      for (const s of sockets) await s.close();
      await bot.stop();
      for (const s of servers) await s.stop();
      await redis.stop();
    }
  }));

Deno.test("bot.ts without AMQP_URL says why and exits 1", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BOT],
    env: { ...TEST_ENV, AMQP_URL: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr), /AMQP_URL/);
});

/**
 * Chat commands in the zero-setup default: the in-process queue and stock bot (what main.ts runs without
 * AMQP_URL), over real sockets, with a local fake quote server standing in for Stooq. RabbitMQ and separate
 * bot processes: tests/commands_rabbitmq_test.ts.
 */
import assert from "node:assert/strict";
import { type QuoteServer, startQuoteServer } from "./helpers/quote_server.ts";
import { api, createRoom, newUser, startServer, type TestServer, type TestUser } from "./helpers/server.ts";
import { type Frame, TestSocket } from "./helpers/socket.ts";

interface Setup {
  srv: TestServer;
  quotes: QuoteServer;
  alice: TestUser;
  bob: TestUser;
  room: string;
  a: TestSocket;
  b: TestSocket;
}

async function withCommands(
  fn: (s: Setup) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const quotes = await startQuoteServer();
  const srv = await startServer({ QUOTE_URL: quotes.url, ...env }, { commands: true });
  const sockets: TestSocket[] = [];
  try {
    const alice = await newUser(srv.url, "alice");
    const bob = await newUser(srv.url, "bob");
    const room = (await createRoom(srv.url, alice, { name: "quotes" })).id;
    assert.equal((await api(srv.url, "POST", `/api/rooms/${room}/join`, { token: bob.token })).status, 200);
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    sockets.push(a, b);
    await a.sync();
    await b.sync();
    await fn({ srv, quotes, alice, bob, room, a, b });
  } finally {
    for (const s of sockets) await s.close();
    await srv.close();
    await quotes.close();
  }
}

const isBot = (content: string) => (f: Frame) => f.type === "bot" && f.content === content;

Deno.test("/stock=AAPL.US: every member gets the bot's answer once, with the quote server's price", () =>
  withCommands(async ({ srv, quotes, alice, room, a, b }) => {
    quotes.set("aapl.us", { kind: "quote", close: 229.87 });
    a.send({ type: "message", room_id: room, content: "/stock=aapl.us", client_id: "cmd-1" });
    const ack = await a.waitFor((f) => f.type === "ack", "the command's ack");
    assert.equal(ack.client_id, "cmd-1");
    assert.equal(ack.command, "stock");
    assert.match(ack.job_id as string, /^[0-9a-f]{24}$/);
    assert.equal(ack.seq, undefined, "a command is not stored");

    const answer = "AAPL.US quote is $229.87 per share";
    const atA = await a.waitFor(isBot(answer), "the answer at alice");
    const atB = await b.waitFor(isBot(answer), "the answer at bob");
    assert.equal(atA.username, "stockbot");
    assert.equal(atA.room_id, room);
    assert.deepEqual(atA, atB);
    assert.deepEqual(quotes.queries, ["?s=aapl.us&f=sd2t2ohlcv&h&e=csv"]);

    // The same command again (a client retry with the same client_id) is the same job: answered once.
    const mark = a.frames.length;
    a.send({ type: "message", room_id: room, content: "/stock=aapl.us", client_id: "cmd-1" });
    await a.waitFor((f) => f.type === "ack" && f.job_id === ack.job_id, "the retry's ack", { from: mark });
    a.send({ type: "message", room_id: room, content: "after", client_id: "after-1" });
    await b.waitFor((f) => f.type === "text" && f.content === "after", "a later message");
    await a.sync();
    await b.sync();
    assert.equal(b.count(isBot(answer)), 1);

    // History: the answer is stored as a bot message; the command is not stored at all.
    const history = await api(srv.url, "GET", `/api/rooms/${room}/messages`, { token: alice.token });
    const contents = history.body.messages.map((m: Frame) => `${m.type}:${m.content}`);
    assert.ok(contents.includes(`bot:${answer}`));
    assert.ok(!contents.some((c: string) => c.includes("/stock")), "the command itself is not stored");
  }));

Deno.test("commands: unknown and malformed ones are refused at once with a helpful error; // escapes", () =>
  withCommands(async ({ srv, alice, room, a, b, quotes }) => {
    a.send({ type: "message", room_id: room, content: "/weather=Paris", client_id: "w-1" });
    const unknown = await a.waitFor((f) => f.type === "error" && f.client_id === "w-1", "unknown command");
    assert.equal(unknown.code, "unknown_command");
    assert.equal(unknown.retryable, false);
    assert.match(unknown.message as string, /Known commands: \/stock=CODE/);

    a.send({ type: "message", room_id: room, content: "/stock=", client_id: "s-1" });
    const empty = await a.waitFor((f) => f.type === "error" && f.client_id === "s-1", "empty code");
    assert.equal(empty.code, "invalid_command");
    assert.match(empty.message as string, /needs a stock code/);

    a.send({ type: "message", room_id: room, content: "/stock=$$$", client_id: "s-2" });
    const bad = await a.waitFor((f) => f.type === "error" && f.client_id === "s-2", "invalid code");
    assert.equal(bad.code, "invalid_command");

    a.send({ type: "message", room_id: room, content: "//shrug", client_id: "t-1" });
    const text = await b.waitFor((f) => f.type === "text", "the escaped text");
    assert.equal(text.content, "/shrug");

    // Over REST: 202 with the job for a command, 400 for an unknown one.
    quotes.set("msft.us", { kind: "quote", close: "415.5" });
    const queued = await api(srv.url, "POST", `/api/rooms/${room}/messages`, {
      token: alice.token,
      body: { content: "/stock=MSFT.US" },
    });
    assert.equal(queued.status, 202);
    assert.equal(queued.body.command, "stock");
    await b.waitFor(isBot("MSFT.US quote is $415.50 per share"), "the REST command's answer");
    const refused = await api(srv.url, "POST", `/api/rooms/${room}/messages`, {
      token: alice.token,
      body: { content: "/nope" },
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, "unknown_command");
    assert.equal(quotes.requests, 1, "nothing was fetched for refused commands");
  }));

Deno.test("commands: N/D, garbage and a hanging quote server each get a friendly answer; the bot keeps going", () =>
  withCommands(async ({ room, a, quotes }) => {
    quotes.set("xyz.us", { kind: "nd" });
    quotes.set("junk.us", { kind: "garbage" });
    quotes.set("slow.us", { kind: "hang" });
    quotes.set("ok.us", { kind: "quote", close: 10 });
    for (const code of ["XYZ.US", "JUNK.US", "SLOW.US", "OK.US"]) {
      a.send({ type: "message", room_id: room, content: `/stock=${code}` });
    }
    const answers: string[] = [];
    for (const expected of ["XYZ.US", "JUNK.US", "SLOW.US", "OK.US"]) {
      const frame = await a.waitFor(
        (f) => f.type === "bot" && !answers.includes(f.content as string),
        `the answer for ${expected}`,
        { timeoutMs: 10_000 },
      );
      answers.push(frame.content as string);
    }
    assert.equal(answers[0], "Sorry, no quote for XYZ.US");
    assert.match(answers[1], /^Sorry, the quote service is not answering right now/);
    assert.match(answers[2], /^Sorry, the quote service is not answering right now/);
    assert.equal(answers[3], "OK.US quote is $10.00 per share", "answered in order, after the failures");
  }, { QUOTE_TIMEOUT_MS: "300" }));

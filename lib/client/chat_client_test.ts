import assert from "node:assert/strict";
import type { ChatMessage, ClientFrame, ErrorFrame } from "../hub/protocol.ts";
import { ChatClient, type Member, type RoomEntry, TYPING_SHOW_MS } from "./chat_client.ts";
import { backoff } from "./connection.ts";
import { MemoryOutbox, type OutboxEntry } from "./outbox.ts";
import { STORE_RETRY_MS } from "./outgoing.ts";
import { type ApiHandler, FakeApi } from "./testing/fake_api.ts";
import { FakeClock } from "./testing/fake_clock.ts";
import { FakeNetwork } from "./testing/fake_network.ts";
import { type FakeSocket, FakeSockets } from "./testing/fake_socket.ts";

const ME = { id: "u-me", username: "meg" };

function member(id: string, username: string, online = false): Member {
  return { id, username, display_name: null, avatar_url: null, online };
}

const MEMBERS = [member(ME.id, ME.username), member("u-bob", "bob"), member("u-cy", "cy")];

function message(
  room_id: string,
  seq: number,
  user_id = "u-bob",
  extra: Partial<ChatMessage> = {},
): ChatMessage {
  const username = user_id === ME.id ? ME.username : user_id.slice(2);
  return {
    id: `${room_id}-${seq}`,
    room_id,
    seq,
    user_id,
    username,
    content: `${room_id} #${seq}`,
    type: "text",
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    ...extra,
  };
}

/** Messages `from..to` of a room. */
function messages(room: string, from: number, to: number): ChatMessage[] {
  return Array.from({ length: to - from + 1 }, (_, i) => message(room, from + i));
}

/** A room seed as a page renders it: messages 1..lastSeq. */
function seed(room: string, lastSeq: number, members = MEMBERS) {
  return { messages: messages(room, 1, lastSeq), hasOlder: false, members };
}

const seqs = (list: readonly ChatMessage[]) => list.map((m) => m.seq);

/** Lets promise chains (the outbox, the fake API) settle. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(options: { outbox?: MemoryOutbox; api?: ApiHandler; rooms?: RoomEntry[] } = {}) {
  const sockets = new FakeSockets();
  const clock = new FakeClock();
  const network = new FakeNetwork();
  const outbox = options.outbox ?? new MemoryOutbox();
  const api = new FakeApi(options.api);
  let ids = 0;
  const client = new ChatClient({
    me: ME,
    url: "ws://chat.test/ws",
    openSocket: sockets.open,
    fetch: api.fetch,
    openOutbox: () => Promise.resolve(outbox),
    clock,
    random: () => 0.5,
    network,
    newId: () => `cid-${++ids}`,
    rooms: options.rooms,
  });
  return { client, sockets, clock, network, outbox, api };
}

/** Connects, opens the socket and answers its first resume with `resumed` for exactly what it asked. */
async function online(client: ChatClient, sockets: FakeSockets): Promise<FakeSocket> {
  client.connect();
  await settle();
  const socket = sockets.last;
  socket.accept();
  const [resume] = socket.take();
  assert.equal(resume.type, "resume");
  socket.receive({ type: "resumed", rooms: (resume as { rooms: Record<string, number> }).rooms });
  await settle();
  return socket;
}

Deno.test("ChatClient.connect() resumes each watched room from its rendered seq as the socket's first frame", async () => {
  const { client, sockets } = setup();
  client.watch("r1", seed("r1", 3));
  client.watch("r2", seed("r2", 7));
  client.connect();
  await settle();
  assert.equal(sockets.all.length, 1);
  assert.equal(sockets.last.url, "ws://chat.test/ws");
  assert.equal(client.status, "connecting");
  sockets.last.accept();
  assert.deepEqual(sockets.last.take(), [{ type: "resume", rooms: { r1: 3, r2: 7 } }]);

  // The backfill, then the answer: only now is the client connected.
  sockets.last.receive(message("r1", 4), message("r1", 5));
  assert.equal(client.status, "connecting");
  sockets.last.receive({ type: "resumed", rooms: { r1: 5, r2: 7 } });
  assert.equal(client.status, "connected");
  assert.deepEqual(seqs(client.room("r1").messages), [1, 2, 3, 4, 5]);
  assert.equal(client.room("r1").lastSeq, 5);
  assert.equal(client.room("r2").lastSeq, 7);
});

Deno.test("ChatClient: a gap in the live stream resumes on the open socket, which fills the hole", async () => {
  const { client, sockets, api } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);

  socket.receive(message("r1", 6));
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r1: 3 } }]);
  assert.equal(client.room("r1").lastSeq, 3, "6 is held, but not past the hole");
  assert.deepEqual(seqs(client.room("r1").messages), [1, 2, 3, 6]);

  // More live frames while the resume runs ask for nothing more.
  socket.receive(message("r1", 7));
  assert.deepEqual(socket.take(), []);
  // The server sends exactly what this socket was not sent.
  socket.receive(message("r1", 4), message("r1", 5), { type: "resumed", rooms: { r1: 5 } });
  assert.deepEqual(seqs(client.room("r1").messages), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(client.room("r1").lastSeq, 7);
  assert.deepEqual(socket.take(), []);
  assert.deepEqual(api.requests, []);
});

Deno.test("ChatClient keeps a repeated seq once and asks for nothing", async () => {
  const { client, sockets } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  const before = client.room("r1");
  socket.receive(message("r1", 2), message("r1", 3));
  assert.equal(client.room("r1"), before, "nothing changed: the same snapshot");
  socket.receive(message("r1", 4), message("r1", 4, "u-bob", { content: "again" }));
  assert.deepEqual(seqs(client.room("r1").messages), [1, 2, 3, 4]);
  assert.equal(client.room("r1").messages.at(-1)!.content, "r1 #4");
  assert.deepEqual(socket.take(), []);
});

Deno.test("ChatClient reconnects with exponential backoff and jitter and resumes from the last contiguous seq", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  const first = await online(client, sockets);
  first.receive(message("r1", 4));
  first.drop();
  assert.equal(client.status, "reconnecting");
  assert.deepEqual(clock.pending, [backoff(0, () => 0.5)]);
  assert.deepEqual([backoff(0, () => 0.5), backoff(1, () => 0.5), backoff(2, () => 0.5)], [375, 750, 1_125]);
  // Capped: a page is back at most 1.5 s after the server answers again.
  assert.deepEqual([backoff(30, () => 0), backoff(30, () => 0.999_999)].map(Math.round), [750, 1_500]);
  clock.advance(374);
  assert.equal(sockets.all.length, 1);
  clock.advance(1);
  assert.equal(sockets.all.length, 2);

  // Refused before it opened: the next wait doubles.
  sockets.last.drop();
  assert.deepEqual(clock.pending, [750]);
  clock.advance(750);
  assert.equal(sockets.all.length, 3);
  const third = sockets.last;
  third.accept();
  assert.deepEqual(third.take(), [{ type: "resume", rooms: { r1: 4 } }]);
  assert.equal(client.status, "reconnecting");
  third.receive({ type: "resumed", rooms: { r1: 4 } });
  assert.equal(client.status, "connected");

  // Connected again: the backoff starts over.
  third.drop();
  assert.deepEqual(clock.pending, [375]);
});

Deno.test("ChatClient: the network going away closes the socket at once; its return reconnects at once", async () => {
  const { client, sockets, clock, network } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  network.set(false);
  assert.equal(client.status, "offline");
  assert.ok(socket.closedByClient);
  assert.deepEqual(clock.pending, [375]);
  network.set(true);
  assert.equal(sockets.all.length, 2);
  assert.deepEqual(clock.pending, []);
  sockets.last.accept();
  assert.deepEqual(sockets.last.take(), [{ type: "resume", rooms: { r1: 3 } }]);
  client.close();
  assert.ok(sockets.last.closedByClient);
  assert.deepEqual(clock.pending, []);
});

Deno.test("ChatClient.send() keeps a message in the outbox, sends it after the resume and forgets it on the ack", async () => {
  const { client, sockets, outbox } = setup();
  client.watch("r1", seed("r1", 3));
  client.connect();
  assert.equal(client.send("r1", "  "), false, "blank: not sent");
  assert.equal(client.send("r1", "hello"), true);
  await settle();
  assert.deepEqual(client.room("r1").pending.map((p) => [p.client_id, p.content, p.state]), [
    ["cid-1", "hello", "sending"],
  ]);
  assert.deepEqual((await outbox.list("r1")).map((e) => e.content), ["hello"]);

  const socket = sockets.last;
  socket.accept();
  assert.deepEqual(
    socket.take(),
    [{ type: "resume", rooms: { r1: 3 } }],
    "nothing before the resume's answer",
  );
  socket.receive({ type: "resumed", rooms: { r1: 3 } });
  assert.deepEqual(socket.take(), [{ type: "message", room_id: "r1", content: "hello", client_id: "cid-1" }]);

  socket.receive({ type: "ack", client_id: "cid-1", id: "m4", seq: 4, room_id: "r1" });
  await settle();
  assert.deepEqual(await outbox.list("r1"), []);
  assert.deepEqual(client.room("r1").pending.map((p) => p.state), ["sent"]);
  socket.receive(message("r1", 4, ME.id, { content: "hello", client_id: "cid-1" }));
  assert.deepEqual(client.room("r1").pending, []);
  assert.equal(client.room("r1").messages.at(-1)!.content, "hello");
  assert.deepEqual(socket.take(), []);
});

Deno.test("ChatClient sends an earlier page's outbox after the resume, except what the resume shows stored", async () => {
  const outbox = new MemoryOutbox();
  const entry = (client_id: string, content: string, second: number): OutboxEntry => ({
    client_id,
    room_id: "r1",
    content,
    created_at: new Date(Date.UTC(2025, 0, 1, 0, 0, second)).toISOString(),
  });
  await outbox.put(entry("old-2", "second", 2));
  await outbox.put(entry("old-1", "first", 1));
  await outbox.put(entry("old-3", "stored already", 3));
  const { client, sockets } = setup({ outbox });
  client.watch("r1", seed("r1", 3));
  client.connect();
  await settle();
  assert.deepEqual(client.room("r1").pending.map((p) => p.content), ["first", "second", "stored already"]);
  const socket = sockets.last;
  socket.accept();
  socket.take();
  socket.receive(message("r1", 4, ME.id, { content: "stored already", client_id: "old-3" }));
  socket.receive({ type: "resumed", rooms: { r1: 4 } });
  assert.deepEqual(socket.take(), [
    { type: "message", room_id: "r1", content: "first", client_id: "old-1" },
    { type: "message", room_id: "r1", content: "second", client_id: "old-2" },
  ]);
  await settle();
  assert.deepEqual((await outbox.list("r1")).map((e) => e.client_id), ["old-1", "old-2"]);
});

Deno.test("ChatClient resends after a retryable error with the same client_id; a refusal fails it until discarded", async () => {
  const { client, sockets, clock, outbox } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  client.send("r1", "busy");
  await settle();
  const frame: ClientFrame = { type: "message", room_id: "r1", content: "busy", client_id: "cid-1" };
  assert.deepEqual(socket.take(), [frame]);

  socket.receive({
    type: "error",
    code: "rate_limited",
    message: "Slow down",
    retryable: true,
    client_id: "cid-1",
    room_id: "r1",
    retry_after_ms: 500,
  });
  clock.advance(499);
  assert.deepEqual(socket.take(), []);
  clock.advance(1);
  assert.deepEqual(socket.take(), [frame]);
  assert.deepEqual(client.room("r1").pending.map((p) => p.state), ["sending"]);

  socket.receive({
    type: "error",
    code: "content_too_long",
    message: "Message is too long",
    retryable: false,
    client_id: "cid-1",
    room_id: "r1",
  });
  assert.deepEqual(client.room("r1").pending.map((p) => [p.state, p.error]), [[
    "failed",
    "Message is too long",
  ]]);
  clock.advance(60_000);
  assert.deepEqual(socket.take(), [], "a refused message is not sent again");
  assert.deepEqual((await outbox.list("r1")).map((e) => e.client_id), ["cid-1"], "kept until discarded");
  client.discard("cid-1");
  await settle();
  assert.deepEqual(client.room("r1").pending, []);
  assert.deepEqual(await outbox.list("r1"), []);
});

Deno.test("ChatClient keeps sends refused with store_unavailable and resends them at store_available, one at a time, once each", async () => {
  const { client, sockets, clock, outbox } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  client.send("r1", "one");
  client.send("r1", "two");
  await settle();
  const frames: ClientFrame[] = [
    { type: "message", room_id: "r1", content: "one", client_id: "cid-1" },
    { type: "message", room_id: "r1", content: "two", client_id: "cid-2" },
  ];
  assert.deepEqual(socket.take(), frames);
  for (const id of ["cid-1", "cid-2"]) {
    socket.receive({
      type: "error",
      code: "store_unavailable",
      message: "The database is unavailable",
      retryable: true,
      retry_after_ms: 2_000,
      room_id: "r1",
      client_id: id,
    });
  }
  // The store stays down: nothing is sent again on the retry_after_ms timer; the user sees both still sending.
  clock.advance(10_000);
  assert.deepEqual(socket.take(), []);
  assert.deepEqual(client.room("r1").pending.map((p) => [p.content, p.state]), [["one", "sending"], [
    "two",
    "sending",
  ]]);
  assert.deepEqual(
    (await outbox.list("r1")).map((e) => e.client_id),
    ["cid-1", "cid-2"],
    "kept in the outbox",
  );

  socket.receive({ type: "store_available" });
  assert.deepEqual(socket.take(), [frames[0]], "the oldest again, same client_id");
  socket.receive({ type: "store_available" });
  assert.deepEqual(socket.take(), [], "the next one waits for the first one's ack");
  socket.receive({ type: "ack", client_id: "cid-1", id: "m4", seq: 4, room_id: "r1" });
  assert.deepEqual(socket.take(), [frames[1]]);
  socket.receive({ type: "ack", client_id: "cid-2", id: "m5", seq: 5, room_id: "r1" });
  socket.receive(message("r1", 4, ME.id, { content: "one", client_id: "cid-1" }));
  socket.receive(message("r1", 5, ME.id, { content: "two", client_id: "cid-2" }));
  clock.advance(60_000);
  assert.deepEqual(socket.take(), [], "once each: a second frame or the fallback timer sends nothing more");
  await settle();
  assert.deepEqual(client.room("r1").pending, []);
  assert.deepEqual(await outbox.list("r1"), []);
  assert.deepEqual(client.room("r1").messages.slice(-2).map((m) => m.content), ["one", "two"]);
});

Deno.test("ChatClient: a send refused with store_unavailable goes again on the next connection, or after STORE_RETRY_MS", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  const first = await online(client, sockets);
  client.send("r1", "later");
  await settle();
  const frame: ClientFrame = { type: "message", room_id: "r1", content: "later", client_id: "cid-1" };
  assert.deepEqual(first.take(), [frame]);
  const refusal: ErrorFrame = {
    type: "error",
    code: "store_unavailable",
    message: "Down",
    retryable: true,
    retry_after_ms: 2_000,
    room_id: "r1",
    client_id: "cid-1",
  };
  first.receive(refusal);
  clock.advance(STORE_RETRY_MS - 1);
  assert.deepEqual(first.take(), []);
  clock.advance(1);
  assert.deepEqual(first.take(), [frame], "no store_available came: sent again at the fallback");

  first.receive(refusal);
  first.drop();
  clock.advance(375);
  const second = sockets.last;
  second.accept();
  assert.deepEqual(second.take(), [{ type: "resume", rooms: { r1: 3 } }]);
  second.receive({ type: "resumed", rooms: { r1: 3 } });
  assert.deepEqual(second.take(), [frame], "the new connection sends it");
  second.receive({ type: "store_available" });
  assert.deepEqual(second.take(), [], "already sent on this connection");
});

Deno.test("ChatClient sends an unconfirmed message again on the next connection, with the same client_id", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  const first = await online(client, sockets);
  client.send("r1", "once");
  await settle();
  assert.equal(first.take().length, 1);
  first.drop();
  clock.advance(375);
  const second = sockets.last;
  second.accept();
  assert.deepEqual(second.take(), [{ type: "resume", rooms: { r1: 3 } }]);
  second.receive({ type: "resumed", rooms: { r1: 3 } });
  assert.deepEqual(second.take(), [{ type: "message", room_id: "r1", content: "once", client_id: "cid-1" }]);
});

Deno.test("ChatClient asks for an acknowledged message whose broadcast did not come", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  client.send("r1", "lost broadcast");
  await settle();
  socket.take();
  socket.receive({ type: "ack", client_id: "cid-1", id: "m4", seq: 4, room_id: "r1" });
  clock.advance(999);
  assert.deepEqual(socket.take(), []);
  clock.advance(1);
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r1: 3 } }]);
  socket.receive(message("r1", 4, ME.id, { content: "lost broadcast", client_id: "cid-1" }));
  socket.receive({ type: "resumed", rooms: { r1: 4 } });
  assert.deepEqual(client.room("r1").pending, []);
  assert.equal(client.room("r1").lastSeq, 4);
});

Deno.test("ChatClient reads the history API when a resume says it sent more than arrived", async () => {
  const { client, sockets, api } = setup({
    api: (request) =>
      request === "GET /api/rooms/r1/messages?after_seq=3&limit=100"
        ? { messages: messages("r1", 4, 6) }
        : undefined,
  });
  client.watch("r1", seed("r1", 3));
  client.connect();
  await settle();
  sockets.last.accept();
  sockets.last.take();
  sockets.last.receive({ type: "resumed", rooms: { r1: 6 } });
  await settle();
  assert.deepEqual(api.requests, ["GET /api/rooms/r1/messages?after_seq=3&limit=100"]);
  assert.deepEqual(seqs(client.room("r1").messages), [1, 2, 3, 4, 5, 6]);
});

/**
 * Plays the server's bounded resume: answers each `resume` the client sent with the stored messages after each
 * room's `last_seq` (up to `stored[room]`), at most `max` over all rooms, then `resumed` with `more` for the
 * rooms left. Returns the resume frames answered and the other frames the client sent, each in order.
 */
function answerResumes(socket: FakeSocket, stored: Record<string, number>, max: number) {
  const answered: ClientFrame[] = [];
  const others: ClientFrame[] = [];
  for (let frames = socket.take(); frames.length > 0; frames = socket.take()) {
    for (const frame of frames) {
      if (frame.type !== "resume") {
        others.push(frame);
        continue;
      }
      answered.push(frame);
      let left = max;
      const rooms: Record<string, number> = {};
      const more: Record<string, number> = {};
      for (const [room, from] of Object.entries(frame.rooms)) {
        if (left === 0) {
          more[room] = from;
          continue;
        }
        const to = Math.min(stored[room], from + left);
        socket.receive(...messages(room, from + 1, to));
        left -= to - from;
        rooms[room] = to;
        if (to < stored[room]) more[room] = to;
      }
      socket.receive(
        Object.keys(more).length > 0 ? { type: "resumed", rooms, more } : { type: "resumed", rooms },
      );
    }
  }
  return { answered, others };
}

Deno.test("ChatClient catches up a 2,000-message gap by itself, one bounded page after another", async () => {
  const outbox = new MemoryOutbox();
  await outbox.put({
    client_id: "old-1",
    room_id: "r1",
    content: "waiting",
    created_at: "2025-01-01T00:00:00Z",
  });
  const { client, sockets, api } = setup({ outbox });
  client.watch("r1", seed("r1", 3));
  client.watch("r2", seed("r2", 2));
  client.connect();
  await settle();
  const socket = sockets.last;
  socket.accept();
  const { answered, others } = answerResumes(socket, { r1: 2_003, r2: 502 }, 1_000);
  assert.deepEqual(answered, [
    { type: "resume", rooms: { r1: 3, r2: 2 } },
    { type: "resume", rooms: { r1: 1_003, r2: 2 } },
    { type: "resume", rooms: { r2: 2 } },
  ]);
  assert.equal(client.status, "connected", "after the first page");
  assert.deepEqual(seqs(client.room("r1").messages), Array.from({ length: 2_003 }, (_, i) => i + 1));
  assert.deepEqual(seqs(client.room("r2").messages), Array.from({ length: 502 }, (_, i) => i + 1));
  assert.equal(client.room("r1").lastSeq, 2_003);
  assert.deepEqual(api.requests, [], "all through the socket");

  // The outbox waited for the room's whole gap: it went after r1's last page.
  assert.deepEqual(others, [{ type: "message", room_id: "r1", content: "waiting", client_id: "old-1" }]);
  socket.receive(message("r1", 2_004));
  assert.equal(client.room("r1").lastSeq, 2_004, "live again");
  assert.deepEqual(socket.take(), []);
});

Deno.test("ChatClient: a room's next page waits for its outbox; a jump during a page asks for nothing more", async () => {
  const { client, sockets } = setup();
  client.watch("r1", seed("r1", 3));
  client.connect();
  await settle();
  const socket = sockets.last;
  socket.accept();
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r1: 3 } }]);
  socket.receive(...messages("r1", 4, 5), { type: "resumed", rooms: { r1: 5 }, more: { r1: 5 } });
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r1: 5 } }]);
  client.send("r1", "not yet");
  await settle();
  assert.deepEqual(socket.take(), [], "not synced before the last page");
  socket.receive(message("r1", 9)); // cannot come from the server (the room is paused): no resume of its own
  assert.deepEqual(socket.take(), []);
  socket.receive(...messages("r1", 6, 8), { type: "resumed", rooms: { r1: 8 } });
  assert.equal(client.room("r1").lastSeq, 9);
  assert.deepEqual(socket.take(), [{
    type: "message",
    room_id: "r1",
    content: "not yet",
    client_id: "cid-1",
  }]);
});

Deno.test("ChatClient: a room left while it is paged is not asked for again", async () => {
  const { client, sockets } = setup({
    api: (request) => request === "POST /api/rooms/r1/leave" ? {} : undefined,
  });
  client.watch("r1", seed("r1", 3));
  client.watch("r2", seed("r2", 3));
  client.connect();
  await settle();
  const socket = sockets.last;
  socket.accept();
  socket.take();
  await client.leave("r1");
  socket.receive(message("r1", 4), { type: "resumed", rooms: { r1: 4 }, more: { r1: 4, r2: 3 } });
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r2: 3 } }]);
});

Deno.test("ChatClient: a reset moves past the messages retention removed and marks the hole", async () => {
  const { client, sockets } = setup();
  client.watch("r1", seed("r1", 3));
  client.connect();
  await settle();
  const socket = sockets.last;
  socket.accept();
  socket.take();
  socket.receive({ type: "reset", room_id: "r1", from_seq: 11 }, message("r1", 11), message("r1", 12));
  socket.receive({ type: "resumed", rooms: { r1: 12 } });
  const room = client.room("r1");
  assert.equal(room.historyReset, 11);
  assert.equal(room.lastSeq, 12);
  assert.deepEqual(seqs(room.messages), [1, 2, 3, 11, 12]);
  assert.deepEqual(socket.take(), []);
});

Deno.test("ChatClient asks again after a resume refused with a retryable error", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  client.connect();
  await settle();
  const socket = sockets.last;
  socket.accept();
  socket.take();
  socket.receive(
    { type: "error", code: "store_unavailable", message: "Down", retryable: true, room_id: "r1" },
    { type: "resumed", rooms: {} },
  );
  assert.equal(client.status, "connected");
  clock.advance(999);
  assert.deepEqual(socket.take(), []);
  clock.advance(1);
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r1: 3 } }]);
});

Deno.test("ChatClient applies presence_state (listed online, every other member offline), then presence frames", async () => {
  const { client, sockets } = setup();
  client.watch(
    "r1",
    seed("r1", 3, [member(ME.id, "meg"), member("u-bob", "bob"), member("u-cy", "cy", true)]),
  );
  client.watch("r2", seed("r2", 1, [member(ME.id, "meg"), member("u-bob", "bob")]));
  const online_ = (room: string) => client.room(room).members.map((m) => [m.username, m.online]);
  assert.deepEqual(
    online_("r1"),
    [["meg", false], ["bob", false], ["cy", true]],
    "oneself: offline until connected",
  );
  const socket = await online(client, sockets);
  socket.receive({ type: "presence_state", room_id: "r1", online: [ME.id, "u-bob"] });
  assert.deepEqual(online_("r1"), [["meg", true], ["bob", true], ["cy", false]]);
  assert.deepEqual(online_("r2"), [["meg", true], ["bob", false]], "another room's state is its own");

  socket.receive({ type: "presence", user_id: "u-cy", username: "cy", status: "online" });
  socket.receive({ type: "presence", user_id: "u-bob", username: "bob", status: "offline" });
  assert.deepEqual(online_("r1"), [["meg", true], ["bob", false], ["cy", true]]);
  socket.receive({ type: "presence", user_id: "u-bob", username: "bob", status: "online" });
  assert.deepEqual(
    online_("r2"),
    [["meg", true], ["bob", true]],
    "a presence frame is about the user, in every room",
  );
  socket.drop();
  assert.deepEqual(
    online_("r1"),
    [["meg", false], ["bob", true], ["cy", true]],
    "oneself offline when disconnected",
  );
});

Deno.test("ChatClient: a message from a typist clears their typing at once; other notices expire", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  socket.receive({ type: "typing", room_id: "r1", user_id: "u-bob", username: "bob" });
  socket.receive({ type: "typing", room_id: "r1", user_id: "u-cy", username: "cy" });
  socket.receive({ type: "typing", room_id: "r1", user_id: ME.id, username: "meg" });
  assert.deepEqual(client.room("r1").typists, ["bob", "cy"], "never oneself");

  clock.advance(1_000);
  socket.receive(message("r1", 4, "u-bob"));
  assert.deepEqual(client.room("r1").typists, ["cy"], "bob's message ends his notice, at once");
  clock.advance(TYPING_SHOW_MS - 1_001);
  assert.deepEqual(client.room("r1").typists, ["cy"]);
  clock.advance(1);
  assert.deepEqual(client.room("r1").typists, [], "cy's notice expired");
});

Deno.test("ChatClient.typing() tells the room at most once per 2 s", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  client.typing("r1");
  client.typing("r1");
  clock.advance(2_000);
  client.typing("r1");
  assert.deepEqual(socket.take(), [{ type: "typing", room_id: "r1" }]);
  clock.advance(1);
  client.typing("r1");
  assert.deepEqual(socket.take(), [{ type: "typing", room_id: "r1" }]);
});

Deno.test("ChatClient watches several rooms over one socket", async () => {
  const { client, sockets } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  client.watch("r2", seed("r2", 5));
  await settle();
  assert.deepEqual(
    socket.take(),
    [{ type: "resume", rooms: { r2: 5 } }],
    "a room watched later resumes alone",
  );
  socket.receive(message("r2", 6), { type: "resumed", rooms: { r2: 6 } });
  socket.receive(message("r1", 4), message("r2", 7));
  assert.deepEqual(seqs(client.room("r1").messages), [1, 2, 3, 4]);
  assert.deepEqual(seqs(client.room("r2").messages), [1, 2, 3, 4, 5, 6, 7]);

  client.send("r2", "to two");
  client.send("r1", "to one");
  await settle();
  assert.deepEqual(socket.take(), [
    { type: "message", room_id: "r2", content: "to two", client_id: "cid-1" },
    { type: "message", room_id: "r1", content: "to one", client_id: "cid-2" },
  ]);
  assert.deepEqual(client.room("r1").pending.map((p) => p.content), ["to one"]);
  assert.deepEqual(client.room("r2").pending.map((p) => p.content), ["to two"]);

  // A jump in one room resumes that room only.
  socket.receive(message("r1", 9));
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r1: 4 } }]);
  assert.equal(sockets.all.length, 1);
});

Deno.test("ChatClient.subscribe() calls back on changes; a room's snapshot stays the same object until one", async () => {
  const { client, sockets } = setup();
  client.watch("r1", seed("r1", 3));
  let calls = 0;
  const unsubscribe = client.subscribe(() => calls++);
  const socket = await online(client, sockets);
  const snapshot = client.room("r1");
  assert.equal(client.room("r1"), snapshot);
  const before = calls;
  socket.receive(message("r1", 4));
  assert.equal(calls, before + 1);
  assert.notEqual(client.room("r1"), snapshot);
  unsubscribe();
  socket.receive(message("r1", 5));
  assert.equal(calls, before + 1);
});

Deno.test("ChatClient.loadOlder() prepends the page before the oldest message", async () => {
  const { client, api } = setup({
    api: (request) =>
      request === "GET /api/rooms/r1/messages?before_seq=51&limit=50"
        ? { messages: messages("r1", 1, 50) }
        : undefined,
  });
  client.watch("r1", { messages: messages("r1", 51, 60), hasOlder: true, members: MEMBERS });
  await client.loadOlder("r1");
  assert.deepEqual(api.requests, ["GET /api/rooms/r1/messages?before_seq=51&limit=50"]);
  assert.deepEqual(seqs(client.room("r1").messages), Array.from({ length: 60 }, (_, i) => i + 1));
  assert.equal(client.room("r1").hasOlder, false);
});

function entry(id: string, last_seq: number, last_read_seq: number | null, extra: Partial<RoomEntry> = {}) {
  return {
    id,
    name: id,
    description: "",
    creator_id: "u-bob",
    is_private: false,
    is_direct: false,
    last_seq,
    last_read_seq,
    ...extra,
  } satisfies RoomEntry;
}

const unreadOf = (client: ChatClient) => client.rooms().map((r) => [r.id, r.unread]);

Deno.test("ChatClient with a room list: live messages of unwatched rooms move their unread counts", async () => {
  const rooms = [entry("r1", 3, 3), entry("r2", 5, 5)];
  const { client, sockets, api } = setup({
    rooms,
    api: (r) => r === "GET /api/users/me/rooms" ? { rooms } : undefined,
  });
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  assert.deepEqual(api.requests, ["GET /api/users/me/rooms"], "read again once connected");
  socket.receive(message("r2", 6), message("r2", 7), message("r1", 4));
  assert.deepEqual(unreadOf(client), [["r1", 1], ["r2", 2]]);
  assert.equal(client.unreadTotal("r1"), 2);
  socket.receive(message("r2", 8, ME.id));
  assert.deepEqual(unreadOf(client), [["r1", 1], ["r2", 0]], "an own message reads its room");
  socket.receive(message("r2", 9, ME.id, { type: "system", content: "meg was added by bob" }));
  assert.deepEqual(unreadOf(client), [["r1", 1], ["r2", 1]], "a notice about oneself is news");
  await client.markRead("r1");
  assert.deepEqual(unreadOf(client), [["r1", 0], ["r2", 1]]);
  assert.deepEqual(api.requests.slice(1), ["POST /api/rooms/r1/read"]);
});

Deno.test("ChatClient with a room list: a message from a new room lists it; a left frame drops a room", async () => {
  const dm = { ...entry("d1", 1, null, { is_direct: true, name: "bob, meg" }), members: [ME.id, "u-bob"] };
  const { client, sockets, api } = setup({
    rooms: [entry("r1", 3, 3)],
    api: (r) =>
      r === "GET /api/users/me/rooms"
        ? { rooms: [entry("r1", 3, 3)] }
        : r === "GET /api/rooms/d1"
        ? dm
        : undefined,
  });
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  socket.receive(message("d1", 1));
  await settle();
  assert.deepEqual(api.requests, ["GET /api/users/me/rooms", "GET /api/rooms/d1"]);
  assert.deepEqual(unreadOf(client), [["r1", 0], ["d1", 1]]);

  socket.receive({ type: "left", room_id: "r1" });
  assert.deepEqual(unreadOf(client), [["d1", 1]]);
  assert.equal(client.isWatched("r1"), false);
  assert.equal(client.roomEntry("r1"), undefined);
});

Deno.test("ChatClient.takeBack() returns a refused message's text and forgets it", async () => {
  const { client, sockets, outbox } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  client.send("r1", "too long, say");
  await settle();
  socket.take();
  socket.receive({
    type: "error",
    code: "content_too_long",
    message: "Message content is too long",
    retryable: false,
    client_id: "cid-1",
  });
  assert.equal(client.room("r1").pending[0].state, "failed");
  assert.equal(client.takeBack("cid-1"), "too long, say");
  assert.deepEqual(client.room("r1").pending, []);
  await settle();
  assert.deepEqual(await outbox.list("r1"), []);
  assert.equal(client.takeBack("cid-1"), null);
});

Deno.test("ChatClient with a room list: a rename's notice renames the row without asking the server", async () => {
  const rooms = [entry("r1", 3, 3), entry("r2", 5, 5)];
  const { client, sockets, api } = setup({
    rooms,
    api: (r) => r === "GET /api/users/me/rooms" ? { rooms } : undefined,
  });
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  socket.receive(
    message("r2", 6, "u-bob", { type: "system", content: 'bob renamed the room to "design "team""' }),
  );
  assert.deepEqual(
    client.rooms().map((r) => [r.id, r.name, r.unread]),
    [["r2", 'design "team"', 1], ["r1", "r1", 0]],
  );
  assert.deepEqual(api.requests, ["GET /api/users/me/rooms"]);
});

Deno.test("ChatClient.retry() reconnects at once instead of waiting for the backoff; not while connected", async () => {
  const { client, sockets, clock } = setup();
  client.watch("r1", seed("r1", 3));
  const socket = await online(client, sockets);
  client.retry();
  assert.equal(sockets.all.length, 1, "connected: nothing to do");
  socket.drop();
  assert.deepEqual(clock.pending, [375]);
  client.retry();
  assert.equal(sockets.all.length, 2, "a new socket now");
  assert.deepEqual(clock.pending, [], "the backoff's timer is cancelled");
});

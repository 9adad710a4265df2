import assert from "node:assert/strict";
import { ChatClient } from "./chat_client.ts";
import { Timers } from "./clock.ts";
import { MemoryOutbox } from "./outbox.ts";
import {
  localExpiry,
  renewDelay,
  retryDelay,
  SessionKeeper,
  type SessionKeeperOptions,
} from "./session_keeper.ts";
import { FakeApi } from "./testing/fake_api.ts";
import { FakeClock } from "./testing/fake_clock.ts";
import { FakeLocks } from "./testing/fake_locks.ts";
import { FakeNetwork } from "./testing/fake_network.ts";
import { type FakeSocket, FakeSockets } from "./testing/fake_socket.ts";

const MINUTE = 60_000;
const TTL_S = 900;

/** Lets promise chains (fetch, the lock, the keeper) settle: a few turns of the real event loop. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

function refreshed(token: string, expiresIn = TTL_S, sessionId = "s1"): Response {
  return Response.json({ token, expires_in: expiresIn, session_id: sessionId });
}

function refused(status: number, code: string): Response {
  return Response.json({ error: { code, message: code } }, { status });
}

/**
 * The server's side of one sign-in and the browser's cookie jar, shared by every tab: a refresh presents the
 * jar's refresh token when it is sent and the jar takes the new one when the answer arrives, a turn of the
 * event loop later. A refresh token presented twice ends the session, as `Sessions.refresh()` does.
 */
class SessionServer {
  cookie = "r0";
  current = "r0";
  revoked = false;
  issued = 0;
  reuses = 0;

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    assert.equal(String(input), "/api/auth/refresh");
    assert.equal(init?.method, "POST");
    const presented = this.cookie;
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.revoked) return refused(401, "session_revoked");
    if (presented !== this.current) {
      this.reuses++;
      this.revoked = true;
      return refused(401, "session_revoked");
    }
    this.issued++;
    this.current = this.cookie = `r${this.issued}`;
    return refreshed(`access-${this.issued}`, 5);
  };
}

function keeper(clock: FakeClock, options: Partial<SessionKeeperOptions> = {}) {
  const log: string[] = [];
  const timers = new Timers(clock);
  const k = new SessionKeeper({
    fetch: () => Promise.resolve(refreshed("t1")),
    clock,
    timers,
    locks: null,
    renewed: (token, expiresAt) => log.push(`renewed ${token} ${expiresAt - clock.now()}`),
    ended: () => log.push("ended"),
    ...options,
  });
  return { keeper: k, log, timers };
}

Deno.test("renewDelay(): 60 s before expiry, or when a fifth of a short lifetime is left; never negative", () => {
  assert.equal(renewDelay(900_000, 900_000), 840_000);
  assert.equal(renewDelay(300_000, 300_000), 240_000);
  assert.equal(renewDelay(5_000, 5_000), 4_000);
  assert.equal(renewDelay(2_000, 5_000), 1_000);
  assert.equal(renewDelay(500, 5_000), 0);
  assert.equal(renewDelay(-10_000, 900_000), 0);
});

Deno.test("localExpiry() counts the token's remaining life from the page's navigation start", () => {
  // Rendered 900 s before expiry by a server whose clock is 1 h ahead: the browser's clock counts.
  assert.equal(localExpiry(10_000_000 + 3_600_000 + 900_000, 10_000_000 + 3_600_000, 9_999_000), 10_899_000);
  assert.equal(localExpiry(5_000, 10_000, 1_000), 1_000, "already expired: due now");
  assert.deepEqual([0, 1, 2, 5, 6, 20].map(retryDelay), [1_000, 2_000, 4_000, 30_000, 30_000, 30_000]);
});

Deno.test("SessionKeeper renews 60 s before expiry with one POST of the refresh cookie, then again before the new expiry", async () => {
  const clock = new FakeClock();
  const requests: { url: string; init?: RequestInit }[] = [];
  const { keeper: k, log } = keeper(clock, {
    expiresAt: clock.now() + TTL_S * 1000,
    fetch: (input, init) => {
      requests.push({ url: String(input), init });
      return Promise.resolve(refreshed(`t${requests.length}`));
    },
  });
  k.start();
  assert.deepEqual(clock.pending, [14 * MINUTE]);
  clock.advance(14 * MINUTE - 1);
  assert.equal(requests.length, 0);
  clock.advance(1);
  await settle();
  assert.equal(requests.length, 1);
  const [{ url, init }] = requests;
  assert.equal(url, "/api/auth/refresh");
  assert.equal(init?.method, "POST");
  assert.equal(init?.credentials, "same-origin");
  assert.deepEqual(init?.headers, { "content-type": "application/json", accept: "application/json" });
  assert.equal(init?.body, "{}");
  assert.deepEqual(log, [`renewed t1 ${TTL_S * 1000 - 1000}`]);
  // `exp` is in whole seconds: the new token may expire up to 1 s sooner than `expires_in` says.
  assert.equal(k.expiresAt, clock.now() + TTL_S * 1000 - 1000);
  assert.deepEqual(clock.pending, [14 * MINUTE - 1000], "the next one, 60 s before the new expiry");
  clock.advance(14 * MINUTE - 1000);
  await settle();
  assert.deepEqual(log, [`renewed t1 ${TTL_S * 1000 - 1000}`, `renewed t2 ${TTL_S * 1000 - 1000}`]);
  k.stop();
  assert.deepEqual(clock.pending, []);
});

Deno.test("SessionKeeper with 5 s tokens renews after 4 s, then every 3 s; without a known expiry only when asked", async () => {
  const clock = new FakeClock();
  const { keeper: k, log } = keeper(clock, {
    expiresAt: clock.now() + 5_000,
    fetch: () => Promise.resolve(refreshed("t", 5)),
  });
  k.start();
  assert.deepEqual(clock.pending, [4_000]);
  clock.advance(4_000);
  await settle();
  // Renewed tokens count 1 s less (the rounding of `exp`), and go at a fifth of 5 s before that.
  assert.deepEqual(clock.pending, [3_000]);
  for (let i = 0; i < 2; i++) {
    clock.advance(3_000);
    await settle();
  }
  assert.deepEqual(log, ["renewed t 4000", "renewed t 4000", "renewed t 4000"]);
  assert.equal(k.expiring(1_000), false);
  clock.advance(3_000);
  assert.equal(k.expiring(1_000), true, "1 s left, the renewal under way");
  await settle();
  k.stop();

  const unknown = keeper(clock);
  unknown.keeper.start();
  assert.deepEqual(clock.pending, []);
  assert.equal(unknown.keeper.expiring(), false);
  assert.equal(await unknown.keeper.renew(), true);
  assert.deepEqual(unknown.log, ["renewed t1 899000"]);
  unknown.keeper.stop();
});

Deno.test("SessionKeeper: calls while a renewal is under way share it", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const { keeper: k, log } = keeper(clock, {
    fetch: () => Promise.resolve(refreshed(`t${++calls}`)),
  });
  const all = await Promise.all([k.renew(), k.renew(), k.renew()]);
  assert.deepEqual(all, [true, true, true]);
  assert.equal(calls, 1);
  assert.deepEqual(log, ["renewed t1 899000"]);
  k.stop();
});

Deno.test("SessionKeeper: a refresh answered 401 ends the session once, and nothing is renewed any more", async () => {
  for (const code of ["session_revoked", "invalid_refresh_token"]) {
    const clock = new FakeClock();
    let calls = 0;
    const { keeper: k, log } = keeper(clock, {
      expiresAt: clock.now() + 5_000,
      fetch: () => (calls++, Promise.resolve(refused(401, code))),
    });
    k.start();
    clock.advance(4_000);
    await settle();
    assert.deepEqual(log, ["ended"], code);
    assert.equal(k.ended, true);
    assert.deepEqual(clock.pending, [], "no retry");
    assert.equal(await k.renew(), false);
    k.end();
    assert.deepEqual(log, ["ended"], "once");
    assert.equal(calls, 1);
  }
});

Deno.test("SessionKeeper: a renewal answering another session than the page's ends this one", async () => {
  const clock = new FakeClock();
  const { keeper: k, log } = keeper(clock, {
    sessionId: "s1",
    fetch: () => Promise.resolve(refreshed("t", TTL_S, "s2")),
  });
  assert.equal(await k.renew(), false);
  assert.deepEqual(log, ["ended"]);
});

Deno.test("SessionKeeper: an unreachable server or a 5xx is tried again after 1 s, 2 s, 4 s; success starts over", async () => {
  const clock = new FakeClock();
  const answers: (() => Promise<Response>)[] = [
    () => Promise.reject(new TypeError("Failed to fetch")),
    () => Promise.resolve(refused(503, "unavailable")),
    () => Promise.resolve(new Response("<html>bad gateway</html>", { status: 502 })),
    () => Promise.resolve(refreshed("t", 5)),
  ];
  let calls = 0;
  const { keeper: k, log } = keeper(clock, {
    expiresAt: clock.now() + 5_000,
    fetch: () => answers[calls++](),
  });
  k.start();
  clock.advance(4_000);
  await settle();
  assert.deepEqual(clock.pending, [1_000]);
  clock.advance(1_000);
  await settle();
  assert.deepEqual(clock.pending, [2_000]);
  clock.advance(2_000);
  await settle();
  assert.deepEqual(clock.pending, [4_000]);
  assert.deepEqual(log, []);
  clock.advance(4_000);
  await settle();
  assert.equal(calls, 4);
  assert.deepEqual(log, ["renewed t 4000"]);
  assert.deepEqual(clock.pending, [3_000]);
  k.stop();
});

Deno.test("SessionKeeper.fetch: a 401 token_expired renews and sends the request again; session_revoked ends", async () => {
  const clock = new FakeClock();
  const requests: string[] = [];
  let expired = true;
  const { keeper: k, log } = keeper(clock, {
    fetch: (input, init) => {
      const request = `${init?.method ?? "GET"} ${input}`;
      requests.push(request);
      if (request === "POST /api/auth/refresh") {
        expired = false;
        return Promise.resolve(refreshed("t2"));
      }
      if (String(input) === "/api/gone") return Promise.resolve(refused(401, "session_revoked"));
      return Promise.resolve(expired ? refused(401, "token_expired") : Response.json({ ok: true }));
    },
  });
  const res = await k.fetch("/api/rooms/r1/members");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true });
  assert.deepEqual(requests, [
    "GET /api/rooms/r1/members",
    "POST /api/auth/refresh",
    "GET /api/rooms/r1/members",
  ]);
  assert.deepEqual(log, ["renewed t2 899000"]);

  const gone = await k.fetch("/api/gone");
  assert.equal(gone.status, 401);
  assert.deepEqual(await gone.json(), { error: { code: "session_revoked", message: "session_revoked" } });
  assert.deepEqual(log, ["renewed t2 899000", "ended"]);
  assert.equal(k.ended, true);
});

/** `count` keepers of one browser, sharing the cookie jar (and the lock, when given), for `seconds` of 5 s tokens. */
async function tabs(count: number, locks: FakeLocks | null, seconds: number) {
  const clock = new FakeClock();
  const server = new SessionServer();
  const logs: string[][] = [];
  const keepers = Array.from({ length: count }, () => {
    const made = keeper(clock, {
      fetch: server.fetch,
      locks,
      // The tabs were opened together: their renewals fall due at the same moment.
      expiresAt: clock.now() + 5_000,
    });
    logs.push(made.log);
    made.keeper.start();
    return made.keeper;
  });
  for (let i = 0; i < seconds; i++) {
    clock.advance(1_000);
    await settle();
  }
  for (const k of keepers) k.stop();
  return { server, logs, keepers };
}

Deno.test("SessionKeeper: tabs renewing at the same moment take turns under the Web Lock; no refresh token is presented twice", async () => {
  const locks = new FakeLocks();
  // Three lifetimes: each tab renews at 4 s, 7 s, 10 s and 13 s, the two one after the other.
  const { server, logs } = await tabs(2, locks, 15);
  assert.equal(locks.mostHeld, 1);
  assert.equal(server.reuses, 0);
  assert.equal(server.revoked, false);
  assert.equal(server.issued, 8);
  for (const log of logs) {
    assert.equal(log.length, 4);
    assert.ok(log.every((line) => /^renewed access-\d 4000$/.test(line)), log.join());
  }
  assert.deepEqual(
    logs.flat().map((l) => l.split(" ")[1]).sort(),
    [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `access-${n}`),
  );
});

Deno.test("SessionKeeper: without the lock (no navigator.locks), tabs renewing at once would present one refresh token twice", async () => {
  // What the lock prevents: the second tab's request leaves before the first one's answer set the new cookie.
  const { server, logs } = await tabs(2, null, 8);
  assert.equal(server.reuses, 1);
  assert.equal(server.revoked, true);
  // The first tab's renewal went through; the second one's reuse ended the session for both.
  assert.deepEqual(logs, [["renewed access-1 4000", "ended"], ["ended"]]);
});

// ---- the chat client ----

function client(options: { expiresIn?: number; fetch?: typeof fetch; api?: FakeApi } = {}) {
  const clock = new FakeClock();
  const sockets = new FakeSockets();
  const network = new FakeNetwork();
  const chat = new ChatClient({
    me: { id: "u-me" },
    url: "ws://chat.test/ws",
    openSocket: sockets.open,
    fetch: options.fetch ?? options.api?.fetch,
    openOutbox: () => Promise.resolve(new MemoryOutbox()),
    clock,
    random: () => 0.5,
    network,
    locks: null,
    session: options.expiresIn === undefined
      ? undefined
      : { expiresAt: clock.now() + options.expiresIn, lifetimeMs: options.expiresIn, id: "s1" },
  });
  chat.watch("r1", { messages: [], hasOlder: false, members: [] });
  return { chat, clock, sockets, network };
}

async function online(chat: ChatClient, sockets: FakeSockets): Promise<FakeSocket> {
  chat.connect();
  await settle();
  const socket = sockets.last;
  socket.accept();
  assert.deepEqual(socket.take(), [{ type: "resume", rooms: { r1: 0 } }]);
  socket.receive({ type: "resumed", rooms: { r1: 0 } });
  assert.equal(chat.status, "connected");
  return socket;
}

Deno.test("ChatClient hands each renewed access token to its open socket, which stays open", async () => {
  let n = 0;
  const { chat, clock, sockets } = client({
    expiresIn: 5_000,
    fetch: () => Promise.resolve(refreshed(`access-${++n}`, 5)),
  });
  const socket = await online(chat, sockets);
  for (let i = 0; i < 3; i++) {
    clock.advance(4_000);
    await settle();
  }
  assert.deepEqual(socket.take(), [
    { type: "refresh", token: "access-1" },
    { type: "refresh", token: "access-2" },
    { type: "refresh", token: "access-3" },
  ]);
  socket.receive({ type: "refreshed", expires_at: clock.now() + 5_000 });
  assert.equal(sockets.all.length, 1);
  assert.equal(chat.status, "connected");
  chat.close();
  assert.deepEqual(clock.pending, []);
});

Deno.test("ChatClient: a socket closed for its expired token (4001) renews, then reconnects at once and resumes", async () => {
  const { promise: answered, resolve: answer } = Promise.withResolvers<Response>();
  const requests: string[] = [];
  const { chat, clock, sockets, network } = client({
    fetch: (input) => (requests.push(String(input)), answered),
  });
  const socket = await online(chat, sockets);
  socket.drop(4001);
  assert.equal(chat.status, "reconnecting");
  await settle();
  assert.deepEqual(requests, ["/api/auth/refresh"]);
  // No timer reconnects with the expired cookie, nor does the network's return.
  assert.deepEqual(clock.pending, []);
  network.set(false);
  network.set(true);
  clock.advance(MINUTE);
  assert.equal(sockets.all.length, 1);
  answer(refreshed("access-2"));
  await settle();
  assert.equal(sockets.all.length, 2, "reconnected once renewed");
  sockets.last.accept();
  assert.deepEqual(sockets.last.take(), [{ type: "resume", rooms: { r1: 0 } }]);
  chat.close();
});

Deno.test("ChatClient: a socket that closes once its token has run out (a sleeping laptop) renews before reconnecting", async () => {
  let n = 0;
  const { chat, clock, sockets } = client({
    expiresIn: 5_000,
    fetch: () => Promise.resolve(refreshed(`access-${++n}`, 5)),
  });
  const socket = await online(chat, sockets);
  // A drop with time to spare reconnects after the backoff, as always.
  socket.drop(1006);
  assert.deepEqual(clock.pending, [375, 4_000]);
  clock.advance(375);
  assert.equal(sockets.all.length, 2);
  // One when the token is spent: renewed first (its timer's renewal is shared), then reconnected.
  clock.advance(3_300);
  sockets.last.drop(1006);
  assert.equal(sockets.all.length, 2);
  await settle();
  assert.equal(n, 1);
  assert.equal(sockets.all.length, 3);
  chat.close();
});

Deno.test("ChatClient: a socket closed because its session ended (4003) stops for good: status signed_out", async () => {
  const requests: string[] = [];
  const { chat, clock, sockets } = client({
    expiresIn: 5_000,
    fetch: (input) => (requests.push(String(input)), Promise.resolve(refreshed("x", 5))),
  });
  let calls = 0;
  chat.subscribe(() => calls++);
  const socket = await online(chat, sockets);
  calls = 0;
  socket.drop(4003);
  assert.equal(chat.status, "signed_out");
  assert.equal(chat.signedOut, true);
  assert.ok(calls > 0, "views were told");
  assert.deepEqual(clock.pending, [], "no reconnect, no renewal");
  chat.retry();
  clock.advance(10 * MINUTE);
  await settle();
  assert.equal(sockets.all.length, 1);
  assert.deepEqual(requests, []);
  chat.close();
});

Deno.test("ChatClient: a renewal refused with 401 signs out and closes the open socket", async () => {
  const { chat, clock, sockets } = client({
    expiresIn: 5_000,
    fetch: () => Promise.resolve(refused(401, "session_revoked")),
  });
  const socket = await online(chat, sockets);
  clock.advance(4_000);
  await settle();
  assert.equal(chat.status, "signed_out");
  assert.ok(socket.closedByClient);
  assert.deepEqual(socket.take(), []);
  clock.advance(MINUTE);
  assert.equal(sockets.all.length, 1);
});

Deno.test("ChatClient: an API call answered 401 session_revoked signs out", async () => {
  const api = new FakeApi((request) =>
    request === "GET /api/users?q=bo" ? refused(401, "session_revoked") : undefined
  );
  const { chat, sockets } = client({ api });
  const socket = await online(chat, sockets);
  await assert.rejects(chat.people("bo"), { name: "ApiError", code: "session_revoked", status: 401 });
  assert.equal(chat.status, "signed_out");
  assert.ok(socket.closedByClient);
  assert.deepEqual(api.requests, ["GET /api/users?q=bo"]);
});

Deno.test("ChatClient: a refresh frame refused with session_revoked signs out; token_expired leaves the resume alone", async () => {
  const { chat, sockets } = client({ fetch: () => Promise.resolve(refreshed("x")) });
  const socket = await online(chat, sockets);
  socket.drop(1006);
  // A resume in flight on the next socket: the refresh's refusal is not taken for the resume's.
  chat.retry();
  sockets.last.accept();
  assert.deepEqual(sockets.last.take(), [{ type: "resume", rooms: { r1: 0 } }]);
  sockets.last.receive({ type: "error", code: "token_expired", message: "expired", retryable: false });
  assert.equal(chat.status, "reconnecting");
  sockets.last.receive({ type: "resumed", rooms: { r1: 0 } });
  assert.equal(chat.status, "connected");
  sockets.last.receive({ type: "error", code: "session_revoked", message: "ended", retryable: false });
  assert.equal(chat.status, "signed_out");
  assert.ok(sockets.last.closedByClient);
});

import assert from "node:assert/strict";
import { ChatError } from "../errors.ts";
import { nullLogger } from "../log.ts";
import { SqliteStore } from "../storage/sqlite.ts";
import type { Store } from "../storage/store.ts";
import { TokenService } from "./jwt.ts";
import { deviceName, Sessions, type SessionsEnded } from "./sessions.ts";

const SECRET = "sessions-test-secret-0123456789-0123456789";

/**
 * Two instances' `Sessions` on one SQLite store, with a "bus" that hands every announcement to both (as the
 * hub's broadcast channel does), and a count of the store reads of sessions.
 */
function twoInstances(now: () => number = Date.now) {
  const sqlite = SqliteStore.open({ path: ":memory:" });
  let reads = 0;
  const store: Store = {
    ...sqlite,
    users: sqlite.users,
    rooms: sqlite.rooms,
    messages: sqlite.messages,
    sessions: {
      ...sqlite.sessions,
      create: (s) => sqlite.sessions.create(s),
      activeOf: (u, n) => sqlite.sessions.activeOf(u, n),
      rotate: (h, n) => sqlite.sessions.rotate(h, n),
      revoke: (i, u, a) => sqlite.sessions.revoke(i, u, a),
      revokeAllOf: (u, a, e) => sqlite.sessions.revokeAllOf(u, a, e),
      byId: (id) => {
        reads++;
        return sqlite.sessions.byId(id);
      },
    },
    ping: () => sqlite.ping(),
    close: () => sqlite.close(),
  };
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: 900, now });
  const heard: SessionsEnded[] = [];
  const instances: Sessions[] = [];
  const broadcast = (ended: SessionsEnded) => {
    heard.push(ended);
    for (const instance of instances) instance.ended(ended);
    return Promise.resolve();
  };
  for (let i = 0; i < 2; i++) {
    instances.push(new Sessions({ store, tokens, refreshTtlDays: 30, log: nullLogger, broadcast, now }));
  }
  return { store, a: instances[0], b: instances[1], heard, reads: () => reads };
}

async function refused(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error) => error instanceof ChatError && error.code === code);
}

const DEVICE = {
  userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  ip: "10.0.0.1",
};

Deno.test("Sessions: a token is checked against the store once per instance, then from memory", async () => {
  const { store, a, b, reads } = twoInstances();
  const alice = await store.users.create({ username: "alice", email: "a@x.test", password_hash: "h" });
  const issued = await a.start(alice, DEVICE);
  for (let i = 0; i < 20; i++) {
    const who = await a.authenticate(issued.token);
    assert.equal(who.sessionId, issued.session_id);
  }
  assert.equal(reads(), 0, "the instance that started the session knows it");
  await Promise.all([
    b.authenticate(issued.token),
    b.authenticate(issued.token),
    b.authenticate(issued.token),
  ]);
  for (let i = 0; i < 20; i++) await b.authenticate(issued.token);
  assert.equal(reads(), 1, "another instance reads it once, even when asked three times at once");
  const [session] = await a.list(alice.id);
  assert.equal(session.device, "Firefox on Linux");
  assert.equal(session.ip, "10.0.0.1");
  await store.close();
});

Deno.test("Sessions: ending a session refuses its tokens on every instance at once; others stay", async () => {
  const { store, a, b, heard } = twoInstances();
  const alice = await store.users.create({ username: "alice", email: "a@x.test", password_hash: "h" });
  const laptop = await a.start(alice, DEVICE);
  const phone = await a.start(alice, {
    userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1",
    ip: "10.0.0.2",
  });
  await b.authenticate(laptop.token);
  assert.equal(await a.end(laptop.session_id, alice.id), true);
  assert.deepEqual(heard, [{ user_id: alice.id, session_ids: [laptop.session_id] }]);
  await refused(a.authenticate(laptop.token), "session_revoked");
  await refused(b.authenticate(laptop.token), "session_revoked");
  assert.equal((await b.authenticate(phone.token)).sessionId, phone.session_id);
  assert.equal(await a.end(laptop.session_id, alice.id), false, "ended once");
  assert.deepEqual((await a.list(alice.id)).map((s) => [s.id, s.device]), [[
    phone.session_id,
    "Safari on iOS",
  ]]);

  const third = await b.start(alice, DEVICE);
  assert.deepEqual(await a.endAll(alice.id, third.session_id), [phone.session_id]);
  await refused(b.authenticate(phone.token), "session_revoked");
  assert.equal((await a.authenticate(third.token)).sessionId, third.session_id);
  await store.close();
});

Deno.test("Sessions: an instance that missed the broadcast refuses the token once it reads the store again", async () => {
  let now = Date.now();
  const { store, a, b } = twoInstances(() => now);
  const alice = await store.users.create({ username: "alice", email: "a@x.test", password_hash: "h" });
  const issued = await a.start(alice, DEVICE);
  await b.authenticate(issued.token);
  // Revoked in the store behind the instances' backs (a lost bus message).
  await store.sessions.revoke(issued.session_id, alice.id, new Date(now).toISOString());
  assert.equal((await b.authenticate(issued.token)).userId, alice.id, "still trusted from memory");
  now += 60_001;
  await refused(b.authenticate(issued.token), "session_revoked");
  await store.close();
});

Deno.test("Sessions.refresh() rotates; a used refresh token ends the session everywhere", async () => {
  const { store, a, b, heard } = twoInstances();
  const alice = await store.users.create({ username: "alice", email: "a@x.test", password_hash: "h" });
  const first = await a.start(alice, DEVICE);
  const second = await b.refresh(first.refresh_token, "10.0.0.9");
  assert.equal(second.session_id, first.session_id);
  assert.equal(second.user_id, alice.id);
  assert.notEqual(second.refresh_token, first.refresh_token);
  assert.equal((await a.authenticate(second.token)).sessionId, first.session_id);
  assert.equal((await a.list(alice.id))[0].ip, "10.0.0.9");

  await refused(a.refresh(first.refresh_token, "10.6.6.6"), "session_revoked");
  assert.deepEqual(heard, [{ user_id: alice.id, session_ids: [first.session_id] }]);
  await refused(b.authenticate(second.token), "session_revoked");
  // The ended session's tokens are gone from the store: the newest one is simply not valid any more.
  await refused(a.refresh(second.refresh_token, "10.0.0.9"), "invalid_refresh_token");
  await store.close();
});

Deno.test("Sessions.refresh() refuses what is not a refresh token with invalid_refresh_token", async () => {
  const { store, a } = twoInstances();
  for (const token of [undefined, null, 42, "", "x".repeat(201), "never-issued"]) {
    await refused(a.refresh(token, "10.0.0.1"), "invalid_refresh_token");
  }
  await store.close();
});

Deno.test("Sessions.authenticate() refuses a token whose session belongs to someone else", async () => {
  const { store, a } = twoInstances();
  const alice = await store.users.create({ username: "alice", email: "a@x.test", password_hash: "h" });
  const bob = await store.users.create({ username: "bob", email: "b@x.test", password_hash: "h" });
  const issued = await a.start(alice, DEVICE);
  const forged = await new TokenService({ secret: SECRET, ttlSeconds: 900 }).sign(bob, issued.session_id);
  await refused(a.authenticate(forged), "session_revoked");
  await refused(a.authenticate(undefined), "missing_token");
  await refused(a.authenticate("a.b.c"), "invalid_token");
  await store.close();
});

Deno.test("deviceName() names the browser and system, or the client's first word", async (t) => {
  const cases: [string | undefined, string][] = [
    [
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
      "Chrome on Windows",
    ],
    [
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0",
      "Edge on Windows",
    ],
    [
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
      "Safari on macOS",
    ],
    [
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
      "Chrome on Android",
    ],
    ["Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"],
    ["curl/8.5.0", "curl"],
    ["Deno/2.9.6", "Deno"],
    ["", "Unknown device"],
    [undefined, "Unknown device"],
    ["<script>/1", "script"],
  ];
  for (const [agent, name] of cases) {
    await t.step(String(agent).slice(0, 40), () => assert.equal(deviceName(agent), name));
  }
});

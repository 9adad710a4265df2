import assert from "node:assert/strict";
import { StoreBreaker } from "./breaker.ts";
import { StoreUnavailableError } from "./errors.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./store.ts";

type Mode = "up" | "hang" | "fail" | "slow";

/**
 * A real in-memory store whose calls can be made to hang (`hang`: every call and the ping; `slow`: every call
 * but the ping) or fail; `close()` lets the hung calls go on.
 */
function switchable(): { store: Store; inner: SqliteStore; mode: { now: Mode }; close(): void } {
  const inner = SqliteStore.open({ path: ":memory:" });
  const mode = { now: "up" as Mode };
  const hanging: (() => void)[] = [];
  const gate = <T>(fn: () => Promise<T>, ping = false): Promise<T> => {
    if (mode.now === "fail") return Promise.reject(new StoreUnavailableError("switched off"));
    if (mode.now === "hang" || (mode.now === "slow" && !ping)) {
      return new Promise<void>((resolve) => hanging.push(resolve)).then(fn);
    }
    return fn();
  };
  const wrap = <T extends object>(repo: T): T =>
    new Proxy(repo, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        return typeof value === "function"
          ? (...args: unknown[]) => gate(() => value.apply(target, args))
          : value;
      },
    });
  const store: Store = {
    users: wrap(inner.users),
    rooms: wrap(inner.rooms),
    messages: wrap(inner.messages),
    sessions: wrap(inner.sessions),
    ping: () => gate(() => inner.ping(), true),
    close: () => inner.close(),
  };
  return {
    store,
    inner,
    mode,
    close() {
      for (const resolve of hanging.splice(0)) resolve();
    },
  };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function refusedAtOnce(call: () => Promise<unknown>): Promise<StoreUnavailableError> {
  const started = performance.now();
  const error = await call().then(() => assert.fail("expected a refusal"), (e) => e);
  assert.ok(error instanceof StoreUnavailableError, String(error));
  // "At once": well before any deadline of the breaker under test (1 s here).
  assert.ok(performance.now() - started < 500, `refused after ${performance.now() - started} ms`);
  return error;
}

Deno.test("StoreBreaker: an unavailable error opens it; calls are then refused at once until a probe succeeds", async () => {
  const s = switchable();
  const breaker = new StoreBreaker(s.store, { timeoutMs: 1_000, probeIntervalMs: 20 });
  const changes: string[] = [];
  breaker.onChange((state) => changes.push(state));
  try {
    const user = await breaker.store.users.create({ username: "ann", email: "a@x.test", password_hash: "h" });
    assert.equal(breaker.state, "closed");

    s.mode.now = "fail";
    await refusedAtOnce(() => breaker.store.users.byId(user.id));
    assert.equal(breaker.state, "open");
    // Refused by the breaker itself now, even though the store would answer: nothing reaches it.
    s.mode.now = "up";
    const refusal = await refusedAtOnce(() => breaker.store.users.byId(user.id));
    assert.equal(refusal.retryAfterMs, 2_000);
    assert.equal(refusal.code, "store_unavailable");
    assert.equal(refusal.retryable, true);

    breaker.start();
    while (breaker.state === "open") await wait(10);
    assert.equal((await breaker.store.users.byId(user.id))?.username, "ann");
    assert.deepEqual(changes, ["open", "closed"]);
  } finally {
    s.close();
    await breaker.close();
  }
});

Deno.test("StoreBreaker: a call past its deadline whose ping does not answer either is refused and opens it; the calls queued behind it are refused at once", async () => {
  const s = switchable();
  const breaker = new StoreBreaker(s.store, { timeoutMs: 300, probeIntervalMs: 20 });
  try {
    s.mode.now = "hang";
    const started = performance.now();
    const first = await breaker.store.rooms.byId("0".repeat(24)).then(() => null, (e) => e);
    const took = performance.now() - started;
    assert.ok(first instanceof StoreUnavailableError);
    assert.ok(took < 1_000, `the first call answered after ${took} ms`);
    assert.equal(breaker.state, "open");
    // Ten calls one after another (as a socket's queue runs them): each answered at once.
    for (let i = 0; i < 10; i++) await refusedAtOnce(() => breaker.store.rooms.byId("0".repeat(24)));
    await refusedAtOnce(() => breaker.store.ping());
  } finally {
    s.close();
    await breaker.close();
  }
});

Deno.test("StoreBreaker: a slow call whose store still answers pings goes on, up to 4 deadlines", async () => {
  const s = switchable();
  const breaker = new StoreBreaker(s.store, { timeoutMs: 100, probeIntervalMs: 20 });
  try {
    const user = await breaker.store.users.create({ username: "ann", email: "a@x.test", password_hash: "h" });
    s.mode.now = "slow";
    const call = breaker.store.users.byId(user.id);
    await wait(250);
    assert.equal(breaker.state, "closed", "the ping answered: slow, not down");
    s.mode.now = "up";
    s.close();
    assert.equal((await call)?.username, "ann");

    // But not without end: past 4 deadlines in all it is refused, and the breaker opens until the next probe.
    s.mode.now = "slow";
    const started = performance.now();
    await assert.rejects(() => breaker.store.users.byId(user.id), StoreUnavailableError);
    assert.ok(performance.now() - started < 1_000, `refused after ${performance.now() - started} ms`);
    assert.equal(breaker.state, "open");
  } finally {
    s.close();
    await breaker.close();
  }
});

Deno.test("StoreBreaker: the closed breaker's ping notices an outage nobody asked about; a hanging probe keeps it open", async () => {
  const s = switchable();
  const breaker = new StoreBreaker(s.store, { timeoutMs: 200, probeIntervalMs: 20, probeTimeoutMs: 50 });
  try {
    breaker.start();
    s.mode.now = "hang";
    while (breaker.state === "closed") await wait(10);
    await wait(200);
    assert.equal(breaker.state, "open", "probes that do not answer leave it open");
    s.mode.now = "up";
    s.close();
    while (breaker.state === "open") await wait(10);
  } finally {
    s.close();
    await breaker.close();
  }
});

Deno.test("StoreBreaker: other errors pass through and do not open it", async () => {
  const s = switchable();
  const breaker = new StoreBreaker(s.store, { timeoutMs: 1_000 });
  try {
    await breaker.store.users.create({ username: "ann", email: "a@x.test", password_hash: "h" });
    await assert.rejects(
      () => breaker.store.users.create({ username: "ann", email: "b@x.test", password_hash: "h" }),
      { name: "ConflictError" },
    );
    assert.equal(breaker.state, "closed");
  } finally {
    await breaker.close();
  }
});

Deno.test("StoreBreaker: a retried append after recovery stores one copy (the first may complete after its deadline)", async () => {
  const s = switchable();
  const breaker = new StoreBreaker(s.store, { timeoutMs: 100, probeIntervalMs: 20 });
  try {
    const user = await breaker.store.users.create({ username: "ann", email: "a@x.test", password_hash: "h" });
    const room = await breaker.store.rooms.create({
      name: "r",
      description: "",
      creator_id: user.id,
      is_private: false,
    });
    const message = {
      room_id: room.id,
      user_id: user.id,
      username: "ann",
      content: "hi",
      type: "text" as const,
      client_id: "c-1",
    };
    s.mode.now = "hang";
    await assert.rejects(() => breaker.store.messages.append(message), StoreUnavailableError);
    // The store comes back: the hung append completes late, then the breaker closes and the client retries.
    s.mode.now = "up";
    s.close();
    breaker.start();
    while (breaker.state === "open") await wait(10);
    const retried = await breaker.store.messages.append(message);
    assert.equal(retried.created, false, "the late first attempt had stored it");
    const page = await s.inner.messages.history(room.id, { limit: 10 });
    assert.deepEqual(page.messages.map((m) => m.client_id), ["c-1"]);
  } finally {
    s.close();
    await breaker.close();
  }
});

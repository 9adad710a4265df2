import assert from "node:assert/strict";
import { type Db, type Document, Long, MongoClient } from "mongodb";
import { type FerretDbServer, startFerretDb } from "../../tests/helpers/ferretdb.ts";
import { freePort } from "../../tests/helpers/redis.ts";
import { newId } from "../ids.ts";
import { type LogFields, Logger, type LogLevel } from "../log.ts";
import { SchemaVersionError, StoreUnavailableError } from "./errors.ts";
import { databaseName, historyFind, MongoStore, type MongoStoreOptions, SCHEMA_VERSION } from "./mongo.ts";
import { assertRoomNamesMigrated, DUPLICATE_ROOMS } from "./testing/room_names_migration.ts";
import type { HistoryQuery, NewMessage, Store } from "./store.ts";
import { storeContract, type WriterArgs } from "./testing/store_contract.ts";
import { assertSignInMigrated, authStoreContract } from "./testing/auth_contract.ts";

const WRITER = new URL("../../tests/helpers/store_writer.ts", import.meta.url).pathname;

/** Database URL of each store opened by `openContractStore()`, for the writer processes. */
const urls = new WeakMap<Store, string>();

/** A `MongoStore` on a fresh database of a FerretDB of its own, which `close()` stops. */
async function openContractStore(): Promise<Store> {
  const ferret = await startFerretDb();
  const url = `${ferret.url}contract_${newId()}`;
  let mongo: MongoStore;
  try {
    mongo = await MongoStore.open({ url });
  } catch (error) {
    await ferret.stop();
    throw error;
  }
  const store: Store = {
    users: mongo.users,
    rooms: mongo.rooms,
    messages: mongo.messages,
    sessions: mongo.sessions,
    ping: () => mongo.ping(),
    close: async () => {
      await mongo.close();
      await ferret.stop();
    },
  };
  urls.set(store, url);
  return store;
}

function spawnWriter({ store, roomId, userId, count }: WriterArgs): Deno.ChildProcess {
  const url = urls.get(store);
  if (!url) throw new Error("spawnWriter() needs a store opened by openContractStore()");
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, url, roomId, userId, String(count)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

storeContract("MongoStore", openContractStore, { spawnWriter });
authStoreContract("MongoStore", openContractStore);

// ------------------------------------------------------------------------------------------------ helpers

interface LogEntry {
  level: LogLevel;
  message: string;
  fields: LogFields;
}

interface Fixture {
  ferret: FerretDbServer;
  /** A URL of a database unique to this case. */
  url: string;
  /** Opens a store on `url` (closed after the case). */
  open(options?: Omit<MongoStoreOptions, "url">): Promise<MongoStore>;
  /** Runs `fn` on the case's database through a plain driver connection. */
  raw<T>(fn: (db: Db) => Promise<T>): Promise<T>;
}

/** Runs `fn` with a fresh FerretDB and a unique database on it; stops everything afterwards. */
async function withFerret(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const ferret = await startFerretDb();
  const url = `${ferret.url}case_${newId()}`;
  const stores: MongoStore[] = [];
  try {
    await fn({
      ferret,
      url,
      async open(options = {}) {
        const store = await MongoStore.open({ url, ...options });
        stores.push(store);
        return store;
      },
      async raw(fn) {
        const client = new MongoClient(url, { serverSelectionTimeoutMS: 3_000 });
        try {
          return await fn(client.db());
        } finally {
          await client.close();
        }
      },
    });
  } finally {
    for (const store of stores) await store.close();
    await ferret.stop();
  }
}

function recordingLogger(): { log: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    log: new Logger("debug", (level, message, fields) => entries.push({ level, message, fields })),
    entries,
  };
}

function text(room_id: string, content: string, client_id?: string): NewMessage {
  const message: NewMessage = { room_id, user_id: "u".repeat(24), username: "u", content, type: "text" };
  if (client_id !== undefined) message.client_id = client_id;
  return message;
}

async function newRoom(store: Store): Promise<string> {
  const room = await store.rooms.create({
    name: "r",
    description: "",
    creator_id: newId(),
    is_private: false,
  });
  return room.id;
}

/** Awaits `promise`, failing when it takes longer than `ms`; returns how long it took. */
async function timed<T>(promise: Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const started = performance.now();
  const [result] = await Promise.allSettled([promise]);
  return { ms: performance.now() - started, result };
}

function assertUnavailable(
  outcome: { ms: number; result: PromiseSettledResult<unknown> },
  within: number,
): void {
  assert.equal(outcome.result.status, "rejected", "expected a rejection");
  const error = (outcome.result as PromiseRejectedResult).reason;
  assert.ok(error instanceof StoreUnavailableError, `expected a StoreUnavailableError, got ${error}`);
  assert.equal(error.detail, "MongoDB is unavailable");
  assert.equal(error.code, "store_unavailable");
  assert.ok(error.cause instanceof Error, "keeps the driver error as the cause");
  assert.ok(outcome.ms < within, `took ${Math.round(outcome.ms)} ms, more than ${within} ms`);
}

// ------------------------------------------------------------------------------------------------ open

Deno.test("`MongoStore.open()` creates the indexes and the schema version, idempotently", async () => {
  await withFerret(async ({ open, raw }) => {
    const first = await open();
    const second = await open(); // a second server process starting on the same database
    await second.ping();
    await first.close();
    const indexes = await raw(async (db) => {
      const byCollection: Record<string, Document[]> = {};
      for (const name of ["users", "rooms", "memberships", "messages"]) {
        byCollection[name] = (await db.collection(name).listIndexes().toArray())
          .map(({ key, unique }) => ({ key, unique: unique === true }))
          .sort((a, b) => JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1);
      }
      return byCollection;
    });
    assert.deepEqual(indexes, {
      users: [
        { key: { _id: 1 }, unique: false }, // _id is unique by nature; listIndexes does not flag it
        { key: { email_lower: 1 }, unique: true },
        { key: { username_lower: 1 }, unique: true },
      ],
      rooms: [
        { key: { _id: 1 }, unique: false },
        { key: { is_direct: 1, name_key: 1 }, unique: true },
      ],
      memberships: [
        { key: { _id: 1 }, unique: false },
        { key: { room_id: 1, join_seq: 1 }, unique: false },
        { key: { user_id: 1 }, unique: false },
      ],
      messages: [
        { key: { _id: 1 }, unique: false },
        { key: { room_id: 1, seq: 1 }, unique: true },
      ],
    });
    const meta = await raw((db) => db.collection("meta").find().toArray());
    assert.deepEqual(meta, [{ _id: "schema", version: SCHEMA_VERSION }]);
  });
});

Deno.test("`MongoStore.open()` refuses a database with a newer schema version", async () => {
  await withFerret(async ({ url, open, raw }) => {
    await (await open()).close();
    await raw((db) =>
      db.collection<{ _id: string; version: number }>("meta")
        .updateOne({ _id: "schema" }, { $set: { version: SCHEMA_VERSION + 41 } })
    );
    await assert.rejects(MongoStore.open({ url }), (error) => {
      assert.ok(error instanceof SchemaVersionError);
      assert.equal(
        error.message,
        `Database schema version ${SCHEMA_VERSION + 41} is newer than this server supports ` +
          `(${SCHEMA_VERSION}); upgrade the server`,
      );
      return true;
    });
    const meta = await raw((db) => db.collection("meta").findOne({ _id: "schema" as never }));
    assert.equal(meta?.version, SCHEMA_VERSION + 41, "left untouched");
  });
});

Deno.test("`MongoStore.open()` rejects with StoreUnavailableError when nobody listens", async () => {
  const outcome = await timed(MongoStore.open({ url: `mongodb://127.0.0.1:${freePort()}/chat` }));
  assertUnavailable(outcome, 5_000);
});

Deno.test("`MongoStore.open()` validates its options", async (t) => {
  await t.step("a URL that is not a MongoDB URL", async () => {
    await assert.rejects(MongoStore.open({ url: "http://user:secret@example.com/chat" }), (error) => {
      assert.ok(error instanceof Error);
      assert.equal(error.message, "Invalid MongoDB URL");
      assert.ok(!error.message.includes("secret"));
      return true;
    });
  });
  for (const poolSize of [0, -1, 1.5]) {
    await t.step(`pool size ${poolSize}`, async () => {
      await assert.rejects(MongoStore.open({ url: "mongodb://127.0.0.1:1/chat", poolSize }), RangeError);
    });
  }
  await t.step("timeout 0", async () => {
    await assert.rejects(MongoStore.open({ url: "mongodb://127.0.0.1:1/chat", timeoutMs: 0 }), RangeError);
  });
});

Deno.test("`databaseName()` reads the database from the URL path, defaulting to chat", async (t) => {
  const cases: [url: string, expected: string][] = [
    ["mongodb://127.0.0.1:27017/app", "app"],
    ["mongodb://127.0.0.1:27017/app?retryWrites=false", "app"],
    ["mongodb://user:p%2Fw@a:1,b:2/app?replicaSet=rs", "app"],
    ["mongodb+srv://cluster.example.com/app", "app"],
    ["mongodb://127.0.0.1:27017/", "chat"],
    ["mongodb://127.0.0.1:27017", "chat"],
    ["mongodb://127.0.0.1:27017/?directConnection=true", "chat"],
    ["mongodb://127.0.0.1/my%20db", "my db"],
  ];
  for (const [url, expected] of cases) {
    await t.step(url, () => assert.equal(databaseName(url), expected));
  }
});

Deno.test("`MongoStore.open()` migrates a version 1 database with duplicate room names, losing nothing", async () => {
  await withFerret(async ({ open, raw }) => {
    const u = "a".repeat(24);
    // Oldest first: General keeps its name; "general (2)" is taken by a room of its own, so "general" gets (3).
    // What a version 1 server stored: no name_key, no display_name_lower, no rooms index.
    await raw(async (db) => {
      await db.collection("meta").insertOne({ _id: "schema" as never, version: 1 });
      await db.collection("users").insertOne({
        _id: u as never,
        username: "alice",
        username_lower: "alice",
        email: "a@x.test",
        email_lower: "a@x.test",
        password_hash: "h",
        display_name: "Alice Ärger",
        avatar_url: null,
        created_at: "2026-01-01T00:00:00.000Z",
        last_seen: null,
      });
      for (const { id, name, isDirect: is_direct, at } of DUPLICATE_ROOMS) {
        await db.collection("rooms").insertOne({
          _id: id as never,
          name,
          description: "d",
          creator_id: u,
          is_private: is_direct,
          is_direct,
          created_at: at,
          last_seq: 1,
          join_counter: 1,
        });
        await db.collection("memberships").insertOne({
          _id: `${id}:${u}` as never,
          room_id: id,
          user_id: u,
          joined_at: at,
          join_seq: 1,
          last_read_seq: 0,
        });
        await db.collection("messages").insertOne({
          _id: newId() as never,
          room_id: id,
          seq: 1,
          user_id: u,
          username: "alice",
          content: `hello ${name}`,
          type: "text",
          timestamp: at,
        });
      }
    });

    const store = await open();
    await assertRoomNamesMigrated(store, u);
    await assertSignInMigrated(store, u);
    const meta = await raw((db) => db.collection("meta").find().toArray());
    assert.deepEqual(meta, [{ _id: "schema", version: SCHEMA_VERSION }]);
  });
});

// ------------------------------------------------------------------------------------------------ behaviour

Deno.test("`MongoStore` keeps data across close and reopen, including client_id deduplication", async () => {
  await withFerret(async ({ open }) => {
    const first = await open();
    const user = await first.users.create({ username: "alice", email: "a@example.com", password_hash: "h" });
    const roomId = await newRoom(first);
    const { message } = await first.messages.append(text(roomId, "still here 👋", "c1"));
    await first.close();

    const second = await open();
    assert.deepEqual(await second.users.byId(user.id), user);
    assert.deepEqual(await second.messages.history(roomId, { limit: 10 }), { messages: [message], total: 1 });
    assert.deepEqual(await second.messages.append(text(roomId, "dup", "c1")), { message, created: false });
    assert.equal((await second.messages.append(text(roomId, "next"))).message.seq, 2);
    await assert.rejects(
      second.users.create({ username: "ALICE", email: "b@example.com", password_hash: "h" }),
      { name: "ConflictError", field: "username" },
    );
  });
});

Deno.test("`MongoStore` treats operator-looking input as plain strings", async (t) => {
  await withFerret(async ({ open }) => {
    const store = await open();
    const plain = await store.users.create({
      username: "plain",
      email: "plain@example.com",
      password_hash: "h",
    });
    await t.step("byEmail()", async () => {
      assert.equal(await store.users.byEmail('{"$ne":null}'), null);
      assert.equal(await store.users.byEmail('{"$exists":true}'), null);
      assert.equal(await store.users.byEmail('{"$regex":""}'), null);
    });
    const odd = await store.users.create({
      username: '{"$gt":""}',
      email: '{"$ne":null}',
      password_hash: "h",
    });
    await t.step("byEmail() of a user whose email looks like an operator", async () => {
      assert.deepEqual(await store.users.byEmail('{"$NE":NULL}'), odd, "the same string, case-insensitively");
      assert.equal(await store.users.byEmail('{"$ne":null} '), null);
    });
    await t.step("byId()", async () => {
      assert.equal(await store.users.byId('{"$ne":null}'), null);
      assert.equal(await store.users.byId("$where"), null);
    });
    await t.step("search()", async () => {
      assert.deepEqual(await store.users.search('{"$', 10), [odd]);
      assert.deepEqual(await store.users.search(".*", 10), []);
      assert.deepEqual(await store.users.search("^p", 10), []);
      assert.deepEqual(await store.users.search("p", 10), [plain]);
    });
    await t.step("rooms and messages", async () => {
      assert.equal(await store.rooms.byId('{"$gt":""}'), null);
      assert.equal(await store.rooms.isMember('{"$gt":""}', '{"$gt":""}'), false);
      assert.deepEqual(await store.rooms.memberIds('{"$gt":""}'), []);
      assert.deepEqual(await store.messages.history('{"$gt":""}', { limit: 10 }), { messages: [], total: 0 });
    });
  });
});

Deno.test("`MongoStore` users.search() matches text ending in the highest code point", async () => {
  await withFerret(async ({ open }) => {
    const store = await open();
    for (const username of ["a\u{10ffff}", "a\u{10ffff}z", "b", "a\u{ffff}"]) {
      await store.users.create({ username, email: `${newId()}@example.com`, password_hash: "h" });
    }
    const found = await store.users.search("a\u{10ffff}", 10);
    assert.deepEqual(found.map((user) => user.username), ["a\u{10ffff}", "a\u{10ffff}z"]);
  });
});

Deno.test("`MongoStore` messages.append() rejects an unknown room and stores nothing", async () => {
  await withFerret(async ({ open }) => {
    const store = await open();
    const roomId = newId();
    await assert.rejects(
      store.messages.append(text(roomId, "x")),
      new Error(`Cannot append a message to unknown room "${roomId}"`),
    );
    assert.deepEqual(await store.messages.history(roomId, { limit: 10 }), { messages: [], total: 0 });
  });
});

Deno.test("`MongoStore` messages.append() stays gap-free and deduplicated under concurrent calls", async (t) => {
  await withFerret(async ({ open }) => {
    const store = await open({ poolSize: 8 });
    const roomId = await newRoom(store);
    await t.step("20 concurrent appends get seq 1..20", async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.messages.append(text(roomId, `m${i}`))),
      );
      assert.deepEqual(results.map((r) => r.message.seq).sort((a, b) => a - b), range(1, 20));
      assert.ok(results.every((r) => r.created));
    });
    await t.step("racing sends with one client_id store one message", async () => {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.messages.append(text(roomId, `try ${i}`, "same"))),
      );
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => JSON.stringify(r.message))).size, 1);
      assert.equal(results[0].message.seq, 21);
    });
    const page = await store.messages.history(roomId, { after_seq: 0, limit: 100 });
    assert.deepEqual(page.messages.map((m) => m.seq), range(1, 21));
    assert.equal((await store.rooms.byId(roomId))?.last_seq, 21);
  });
});

Deno.test("`MongoStore` messages.history() rejects a query with several cursors or a bad limit", async () => {
  await withFerret(async ({ open }) => {
    const store = await open();
    await assert.rejects(store.messages.history(newId(), { limit: 10, offset: 0, before_seq: 5 }), TypeError);
    await assert.rejects(store.messages.history(newId(), { limit: -1 }), RangeError);
    await assert.rejects(store.messages.history(newId(), { limit: 1.5 }), RangeError);
    await assert.rejects(store.messages.history(newId(), { limit: 1, offset: -1 }), RangeError);
  });
});

Deno.test("`MongoStore.close()` is idempotent and ping() fails afterwards", async () => {
  await withFerret(async ({ url }) => {
    const store = await MongoStore.open({ url });
    await store.ping();
    await store.close();
    await store.close();
    await assert.rejects(store.ping(), /closed/);
  });
});

// ------------------------------------------------------------------------------------------------ outages

Deno.test("`MongoStore` rejects with StoreUnavailableError while FerretDB is down and recovers by itself", async (t) => {
  await withFerret(async ({ ferret, open }) => {
    const { log, entries } = recordingLogger();
    const store = await open({ log });
    const roomId = await newRoom(store);
    await store.messages.append(text(roomId, "before"));
    const messages = () => entries.map((entry) => entry.message);

    await ferret.kill();
    await t.step("append() rejects within 5 s", async () => {
      assertUnavailable(await timed(store.messages.append(text(roomId, "during"))), 5_000);
    });
    await t.step("ping() rejects within 5 s", async () => {
      assertUnavailable(await timed(store.ping()), 5_000);
    });
    await t.step("history() rejects within 5 s", async () => {
      assertUnavailable(await timed(store.messages.history(roomId, { limit: 10 })), 5_000);
    });
    await t.step("the outage is logged once", () => {
      assert.deepEqual(messages(), ["MongoDB unavailable"]);
      assert.equal(entries[0].level, "error");
      assert.ok(entries[0].fields.error instanceof Error);
    });

    await ferret.restart();
    await t.step("the same store works again", async () => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await store.ping();
          break;
        } catch (error) {
          if (!(error instanceof StoreUnavailableError) || Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const { message } = await store.messages.append(text(roomId, "after"));
      assert.equal(message.seq, 2, "the failed append used no seq");
      const page = await store.messages.history(roomId, { limit: 10 });
      assert.deepEqual(page.messages.map((m) => m.content), ["before", "after"]);
    });
    await t.step("the outage and the recovery are logged exactly once each", () => {
      assert.deepEqual(messages(), ["MongoDB unavailable", "MongoDB available again"]);
      assert.equal(entries[1].level, "info");
    });
  });
});

Deno.test("`MongoStore` rejects an operation over its time limit with StoreUnavailableError", async () => {
  await withFerret(async ({ open, raw }) => {
    const { log, entries } = recordingLogger();
    const store = await open({ timeoutMs: 50, log });
    // FerretDB scans the whole collection to count a room: 20,000 messages take some 400 ms.
    await raw(async (db) => {
      for (let batch = 0; batch < 10; batch++) {
        await db.collection("messages").insertMany(
          Array.from(
            { length: 2_000 },
            (_, i) => ({ room_id: "r", seq: batch * 2_000 + i + 1, content: "x" }),
          ),
        );
      }
    });
    await assert.rejects(store.messages.history("r", { limit: 1 }), (error) => {
      assert.ok(error instanceof StoreUnavailableError, `expected a StoreUnavailableError, got ${error}`);
      assert.equal((error.cause as { code?: unknown }).code, 50, "MaxTimeMSExpired");
      return true;
    });
    assert.deepEqual(entries.map((entry) => entry.message), ["MongoDB unavailable"]);
  });
});

Deno.test("`MongoStore.close()` returns at once while FerretDB is down", async () => {
  await withFerret(async ({ ferret, url }) => {
    const store = await MongoStore.open({ url });
    await newRoom(store);
    await ferret.kill();
    const outcome = await timed(store.close());
    assert.equal(outcome.result.status, "fulfilled");
    assert.ok(outcome.ms < 1_000, `took ${Math.round(outcome.ms)} ms`);
  });
});

// ------------------------------------------------------------------------------------------------ queries

Deno.test("`historyFind()` filters on the room and sorts on seq for every kind of page", async (t) => {
  const cases: [title: string, query: HistoryQuery, expected: ReturnType<typeof historyFind>][] = [
    ["newest page", { limit: 10 }, {
      filter: { room_id: "r" },
      options: { sort: { seq: -1 }, limit: 10, skip: 0 },
    }],
    ["offset", { limit: 10, offset: 20 }, {
      filter: { room_id: "r" },
      options: { sort: { seq: -1 }, limit: 10, skip: 20 },
    }],
    ["before_seq", { limit: 5, before_seq: 50 }, {
      filter: { room_id: "r", seq: { $lt: 50 } },
      options: { sort: { seq: -1 }, limit: 5 },
    }],
    ["after_seq", { limit: 5, after_seq: 50 }, {
      filter: { room_id: "r", seq: { $gt: 50 } },
      options: { sort: { seq: 1 }, limit: 5 },
    }],
  ];
  for (const [title, query, expected] of cases) {
    await t.step(title, () => assert.deepEqual(historyFind("r", query), expected));
  }
});

Deno.test("`MongoStore` history finds are index-shaped, as far as the server's explain can show", async (t) => {
  await withFerret(async ({ open, raw }) => {
    const store = await open();
    const roomId = await newRoom(store);
    for (let i = 1; i <= 5; i++) await store.messages.append(text(roomId, `m${i}`, `c${i}`));
    const queries: HistoryQuery[] = [{ limit: 2 }, { limit: 2, offset: 1 }, { limit: 2, before_seq: 4 }, {
      limit: 2,
      after_seq: 2,
    }];
    await raw(async (db) => {
      for (const query of queries) {
        await t.step(JSON.stringify(query), async () => {
          const { filter, options } = historyFind(roomId, query);
          // The find command the driver sends, explained. FerretDB's explain wants skip as a 64-bit integer
          // (its find does not mind), hence the Long.
          const skip = options.skip === undefined ? {} : { skip: Long.fromNumber(options.skip) };
          const explain = await db.command({
            explain: { find: "messages", filter, sort: options.sort, limit: options.limit, ...skip },
            verbosity: "queryPlanner",
          });
          if (typeof explain.serverInfo?.ferretdbVersion === "string") {
            // FerretDB v1 (SQLite) pushes down no filter but `_id` equality and reports only SQLite's plan for
            // the whole table, so all it can show is that the command arrived as built.
            assert.deepEqual(explain.command.filter, filter);
            assert.deepEqual(explain.command.sort, options.sort);
            assert.equal(explain.command.limit, options.limit);
            assert.equal(Number(explain.command.skip ?? 0), options.skip ?? 0);
            assert.ok(Array.isArray(explain.queryPlanner?.Plan), "carries SQLite's query plan");
            assert.equal(typeof explain.filterPushdown, "boolean");
          } else {
            // MongoDB: the page comes from an index scan of {room_id, seq}, with no in-memory sort.
            const stages = planStages(explain.queryPlanner.winningPlan);
            const scan = stages.find((stage) => stage.stage === "IXSCAN");
            assert.equal(scan?.indexName, "room_id_1_seq_1", JSON.stringify(explain.queryPlanner));
            assert.ok(!stages.some((stage) => stage.stage === "SORT"), "no in-memory sort");
          }
        });
      }
      await t.step("lookups by _id (client_id deduplication, rooms) are pushed down", async () => {
        const explain = await db.command({
          explain: { find: "messages", filter: { _id: "0".repeat(24) } },
          verbosity: "queryPlanner",
        });
        if (typeof explain.serverInfo?.ferretdbVersion === "string") {
          assert.equal(explain.filterPushdown, true);
        } else {
          const stages = planStages(explain.queryPlanner.winningPlan);
          assert.ok(stages.some((stage) =>
            stage.stage === "IDHACK" || stage.stage === "EXPRESS_IXSCAN" ||
            stage.stage === "IXSCAN"
          ));
        }
      });
    });
  });
});

/** Every stage of a MongoDB explain plan tree. */
function planStages(plan: Document | undefined): Document[] {
  if (!plan) return [];
  const children = [plan.inputStage, ...(plan.inputStages ?? [])].filter(Boolean) as Document[];
  return [plan, ...children.flatMap(planStages)];
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

Deno.test("`MongoStore.open()` migrates a version 2 database (the last release) to sign-in sessions and 2FA", async () => {
  await withFerret(async ({ open, raw }) => {
    const u = "b".repeat(24);
    // What a version 2 server stored: users without two-factor fields, no sessions collections.
    await raw(async (db) => {
      await db.collection("meta").insertOne({ _id: "schema" as never, version: 2 });
      await db.collection("users").insertOne({
        _id: u as never,
        username: "alice",
        username_lower: "alice",
        email: "a@x.test",
        email_lower: "a@x.test",
        password_hash: "h",
        display_name: null,
        display_name_lower: null,
        avatar_url: null,
        created_at: "2026-01-01T00:00:00.000Z",
        last_seen: null,
      });
    });
    const store = await open();
    assert.equal((await store.users.byId(u))?.username, "alice");
    await assertSignInMigrated(store, u);
    const meta = await raw((db) => db.collection("meta").find().toArray());
    assert.deepEqual(meta, [{ _id: "schema", version: SCHEMA_VERSION }]);
  });
});

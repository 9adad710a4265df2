import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { newId } from "../ids.ts";
import { SCHEMA_VERSION, SqliteStore } from "./sqlite.ts";
import { assertRoomNamesMigrated, DUPLICATE_ROOMS } from "./testing/room_names_migration.ts";
import type { Store } from "./store.ts";
import { storeContract, type WriterArgs } from "./testing/store_contract.ts";
import { assertSignInMigrated, authStoreContract } from "./testing/auth_contract.ts";

const WRITER = new URL("../../tests/helpers/store_writer.ts", import.meta.url).pathname;

/** Database file of each store opened by `openFileStore()`, for the writer processes. */
const paths = new WeakMap<Store, string>();

/** A `SqliteStore` on a file in a fresh temporary directory, which `close()` removes. */
async function openFileStore(): Promise<Store> {
  const dir = await Deno.makeTempDir({ prefix: "sqlite_store_test_" });
  const path = join(dir, "chat.db");
  const sqlite = SqliteStore.open({ path });
  const store: Store = {
    users: sqlite.users,
    rooms: sqlite.rooms,
    messages: sqlite.messages,
    sessions: sqlite.sessions,
    ping: () => sqlite.ping(),
    close: async () => {
      await sqlite.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
  paths.set(store, path);
  return store;
}

function spawnWriter({ store, roomId, userId, count }: WriterArgs): Deno.ChildProcess {
  const path = paths.get(store);
  if (!path) throw new Error("spawnWriter() needs a store opened by openFileStore()");
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, `sqlite:${path}`, roomId, userId, String(count)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

storeContract("SqliteStore", openFileStore, { spawnWriter });
authStoreContract("SqliteStore", openFileStore);

/** Runs `fn` with a path in a fresh temporary directory, removed afterwards. */
async function withTempPath(fn: (path: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sqlite_store_test_" });
  try {
    await fn(join(dir, "chat.db"), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`SqliteStore.open()` refuses a database with a newer schema version", async () => {
  await withTempPath(async (path) => {
    await SqliteStore.open({ path }).close();
    const raw = new DatabaseSync(path);
    raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 41}`);
    raw.close();
    assert.throws(
      () => SqliteStore.open({ path }),
      {
        name: "SchemaVersionError",
        message: `Database schema version ${SCHEMA_VERSION + 41} is newer than this server supports ` +
          `(${SCHEMA_VERSION}); upgrade the server`,
      },
    );
    const check = new DatabaseSync(path);
    assert.equal(
      check.prepare("PRAGMA user_version").get()?.user_version,
      SCHEMA_VERSION + 41,
      "left untouched",
    );
    check.close();
  });
});

Deno.test("`SqliteStore.open()` sets up WAL and the schema version on a new file", async () => {
  await withTempPath(async (path) => {
    await SqliteStore.open({ path }).close();
    const raw = new DatabaseSync(path);
    assert.equal(raw.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
    assert.equal(raw.prepare("PRAGMA user_version").get()?.user_version, SCHEMA_VERSION);
    raw.close();
  });
});

Deno.test("`SqliteStore.open()` creates missing parent directories", async () => {
  await withTempPath(async (_, dir) => {
    const path = join(dir, "a", "b", "chat.db");
    const store = SqliteStore.open({ path });
    await store.ping();
    await store.close();
    assert.ok((await Deno.stat(path)).isFile);
  });
});

Deno.test("`SqliteStore.open()` wraps driver errors", async () => {
  await withTempPath(async (path) => {
    await Deno.writeTextFile(
      path,
      "not a database, just some text that is long enough to have a header".repeat(10),
    );
    assert.throws(() => SqliteStore.open({ path }), (error) => {
      assert.ok(error instanceof Error);
      assert.equal(error.message, `Cannot open SQLite database "${path}"`);
      assert.ok(error.cause instanceof Error);
      return true;
    });
  });
});

Deno.test("`SqliteStore` keeps data across close and reopen", async () => {
  await withTempPath(async (path) => {
    const first = SqliteStore.open({ path });
    const user = await first.users.create({ username: "alice", email: "a@example.com", password_hash: "h" });
    const room = await first.rooms.create({
      name: "r",
      description: "d",
      creator_id: user.id,
      is_private: true,
    });
    const { message } = await first.messages.append({
      room_id: room.id,
      user_id: user.id,
      username: "alice",
      content: "still here 👋",
      type: "text",
      client_id: "c1",
    });
    await first.close();

    const second = SqliteStore.open({ path });
    try {
      assert.deepEqual(await second.users.byId(user.id), user);
      assert.deepEqual(await second.rooms.byId(room.id), { ...room, last_seq: 1 });
      assert.deepEqual(await second.rooms.memberIds(room.id), [user.id]);
      assert.deepEqual(await second.messages.history(room.id, { limit: 10 }), {
        messages: [message],
        total: 1,
      });
      const again = await second.messages.append({
        room_id: room.id,
        user_id: user.id,
        username: "alice",
        content: "dup",
        type: "text",
        client_id: "c1",
      });
      assert.deepEqual(again, { message, created: false });
      const next = await second.messages.append({
        room_id: room.id,
        user_id: user.id,
        username: "alice",
        content: "next",
        type: "text",
      });
      assert.equal(next.message.seq, 2);
      await assert.rejects(
        second.users.create({ username: "ALICE", email: "b@example.com", password_hash: "h" }),
        { name: "ConflictError", field: "username" },
      );
    } finally {
      await second.close();
    }
  });
});

Deno.test("`SqliteStore` works in memory", async () => {
  const store = SqliteStore.open({ path: ":memory:" });
  const room = await store.rooms.create({
    name: "r",
    description: "",
    creator_id: newId(),
    is_private: false,
  });
  const { message } = await store.messages.append({
    room_id: room.id,
    user_id: newId(),
    username: "u",
    content: "hi",
    type: "text",
  });
  assert.equal(message.seq, 1);
  await store.close();
});

Deno.test("`SqliteStore.close()` is idempotent and ping() fails afterwards", async () => {
  const store = SqliteStore.open({ path: ":memory:" });
  await store.ping();
  await store.close();
  await store.close();
  await assert.rejects(store.ping(), /closed/);
});

Deno.test("`SqliteStore` messages.append() rejects an unknown room and leaves no trace", async () => {
  const store = SqliteStore.open({ path: ":memory:" });
  try {
    const roomId = newId();
    const message = { room_id: roomId, user_id: newId(), username: "u", content: "x", type: "text" } as const;
    await assert.rejects(
      store.messages.append(message),
      new Error(`Cannot append a message to unknown room "${roomId}"`),
    );
    assert.deepEqual(await store.messages.history(roomId, { limit: 10 }), { messages: [], total: 0 });
    // The failed call rolled back: the connection can still write.
    const room = await store.rooms.create({
      name: "r",
      description: "",
      creator_id: newId(),
      is_private: false,
    });
    assert.equal((await store.messages.append({ ...message, room_id: room.id })).message.seq, 1);
  } finally {
    await store.close();
  }
});

Deno.test("`SqliteStore` messages.history() rejects a query with several cursors or a bad limit", async () => {
  const store = SqliteStore.open({ path: ":memory:" });
  try {
    await assert.rejects(store.messages.history(newId(), { limit: 10, offset: 0, before_seq: 5 }), TypeError);
    await assert.rejects(store.messages.history(newId(), { limit: -1 }), RangeError);
    await assert.rejects(store.messages.history(newId(), { limit: 1.5 }), RangeError);
  } finally {
    await store.close();
  }
});

Deno.test("`SqliteStore` users.search() matches text ending in the highest code point", async () => {
  const store = SqliteStore.open({ path: ":memory:" });
  try {
    for (const username of ["a\u{10ffff}", "a\u{10ffff}z", "b"]) {
      await store.users.create({ username, email: `${newId()}@example.com`, password_hash: "h" });
    }
    const found = await store.users.search("a\u{10ffff}", 10);
    assert.deepEqual(found.map((user) => user.username), ["a\u{10ffff}", "a\u{10ffff}z"]);
  } finally {
    await store.close();
  }
});

Deno.test("`SqliteStore.open()` migrates a version 1 file in place, keeping its data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/v1.db`;
    const v1 = new DatabaseSync(path);
    v1.exec(`
      CREATE TABLE memberships (room_id TEXT NOT NULL, user_id TEXT NOT NULL, joined_at TEXT NOT NULL,
        join_seq INTEGER NOT NULL, PRIMARY KEY (room_id, user_id), UNIQUE (room_id, join_seq));
      INSERT INTO memberships VALUES ('r', 'u', '2026-01-01T00:00:00.000Z', 1);
      PRAGMA user_version = 1;`);
    v1.close();
    const store = SqliteStore.open({ path });
    try {
      assert.deepEqual([...(await store.rooms.readSeqs("u"))], [["r", 0]]);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    assert.equal(check.prepare("PRAGMA user_version").get()?.user_version, SCHEMA_VERSION);
    check.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The tables of a version 2 file (before unique room names), as that server created them. */
const V2_SCHEMA = `
CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL, username_lower TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL, email_lower TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, display_name TEXT,
  avatar_url TEXT, created_at TEXT NOT NULL, last_seen TEXT);
CREATE TABLE rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
  creator_id TEXT NOT NULL, is_private INTEGER NOT NULL, is_direct INTEGER NOT NULL, direct_key TEXT UNIQUE,
  created_at TEXT NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE memberships (room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL, joined_at TEXT NOT NULL, join_seq INTEGER NOT NULL,
  last_read_seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (room_id, user_id), UNIQUE (room_id, join_seq));
CREATE INDEX memberships_user_id ON memberships (user_id);
CREATE TABLE messages (id TEXT PRIMARY KEY, room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL, user_id TEXT NOT NULL, username TEXT NOT NULL, content TEXT NOT NULL,
  type TEXT NOT NULL, timestamp TEXT NOT NULL, client_id TEXT, UNIQUE (room_id, seq));
CREATE UNIQUE INDEX messages_client_id ON messages (room_id, user_id, client_id) WHERE client_id IS NOT NULL;
PRAGMA user_version = 2;`;

Deno.test("`SqliteStore.open()` migrates a version 2 file with duplicate room names, losing nothing", async () => {
  await withTempPath(async (path) => {
    const u = "a".repeat(24);
    const v2 = new DatabaseSync(path);
    v2.exec(V2_SCHEMA);
    v2.prepare(
      `INSERT INTO users (id, username, username_lower, email, email_lower, password_hash, display_name,
         created_at) VALUES (?, 'alice', 'alice', 'a@x.test', 'a@x.test', 'h', 'Alice Ärger', ?)`,
    ).run(u, "2026-01-01T00:00:00.000Z");
    // Oldest first: General keeps its name; "general (2)" is taken by a room of its own, so "general" gets (3).
    for (const { id, name, isDirect, at } of DUPLICATE_ROOMS) {
      v2.prepare(
        `INSERT INTO rooms (id, name, description, creator_id, is_private, is_direct, direct_key, created_at,
           last_seq) VALUES (?, ?, 'd', ?, 0, ?, ?, ?, 1)`,
      ).run(id, name, u, isDirect ? 1 : 0, isDirect ? id : null, at);
      v2.prepare("INSERT INTO memberships VALUES (?, ?, ?, 1, 0)").run(id, u, at);
      v2.prepare("INSERT INTO messages VALUES (?, ?, 1, ?, 'alice', ?, 'text', ?, NULL)")
        .run(newId(), id, u, `hello ${name}`, at);
    }
    v2.close();

    const store = SqliteStore.open({ path });
    try {
      await assertRoomNamesMigrated(store, u);
      await assertSignInMigrated(store, u);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    assert.equal(check.prepare("PRAGMA user_version").get()?.user_version, SCHEMA_VERSION);
    check.close();
  });
});

Deno.test("`SqliteStore.open()` migrates a version 3 file (the last release) to sign-in sessions and 2FA", async () => {
  await withTempPath(async (path) => {
    // A version 3 file exactly: today's schema without what version 4 added.
    const current = SqliteStore.open({ path });
    const alice = await current.users.create({ username: "alice", email: "a@x.test", password_hash: "h" });
    await current.close();
    const v3 = new DatabaseSync(path);
    v3.exec(`
      DROP TABLE refresh_tokens; DROP TABLE sessions; DROP TABLE password_resets;
      ALTER TABLE users DROP COLUMN totp_secret; ALTER TABLE users DROP COLUMN totp_last_step;
      ALTER TABLE users DROP COLUMN recovery_codes;
      PRAGMA user_version = 3;`);
    v3.close();

    const store = SqliteStore.open({ path });
    try {
      assert.equal((await store.users.byId(alice.id))?.username, "alice");
      await assertSignInMigrated(store, alice.id);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    assert.equal(check.prepare("PRAGMA user_version").get()?.user_version, SCHEMA_VERSION);
    check.close();
  });
});

Deno.test("`SqliteStore`: a write lock held past the busy timeout is StoreUnavailableError after one wait; probe() fails fast", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sqlite_lock_test_" });
  const path = join(dir, "chat.db");
  const store = SqliteStore.open({ path, busyTimeoutMs: 200 });
  const other = new DatabaseSync(path);
  try {
    const user = await store.users.create({ username: "ann", email: "a@x.test", password_hash: "h" });
    const room = await store.rooms.create({
      name: "r",
      description: "",
      creator_id: user.id,
      is_private: false,
    });
    other.exec("BEGIN EXCLUSIVE");
    const message = {
      room_id: room.id,
      user_id: user.id,
      username: "ann",
      content: "x",
      type: "text" as const,
    };
    let started = performance.now();
    const error = await store.messages.append(message).then(() => null, (e) => e);
    // One busy timeout (200 ms), not one per BEGIN attempt: well under the 5 s of the old settings.
    assert.ok(performance.now() - started < 1_000, `answered after ${performance.now() - started} ms`);
    assert.equal(error?.name, "StoreUnavailableError", String(error));
    assert.equal(error.code, "store_unavailable");
    await assert.rejects(() => store.users.setLastSeen(user.id, new Date().toISOString()), {
      name: "StoreUnavailableError",
    });
    started = performance.now();
    await assert.rejects(() => store.probe(), { name: "StoreUnavailableError" });
    assert.ok(performance.now() - started < 150, `probe answered after ${performance.now() - started} ms`);
    await store.ping(); // reads go on (WAL)
    other.exec("COMMIT");
    await store.probe();
    assert.equal((await store.messages.append(message)).message.seq, 1);
  } finally {
    other.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

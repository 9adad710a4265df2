/**
 * Which store the integration tests run on: SQLite by default; MongoDB (FerretDB) when TEST_MONGO_URL is set,
 * as the test runner's second pass does.
 */
import { basename } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { MongoClient } from "mongodb";
import { newId } from "../../lib/ids.ts";
import { MongoStore } from "../../lib/storage/mongo.ts";
import { SqliteStore } from "../../lib/storage/sqlite.ts";
import type { Store } from "../../lib/storage/store.ts";

export const TEST_MONGO_URL = Deno.env.get("TEST_MONGO_URL");

/** A database of the test's own for the folder `dir`: the same folder always gives the same database. */
export function testDatabaseUrl(dir: string): string {
  if (TEST_MONGO_URL === undefined) return `sqlite:${dir}/chat.db`;
  return `${TEST_MONGO_URL.replace(/\/$/, "")}/t_${basename(dir).replace(/[^A-Za-z0-9_]/g, "_")}`;
}

export function openTestStore(url: string): Promise<Store> {
  return url.startsWith("sqlite:")
    ? Promise.resolve(SqliteStore.open({ path: url.slice("sqlite:".length) }))
    : MongoStore.open({ url });
}

/** Deletes a room's messages up to `seq`, as a retention job would (there is no retention API yet). */
export async function deleteMessagesUpTo(url: string, roomId: string, seq: number): Promise<void> {
  if (url.startsWith("sqlite:")) {
    const db = new DatabaseSync(url.slice("sqlite:".length));
    db.prepare("DELETE FROM messages WHERE room_id = ? AND seq <= ?").run(roomId, seq);
    db.close();
    return;
  }
  const client = await MongoClient.connect(url);
  try {
    await client.db().collection("messages").deleteMany({ room_id: roomId, seq: { $lte: seq } });
  } finally {
    await client.close();
  }
}

/**
 * Stores `count` text messages in a room quickly: through the store on SQLite; in bulk on MongoDB, where
 * FerretDB's full scans make one-by-one appends quadratic (test set-up only; the documents have the store's
 * shape and continue the room's seqs).
 */
export async function seedMessages(
  url: string,
  store: Store,
  message: { room_id: string; user_id: string; username: string },
  count: number,
  content: (i: number) => string,
): Promise<void> {
  if (url.startsWith("sqlite:")) {
    for (let i = 1; i <= count; i++) {
      await store.messages.append({ ...message, content: content(i), type: "text" });
    }
    return;
  }
  const base = (await store.rooms.byId(message.room_id))!.last_seq;
  const client = await MongoClient.connect(url);
  try {
    const db = client.db();
    for (let start = 1; start <= count; start += 1_000) {
      const docs = [];
      for (let i = start; i < start + 1_000 && i <= count; i++) {
        docs.push({
          _id: newId(),
          ...message,
          seq: base + i,
          content: content(i),
          type: "text",
          timestamp: new Date().toISOString(),
        });
      }
      await db.collection<{ _id: string }>("messages").insertMany(docs);
    }
    await db.collection<{ _id: string }>("rooms").updateOne({ _id: message.room_id }, {
      $max: { last_seq: base + count },
    });
  } finally {
    await client.close();
  }
}

/**
 * A Deno process that holds `BEGIN EXCLUSIVE` on the database: it prints "locked" once it has the lock and
 * commits when its stdin closes.
 */
export function lockDatabase(path: string): Deno.ChildProcess {
  const script = `
    import { DatabaseSync } from "node:sqlite";
    const db = new DatabaseSync(${JSON.stringify(path)});
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("BEGIN EXCLUSIVE");
    console.log("locked");
    for await (const _ of Deno.stdin.readable) { /* until closed */ }
    db.exec("COMMIT");
    db.close();
  `;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

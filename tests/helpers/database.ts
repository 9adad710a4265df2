/**
 * Which store the integration tests run on: SQLite by default; MongoDB (FerretDB) when TEST_MONGO_URL is set,
 * as the test runner's second pass does.
 */
import { basename } from "node:path";
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

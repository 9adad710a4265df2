/**
 * A writer process for the store contract's multi-process test: opens `SqliteStore` on a database file and
 * appends `count` text messages to a room, one at a time, with contents "1", "2", ... `String(count)`.
 *
 * @example
 * deno run -A tests/helpers/sqlite_writer.ts data/chat.db <room_id> <user_id> 200
 */

import { SqliteStore } from "../../lib/storage/sqlite.ts";

const [path, roomId, userId, countArg] = Deno.args;
const count = Number(countArg);
if (!path || !roomId || !userId || !Number.isInteger(count) || count < 0) {
  throw new TypeError("Usage: sqlite_writer.ts <db_path> <room_id> <user_id> <count>");
}

const store = SqliteStore.open({ path });
try {
  for (let i = 1; i <= count; i++) {
    await store.messages.append({
      room_id: roomId,
      user_id: userId,
      username: `writer-${userId}`,
      content: String(i),
      type: "text",
      client_id: `w${i}`,
    });
  }
} finally {
  await store.close();
}

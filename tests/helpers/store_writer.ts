/**
 * A writer process for the store contract's multi-process test: opens the store at a database URL
 * (`sqlite:<path>` or `mongodb://…`) and appends `count` text messages to a room, one at a time, with contents
 * "1", "2", ... and client ids "w1", "w2", ...
 *
 * @example
 * deno run -A tests/helpers/store_writer.ts sqlite:/tmp/chat.db <room_id> <user_id> 200
 */
import { openTestStore } from "./database.ts";

const [url, roomId, userId, countArg] = Deno.args;
const count = Number(countArg);
if (!url || !roomId || !userId || !Number.isInteger(count) || count < 0) {
  throw new TypeError("Usage: store_writer.ts <database_url> <room_id> <user_id> <count>");
}

const store = await openTestStore(url);
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

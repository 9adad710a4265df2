/**
 * A writer process for the store contract's multi-process test: opens `MongoStore` on a database and appends
 * `count` text messages to a room, one at a time, with contents "1", "2", ... `String(count)`.
 *
 * @example
 * deno run -A tests/helpers/mongo_writer.ts mongodb://127.0.0.1:27017/chat <room_id> <user_id> 200
 */

import { MongoStore } from "../../lib/storage/mongo.ts";

const [url, roomId, userId, countArg] = Deno.args;
const count = Number(countArg);
if (!url || !roomId || !userId || !Number.isInteger(count) || count < 0) {
  throw new TypeError("Usage: mongo_writer.ts <mongodb_url> <room_id> <user_id> <count>");
}

const store = await MongoStore.open({ url, poolSize: 2 });
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

/**
 * The unique-room-names migration, as both stores' migration tests check it: the rooms an older database holds
 * (names equal by key, a direct room among them), and what must be true once a store opened it.
 */
import assert from "node:assert/strict";
import type { Store } from "../store.ts";

/** Rooms of an older database, oldest first: one member each (`userId`) and one message `hello <name>`. */
export const DUPLICATE_ROOMS: { id: string; name: string; isDirect: boolean; at: string }[] = [
  { id: "1".repeat(24), name: "General", isDirect: false, at: "2026-01-01T00:00:01.000Z" },
  { id: "2".repeat(24), name: "general (2)", isDirect: false, at: "2026-01-01T00:00:02.000Z" },
  { id: "3".repeat(24), name: " general", isDirect: false, at: "2026-01-01T00:00:03.000Z" },
  { id: "4".repeat(24), name: "ＧＥＮＥＲＡＬ", isDirect: false, at: "2026-01-01T00:00:04.000Z" },
  { id: "5".repeat(24), name: "alice, bob", isDirect: true, at: "2026-01-01T00:00:05.000Z" },
  { id: "6".repeat(24), name: "Alice, Bob", isDirect: false, at: "2026-01-01T00:00:06.000Z" },
];

/**
 * After the migration: every room, membership and message is kept; later duplicates got the first free suffix
 * (direct rooms aside); display names are searchable (the user's is "Ärger"); a new duplicate is refused, a
 * free suffixed name is not.
 */
export async function assertRoomNamesMigrated(store: Store, userId: string): Promise<void> {
  const visible = await store.rooms.listVisible(userId);
  assert.deepEqual(visible.map((room) => [room.id, room.name]), [
    ["1".repeat(24), "General"],
    ["2".repeat(24), "general (2)"],
    ["3".repeat(24), " general (3)"],
    ["4".repeat(24), "ＧＥＮＥＲＡＬ (4)"],
    ["5".repeat(24), "alice, bob"],
    ["6".repeat(24), "Alice, Bob"],
  ]);
  for (const { id, name } of DUPLICATE_ROOMS) {
    assert.deepEqual(await store.rooms.memberIds(id), [userId]);
    const page = await store.messages.history(id, { limit: 10 });
    assert.deepEqual(page.messages.map((m) => [m.seq, m.content]), [[1, `hello ${name}`]]);
  }
  assert.deepEqual((await store.users.search("ärger", 20)).map((user) => user.id), [userId]);
  await assert.rejects(
    store.rooms.create({ name: "GENERAL (3)", description: "", creator_id: userId, is_private: false }),
    { name: "ConflictError", field: "name" },
  );
  const fresh = await store.rooms.create({
    name: "general (5)",
    description: "",
    creator_id: userId,
    is_private: true,
  });
  assert.equal(fresh.name, "general (5)");
}

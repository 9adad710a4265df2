import assert from "node:assert/strict";
import { type RoomEntry, RoomList } from "./room_list.ts";

function entry(id: string, name: string, last_seq: number, last_read_seq: number | null, is_direct = false) {
  return {
    id,
    name,
    description: "",
    creator_id: "u1",
    is_private: false,
    is_direct,
    last_seq,
    last_read_seq,
  } satisfies RoomEntry;
}

const unread = (list: RoomList) => list.rows().map((r) => [r.name, r.unread]);

Deno.test("RoomList: rooms by name then direct conversations; unread is last_seq minus the read marker", () => {
  const list = new RoomList([
    entry("d1", "ann, me", 4, null, true),
    entry("r2", "random", 10, 7),
    entry("r1", "general", 3, 3),
  ]);
  assert.deepEqual(unread(list), [["general", 0], ["random", 3], ["ann, me", 4]]);
  assert.equal(list.unreadTotal(), 7);
  assert.equal(list.unreadTotal("r2"), 4);
});

Deno.test("RoomList: others' events add unread, own ones are read, old seqs change nothing", () => {
  const list = new RoomList([entry("r1", "general", 3, 3)]);
  assert.equal(list.seen("r1", 4, false), true);
  assert.equal(list.seen("r1", 5, false), true);
  assert.deepEqual(unread(list), [["general", 2]]);
  assert.equal(list.seen("r1", 6, true), true, "an own message reads everything before it");
  assert.deepEqual(unread(list), [["general", 0]]);
  assert.equal(list.seen("r1", 6, false), false);
  assert.equal(list.seen("r9", 1, false), false, "not listed");
  assert.equal(list.read("r1", 5), false, "a marker never moves back");
});

Deno.test("RoomList.replace() drops rooms the server no longer lists and keeps the newer seqs", () => {
  const list = new RoomList([entry("r1", "general", 3, 3), entry("r2", "random", 1, 1)]);
  list.seen("r1", 9, false);
  list.read("r1", 5);
  list.replace([entry("r1", "general", 8, 4), entry("r3", "new", 2, null)]);
  assert.deepEqual(list.rows().map((r) => [r.id, r.last_seq, r.last_read_seq]), [
    ["r1", 9, 5],
    ["r3", 2, null],
  ]);
  assert.equal(list.has("r2"), false);
});

Deno.test("RoomList: events of a room seen before it is listed count once it is, whatever the listing says", () => {
  const list = new RoomList();
  for (const seq of [1, 2, 3]) assert.equal(list.seen("d1", seq, false), false);
  // The lookup was answered after the first event only.
  list.upsert(entry("d1", "bob", 1, null, true));
  assert.deepEqual(unread(list), [["bob", 3]]);
  list.seen("r1", 4, true);
  list.replace([entry("d1", "bob", 3, null, true), entry("r1", "general", 2, 0)]);
  assert.deepEqual(list.rows().map((r) => [r.name, r.last_seq, r.last_read_seq]), [
    ["general", 4, 4],
    ["bob", 3, null],
  ]);
});

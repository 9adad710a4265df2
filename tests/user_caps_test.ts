/**
 * Per-user caps on one real server process (issue 16): rooms created per hour, sockets per user, typing notices
 * per user (not per socket), direct conversations with new people per hour; and `GET /api/rooms` a page at a
 * time, with every room once, in order, and one member-count query per page. The same caps across two
 * instances: tests/user_caps_cluster_test.ts.
 */
import assert from "node:assert/strict";
import { testDatabaseUrl } from "./helpers/database.ts";
import { spawnServer } from "./helpers/process.ts";
import { api, createRoom, newUser, startServer } from "./helpers/server.ts";
import {
  CAPS_ENV,
  directRoomsPerUser,
  roomsPerUser,
  socketsPerUser,
  typingPerUser,
} from "./helpers/user_caps.ts";

Deno.test("one user's caps hold on a real server process, and other users are not affected", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "chat-caps-" });
  const server = await spawnServer({ DATABASE_URL: testDatabaseUrl(dir), ...CAPS_ENV });
  try {
    const targets = { bases: [server.url] };
    await t.step("rooms created per hour", () => roomsPerUser(targets));
    await t.step("sockets per user: the newest is refused with 429", () => socketsPerUser(targets));
    await t.step("typing notices per user, over all their sockets", () => typingPerUser(targets));
    await t.step("direct conversations with new people per hour", () => directRoomsPerUser(targets));
    await t.step("GET /api/rooms pages list every room once, in order", () => pages(server.url));
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

interface Listed {
  id: string;
  created_at: string;
  member_count: number;
  members?: unknown;
  last_read_seq: number | null;
}

/** Pages of `limit` rooms from the first to the one whose `next_cursor` is null; `between` runs after page 1. */
async function allPages(base: string, token: string, limit: number, between?: () => Promise<unknown>) {
  const pages: Listed[][] = [];
  let cursor: string | null = null;
  do {
    const query: string = `?limit=${limit}` + (cursor === null ? "" : `&cursor=${cursor}`);
    const res = await api(base, "GET", `/api/rooms${query}`, { token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    pages.push(res.body.rooms);
    cursor = res.body.next_cursor;
    if (pages.length === 1) await between?.();
  } while (cursor !== null);
  return pages;
}

async function pages(base: string): Promise<void> {
  const makers = [await newUser(base, "pager"), await newUser(base, "pager"), await newUser(base, "pager")];
  const reader = await newUser(base, "reader");
  const mine: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const maker of makers) mine.push((await createRoom(base, maker)).id);
  }
  const hidden = await createRoom(base, makers[0], { is_private: true });
  const shared = await createRoom(base, makers[1], { is_private: true });
  await api(base, "POST", `/api/rooms/${shared.id}/members`, {
    token: makers[1].token,
    body: { user_id: reader.id },
  });
  await api(base, "POST", `/api/rooms/${mine[0]}/join`, { token: reader.token });

  const whole = await api(base, "GET", "/api/rooms", { token: reader.token });
  assert.equal(whole.status, 200);
  assert.equal(whole.body.next_cursor, null, "fewer than 100 rooms: one page");
  const all: Listed[] = whole.body.rooms;
  const ids = all.map((room) => room.id);
  for (const id of [...mine, shared.id]) assert.equal(ids.filter((x) => x === id).length, 1, id);
  assert.ok(!ids.includes(hidden.id), "a private room of others is not listed");
  const key = (room: Listed) => `${room.created_at} ${room.id}`;
  assert.deepEqual(ids, [...all].sort((a, b) => key(a) < key(b) ? -1 : 1).map((r) => r.id), "oldest first");
  const first = all.find((room) => room.id === mine[0])!;
  assert.deepEqual([first.member_count, first.members, first.last_read_seq], [2, undefined, 1]);
  assert.equal(all.find((room) => room.id === mine[1])!.last_read_seq, null, "not a member");

  // Pages of 5, with a room created after the first page: every room once, the new one last.
  let late = "";
  const paged = await allPages(base, reader.token, 5, async () => {
    late = (await createRoom(base, makers[2])).id;
  });
  assert.ok(paged.every((page) => page.length <= 5) && paged.slice(0, -1).every((page) => page.length === 5));
  assert.deepEqual(paged.flat().map((room) => room.id), [...ids, late]);

  for (
    const query of [
      "?cursor=nonsense",
      "?cursor=",
      "?cursor=%24gt",
      "?limit=0",
      "?limit=501",
      "?limit=x",
      "?page=2",
    ]
  ) {
    const res = await api(base, "GET", `/api/rooms${query}`, { token: reader.token });
    assert.deepEqual([res.status, res.body.error.code], [400, "invalid_query"], query);
  }
  const next = (await api(base, "GET", "/api/rooms?limit=1", { token: reader.token })).body.next_cursor;
  const twice = await api(base, "GET", `/api/rooms?cursor=${next}&cursor=${next}`, { token: reader.token });
  assert.deepEqual([twice.status, twice.body.error.code], [400, "invalid_query"]);
}

Deno.test("GET /api/rooms asks the store for one page's member counts at once, never for member lists", async () => {
  const srv = await startServer({ ROOMS_PER_USER_PER_HOUR: "100" });
  try {
    const user = await newUser(srv.url);
    for (let i = 0; i < 30; i++) await createRoom(srv.url, user);
    const rooms = srv.store.rooms;
    const [memberIds, memberCounts] = [rooms.memberIds.bind(rooms), rooms.memberCounts.bind(rooms)];
    const lists: string[] = [];
    const counts: number[] = [];
    rooms.memberIds = (id) => {
      lists.push(id);
      return memberIds(id);
    };
    rooms.memberCounts = (ids) => {
      counts.push(ids.length);
      return memberCounts(ids);
    };
    const page = await api(srv.url, "GET", "/api/rooms?limit=20", { token: user.token });
    assert.equal(page.body.rooms.length, 20);
    const rest = await api(srv.url, "GET", `/api/rooms?cursor=${page.body.next_cursor}`, {
      token: user.token,
    });
    assert.deepEqual([rest.body.rooms.length, rest.body.next_cursor], [10, null]);
    assert.deepEqual([lists.length, counts], [0, [20, 10]]);
  } finally {
    await srv.close();
  }
});

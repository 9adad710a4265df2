/**
 * The per-user caps, as scenarios against running servers: one instance, or several sharing Redis (each
 * scenario spreads its requests and sockets over `bases`, in turn). Used by tests/user_caps_test.ts and
 * tests/user_caps_cluster_test.ts, with the caps those tests start their servers with (`CAPS_ENV`).
 */
import assert from "node:assert/strict";
import { api, type ApiResult, newUser, type TestUser, waitUntil } from "./server.ts";
import { type Frame, rawUpgrade, TestSocket } from "./socket.ts";

/** The caps the tests run with: small hourly numbers, and a typing bucket that does not refill during a test. */
export const CAPS = {
  roomsPerHour: 5,
  dmsPerHour: 3,
  typingBurst: 3,
  /** The default `MAX_SOCKETS_PER_USER`. */
  sockets: 20,
};

export const CAPS_ENV: Record<string, string> = {
  ROOMS_PER_USER_PER_HOUR: String(CAPS.roomsPerHour),
  DMS_PER_USER_PER_HOUR: String(CAPS.dmsPerHour),
  // One token per 1,000 s: no test lasts long enough for the bucket to give a fourth notice.
  TYPING_PER_USER_PER_SEC: "0.001",
  TYPING_PER_USER_BURST: String(CAPS.typingBurst),
  // MAX_SOCKETS_PER_USER: the default (20).
  HEARTBEAT_SECONDS: "300", // raw test connections never answer a ping
};

/** Where each request goes: `bases[i % bases.length]`. */
export interface Targets {
  bases: string[];
}

const portOf = (base: string) => Number(new URL(base).port);
const wsOf = (base: string, token: string) => `${base.replace(/^http/, "ws")}/ws?token=${token}`;
const statuses = (results: ApiResult[]) => results.map((r) => r.status);

/** A refusal of the table: its status, code and (for rates) a positive Retry-After. */
function assertRefused(res: ApiResult, code: string, what: string, retryAfter = true): void {
  assert.deepEqual([res.status, res.body?.error?.code], [429, code], `${what}: ${JSON.stringify(res.body)}`);
  if (retryAfter) assert.ok(Number(res.headers.get("retry-after")) >= 1, `${what}: Retry-After`);
}

/**
 * One user creates `roomsPerHour` + 3 rooms at once, spread over the instances: exactly `roomsPerHour` are
 * created, the rest are refused with 429 `too_many_rooms`. A refused request (a blank name) takes nothing,
 * and another user is not affected.
 */
export async function roomsPerUser({ bases }: Targets): Promise<void> {
  const [owner, other] = [await newUser(bases[0], "maker"), await newUser(bases[0], "other")];
  const blank = await api(bases[0], "POST", "/api/rooms", { token: owner.token, body: { name: "  " } });
  assert.equal(blank.status, 400);
  const tries = CAPS.roomsPerHour + 3;
  const results = await Promise.all(
    Array.from({ length: tries }, (_, i) =>
      api(bases[i % bases.length], "POST", "/api/rooms", {
        token: owner.token,
        body: { name: `cap ${owner.username} ${i}` },
      })),
  );
  assert.equal(results.filter((r) => r.status === 201).length, CAPS.roomsPerHour, `${statuses(results)}`);
  const refused = results.filter((r) => r.status !== 201);
  assert.equal(refused.length, 3);
  for (const res of refused) assertRefused(res, "too_many_rooms", "a room over the cap");
  // The bucket refills at roomsPerHour an hour: the next room in 3600 / 5 = 720 s.
  assert.ok(refused.every((r) => Number(r.headers.get("retry-after")) > 600), "about 720 s");
  for (const base of bases) {
    const again = await api(base, "POST", "/api/rooms", { token: owner.token, body: { name: "one more" } });
    assertRefused(again, "too_many_rooms", `again on ${base}`);
  }
  const theirs = await api(bases.at(-1)!, "POST", "/api/rooms", {
    token: other.token,
    body: { name: `${other.username}'s` },
  });
  assert.equal(theirs.status, 201, "another user still creates rooms");
}

/**
 * A user holds `sockets` sockets (spread over the instances); the next one, on any instance, is refused before
 * its upgrade with 429 `too_many_sockets` while another user connects; once one closes, a new one opens. Then
 * `sockets` + 5 concurrent upgrades of a third user: exactly `sockets` are accepted.
 */
export async function socketsPerUser({ bases }: Targets): Promise<void> {
  const [holder, other, rusher] = [
    await newUser(bases[0], "holder"),
    await newUser(bases[0], "bystander"),
    await newUser(bases[0], "rusher"),
  ];
  const held: TestSocket[] = [];
  const rushed: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < CAPS.sockets; i++) {
      held.push(await TestSocket.open(wsOf(bases[i % bases.length], holder.token)));
    }
    for (const base of bases) {
      const res = await rawUpgrade(portOf(base), `/ws?token=${holder.token}`);
      const body = JSON.parse(res.body);
      assert.equal(res.status, 429, `the ${CAPS.sockets + 1}st socket on ${base}: ${res.head}`);
      assert.match(res.head, /^content-type: application\/json/im);
      assert.equal(body.error.code, "too_many_sockets");
      assert.match(body.error.message, new RegExp(`has ${CAPS.sockets} connections open`));
    }
    const bystander = await TestSocket.open(wsOf(bases[0], other.token));
    await bystander.close();

    // The held sockets still work, and a closed one gives its place back (to a socket on another instance).
    await Promise.all(held.map((s) => s.sync()));
    await held.shift()!.close();
    const last = bases.at(-1)!;
    let reopened: TestSocket | undefined;
    await waitUntil(async () => {
      reopened = await TestSocket.open(wsOf(last, holder.token)).catch(() => undefined);
      return reopened !== undefined;
    }, "the closed socket's place");
    held.push(reopened!);

    const tries = CAPS.sockets + 5;
    const results = await Promise.all(
      Array.from(
        { length: tries },
        (_, i) => rawUpgrade(portOf(bases[i % bases.length]), `/ws?token=${rusher.token}`),
      ),
    );
    for (const res of results) if (res.status === 101) rushed.push(res.conn);
    assert.equal(rushed.length, CAPS.sockets, `${results.map((r) => r.status)}`);
    assert.ok(results.every((r) => r.status === 101 || r.status === 429));
  } finally {
    for (const conn of rushed) conn.close();
    await Promise.all(held.map((s) => s.close()));
  }
}

/**
 * One user types from `sockets` sockets (spread over the instances), once each, in one room: the other member
 * gets exactly `typingBurst` notices, the per-user bucket, not one per socket.
 */
export async function typingPerUser({ bases }: Targets): Promise<void> {
  const [typist, reader] = [await newUser(bases[0], "typist"), await newUser(bases[0], "reader")];
  const room = await api(bases[0], "POST", "/api/rooms", {
    token: typist.token,
    body: { name: `typing ${typist.username}` },
  });
  assert.equal(room.status, 201);
  const roomId = room.body.id;
  assert.equal(
    (await api(bases[0], "POST", `/api/rooms/${roomId}/join`, { token: reader.token })).status,
    200,
  );
  const sockets: TestSocket[] = [];
  try {
    const listener = await TestSocket.open(wsOf(bases[0], reader.token));
    sockets.push(listener);
    for (let i = 0; i < CAPS.sockets; i++) {
      sockets.push(await TestSocket.open(wsOf(bases[i % bases.length], typist.token)));
    }
    await Promise.all(sockets.map((s) => s.sync()));
    const typists = sockets.slice(1);
    for (const s of typists) s.send({ type: "typing", room_id: roomId });
    // Each socket's pong follows its typing frame's handling, which ends once the notice is published (or
    // dropped); the message is published after all of them, so the reader has every notice once it has it.
    await Promise.all(typists.map((s) => s.sync()));
    typists[0].send({ type: "message", room_id: roomId, content: "done typing" });
    await listener.waitFor((f: Frame) => f.content === "done typing", "the message after the notices");
    const notices = listener.count((f: Frame) => f.type === "typing" && f.user_id === typist.id);
    assert.equal(
      notices,
      CAPS.typingBurst,
      `${CAPS.sockets} sockets typing, one bucket of ${CAPS.typingBurst}`,
    );
    assert.equal(
      typists.filter((s) => s.count((f: Frame) => f.type === "error") > 0).length,
      0,
      "dropped quietly",
    );
  } finally {
    await Promise.all(sockets.map((s) => s.close()));
  }
}

/**
 * A user starts conversations with `dmsPerHour` new people (spread over the instances), then is refused with
 * 429 `too_many_direct_rooms`; reopening a conversation they have, and one someone else started with them, is
 * free (200) at the cap. The refusal creates nothing on the stranger's side.
 */
export async function directRoomsPerUser({ bases }: Targets): Promise<void> {
  const opener = await newUser(bases[0], "opener");
  const people: TestUser[] = [];
  for (let i = 0; i < CAPS.dmsPerHour + 2; i++) people.push(await newUser(bases[0], "stranger"));
  const open = (i: number, user: TestUser, to: TestUser) =>
    api(bases[i % bases.length], "POST", "/api/dms", { token: user.token, body: { user_id: to.id } });

  // people[0] started one with the opener: it is not the opener's new conversation.
  assert.equal((await open(0, people[0], opener)).status, 201);
  const results = [];
  for (let i = 1; i <= CAPS.dmsPerHour + 1; i++) results.push(await open(i, opener, people[i]));
  assert.deepEqual(statuses(results.slice(0, -1)), Array(CAPS.dmsPerHour).fill(201));
  assertRefused(results.at(-1)!, "too_many_direct_rooms", "a new person over the cap");
  for (let i = 0; i < bases.length; i++) {
    assert.equal((await open(i, opener, people[0])).status, 200, "the one people[0] started");
    assert.equal((await open(i + 1, opener, people[1])).status, 200, "one the opener started");
    assert.equal((await open(i, people[2], opener)).status, 200, "from the other side");
  }
  const refusedPerson = people[CAPS.dmsPerHour + 1];
  const theirRooms = await api(bases[0], "GET", "/api/users/me/rooms", { token: refusedPerson.token });
  assert.deepEqual(theirRooms.body.rooms, [], "nothing appeared in the stranger's list");
}

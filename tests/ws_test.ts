/** The WebSocket contract over real sockets, a real port and a real SQLite file. */
import assert from "node:assert/strict";
import { TokenService } from "../lib/auth/jwt.ts";
import { deleteMessagesUpTo, seedMessages } from "./helpers/database.ts";
import { api, createRoom, newUser, startServer, TEST_SECRET, waitUntil } from "./helpers/server.ts";
import { type Frame, rawUpgrade, TestSocket } from "./helpers/socket.ts";

const isText = (content: string) => (f: Frame) => f.type === "text" && f.content === content;

/** Alice's public room, which Bob has joined. */
async function twoMembers(base: string) {
  const [alice, bob] = await Promise.all([newUser(base, "alice"), newUser(base, "bob")]);
  const room = await createRoom(base, alice);
  await api(base, "POST", `/api/rooms/${room.id}/join`, { token: bob.token });
  return { alice, bob, room };
}

Deno.test("a message reaches each member exactly once and never a non-member", async () => {
  const srv = await startServer();
  try {
    const [alice, bob, carol] = await Promise.all(["alice", "bob", "carol"].map((n) => newUser(srv.url, n)));
    const room = await createRoom(srv.url, alice, { name: "General Discussion" });
    const other = await createRoom(srv.url, carol, { name: "Elsewhere" });
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}&room_id=${room.id}`);
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    const c = await TestSocket.open(`${srv.wsUrl}?token=${carol.token}&room_id=${other.id}`);
    await a.sync();
    await c.sync();

    b.send({ type: "join", room_id: room.id });
    const joined = await b.waitFor((f) => f.type === "joined", "joined");
    assert.equal(joined.room_id, room.id);
    const notice = await a.waitFor((f) => f.type === "system", "join notice");
    assert.equal(notice.content, `${bob.username} joined the room`);
    assert.equal(notice.user_id, bob.id);
    assert.equal(notice.seq, 1);

    a.send({ type: "message", room_id: room.id, content: "Hello, everyone!", client_id: "c-1" });
    const ack = await a.waitFor((f) => f.type === "ack", "ack");
    const atA = await a.waitFor(isText("Hello, everyone!"), "message at alice");
    const atB = await b.waitFor(isText("Hello, everyone!"), "message at bob");
    assert.deepEqual(atA, atB);
    assert.deepEqual(Object.keys(atA).sort(), [
      "client_id",
      "content",
      "id",
      "room_id",
      "seq",
      "timestamp",
      "type",
      "user_id",
      "username",
    ]);
    assert.equal(atA.seq, 2);
    assert.equal(atA.username, alice.username);
    assert.equal(atA.user_id, alice.id);
    assert.match(atA.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(ack, { type: "ack", client_id: "c-1", id: atA.id, seq: 2, room_id: room.id });

    // A later frame on the same sockets proves the earlier one would have arrived by now.
    c.send({ type: "message", room_id: other.id, content: "sentinel" });
    await c.waitFor(isText("sentinel"), "sentinel at carol");
    await a.sync();
    await b.sync();
    assert.equal(a.count(isText("Hello, everyone!")), 1);
    assert.equal(b.count(isText("Hello, everyone!")), 1);
    assert.equal(c.count((f) => f.room_id === room.id), 0);
    assert.equal(a.count(isText("sentinel")), 0);

    const history = await api(srv.url, "GET", `/api/rooms/${room.id}/messages`, { token: bob.token });
    assert.deepEqual(history.body.messages.map((m: Frame) => [m.seq, m.type, m.content]), [
      [1, "system", `${bob.username} joined the room`],
      [2, "text", "Hello, everyone!"],
    ]);
    await Promise.all([a.close(), b.close(), c.close()]);
    await waitUntil(() => srv.chat.hub.stats().clients === 0, "hub to forget the sockets");
    assert.deepEqual(srv.chat.hub.stats(), { clients: 0, users: 0, rooms: 0 });
  } finally {
    await srv.close();
  }
});

Deno.test("the upgrade is refused before it happens with 401 and the reason", async () => {
  const srv = await startServer();
  try {
    const user = await newUser(srv.url);
    const expired = await new TokenService({
      secret: TEST_SECRET,
      ttlSeconds: 60,
      now: () => Date.now() - 3_600_000,
    })
      .sign({ id: user.id, username: user.username }, "0".repeat(24));
    const forged = await new TokenService({ secret: "another-secret-0123456789-0123456789", ttlSeconds: 60 })
      .sign({ id: user.id, username: user.username }, "0".repeat(24));
    const cases: [string, string, Record<string, string>, number, string][] = [
      ["no token", "/ws", {}, 401, "missing_token"],
      ["empty token", "/ws?token=", {}, 401, "missing_token"],
      ["malformed token", "/ws?token=not.a.jwt", {}, 401, "invalid_token"],
      ["wrongly signed token", `/ws?token=${forged}`, {}, 401, "invalid_token"],
      ["expired token", `/ws?token=${expired}`, {}, 401, "token_expired"],
      [
        "bad subprotocol token",
        "/ws",
        { "Sec-WebSocket-Protocol": "chat, bearer.nope" },
        401,
        "invalid_token",
      ],
      [
        "foreign origin",
        `/ws?token=${user.token}`,
        { Origin: "https://evil.example" },
        403,
        "origin_not_allowed",
      ],
    ];
    for (const [name, path, headers, status, code] of cases) {
      const res = await rawUpgrade(srv.port, path, headers);
      assert.equal(res.status, status, name);
      assert.match(res.head, /content-type: application\/json/i, name);
      assert.equal(JSON.parse(res.body).error.code, code, name);
      assert.equal(typeof JSON.parse(res.body).error.message, "string", name);
    }
    const plain = await fetch(`${srv.url}/ws?token=${user.token}`);
    assert.equal(plain.status, 426);
    assert.equal((await plain.json()).error.code, "upgrade_required");
  } finally {
    await srv.close();
  }
});

Deno.test("the token is accepted from the query, the subprotocol and the session cookie", async () => {
  const srv = await startServer();
  try {
    const user = await newUser(srv.url);
    const viaQuery = await TestSocket.open(`${srv.wsUrl}?token=${user.token}`);
    const viaProtocol = await TestSocket.open(srv.wsUrl, { protocols: ["chat", `bearer.${user.token}`] });
    assert.equal(viaProtocol.protocol, "chat");
    const viaCookie = await TestSocket.open(srv.wsUrl, {
      headers: { Cookie: `chat_session=${user.token}`, Origin: srv.url },
    });
    for (const socket of [viaQuery, viaProtocol, viaCookie]) await socket.sync();
    await Promise.all([viaQuery.close(), viaProtocol.close(), viaCookie.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("a private room is invisible over the socket to non-members", async () => {
  const srv = await startServer();
  try {
    const [owner, member, outsider] = await Promise.all([
      newUser(srv.url),
      newUser(srv.url),
      newUser(srv.url),
    ]);
    const room = await createRoom(srv.url, owner, { name: "Secret", is_private: true });
    await api(srv.url, "POST", `/api/rooms/${room.id}/members`, {
      token: owner.token,
      body: { user_id: member.id },
    });
    const o = await TestSocket.open(`${srv.wsUrl}?token=${owner.token}`);
    const m = await TestSocket.open(`${srv.wsUrl}?token=${member.token}`);
    const x = await TestSocket.open(`${srv.wsUrl}?token=${outsider.token}&room_id=${room.id}`);
    const refusedAtConnect = await x.waitFor((f) => f.type === "error", "error for room_id");
    assert.deepEqual(
      [refusedAtConnect.code, refusedAtConnect.room_id],
      ["room_not_found", room.id],
    );

    x.send({ type: "join", room_id: room.id });
    x.send({ type: "message", room_id: room.id, content: "let me in", client_id: "x1" });
    x.send({ type: "typing", room_id: room.id });
    await x.sync();
    const errors = x.frames.filter((f) => f.type === "error").map((f) => f.code);
    assert.deepEqual(errors, ["room_not_found", "room_not_found", "room_not_found", "not_a_member"]);
    assert.equal(x.frames.find((f) => f.client_id === "x1" && f.type === "error")?.retryable, false);

    await o.sync();
    await m.sync();
    o.send({ type: "message", room_id: room.id, content: "for members only" });
    await m.waitFor(isText("for members only"), "member receives");
    await o.waitFor(isText("for members only"), "owner receives");
    await x.sync();
    assert.equal(x.count((f) => f.room_id === room.id && f.type !== "error"), 0);
    const history = await api(srv.url, "GET", `/api/rooms/${room.id}/messages`, { token: owner.token });
    assert.deepEqual(history.body.messages.map((f: Frame) => f.content), [
      `${member.username} was added by ${owner.username}`,
      "for members only",
    ]);
    await Promise.all([o.close(), m.close(), x.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("bad frames get an error frame and the socket stays up", async (t) => {
  const srv = await startServer();
  try {
    const user = await newUser(srv.url);
    const room = await createRoom(srv.url, user);
    const ws = await TestSocket.open(`${srv.wsUrl}?token=${user.token}`);
    const cases: [string, string, string][] = [
      ["malformed JSON", "{not json", "invalid_json"],
      ["a JSON array", "[1,2]", "invalid_frame"],
      ["a JSON string", '"message"', "invalid_frame"],
      ["no type", "{}", "invalid_frame"],
      ["an unknown type", '{"type":"shout"}', "unknown_type"],
      ["a type that is an object", '{"type":{"x":1}}', "invalid_frame"],
      ["a missing room_id", '{"type":"message","content":"hi"}', "invalid_frame"],
      ["room_id as an object", `{"type":"message","room_id":{"$ne":null},"content":"hi"}`, "invalid_frame"],
      [
        "content as an object",
        `{"type":"message","room_id":"${room.id}","content":{"a":1}}`,
        "invalid_frame",
      ],
      ["a missing content", `{"type":"message","room_id":"${room.id}"}`, "invalid_frame"],
      ["empty content", `{"type":"message","room_id":"${room.id}","content":""}`, "content_empty"],
      ["blank content", `{"type":"message","room_id":"${room.id}","content":" \\n\\t "}`, "content_empty"],
      [
        "over-long content",
        JSON.stringify({ type: "message", room_id: room.id, content: "x".repeat(4001) }),
        "content_too_long",
      ],
      [
        "a lone surrogate",
        `{"type":"message","room_id":"${room.id}","content":"a\\ud800b"}`,
        "invalid_content",
      ],
      [
        "a NUL character",
        `{"type":"message","room_id":"${room.id}","content":"a\\u0000b"}`,
        "invalid_content",
      ],
      [
        "a bad client_id",
        `{"type":"message","room_id":"${room.id}","content":"hi","client_id":"a b"}`,
        "invalid_frame",
      ],
      [
        "an unknown room",
        '{"type":"message","room_id":"ffffffffffffffffffffffff","content":"hi"}',
        "room_not_found",
      ],
      ["a room id that is no id", '{"type":"join","room_id":"../../etc"}', "room_not_found"],
    ];
    for (const [name, text, code] of cases) {
      await t.step(`${name} -> ${code}`, async () => {
        const from = ws.frames.length;
        ws.send(text);
        const error = await ws.waitFor((f) => f.type === "error", name, { from });
        assert.equal(error.code, code);
        assert.equal(typeof error.message, "string");
        await ws.sync();
      });
    }
    await t.step("binary frame -> binary_not_supported", async () => {
      const from = ws.frames.length;
      ws.sendBinary(new Uint8Array([1, 2, 3]));
      assert.equal(
        (await ws.waitFor((f) => f.type === "error", "binary", { from })).code,
        "binary_not_supported",
      );
    });
    await t.step("4,000 emoji (4,000 characters, 8,000 UTF-16 units) are accepted byte-exact", async () => {
      const content = "😀".repeat(4000);
      ws.send({ type: "message", room_id: room.id, content });
      assert.equal((await ws.waitFor((f) => f.type === "text", "emoji message")).content, content);
    });
    const history = await api(srv.url, "GET", `/api/rooms/${room.id}/messages`, { token: user.token });
    assert.equal(history.body.total, 1, "no refused frame was stored");

    await t.step("a frame over 64 KiB closes the socket with 1009; the server stays up", async () => {
      ws.send(JSON.stringify({ type: "message", room_id: room.id, content: "é".repeat(33_000) }));
      assert.equal((await ws.closed).code, 1009);
      const again = await TestSocket.open(`${srv.wsUrl}?token=${user.token}`);
      await again.sync();
      await again.close();
    });
  } finally {
    await srv.close();
  }
});

Deno.test("content is stored and returned byte-exact, never interpreted", async () => {
  const srv = await startServer();
  try {
    const user = await newUser(srv.url);
    const room = await createRoom(srv.url, user);
    const ws = await TestSocket.open(`${srv.wsUrl}?token=${user.token}`);
    const contents = [
      "<script>alert(1)</script>",
      '<img src=x onerror="alert(1)">',
      "line one\r\nline two\n\ttabbed  ",
      "&amp; &lt; \\u0041 %00 ' \" `",
      "👩‍👩‍👧 مرحبا 你好",
    ];
    for (const content of contents) ws.send({ type: "message", room_id: room.id, content });
    for (const content of contents) {
      assert.equal((await ws.waitFor(isText(content), content)).content, content);
    }
    const res = await fetch(`${srv.url}/api/rooms/${room.id}/messages`, {
      headers: { authorization: `Bearer ${user.token}` },
    });
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual((await res.json()).messages.map((m: Frame) => m.content), contents);
    await ws.close();
  } finally {
    await srv.close();
  }
});

Deno.test("sends over the per-user rate limit get rate_limited and are not stored", async () => {
  const srv = await startServer({ RATE_LIMIT_BURST: "5", RATE_LIMIT_PER_SEC: "0.01" });
  try {
    const user = await newUser(srv.url);
    const room = await createRoom(srv.url, user);
    const first = await TestSocket.open(`${srv.wsUrl}?token=${user.token}`);
    const second = await TestSocket.open(`${srv.wsUrl}?token=${user.token}`);
    for (let i = 1; i <= 4; i++) {
      first.send({ type: "message", room_id: room.id, content: `m${i}`, client_id: `k${i}` });
    }
    for (let i = 5; i <= 7; i++) {
      second.send({ type: "message", room_id: room.id, content: `m${i}`, client_id: `k${i}` });
    }
    await first.sync();
    await second.sync();
    const acks = [...first.frames, ...second.frames].filter((f) => f.type === "ack");
    const limited = [...first.frames, ...second.frames].filter((f) => f.type === "error");
    assert.equal(acks.length, 5);
    assert.equal(limited.length, 2);
    for (const error of limited) {
      assert.equal(error.code, "rate_limited");
      assert.equal(error.retryable, true);
      assert.ok(error.retry_after_ms > 0);
    }
    const history = await api(srv.url, "GET", `/api/rooms/${room.id}/messages`, { token: user.token });
    assert.equal(history.body.total, 5);
    await Promise.all([first.close(), second.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("presence goes once to members of shared rooms; last_seen is kept", async () => {
  const srv = await startServer();
  try {
    const [alice, bob, stranger] = await Promise.all([newUser(srv.url), newUser(srv.url), newUser(srv.url)]);
    for (const name of ["one", "two"]) {
      const room = await createRoom(srv.url, alice, { name });
      await api(srv.url, "POST", `/api/rooms/${room.id}/join`, { token: bob.token });
    }
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    const s = await TestSocket.open(`${srv.wsUrl}?token=${stranger.token}`);
    await b.sync();
    const a1 = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    const online = await b.waitFor((f) => f.type === "presence" && f.status === "online", "online");
    assert.deepEqual(online, {
      type: "presence",
      user_id: alice.id,
      username: alice.username,
      status: "online",
    });
    const a2 = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    await a2.sync();
    assert.equal(
      (await api(srv.url, "GET", `/api/users/${alice.id}`, { token: bob.token })).body.online,
      true,
    );

    await a1.close();
    await waitUntil(() => srv.chat.hub.stats().clients === 3, "the server to see the first socket close");
    await a2.close();
    const offline = await b.waitFor((f) => f.type === "presence" && f.status === "offline", "offline");
    assert.equal(offline.user_id, alice.id);
    await b.sync();
    assert.equal(b.count((f) => f.type === "presence"), 2, "once each, though the users share two rooms");
    await s.sync();
    assert.equal(s.count((f) => f.type === "presence"), 0, "nobody shares a room with the stranger");
    const profile = await api(srv.url, "GET", `/api/users/${alice.id}`, { token: bob.token });
    assert.equal(profile.body.online, false);
    assert.match(profile.body.last_seen, /^\d{4}-\d\d-\d\dT/);
    await Promise.all([b.close(), s.close()]);
  } finally {
    await srv.close();
  }
});

/** What a socket's frames say of `userId` in `roomId`: the `presence_state`, then each later `presence` frame. */
function presenceSeen(socket: TestSocket, roomId: string, userId: string): "online" | "offline" | "unknown" {
  let seen: "online" | "offline" | "unknown" = "unknown";
  for (const f of socket.frames) {
    if (f.type === "presence_state" && f.room_id === roomId) {
      seen = f.online.includes(userId) ? "online" : "offline";
    }
    if (f.type === "presence" && f.user_id === userId) seen = f.status;
  }
  return seen;
}

Deno.test("every connect gets the presence state of its rooms: who of the members is online now", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    const carol = await newUser(srv.url, "carol");
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    await b.sync();
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    await a.waitFor((f) => f.type === "presence_state", "the presence state");
    await a.sync();
    const states = a.frames.filter((f) => f.type === "presence_state");
    assert.deepEqual(states.map((f) => ({ ...f, online: [...f.online].sort() })), [
      { type: "presence_state", room_id: room.id, online: [alice.id, bob.id].sort() },
    ]);
    const c = await TestSocket.open(`${srv.wsUrl}?token=${carol.token}`);
    await c.sync();
    assert.equal(c.count((f) => f.type === "presence_state"), 0, "carol is in no room");
    // A reconnect gets it again, now without bob.
    await b.close();
    await a.waitFor(
      (f) => f.type === "presence" && f.user_id === bob.id && f.status === "offline",
      "bob offline",
    );
    await a.close();
    const again = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    await again.waitFor((f) => f.type === "presence_state", "the presence state");
    await again.sync();
    assert.deepEqual(again.frames.filter((f) => f.type === "presence_state"), [
      { type: "presence_state", room_id: room.id, online: [alice.id] },
    ]);
    await Promise.all([again.close(), c.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("two members opening sockets at the same moment each see the other online, 5 times in a row", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    for (let round = 1; round <= 5; round++) {
      const [a, b] = await Promise.all([
        TestSocket.open(`${srv.wsUrl}?token=${alice.token}`),
        TestSocket.open(`${srv.wsUrl}?token=${bob.token}`),
      ]);
      const state = (f: Frame) => f.type === "presence_state";
      await Promise.all([
        a.waitFor(state, "alice's presence state"),
        b.waitFor(state, "bob's presence state"),
      ]);
      await Promise.all([a.sync(), b.sync()]);
      assert.equal(presenceSeen(a, room.id, bob.id), "online", `round ${round}: alice sees bob`);
      assert.equal(presenceSeen(b, room.id, alice.id), "online", `round ${round}: bob sees alice`);
      await b.close();
      await a.waitFor(
        (f) => f.type === "presence" && f.user_id === bob.id && f.status === "offline",
        "offline",
      );
      assert.equal(presenceSeen(a, room.id, bob.id), "offline");
      await a.close();
      await waitUntil(() => srv.chat.hub.stats().clients === 0, "both sockets gone");
    }
  } finally {
    await srv.close();
  }
});

Deno.test("a reload whose old socket's offline is slowed by the store never leaves the user shown offline", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    const users = srv.store.users;
    const setLastSeen = users.setLastSeen.bind(users);
    // The store records last_seen slowly (a loaded database): the old socket's "offline" is held up by it.
    users.setLastSeen = async (id, at) => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return setLastSeen(id, at);
    };
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    await b.sync();
    const first = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    await b.waitFor((f) => f.type === "presence" && f.user_id === alice.id, "alice online");
    // A reload: the old socket closes, the new one opens at once.
    await first.close();
    const second = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    await second.sync();
    // Both sockets' announcements (the old one's after its slow write): three presence frames of alice in all.
    const ofAlice = (f: Frame) => f.type === "presence" && f.user_id === alice.id;
    await b.waitFor(() => b.count(ofAlice) >= 3, "both announcements", { timeoutMs: 5_000 });
    await b.sync();
    assert.equal(b.count(ofAlice), 3);
    assert.equal(presenceSeen(b, room.id, alice.id), "online", "alice is here");
    await Promise.all([second.close(), b.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("presence goes only to rooms of at most PRESENCE_MAX_ROOM_MEMBERS members, and to direct rooms", async () => {
  const srv = await startServer({ PRESENCE_MAX_ROOM_MEMBERS: "2" });
  try {
    const [alice, bob, carol, dave] = await Promise.all(
      ["alice", "bob", "carol", "dave"].map((n) => newUser(srv.url, n)),
    );
    // Joined first, so the big room leads carol's rooms: a socket in the big and a small room takes the small
    // room's copy, not none.
    const big = await createRoom(srv.url, alice, { name: "big" });
    for (const user of [carol, bob, dave]) {
      await api(srv.url, "POST", `/api/rooms/${big.id}/join`, { token: user.token });
    }
    const small = await createRoom(srv.url, bob, { name: "small" });
    await api(srv.url, "POST", `/api/rooms/${small.id}/join`, { token: carol.token });
    const dm = await api(srv.url, "POST", "/api/dms", { token: alice.token, body: { user_id: carol.id } });
    assert.equal(dm.status, 201);

    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`); // big + direct room with carol
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`); // big + small
    const d = await TestSocket.open(`${srv.wsUrl}?token=${dave.token}`); // big only
    await Promise.all([a.sync(), b.sync(), d.sync()]);
    const isCarol = (status: string) => (f: Frame) =>
      f.type === "presence" && f.user_id === carol.id && f.status === status;

    // The store is asked for the member counts once per presence change, whatever the number of rooms.
    const rooms = srv.store.rooms;
    const countCalls: string[][] = [];
    const memberCounts = rooms.memberCounts.bind(rooms);
    rooms.memberCounts = (ids) => {
      countCalls.push(ids);
      return memberCounts(ids);
    };

    const c = await TestSocket.open(`${srv.wsUrl}?token=${carol.token}`);
    await a.waitFor(isCarol("online"), "online in the direct room");
    await b.waitFor(isCarol("online"), "online in the small room");
    // A message in the big room after the presence publish: dave would have had the frame by then.
    c.send({ type: "message", room_id: big.id, content: "carol is here" });
    await d.waitFor(isText("carol is here"), "carol's message");
    await Promise.all([a.sync(), b.sync(), d.sync()]);
    assert.equal(d.count((f) => f.type === "presence"), 0, "a room over the limit gets no presence frame");
    assert.equal(a.count(isCarol("online")), 1);
    assert.equal(b.count(isCarol("online")), 1);
    assert.deepEqual(countCalls.map((ids) => ids.length), [3], "one count query for carol's three rooms");

    // The big room's members still see presence over REST.
    const members = await api(srv.url, "GET", `/api/rooms/${big.id}/members`, { token: dave.token });
    assert.equal(members.status, 200);
    assert.equal(members.body.members.find((m: Frame) => m.id === carol.id)?.online, true);
    assert.equal(
      (await api(srv.url, "GET", `/api/users/${carol.id}`, { token: dave.token })).body.online,
      true,
    );

    await c.close();
    await a.waitFor(isCarol("offline"), "offline in the direct room");
    await b.waitFor(isCarol("offline"), "offline in the small room");
    a.send({ type: "message", room_id: big.id, content: "carol left" });
    await d.waitFor(isText("carol left"), "alice's message");
    await d.sync();
    assert.equal(d.count((f) => f.type === "presence"), 0);
    assert.equal(countCalls.length, 2);
    const after = await api(srv.url, "GET", `/api/rooms/${big.id}/members`, { token: dave.token });
    assert.equal(after.body.members.find((m: Frame) => m.id === carol.id)?.online, false);
    await Promise.all([a.close(), b.close(), d.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("PRESENCE_MAX_ROOM_MEMBERS=0 leaves presence frames to direct rooms only", async () => {
  const srv = await startServer({ PRESENCE_MAX_ROOM_MEMBERS: "0" });
  try {
    const { alice, bob, room } = await twoMembers(srv.url); // a two-member room, as small as rooms get
    const carol = await newUser(srv.url, "carol");
    await api(srv.url, "POST", `/api/rooms/${room.id}/join`, { token: carol.token });
    await api(srv.url, "POST", "/api/dms", { token: alice.token, body: { user_id: bob.id } });
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    const c = await TestSocket.open(`${srv.wsUrl}?token=${carol.token}`);
    await Promise.all([b.sync(), c.sync()]);
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    const online = await b.waitFor((f) => f.type === "presence", "presence in the direct room");
    assert.equal(online.user_id, alice.id);
    a.send({ type: "message", room_id: room.id, content: "hi" });
    await c.waitFor(isText("hi"), "alice's message");
    await Promise.all([b.sync(), c.sync()]);
    assert.equal(b.count((f) => f.type === "presence"), 1);
    assert.equal(c.count((f) => f.type === "presence"), 0, "no presence frame in a room that is not direct");
    await Promise.all([a.close(), b.close(), c.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("typing reaches the other members, not the typist", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    await a.sync();
    await b.sync();
    a.send({ type: "typing", room_id: room.id });
    const typing = await b.waitFor((f) => f.type === "typing", "typing");
    assert.deepEqual(typing, {
      type: "typing",
      room_id: room.id,
      user_id: alice.id,
      username: alice.username,
    });
    await a.sync();
    assert.equal(a.count((f) => f.type === "typing"), 0);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("one socket receives every room of its user, and leaves with a left frame", async () => {
  const srv = await startServer();
  try {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const r1 = await createRoom(srv.url, alice, { name: "r1" });
    const r2 = await createRoom(srv.url, alice, { name: "r2" });
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    b.send({ type: "join", room_id: r1.id });
    b.send({ type: "join", room_id: r2.id });
    await b.sync();
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    a.send({ type: "message", room_id: r1.id, content: "in r1" });
    a.send({ type: "message", room_id: r2.id, content: "in r2" });
    await b.waitFor(isText("in r1"), "r1 message");
    await b.waitFor(isText("in r2"), "r2 message");

    b.send({ type: "leave", room_id: r1.id });
    assert.deepEqual(await b.waitFor((f) => f.type === "left", "left"), { type: "left", room_id: r1.id });
    const notice = await a.waitFor(
      (f) => f.type === "system" && f.content.endsWith("left the room"),
      "notice",
    );
    assert.equal(notice.content, `${bob.username} left the room`);
    a.send({ type: "message", room_id: r1.id, content: "after leaving" });
    a.send({ type: "message", room_id: r2.id, content: "still here" });
    await b.waitFor(isText("still here"), "r2 still delivered");
    assert.equal(b.count(isText("after leaving")), 0);
    b.send({ type: "message", room_id: r1.id, content: "can I?" });
    assert.equal((await b.waitFor((f) => f.type === "error", "not a member")).code, "not_a_member");
    await Promise.all([a.close(), b.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("a REST join subscribes the user's open sockets", async () => {
  const srv = await startServer();
  try {
    const [alice, bob] = await Promise.all([newUser(srv.url), newUser(srv.url)]);
    const room = await createRoom(srv.url, alice);
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    await b.sync();
    assert.equal(
      (await api(srv.url, "POST", `/api/rooms/${room.id}/join`, { token: bob.token })).status,
      200,
    );
    await api(srv.url, "POST", `/api/rooms/${room.id}/messages`, {
      token: alice.token,
      body: { content: "welcome" },
    });
    assert.equal((await b.waitFor(isText("welcome"), "message after REST join")).room_id, room.id);
    const dm = await api(srv.url, "POST", "/api/dms", { token: alice.token, body: { user_id: bob.id } });
    await api(srv.url, "POST", `/api/rooms/${dm.body.id}/messages`, {
      token: alice.token,
      body: { content: "psst" },
    });
    assert.equal((await b.waitFor(isText("psst"), "direct message")).room_id, dm.body.id);
    await b.close();
  } finally {
    await srv.close();
  }
});

Deno.test("a peer that stops answering pings is closed and reported offline", async () => {
  const srv = await startServer({ HEARTBEAT_SECONDS: "1" });
  try {
    const { alice, bob } = await twoMembers(srv.url);
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    await b.sync();
    // A raw connection that completes the handshake and then never reads nor answers a ping: a dead peer.
    const dead = await rawUpgrade(srv.port, `/ws?token=${alice.token}`);
    assert.equal(dead.status, 101);
    await b.waitFor((f) => f.type === "presence" && f.status === "online", "alice online");
    const offline = await b.waitFor((f) => f.type === "presence" && f.status === "offline", "alice offline", {
      timeoutMs: 10_000,
    });
    assert.equal(offline.user_id, alice.id);
    await b.sync();
    assert.deepEqual(srv.chat.hub.stats(), { clients: 1, users: 1, rooms: 1 });
    dead.conn.close();
    await b.close();
  } finally {
    await srv.close();
  }
});

Deno.test("shutdown closes every socket with 1001", async () => {
  const srv = await startServer();
  let closed = false;
  try {
    const user = await newUser(srv.url);
    const sockets = await Promise.all(
      [1, 2, 3].map(() => TestSocket.open(`${srv.wsUrl}?token=${user.token}`)),
    );
    await Promise.all(sockets.map((s) => s.sync()));
    const drained = srv.chat.drain();
    const codes = await Promise.all(sockets.map(async (s) => (await s.closed).code));
    await drained;
    closed = true;
    assert.deepEqual(codes, [1001, 1001, 1001]);
    assert.deepEqual(srv.chat.hub.stats(), { clients: 0, users: 0, rooms: 0 });
    const refused = await rawUpgrade(srv.port, `/ws?token=${user.token}`);
    assert.equal(refused.status, 503);
    assert.equal(JSON.parse(refused.body).error.code, "shutting_down");
  } finally {
    if (!closed) await srv.chat.drain();
    await srv.close();
  }
});

Deno.test("resume sends every message after last_seq in order, then live, with no gap or repeat at the seam", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    for (let i = 1; i <= 30; i++) a.send({ type: "message", room_id: room.id, content: `n${i}` });
    await a.waitFor((f) => f.type === "ack" && f.seq === 31, "30 stored (after the join notice)");

    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    // Traffic keeps coming while bob resumes from seq 10.
    for (let i = 31; i <= 60; i++) a.send({ type: "message", room_id: room.id, content: `n${i}` });
    b.send({ type: "resume", rooms: { [room.id]: 10 } });
    const resumed = await b.waitFor((f) => f.type === "resumed", "resumed");
    assert.ok(resumed.rooms[room.id] >= 31);
    await a.waitFor((f) => f.type === "ack" && f.seq === 61, "all 60 stored");
    await b.waitFor((f) => f.type === "text" && f.seq === 61, "the last one");
    await b.sync();
    const seqs = b.frames.filter((f) =>
      f.room_id === room.id && typeof f.seq === "number" && f.type !== "ack"
    )
      .map((f) => f.seq);
    assert.deepEqual(seqs, Array.from({ length: 51 }, (_, i) => i + 11), "11..61 once each, in order");
    await Promise.all([a.close(), b.close()]);
  } finally {
    await srv.close();
  }
});

Deno.test("resume after a long absence: 10,000 messages arrive in order, 1,000 per resume, paced by the socket", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    await seedMessages(
      srv.config.databaseUrl,
      srv.store,
      { room_id: room.id, user_id: alice.id, username: alice.username },
      10_000,
      (i) => `while away ${i} ${"x".repeat(100)}`,
    );
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    b.send({ type: "resume", rooms: { [room.id]: 1 } });
    // RESUME_MAX_MESSAGES (1,000) per resume: each answer names where to go on, until the last.
    for (let page = 1; page <= 10; page++) {
      const from = b.frames.length;
      const resumed = await b.waitFor((f) => f.type === "resumed", "resumed", { from, timeoutMs: 30_000 });
      assert.equal(resumed.rooms[room.id], 1 + page * 1_000);
      assert.equal(b.count((f) => f.type === "text"), page * 1_000);
      if (page < 10) {
        assert.deepEqual(resumed.more, { [room.id]: 1 + page * 1_000 });
        b.send({ type: "resume", rooms: resumed.more });
      } else assert.equal(resumed.more, undefined);
    }
    const seqs = b.frames.filter((f) => f.type === "text").map((f) => f.seq);
    assert.equal(seqs.length, 10_000);
    assert.deepEqual(seqs, Array.from({ length: 10_000 }, (_, i) => i + 2));
    assert.equal(b.count((f) => f.type === "reset"), 0);
    await b.close();
  } finally {
    await srv.close();
  }
});

Deno.test("resume says reset when retention removed part of the gap, and refuses rooms one is not in", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    const other = await createRoom(srv.url, alice, { name: "not bob's" });
    for (let i = 1; i <= 9; i++) {
      await api(srv.url, "POST", `/api/rooms/${room.id}/messages`, {
        token: alice.token,
        body: { content: `r${i}` },
      });
    }
    // Retention removed seqs 1..5 (the join notice and r1..r4).
    await deleteMessagesUpTo(srv.config.databaseUrl, room.id, 5);
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    b.send({ type: "resume", rooms: { [room.id]: 2, [other.id]: 0, "not-an-id": 0 } });
    await b.waitFor((f) => f.type === "resumed", "resumed");
    const relevant = b.frames.filter((f) => f.type !== "pong").map((f) =>
      f.type === "text"
        ? `text ${f.seq}`
        : f.type === "reset"
        ? `reset ${f.from_seq}`
        : f.type === "error"
        ? `error ${f.code}`
        : f.type === "resumed"
        ? `resumed ${JSON.stringify(f.rooms)}`
        : f.type
    ).filter((f) => !f.startsWith("presence"));
    assert.deepEqual(relevant, [
      "reset 6",
      "text 6",
      "text 7",
      "text 8",
      "text 9",
      "text 10",
      "error not_a_member",
      "error room_not_found",
      `resumed ${JSON.stringify({ [room.id]: 10 })}`,
    ]);
    await b.close();
  } finally {
    await srv.close();
  }
});

Deno.test("resume reads the store when the recent window lags it (a publish that never came)", async () => {
  const srv = await startServer();
  try {
    const { alice, bob, room } = await twoMembers(srv.url);
    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    a.send({ type: "message", room_id: room.id, content: "published" });
    await a.waitFor((f) => f.type === "text" && f.content === "published", "published, so the window has it");
    // Stored but never published (as when the bus loses it): the window ends before it.
    const { message } = await srv.store.messages.append({
      room_id: room.id,
      user_id: alice.id,
      username: alice.username,
      content: "never published",
      type: "text",
    });
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    b.send({ type: "resume", rooms: { [room.id]: message.seq - 1 } });
    const resumed = await b.waitFor((f) => f.type === "resumed", "resumed");
    assert.deepEqual(resumed.rooms, { [room.id]: message.seq });
    assert.deepEqual(b.frames.filter((f) => f.type === "text").map((f) => f.content), ["never published"]);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await srv.close();
  }
});

/** The REST contract, called through the app's handler (no port) on a real SQLite file. */
import assert from "node:assert/strict";
import { TokenService } from "../lib/auth/jwt.ts";
import { createRoom, createTestApp, newUser, TEST_SECRET, type TestApp } from "./helpers/server.ts";

async function withApp(fn: (app: TestApp) => Promise<void>, env: Record<string, string> = {}): Promise<void> {
  const app = await createTestApp(env);
  try {
    await fn(app);
  } finally {
    await app.close();
  }
}

const alice = { username: "alice", email: "alice@example.com", password: "SecurePass123!" };

Deno.test("POST /api/auth/register answers 201 with the contract's user shape", () =>
  withApp(async (app) => {
    const res = await app.request("POST", "/api/auth/register", { body: alice });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.body).sort(), ["created_at", "email", "id", "username"]);
    assert.match(res.body.id, /^[0-9a-f]{24}$/);
    assert.equal(res.body.username, "alice");
    assert.equal(res.body.email, "alice@example.com");
    assert.match(res.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const stored = await app.store.users.byId(res.body.id);
    assert.match(stored!.password_hash, /^\$2b\$04\$/, "bcrypt at the configured cost");
    assert.notEqual(stored!.password_hash, alice.password);
  }));

Deno.test("POST /api/auth/register refuses taken names and bad input", () =>
  withApp(async (app) => {
    assert.equal((await app.request("POST", "/api/auth/register", { body: alice })).status, 201);
    const cases: [string, unknown, number, string][] = [
      [
        "taken username, other case",
        { ...alice, username: "ALICE", email: "x@example.com" },
        409,
        "username_taken",
      ],
      [
        "taken email, other case",
        { ...alice, username: "alice2", email: "Alice@Example.com" },
        409,
        "email_taken",
      ],
      ["short username", { ...alice, username: "al" }, 400, "invalid_username"],
      ["long username", { ...alice, username: "a".repeat(33) }, 400, "invalid_username"],
      ["username with a space", { ...alice, username: "al ice" }, 400, "invalid_username"],
      ["username as an object", { ...alice, username: { $ne: null } }, 400, "invalid_username"],
      ["bad email", { ...alice, username: "bob", email: "bob-at-example" }, 400, "invalid_email"],
      ["missing email", { username: "bob", password: alice.password }, 400, "invalid_email"],
      [
        "7-byte password",
        { ...alice, username: "bob", email: "b@example.com", password: "1234567" },
        400,
        "invalid_password",
      ],
      [
        "73-byte password",
        { ...alice, username: "bob", email: "b@example.com", password: "p".repeat(73) },
        400,
        "invalid_password",
      ],
      [
        "password as a number",
        { ...alice, username: "bob", email: "b@example.com", password: 12345678 },
        400,
        "invalid_password",
      ],
      ["a JSON array", [alice], 400, "invalid_body"],
      ["malformed JSON", "{", 400, "invalid_json"],
    ];
    for (const [name, body, status, code] of cases) {
      const res = await app.request("POST", "/api/auth/register", { body });
      assert.equal(res.status, status, name);
      assert.equal(res.body.error.code, code, name);
      assert.equal(typeof res.body.error.message, "string", name);
    }
    const bob = { username: "bob", email: "bob@example.com", password: "SecurePass123!" };
    const messages: [string, unknown, string][] = [
      ["", "username", "Enter a username"],
      ["x", "username", "Username must be 3-32 letters, digits, dots, dashes or underscores"],
      ["", "email", "Enter your email address"],
      ["bob@", "email", "Enter an email address like name@example.com"],
      ["", "password", "Enter a password"],
      ["🦕".repeat(7), "password", "Password must be at least 8 characters"],
      [
        "é".repeat(37),
        "password",
        "Password is too long (at most 72 bytes; fewer characters if it has accents or emoji)",
      ],
    ].map((
      [value, field, message],
    ) => [`${field} ${JSON.stringify(value)}`, { ...bob, [field]: value }, message]);
    for (const [name, body, message] of messages) {
      const res = await app.request("POST", "/api/auth/register", { body });
      assert.equal(res.status, 400, name);
      assert.equal(res.body.error.message, message, name);
    }
    const noType = await app.request("POST", "/api/auth/register", {
      body: alice,
      headers: { "content-type": "text/plain" },
    });
    assert.deepEqual([noType.status, noType.body.error.code], [415, "unsupported_media_type"]);
    const huge = await app.request("POST", "/api/auth/register", {
      body: { ...alice, pad: "x".repeat(70_000) },
    });
    assert.deepEqual([huge.status, huge.body.error.code], [413, "payload_too_large"]);
    assert.equal(
      (await app.request("POST", "/api/auth/register", { body: { ...alice, username: "bob" } })).status,
      409,
      "the email stays taken",
    );
  }));

Deno.test("POST /api/auth/register reports every bad field at once in error.fields", () =>
  withApp(async (app) => {
    const bad = await app.request("POST", "/api/auth/register", {
      body: { username: "a b", email: "not-an-email", password: "short" },
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body, {
      error: {
        code: "invalid_username",
        message: "Username must be 3-32 letters, digits, dots, dashes or underscores",
        fields: {
          username: "Username must be 3-32 letters, digits, dots, dashes or underscores",
          email: "Enter an email address like name@example.com",
          password: "Password must be at least 8 characters",
        },
      },
    });
    const good = await app.request("POST", "/api/auth/register", { body: alice });
    assert.equal(good.status, 201);
    assert.equal(good.body.error, undefined);

    // Taken names come with the format problems: a malformed request stays a 400.
    const takenAndShort = await app.request("POST", "/api/auth/register", {
      body: { username: "Alice", email: "ALICE@example.com", password: "short" },
    });
    assert.equal(takenAndShort.status, 400);
    assert.deepEqual(takenAndShort.body.error, {
      code: "invalid_password",
      message: "Password must be at least 8 characters",
      fields: {
        username: "That username is taken",
        email: "An account with that email exists",
        password: "Password must be at least 8 characters",
      },
    });
    const bothTaken = await app.request("POST", "/api/auth/register", { body: alice });
    assert.equal(bothTaken.status, 409);
    assert.deepEqual(bothTaken.body.error, {
      code: "username_taken",
      message: "That username is taken",
      fields: { username: "That username is taken", email: "An account with that email exists" },
    });
    const emailTaken = await app.request("POST", "/api/auth/register", {
      body: { ...alice, username: "alice2" },
    });
    assert.equal(emailTaken.status, 409);
    assert.deepEqual(emailTaken.body.error, {
      code: "email_taken",
      message: "An account with that email exists",
      fields: { email: "An account with that email exists" },
    });
    assert.equal((await app.store.users.search("", 10)).length, 1, "nothing else was stored");
  }));

Deno.test("POST /api/auth/login takes the account by username, by email, or by login (either)", () =>
  withApp(async (app) => {
    const reg = await app.request("POST", "/api/auth/register", { body: alice });
    // A user whose name starts like alice's: a username login matches the whole name only.
    await app.request("POST", "/api/auth/register", {
      body: { username: "alice.b", email: "alice.b@example.com", password: "other password" },
    });
    const ways: Record<string, string>[] = [
      { username: "alice" },
      { username: "ALICE" },
      { email: "Alice@Example.com" },
      { login: "alice" },
      { login: "alice@example.com" },
      { login: " alice " },
    ];
    for (const way of ways) {
      const res = await app.request("POST", "/api/auth/login", {
        body: { ...way, password: alice.password },
      });
      assert.equal(res.status, 200, JSON.stringify(way));
      assert.deepEqual(res.body.user, { id: reg.body.id, username: "alice", email: "alice@example.com" });
      assert.equal((await app.chat.tokens.verify(res.body.token)).sub, reg.body.id);
    }
    const refused: Record<string, string>[] = [
      { username: "alic" },
      { username: "alice@example.com" },
      { login: "alice.b" },
      { login: "nobody" },
      { login: "nobody@example.com" },
      { email: "alice" },
    ];
    for (const way of refused) {
      const res = await app.request("POST", "/api/auth/login", {
        body: { ...way, password: alice.password },
      });
      assert.deepEqual([res.status, res.body.error], [401, {
        code: "invalid_credentials",
        message: "Wrong username, email or password",
      }], JSON.stringify(way));
    }
    const empty = await app.request("POST", "/api/auth/login", { body: { login: " ", password: "" } });
    assert.deepEqual([empty.status, empty.body.error], [400, {
      code: "invalid_login",
      message: "Enter your username or email",
      fields: { login: "Enter your username or email", password: "Enter your password" },
    }]);
    const none = await app.request("POST", "/api/auth/login", { body: { password: alice.password } });
    assert.deepEqual([none.status, none.body.error.code], [400, "invalid_credentials_format"]);
  }));

Deno.test("POST /api/auth/login answers a token, and one message for unknown email and wrong password", () =>
  withApp(async (app) => {
    const reg = await app.request("POST", "/api/auth/register", { body: alice });
    const ok = await app.request("POST", "/api/auth/login", {
      body: { email: "ALICE@example.com", password: alice.password },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.user, { id: reg.body.id, username: "alice", email: "alice@example.com" });
    const claims = await app.chat.tokens.verify(ok.body.token);
    assert.equal(claims.sub, reg.body.id);
    assert.equal(claims.username, "alice");

    const wrong = await app.request("POST", "/api/auth/login", {
      body: { email: alice.email, password: "wrong password" },
    });
    const unknown = await app.request("POST", "/api/auth/login", {
      body: { email: "nobody@example.com", password: "x" },
    });
    assert.equal(wrong.status, 401);
    assert.deepEqual(unknown.body, wrong.body);
    assert.equal(wrong.body.error.code, "invalid_credentials");
    const truncated = await app.request("POST", "/api/auth/login", {
      body: { email: alice.email, password: alice.password + "x".repeat(80) },
    });
    assert.equal(truncated.status, 401, "a password longer than bcrypt reads is not a prefix match");

    const operator = await app.request("POST", "/api/auth/login", {
      body: { email: { $ne: null }, password: "x" },
    });
    assert.deepEqual([operator.status, operator.body.error.code], [400, "invalid_credentials_format"]);
  }));

Deno.test("register and login are limited per client IP with 429 and Retry-After", () =>
  withApp(async (app) => {
    const attempt = (ip: string) =>
      app.request("POST", "/api/auth/login", {
        body: { email: "x@example.com", password: "password1" },
        remoteAddr: ip,
      });
    for (let i = 0; i < 3; i++) assert.equal((await attempt("10.0.0.1")).status, 401);
    const limited = await attempt("10.0.0.1");
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, "too_many_requests");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.equal((await attempt("10.0.0.2")).status, 401, "another address has its own budget");
  }, { AUTH_RATE_LIMIT_BURST: "3", AUTH_RATE_LIMIT_PER_MIN: "1" }));

Deno.test("protected routes need a valid token and say why not", () =>
  withApp(async (app) => {
    const user = await newUser(app);
    const expired = await new TokenService({
      secret: TEST_SECRET,
      ttlSeconds: 60,
      now: () => Date.now() - 7_200_000,
    })
      .sign({ id: user.id, username: user.username }, "0".repeat(24));
    const cases: [string, Record<string, string>, string][] = [
      ["no token", {}, "missing_token"],
      ["not bearer", { authorization: "Basic abc" }, "invalid_token"],
      ["garbage", { authorization: "Bearer abc.def.ghi" }, "invalid_token"],
      ["expired", { authorization: `Bearer ${expired}` }, "token_expired"],
    ];
    for (const [name, headers, code] of cases) {
      const res = await app.request("GET", "/api/rooms", { headers });
      assert.deepEqual([res.status, res.body.error.code], [401, code], name);
    }
    const cookie = await app.request("GET", "/api/users/me", {
      headers: { cookie: `chat_session=${user.token}` },
    });
    assert.equal(cookie.status, 200);
    const crossSite = await app.request("POST", "/api/rooms", {
      headers: { cookie: `chat_session=${user.token}`, origin: "https://evil.example", host: "chat.local" },
      body: { name: "csrf" },
    });
    assert.deepEqual([crossSite.status, crossSite.body.error.code], [403, "origin_not_allowed"]);
  }));

Deno.test("profiles: me, update with avatar, public view, search", () =>
  withApp(async (app) => {
    const user = await newUser(app, "prof");
    const other = await newUser(app, "viewer");
    const me = await app.request("GET", "/api/users/me", { token: user.token });
    assert.equal(me.status, 200);
    assert.equal(me.body.email, user.email);
    assert.deepEqual([me.body.display_name, me.body.avatar_url, me.body.online, me.body.last_seen], [
      null,
      null,
      false,
      null,
    ]);

    const png = "data:image/png;base64," + btoa("\x89PNG\r\n\x1a\n" + "x".repeat(100));
    const patched = await app.request("PATCH", "/api/users/me", {
      token: user.token,
      body: { display_name: "Prof. Ada", avatar_url: png },
    });
    assert.equal(patched.status, 200);
    assert.deepEqual([patched.body.display_name, patched.body.avatar_url], ["Prof. Ada", png]);
    const https = await app.request("PATCH", "/api/users/me", {
      token: user.token,
      body: { avatar_url: "https://cdn.example.com/a.png" },
    });
    assert.deepEqual([https.body.display_name, https.body.avatar_url], [
      "Prof. Ada",
      "https://cdn.example.com/a.png",
    ]);

    const bad: [unknown, string][] = [
      [{ avatar_url: "http://example.com/a.png" }, "invalid_avatar_url"],
      [{ avatar_url: "javascript:alert(1)" }, "invalid_avatar_url"],
      [{ avatar_url: "data:text/html;base64,PHNjcmlwdD4=" }, "invalid_avatar_url"],
      [{ avatar_url: "data:image/png;base64," + "A".repeat(350_000) }, "invalid_avatar_url"],
      [{ display_name: "   " }, "invalid_display_name"],
      [{ display_name: "x".repeat(65) }, "invalid_display_name"],
      [{ display_name: 42 }, "invalid_display_name"],
    ];
    for (const [body, code] of bad) {
      const res = await app.request("PATCH", "/api/users/me", { token: user.token, body });
      assert.deepEqual([res.status, res.body.error.code], [400, code], JSON.stringify(body).slice(0, 60));
    }
    const cleared = await app.request("PATCH", "/api/users/me", {
      token: user.token,
      body: { display_name: null },
    });
    assert.equal(cleared.body.display_name, null);

    const view = await app.request("GET", `/api/users/${user.id}`, { token: other.token });
    assert.deepEqual(Object.keys(view.body).sort(), [
      "avatar_url",
      "created_at",
      "display_name",
      "id",
      "last_seen",
      "online",
      "username",
    ]);
    assert.equal(view.body.email, undefined, "no email in the public profile");
    assert.equal(
      (await app.request("GET", "/api/users/ffffffffffffffffffffffff", { token: other.token })).status,
      404,
    );
    assert.equal((await app.request("GET", "/api/users/not-an-id", { token: other.token })).status, 404);

    const found = await app.request("GET", "/api/users?q=PROF", { token: other.token });
    assert.deepEqual(found.body.users.map((u: { id: string }) => u.id), [user.id]);
  }));

Deno.test("rooms: create, list, get; private rooms are 404 to non-members exactly like missing rooms", () =>
  withApp(async (app) => {
    const [owner, member, outsider] = [await newUser(app), await newUser(app), await newUser(app)];
    const created = await app.request("POST", "/api/rooms", {
      token: owner.token,
      body: { name: "General Discussion", description: "A place for general chat", is_private: false },
    });
    assert.equal(created.status, 201);
    for (const key of ["id", "name", "description", "creator_id", "members", "is_private", "created_at"]) {
      assert.ok(key in created.body, key);
    }
    assert.deepEqual(created.body.members, [owner.id]);
    assert.equal(created.body.creator_id, owner.id);
    assert.equal(created.body.is_private, false);
    const secret = await createRoom(app, owner, { name: "Secret", is_private: true });
    await app.request("POST", `/api/rooms/${secret.id}/members`, {
      token: owner.token,
      body: { user_id: member.id },
    });

    const names = async (token: string) =>
      (await app.request("GET", "/api/rooms", { token })).body.rooms.map((r: { name: string }) => r.name);
    assert.deepEqual(await names(owner.token), ["General Discussion", "Secret"]);
    assert.deepEqual(await names(member.token), ["General Discussion", "Secret"]);
    assert.deepEqual(await names(outsider.token), ["General Discussion"]);

    const missing = await app.request("GET", "/api/rooms/ffffffffffffffffffffffff", {
      token: outsider.token,
    });
    for (const path of ["", "/messages", "/members"]) {
      const hidden = await app.request("GET", `/api/rooms/${secret.id}${path}`, { token: outsider.token });
      assert.deepEqual([hidden.status, hidden.body], [404, missing.body], path);
    }
    for (const path of ["/join", "/leave"]) {
      const hidden = await app.request("POST", `/api/rooms/${secret.id}${path}`, { token: outsider.token });
      assert.deepEqual([hidden.status, hidden.body], [404, missing.body], path);
    }
    const post = await app.request("POST", `/api/rooms/${secret.id}/messages`, {
      token: outsider.token,
      body: { content: "hi" },
    });
    assert.deepEqual([post.status, post.body], [404, missing.body]);

    for (
      const [body, code] of [[{ name: "" }, "invalid_name"], [{ name: "  " }, "invalid_name"], [
        {},
        "invalid_name",
      ], [{
        name: "x",
        is_private: "yes",
      }, "invalid_is_private"], [
        { name: "x", description: "d".repeat(1001) },
        "invalid_description",
      ]] as const
    ) {
      const res = await app.request("POST", "/api/rooms", { token: owner.token, body });
      assert.deepEqual([res.status, res.body.error.code], [400, code], JSON.stringify(body));
    }
  }));

Deno.test("rooms: join, leave, members, and the creator's member management", () =>
  withApp(async (app) => {
    const [owner, bob, carol] = [await newUser(app), await newUser(app), await newUser(app)];
    const room = await createRoom(app, owner, { name: "Lobby" });
    const joined = await app.request("POST", `/api/rooms/${room.id}/join`, { token: bob.token });
    assert.equal(joined.status, 200);
    assert.deepEqual(joined.body.members, [owner.id, bob.id]);
    const again = await app.request("POST", `/api/rooms/${room.id}/join`, { token: bob.token });
    assert.deepEqual(again.body.members, [owner.id, bob.id], "joining twice changes nothing");

    const members = await app.request("GET", `/api/rooms/${room.id}/members`, { token: carol.token });
    assert.deepEqual(members.body.members.map((m: { id: string }) => m.id), [owner.id, bob.id]);
    assert.equal(members.body.members[0].online, false);

    assert.equal(
      (await app.request("POST", `/api/rooms/${room.id}/leave`, { token: bob.token })).status,
      204,
    );
    const notMember = await app.request("POST", `/api/rooms/${room.id}/leave`, { token: bob.token });
    // One status per code (the error table): not_a_member is always 403.
    assert.deepEqual([notMember.status, notMember.body.error.code], [403, "not_a_member"]);

    const byStranger = await app.request("POST", `/api/rooms/${room.id}/members`, {
      token: carol.token,
      body: { user_id: bob.id },
    });
    assert.deepEqual([byStranger.status, byStranger.body.error.code], [403, "forbidden"]);
    const added = await app.request("POST", `/api/rooms/${room.id}/members`, {
      token: owner.token,
      body: { user_id: carol.id },
    });
    assert.deepEqual(added.body.members, [owner.id, carol.id]);
    const unknownUser = await app.request("POST", `/api/rooms/${room.id}/members`, {
      token: owner.token,
      body: { user_id: "ffffffffffffffffffffffff" },
    });
    assert.deepEqual([unknownUser.status, unknownUser.body.error.code], [404, "user_not_found"]);
    const removed = await app.request("DELETE", `/api/rooms/${room.id}/members/${carol.id}`, {
      token: owner.token,
    });
    assert.deepEqual(removed.body.members, [owner.id]);
    const removeAgain = await app.request("DELETE", `/api/rooms/${room.id}/members/${carol.id}`, {
      token: owner.token,
    });
    assert.deepEqual([removeAgain.status, removeAgain.body.error.code], [404, "member_not_found"]);

    const history = await app.request("GET", `/api/rooms/${room.id}/messages`, { token: owner.token });
    assert.deepEqual(
      history.body.messages.map((
        m: { seq: number; type: string; content: string },
      ) => [m.seq, m.type, m.content]),
      [
        [1, "system", `${bob.username} joined the room`],
        [2, "system", `${bob.username} left the room`],
        [3, "system", `${carol.username} was added by ${owner.username}`],
        [4, "system", `${carol.username} was removed by ${owner.username}`],
      ],
    );
  }));

Deno.test("rooms: names are unique case-insensitively, on create and on rename", () =>
  withApp(async (app) => {
    const [owner, other] = [await newUser(app), await newUser(app)];
    const general = await createRoom(app, owner, { name: "General" });
    for (const name of ["general", "GENERAL", "  General  ", "ＧＥＮＥＲＡＬ"]) {
      const res = await app.request("POST", "/api/rooms", {
        token: other.token,
        body: { name, is_private: true },
      });
      assert.deepEqual([res.status, res.body], [409, {
        error: { code: "room_name_taken", message: `A room named "${name.trim()}" already exists` },
      }], name);
    }
    const listed = await app.request("GET", "/api/rooms", { token: other.token });
    assert.deepEqual(listed.body.rooms.map((r: { id: string }) => r.id), [general.id], "nothing stored");

    const design = await createRoom(app, other, { name: "design" });
    const taken = await app.request("PATCH", `/api/rooms/${design.id}`, {
      token: other.token,
      body: { name: "general" },
    });
    assert.deepEqual([taken.status, taken.body], [409, {
      error: { code: "room_name_taken", message: 'A room named "general" already exists' },
    }]);
    const unchanged = await app.request("GET", `/api/rooms/${design.id}`, { token: other.token });
    assert.equal(unchanged.body.name, "design");
    const history = await app.request("GET", `/api/rooms/${design.id}/messages`, { token: other.token });
    assert.equal(history.body.total, 0, "a refused rename stores no notice");
  }));

Deno.test("PATCH /api/rooms/:id: the creator renames and describes, each change a system message", () =>
  withApp(async (app) => {
    const [owner, member] = [await newUser(app), await newUser(app)];
    const room = await createRoom(app, owner, { name: "Lobby", description: "Hello" });
    await app.request("POST", `/api/rooms/${room.id}/join`, { token: member.token });
    await app.request("POST", `/api/rooms/${room.id}/messages`, {
      token: member.token,
      body: { content: "hi" },
    });

    const renamed = await app.request("PATCH", `/api/rooms/${room.id}`, {
      token: owner.token,
      body: { name: "design" },
    });
    assert.equal(renamed.status, 200);
    assert.deepEqual(
      { ...renamed.body, created_at: "" },
      {
        ...room,
        name: "design",
        members: [owner.id, member.id],
        member_count: 2,
        last_seq: 3,
        created_at: "",
      },
    );
    const both = await app.request("PATCH", `/api/rooms/${room.id}`, {
      token: owner.token,
      body: { name: "Design", description: "Pixels" },
    });
    assert.deepEqual([both.status, both.body.name, both.body.description, both.body.last_seq], [
      200,
      "Design",
      "Pixels",
      5,
    ]);
    const same = await app.request("PATCH", `/api/rooms/${room.id}`, {
      token: owner.token,
      body: { description: "Pixels" },
    });
    assert.deepEqual([same.status, same.body.last_seq], [200, 5], "no change, no message");

    const history = await app.request("GET", `/api/rooms/${room.id}/messages`, { token: member.token });
    assert.deepEqual(
      history.body.messages.map((m: { seq: number; type: string; content: string; user_id: string }) => [
        m.seq,
        m.type,
        m.content,
        m.user_id,
      ]),
      [
        [1, "system", `${member.username} joined the room`, member.id],
        [2, "text", "hi", member.id],
        [3, "system", `${owner.username} renamed the room to "design"`, owner.id],
        [4, "system", `${owner.username} renamed the room to "Design"`, owner.id],
        [5, "system", `${owner.username} changed the description`, owner.id],
      ],
    );

    const byMember = await app.request("PATCH", `/api/rooms/${room.id}`, {
      token: member.token,
      body: { name: "mine" },
    });
    assert.deepEqual([byMember.status, byMember.body], [403, {
      error: { code: "forbidden", message: `Only the room's creator can change room "Design"` },
    }]);
    const bad: [unknown, number, string][] = [
      [{}, 400, "invalid_body"],
      [{ name: "" }, 400, "invalid_name"],
      [{ name: "   " }, 400, "invalid_name"],
      [{ name: "x".repeat(101) }, 400, "invalid_name"],
      [{ name: null }, 400, "invalid_name"],
      [{ description: "d".repeat(1001) }, 400, "invalid_description"],
      [{ description: 7 }, 400, "invalid_description"],
    ];
    for (const [body, status, code] of bad) {
      const res = await app.request("PATCH", `/api/rooms/${room.id}`, { token: owner.token, body });
      assert.deepEqual([res.status, res.body.error.code], [status, code], JSON.stringify(body).slice(0, 40));
    }
    const missing = await app.request("PATCH", "/api/rooms/ffffffffffffffffffffffff", {
      token: owner.token,
      body: { name: "x" },
    });
    assert.deepEqual([missing.status, missing.body.error.code], [404, "room_not_found"]);
    const dm = await app.request("POST", "/api/dms", { token: owner.token, body: { user_id: member.id } });
    const renameDm = await app.request("PATCH", `/api/rooms/${dm.body.id}`, {
      token: owner.token,
      body: { name: "us" },
    });
    assert.deepEqual([renameDm.status, renameDm.body.error.code], [409, "direct_room"]);
    const after = await app.request("GET", `/api/rooms/${room.id}/messages`, { token: member.token });
    assert.equal(after.body.total, 5, "refused updates store nothing");
  }));

Deno.test("POST /api/rooms/:id/members adds a user by username, case-insensitively", () =>
  withApp(async (app) => {
    const [owner, bob] = [await newUser(app), await newUser(app)];
    const room = await createRoom(app, owner, { name: "Team", is_private: true });
    const added = await app.request("POST", `/api/rooms/${room.id}/members`, {
      token: owner.token,
      body: { username: bob.username.toUpperCase() },
    });
    assert.equal(added.status, 200);
    assert.deepEqual(added.body.members, [owner.id, bob.id]);
    const history = await app.request("GET", `/api/rooms/${room.id}/messages`, { token: bob.token });
    assert.deepEqual(history.body.messages.map((m: { content: string }) => m.content), [
      `${bob.username} was added by ${owner.username}`,
    ]);
    const unknown = await app.request("POST", `/api/rooms/${room.id}/members`, {
      token: owner.token,
      body: { username: "nobody_here" },
    });
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, "user_not_found"]);
    const neither = await app.request("POST", `/api/rooms/${room.id}/members`, {
      token: owner.token,
      body: {},
    });
    assert.deepEqual([neither.status, neither.body.error.code], [400, "invalid_user_id"]);
    const badName = await app.request("POST", `/api/rooms/${room.id}/members`, {
      token: owner.token,
      body: { username: 42 },
    });
    assert.deepEqual([badName.status, badName.body.error.code], [400, "invalid_username"]);
  }));

Deno.test("GET /api/users?q= finds people by username or display name, at most 20", () =>
  withApp(async (app) => {
    const [zoe, searcher] = [await newUser(app, "zed"), await newUser(app)];
    await app.request("PATCH", "/api/users/me", {
      token: zoe.token,
      body: { display_name: "Zoë Quartermain" },
    });
    const names = async (q: string) =>
      (await app.request("GET", `/api/users?q=${encodeURIComponent(q)}`, { token: searcher.token })).body
        .users
        .map((u: { id: string }) => u.id);
    assert.deepEqual(await names("quarterm"), [zoe.id]);
    assert.deepEqual(await names("ZOË Q"), [zoe.id]);
    assert.deepEqual(await names(zoe.username.slice(1).toUpperCase()), [zoe.id], "a username substring");
    assert.deepEqual(await names("quartermaine"), []);
    assert.deepEqual(await names(""), []);
    for (let i = 0; i < 21; i++) await newUser(app, "crowd");
    const crowd = await app.request("GET", "/api/users?q=crowd", { token: searcher.token });
    assert.equal(crowd.body.users.length, 20);
    const usernames = crowd.body.users.map((u: { username: string }) => u.username);
    assert.deepEqual(usernames, [...usernames].sort(), "ordered by username");
  }));

Deno.test("POST /api/dms makes one direct room per pair", () =>
  withApp(async (app) => {
    const [a, b, c] = [await newUser(app), await newUser(app), await newUser(app)];
    const first = await app.request("POST", "/api/dms", { token: a.token, body: { user_id: b.id } });
    assert.equal(first.status, 201);
    assert.equal(first.body.is_direct, true);
    assert.equal(first.body.is_private, true);
    assert.deepEqual([...first.body.members].sort(), [a.id, b.id].sort());
    const second = await app.request("POST", "/api/dms", { token: b.token, body: { user_id: a.id } });
    assert.deepEqual([second.status, second.body.id], [200, first.body.id]);
    const hidden = await app.request("GET", `/api/rooms/${first.body.id}`, { token: c.token });
    assert.equal(hidden.status, 404);
    const self = await app.request("POST", "/api/dms", { token: a.token, body: { user_id: a.id } });
    assert.deepEqual([self.status, self.body.error.code], [400, "invalid_user"]);
    const unknown = await app.request("POST", "/api/dms", {
      token: a.token,
      body: { user_id: "ffffffffffffffffffffffff" },
    });
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, "user_not_found"]);
    const leave = await app.request("POST", `/api/rooms/${first.body.id}/leave`, { token: a.token });
    assert.deepEqual([leave.status, leave.body.error.code], [409, "direct_room"]);
    const add = await app.request("POST", `/api/rooms/${first.body.id}/members`, {
      token: a.token,
      body: { user_id: c.id },
    });
    assert.deepEqual([add.status, add.body.error.code], [409, "direct_room"]);
  }));

Deno.test("GET /api/rooms/:id/messages pages by offset and by seq cursors", () =>
  withApp(async (app) => {
    const user = await newUser(app);
    const room = await createRoom(app, user);
    for (let i = 1; i <= 120; i++) {
      const res = await app.request("POST", `/api/rooms/${room.id}/messages`, {
        token: user.token,
        body: { content: `m${i}` },
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.seq, i);
    }
    const page = async (query: string) => {
      const res = await app.request("GET", `/api/rooms/${room.id}/messages${query}`, { token: user.token });
      assert.equal(res.status, 200, query);
      return res.body;
    };
    const seqs = (body: { messages: { seq: number }[] }) => body.messages.map((m) => m.seq);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

    const newest = await page("");
    assert.deepEqual([newest.total, newest.offset, newest.limit], [120, 0, 50]);
    assert.deepEqual(seqs(newest), range(71, 120), "offset 0 is the newest page, oldest first");
    assert.deepEqual(seqs(await page("?limit=50&offset=50")), range(21, 70));
    assert.deepEqual(seqs(await page("?limit=50&offset=100")), range(1, 20));
    assert.deepEqual(seqs(await page("?offset=500")), []);
    assert.deepEqual(seqs(await page("?before_seq=31&limit=10")), range(21, 30));
    assert.deepEqual(seqs(await page("?after_seq=100&limit=10")), range(101, 110));
    assert.deepEqual(seqs(await page("?after_seq=0&limit=3")), [1, 2, 3]);

    // A cursor page stays the same while new messages arrive; an offset page shifts.
    await app.request("POST", `/api/rooms/${room.id}/messages`, {
      token: user.token,
      body: { content: "late" },
    });
    assert.deepEqual(seqs(await page("?before_seq=31&limit=10")), range(21, 30));
    assert.deepEqual(seqs(await page("?limit=10")), range(112, 121));

    for (
      const query of [
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?offset=-1",
        "?limit=1.5",
        "?before_seq[$gt]=1",
        "?offset=1&before_seq=5",
        "?after_seq=1&after_seq=2",
        "?sort=desc",
      ]
    ) {
      const res = await app.request("GET", `/api/rooms/${room.id}/messages${query}`, { token: user.token });
      assert.deepEqual([res.status, res.body.error.code], [400, "invalid_query"], query);
    }
  }));

Deno.test("POST /api/rooms/:id/messages is idempotent per client_id", () =>
  withApp(async (app) => {
    const [user, other] = [await newUser(app), await newUser(app)];
    const room = await createRoom(app, user);
    const send = (token: string, body: unknown) =>
      app.request("POST", `/api/rooms/${room.id}/messages`, { token, body });
    const first = await send(user.token, { content: "once", client_id: "abc-123" });
    const retry = await send(user.token, { content: "once", client_id: "abc-123" });
    assert.deepEqual([first.status, retry.status], [201, 200]);
    assert.deepEqual(retry.body, first.body);
    assert.equal(first.body.client_id, "abc-123");
    const history = await app.request("GET", `/api/rooms/${room.id}/messages`, { token: user.token });
    assert.equal(history.body.total, 1);

    const notMember = await send(other.token, { content: "hi" });
    assert.deepEqual([notMember.status, notMember.body.error.code], [403, "not_a_member"]);
    for (
      const [body, code] of [[{ content: "" }, "content_empty"], [{ content: 5 }, "invalid_content"], [{
        content: "x".repeat(4001),
      }, "content_too_long"], [{ content: "ok", client_id: "bad id" }, "invalid_client_id"]] as const
    ) {
      const res = await send(user.token, body);
      assert.deepEqual([res.status, res.body.error.code], [400, code], JSON.stringify(body).slice(0, 40));
    }
  }));

Deno.test("GET /api/health reports the store; unknown routes are JSON 404s; CORS follows CORS_ORIGINS", () =>
  withApp(async (app) => {
    const health = await app.request("GET", "/api/health");
    assert.deepEqual([health.status, health.body], [200, {
      status: "ok",
      checks: { store: "ok", bus: "ok" },
    }]);
    const missing = await app.request("GET", "/api/nope");
    assert.deepEqual([missing.status, missing.body.error.code], [404, "not_found"]);

    const preflight = (origin: string) =>
      app.request("OPTIONS", "/api/rooms", {
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization",
        },
      });
    const allowed = await preflight("https://chat.example.com");
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://chat.example.com");
    assert.equal(allowed.headers.get("access-control-allow-credentials"), "true");
    const refused = await preflight("https://evil.example");
    assert.equal(refused.headers.get("access-control-allow-origin"), null);

    assert.ok(health.headers.get("x-request-id"));
    const traced = await app.request("GET", "/api/health", { headers: { "x-request-id": "trace-42" } });
    assert.equal(traced.headers.get("x-request-id"), "trace-42");

    await app.store.close();
    const down = await app.request("GET", "/api/health");
    assert.deepEqual([down.status, down.body.status, down.body.checks.store], [503, "error", "error"]);
  }, { CORS_ORIGINS: "https://chat.example.com" }));

Deno.test("POST /api/rooms/:id/read moves the caller's read marker; GET /api/rooms reports it", () =>
  withApp(async (app) => {
    const [owner, reader, outsider] = [await newUser(app), await newUser(app), await newUser(app)];
    const room = await createRoom(app, owner, { name: "news" });
    await app.request("POST", `/api/rooms/${room.id}/join`, { token: reader.token });
    for (let i = 0; i < 4; i++) {
      await app.request("POST", `/api/rooms/${room.id}/messages`, {
        token: owner.token,
        body: { content: `n${i}` },
      });
    }
    const listed = async (token: string) =>
      (await app.request("GET", "/api/rooms", { token })).body.rooms.find((r: { id: string }) =>
        r.id === room.id
      );
    // Who joined has read their own join notice (seq 1), not what came after it.
    assert.deepEqual([(await listed(reader.token)).last_seq, (await listed(reader.token)).last_read_seq], [
      5,
      1,
    ]);
    assert.equal(
      (await listed(outsider.token)).last_read_seq,
      null,
      "no marker in a room one has not joined",
    );

    const read = await app.request("POST", `/api/rooms/${room.id}/read`, {
      token: reader.token,
      body: { seq: 3 },
    });
    assert.deepEqual([read.status, read.body], [200, { room_id: room.id, last_read_seq: 3 }]);
    assert.equal((await listed(reader.token)).last_read_seq, 3);
    assert.equal((await listed(owner.token)).last_read_seq, 0, "markers are per user");

    for (const seq of [-1, 1.5, "3", null]) {
      const bad = await app.request("POST", `/api/rooms/${room.id}/read`, {
        token: reader.token,
        body: { seq },
      });
      assert.deepEqual([bad.status, bad.body.error.code], [400, "invalid_seq"], String(seq));
    }
    const stranger = await app.request("POST", `/api/rooms/${room.id}/read`, {
      token: outsider.token,
      body: { seq: 1 },
    });
    assert.deepEqual([stranger.status, stranger.body.error.code], [403, "not_a_member"]);
  }));

Deno.test("GET /api/users/me/rooms lists the caller's rooms with read markers, no one else's and no member lists", () =>
  withApp(async (app) => {
    const [ann, bob] = [await newUser(app), await newUser(app)];
    const open = await createRoom(app, ann, { name: "open" });
    const secret = await createRoom(app, ann, { name: "secret", is_private: true });
    await createRoom(app, bob, { name: "elsewhere" });
    await app.request("POST", `/api/rooms/${open.id}/join`, { token: bob.token });
    await app.request("POST", `/api/rooms/${open.id}/messages`, {
      token: ann.token,
      body: { content: "hi" },
    });
    const dm = await app.request("POST", "/api/dms", { token: bob.token, body: { user_id: ann.id } });

    const mine = await app.request("GET", "/api/users/me/rooms", { token: bob.token });
    assert.equal(mine.status, 200);
    assert.deepEqual(
      mine.body.rooms.map((r: Record<string, unknown>) => [r.name, r.last_seq, r.last_read_seq]).sort(),
      [["elsewhere", 0, 0], ["open", 2, 1], [dm.body.name, 0, 0]].sort(),
    );
    assert.deepEqual(Object.keys(mine.body.rooms[0]).sort(), [
      "created_at",
      "creator_id",
      "description",
      "id",
      "is_direct",
      "is_private",
      "last_read_seq",
      "last_seq",
      "name",
    ]);
    const anns = await app.request("GET", "/api/users/me/rooms", { token: ann.token });
    assert.deepEqual(
      anns.body.rooms.map((r: { id: string }) => r.id).sort(),
      [open.id, secret.id, dm.body.id].sort(),
    );
    assert.equal((await app.request("GET", "/api/users/me/rooms")).status, 401);
  }));

/**
 * The contract every `Store` adapter must pass. It sees only the interfaces in `store.ts`, so the same suite runs
 * against `SqliteStore`, `MongoStore` and any later adapter.
 *
 * @example
 * // lib/storage/sqlite_test.ts
 * storeContract("SqliteStore", async () => SqliteStore.open({ path: await freshPath() }), { spawnWriter });
 */

import assert from "node:assert/strict";
import { isId, newId } from "../../ids.ts";
import {
  ConflictError,
  type Message,
  type NewMessage,
  type NewUser,
  type ProfileUpdate,
  type Store,
  type User,
} from "../store.ts";

/** What a writer process is asked to do: append `count` messages to `roomId` as `userId`. */
export interface WriterArgs {
  /** The store the test opened; the adapter's test file knows how to reach the same data from a new process. */
  store: Store;
  roomId: string;
  userId: string;
  count: number;
}

export interface StoreContractOptions {
  /**
   * Starts an OS process that opens the same store as `args.store` and appends `args.count` text messages to
   * `args.roomId` as `args.userId`, one at a time, with contents "1", "2", ... `String(count)`. Pipe stdout and
   * stderr: the test reads them with `output()`. When omitted, the multi-process test is not registered.
   */
  spawnWriter?: (args: WriterArgs) => Deno.ChildProcess;
}

/** Registers the contract suite as `Deno.test` cases named "`name` ...". Each case opens and closes a store. */
export function storeContract(
  name: string,
  open: () => Promise<Store>,
  opts: StoreContractOptions = {},
): void {
  function test(title: string, fn: (store: Store, t: Deno.TestContext) => Promise<void>): void {
    Deno.test(`\`${name}\` ${title}`, async (t) => {
      const store = await open();
      try {
        await fn(store, t);
      } finally {
        await store.close();
      }
    });
  }

  // ---------------------------------------------------------------------------------------------- users

  test("users.create() returns the stored user with an id and empty profile", async (store) => {
    const before = Date.now();
    const user = await store.users.create({
      username: "Alice",
      email: "Alice@Example.com",
      password_hash: "h1",
    });
    assert.ok(isId(user.id), `not an id: ${user.id}`);
    assert.deepEqual(
      { ...user, id: "", created_at: "" },
      {
        id: "",
        username: "Alice",
        email: "Alice@Example.com",
        password_hash: "h1",
        display_name: null,
        avatar_url: null,
        created_at: "",
        last_seen: null,
        totp_secret: null,
        totp_last_step: null,
        recovery_codes: [],
      },
    );
    assertRecentIso(user.created_at, before);
    assert.deepEqual(await store.users.byId(user.id), user);
  });

  test("users.create() gives every user a distinct id", async (store) => {
    const users = await Promise.all([1, 2, 3].map((n) => store.users.create(newUser(`user${n}`))));
    assert.equal(new Set(users.map((user) => user.id)).size, 3);
  });

  test("users.byId() returns null for an unknown id", async (store) => {
    await store.users.create(newUser("alice"));
    assert.equal(await store.users.byId(newId()), null);
  });

  test("users.byEmail() matches the email case-insensitively", async (store, t) => {
    const alice = await store.users.create({
      username: "alice",
      email: "Alice@Example.com",
      password_hash: "h",
    });
    await store.users.create(newUser("bob"));
    for (const email of ["Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM"]) {
      await t.step(email, async () => assert.deepEqual(await store.users.byEmail(email), alice));
    }
    await t.step(
      "unknown email",
      async () => assert.equal(await store.users.byEmail("carol@example.com"), null),
    );
  });

  test("users.byIds() returns the known users and skips unknown ids", async (store, t) => {
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => store.users.create(newUser(n))));
    await t.step("several ids", async () => {
      const found = await store.users.byIds([c.id, newId(), a.id]);
      assert.deepEqual(sortById(found), sortById([a, c]));
    });
    await t.step("a repeated id", async () => assert.deepEqual(await store.users.byIds([b.id, b.id]), [b]));
    await t.step("no ids", async () => assert.deepEqual(await store.users.byIds([]), []));
    await t.step("only unknown ids", async () => assert.deepEqual(await store.users.byIds([newId()]), []));
  });

  test("users.create() rejects a taken username case-insensitively", async (store, t) => {
    await store.users.create({ username: "Alice", email: "alice@example.com", password_hash: "h" });
    for (const username of ["Alice", "alice", "ALICE"]) {
      await t.step(username, async () => {
        const email = `${username}-${newId()}@example.com`;
        await assertConflict(store.users.create({ username, email, password_hash: "h" }), "username");
        assert.equal(await store.users.byEmail(email), null, "nothing stored");
      });
    }
  });

  test("users.create() rejects a taken email case-insensitively", async (store, t) => {
    const alice = await store.users.create({
      username: "alice",
      email: "Alice@Example.com",
      password_hash: "h",
    });
    for (const email of ["Alice@Example.com", "alice@example.com", "ALICE@EXAMPLE.COM"]) {
      await t.step(email, async () => {
        await assertConflict(
          store.users.create({ username: `u${newId()}`, email, password_hash: "h" }),
          "email",
        );
        assert.deepEqual(await store.users.byEmail(email), alice, "the original user is untouched");
      });
    }
  });

  test("users.create() reports the username when both username and email are taken", async (store) => {
    await store.users.create({ username: "alice", email: "alice@example.com", password_hash: "h" });
    await assertConflict(
      store.users.create({ username: "ALICE", email: "ALICE@example.com", password_hash: "h" }),
      "username",
    );
  });

  test(
    "users.search() finds usernames and display names containing the text case-insensitively, by username",
    async (store, t) => {
      const users = new Map<string, User>();
      for (const username of ["alice", "Alfred", "bob", "ALINA", "albert", "carol", "al", "dalia"]) {
        users.set(username, await store.users.create(newUser(username)));
      }
      await store.users.updateProfile(users.get("bob")!.id, { display_name: "Bobby Tables" });
      await store.users.updateProfile(users.get("carol")!.id, { display_name: "Caro Lindqvist-Öberg" });
      const cases: [text: string, limit: number, expected: string[]][] = [
        ["al", 10, ["al", "albert", "Alfred", "alice", "ALINA", "dalia"]],
        ["AL", 10, ["al", "albert", "Alfred", "alice", "ALINA", "dalia"]],
        ["ali", 10, ["alice", "ALINA", "dalia"]],
        ["al", 2, ["al", "albert"]],
        ["lice", 10, ["alice"]],
        ["alicex", 10, []],
        ["TABLES", 10, ["bob"]],
        ["b", 10, ["albert", "bob", "carol"]],
        ["o l", 10, ["carol"]],
        ["öberg", 10, ["carol"]],
        ["z", 10, []],
        ["", 3, ["al", "albert", "Alfred"]],
      ];
      for (const [text, limit, expected] of cases) {
        await t.step(`"${text}" limit ${limit}`, async () => {
          const found = await store.users.search(text, limit);
          assert.deepEqual(found.map((user) => user.username), expected);
        });
      }
      await t.step("returns whole users", async () => {
        const [bob] = await store.users.search("bobby", 1);
        assert.deepEqual(bob, await store.users.byId(users.get("bob")!.id));
      });
      await t.step("a changed display name is found by its new text only", async () => {
        await store.users.updateProfile(users.get("bob")!.id, { display_name: "Robert" });
        assert.deepEqual(await store.users.search("tables", 10), []);
        assert.deepEqual((await store.users.search("ROBERT", 10)).map((user) => user.username), ["bob"]);
        await store.users.updateProfile(users.get("bob")!.id, { display_name: null });
        assert.deepEqual(await store.users.search("robert", 10), []);
      });
    },
  );

  test("users.search() treats wildcard characters in the text literally", async (store, t) => {
    for (const username of ["a_b", "axb", "a%c", "abc", "a\\d", "a.e", "a*f", "a[g]", "a^h", "a$i", "ä-j"]) {
      await store.users.create(newUser(username));
    }
    const cases: [text: string, expected: string[]][] = [
      ["a_", ["a_b"]],
      ["a%", ["a%c"]],
      ["a\\", ["a\\d"]],
      ["a.", ["a.e"]],
      ["a*", ["a*f"]],
      ["a[", ["a[g]"]],
      ["[g]", ["a[g]"]],
      ["^h", ["a^h"]],
      ["a$", ["a$i"]],
      ["%", ["a%c"]],
      ["_", ["a_b"]],
      [".*", []],
      ["(", []],
      ["Ä", ["ä-j"]],
    ];
    for (const [text, expected] of cases) {
      await t.step(JSON.stringify(text), async () => {
        const found = await store.users.search(text, 20);
        assert.deepEqual(found.map((user) => user.username), expected);
      });
    }
  });

  test("users.byUsername() matches the username case-insensitively", async (store, t) => {
    const alice = await store.users.create(newUser("Alice"));
    await store.users.create(newUser("bob"));
    for (const username of ["Alice", "alice", "ALICE"]) {
      await t.step(username, async () => assert.deepEqual(await store.users.byUsername(username), alice));
    }
    await t.step("unknown", async () => assert.equal(await store.users.byUsername("alic"), null));
  });

  test("users.updateProfile() changes only the fields present in the update", async (store, t) => {
    const alice = await store.users.create(newUser("alice"));
    const bob = await store.users.create(newUser("bob"));
    const steps: [title: string, update: ProfileUpdate, expected: object][] = [
      ["sets display_name", { display_name: "Alice A." }, { display_name: "Alice A.", avatar_url: null }],
      [
        "sets avatar_url, keeps display_name",
        { avatar_url: "/a.png" },
        { display_name: "Alice A.", avatar_url: "/a.png" },
      ],
      ["an empty update changes nothing", {}, { display_name: "Alice A.", avatar_url: "/a.png" }],
      [
        "undefined leaves a field untouched",
        { display_name: undefined, avatar_url: "/b.png" },
        { display_name: "Alice A.", avatar_url: "/b.png" },
      ],
      ["null clears a field", { display_name: null }, { display_name: null, avatar_url: "/b.png" }],
      [
        "sets both",
        { display_name: "Ally 👋", avatar_url: "https://x.test/a.png?s=1&t=2" },
        { display_name: "Ally 👋", avatar_url: "https://x.test/a.png?s=1&t=2" },
      ],
      ["clears both", { display_name: null, avatar_url: null }, { display_name: null, avatar_url: null }],
    ];
    for (const [title, update, expected] of steps) {
      await t.step(title, async () => {
        const updated = await store.users.updateProfile(alice.id, update);
        assert.deepEqual(updated, { ...alice, ...expected });
        assert.deepEqual(await store.users.byId(alice.id), updated);
      });
    }
    await t.step(
      "other users are untouched",
      async () => assert.deepEqual(await store.users.byId(bob.id), bob),
    );
    await t.step("unknown user", async () => {
      assert.equal(await store.users.updateProfile(newId(), { display_name: "x" }), null);
    });
  });

  test("users.setLastSeen() stores the timestamp", async (store) => {
    const alice = await store.users.create(newUser("alice"));
    const bob = await store.users.create(newUser("bob"));
    await store.users.setLastSeen(alice.id, "2030-01-02T03:04:05.678Z");
    assert.deepEqual(await store.users.byId(alice.id), { ...alice, last_seen: "2030-01-02T03:04:05.678Z" });
    await store.users.setLastSeen(alice.id, "2030-01-03T00:00:00.000Z");
    assert.equal((await store.users.byId(alice.id))?.last_seen, "2030-01-03T00:00:00.000Z");
    assert.deepEqual(await store.users.byId(bob.id), bob);
    await store.users.setLastSeen(newId(), "2030-01-02T03:04:05.678Z"); // unknown user: no error
  });

  // ---------------------------------------------------------------------------------------------- rooms

  test("rooms.create() stores the room with its creator as the only member", async (store, t) => {
    const creator = newId();
    for (const is_private of [false, true]) {
      const name = is_private ? "Secret" : "General";
      await t.step(is_private ? "private" : "public", async () => {
        const before = Date.now();
        const room = await store.rooms.create({
          name,
          description: "Talk",
          creator_id: creator,
          is_private,
        });
        assert.ok(isId(room.id), `not an id: ${room.id}`);
        assert.deepEqual({ ...room, id: "", created_at: "" }, {
          id: "",
          name,
          description: "Talk",
          creator_id: creator,
          is_private,
          is_direct: false,
          created_at: "",
          last_seq: 0,
        });
        assertRecentIso(room.created_at, before);
        assert.deepEqual(await store.rooms.byId(room.id), room);
        assert.deepEqual(await store.rooms.memberIds(room.id), [creator]);
        assert.equal(await store.rooms.isMember(room.id, creator), true);
      });
    }
  });

  test("rooms.create() refuses a name taken by another room, compared by its key", async (store, t) => {
    const creator = newId();
    const general = await store.rooms.create(newRoom(creator, { name: "General" }));
    for (const name of ["General", "general", " GENERAL ", "ＧＥＮＥＲＡＬ"]) {
      await t.step(JSON.stringify(name), async () => {
        const other = newId();
        await assertConflict(store.rooms.create(newRoom(other, { name, is_private: true })), "name");
        assert.deepEqual(await store.rooms.roomIdsOf(other), [], "no room and no membership stored");
      });
    }
    await t.step("a direct room's name is not taken", async () => {
      const { room: dm } = await store.rooms.directRoom(newId(), newId(), "alice, bob");
      const named = await store.rooms.create(newRoom(creator, { name: "Alice, Bob" }));
      assert.equal(named.name, "Alice, Bob");
      assert.equal((await store.rooms.directRoom(newId(), newId(), "alice, bob")).created, true);
      assert.equal((await store.rooms.byId(dm.id))?.name, "alice, bob");
    });
    await t.step("concurrent creates of one name: exactly one wins", async () => {
      const results = await Promise.allSettled(
        Array.from(
          { length: 6 },
          (_, i) => store.rooms.create(newRoom(newId(), { name: i % 2 ? "Race" : "race" })),
        ),
      );
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
      for (const result of results) {
        if (result.status === "rejected") {
          assert.ok(result.reason instanceof ConflictError, `expected a ConflictError, got ${result.reason}`);
          assert.equal(result.reason.field, "name");
        }
      }
    });
    assert.deepEqual(await store.rooms.byId(general.id), general);
  });

  test("rooms.update() renames and describes a room, refusing a taken name", async (store, t) => {
    const creator = newId();
    const room = await store.rooms.create(newRoom(creator, { name: "design" }));
    const other = await store.rooms.create(newRoom(creator, { name: "Ops" }));
    await t.step("the name only", async () => {
      const renamed = await store.rooms.update(room.id, { name: "Design Team" });
      assert.deepEqual(renamed, { ...room, name: "Design Team" });
      assert.deepEqual(await store.rooms.byId(room.id), renamed);
    });
    await t.step("the description only", async () => {
      const described = await store.rooms.update(room.id, { description: "Pixels 🎨" });
      assert.deepEqual(described, { ...room, name: "Design Team", description: "Pixels 🎨" });
    });
    await t.step("its own name in another case", async () => {
      assert.equal((await store.rooms.update(room.id, { name: "design team" }))?.name, "design team");
    });
    await t.step("a taken name", async () => {
      await assertConflict(store.rooms.update(room.id, { name: "OPS", description: "x" }), "name");
      assert.deepEqual(await store.rooms.byId(room.id), {
        ...room,
        name: "design team",
        description: "Pixels 🎨",
      }, "unchanged");
      assert.deepEqual(await store.rooms.byId(other.id), other);
    });
    await t.step("the old name is free again", async () => {
      assert.equal((await store.rooms.create(newRoom(newId(), { name: "Design" }))).name, "Design");
    });
    await t.step("an empty update changes nothing", async () => {
      assert.deepEqual(await store.rooms.update(other.id, {}), other);
    });
    await t.step(
      "unknown room",
      async () => assert.equal(await store.rooms.update(newId(), { name: "n" }), null),
    );
  });

  test("rooms.byId() returns null for an unknown id", async (store) => {
    await store.rooms.create(newRoom(newId()));
    assert.equal(await store.rooms.byId(newId()), null);
  });

  test(
    "rooms.listVisible() returns public rooms and the user's private rooms, oldest first",
    async (store, t) => {
      const [alice, bob, carol, dave] = [newId(), newId(), newId(), newId()];
      const created = [];
      for (
        const [name, creator, isPrivate] of [
          ["pub1", alice, false],
          ["alicePrivate", alice, true],
          ["bobPrivate", bob, true],
          ["pub2", bob, false],
          ["carolPrivate", carol, true],
        ] as const
      ) {
        created.push(await store.rooms.create(newRoom(creator, { name, is_private: isPrivate })));
        await sleep(2); // distinct created_at, so "oldest first" is unambiguous for every adapter
      }
      const [pub1, alicePrivate, bobPrivate, pub2, carolPrivate] = created;
      assert.equal(await store.rooms.addMember(carolPrivate.id, alice), true);
      const { room: dm } = await store.rooms.directRoom(alice, bob, "alice & bob");
      const names = async (userId: string) =>
        (await store.rooms.listVisible(userId)).map((room) => room.name);

      await t.step("member of private rooms and a DM", async () => {
        assert.deepEqual(await names(alice), ["pub1", "alicePrivate", "pub2", "carolPrivate", "alice & bob"]);
      });
      await t.step("creator of a private room", async () => {
        assert.deepEqual(await names(bob), ["pub1", "bobPrivate", "pub2", "alice & bob"]);
      });
      await t.step(
        "not a member of anything",
        async () => assert.deepEqual(await names(dave), ["pub1", "pub2"]),
      );
      await t.step("after leaving a private room", async () => {
        assert.equal(await store.rooms.removeMember(carolPrivate.id, alice), true);
        assert.deepEqual(await names(alice), ["pub1", "alicePrivate", "pub2", "alice & bob"]);
      });
      await t.step("returns whole rooms", async () => {
        const rooms = await store.rooms.listVisible(bob);
        assert.deepEqual(rooms, [pub1, bobPrivate, pub2, dm]);
        assert.ok(
          !rooms.some((room) => room.id === alicePrivate.id),
        );
      });
    },
  );

  test("rooms.roomIdsOf() lists the rooms the user belongs to", async (store) => {
    const [alice, bob] = [newId(), newId()];
    const own = await store.rooms.create(newRoom(alice));
    const joined = await store.rooms.create(newRoom(bob, { is_private: true }));
    const left = await store.rooms.create(newRoom(bob));
    await store.rooms.create(newRoom(bob)); // never joined
    await store.rooms.addMember(joined.id, alice);
    await store.rooms.addMember(left.id, alice);
    await store.rooms.removeMember(left.id, alice);
    const { room: dm } = await store.rooms.directRoom(bob, alice, "dm");
    assert.deepEqual((await store.rooms.roomIdsOf(alice)).sort(), [own.id, joined.id, dm.id].sort());
    assert.deepEqual(await store.rooms.roomIdsOf(newId()), []);
  });

  test("rooms.addMember() and removeMember() report whether anything changed", async (store, t) => {
    const [creator, user, stranger] = [newId(), newId(), newId()];
    const room = await store.rooms.create(newRoom(creator));
    const steps: [title: string, run: () => Promise<boolean>, expected: boolean][] = [
      ["isMember() before joining", () => store.rooms.isMember(room.id, user), false],
      ["addMember() of a new member", () => store.rooms.addMember(room.id, user), true],
      ["isMember() after joining", () => store.rooms.isMember(room.id, user), true],
      ["addMember() of a member", () => store.rooms.addMember(room.id, user), false],
      ["addMember() of the creator", () => store.rooms.addMember(room.id, creator), false],
      ["removeMember() of a member", () => store.rooms.removeMember(room.id, user), true],
      ["isMember() after leaving", () => store.rooms.isMember(room.id, user), false],
      ["removeMember() of a former member", () => store.rooms.removeMember(room.id, user), false],
      ["removeMember() of a stranger", () => store.rooms.removeMember(room.id, stranger), false],
      ["isMember() in an unknown room", () => store.rooms.isMember(newId(), creator), false],
      ["addMember() after leaving", () => store.rooms.addMember(room.id, user), true],
    ];
    for (const [title, run, expected] of steps) {
      await t.step(title, async () => assert.equal(await run(), expected));
    }
    await t.step("membership of other rooms is separate", async () => {
      const other = await store.rooms.create(newRoom(stranger));
      assert.equal(await store.rooms.isMember(other.id, user), false);
      assert.deepEqual(await store.rooms.memberIds(other.id), [stranger]);
    });
  });

  test("rooms.memberIds() lists members in join order", async (store) => {
    const [creator, b, c, d] = [newId(), newId(), newId(), newId()];
    const room = await store.rooms.create(newRoom(creator));
    for (const user of [d, b, c]) await store.rooms.addMember(room.id, user);
    assert.deepEqual(await store.rooms.memberIds(room.id), [creator, d, b, c]);
    await store.rooms.removeMember(room.id, d);
    await store.rooms.addMember(room.id, d);
    assert.deepEqual(await store.rooms.memberIds(room.id), [creator, b, c, d], "rejoining moves to the end");
    await store.rooms.removeMember(room.id, creator);
    assert.deepEqual(await store.rooms.memberIds(room.id), [b, c, d]);
    assert.deepEqual(await store.rooms.memberIds(newId()), []);
  });

  test("rooms.lastSeqs() reads the last seq of many rooms at once; unknown rooms are absent", async (store) => {
    const alice = newId();
    const quiet = await store.rooms.create(newRoom(alice));
    const busy = await store.rooms.create(newRoom(alice));
    for (let i = 0; i < 3; i++) {
      await store.messages.append({
        room_id: busy.id,
        user_id: alice,
        username: "alice",
        content: `m${i}`,
        type: "text",
      });
    }
    const unknown = newId();
    const seqs = await store.rooms.lastSeqs([busy.id, quiet.id, unknown, busy.id]);
    assert.deepEqual(Object.fromEntries(seqs), { [busy.id]: 3, [quiet.id]: 0 });
    assert.deepEqual(await store.rooms.lastSeqs([]), new Map());
  });

  test("rooms.memberCounts() counts the members of many rooms at once", async (store, t) => {
    const [alice, bob, carol, dave] = [newId(), newId(), newId(), newId()];
    const big = await store.rooms.create(newRoom(alice));
    for (const user of [bob, carol, dave]) await store.rooms.addMember(big.id, user);
    const small = await store.rooms.create(newRoom(bob, { is_private: true }));
    const emptied = await store.rooms.create(newRoom(carol));
    await store.rooms.removeMember(emptied.id, carol);
    const { room: dm } = await store.rooms.directRoom(alice, dave, "dm");
    const counts = async (ids: string[]) => {
      const map = await store.rooms.memberCounts(ids);
      return Object.fromEntries(ids.map((id) => [id, map.get(id) ?? 0]));
    };

    await t.step("several rooms", async () => {
      assert.deepEqual(await counts([big.id, small.id, dm.id]), { [big.id]: 4, [small.id]: 1, [dm.id]: 2 });
    });
    await t.step("only the rooms asked for", async () => {
      assert.deepEqual([...(await store.rooms.memberCounts([small.id])).keys()], [small.id]);
    });
    await t.step("a room with no members and an unknown room count 0 (or are absent)", async () => {
      const unknown = newId();
      const map = await store.rooms.memberCounts([emptied.id, unknown]);
      assert.ok([undefined, 0].includes(map.get(emptied.id)), `emptied: ${map.get(emptied.id)}`);
      assert.ok([undefined, 0].includes(map.get(unknown)), `unknown: ${map.get(unknown)}`);
    });
    await t.step("a repeated id", async () => {
      assert.deepEqual(await counts([dm.id, dm.id]), { [dm.id]: 2 });
    });
    await t.step("no ids", async () => assert.equal((await store.rooms.memberCounts([])).size, 0));
    await t.step("follows joins and leaves", async () => {
      await store.rooms.removeMember(big.id, bob);
      await store.rooms.addMember(small.id, carol);
      assert.deepEqual(await counts([big.id, small.id]), { [big.id]: 3, [small.id]: 2 });
    });
    await t.step("a user in 600 rooms: every room counted, in any order", async () => {
      const ids = [];
      for (let i = 0; i < 600; i++) ids.push((await store.rooms.create(newRoom(newId()))).id);
      await store.rooms.addMember(ids[599], alice);
      const map = await store.rooms.memberCounts([...ids].reverse());
      assert.equal(ids.filter((id) => map.get(id) === 1).length, 599);
      assert.equal(map.get(ids[599]), 2);
    });
  });

  test("rooms.directRoomIds() picks the direct rooms out of a list", async (store, t) => {
    const [alice, bob, carol] = [newId(), newId(), newId()];
    const open = await store.rooms.create(newRoom(alice));
    const closed = await store.rooms.create(newRoom(alice, { is_private: true }));
    const { room: ab } = await store.rooms.directRoom(alice, bob, "ab");
    const { room: ac } = await store.rooms.directRoom(carol, alice, "ac");
    await t.step("mixed", async () => {
      const direct = await store.rooms.directRoomIds([open.id, ab.id, closed.id, ac.id, newId(), ab.id]);
      assert.deepEqual([...direct].sort(), [ab.id, ac.id].sort());
    });
    await t.step("none", async () => {
      assert.equal((await store.rooms.directRoomIds([open.id, closed.id])).size, 0);
      assert.equal((await store.rooms.directRoomIds([])).size, 0);
    });
  });

  test("rooms.markRead() keeps the highest seq read, capped at the room's last seq", async (store) => {
    const [user, stranger] = [newId(), newId()];
    const room = await store.rooms.create(newRoom(user));
    const other = await store.rooms.create(newRoom(user));
    for (let i = 0; i < 5; i++) {
      await store.messages.append({
        room_id: room.id,
        user_id: user,
        username: "u",
        content: `m${i}`,
        type: "text",
      });
    }
    assert.deepEqual([...(await store.rooms.readSeqs(user))].sort(), [[other.id, 0], [room.id, 0]].sort());
    assert.equal(await store.rooms.markRead(room.id, user, 3), 3);
    assert.equal(await store.rooms.markRead(room.id, user, 2), 3, "a marker never moves back");
    assert.equal(await store.rooms.markRead(room.id, user, 99), 5, "nor past the last message");
    assert.equal(await store.rooms.markRead(room.id, stranger, 2), null, "non-members have no marker");
    assert.deepEqual((await store.rooms.readSeqs(user)).get(room.id), 5);
    assert.deepEqual((await store.rooms.readSeqs(stranger)).size, 0);
    await store.rooms.removeMember(room.id, user);
    await store.rooms.addMember(room.id, user);
    assert.equal((await store.rooms.readSeqs(user)).get(room.id), 0, "rejoining starts unread");
  });

  // ---------------------------------------------------------------------------------------------- direct rooms

  test("rooms.directRoom() creates a private direct room with exactly both users", async (store) => {
    const [a, b] = [newId(), newId()];
    const before = Date.now();
    const { room, created } = await store.rooms.directRoom(a, b, "a & b");
    assert.equal(created, true);
    assert.ok(isId(room.id), `not an id: ${room.id}`);
    assert.deepEqual({ ...room, id: "", created_at: "" }, {
      id: "",
      name: "a & b",
      description: "",
      creator_id: a,
      is_private: true,
      is_direct: true,
      created_at: "",
      last_seq: 0,
    });
    assertRecentIso(room.created_at, before);
    assert.deepEqual(await store.rooms.byId(room.id), room);
    assert.deepEqual((await store.rooms.memberIds(room.id)).sort(), [a, b].sort());
  });

  test("rooms.directRoom() returns the same room on later calls in either order", async (store, t) => {
    const [a, b, c] = [newId(), newId(), newId()];
    const first = await store.rooms.directRoom(a, b, "a & b");
    await t.step("same order", async () => {
      assert.deepEqual(await store.rooms.directRoom(a, b, "a & b"), { room: first.room, created: false });
    });
    await t.step("swapped order", async () => {
      assert.deepEqual(await store.rooms.directRoom(b, a, "b & a"), { room: first.room, created: false });
    });
    await t.step("members unchanged", async () => {
      assert.deepEqual((await store.rooms.memberIds(first.room.id)).sort(), [a, b].sort());
    });
    await t.step("another pair gets another room", async () => {
      const other = await store.rooms.directRoom(a, c, "a & c");
      assert.equal(other.created, true);
      assert.notEqual(other.room.id, first.room.id);
      assert.deepEqual((await store.rooms.memberIds(other.room.id)).sort(), [a, c].sort());
    });
  });

  test("rooms.directRoom() creates one room under concurrent calls", async (store) => {
    const [a, b] = [newId(), newId()];
    const results = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => i % 2 ? store.rooms.directRoom(a, b, "x") : store.rooms.directRoom(b, a, "x"),
      ),
    );
    assert.equal(new Set(results.map((result) => result.room.id)).size, 1);
    assert.equal(results.filter((result) => result.created).length, 1);
    const roomId = results[0].room.id;
    assert.deepEqual((await store.rooms.memberIds(roomId)).sort(), [a, b].sort());
    assert.deepEqual(
      (await store.rooms.listVisible(a)).filter((room) => room.is_direct).map((room) => room.id),
      [
        roomId,
      ],
    );
  });

  // ---------------------------------------------------------------------------------------------- messages

  test("messages.append() assigns seq 1, 2, 3... independently per room", async (store) => {
    const user = newId();
    const one = await store.rooms.create(newRoom(user, { name: "one" }));
    const two = await store.rooms.create(newRoom(user, { name: "two" }));
    const order = [one, one, two, one, two, one];
    const seqs: Record<string, number[]> = { [one.id]: [], [two.id]: [] };
    for (const [i, room] of order.entries()) {
      const { message, created } = await store.messages.append(newMessage(room.id, user, `m${i}`));
      assert.equal(created, true);
      seqs[room.id].push(message.seq);
    }
    assert.deepEqual(seqs, { [one.id]: [1, 2, 3, 4], [two.id]: [1, 2] });
    assert.equal((await store.rooms.byId(one.id))?.last_seq, 4);
    assert.equal((await store.rooms.byId(two.id))?.last_seq, 2);
  });

  test("messages.append() returns the stored message", async (store) => {
    const user = newId();
    const room = await store.rooms.create(newRoom(user));
    const before = Date.now();
    const input: NewMessage = {
      room_id: room.id,
      user_id: user,
      username: "alice",
      content: "hi",
      type: "text",
    };
    const { message, created } = await store.messages.append(input);
    assert.equal(created, true);
    assert.ok(isId(message.id), `not an id: ${message.id}`);
    assert.deepEqual({ ...message, id: "", timestamp: "" }, {
      id: "",
      room_id: room.id,
      seq: 1,
      user_id: user,
      username: "alice",
      content: "hi",
      type: "text",
      timestamp: "",
    });
    assert.equal("client_id" in message, false, "no client_id key when none was given");
    assertRecentIso(message.timestamp, before);
    const { messages } = await store.messages.history(room.id, { limit: 10 });
    assert.deepEqual(messages, [message]);
  });

  test("messages.append() keeps the message type", async (store, t) => {
    const user = newId();
    const room = await store.rooms.create(newRoom(user));
    for (const type of ["text", "system", "bot"] as const) {
      await t.step(type, async () => {
        const { message } = await store.messages.append({ ...newMessage(room.id, user, type), type });
        assert.equal(message.type, type);
        const { messages } = await store.messages.history(room.id, { after_seq: message.seq - 1, limit: 1 });
        assert.equal(messages[0].type, type);
      });
    }
  });

  test("messages.append() with a known client_id returns the original and stores nothing", async (store) => {
    const user = newId();
    const room = await store.rooms.create(newRoom(user));
    const first = await store.messages.append({ ...newMessage(room.id, user, "hello"), client_id: "c-1" });
    assert.equal(first.created, true);
    assert.equal(first.message.client_id, "c-1");
    const again = await store.messages.append({
      ...newMessage(room.id, user, "hello, edited"),
      client_id: "c-1",
    });
    assert.deepEqual(again, { message: first.message, created: false });
    const page = await store.messages.history(room.id, { limit: 10 });
    assert.deepEqual(page, { messages: [first.message], total: 1 });
    assert.equal((await store.rooms.byId(room.id))?.last_seq, 1, "no seq used up");
    const next = await store.messages.append(newMessage(room.id, user, "next"));
    assert.equal(next.message.seq, 2);
  });

  test("messages.append() scopes client_id to one user in one room", async (store, t) => {
    const [alice, bob] = [newId(), newId()];
    const room = await store.rooms.create(newRoom(alice));
    const other = await store.rooms.create(newRoom(alice));
    const original = await store.messages.append({ ...newMessage(room.id, alice, "a"), client_id: "same" });
    await t.step("another user in the same room", async () => {
      const result = await store.messages.append({ ...newMessage(room.id, bob, "b"), client_id: "same" });
      assert.equal(result.created, true);
      assert.equal(result.message.seq, 2);
      assert.equal(result.message.content, "b");
    });
    await t.step("the same user in another room", async () => {
      const result = await store.messages.append({ ...newMessage(other.id, alice, "c"), client_id: "same" });
      assert.equal(result.created, true);
      assert.equal(result.message.seq, 1);
    });
    await t.step("without a client_id", async () => {
      const result = await store.messages.append(newMessage(room.id, alice, "d"));
      assert.equal(result.created, true);
      assert.equal(result.message.seq, 3);
    });
    await t.step("the original is still deduplicated", async () => {
      const result = await store.messages.append({ ...newMessage(room.id, alice, "e"), client_id: "same" });
      assert.deepEqual(result, { message: original.message, created: false });
    });
    await t.step("totals", async () => {
      assert.equal((await store.messages.history(room.id, { limit: 0 })).total, 3);
      assert.equal((await store.messages.history(other.id, { limit: 0 })).total, 1);
    });
  });

  test("messages.append() stores content byte-exact", async (store, t) => {
    const user = newId();
    const room = await store.rooms.create(newRoom(user));
    const contents: [title: string, content: string][] = [
      ["emoji with modifiers", "👋🏽 hi 👨‍👩‍👧‍👦 🏳️‍🌈"],
      ["astral and combining characters", "𝄞 e\u0301 é ℌ𝔢𝔩𝔩𝔬"],
      ["right-to-left", "שלום مرحبا"],
      ["HTML", "<script>alert('x')</script><b>&amp;</b>"],
      ["SQL", "'; DROP TABLE messages; -- \" `"],
      ["JSON-looking", '{"$gt": ""}'],
      ["newlines and tabs", "line 1\nline 2\r\n\tindented\r"],
      ["surrounding spaces", "  padded  "],
      ["invisible characters", "zero\u200bwidth\ufeffbom\u2028sep"],
      ["empty", ""],
      ["long", "x".repeat(9_999) + "✓"],
    ];
    for (const [title, content] of contents) {
      await t.step(title, async () => {
        const { message } = await store.messages.append(newMessage(room.id, user, content));
        assert.equal(message.content, content);
        const { messages } = await store.messages.history(room.id, { after_seq: message.seq - 1, limit: 1 });
        assert.equal(messages[0].content, content);
        assert.deepEqual(new TextEncoder().encode(messages[0].content), new TextEncoder().encode(content));
      });
    }
    await t.step("username too", async () => {
      const { message } = await store.messages.append({
        ...newMessage(room.id, user, "x"),
        username: "Zoë 🦊",
      });
      const { messages } = await store.messages.history(room.id, { after_seq: message.seq - 1, limit: 1 });
      assert.equal(messages[0].username, "Zoë 🦊");
    });
  });

  test(
    "messages.history() pages by offset, newest page first, chronological within a page",
    async (store, t) => {
      const room = await roomWithMessages(store, 25);
      const cases: [offset: number | undefined, limit: number, seqs: number[]][] = [
        [undefined, 10, range(16, 25)],
        [0, 10, range(16, 25)],
        [10, 10, range(6, 15)],
        [20, 10, range(1, 5)],
        [25, 10, []],
        [30, 10, []],
        [0, 100, range(1, 25)],
        [3, 4, range(19, 22)],
        [0, 0, []],
      ];
      for (const [offset, limit, seqs] of cases) {
        await t.step(`offset ${offset} limit ${limit}`, async () => {
          const page = await store.messages.history(
            room,
            offset === undefined ? { limit } : { limit, offset },
          );
          assertPage(page, seqs, 25);
        });
      }
    },
  );

  test("messages.history() pages backwards with before_seq", async (store, t) => {
    const room = await roomWithMessages(store, 25);
    const cases: [before: number, limit: number, seqs: number[]][] = [
      [26, 10, range(16, 25)],
      [1_000, 10, range(16, 25)],
      [16, 10, range(6, 15)],
      [6, 10, range(1, 5)],
      [1, 10, []],
      [13, 3, [10, 11, 12]],
      [25, 100, range(1, 24)],
    ];
    for (const [before_seq, limit, seqs] of cases) {
      await t.step(`before ${before_seq} limit ${limit}`, async () => {
        assertPage(await store.messages.history(room, { limit, before_seq }), seqs, 25);
      });
    }
  });

  test("messages.history() pages forwards with after_seq", async (store, t) => {
    const room = await roomWithMessages(store, 25);
    const cases: [after: number, limit: number, seqs: number[]][] = [
      [0, 10, range(1, 10)],
      [10, 10, range(11, 20)],
      [20, 10, range(21, 25)],
      [25, 10, []],
      [1_000, 10, []],
      [12, 3, [13, 14, 15]],
      [1, 100, range(2, 25)],
    ];
    for (const [after_seq, limit, seqs] of cases) {
      await t.step(`after ${after_seq} limit ${limit}`, async () => {
        assertPage(await store.messages.history(room, { limit, after_seq }), seqs, 25);
      });
    }
  });

  test("messages.history() returns only the room's own messages", async (store) => {
    const user = newId();
    const one = await store.rooms.create(newRoom(user));
    const two = await store.rooms.create(newRoom(user));
    for (let i = 1; i <= 5; i++) {
      await store.messages.append(newMessage(one.id, user, `one ${i}`));
      if (i % 2) await store.messages.append(newMessage(two.id, user, `two ${i}`));
    }
    const pageOne = await store.messages.history(one.id, { limit: 10 });
    assert.equal(pageOne.total, 5);
    assert.deepEqual(pageOne.messages.map((m) => m.content), ["one 1", "one 2", "one 3", "one 4", "one 5"]);
    assert.ok(pageOne.messages.every((m) => m.room_id === one.id));
    const pageTwo = await store.messages.history(two.id, { limit: 10 });
    assert.equal(pageTwo.total, 3);
    assert.deepEqual(pageTwo.messages.map((m) => [m.seq, m.content]), [[1, "two 1"], [2, "two 3"], [
      3,
      "two 5",
    ]]);
  });

  test("messages.history() of an empty or unknown room is empty", async (store, t) => {
    const room = await store.rooms.create(newRoom(newId()));
    for (const [title, roomId] of [["empty room", room.id], ["unknown room", newId()]]) {
      await t.step(title, async () => {
        for (
          const query of [{ limit: 10 }, { limit: 10, offset: 5 }, { limit: 10, before_seq: 5 }, {
            limit: 10,
            after_seq: 0,
          }]
        ) {
          assert.deepEqual(await store.messages.history(roomId, query), { messages: [], total: 0 });
        }
      });
    }
  });

  // ---------------------------------------------------------------------------------------------- processes

  const spawnWriter = opts.spawnWriter;
  if (spawnWriter) {
    test("seq stays gap-free with two processes writing to one room", async (store) => {
      const count = 200;
      const room = await store.rooms.create(newRoom(newId()));
      const writers = [newId(), newId()];
      const children = writers.map((userId) => spawnWriter({ store, roomId: room.id, userId, count }));
      const outputs = await Promise.all(children.map((child) => child.output()));
      for (const output of outputs) {
        assert.equal(output.code, 0, `writer failed:\n${new TextDecoder().decode(output.stderr)}`);
      }
      const page = await store.messages.history(room.id, { after_seq: 0, limit: 2 * count + 10 });
      assert.equal(page.total, 2 * count);
      assert.deepEqual(page.messages.map((m) => m.seq), range(1, 2 * count));
      assert.equal(new Set(page.messages.map((m) => m.id)).size, 2 * count, "distinct ids");
      for (const userId of writers) {
        const contents = page.messages.filter((m) => m.user_id === userId).map((m) => m.content);
        assert.deepEqual(contents, range(1, count).map(String), `each writer's ${count} messages, in order`);
      }
      assert.equal((await store.rooms.byId(room.id))?.last_seq, 2 * count);
    });
  }
}

// ------------------------------------------------------------------------------------------------ helpers

function newUser(username: string): NewUser {
  return { username, email: `${username}.${newId()}@example.com`, password_hash: `hash-of-${username}` };
}

/** A room with a name of its own unless `overrides` names it (room names are unique). */
function newRoom(creator_id: string, overrides: { name?: string; is_private?: boolean } = {}) {
  return { name: `room ${newId()}`, description: "", creator_id, is_private: false, ...overrides };
}

function newMessage(room_id: string, user_id: string, content: string): NewMessage {
  return { room_id, user_id, username: "user", content, type: "text" };
}

/** A room holding `count` messages with contents "m1".."m<count>"; returns its id. */
async function roomWithMessages(store: Store, count: number): Promise<string> {
  const user = newId();
  const room = await store.rooms.create(newRoom(user));
  for (let i = 1; i <= count; i++) await store.messages.append(newMessage(room.id, user, `m${i}`));
  return room.id;
}

function assertPage(page: { messages: Message[]; total: number }, seqs: number[], total: number): void {
  assert.equal(page.total, total);
  assert.deepEqual(page.messages.map((m) => m.seq), seqs);
  assert.deepEqual(page.messages.map((m) => m.content), seqs.map((seq) => `m${seq}`));
}

async function assertConflict(promise: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ConflictError, `expected a ConflictError, got ${error}`);
    assert.equal(error.field, field);
    return true;
  });
}

function assertRecentIso(value: string, since: number): void {
  assert.match(value, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const time = Date.parse(value);
  assert.ok(time >= since - 1_000 && time <= Date.now() + 1_000, `not recent: ${value}`);
}

/** `[from, from + 1, ... to]`. */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

function sortById<T extends { id: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The part of the store contract that sign-in needs: sessions with rotating refresh tokens, password changes and
 * resets, two-factor secrets and recovery codes. Run against every adapter next to `storeContract`.
 *
 * @example
 * authStoreContract("SqliteStore", openFileStore);
 */
import assert from "node:assert/strict";
import type { NewSession, Store, User } from "../store.ts";

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Registers the cases as `Deno.test`s named "`name` auth: ...". */
export function authStoreContract(name: string, open: () => Promise<Store>): void {
  function test(title: string, fn: (store: Store) => Promise<void>): void {
    Deno.test(`\`${name}\` auth: ${title}`, async () => {
      const store = await open();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    });
  }

  async function user(store: Store, username = "alice"): Promise<User> {
    return await store.users.create({ username, email: `${username}@example.com`, password_hash: "h" });
  }

  function newSession(userId: string, hash: string, overrides: Partial<NewSession> = {}): NewSession {
    return {
      user_id: userId,
      device: "Firefox on Linux",
      ip: "127.0.0.1",
      expires_at: iso(Date.now() + 24 * HOUR),
      refresh_hash: hash,
      ...overrides,
    };
  }

  const next = (hash: string, ip = "127.0.0.9", at = Date.now()) => ({
    hash,
    at: iso(at),
    ip,
    expires_at: iso(at + 48 * HOUR),
  });

  test("a new user has two-factor sign-in off and no recovery codes", async (store) => {
    const alice = await user(store);
    assert.equal(alice.totp_secret, null);
    assert.equal(alice.totp_last_step, null);
    assert.deepEqual(alice.recovery_codes, []);
  });

  test("sessions.create() stores the session; byId() and activeOf() read it back", async (store) => {
    const alice = await user(store);
    const before = Date.now();
    const session = await store.sessions.create(newSession(alice.id, "t1"));
    assert.equal(session.user_id, alice.id);
    assert.equal(session.device, "Firefox on Linux");
    assert.equal(session.ip, "127.0.0.1");
    assert.equal(session.revoked_at, null);
    assert.equal(session.created_at, session.last_used_at);
    assert.ok(Date.parse(session.created_at) >= before - 1000);
    assert.deepEqual(await store.sessions.byId(session.id), session);
    assert.equal(await store.sessions.byId("0".repeat(24)), null);
    assert.deepEqual(await store.sessions.activeOf(alice.id, iso(Date.now())), [session]);
  });

  test("sessions.activeOf() leaves out revoked and expired sessions and other users'", async (store) => {
    const alice = await user(store);
    const bob = await user(store, "bob");
    const kept = await store.sessions.create(newSession(alice.id, "a1"));
    const revoked = await store.sessions.create(newSession(alice.id, "a2"));
    await store.sessions.create(newSession(alice.id, "a3", { expires_at: iso(Date.now() - 1000) }));
    await store.sessions.create(newSession(bob.id, "b1"));
    assert.ok(await store.sessions.revoke(revoked.id, alice.id, iso(Date.now())));
    assert.deepEqual((await store.sessions.activeOf(alice.id, iso(Date.now()))).map((s) => s.id), [kept.id]);
  });

  test("sessions.activeOf() lists the most recently used first", async (store) => {
    const alice = await user(store);
    const first = await store.sessions.create(newSession(alice.id, "f1"));
    const second = await store.sessions.create(newSession(alice.id, "s1"));
    await store.sessions.rotate("f1", next("f2", "127.0.0.9", Date.now() + 1000));
    assert.deepEqual((await store.sessions.activeOf(alice.id, iso(Date.now()))).map((s) => s.id), [
      first.id,
      second.id,
    ]);
  });

  test("sessions.rotate() exchanges the current token once, and a reuse revokes the session", async (store) => {
    const alice = await user(store);
    const session = await store.sessions.create(newSession(alice.id, "r1"));
    const at = Date.now() + 500;
    const rotated = await store.sessions.rotate("r1", next("r2", "127.0.0.7", at));
    assert.equal(rotated.outcome, "rotated");
    assert.ok(rotated.outcome === "rotated");
    assert.equal(rotated.session.id, session.id);
    assert.equal(rotated.session.ip, "127.0.0.7");
    assert.equal(rotated.session.last_used_at, iso(at));
    assert.equal(rotated.session.expires_at, iso(at + 48 * HOUR));

    assert.equal((await store.sessions.rotate("r2", next("r3"))).outcome, "rotated");
    // r1 was used already: theft. The whole session ends, the newest token with it.
    const reused = await store.sessions.rotate("r1", next("x1"));
    assert.equal(reused.outcome, "reused");
    assert.ok(reused.outcome === "reused");
    assert.equal(reused.session.id, session.id);
    assert.notEqual(reused.session.revoked_at, null);
    assert.notEqual((await store.sessions.byId(session.id))?.revoked_at, null);
    const after = await store.sessions.rotate("r3", next("r4"));
    assert.ok(after.outcome === "ended" || after.outcome === "unknown", after.outcome);
    assert.deepEqual(await store.sessions.activeOf(alice.id, iso(Date.now())), []);
  });

  test("sessions.rotate() says unknown for a token never issued", async (store) => {
    const alice = await user(store);
    await store.sessions.create(newSession(alice.id, "k1"));
    assert.deepEqual(await store.sessions.rotate("nope", next("k2")), { outcome: "unknown" });
  });

  test("sessions.rotate() says ended for an expired or revoked session", async (store) => {
    const alice = await user(store);
    await store.sessions.create(newSession(alice.id, "e1", { expires_at: iso(Date.now() - 1) }));
    assert.equal((await store.sessions.rotate("e1", next("e2"))).outcome, "ended");
    const revoked = await store.sessions.create(newSession(alice.id, "v1"));
    await store.sessions.revoke(revoked.id, alice.id, iso(Date.now()));
    const result = await store.sessions.rotate("v1", next("v2"));
    assert.ok(result.outcome === "ended" || result.outcome === "unknown", result.outcome);
  });

  test("sessions.rotate() of one token twice at once: one rotation, one reuse", async (store) => {
    const alice = await user(store);
    await store.sessions.create(newSession(alice.id, "c1"));
    const results = await Promise.all([
      store.sessions.rotate("c1", next("c2a")),
      store.sessions.rotate("c1", next("c2b")),
    ]);
    assert.deepEqual(results.map((r) => r.outcome).sort(), ["reused", "rotated"]);
  });

  test("sessions.revoke() ends one session of its user once; another user cannot", async (store) => {
    const alice = await user(store);
    const bob = await user(store, "bob");
    const session = await store.sessions.create(newSession(alice.id, "o1"));
    assert.equal(await store.sessions.revoke(session.id, bob.id, iso(Date.now())), null);
    const at = iso(Date.now());
    const revoked = await store.sessions.revoke(session.id, alice.id, at);
    assert.equal(revoked?.id, session.id);
    assert.equal(revoked?.revoked_at, at);
    assert.equal(await store.sessions.revoke(session.id, alice.id, iso(Date.now())), null);
    assert.equal(await store.sessions.revoke("0".repeat(24), alice.id, iso(Date.now())), null);
  });

  test("sessions.revokeAllOf() ends every active session but the one kept", async (store) => {
    const alice = await user(store);
    const bob = await user(store, "bob");
    const a = await store.sessions.create(newSession(alice.id, "m1"));
    const b = await store.sessions.create(newSession(alice.id, "m2"));
    const c = await store.sessions.create(newSession(alice.id, "m3"));
    const bobs = await store.sessions.create(newSession(bob.id, "m4"));
    assert.deepEqual(
      (await store.sessions.revokeAllOf(alice.id, iso(Date.now()), b.id)).sort(),
      [a.id, c.id].sort(),
    );
    assert.deepEqual((await store.sessions.activeOf(alice.id, iso(Date.now()))).map((s) => s.id), [b.id]);
    assert.deepEqual(await store.sessions.revokeAllOf(alice.id, iso(Date.now())), [b.id]);
    assert.deepEqual(await store.sessions.revokeAllOf(alice.id, iso(Date.now())), []);
    assert.deepEqual((await store.sessions.activeOf(bob.id, iso(Date.now()))).map((s) => s.id), [bobs.id]);
  });

  test("users.setPassword() replaces the hash", async (store) => {
    const alice = await user(store);
    assert.equal(await store.users.setPassword(alice.id, "new-hash"), true);
    assert.equal((await store.users.byId(alice.id))?.password_hash, "new-hash");
    assert.equal(await store.users.setPassword("0".repeat(24), "x"), false);
  });

  test("users.setTwoFactor(), useTotpStep() and useRecoveryCode()", async (store) => {
    const alice = await user(store);
    assert.equal(await store.users.useTotpStep(alice.id, 5), false, "off: no step is recorded");
    assert.equal(
      await store.users.setTwoFactor(alice.id, { secret: "SECRET", recovery_codes: ["h1", "h2"] }),
      true,
    );
    let stored = await store.users.byId(alice.id);
    assert.equal(stored?.totp_secret, "SECRET");
    assert.deepEqual(stored?.recovery_codes, ["h1", "h2"]);

    assert.equal(await store.users.useTotpStep(alice.id, 100), true);
    assert.equal(await store.users.useTotpStep(alice.id, 100), false, "a code is good once");
    assert.equal(await store.users.useTotpStep(alice.id, 99), false);
    assert.equal(await store.users.useTotpStep(alice.id, 101), true);
    assert.equal((await store.users.byId(alice.id))?.totp_last_step, 101);

    assert.equal(await store.users.useRecoveryCode(alice.id, "h2"), true);
    assert.equal(await store.users.useRecoveryCode(alice.id, "h2"), false);
    assert.equal(await store.users.useRecoveryCode(alice.id, "zz"), false);
    assert.deepEqual((await store.users.byId(alice.id))?.recovery_codes, ["h1"]);

    assert.equal(await store.users.setTwoFactor(alice.id, null), true);
    stored = await store.users.byId(alice.id);
    assert.equal(stored?.totp_secret, null);
    assert.equal(stored?.totp_last_step, null);
    assert.deepEqual(stored?.recovery_codes, []);
  });

  test("users.useRecoveryCode() of one code twice at once succeeds once", async (store) => {
    const alice = await user(store);
    await store.users.setTwoFactor(alice.id, { secret: "S", recovery_codes: ["a", "b", "c"] });
    const results = await Promise.all([
      store.users.useRecoveryCode(alice.id, "b"),
      store.users.useRecoveryCode(alice.id, "b"),
    ]);
    assert.deepEqual(results.sort(), [false, true]);
    assert.deepEqual((await store.users.byId(alice.id))?.recovery_codes, ["a", "c"]);
  });

  test("users.usePasswordReset() gives the user once, before expiry only", async (store) => {
    const alice = await user(store);
    const now = Date.now();
    await store.users.addPasswordReset(alice.id, "p1", iso(now + 30 * 60_000));
    await store.users.addPasswordReset(alice.id, "p2", iso(now - 1));
    assert.equal(await store.users.usePasswordReset("p1", iso(now)), alice.id);
    assert.equal(await store.users.usePasswordReset("p1", iso(now)), null);
    assert.equal(await store.users.usePasswordReset("p2", iso(now)), null);
    assert.equal(await store.users.usePasswordReset("none", iso(now)), null);
  });
}

/**
 * What the migration tests check on a user an older release stored: two-factor sign-in reads as off, and the
 * new sign-in data (sessions, resets, two-factor) can be written for them.
 */
export async function assertSignInMigrated(store: Store, userId: string): Promise<void> {
  const user = await store.users.byId(userId);
  assert.equal(user?.totp_secret, null);
  assert.equal(user?.totp_last_step, null);
  assert.deepEqual(user?.recovery_codes, []);
  const session = await store.sessions.create({
    user_id: userId,
    device: "Safari on iOS",
    ip: "::1",
    expires_at: iso(Date.now() + HOUR),
    refresh_hash: "migrated-1",
  });
  assert.deepEqual((await store.sessions.activeOf(userId, iso(Date.now()))).map((s) => s.id), [session.id]);
  assert.equal(
    (await store.sessions.rotate("migrated-1", {
      hash: "migrated-2",
      at: iso(Date.now()),
      ip: "::1",
      expires_at: iso(Date.now() + HOUR),
    })).outcome,
    "rotated",
  );
  assert.equal(await store.users.setTwoFactor(userId, { secret: "S", recovery_codes: ["r"] }), true);
  assert.equal(await store.users.useTotpStep(userId, 1), true);
  await store.users.addPasswordReset(userId, "reset-1", iso(Date.now() + HOUR));
  assert.equal(await store.users.usePasswordReset("reset-1", iso(Date.now())), userId);
}

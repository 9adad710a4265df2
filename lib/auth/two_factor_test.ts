import assert from "node:assert/strict";
import { ChatError } from "../errors.ts";
import { SqliteStore } from "../storage/sqlite.ts";
import { totpCode } from "./totp.ts";
import { TwoFactor } from "./two_factor.ts";

async function withUser(
  fn: (ctx: { store: SqliteStore; twoFactor: TwoFactor; userId: string }) => Promise<void>,
) {
  const store = SqliteStore.open({ path: ":memory:" });
  try {
    const user = await store.users.create({ username: "alice", email: "a@x.test", password_hash: "h" });
    await fn({ store, twoFactor: new TwoFactor({ store }), userId: user.id });
  } finally {
    await store.close();
  }
}

const refusedWith = (code: string) => (error: unknown) => error instanceof ChatError && error.code === code;

Deno.test("TwoFactor: setup stores nothing; enable needs the app's current code and answers 10 recovery codes", () =>
  withUser(async ({ store, twoFactor, userId }) => {
    const user = (await store.users.byId(userId))!;
    const setup = twoFactor.setup(user);
    assert.match(setup.secret, /^[A-Z2-7]{32}$/);
    assert.match(setup.otpauth_uri, /^otpauth:\/\/totp\/Chat:alice\?/);
    assert.match(setup.qr_svg, /^<svg[^>]* role="img"/);
    assert.equal((await store.users.byId(userId))?.totp_secret, null, "nothing stored yet");

    const wrong = totpCode(setup.secret) === "000000" ? "111111" : "000000";
    await assert.rejects(twoFactor.enable(user, setup.secret, wrong), refusedWith("invalid_two_factor_code"));
    await assert.rejects(
      twoFactor.enable(user, "not-base32!", totpCode(setup.secret)),
      refusedWith("invalid_secret"),
    );
    const codes = await twoFactor.enable(user, setup.secret, totpCode(setup.secret));
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    const stored = (await store.users.byId(userId))!;
    assert.equal(stored.totp_secret, setup.secret);
    assert.equal(stored.recovery_codes.length, 10);
    assert.ok(codes.every((code) => !stored.recovery_codes.includes(code)), "only hashes are kept");
    assert.throws(() => twoFactor.setup(stored), refusedWith("two_factor_enabled"));
  }));

Deno.test("TwoFactor.check(): a TOTP code once, a recovery code once, nothing when off", () =>
  withUser(async ({ store, twoFactor, userId }) => {
    const user = (await store.users.byId(userId))!;
    assert.equal(await twoFactor.check(user, "123456"), false, "off");
    const { secret } = twoFactor.setup(user);
    const codes = await twoFactor.enable(user, secret, totpCode(secret, Date.now() - 30_000));
    const code = totpCode(secret);
    assert.equal(await twoFactor.check((await store.users.byId(userId))!, code), true);
    assert.equal(await twoFactor.check((await store.users.byId(userId))!, code), false, "replayed");
    assert.equal(await twoFactor.check((await store.users.byId(userId))!, codes[3].toUpperCase()), true);
    assert.equal(await twoFactor.check((await store.users.byId(userId))!, codes[3]), false, "used up");
    assert.equal((await store.users.byId(userId))!.recovery_codes.length, 9);
    for (const junk of ["", "abc", "x".repeat(65), 42, null]) {
      assert.equal(await twoFactor.check((await store.users.byId(userId))!, junk), false);
    }
    await twoFactor.disable((await store.users.byId(userId))!);
    const off = (await store.users.byId(userId))!;
    assert.equal(off.totp_secret, null);
    await assert.rejects(twoFactor.disable(off), refusedWith("two_factor_disabled"));
  }));

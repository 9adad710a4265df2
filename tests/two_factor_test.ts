/**
 * Two-factor sign-in through the API of a real server: enrolment, the two-step login, TOTP replay, recovery
 * codes, the short-lived second-step token, turning it off, and wrong codes counting towards the lockout.
 */
import assert from "node:assert/strict";
import { TokenService } from "../lib/auth/jwt.ts";
import { TOTP_PERIOD_SECONDS, totpCode, verifyTotp } from "../lib/auth/totp.ts";
import {
  api,
  type ApiResult,
  newUser,
  startServer,
  TEST_SECRET,
  type TestServer,
  type TestUser,
} from "./helpers/server.ts";

const PASSWORD = "correct horse battery";
const STEP_MS = TOTP_PERIOD_SECONDS * 1000;

async function withServer(fn: (server: TestServer) => Promise<void>): Promise<void> {
  const server = await startServer();
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/**
 * The start of a time step with at least 5 s left in it (waiting for the next one if needed), so that codes of
 * the steps before, at and after it are all still accepted while the test uses them.
 */
async function roomyStep(): Promise<number> {
  const left = STEP_MS - Date.now() % STEP_MS;
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
  return Date.now() - Date.now() % STEP_MS;
}

/** Six digits that no step around `at` accepts for `secret`. */
function wrongCode(secret: string, at: number): string {
  for (let n = 0;; n++) {
    const code = String(n).padStart(6, "0");
    if (verifyTotp(secret, code, { now: at }) === null) return code;
  }
}

/** Turns two-factor sign-in on for `user`; answers the secret and the recovery codes. */
async function enable(base: string, user: TestUser, at: number) {
  const setup = await api(base, "POST", "/api/users/me/two-factor/setup", { token: user.token });
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const secret: string = setup.body.secret;
  const enabled = await api(base, "POST", "/api/users/me/two-factor/enable", {
    token: user.token,
    body: { secret, code: totpCode(secret, at), password: PASSWORD },
  });
  assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
  return { secret, recoveryCodes: enabled.body.recovery_codes as string[] };
}

function login(base: string, user: TestUser, extra: Record<string, unknown> = {}) {
  return api(base, "POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD, ...extra } });
}

function secondStep(base: string, mfaToken: unknown, code: unknown) {
  return api(base, "POST", "/api/auth/login/two-factor", { body: { mfa_token: mfaToken, code } });
}

/** Asserts a signed-in answer for `user` whose access token works. */
async function assertSignedIn(base: string, res: ApiResult, user: TestUser, what: string) {
  assert.equal(res.status, 200, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.user.id, user.id, what);
  assert.equal(typeof res.body.refresh_token, "string", what);
  const me = await api(base, "GET", "/api/users/me", { token: res.body.token });
  assert.equal(me.status, 200, what);
  assert.equal(me.body.id, user.id, what);
}

function assertRefused(res: ApiResult, status: number, code: string, what: string) {
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error.code, code, what);
}

Deno.test("two-factor: enrol, sign in with a code or a recovery code (each once), then turn it off", () =>
  withServer(async ({ url }) => {
    const user = await newUser(url, "tf");
    const now = await roomyStep();
    const setup = await api(url, "POST", "/api/users/me/two-factor/setup", { token: user.token });
    assert.equal(setup.status, 200);
    const { secret } = setup.body;
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.equal(setup.body.secret_text.replaceAll(" ", ""), secret);
    assert.ok(setup.body.otpauth_uri.startsWith("otpauth://totp/"), setup.body.otpauth_uri);
    assert.ok(setup.body.otpauth_uri.includes(`secret=${secret}`));
    assert.ok(setup.body.qr_svg.startsWith("<svg"), setup.body.qr_svg.slice(0, 40));
    const off = await api(url, "GET", "/api/users/me/two-factor", { token: user.token });
    assert.deepEqual(off.body, { enabled: false, recovery_codes_left: 0 }, "setup stores nothing");

    const enableWith = (body: Record<string, unknown>) =>
      api(url, "POST", "/api/users/me/two-factor/enable", { token: user.token, body: { secret, ...body } });
    const code = totpCode(secret, now);
    assertRefused(
      await enableWith({ code: wrongCode(secret, now), password: PASSWORD }),
      401,
      "invalid_two_factor_code",
      "a wrong code",
    );
    const noPassword = await enableWith({ code });
    assertRefused(noPassword, 400, "invalid_password", "no password");
    assert.deepEqual(Object.keys(noPassword.body.error.fields), ["password"]);
    const badPassword = await enableWith({ code, password: "not my password" });
    assertRefused(badPassword, 400, "invalid_password", "a wrong password");
    assert.deepEqual(Object.keys(badPassword.body.error.fields), ["password"]);
    assert.deepEqual(
      (await api(url, "GET", "/api/users/me/two-factor", { token: user.token })).body,
      { enabled: false, recovery_codes_left: 0 },
      "refused enrolments store nothing",
    );

    const enabled = await enableWith({ code, password: PASSWORD });
    assert.equal(enabled.status, 200, JSON.stringify(enabled.body));
    const recovery: string[] = enabled.body.recovery_codes;
    assert.equal(recovery.length, 10);
    assert.equal(new Set(recovery).size, 10);
    assert.deepEqual(
      (await api(url, "GET", "/api/users/me/two-factor", { token: user.token })).body,
      { enabled: true, recovery_codes_left: 10 },
    );
    assertRefused(
      await api(url, "POST", "/api/users/me/two-factor/setup", { token: user.token }),
      409,
      "two_factor_enabled",
      "setup while on",
    );

    // A wrong password is refused as ever: no second step is offered.
    const wrongPassword = await api(url, "POST", "/api/auth/login", {
      body: { email: user.email, password: "not my password" },
    });
    assertRefused(wrongPassword, 401, "invalid_credentials", "a wrong password");
    // The password alone: a second step is needed, and no session is started.
    const first = await login(url, user);
    assert.equal(first.status, 200);
    assert.deepEqual(Object.keys(first.body).sort(), ["expires_in", "mfa_token", "two_factor_required"]);
    assert.equal(first.body.two_factor_required, true);
    assert.equal(first.body.expires_in, 300);
    const mfaToken = first.body.mfa_token;
    assertRefused(
      await api(url, "GET", "/api/users/me", { token: mfaToken }),
      401,
      "invalid_token",
      "the mfa_token as an access token",
    );
    assertRefused(
      await secondStep(url, mfaToken, wrongCode(secret, now)),
      401,
      "invalid_two_factor_code",
      "a wrong code",
    );
    // The code of the step before: still accepted, and then it and every earlier step are used up.
    const previous = totpCode(secret, now - STEP_MS);
    const signedIn = await secondStep(url, mfaToken, previous);
    await assertSignedIn(url, signedIn, user, "the right code");
    assert.deepEqual(
      [signedIn.body.notice.failed_attempts, signedIn.body.notice.locks],
      [2, 0],
      "told of the wrong password and the wrong code",
    );
    assertRefused(
      await secondStep(url, (await login(url, user)).body.mfa_token, previous),
      401,
      "invalid_two_factor_code",
      "the same code again",
    );

    // A recovery code works once, typed in any case and with spaces for dashes.
    const recoveryIn = await secondStep(
      url,
      (await login(url, user)).body.mfa_token,
      recovery[3].toUpperCase().replaceAll("-", " "),
    );
    await assertSignedIn(url, recoveryIn, user, "a recovery code");
    assert.deepEqual(
      (await api(url, "GET", "/api/users/me/two-factor", { token: user.token })).body,
      { enabled: true, recovery_codes_left: 9 },
    );
    assertRefused(
      await secondStep(url, (await login(url, user)).body.mfa_token, recovery[3]),
      401,
      "invalid_two_factor_code",
      "the same recovery code again",
    );

    // Tokens that are not this server's second step.
    const expired = await new TokenService({
      secret: TEST_SECRET,
      ttlSeconds: 300,
      audience: "chat-second-factor",
      now: () => Date.now() - 400_000,
    }).sign({ id: user.id, username: user.username }, crypto.randomUUID());
    const accessToken = signedIn.body.token;
    for (
      const [what, token] of [["garbage", "not.a.token"], ["expired", expired], [
        "an access token",
        accessToken,
      ]]
    ) {
      assertRefused(
        await secondStep(url, token, totpCode(secret, now + STEP_MS)),
        401,
        "invalid_token",
        what,
      );
    }

    // Password and code in one request.
    await assertSignedIn(url, await login(url, user, { code: totpCode(secret, now) }), user, "one request");

    const disableWith = (password: unknown) =>
      api(url, "POST", "/api/users/me/two-factor/disable", { token: user.token, body: { password } });
    assertRefused(await disableWith("not my password"), 400, "invalid_password", "disable, wrong password");
    assert.equal((await login(url, user)).body.two_factor_required, true, "still on");
    const disabled = await disableWith(PASSWORD);
    assert.equal(disabled.status, 204);
    assert.deepEqual(
      (await api(url, "GET", "/api/users/me/two-factor", { token: user.token })).body,
      { enabled: false, recovery_codes_left: 0 },
    );
    await assertSignedIn(url, await login(url, user), user, "the password alone again");
    assertRefused(await disableWith(PASSWORD), 409, "two_factor_disabled", "disable twice");
  }));

Deno.test("two-factor: 5 wrong codes lock the account, in the second step or with the password", () =>
  withServer(async ({ url }) => {
    const now = await roomyStep();
    const [stepUser, oneShotUser] = [await newUser(url, "tfa"), await newUser(url, "tfb")];
    const { secret } = await enable(url, stepUser, now);
    const mfaToken = (await login(url, stepUser)).body.mfa_token;
    for (let i = 0; i < 5; i++) {
      assertRefused(
        await secondStep(url, mfaToken, wrongCode(secret, now)),
        401,
        "invalid_two_factor_code",
        `wrong code ${i + 1}`,
      );
    }
    const locked = await secondStep(url, mfaToken, totpCode(secret, now));
    assertRefused(locked, 429, "account_locked", "the right code while locked");
    const retryAfter = Number(locked.headers.get("retry-after"));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assertRefused(await login(url, stepUser), 429, "account_locked", "the password while locked");

    const other = await enable(url, oneShotUser, now);
    for (let i = 0; i < 5; i++) {
      assertRefused(
        await login(url, oneShotUser, { code: wrongCode(other.secret, now) }),
        401,
        "invalid_two_factor_code",
        `wrong code with the password ${i + 1}`,
      );
    }
    assertRefused(
      await login(url, oneShotUser, { code: totpCode(other.secret, now) }),
      429,
      "account_locked",
      "the right password and code while locked",
    );
  }));

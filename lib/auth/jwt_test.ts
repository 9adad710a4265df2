import assert from "node:assert/strict";
import { base64url, decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { TokenError, type TokenErrorCode, TokenService } from "./jwt.ts";

const SECRET = "0123456789abcdef0123456789abcdef"; // exactly 32 bytes
const OTHER_SECRET = "fedcba9876543210fedcba9876543210";
const T0 = 1_700_000_000_250; // ms; iat is 1_700_000_000
const TTL = 3600;
const USER = { id: "6745f0c2a1b2c3d4e5000001", username: "alice" };
const SID = "6745f0c2a1b2c3d4e5000abc";

/** A clock the test moves by hand. */
function clock(start = T0) {
  let now = start;
  return { now: () => now, set: (ms: number) => void (now = ms) };
}

async function expectTokenError(promise: Promise<unknown>, code: TokenErrorCode): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TokenError, `expected a TokenError, got ${error}`);
    assert.equal(error.code, code);
    assert.equal(error.name, "TokenError");
    return true;
  });
}

/** Claims a default `TokenService` accepts, for tokens built by hand. */
function validClaims(iat = Math.floor(T0 / 1000)) {
  return {
    sub: USER.id,
    username: USER.username,
    sid: SID,
    iss: "chat-server",
    aud: "chat-client",
    iat,
    exp: iat + TTL,
  };
}

const encodeJson = (value: unknown) => base64url.encode(JSON.stringify(value));

Deno.test("TokenService.sign() makes a token that verify() accepts, with exp = iat + ttl", async () => {
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: clock().now });
  const jwt = await tokens.sign(USER, SID);

  assert.deepEqual(await tokens.verify(jwt), {
    sub: USER.id,
    username: "alice",
    sid: SID,
    exp: 1_700_000_000 + TTL,
  });
  assert.deepEqual(decodeJwt(jwt), {
    username: "alice",
    sid: SID,
    sub: USER.id,
    iss: "chat-server",
    aud: "chat-client",
    iat: 1_700_000_000,
    exp: 1_700_003_600,
  });
});

Deno.test("TokenService.sign() writes an HS256 JWT header", async () => {
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: clock().now });
  assert.deepEqual(decodeProtectedHeader(await tokens.sign(USER, SID)), { alg: "HS256", typ: "JWT" });
});

Deno.test("TokenService.sign() uses the configured issuer and audience", async () => {
  const tokens = new TokenService({
    secret: SECRET,
    ttlSeconds: 60,
    issuer: "iss-x",
    audience: "aud-y",
    now: clock().now,
  });
  const jwt = await tokens.sign(USER, SID);
  const claims = decodeJwt(jwt);
  assert.equal(claims.iss, "iss-x");
  assert.equal(claims.aud, "aud-y");
  assert.equal(claims.exp, 1_700_000_060);
  assert.equal((await tokens.verify(jwt)).sub, USER.id);
});

Deno.test("TokenService.verify() accepts a token until exp + 5 s of tolerance, then says token_expired", async () => {
  const time = clock();
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: time.now });
  const jwt = await tokens.sign(USER, SID);
  const exp = 1_700_000_000 + TTL;

  time.set((exp + 5) * 1000 - 1); // last millisecond inside the tolerance
  assert.equal((await tokens.verify(jwt)).exp, exp);

  time.set((exp + 5) * 1000);
  await expectTokenError(tokens.verify(jwt), "token_expired");

  time.set((exp + 3600) * 1000);
  await expectTokenError(tokens.verify(jwt), "token_expired");
});

Deno.test("TokenService.verify() refuses a token signed with another secret", async () => {
  const now = clock().now;
  const other = new TokenService({ secret: OTHER_SECRET, ttlSeconds: TTL, now });
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now });
  await expectTokenError(tokens.verify(await other.sign(USER, SID)), "invalid_token");
});

Deno.test("TokenService.verify() refuses a token whose payload or signature was changed", async () => {
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: clock().now });
  const [header, payload, signature] = (await tokens.sign(USER, SID)).split(".");

  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)));
  const forged = encodeJson({ ...claims, username: "mallory" });
  await expectTokenError(tokens.verify(`${header}.${forged}.${signature}`), "invalid_token");

  const otherUser = encodeJson({ ...claims, sub: "6745f0c2a1b2c3d4e5000002" });
  await expectTokenError(tokens.verify(`${header}.${otherUser}.${signature}`), "invalid_token");

  const flipped = (signature[0] === "A" ? "B" : "A") + signature.slice(1);
  await expectTokenError(tokens.verify(`${header}.${payload}.${flipped}`), "invalid_token");
  await expectTokenError(tokens.verify(`${header}.${payload}.`), "invalid_token");
});

Deno.test("TokenService.verify() refuses another issuer or audience", async (t) => {
  const now = clock().now;
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now });
  for (
    const [name, options] of [
      ["issuer", { issuer: "someone-else" }],
      ["audience", { audience: "another-client" }],
    ] as const
  ) {
    await t.step(`another ${name}`, async () => {
      const foreign = new TokenService({ secret: SECRET, ttlSeconds: TTL, now, ...options });
      const jwt = await foreign.sign(USER, SID);
      assert.equal((await foreign.verify(jwt)).sub, USER.id); // valid where it was made
      await expectTokenError(tokens.verify(jwt), "invalid_token");
    });
  }
});

Deno.test("TokenService.verify() refuses an unsigned alg: none token", async () => {
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: clock().now });
  const unsigned = `${encodeJson({ alg: "none", typ: "JWT" })}.${encodeJson(validClaims())}.`;
  await expectTokenError(tokens.verify(unsigned), "invalid_token");
  const noneUpper = `${encodeJson({ alg: "None" })}.${encodeJson(validClaims())}.`;
  await expectTokenError(tokens.verify(noneUpper), "invalid_token");
});

Deno.test("TokenService.verify() pins HS256: the same claims and secret under HS512 are refused", async () => {
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: clock().now });
  const key = new TextEncoder().encode(SECRET);
  const sign = (alg: string) => new SignJWT(validClaims()).setProtectedHeader({ alg, typ: "JWT" }).sign(key);

  // Control: the hand-made token is accepted under HS256, so only the algorithm differs below.
  assert.equal((await tokens.verify(await sign("HS256"))).username, "alice");
  await expectTokenError(tokens.verify(await sign("HS512")), "invalid_token");
  await expectTokenError(tokens.verify(await sign("HS384")), "invalid_token");
});

Deno.test("TokenService.verify() refuses a signed token missing a required claim", async (t) => {
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: clock().now });
  const key = new TextEncoder().encode(SECRET);
  const { username: _username, ...noUsername } = validClaims();
  const { sub: _sub, ...noSub } = validClaims();
  const { exp: _exp, ...noExp } = validClaims();
  const { sid: _sid, ...noSid } = validClaims();
  const cases: [string, Record<string, unknown>][] = [
    ["no username", noUsername],
    ["numeric username", { ...validClaims(), username: 42 }],
    ["no sub", noSub],
    ["no exp", noExp],
    ["no session (a token from before sessions)", noSid],
  ];
  for (const [name, claims] of cases) {
    await t.step(name, async () => {
      const jwt = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(key);
      await expectTokenError(tokens.verify(jwt), "invalid_token");
    });
  }
});

Deno.test("TokenService.verify() says missing_token for no token and invalid_token for garbage", async (t) => {
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: TTL, now: clock().now });
  for (const token of ["", null, undefined]) {
    await t.step(`missing: ${JSON.stringify(token)}`, async () => {
      await expectTokenError(tokens.verify(token), "missing_token");
    });
  }
  const garbage = [
    "garbage",
    "a.b.c",
    "..",
    " ",
    "Bearer abc",
    "eyJhbGciOiJIUzI1NiJ9",
    "eyJhbGciOiJIUzI1NiJ9.e30",
    "eyJhbGciOiJIUzI1NiJ9.e30.",
    "x".repeat(10_000),
  ];
  for (const token of garbage) {
    await t.step(`garbage: ${JSON.stringify(token.slice(0, 30))}`, async () => {
      await expectTokenError(tokens.verify(token), "invalid_token");
    });
  }
});

Deno.test("new TokenService() needs a secret of at least 32 bytes", () => {
  const tooShort = { message: "The JWT secret must be at least 32 bytes long" };
  assert.throws(() => new TokenService({ secret: "", ttlSeconds: TTL }), tooShort);
  assert.throws(() => new TokenService({ secret: SECRET.slice(1), ttlSeconds: TTL }), tooShort);
  // Bytes, not characters: 15 two-byte characters and one ASCII are 31 bytes.
  assert.throws(() => new TokenService({ secret: "é".repeat(15) + "a", ttlSeconds: TTL }), tooShort);
  new TokenService({ secret: SECRET, ttlSeconds: TTL });
  new TokenService({ secret: "é".repeat(16), ttlSeconds: TTL });
});

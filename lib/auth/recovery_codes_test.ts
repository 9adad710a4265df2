import assert from "node:assert/strict";
import {
  hashRecoveryCode,
  isRecoveryCode,
  matchRecoveryCode,
  newRecoveryCodes,
  normaliseRecoveryCode,
  RECOVERY_CODE_COUNT,
} from "./recovery_codes.ts";

const FORMAT = /^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{2}$/;

/** SHA-256 hex with Web Crypto, to check the module's hashes against an independent implementation. */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

Deno.test("newRecoveryCodes() makes ten distinct codes shaped xxxx-xxxx-xx", () => {
  const { codes, hashes } = newRecoveryCodes();
  assert.equal(RECOVERY_CODE_COUNT, 10);
  assert.equal(codes.length, 10);
  assert.equal(hashes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const code of codes) assert.match(code, FORMAT);
});

Deno.test("newRecoveryCodes(count) makes that many; a count outside 1..100 is refused", () => {
  assert.equal(newRecoveryCodes(1).codes.length, 1);
  assert.equal(newRecoveryCodes(16).codes.length, 16);
  for (const count of [0, -1, 1.5, 101, Number.NaN]) {
    assert.throws(() => newRecoveryCodes(count), RangeError, String(count));
  }
});

Deno.test("newRecoveryCodes() hashes are the SHA-256 hex of the normalised codes, in order", async () => {
  const { codes, hashes } = newRecoveryCodes();
  for (const [index, code] of codes.entries()) {
    assert.match(hashes[index], /^[0-9a-f]{64}$/);
    assert.equal(hashes[index], await hashRecoveryCode(code));
    assert.equal(hashes[index], await sha256Hex(code.replaceAll("-", "")));
  }
});

Deno.test("newRecoveryCodes() uses the whole 32-character alphabet (5 bits a character)", () => {
  // 200 codes are 2000 characters: the chance that one of 32 characters never shows is below 10^-25.
  const seen = new Set(
    newRecoveryCodes(100).codes.concat(newRecoveryCodes(100).codes).join("").replaceAll("-", ""),
  );
  assert.equal([...seen].sort().join(""), "0123456789abcdefghjkmnpqrstvwxyz");
});

Deno.test("normaliseRecoveryCode() lower-cases and drops spaces and dashes", async (t) => {
  const cases: [string, string][] = [
    ["ABCD EFGH-JK", "abcdefghjk"],
    ["abcd-efgh-jk", "abcdefghjk"],
    ["  abcd efgh jk\n", "abcdefghjk"],
    ["ab-cd--ef\tgh jk", "abcdefghjk"],
    ["abcd\u2013efgh\u2014jk", "abcdefghjk"], // en and em dashes from phone keyboards
    ["ＡＢＣＤ－ＥＦＧＨ－ＪＫ", "abcdefghjk"], // full-width
    ["O0oI1il-L", "00011111"], // letters mistaken for digits
    ["", ""],
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), () => assert.equal(normaliseRecoveryCode(input), expected));
  }
});

Deno.test("isRecoveryCode() tells a code from a TOTP code or junk", () => {
  const [code] = newRecoveryCodes(1).codes;
  assert.equal(isRecoveryCode(code), true);
  assert.equal(isRecoveryCode(code.toUpperCase().replaceAll("-", " ")), true);
  assert.equal(isRecoveryCode("ABCD EFGH-JK"), true);
  assert.equal(isRecoveryCode("123456"), false);
  assert.equal(isRecoveryCode("abcd-efgh-j"), false);
  assert.equal(isRecoveryCode("abcd-efgh-jkm"), false);
  assert.equal(isRecoveryCode("abcd-efgh-ju"), false); // u is not in the alphabet
  assert.equal(isRecoveryCode("abcd-efgh-j!"), false);
  assert.equal(isRecoveryCode(""), false);
});

Deno.test("hashRecoveryCode() hashes every spelling of a code the same", async () => {
  const expected = "22f3f00d7f9cfe6eeefa9b71bdcb093a9080fcf4981d2dbf932648fa15a2d793"; // sha256sum of abcdefghjk
  for (const spelling of ["abcd-efgh-jk", "ABCD EFGH-JK", " abcdefghjk ", "ABCD–EFGH–JK"]) {
    assert.equal(await hashRecoveryCode(spelling), expected, spelling);
  }
  assert.notEqual(await hashRecoveryCode("abcd-efgh-jm"), expected);
});

Deno.test("matchRecoveryCode() finds the index of the typed code, however it is spelled", async () => {
  const { codes, hashes } = newRecoveryCodes();
  assert.equal(await matchRecoveryCode(codes[0], hashes), 0);
  assert.equal(await matchRecoveryCode(codes[7].toUpperCase().replaceAll("-", " "), hashes), 7);
  assert.equal(await matchRecoveryCode(` ${codes[9].replaceAll("-", "")} `, hashes), 9);
});

Deno.test("matchRecoveryCode() is -1 for a spent, unknown or malformed code", async () => {
  const { codes, hashes } = newRecoveryCodes();
  const [other] = newRecoveryCodes(1).codes;
  assert.equal(await matchRecoveryCode(other, hashes), -1);
  const spent = hashes.filter((_, index) => index !== 3);
  assert.equal(await matchRecoveryCode(codes[3], spent), -1);
  assert.equal(await matchRecoveryCode(codes[4], spent), 3);
  assert.equal(await matchRecoveryCode("123456", hashes), -1);
  assert.equal(await matchRecoveryCode("", hashes), -1);
  assert.equal(await matchRecoveryCode(codes[0], []), -1);
  assert.equal(await matchRecoveryCode(codes[0], ["not a hash", hashes[0].slice(1)]), -1);
});

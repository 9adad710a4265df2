/**
 * Single-use recovery codes for two-factor sign-in: shown to the user once at enrolment, stored only as
 * hashes, each one spent when used (the caller removes its hash).
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** How many codes a user gets at enrolment. */
export const RECOVERY_CODE_COUNT = 10;

/**
 * Crockford's base32 in lower case: digits and letters without i, l, o and u, so no two characters look alike.
 * 32 characters: each one carries 5 bits, and a random byte maps onto one without bias.
 */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
/** Characters in a code: 50 bits. */
const LENGTH = 10;
const SHAPE = /^[0-9a-hjkmnp-tv-z]{10}$/;

/**
 * What the user typed, made comparable: NFKC (full-width characters become ASCII), lower case, without spaces
 * or dashes, and the letters people mistake for digits read as those digits (o as 0; i and l as 1).
 *
 * @example
 * normaliseRecoveryCode(" ABCD EFGH-JK ") // "abcdefghjk"
 */
export function normaliseRecoveryCode(input: string): string {
  return input.normalize("NFKC").toLowerCase().replace(/[\s\-\u2010-\u2015\u2212]+/g, "")
    .replace(/o/g, "0").replace(/[il]/g, "1");
}

/** Whether `input` has the shape of a recovery code once normalised (ten characters of the alphabet). */
export function isRecoveryCode(input: string): boolean {
  return SHAPE.test(normaliseRecoveryCode(input));
}

/** SHA-256 hex of an already normalised code. */
function digest(normalised: string): string {
  return createHash("sha256").update(normalised).digest("hex");
}

/**
 * The stored form of a code: SHA-256 hex of the normalised code. A fast hash is enough: the codes are 50
 * random bits each, not chosen by people. It is async so a slower hash could replace it without changing
 * the callers.
 */
export function hashRecoveryCode(code: string): Promise<string> {
  return Promise.resolve(digest(normaliseRecoveryCode(code)));
}

/**
 * `count` new distinct codes formatted `xxxx-xxxx-xx` (to show once), and their hashes in the same order
 * (to store). Random from `crypto.getRandomValues`.
 */
export function newRecoveryCodes(count: number = RECOVERY_CODE_COUNT): { codes: string[]; hashes: string[] } {
  if (!Number.isInteger(count) || count < 1 || count > 100) {
    throw new RangeError("A set of recovery codes holds 1 to 100 codes");
  }
  const raw = new Set<string>();
  while (raw.size < count) {
    const bytes = crypto.getRandomValues(new Uint8Array(LENGTH));
    raw.add(Array.from(bytes, (byte) => ALPHABET[byte & 31]).join(""));
  }
  const codes = [...raw].map((code) => `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`);
  return { codes, hashes: [...raw].map(digest) };
}

/**
 * The index in `hashes` of the code the user typed, or -1 when it is none of them (or not shaped like a
 * code). Every stored hash is compared in constant time. The caller deletes the matched hash: a code is
 * good once.
 *
 * @example
 * const index = await matchRecoveryCode(form.code, user.recoveryHashes);
 * if (index >= 0) await store.removeRecoveryHash(user.id, user.recoveryHashes[index]);
 */
export async function matchRecoveryCode(input: string, hashes: readonly string[]): Promise<number> {
  if (!isRecoveryCode(input)) return -1;
  const typed = new TextEncoder().encode(await hashRecoveryCode(input));
  let found = -1;
  hashes.forEach((hash, index) => {
    const stored = new TextEncoder().encode(hash);
    if (stored.length === typed.length && timingSafeEqual(stored, typed) && found === -1) found = index;
  });
  return found;
}

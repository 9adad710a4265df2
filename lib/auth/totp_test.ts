import assert from "node:assert/strict";
import { Secret, TOTP, URI } from "otpauth";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import jsQRModule from "jsqr";
import { formatTotpSecret, newTotpSecret, qrSvg, totpCode, totpStep, totpUri, verifyTotp } from "./totp.ts";

/** The RFC 6238 appendix B test key ("12345678901234567890" in ASCII), base32. */
const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/** A fixed instant in the middle of step 56_666_666 (2023-11-14T22:13:20Z is 1_700_000_000 s). */
const NOW = 1_700_000_000_000;
const STEP = 56_666_666;
const PERIOD_MS = 30_000;

Deno.test("newTotpSecret() makes a 160-bit base32 secret, a different one each time", () => {
  const secrets = new Set(Array.from({ length: 20 }, () => newTotpSecret()));
  assert.equal(secrets.size, 20);
  for (const secret of secrets) {
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.equal(Secret.fromBase32(secret).bytes.length, 20);
  }
});

Deno.test("formatTotpSecret() groups the secret by four characters", () => {
  assert.equal(formatTotpSecret(RFC_SECRET), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
  assert.equal(formatTotpSecret("ABCDEF"), "ABCD EF");
  assert.equal(formatTotpSecret("ABCD"), "ABCD");
});

Deno.test("totpStep() counts 30-second steps since the epoch", () => {
  assert.equal(totpStep(NOW), STEP);
  assert.equal(totpStep(0), 0);
  assert.equal(totpStep(29_999), 0);
  assert.equal(totpStep(30_000), 1);
});

Deno.test("totpCode() gives the RFC 6238 SHA-1 test vectors (last six digits)", () => {
  // RFC 6238 appendix B lists 8-digit codes; a 6-digit code is the same number modulo 10^6.
  assert.equal(totpCode(RFC_SECRET, 59_000), "287082");
  assert.equal(totpCode(RFC_SECRET, 1_111_111_109_000), "081804");
  assert.equal(totpCode(RFC_SECRET, 1_234_567_890_000), "005924");
  assert.equal(totpCode(RFC_SECRET, 20_000_000_000_000), "353130");
});

Deno.test("verifyTotp() accepts the codes of now, the step before and the step after, returning the step", () => {
  const secret = newTotpSecret();
  assert.equal(verifyTotp(secret, totpCode(secret, NOW), { now: NOW }), STEP);
  assert.equal(verifyTotp(secret, totpCode(secret, NOW - PERIOD_MS), { now: NOW }), STEP - 1);
  assert.equal(verifyTotp(secret, totpCode(secret, NOW + PERIOD_MS), { now: NOW }), STEP + 1);
  // The edges of the current step belong to it.
  assert.equal(verifyTotp(secret, totpCode(secret, STEP * PERIOD_MS), { now: NOW }), STEP);
  assert.equal(verifyTotp(secret, totpCode(secret, (STEP + 1) * PERIOD_MS - 1), { now: NOW }), STEP);
});

Deno.test("verifyTotp() refuses the codes of two steps before and after", () => {
  const secret = RFC_SECRET;
  const early = totpCode(secret, NOW - 2 * PERIOD_MS);
  const late = totpCode(secret, NOW + 2 * PERIOD_MS);
  // The fixed key and time make sure neither code happens to equal one of the three accepted ones.
  const accepted = [-1, 0, 1].map((delta) => totpCode(secret, NOW + delta * PERIOD_MS));
  assert.equal(accepted.includes(early) || accepted.includes(late), false);
  assert.equal(verifyTotp(secret, early, { now: NOW }), null);
  assert.equal(verifyTotp(secret, late, { now: NOW }), null);
  // The same codes are fine when the clock is where they were made.
  assert.equal(verifyTotp(secret, early, { now: NOW - 2 * PERIOD_MS }), STEP - 2);
  assert.equal(verifyTotp(secret, late, { now: NOW + 2 * PERIOD_MS }), STEP + 2);
});

Deno.test("verifyTotp() uses the real clock when `now` is left out", () => {
  const secret = newTotpSecret();
  const before = totpStep();
  const step = verifyTotp(secret, totpCode(secret));
  const after = totpStep();
  assert.ok(step !== null && step >= before && step <= after, `step ${step} outside ${before}..${after}`);
});

Deno.test("verifyTotp() refuses a step at or below lastUsedStep (replay)", () => {
  const secret = RFC_SECRET;
  const code = totpCode(secret, NOW);
  const step = verifyTotp(secret, code, { now: NOW, lastUsedStep: null });
  assert.equal(step, STEP);
  assert.equal(verifyTotp(secret, code, { now: NOW, lastUsedStep: step }), null);
  assert.equal(verifyTotp(secret, code, { now: NOW + 10_000, lastUsedStep: step }), null);
  // An older code is refused once a newer step was used, even inside the window.
  assert.equal(verifyTotp(secret, totpCode(secret, NOW - PERIOD_MS), { now: NOW, lastUsedStep: STEP }), null);
  // The next step's code is still good.
  assert.equal(
    verifyTotp(secret, totpCode(secret, NOW + PERIOD_MS), { now: NOW, lastUsedStep: STEP }),
    STEP + 1,
  );
  // A lastUsedStep from before the window changes nothing.
  assert.equal(verifyTotp(secret, code, { now: NOW, lastUsedStep: STEP - 5 }), STEP);
});

Deno.test("verifyTotp() ignores spaces around and inside the code", () => {
  const code = totpCode(RFC_SECRET, NOW);
  for (const typed of [` ${code} `, `${code.slice(0, 3)} ${code.slice(3)}`, `\t${code}\n`]) {
    assert.equal(verifyTotp(RFC_SECRET, typed, { now: NOW }), STEP, JSON.stringify(typed));
  }
});

Deno.test("verifyTotp() refuses malformed and wrong codes", async (t) => {
  const code = totpCode(RFC_SECRET, NOW);
  const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, "0");
  const cases: Record<string, string> = {
    "a wrong code": wrong,
    "five digits": code.slice(0, 5),
    "seven digits": `${code}0`,
    "the code with a letter": `${code.slice(0, 5)}a`,
    "letters": "abcdef",
    "empty": "",
    "spaces only": "      ",
    "a sign": `-${code.slice(1)}`,
    "full-width digits": [...code].map((digit) => String.fromCharCode(0xff10 + Number(digit))).join(""),
    "dashes": `${code.slice(0, 3)}-${code.slice(3)}`,
  };
  for (const [name, typed] of Object.entries(cases)) {
    await t.step(name, () => assert.equal(verifyTotp(RFC_SECRET, typed, { now: NOW }), null));
  }
});

Deno.test("verifyTotp() refuses a code made with another secret", () => {
  const code = totpCode("JBSWY3DPEHPK3PXP", NOW);
  // The fixed keys and time make sure the other key's code is none of the three this key accepts.
  const accepted = [-1, 0, 1].map((delta) => totpCode(RFC_SECRET, NOW + delta * PERIOD_MS));
  assert.equal(accepted.includes(code), false);
  assert.equal(verifyTotp(RFC_SECRET, code, { now: NOW }), null);
  assert.equal(verifyTotp("JBSWY3DPEHPK3PXP", code, { now: NOW }), STEP);
});

Deno.test("totpUri() makes a key URI with issuer, account, secret, SHA1, 6 digits, 30 s", () => {
  const secret = newTotpSecret();
  const uri = totpUri(secret, { issuer: "Acme Chat", account: "alice@example.com" });
  assert.equal(
    uri,
    `otpauth://totp/Acme%20Chat:alice%40example.com?issuer=Acme%20Chat&secret=${secret}` +
      "&algorithm=SHA1&digits=6&period=30",
  );
  const parsed = URI.parse(uri);
  assert.ok(parsed instanceof TOTP);
  assert.equal(parsed.issuer, "Acme Chat");
  assert.equal(parsed.label, "alice@example.com");
  assert.equal(parsed.secret.base32, secret);
  assert.equal(parsed.algorithm, "SHA1");
  assert.equal(parsed.digits, 6);
  assert.equal(parsed.period, 30);
  // An app that reads the URI shows the codes the server accepts.
  assert.equal(verifyTotp(secret, parsed.generate({ timestamp: NOW }), { now: NOW }), STEP);
});

Deno.test("totpUri() refuses an empty or colon-holding issuer or account", () => {
  for (
    const options of [
      { issuer: "", account: "alice" },
      { issuer: "Acme", account: "" },
      { issuer: "Acme: Chat", account: "alice" },
      { issuer: "Acme", account: "ali:ce" },
    ]
  ) {
    assert.throws(() => totpUri(RFC_SECRET, options), RangeError, JSON.stringify(options));
  }
});

/** jsQR is CommonJS whose types describe an ES module: its default import is the function itself. */
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

let wasmReady: Promise<void> | undefined;

/** Renders an SVG with resvg (a real SVG renderer) and reads it back with jsQR (a real QR decoder). */
async function decodeQrSvg(svg: string): Promise<string | null> {
  wasmReady ??= Deno.readFile(new URL(import.meta.resolve("@resvg/resvg-wasm/index_bg.wasm"))).then(initWasm);
  await wasmReady;
  const image = new Resvg(svg, { fitTo: { mode: "width", value: 400 } }).render();
  try {
    return jsQR(new Uint8ClampedArray(image.pixels), image.width, image.height)?.data ?? null;
  } finally {
    image.free();
  }
}

Deno.test("qrSvg() is an accessible inline SVG that refers to nothing outside it", () => {
  const svg = qrSvg("otpauth://totp/Acme:alice?secret=ABC", { title: 'Scan <this> & "that"', size: 200 });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" role="img" width="200" height="200" /);
  assert.ok(svg.endsWith("</svg>"));
  assert.match(svg, /^<svg[^>]*><title>Scan &lt;this&gt; &amp; &quot;that&quot;<\/title>/);
  assert.deepEqual(svg.match(/https?:[^"]*/g), ["http://www.w3.org/2000/svg"]);
  assert.equal(/<script|<image|<use|<foreignObject|href|url\(|on[a-z]+=/i.test(svg), false);
  // The default title and size.
  assert.match(qrSvg("hello"), /^<svg [^>]*width="240" height="240"[^>]*><title>QR code<\/title>/);
});

Deno.test("qrSvg() of a key URI decodes back to the URI", async () => {
  const uri = totpUri(newTotpSecret(), { issuer: "Acme Chat", account: "alice@example.com" });
  const svg = qrSvg(uri, { title: "QR code for your authenticator app" });
  assert.equal(await decodeQrSvg(svg), uri);
});

Deno.test("qrSvg() decodes back for short and long texts", async () => {
  for (const text of ["a", "https://chat.example.com/invite/" + "x".repeat(200)]) {
    assert.equal(await decodeQrSvg(qrSvg(text)), text);
  }
});

Deno.test("qrSvg() draws a quiet zone of four light modules around the code", () => {
  const svg = qrSvg("hello");
  const side = Number(svg.match(/viewBox="0 0 (\d+) \1"/)?.[1]);
  // Version 1 (21 modules) for five bytes at level M, plus 4 modules each side.
  assert.equal(side, 29);
  const moves = [...svg.matchAll(/M(\d+) (\d+)h(\d+)/g)].map((m) => m.slice(1).map(Number));
  assert.equal(Math.min(...moves.map(([x]) => x)), 4);
  assert.equal(Math.min(...moves.map(([, y]) => y)), 4);
  assert.equal(Math.max(...moves.map(([x, , width]) => x + width)), 25);
  assert.equal(Math.max(...moves.map(([, y]) => y)), 24);
});

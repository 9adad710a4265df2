/**
 * Time-based one-time passwords (RFC 6238) for two-factor sign-in with an authenticator app, and the QR code
 * that enrols one. The parameters are the ones every app supports: HMAC-SHA1, 6 digits, a 30-second period.
 */
import { HOTP, Secret, TOTP } from "otpauth";
// @ts-types="@types/qrcode"
import QRCode from "qrcode";

/** Length of a code in digits. */
export const TOTP_DIGITS = 6;
/** Seconds each code is valid for: one time step. */
export const TOTP_PERIOD_SECONDS = 30;
/** Steps either side of the current one whose codes are still accepted (clock drift, slow typing). */
export const TOTP_WINDOW = 1;

const ALGORITHM = "SHA1";
/** Size of a new secret: 160 bits, as RFC 4226 recommends for HMAC-SHA1. */
const SECRET_BYTES = 20;

/** A new random secret, base32 (32 characters, 160 bits), to store for the user and put in the QR code. */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

/**
 * The secret in groups of four characters for people who type it into their app instead of scanning
 * (authenticator apps ignore the spaces).
 */
export function formatTotpSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

/** The time step (30-second slot since the epoch) that `now`, in milliseconds, falls in. */
export function totpStep(now: number = Date.now()): number {
  return Math.floor(now / 1000 / TOTP_PERIOD_SECONDS);
}

/**
 * The `otpauth://totp/…` key URI an authenticator app reads from the QR code.
 * Throws a RangeError when `issuer` or `account` is empty or holds a colon (the URI's label separator).
 *
 * @example
 * totpUri(secret, { issuer: "Acme Chat", account: "alice" });
 * // otpauth://totp/Acme%20Chat:alice?issuer=Acme%20Chat&secret=…&algorithm=SHA1&digits=6&period=30
 */
export function totpUri(secret: string, options: { issuer: string; account: string }): string {
  for (const [name, value] of Object.entries(options)) {
    if (value === "" || value.includes(":")) {
      throw new RangeError(`The TOTP ${name} must be non-empty and hold no colon`);
    }
  }
  return new TOTP({
    issuer: options.issuer,
    label: options.account,
    secret: Secret.fromBase32(secret),
    algorithm: ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

/** The code for `now` (milliseconds): what the user's app shows. For tests and tools. */
export function totpCode(secret: string, now: number = Date.now()): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secret),
    algorithm: ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: now,
  });
}

/** Options of {@link verifyTotp}. */
export interface VerifyTotpOptions {
  /** The current time in milliseconds; `Date.now()` when left out. */
  now?: number;
  /** The step of the last code accepted for this user: codes of that step or an earlier one are refused. */
  lastUsedStep?: number | null;
}

/**
 * Checks a code the user typed: six digits (spaces anywhere are ignored) that match the current time step
 * or one step either side. Returns the matched step, which the caller stores as the user's `lastUsedStep`
 * so the same code (or an older one) cannot be used twice; null when the code is refused. Throws when
 * `secret` is not base32.
 *
 * @example
 * const step = verifyTotp(user.totpSecret, form.code, { lastUsedStep: user.totpLastStep });
 * if (step === null) refuse(); else await store.setTotpLastStep(user.id, step);
 */
export function verifyTotp(secret: string, code: string, options: VerifyTotpOptions = {}): number | null {
  const token = code.replace(/\s+/g, "");
  if (!/^[0-9]{6}$/.test(token)) return null;
  const key = Secret.fromBase32(secret);
  const current = totpStep(options.now ?? Date.now());
  const lastUsed = options.lastUsedStep ?? null;
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    if (lastUsed !== null && step <= lastUsed) continue;
    const delta = HOTP.validate({
      token,
      secret: key,
      algorithm: ALGORITHM,
      digits: TOTP_DIGITS,
      counter: step,
      window: 0,
    });
    if (delta === 0) return step;
  }
  return null;
}

/** Options of {@link qrSvg}. */
export interface QrSvgOptions {
  /** The image's accessible name (its `<title>`). */
  title?: string;
  /** Width and height in CSS pixels. */
  size?: number;
}

/** Light modules around the code, as the QR specification asks, so scanners find its edges. */
const QUIET_ZONE = 4;

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * `text` as a QR code in an inline SVG: black on a white square with a quiet zone, `role="img"` and a
 * `<title>` naming it, no script and no reference to anything outside it. The code is encoded by the `qrcode`
 * package at error correction level M; each row's runs of dark modules become one path.
 */
export function qrSvg(text: string, options: QrSvgOptions = {}): string {
  const { size: modules, data } = QRCode.create(text, { errorCorrectionLevel: "M" }).modules;
  const side = modules + 2 * QUIET_ZONE;
  let path = "";
  for (let row = 0; row < modules; row++) {
    let col = 0;
    while (col < modules) {
      if (!data[row * modules + col]) {
        col++;
        continue;
      }
      const start = col;
      while (col < modules && data[row * modules + col]) col++;
      path += `M${start + QUIET_ZONE} ${row + QUIET_ZONE}h${col - start}v1h${start - col}z`;
    }
  }
  const size = options.size ?? 240;
  const title = escapeXml(options.title ?? "QR code");
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${size}" height="${size}" ` +
    `viewBox="0 0 ${side} ${side}" shape-rendering="crispEdges"><title>${title}</title>` +
    `<rect width="${side}" height="${side}" fill="#fff"/><path fill="#000" d="${path}"/></svg>`;
}

/**
 * Two-factor sign-in with an authenticator app (TOTP): enrolment (a secret shown as a QR code, confirmed with
 * a code), ten single-use recovery codes stored hashed, and checking a code at sign-in (each TOTP step once).
 */
import { ChatError } from "../errors.ts";
import type { Store, User } from "../storage/store.ts";
import { hashRecoveryCode, isRecoveryCode, newRecoveryCodes } from "./recovery_codes.ts";
import { formatTotpSecret, newTotpSecret, qrSvg, totpUri, verifyTotp } from "./totp.ts";

/** What the enrolment page shows: scan the QR code or type the secret, then confirm with a code. */
export interface TwoFactorSetup {
  secret: string;
  /** The secret in groups of four, for typing. */
  secret_text: string;
  otpauth_uri: string;
  /** An inline SVG of the URI (rendered here; no external request). */
  qr_svg: string;
}

/** The issuer an authenticator app shows next to the account. */
const ISSUER = "Chat";

export class TwoFactor {
  readonly #store: Store;
  readonly #now: () => number;

  constructor(options: { store: Store; now?: () => number }) {
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
  }

  /**
   * A new secret for `user` to enrol (or `secret` again, for a form that was refused: the app may have scanned it
   * already); nothing is stored until `enable()` confirms it with a code.
   */
  setup(user: User, secret: string = newTotpSecret()): TwoFactorSetup {
    if (user.totp_secret !== null) throw new ChatError("two_factor_enabled");
    const uri = totpUri(secret, { issuer: ISSUER, account: user.username });
    return {
      secret,
      secret_text: formatTotpSecret(secret),
      otpauth_uri: uri,
      qr_svg: qrSvg(uri, { title: "QR code to add this account to your authenticator app" }),
    };
  }

  /**
   * Turns two-factor sign-in on with the secret `setup()` gave, once `code` proves the app has it. Answers the
   * recovery codes, shown once: only their hashes are kept.
   */
  async enable(user: User, secret: unknown, code: unknown): Promise<string[]> {
    if (user.totp_secret !== null) throw new ChatError("two_factor_enabled");
    if (typeof secret !== "string" || !/^[A-Z2-7]{16,64}$/.test(secret)) {
      throw new ChatError("invalid_secret", "Start the setup again: the secret is not one this server made");
    }
    if (typeof code !== "string" || verifyTotp(secret, code, { now: this.#now() }) === null) {
      throw new ChatError("invalid_two_factor_code", "That code is not right; check the app's current code");
    }
    const { codes, hashes } = newRecoveryCodes();
    await this.#store.users.setTwoFactor(user.id, { secret, recovery_codes: hashes });
    return codes;
  }

  /** Turns two-factor sign-in off (the caller has checked the password). */
  async disable(user: User): Promise<void> {
    if (user.totp_secret === null) throw new ChatError("two_factor_disabled");
    await this.#store.users.setTwoFactor(user.id, null);
  }

  /**
   * Whether `code` is the user's current TOTP code (a step not used before) or one of their unused recovery
   * codes; a code that passes is used up.
   */
  async check(user: User, code: unknown): Promise<boolean> {
    if (user.totp_secret === null || typeof code !== "string" || code.length > 64) return false;
    if (isRecoveryCode(code)) {
      return await this.#store.users.useRecoveryCode(user.id, await hashRecoveryCode(code));
    }
    const step = verifyTotp(user.totp_secret, code, { now: this.#now(), lastUsedStep: user.totp_last_step });
    return step !== null && await this.#store.users.useTotpStep(user.id, step);
  }
}

/**
 * Password reset by email: a single-use link valid 30 minutes. Asking answers the same whether or not the
 * address has an account (the mail goes out in the background, so not even the time differs); using the link
 * sets the new password, ends every session of the account and lifts a lockout.
 */
import { ChatError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Mailer } from "../mail/mailer.ts";
import type { Store } from "../storage/store.ts";
import { type Body, FieldProblems } from "../validate.ts";
import type { AccountLockout } from "./lockout.ts";
import type { Passwords } from "./password.ts";
import { newPasswordProblem } from "./service.ts";
import { newOpaqueToken, type Sessions, sha256Hex } from "./sessions.ts";

export const RESET_TTL_MS = 30 * 60_000;
/** Where the link in the mail leads (the page with the new-password form). */
export const RESET_PATH = "/reset-password";

export interface PasswordResetOptions {
  store: Store;
  mailer: Mailer;
  passwords: Passwords;
  sessions: Sessions;
  lockout: AccountLockout;
  log: Logger;
  now?: () => number;
}

export class PasswordReset {
  readonly #o: PasswordResetOptions;
  readonly #now: () => number;
  /** Mails being sent (tests and shutdown wait for them). */
  readonly #sending = new Set<Promise<void>>();

  constructor(options: PasswordResetOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * `{email}`: when an account has that address, stores a reset token and mails its link (`baseUrl` +
   * `RESET_PATH?token=`); otherwise does nothing. Answers alike either way; only a missing or malformed field
   * is refused.
   */
  async request(body: Body, baseUrl: string): Promise<void> {
    const email = typeof body.email === "string" ? body.email.trim() : "";
    if (email === "" || email.length > 254 || !email.includes("@")) {
      const problems = new FieldProblems();
      problems.add("email", "Enter the email address of your account");
      problems.throwIfAny();
    }
    const user = await this.#o.store.users.byEmail(email);
    if (user === null) return;
    const token = newOpaqueToken();
    await this.#o.store.users.addPasswordReset(
      user.id,
      await sha256Hex(token),
      new Date(this.#now() + RESET_TTL_MS).toISOString(),
    );
    const link = `${baseUrl}${RESET_PATH}?token=${token}`;
    const sent = this.#o.mailer.send({
      to: user.email,
      subject: "Reset your chat password",
      text: [
        `Hello ${user.username},`,
        "",
        "Someone (hopefully you) asked to reset the password of your chat account. Open this link within 30",
        "minutes to choose a new one; it works once:",
        "",
        link,
        "",
        "Resetting signs you out on every device. If you did not ask for this, ignore this mail: your",
        "password stays as it is.",
      ].join("\n"),
    }).catch((error) => this.#o.log.error("Cannot send a password-reset mail", { user_id: user.id, error }));
    this.#sending.add(sent);
    sent.finally(() => this.#sending.delete(sent));
  }

  /** `{token, new_password}`: sets the password, ends every session of the account, lifts its lockout. */
  async confirm(body: Body): Promise<void> {
    const problems = new FieldProblems();
    const problem = newPasswordProblem(body.new_password);
    if (problem !== null) problems.add("new_password", problem);
    if (typeof body.token !== "string" || body.token === "" || body.token.length > 200) {
      problems.add(
        "token",
        "The reset link is incomplete; open it again from the mail",
        "invalid_reset_token",
      );
    }
    problems.throwIfAny();
    const userId = await this.#o.store.users.usePasswordReset(
      await sha256Hex(body.token as string),
      new Date(this.#now()).toISOString(),
    );
    if (userId === null) throw new ChatError("invalid_reset_token");
    await this.#o.store.users.setPassword(userId, await this.#o.passwords.hash(body.new_password as string));
    await this.#o.sessions.endAll(userId);
    await this.#o.lockout.clear(userId);
    this.#o.log.info("Password reset", { user_id: userId });
  }

  /** Settles once the mails being sent are out (or failed). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#sending]);
  }
}

import { ChatError } from "../errors.ts";
import type { Store, User } from "../storage/store.ts";
import { ConflictError } from "../storage/store.ts";
import { type Body, FieldProblems } from "../validate.ts";
import type { Logger } from "../log.ts";
import { TokenError, type TokenService } from "./jwt.ts";
import type { AccountLockout, LockoutReport } from "./lockout.ts";
import type { Device, IssuedTokens, Sessions } from "./sessions.ts";
import type { TwoFactor } from "./two_factor.ts";
import { MAX_PASSWORD_BYTES, type Passwords } from "./password.ts";

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
const MAX_EMAIL_CHARS = 254;
const MIN_PASSWORD_CHARS = 8;
const encoder = new TextEncoder();

/** What a person is told about each field of the sign-up form. */
const SAYS = {
  usernameMissing: "Enter a username",
  usernameRule: "Username must be 3-32 letters, digits, dots, dashes or underscores",
  emailMissing: "Enter your email address",
  emailRule: "Enter an email address like name@example.com",
  passwordMissing: "Enter a password",
  passwordShort: `Password must be at least ${MIN_PASSWORD_CHARS} characters`,
  passwordLong:
    `Password is too long (at most ${MAX_PASSWORD_BYTES} bytes; fewer characters if it has accents or emoji)`,
};

/** The fields a login may name its account by, in the order they are looked for: `login` is either. */
const LOGIN_FIELDS = ["login", "username", "email"] as const;
const LOGIN_MISSING = {
  login: "Enter your username or email",
  username: "Enter your username",
  email: "Enter your email address",
};

export interface PublicAccount {
  id: string;
  username: string;
  email: string;
}

/** Failed sign-ins since the last one, told to the user when they next sign in. */
export interface SignInNotice {
  failed_attempts: number;
  locks: number;
  last_failure_at: string | null;
}

/** A signed-in answer: the session's tokens, the account, and what happened since the last sign-in. */
export type SignedInAnswer = IssuedTokens & { user: PublicAccount; notice?: SignInNotice };

/** The password was right and a second factor is needed: send `mfa_token` and the code to finish. */
export interface SecondFactorNeeded {
  two_factor_required: true;
  mfa_token: string;
  expires_in: number;
}

export interface AuthServiceOptions {
  store: Store;
  passwords: Passwords;
  sessions: Sessions;
  lockout: AccountLockout;
  twoFactor: TwoFactor;
  /** Signs the short-lived token between the password and the second factor (its own audience). */
  mfaTokens: TokenService;
  log: Logger;
}

/**
 * Registration and login, shared by the JSON API and the web UI's forms. Refusals are `ChatError`s whose code
 * names the field (`invalid_username`, `email_taken`, …) and whose `fields` name every bad field at once, so a
 * form can show each message next to its field.
 */
export class AuthService {
  readonly #store: Store;
  readonly #passwords: Passwords;
  readonly #sessions: Sessions;
  readonly #lockout: AccountLockout;
  readonly #twoFactor: TwoFactor;
  readonly #mfaTokens: TokenService;
  readonly #log: Logger;

  constructor(options: AuthServiceOptions) {
    this.#store = options.store;
    this.#passwords = options.passwords;
    this.#sessions = options.sessions;
    this.#lockout = options.lockout;
    this.#twoFactor = options.twoFactor;
    this.#mfaTokens = options.mfaTokens;
    this.#log = options.log;
  }

  /**
   * Validates `{username, email, password}` (every field, every problem reported together; a taken username
   * or email too) and creates the account with a bcrypt hash.
   */
  async register(body: Body): Promise<User> {
    const problems = new FieldProblems();
    const username = stringOf(body.username ?? "");
    if (username === "") problems.add("username", SAYS.usernameMissing);
    else if (username === undefined || !USERNAME_RE.test(username)) {
      problems.add("username", SAYS.usernameRule);
    }
    const email = stringOf(body.email ?? "");
    if (email === "") problems.add("email", SAYS.emailMissing);
    else if (email === undefined || email.length > MAX_EMAIL_CHARS || !EMAIL_RE.test(email)) {
      problems.add("email", SAYS.emailRule);
    }
    const password = body.password ?? "";
    const passwordProblem = newPasswordProblem(password);
    if (passwordProblem !== null) problems.add("password", passwordProblem);

    if (problems.size > 0) {
      await this.#addTaken(problems, username, email);
      problems.throwIfAny();
    }
    try {
      return await this.#store.users.create({
        username: username!,
        email: email!,
        password_hash: await this.#passwords.hash(password as string),
      });
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      // The store names one taken field; both may be.
      await this.#addTaken(problems, username, email);
      throw problems.error() ?? new ChatError(error.field === "email" ? "email_taken" : "username_taken");
    }
  }

  /**
   * Checks `{login | username | email, password}` and starts a session (its tokens): `login` is a username or an email (usernames
   * have no "@"). An unknown account and a wrong password get the same answer, after the same bcrypt work.
   */
  async login(body: Body, device: Device): Promise<SignedInAnswer | SecondFactorNeeded> {
    const field = LOGIN_FIELDS.find((name) => body[name] !== undefined);
    const name = field === undefined ? undefined : body[field];
    const { password } = body;
    if (field === undefined || typeof name !== "string" || typeof password !== "string") {
      throw new ChatError("invalid_credentials_format");
    }
    const problems = new FieldProblems();
    if (name.trim() === "") problems.add(field, LOGIN_MISSING[field]);
    if (password === "") problems.add("password", "Enter your password");
    if (body.code !== undefined && typeof body.code !== "string") {
      problems.add("code", "The two-factor code must be a string");
    }
    problems.throwIfAny();

    const user = await this.#accountOf(field, name.trim());
    if (user !== null) await this.#checkLockout(user);
    const ok =
      user !== null && user.password_hash !== "" && encoder.encode(password).length <= MAX_PASSWORD_BYTES
        ? await this.#passwords.verify(password, user.password_hash)
        : await this.#passwords.verifyDummy(password);
    if (user === null) throw new ChatError("invalid_credentials");
    if (!ok) {
      await this.#failed(user, device, "password");
      throw new ChatError("invalid_credentials");
    }
    if (user.totp_secret !== null) {
      if (body.code === undefined) {
        await this.#lockout.release(user.id);
        return await this.beginSecondFactor(user);
      }
      if (!await this.#twoFactor.check(user, body.code)) {
        await this.#failed(user, device, "code");
        throw new ChatError("invalid_two_factor_code");
      }
    }
    return await this.#signIn(user, device);
  }

  /**
   * `{mfa_token, code}`: the second step of a sign-in whose password was right: the current code of the
   * authenticator app, or a recovery code. Wrong codes count towards the account's lockout like passwords.
   */
  async loginSecondFactor(body: Body, device: Device): Promise<SignedInAnswer> {
    let userId: string;
    try {
      userId = (await this.#mfaTokens.verify(typeof body.mfa_token === "string" ? body.mfa_token : "")).sub;
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      throw new ChatError("invalid_token", "The sign-in took too long or is not valid; sign in again");
    }
    if (typeof body.code !== "string" || body.code.trim() === "") {
      const problems = new FieldProblems();
      problems.add("code", "Enter the code from your authenticator app, or a recovery code");
      problems.throwIfAny();
    }
    const user = await this.#store.users.byId(userId);
    if (user === null || user.totp_secret === null) throw new ChatError("invalid_token");
    await this.#checkLockout(user);
    if (!await this.#twoFactor.check(user, body.code)) {
      await this.#failed(user, device, "code");
      throw new ChatError("invalid_two_factor_code");
    }
    return await this.#signIn(user, device);
  }

  /** The pending second step for a user whose first factor another way proved (single sign-on). */
  async beginSecondFactor(user: User): Promise<SecondFactorNeeded> {
    return {
      two_factor_required: true,
      mfa_token: await this.#mfaTokens.sign(user, crypto.randomUUID()),
      expires_in: this.#mfaTokens.ttlSeconds,
    };
  }

  /**
   * Signs in a user whose identity another way proved (single sign-on): the lockout's report is cleared and
   * told as for a password sign-in.
   */
  async signInVerified(user: User, device: Device): Promise<SignedInAnswer> {
    return await this.#signIn(user, device);
  }

  async #signIn(user: User, device: Device): Promise<SignedInAnswer> {
    const report = await this.#lockout.succeed(user.id);
    const issued = await this.#sessions.start(user, device);
    const answer: SignedInAnswer = {
      ...issued,
      user: { id: user.id, username: user.username, email: user.email },
    };
    if (report.failures > 0) answer.notice = noticeOf(report);
    return answer;
  }

  async #checkLockout(user: User): Promise<void> {
    const decision = await this.#lockout.check(user.id);
    if (decision.ok) return;
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new ChatError(
      "account_locked",
      `Too many failed sign-ins for this account; try again in ${waitText(seconds)}, or reset your password`,
      { retryAfterMs: decision.retryAfterMs },
    );
  }

  async #failed(user: User, device: Device, what: "password" | "code"): Promise<void> {
    const decision = await this.#lockout.fail(user.id);
    if (decision.lockedNow) {
      this.#log.warn("Account locked after failed sign-ins", {
        user_id: user.id,
        ip: device.ip,
        failed: what,
        retry_after_ms: decision.retryAfterMs,
      });
    }
  }

  /**
   * `{current_password, new_password}`: changes the password of a signed-in user and ends every other session
   * of theirs (this one stays). An account made by single sign-on has no password yet: it sets one without
   * `current_password`. Returns how many sessions were ended.
   */
  async changePassword(who: { userId: string; sessionId?: string }, body: Body): Promise<number> {
    const user = await this.#store.users.byId(who.userId);
    if (user === null) throw new ChatError("user_not_found");
    const problems = new FieldProblems();
    const current = body.current_password ?? "";
    if (user.password_hash !== "") {
      if (current === "") problems.add("current_password", "Enter your current password");
      else if (typeof current !== "string") problems.add("current_password", "Password must be a string");
    }
    const next = body.new_password ?? "";
    const nextProblem = newPasswordProblem(next);
    if (nextProblem !== null) problems.add("new_password", nextProblem);
    problems.throwIfAny();
    if (user.password_hash !== "") {
      const ok = encoder.encode(current as string).length <= MAX_PASSWORD_BYTES &&
        await this.#passwords.verify(current as string, user.password_hash);
      if (!ok) {
        problems.add("current_password", "That is not your current password", "invalid_current_password");
        problems.throwIfAny();
      }
    }
    await this.#store.users.setPassword(user.id, await this.#passwords.hash(next as string));
    return (await this.#sessions.endAll(user.id, who.sessionId)).length;
  }

  /**
   * Refuses (400 `invalid_password`, by the field) unless `password` is the user's password; an account without
   * one (made by single sign-on) passes.
   */
  async checkPassword(user: User, password: unknown): Promise<void> {
    if (user.password_hash === "") return;
    const problems = new FieldProblems();
    if (typeof password !== "string" || password === "") problems.add("password", "Enter your password");
    else if (
      encoder.encode(password).length > MAX_PASSWORD_BYTES ||
      !await this.#passwords.verify(password, user.password_hash)
    ) {
      problems.add("password", "That is not your password");
    }
    problems.throwIfAny();
  }

  /** The account `name` names: by email for `email`, or for a `login` with an "@"; else by username. */
  async #accountOf(field: typeof LOGIN_FIELDS[number], name: string): Promise<User | null> {
    if (field === "email" || (field === "login" && name.includes("@"))) {
      return name.length <= MAX_EMAIL_CHARS ? await this.#store.users.byEmail(name) : null;
    }
    return USERNAME_RE.test(name) ? await this.#store.users.byUsername(name) : null;
  }

  /** Adds "taken" problems for a well-formed username or email that an account already has. */
  async #addTaken(problems: FieldProblems, username?: string, email?: string): Promise<void> {
    if (username && !problems.has("username") && await this.#store.users.byUsername(username)) {
      problems.add("username", new ChatError("username_taken").message, "username_taken");
    }
    if (email && !problems.has("email") && await this.#store.users.byEmail(email)) {
      problems.add("email", new ChatError("email_taken").message, "email_taken");
    }
  }
}

function noticeOf(report: LockoutReport): SignInNotice {
  return { failed_attempts: report.failures, locks: report.locks, last_failure_at: report.lastFailureAt };
}

/** "40 s", "3 min". */
function waitText(seconds: number): string {
  return seconds < 90 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

/** What is wrong with a new password, or null: present, a string, 8 characters, at most 72 bytes. */
export function newPasswordProblem(password: unknown): string | null {
  if (password === "" || password === undefined || password === null) return SAYS.passwordMissing;
  if (typeof password !== "string") return "Password must be a string";
  if ([...password].length < MIN_PASSWORD_CHARS) return SAYS.passwordShort;
  if (encoder.encode(password).length > MAX_PASSWORD_BYTES) return SAYS.passwordLong;
  return null;
}

/** A field's value when it is a string; `undefined` for anything else. */
function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

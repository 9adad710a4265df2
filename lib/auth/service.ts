import { ChatError } from "../errors.ts";
import type { Store, User } from "../storage/store.ts";
import { ConflictError } from "../storage/store.ts";
import { type Body, FieldProblems } from "../validate.ts";
import type { TokenService } from "./jwt.ts";
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

/**
 * Registration and login, shared by the JSON API and the web UI's forms. Refusals are `ChatError`s whose code
 * names the field (`invalid_username`, `email_taken`, …) and whose `fields` name every bad field at once, so a
 * form can show each message next to its field.
 */
export class AuthService {
  readonly #store: Store;
  readonly #passwords: Passwords;
  readonly #tokens: TokenService;

  constructor(options: { store: Store; passwords: Passwords; tokens: TokenService }) {
    this.#store = options.store;
    this.#passwords = options.passwords;
    this.#tokens = options.tokens;
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
    if (password === "") problems.add("password", SAYS.passwordMissing);
    else if (typeof password !== "string") problems.add("password", "Password must be a string");
    else if ([...password].length < MIN_PASSWORD_CHARS) problems.add("password", SAYS.passwordShort);
    else if (encoder.encode(password).length > MAX_PASSWORD_BYTES) {
      problems.add("password", SAYS.passwordLong);
    }

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
   * Checks `{login | username | email, password}` and signs a token: `login` is a username or an email (usernames
   * have no "@"). An unknown account and a wrong password get the same answer, after the same bcrypt work.
   */
  async login(body: Body): Promise<{ token: string; user: PublicAccount }> {
    const field = LOGIN_FIELDS.find((name) => body[name] !== undefined);
    const name = field === undefined ? undefined : body[field];
    const { password } = body;
    if (field === undefined || typeof name !== "string" || typeof password !== "string") {
      throw new ChatError("invalid_credentials_format");
    }
    const problems = new FieldProblems();
    if (name.trim() === "") problems.add(field, LOGIN_MISSING[field]);
    if (password === "") problems.add("password", "Enter your password");
    problems.throwIfAny();

    const user = await this.#accountOf(field, name.trim());
    const ok = user !== null && encoder.encode(password).length <= MAX_PASSWORD_BYTES
      ? await this.#passwords.verify(password, user.password_hash)
      : await this.#passwords.verifyDummy(password);
    if (!ok || user === null) throw new ChatError("invalid_credentials");
    const token = await this.#tokens.sign({ id: user.id, username: user.username });
    return { token, user: { id: user.id, username: user.username, email: user.email } };
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

/** A field's value when it is a string; `undefined` for anything else. */
function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

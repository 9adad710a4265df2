import { ChatError } from "../errors.ts";
import type { Store, User } from "../storage/store.ts";
import { ConflictError } from "../storage/store.ts";
import { type Body, requiredString } from "../validate.ts";
import type { TokenService } from "./jwt.ts";
import { MAX_PASSWORD_BYTES, type Passwords } from "./password.ts";

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
const encoder = new TextEncoder();

export interface PublicAccount {
  id: string;
  username: string;
  email: string;
}

/**
 * Registration and login, shared by the JSON API and the web UI's forms. Refusals are `ChatError`s whose code
 * names the field (`invalid_username`, `email_taken`, …) so a form can show them next to it.
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

  /** Validates `{username, email, password}` and creates the account with a bcrypt hash. */
  async register(body: Body): Promise<User> {
    const username = requiredString(body, "username", 3, 32);
    if (!USERNAME_RE.test(username)) {
      throw new ChatError("invalid_username", "Username may only use letters, digits, '_', '.' and '-'");
    }
    const email = requiredString(body, "email", 3, 254);
    if (!EMAIL_RE.test(email)) throw new ChatError("invalid_email", "Email address is not valid");
    const password = requiredString(body, "password", 1, 1_000);
    const bytes = encoder.encode(password).length;
    if (bytes < 8 || bytes > MAX_PASSWORD_BYTES) {
      throw new ChatError("invalid_password", `Password must be 8 to ${MAX_PASSWORD_BYTES} bytes long`);
    }
    try {
      return await this.#store.users.create({
        username,
        email,
        password_hash: await this.#passwords.hash(password),
      });
    } catch (error) {
      if (error instanceof ConflictError) {
        throw new ChatError(error.field === "email" ? "email_taken" : "username_taken");
      }
      throw error;
    }
  }

  /**
   * Checks `{email, password}` and signs a token. Unknown email and wrong password get the same answer, after
   * the same bcrypt work.
   */
  async login(body: Body): Promise<{ token: string; user: PublicAccount }> {
    const { email, password } = body;
    if (typeof email !== "string" || typeof password !== "string") {
      throw new ChatError("invalid_credentials_format", '"email" and "password" must be strings');
    }
    const user = email.length <= 254 ? await this.#store.users.byEmail(email) : null;
    const ok = user !== null && encoder.encode(password).length <= MAX_PASSWORD_BYTES
      ? await this.#passwords.verify(password, user.password_hash)
      : await this.#passwords.verifyDummy(password);
    if (!ok || user === null) throw new ChatError("invalid_credentials", "Invalid email or password");
    const token = await this.#tokens.sign({ id: user.id, username: user.username });
    return { token, user: { id: user.id, username: user.username, email: user.email } };
  }
}

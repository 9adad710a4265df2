import bcrypt from "bcrypt";

/** Longest password bcrypt hashes without silently truncating it. */
export const MAX_PASSWORD_BYTES = 72;

/**
 * Password hashing with bcrypt (native, on the thread pool, so it never blocks the event loop).
 * `verifyDummy()` spends the same time as a real check, so an unknown email cannot be told from a wrong password.
 */
export class Passwords {
  readonly #cost: number;
  #dummy: Promise<string> | undefined;

  constructor(cost: number) {
    this.#cost = cost;
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.#cost);
  }

  verify(password: string, hash: string): Promise<boolean> {
    return bcrypt.compare(password, hash);
  }

  /** Compares against a hash of a random password at the configured cost; always false. */
  async verifyDummy(password: string): Promise<false> {
    this.#dummy ??= bcrypt.hash(crypto.randomUUID(), this.#cost);
    await bcrypt.compare(password, await this.#dummy);
    return false;
  }
}

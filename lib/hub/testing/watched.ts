/** How long `Watched.until()` waits before failing the test. */
export const WAIT_MS = 2_000;

/** Resolves like `promise`, or rejects with a message naming `what` after `ms` milliseconds. */
export function within<T>(promise: Promise<T>, what: string, ms: number = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A test double a test can wait on: `until()` re-checks its condition whenever the double calls `notify()`. */
export class Watched {
  readonly #listeners = new Set<() => void>();

  protected notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Resolves once `done()` holds (checked now and after every change), or fails after `ms` naming `what`. */
  until(done: () => boolean, what: string, ms?: number): Promise<void> {
    if (done()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const check = () => {
      if (done()) resolve();
    };
    this.#listeners.add(check);
    return within(promise, what, ms).finally(() => this.#listeners.delete(check));
  }
}

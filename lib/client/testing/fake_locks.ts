/**
 * The Web Locks API for chat client tests: one queue per lock name, granted in request order, like
 * `navigator.locks.request(name, callback)` between the tabs of one browser.
 *
 * @example
 * const locks = new FakeLocks();
 * const tab1 = new SessionKeeper({ locks, ... });
 * const tab2 = new SessionKeeper({ locks, ... });
 */
import type { Locks } from "../session_keeper.ts";

export class FakeLocks implements Locks {
  readonly #tails = new Map<string, Promise<unknown>>();
  /** How many callbacks hold each lock now. */
  readonly held = new Map<string, number>();
  /** The most callbacks that ever held one lock at once (1 when the lock did its job). */
  mostHeld = 0;

  request<T>(name: string, callback: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(name) ?? Promise.resolve();
    const run = before.then(async () => {
      const holders = (this.held.get(name) ?? 0) + 1;
      this.held.set(name, holders);
      this.mostHeld = Math.max(this.mostHeld, holders);
      try {
        return await callback();
      } finally {
        this.held.set(name, this.held.get(name)! - 1);
      }
    });
    this.#tails.set(name, run.catch(() => {}));
    return run;
  }
}

/** Time as the chat client sees it: injected, so tests move it by hand instead of sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `callback` once after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock of the page. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Timers that can all be cancelled at once (when the client closes).
 *
 * @example
 * const timers = new Timers(systemClock);
 * const id = timers.after(1_000, () => console.log("later"));
 * timers.cancel(id); // or timers.clear() for all of them
 */
export class Timers {
  readonly #pending = new Map<number, unknown>();
  readonly #clock: Clock;
  #nextId = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Runs `callback` once after `ms`; the id cancels it with `cancel()`. */
  after(ms: number, callback: () => void): number {
    const id = ++this.#nextId;
    this.#pending.set(
      id,
      this.#clock.setTimeout(() => {
        this.#pending.delete(id);
        callback();
      }, ms),
    );
    return id;
  }

  cancel(id: number | undefined): void {
    if (id === undefined || !this.#pending.has(id)) return;
    this.#clock.clearTimeout(this.#pending.get(id));
    this.#pending.delete(id);
  }

  /** Cancels every timer not run yet. */
  clear(): void {
    for (const handle of this.#pending.values()) this.#clock.clearTimeout(handle);
    this.#pending.clear();
  }
}

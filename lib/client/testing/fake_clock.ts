/**
 * A clock for chat client tests: time moves only when the test calls `advance()`, which runs the timers that
 * fall due, in order.
 *
 * @example
 * const clock = new FakeClock();
 * clock.setTimeout(() => fired = true, 1_000);
 * clock.advance(999); // not yet
 * clock.advance(1); // fired
 */
import type { Clock } from "../clock.ts";

interface Timer {
  at: number;
  callback: () => void;
}

export class FakeClock implements Clock {
  #now: number;
  #nextId = 0;
  readonly #timers = new Map<number, Timer>();

  constructor(start = Date.UTC(2025, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): number {
    const id = ++this.#nextId;
    this.#timers.set(id, { at: this.#now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** How far ahead each pending timer is, soonest first. */
  get pending(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, running each timer that falls due (also ones set meanwhile) at its time. */
  advance(ms: number): void {
    const end = this.#now + ms;
    while (true) {
      const due = [...this.#timers].filter(([, t]) => t.at <= end).sort(([a, x], [b, y]) =>
        x.at - y.at || a - b
      );
      if (due.length === 0) break;
      const [id, timer] = due[0];
      this.#timers.delete(id);
      this.#now = timer.at;
      timer.callback();
    }
    this.#now = end;
  }
}

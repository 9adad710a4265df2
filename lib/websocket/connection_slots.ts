import type { Logger } from "../log.ts";

export interface ConnectionSlotsOptions {
  /** Most sockets held at once (`MAX_CONNECTIONS`). */
  max: number;
  log: Logger;
  /** Refusals are logged at most once per this many ms (10 s); the ones in between are counted. */
  logEveryMs?: number;
  /** The clock, for tests. */
  now?: () => number;
  /** Called on every refusal (metrics). */
  onRefused?: () => void;
}

/**
 * Counts this process's WebSocket connections against `MAX_CONNECTIONS`. A slot is taken synchronously just
 * before the upgrade and given back when the socket is gone, so sockets still opening count too and N + 1
 * concurrent upgrades with room for N give exactly one refusal. Refusals are logged once per burst, not once
 * per socket.
 */
export class ConnectionSlots {
  readonly max: number;
  readonly #log: Logger;
  readonly #logEveryMs: number;
  readonly #now: () => number;
  readonly #onRefused: (() => void) | undefined;
  #open = 0;
  #lastLog = -Infinity;
  /** Refusals since the last log line. */
  #refused = 0;

  constructor(options: ConnectionSlotsOptions) {
    this.max = options.max;
    this.#log = options.log;
    this.#logEveryMs = options.logEveryMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#onRefused = options.onRefused;
  }

  /** Sockets counted now (open, opening, or closing). */
  get open(): number {
    return this.#open;
  }

  get full(): boolean {
    return this.#open >= this.max;
  }

  /**
   * Takes a slot and returns the function that gives it back (safe to call more than once); null when all are
   * taken, after counting (and maybe logging) the refusal.
   */
  tryAcquire(): (() => void) | null {
    if (this.full) {
      this.refused();
      return null;
    }
    this.#open++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#open--;
    };
  }

  /** Counts a refused upgrade; logs a warning when none was logged in the last `logEveryMs`. */
  refused(): void {
    this.#onRefused?.();
    this.#refused++;
    const now = this.#now();
    if (now - this.#lastLog < this.#logEveryMs) return;
    this.#log.warn("Server full: refusing WebSocket connections with 503", {
      max_connections: this.max,
      open_connections: this.#open,
      refused: this.#refused,
      log_every_s: this.#logEveryMs / 1000,
    });
    this.#lastLog = now;
    this.#refused = 0;
  }
}

/**
 * How many sockets one user may hold at once (`MAX_SOCKETS_PER_USER`). A socket's place is reserved before its
 * upgrade and given back when it is gone, so N + 1 concurrent upgrades of one user with room for N give
 * exactly one refusal.
 */
export interface SocketQuota {
  /** The most sockets one user may hold. */
  readonly max: number;
  /**
   * Reserves one of the user's places: the function that gives it back (safe to call more than once), or null
   * when the user holds `max` already.
   */
  acquire(userId: string): Promise<(() => void) | null>;
  /** Starts background work (a shared quota's heartbeat). */
  start?(): Promise<void>;
  stop?(): void;
}

/**
 * Counts each user's sockets in this process: the quota of a single instance, and the fallback of the shared
 * one while Redis is away.
 */
export class MemorySocketQuota implements SocketQuota {
  readonly #held = new Map<string, number>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError("A socket quota needs max >= 1");
  }

  acquire(userId: string): Promise<(() => void) | null> {
    return Promise.resolve(this.tryAcquire(userId));
  }

  /** `acquire` without waiting: null at the cap. */
  tryAcquire(userId: string): (() => void) | null {
    if (this.count(userId) >= this.max) return null;
    this.add(userId, 1);
    return once(() => this.add(userId, -1));
  }

  /** Sockets held by `userId` here. */
  count(userId: string): number {
    return this.#held.get(userId) ?? 0;
  }

  /** Every user with a socket here, and how many (a copy). */
  entries(): [string, number][] {
    return [...this.#held];
  }

  /** Counts `delta` more (or fewer) sockets of `userId`, whatever the cap (a shared quota's mirror). */
  add(userId: string, delta: number): void {
    const count = this.count(userId) + delta;
    if (count > 0) this.#held.set(userId, count);
    else this.#held.delete(userId);
  }
}

/** `release` callable any number of times, releasing once. */
export function once(release: () => void): () => void {
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    release();
  };
}

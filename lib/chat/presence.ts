/**
 * Counts a user's open sockets. In-process now; a Redis-backed tracker counts them across instances behind the
 * same interface.
 */
export interface Presence {
  /** Records one more socket; true when the user just came online. */
  connected(userId: string): Promise<boolean>;
  /** Records one socket fewer; true when the user just went offline. */
  disconnected(userId: string): Promise<boolean>;
  /** Which of `userIds` are online. */
  online(userIds: string[]): Promise<Set<string>>;
  /** Starts background work; `onLost` gets users who went offline because another instance died. */
  start?(onLost: (userIds: string[]) => void): Promise<void>;
  stop?(): void;
  /** `degraded` while shared state (Redis) cannot be reached (metrics); absent in process. */
  health?(): "ok" | "degraded";
}

export class MemoryPresence implements Presence {
  readonly #sockets = new Map<string, number>();

  connected(userId: string): Promise<boolean> {
    const count = (this.#sockets.get(userId) ?? 0) + 1;
    this.#sockets.set(userId, count);
    return Promise.resolve(count === 1);
  }

  disconnected(userId: string): Promise<boolean> {
    const count = (this.#sockets.get(userId) ?? 0) - 1;
    if (count > 0) this.#sockets.set(userId, count);
    else this.#sockets.delete(userId);
    return Promise.resolve(count === 0);
  }

  online(userIds: string[]): Promise<Set<string>> {
    return Promise.resolve(new Set(userIds.filter((id) => this.#sockets.has(id))));
  }
}

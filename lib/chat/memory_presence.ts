import type { Presence } from "./presence.ts";

/** Counts sockets in this process: the presence of a single instance. */
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

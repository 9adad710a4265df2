/**
 * Reads shared by callers that ask at about the same time: every caller gets a read that started after it asked
 * (so it reflects everything that happened before the call), but callers who ask while a read of the same key
 * waits to start share it. While a read runs, the next callers wait for one that starts after it.
 *
 * @example
 * const onlineIn = new SharedReads((roomId) => readOnlineMembers(roomId));
 * const online = await onlineIn.get(roomId); // 1,000 sockets connecting at once make a handful of reads
 */
export class SharedReads<T> {
  /** Per key, the read that has not started yet: joining it is safe. */
  readonly #waiting = new Map<string, Promise<T>>();
  /** Per key, the read running now (or last run): the next one starts after it. */
  readonly #running = new Map<string, Promise<unknown>>();

  constructor(readonly read: (key: string) => Promise<T>) {}

  get(key: string): Promise<T> {
    const waiting = this.#waiting.get(key);
    if (waiting !== undefined) return waiting;
    const previous = this.#running.get(key) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => {
      this.#waiting.delete(key);
      const run = this.read(key);
      this.#running.set(key, run);
      run.catch(() => {}).finally(() => {
        if (this.#running.get(key) === run) this.#running.delete(key);
      });
      return run;
    });
    this.#waiting.set(key, next);
    return next;
  }
}

/** The browser's network for chat client tests: the test takes it offline and back. */
import type { Network } from "../connection.ts";

export class FakeNetwork implements Network {
  onLine = true;
  readonly #listeners = { online: new Set<() => void>(), offline: new Set<() => void>() };

  addEventListener(type: "online" | "offline", listener: () => void): void {
    this.#listeners[type].add(listener);
  }

  removeEventListener(type: "online" | "offline", listener: () => void): void {
    this.#listeners[type].delete(listener);
  }

  /** The network goes away or comes back, with the browser's event. */
  set(online: boolean): void {
    this.onLine = online;
    for (const listener of this.#listeners[online ? "online" : "offline"]) listener();
  }
}

import type { Bus, BusHandler } from "./bus.ts";

/** Connects `MemoryBus` instances in one process, as a Redis server connects `RedisBus` instances. */
export class MemoryBroker {
  readonly #subscribers = new Map<string, Set<MemoryBus>>();

  subscribe(channel: string, bus: MemoryBus): void {
    let set = this.#subscribers.get(channel);
    if (set === undefined) this.#subscribers.set(channel, set = new Set());
    set.add(bus);
  }

  unsubscribe(channel: string, bus: MemoryBus): void {
    const set = this.#subscribers.get(channel);
    if (set?.delete(bus) && set.size === 0) this.#subscribers.delete(channel);
  }

  publish(channel: string, payload: string): void {
    const set = this.#subscribers.get(channel);
    if (set === undefined) return;
    for (const bus of set) bus.deliver(channel, payload);
  }

  /** Number of channels with at least one subscriber. */
  get channels(): number {
    return this.#subscribers.size;
  }
}

/**
 * The in-process bus, the default when no Redis is configured. Delivery is asynchronous (a microtask later, in
 * publish order) so that the hub sees the same re-entrancy as with a network bus.
 *
 * @example
 * const bus = new MemoryBus();
 * await bus.start((channel, payload) => console.log(channel, payload));
 * await bus.subscribe("room:1");
 * await bus.publish("room:1", "hello");
 */
export class MemoryBus implements Bus {
  readonly #broker: MemoryBroker;
  readonly #channels = new Set<string>();
  #handler: BusHandler | undefined;
  #closed = false;

  constructor(broker: MemoryBroker = new MemoryBroker()) {
    this.#broker = broker;
  }

  start(handler: BusHandler): Promise<void> {
    this.#handler = handler;
    return Promise.resolve();
  }

  subscribe(channel: string): Promise<void> {
    this.#assertOpen();
    this.#channels.add(channel);
    this.#broker.subscribe(channel, this);
    return Promise.resolve();
  }

  unsubscribe(channel: string): Promise<void> {
    this.#channels.delete(channel);
    this.#broker.unsubscribe(channel, this);
    return Promise.resolve();
  }

  publish(channel: string, payload: string): Promise<void> {
    this.#assertOpen();
    this.#broker.publish(channel, payload);
    return Promise.resolve();
  }

  health(): "ok" {
    return "ok";
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const channel of this.#channels) this.#broker.unsubscribe(channel, this);
    this.#channels.clear();
    return Promise.resolve();
  }

  /** Called by the broker. */
  deliver(channel: string, payload: string): void {
    queueMicrotask(() => {
      if (this.#channels.has(channel)) this.#handler?.(channel, payload);
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("The bus is closed");
  }
}

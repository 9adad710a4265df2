/** Receives every payload published to a channel this bus is subscribed to, in publish order per channel. */
export type BusHandler = (channel: string, payload: string) => void;

/**
 * Pub/sub between the hubs of all instances. A subscriber receives every payload published to a channel it is
 * subscribed to, its own publishes included, once each. Adapters: `MemoryBus` (one process), `RedisBus`.
 *
 * The hub calls `start()` once with its handler, then subscribes a channel when it gains the first local
 * interest in it and unsubscribes after the last.
 */
export interface Bus {
  start(handler: BusHandler): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  publish(channel: string, payload: string): Promise<void>;
  /** `ok`, or `degraded` while the bus cannot reach its broker. */
  health(): "ok" | "degraded";
  /** Milliseconds the last health probe took from publish to receipt (metrics); absent in process. */
  probeRoundTripMs?(): number | undefined;
  close(): Promise<void>;
}

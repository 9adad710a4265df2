/**
 * A `Transport` for hub tests: records the frames the hub sends and how it closes the socket, lets a test set the
 * backlog the hub sees, and resolves promises on send and close so tests await events instead of sleeping.
 *
 * @example
 * const transport = new FakeTransport();
 * const client = hub.connect(transport, { userId: "u1", username: "ann" });
 * hub.receive(client, '{"type":"ping"}');
 * assert.deepEqual(await transport.nextFrames(1), [{ type: "pong" }]);
 */

import type { ServerFrame } from "../protocol.ts";
import type { Transport } from "../transport.ts";

/** One `close()` call. */
export interface CloseCall {
  code: number;
  reason: string;
}

/** How long the `wait...` methods wait before failing the test. */
export const WAIT_MS = 2_000;

/** Resolves like `promise`, or rejects with a message naming `what` after `ms` milliseconds. */
export function within<T>(promise: Promise<T>, what: string, ms: number = WAIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class FakeTransport implements Transport {
  /** Every frame sent, as raw text, in order (frames sent after `close()` too: the hub should send none). */
  readonly sent: string[] = [];
  /** Every `close()` call, in order. */
  readonly closes: CloseCall[] = [];
  /** The unsent backlog the hub reads after each send; set it to play a slow consumer. */
  buffered = 0;
  /** Runs after each send is recorded, e.g. to grow `buffered`. */
  onSend: ((data: string) => void) | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(readonly name = "transport") {}

  send(data: string): void {
    this.sent.push(data);
    this.onSend?.(data);
    this.#notify();
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    this.#notify();
  }

  /** Every frame sent, parsed as JSON. */
  get frames(): ServerFrame[] {
    return this.sent.map((text) => JSON.parse(text));
  }

  /** The first `close()` call, if any. */
  get closed(): CloseCall | undefined {
    return this.closes[0];
  }

  /** Resolves with the next `count` frames sent after this call (parsed), or fails after `ms`. */
  nextFrames(count: number, ms?: number): Promise<ServerFrame[]> {
    const from = this.sent.length;
    return this.#until(
      () => this.sent.length >= from + count,
      `${count} more frame(s) on ${this.name} (had ${from})`,
      ms,
    ).then(() => this.frames.slice(from, from + count));
  }

  /** Resolves with all frames once at least `count` frames have been sent in total, or fails after `ms`. */
  waitForFrames(count: number, ms?: number): Promise<ServerFrame[]> {
    return this.#until(() => this.sent.length >= count, `${count} frame(s) on ${this.name}`, ms)
      .then(() => this.frames);
  }

  /** Resolves with the first `close()` call once there is one, or fails after `ms`. */
  waitForClose(ms?: number): Promise<CloseCall> {
    return this.#until(() => this.closes.length > 0, `close() on ${this.name}`, ms)
      .then(() => this.closes[0]);
  }

  #until(done: () => boolean, what: string, ms?: number): Promise<void> {
    if (done()) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const check = () => {
      if (done()) resolve();
    };
    this.#listeners.add(check);
    return within(promise, what, ms).finally(() => this.#listeners.delete(check));
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

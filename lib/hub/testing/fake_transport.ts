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
import { Watched } from "./watched.ts";

/** One `close()` call. */
export interface CloseCall {
  code: number;
  reason: string;
}

export class FakeTransport extends Watched implements Transport {
  /** Every frame sent, as raw text, in order (frames sent after `close()` too: the hub should send none). */
  readonly sent: string[] = [];
  /** Every `close()` call, in order. */
  readonly closes: CloseCall[] = [];
  /** The unsent backlog the hub reads after each send; set it to play a slow consumer. */
  buffered = 0;
  /** Runs after each send is recorded, e.g. to grow `buffered`. */
  onSend: ((data: string) => void) | undefined;
  constructor(readonly name = "transport") {
    super();
  }

  send(data: string): void {
    this.sent.push(data);
    this.onSend?.(data);
    this.notify();
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    this.notify();
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
    return this.until(
      () => this.sent.length >= from + count,
      `${count} more frame(s) on ${this.name} (had ${from})`,
      ms,
    ).then(() => this.frames.slice(from, from + count));
  }

  /** Resolves with all frames once at least `count` frames have been sent in total, or fails after `ms`. */
  waitForFrames(count: number, ms?: number): Promise<ServerFrame[]> {
    return this.until(() => this.sent.length >= count, `${count} frame(s) on ${this.name}`, ms)
      .then(() => this.frames);
  }

  /** Resolves with the first `close()` call once there is one, or fails after `ms`. */
  waitForClose(ms?: number): Promise<CloseCall> {
    return this.until(() => this.closes.length > 0, `close() on ${this.name}`, ms)
      .then(() => this.closes[0]);
  }
}

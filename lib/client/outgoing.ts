/**
 * Own messages on their way: each goes into the outbox (so a reload or a crash loses none) and then onto the
 * socket with its `client_id`, once per connection and again after a retryable error, until the server has
 * stored it. A non-retryable refusal keeps it, failed, until the user discards it. One refused because the
 * store is down (`store_unavailable`) waits for the server's `store_available` frame (or the next connection,
 * or `STORE_RETRY_MS` at the latest) instead of a fixed delay; after that frame they go one at a time, each
 * after the previous one's ack, so a store that just came back is not handed the whole backlog at once.
 */
import type { AckFrame, CommandAckFrame, ErrorFrame, MessageFrame } from "../hub/protocol.ts";
import type { Timers } from "./clock.ts";
import type { Outbox, OutboxEntry } from "./outbox.ts";

/** An own message the server has not confirmed as stored and broadcast yet. */
export interface PendingMessage extends OutboxEntry {
  /** sending: no answer yet; sent: acknowledged, its broadcast not seen yet; failed: refused for good. */
  state: "sending" | "sent" | "failed";
  /** Why the server refused it (failed only). */
  error?: string;
}

interface Pending extends PendingMessage {
  /** Written to the outbox (or the write failed): only then is it sent. */
  saved: boolean;
  /** The connection it was last sent on (0: none): sent once per connection, and again after a retryable error. */
  sentOn: number;
  /** Refused with `store_unavailable`: sent again at `storeAvailable()` (or its fallback timer). */
  awaitingStore: boolean;
}

export interface OutgoingOptions {
  openOutbox: () => Promise<Outbox>;
  timers: Timers;
  /** The connection on which a room's messages may go now (open, the room resumed), or 0 when they may not. */
  sendable(roomId: string): number;
  send(frame: MessageFrame): boolean;
  /** The pending messages of `roomId` changed. */
  changed(roomId: string): void;
}

/** How long a frame refused with a retryable error waits before it is sent again, when the server names no delay. */
export const RETRY_MS = 1_000;
/**
 * How long a message refused with `store_unavailable` waits at most for the server's `store_available` frame
 * (which normally comes first) before it is sent again anyway.
 */
export const STORE_RETRY_MS = 15_000;

const byCreation = (a: OutboxEntry, b: OutboxEntry) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0;

export class Outgoing {
  readonly #options: OutgoingOptions;
  readonly #pending = new Map<string, Pending>();
  /** Rooms whose outbox entries were read: their new messages go after those. */
  readonly #loaded = new Set<string>();
  #outbox: Promise<Outbox> | null = null;
  /** The store is back (`store_available`, and no refusal since): held messages go, one at a time. */
  #storeBack = false;
  /** The held message sent last after `store_available`, until its answer. */
  #resending: string | null = null;

  constructor(options: OutgoingOptions) {
    this.#options = options;
  }

  /** A room's pending messages, oldest first (copies). */
  of(roomId: string): PendingMessage[] {
    return [...this.#pending.values()].filter((p) => p.room_id === roomId).sort(byCreation)
      .map(({ client_id, room_id, content, created_at, state, error }) => ({
        client_id,
        room_id,
        content,
        created_at,
        state,
        ...(error === undefined ? {} : { error }),
      }));
  }

  /**
   * Shows the outbox's entries of a room (from an earlier page) as pending; those the server has stored (their
   * `client_id` in `stored()`) leave it. Then sends what the room may send.
   */
  async load(roomId: string, stored: () => Set<string>): Promise<void> {
    try {
      const entries = await (await this.#box()).list(roomId);
      const done = stored();
      for (const entry of entries) {
        if (done.has(entry.client_id)) this.#forget(entry.client_id);
        else if (!this.#pending.has(entry.client_id)) {
          this.#pending.set(entry.client_id, {
            ...entry,
            state: "sending",
            saved: true,
            sentOn: 0,
            awaitingStore: false,
          });
        }
      }
    } catch {
      // No outbox to read: nothing from earlier pages.
    }
    this.#loaded.add(roomId);
    this.#options.changed(roomId);
    this.flush(roomId);
  }

  /** A new message: shown at once, into the outbox, then onto the socket. */
  add(entry: OutboxEntry): void {
    const p: Pending = { ...entry, state: "sending", saved: false, sentOn: 0, awaitingStore: false };
    this.#pending.set(entry.client_id, p);
    this.#options.changed(entry.room_id);
    // A failed write still sends: the message is then kept in memory only.
    this.#box().then((o) => o.put(entry)).catch(() => {}).finally(() => {
      p.saved = true;
      this.#send(p);
    });
  }

  /** Sends the room's pending messages that were not sent on this connection, oldest first. */
  flush(roomId: string): void {
    for (const p of [...this.#pending.values()].sort(byCreation)) if (p.room_id === roomId) this.#send(p);
  }

  /** The message's broadcast arrived: it is stored, so it leaves the pending list and the outbox. */
  settle(clientId: string): void {
    const p = this.#pending.get(clientId);
    if (!p) return;
    this.#pending.delete(clientId);
    this.#forget(clientId);
    this.#options.changed(p.room_id);
  }

  /**
   * The server stored the message (or queued a command). It leaves the outbox; it stays shown as sent while its
   * broadcast is still to come (`lastSeq` below its seq): then this returns true.
   */
  acked(frame: AckFrame | CommandAckFrame, lastSeq: number): boolean {
    const p = frame.client_id ? this.#pending.get(frame.client_id) : undefined;
    if (!p) return false;
    this.#forget(p.client_id);
    // A command (`/stock=…`) is not stored: done once queued; its bot's answer arrives as a message.
    const awaited = !("job_id" in frame) && frame.seq > lastSeq;
    if (awaited) p.state = "sent";
    else this.#pending.delete(p.client_id);
    this.#options.changed(p.room_id);
    if (this.#resending === p.client_id) {
      this.#resending = null;
      this.#resendHeld();
    }
    return awaited;
  }

  /** An error frame about a message: sent again later when retryable, otherwise failed. */
  refused(frame: ErrorFrame): void {
    const p = frame.client_id ? this.#pending.get(frame.client_id) : undefined;
    if (!p) return;
    if (this.#resending === p.client_id) this.#resending = null;
    if (frame.retryable && frame.code === "store_unavailable") {
      this.#storeBack = false;
      p.sentOn = 0;
      p.awaitingStore = true;
      this.#options.changed(p.room_id);
      this.#options.timers.after(Math.max(frame.retry_after_ms ?? 0, STORE_RETRY_MS), () => {
        if (p.awaitingStore) this.#send(p);
      });
      return;
    }
    if (frame.retryable) {
      p.sentOn = 0;
      this.#options.timers.after(frame.retry_after_ms ?? RETRY_MS, () => this.#send(p));
      this.#resendHeld();
      return;
    }
    this.#resendHeld();
    p.state = "failed";
    p.error = frame.message;
    this.#options.changed(p.room_id);
  }

  /** Whether a message waits because the server could not store it (`store_unavailable`): the page says why. */
  get awaitingStore(): boolean {
    for (const p of this.#pending.values()) if (p.awaitingStore) return true;
    return false;
  }

  /**
   * The server says its store is back (`store_available`): the messages refused with `store_unavailable` go
   * again, with their `client_id` (so none is stored twice), oldest first and one at a time: the next when the
   * previous one is acknowledged.
   */
  storeAvailable(): void {
    this.#storeBack = true;
    if (this.#resending === null) this.#resendHeld();
  }

  /** Sends the oldest message still waiting for the store, while it is back and none is on its way. */
  #resendHeld(): void {
    if (!this.#storeBack || this.#resending !== null) return;
    for (const p of [...this.#pending.values()].sort(byCreation)) {
      if (!p.awaitingStore) continue;
      this.#send(p);
      if (!p.awaitingStore) {
        this.#resending = p.client_id;
        return;
      }
    }
  }

  /** The text of a pending message; null when there is none with this id. */
  contentOf(clientId: string): string | null {
    return this.#pending.get(clientId)?.content ?? null;
  }

  /** Drops a message (a failed one, which the user gave up on) from the page and the outbox. */
  discard(clientId: string): void {
    const p = this.#pending.get(clientId);
    if (!p) return;
    this.#pending.delete(clientId);
    this.#forget(clientId);
    this.#options.changed(p.room_id);
  }

  /** Sends a message once per connection, after its room's resume and outbox load. */
  #send(p: Pending): void {
    if (!this.#loaded.has(p.room_id) || !p.saved || p.state !== "sending") return;
    const connection = this.#options.sendable(p.room_id);
    if (connection === 0 || this.#pending.get(p.client_id) !== p || p.sentOn === connection) return;
    const frame: MessageFrame = {
      type: "message",
      room_id: p.room_id,
      content: p.content,
      client_id: p.client_id,
    };
    if (this.#options.send(frame)) {
      p.sentOn = connection;
      p.awaitingStore = false;
    }
  }

  #box(): Promise<Outbox> {
    return this.#outbox ??= this.#options.openOutbox();
  }

  #forget(clientId: string): void {
    this.#box().then((o) => o.delete(clientId)).catch(() => {});
  }
}

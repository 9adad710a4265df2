/**
 * A test client that behaves like a careful real one: it keeps every message it has per room by `seq`, and
 * after every (re)connect it catches up from its last seq over REST; sends carry a `client_id` and are retried
 * until acked. Used to check exactly-once, in-order delivery across instances and failures.
 */
import type { ChatMessage } from "../../lib/hub/protocol.ts";

export interface ChatClientOptions {
  /** Where to connect (usually nginx). */
  wsUrl: string;
  /** REST base for catch-up (usually nginx). */
  httpUrl: string;
  token: string;
  rooms: string[];
}

type Frame = Record<string, unknown>;

export class ChatClient {
  /** Messages per room by seq. */
  readonly received = new Map<string, Map<number, ChatMessage>>();
  /** How often a live frame repeated a seq already held (must stay 0). */
  duplicates = 0;
  /** Live frames that arrived with a seq lower than one already seen live (must stay 0). */
  outOfOrder = 0;
  readonly acked = new Map<string, { id: string; seq: number; room_id: string }>();
  connects = 0;
  #ws: WebSocket | null = null;
  #closed = false;
  #unacked = new Map<string, { room_id: string; content: string }>();
  #lastLive = new Map<string, number>();
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  #ready = false;

  constructor(readonly options: ChatClientOptions) {
    for (const room of options.rooms) this.received.set(room, new Map());
  }

  /** Connects and resolves once subscribed (first pong) and caught up. */
  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${this.options.wsUrl}?token=${this.options.token}`);
      this.#ws = ws;
      this.#ready = false;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        ws.send(JSON.stringify({ type: "ping" }));
      };
      ws.onmessage = async (event) => {
        const frame = JSON.parse(event.data) as Frame;
        if (frame.type === "pong" && !this.#ready) {
          this.#ready = true;
          this.connects++;
          try {
            await this.catchUp();
            this.#resend();
            resolve();
          } catch (error) {
            reject(error);
          }
          return;
        }
        this.#onFrame(frame);
      };
      ws.onclose = () => {
        this.#ready = false;
        if (!opened) reject(new Error("WebSocket closed before opening"));
        if (!this.#closed && opened) this.#reconnectSoon();
      };
      ws.onerror = () => {};
    });
  }

  /** Loads every message after the last held seq, per room, from the REST API. */
  async catchUp(): Promise<void> {
    for (const room of this.options.rooms) {
      while (true) {
        const after = this.lastSeq(room);
        const res = await fetch(
          `${this.options.httpUrl}/api/rooms/${room}/messages?after_seq=${after}&limit=100`,
          {
            headers: { authorization: `Bearer ${this.options.token}` },
          },
        );
        if (!res.ok) throw new Error(`catch-up failed: ${res.status} ${await res.text()}`);
        const page = await res.json() as { messages: ChatMessage[] };
        for (const m of page.messages) this.received.get(room)!.set(m.seq, m);
        this.#notify();
        if (page.messages.length < 100) break;
      }
    }
  }

  /** Highest seq such that every seq from 1 up to it is held. */
  lastSeq(room: string): number {
    const held = this.received.get(room)!;
    let seq = 0;
    while (held.has(seq + 1)) seq++;
    return seq;
  }

  send(room: string, content: string): string {
    const clientId = crypto.randomUUID();
    this.#unacked.set(clientId, { room_id: room, content });
    this.#sendFrame({ type: "message", room_id: room, content, client_id: clientId });
    return clientId;
  }

  get unacked(): number {
    return this.#unacked.size;
  }

  /** Resolves when `check()` holds; fails after `timeoutMs`. */
  until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push({ check, resolve: done });
    });
  }

  close(): void {
    this.#closed = true;
    this.#ws?.close();
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }

  #sendFrame(frame: Frame): void {
    if (this.#ready && this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }

  #resend(): void {
    for (const [clientId, { room_id, content }] of this.#unacked) {
      this.#sendFrame({ type: "message", room_id, content, client_id: clientId });
    }
  }

  #onFrame(frame: Frame): void {
    if (frame.type === "ack") {
      const clientId = frame.client_id as string;
      if (this.#unacked.delete(clientId)) {
        this.acked.set(clientId, {
          id: frame.id as string,
          seq: frame.seq as number,
          room_id: frame.room_id as string,
        });
      }
      this.#notify();
      return;
    }
    if (frame.type === "error" && frame.retryable && typeof frame.client_id === "string") {
      setTimeout(() => this.#resend(), 200);
      return;
    }
    if (frame.type !== "text" && frame.type !== "system") return;
    const m = frame as unknown as ChatMessage;
    const held = this.received.get(m.room_id);
    if (!held) return;
    if (held.has(m.seq)) {
      // Live copies of what a catch-up already brought are expected; a second LIVE copy is a duplicate.
      if ((this.#lastLive.get(m.room_id) ?? 0) >= m.seq) this.duplicates++;
    }
    const last = this.#lastLive.get(m.room_id) ?? 0;
    if (m.seq < last) this.outOfOrder++;
    this.#lastLive.set(m.room_id, Math.max(last, m.seq));
    held.set(m.seq, m);
    if (m.seq > this.lastSeq(m.room_id) + 1) this.catchUp().catch(() => {});
    this.#notify();
  }

  #reconnectSoon(): void {
    const attempt = async (delay: number) => {
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
      if (this.#closed) return;
      try {
        await this.connect();
      } catch {
        await attempt(Math.min(delay * 2, 2_000));
      }
    };
    attempt(100);
  }

  #notify(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }
}

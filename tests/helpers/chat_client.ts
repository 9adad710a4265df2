/**
 * A test client that behaves like a careful real one: it keeps every message it has per room by `seq`, and
 * after every (re)connect it catches up from its last seq, over REST (the default) or with the WebSocket
 * `resume` frame (`catchUp: "resume"`); sends carry a `client_id` and are retried until acked. Used to check
 * exactly-once, in-order delivery across instances and failures.
 */
import type { ChatMessage } from "../../lib/hub/protocol.ts";

export interface ChatClientOptions {
  /** Where to connect (usually nginx). */
  wsUrl: string;
  /** REST base for catch-up (usually nginx). */
  httpUrl: string;
  token: string;
  rooms: string[];
  /**
   * How to catch up after each (re)connect: `"rest"` (default) pages through `GET /api/rooms/:id/messages`
   * after the first pong; `"resume"` sends `{type:"resume", rooms:{room: lastSeq}}` on open (again with each
   * `resumed.more`, page after page) and is ready at the last `resumed`, never calling REST. In `"resume"` mode every repeated seq counts as a duplicate and every hole
   * the server leaves in the stream as a gap.
   */
  catchUp?: "rest" | "resume";
  /**
   * `"resume"` mode only: on a jump in a room's live stream, send `resume` on the open socket from the last seq
   * held without a hole, as the web client does (and again at `resumed` while a hole is left). Jumps are then
   * counted in `jumps`, not `gaps`, and each such resume is recorded in `openResumes`.
   */
  resumeOnGap?: boolean;
}

/** A resume sent on an open socket (`resumeOnGap`) and how it ended. */
export interface OpenResume {
  room: string;
  /** The `last_seq` sent. */
  from: number;
  /** `performance.now()` when sent, and when its `resumed` came. */
  sentAt: number;
  resumedAt?: number;
  /** The `resumed` frame's seq for the room. */
  to?: number;
  /** At `resumed`: every seq up to `to` was held (no hole left below what the server said it sent). */
  complete?: boolean;
}

type Frame = Record<string, unknown>;

export class ChatClient {
  /** Messages per room by seq. */
  readonly received = new Map<string, Map<number, ChatMessage>>();
  /**
   * How often a live frame repeated a seq already held (must stay 0). In `"resume"` mode: any stored frame,
   * live or backfilled, whose seq was already held (past a hole nothing counts as held: a resume asks for it
   * again).
   */
  duplicates = 0;
  /** The seq of each duplicate, in arrival order. */
  readonly duplicateSeqs: number[] = [];
  /**
   * Live frames that arrived with a seq lower than one already seen live (must stay 0). In `"resume"` mode:
   * frames after `resumed` that filled a hole below the highest seq held.
   */
  outOfOrder = 0;
  /**
   * `"resume"` mode only: holes the server left in a stream (must stay 0): at `resumed`, seqs held beyond the
   * contiguous range; after it, a frame that skips seqs.
   */
  gaps = 0;
  /** `resumeOnGap` only: live frames that skipped seqs (each answered with a resume on the open socket). */
  jumps = 0;
  /** `resumeOnGap` only: every resume sent on an open socket, in order. */
  readonly openResumes: OpenResume[] = [];
  /** `reset` frames received (retention cut a resume's gap short). */
  resets = 0;
  /** REST catch-up requests made (always 0 in `"resume"` mode). */
  restRequests = 0;
  /** Per room, the seq of every stored frame in arrival order (live and backfill, across connections). */
  readonly arrivals = new Map<string, number[]>();
  /** The `rooms` of the last resume on connecting (of all its `resumed` frames, when it came in pages). */
  lastResumed: Record<string, number> | null = null;
  /** `resumed` frames that named rooms left (`more`), over every connection. */
  resumePages = 0;
  /** Resumes sent again while connecting because the server could not resume a room (an error frame). */
  resumeRetries = 0;
  readonly acked = new Map<string, { id: string; seq: number; room_id: string }>();
  connects = 0;
  #ws: WebSocket | null = null;
  #closed = false;
  #unacked = new Map<string, { room_id: string; content: string }>();
  #lastLive = new Map<string, number>();
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  #ready = false;
  /** Per room, a seq up to which every seq is held (grows only: only seqs past it are ever dropped). */
  #contiguous = new Map<string, number>();
  #maxHeld = new Map<string, number>();
  /** Rooms with a resume on the open socket under way (`resumeOnGap`). */
  #resuming = new Set<string>();

  constructor(readonly options: ChatClientOptions) {
    for (const room of options.rooms) {
      this.received.set(room, new Map());
      this.arrivals.set(room, []);
    }
  }

  /**
   * Connects and resolves once subscribed and caught up (first pong then REST, or `resumed`). May be called
   * again after `close()`, also with another `options.wsUrl`, to come back with everything held so far.
   */
  async connect(): Promise<void> {
    this.#closed = false;
    const resume = this.options.catchUp === "resume";
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(
        `${this.options.wsUrl}?token=${this.options.token}${resume ? "&resume=1" : ""}`,
      );
      this.#ws = ws;
      this.#ready = false;
      let opened = false;
      let pages: Record<string, number> = {};
      /** The rooms of the last resume sent while connecting. */
      let asked: Record<string, number> = {};
      ws.onopen = () => {
        opened = true;
        if (resume) {
          const rooms = Object.fromEntries(this.options.rooms.map((room) => [room, this.#resumePoint(room)]));
          asked = rooms;
          ws.send(JSON.stringify({ type: "resume", rooms }));
        } else {
          ws.send(JSON.stringify({ type: "ping" }));
        }
      };
      ws.onmessage = async (event) => {
        const frame = JSON.parse(event.data) as Frame;
        if (resume && frame.type === "resumed" && this.#ready) {
          this.#onOpenResumed(frame.rooms as Record<string, number>, frame.more as Record<string, number>);
          return;
        }
        if (resume && frame.type === "resumed" && !this.#ready) {
          const answered = frame.rooms as Record<string, number>;
          pages = { ...pages, ...answered };
          if (frame.more !== undefined) {
            // The resume stopped at its bound: ask for the next page, from where it stopped.
            this.resumePages++;
            asked = frame.more as Record<string, number>;
            ws.send(JSON.stringify({ type: "resume", rooms: asked }));
            return;
          }
          // A room the server could not resume (an error frame came for it, e.g. a store timeout): ask again,
          // from what is held, as the web client does.
          const failed = Object.keys(asked).filter((room) => !(room in answered));
          if (failed.length > 0 && this.resumeRetries < 20) {
            this.resumeRetries++;
            asked = Object.fromEntries(failed.map((room) => [room, this.lastSeq(room)]));
            setTimeout(() => {
              if (this.#ws === ws && ws.readyState === WebSocket.OPEN) {
                ws.send(JSON.stringify({ type: "resume", rooms: asked }));
              }
            }, 200);
            return;
          }
          this.#onResumed(pages);
          this.#ready = true;
          this.connects++;
          this.#resend();
          this.#notify();
          resolve();
          return;
        }
        if (!resume && frame.type === "pong" && !this.#ready) {
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
        // Only the current socket reconnects: an old one closing late (after connect() was called again)
        // must not open a second one.
        if (this.#ws !== ws) return;
        this.#ready = false;
        this.#resuming.clear();
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
        this.restRequests++;
        const res = await fetch(
          `${this.options.httpUrl}/api/rooms/${room}/messages?after_seq=${after}&limit=100`,
          {
            headers: { authorization: `Bearer ${this.options.token}` },
          },
        );
        if (!res.ok) throw new Error(`catch-up failed: ${res.status} ${await res.text()}`);
        const page = await res.json() as { messages: ChatMessage[] };
        for (const m of page.messages) this.#hold(m);
        this.#notify();
        if (page.messages.length < 100) break;
      }
    }
  }

  /** Highest seq such that every seq from 1 up to it is held. */
  lastSeq(room: string): number {
    const held = this.received.get(room)!;
    let seq = this.#contiguous.get(room) ?? 0;
    while (held.has(seq + 1)) seq++;
    this.#contiguous.set(room, seq);
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
    if (frame.type === "reset") {
      this.resets++;
      return;
    }
    if (frame.type !== "text" && frame.type !== "system") return;
    const m = frame as unknown as ChatMessage;
    const held = this.received.get(m.room_id);
    if (!held) return;
    this.arrivals.get(m.room_id)!.push(m.seq);
    if (this.options.catchUp === "resume") {
      this.#onStoredResumed(m, held);
      return;
    }
    if (held.has(m.seq)) {
      // Live copies of what a catch-up already brought are expected; a second LIVE copy is a duplicate.
      if ((this.#lastLive.get(m.room_id) ?? 0) >= m.seq) {
        this.duplicates++;
        this.duplicateSeqs.push(m.seq);
      }
    }
    const last = this.#lastLive.get(m.room_id) ?? 0;
    if (m.seq < last) this.outOfOrder++;
    this.#lastLive.set(m.room_id, Math.max(last, m.seq));
    this.#hold(m);
    if (m.seq > this.lastSeq(m.room_id) + 1) this.catchUp().catch(() => {});
    this.#notify();
  }

  /**
   * A stored frame in `"resume"` mode. Before `resumed` frames may come out of order (live frames sent
   * between subscribing and the resume, then the backfill skipping them); after it each must be the next seq.
   */
  #onStoredResumed(m: ChatMessage, held: Map<number, ChatMessage>): void {
    let jumped = false;
    if (held.has(m.seq)) {
      this.duplicates++;
      this.duplicateSeqs.push(m.seq);
    } else if (this.#ready && !this.#resuming.has(m.room_id)) {
      // During a resume on the open socket, frames filling the hole come below the highest seq held.
      if (m.seq < (this.#maxHeld.get(m.room_id) ?? 0)) this.outOfOrder++;
      else if (m.seq !== this.lastSeq(m.room_id) + 1) {
        if (this.options.resumeOnGap) jumped = true;
        else this.gaps++;
      }
    }
    this.#hold(m);
    if (jumped) {
      this.jumps++;
      this.#resumeOpen(m.room_id);
    }
    this.#notify();
  }

  /** Sends `resume` for `room` on the open socket from the last seq held without a hole. */
  #resumeOpen(room: string): void {
    if (this.#resuming.has(room) || this.#ws?.readyState !== WebSocket.OPEN) return;
    const from = this.lastSeq(room);
    this.#resuming.add(room);
    this.openResumes.push({ room, from, sentAt: performance.now() });
    this.#ws.send(JSON.stringify({ type: "resume", rooms: { [room]: from } }));
  }

  #onOpenResumed(rooms: Record<string, number>, more: Record<string, number> | undefined): void {
    if (more !== undefined) {
      // The rooms left stay resuming: their next page, from where the resume stopped.
      this.resumePages++;
      this.#ws?.send(JSON.stringify({ type: "resume", rooms: more }));
    }
    for (const [room, to] of Object.entries(rooms)) {
      if (more?.[room] !== undefined || !this.#resuming.delete(room)) continue;
      const record = this.openResumes.findLast((r) => r.room === room && r.resumedAt === undefined);
      if (record !== undefined) {
        record.resumedAt = performance.now();
        record.to = to;
        record.complete = this.lastSeq(room) >= to;
      }
      // A hole is still there (what came live during the resume is past it): ask again.
      if ((this.#maxHeld.get(room) ?? 0) > this.lastSeq(room)) this.#resumeOpen(room);
    }
    this.#notify();
  }

  /**
   * Where a resume of `room` starts: the last seq of the contiguous range held. Anything held past a hole (a
   * connection cut mid-resume) is dropped, since the resume sends it again.
   */
  #resumePoint(room: string): number {
    const last = this.lastSeq(room);
    const held = this.received.get(room)!;
    for (let seq = last + 1; seq <= (this.#maxHeld.get(room) ?? 0); seq++) held.delete(seq);
    this.#maxHeld.set(room, last);
    return last;
  }

  #onResumed(rooms: Record<string, number>): void {
    this.lastResumed = rooms;
    for (const room of Object.keys(rooms)) {
      if (!this.received.has(room)) continue;
      // Everything up to the resume's end has arrived, with no hole left behind.
      if ((this.#maxHeld.get(room) ?? 0) !== this.lastSeq(room) || this.lastSeq(room) < rooms[room]) {
        this.gaps++;
      }
    }
  }

  #hold(m: ChatMessage): void {
    this.received.get(m.room_id)!.set(m.seq, m);
    this.#maxHeld.set(m.room_id, Math.max(this.#maxHeld.get(m.room_id) ?? 0, m.seq));
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

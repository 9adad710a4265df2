/** WebSocket clients for integration tests: one that records frames, one that speaks raw HTTP. */

// deno-lint-ignore no-explicit-any
export type Frame = Record<string, any>;
type Predicate = (frame: Frame) => boolean;

interface Waiter {
  predicate: Predicate;
  from: number;
  resolve: (frame: Frame) => void;
}

/** A real WebSocket that records every frame it receives, parsed. */
export class TestSocket {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #ws: WebSocket;
  #waiters: Waiter[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.closed = new Promise((resolve) => {
      ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason }));
    });
    ws.addEventListener("message", (e) => {
      const frame = typeof e.data === "string" ? JSON.parse(e.data) : { binary: true };
      this.frames.push(frame);
      const index = this.frames.length - 1;
      this.#waiters = this.#waiters.filter((w) => {
        if (index >= w.from && w.predicate(frame)) {
          w.resolve(frame);
          return false;
        }
        return true;
      });
    });
  }

  /** Opens a socket; rejects when the server refuses the upgrade. */
  static open(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}) {
    // Deno's WebSocket takes an options bag (protocols and headers); the DOM typings only know protocols.
    const DenoWebSocket = WebSocket as unknown as new (url: string, options: unknown) => WebSocket;
    const ws = new DenoWebSocket(url, { protocols: options.protocols, headers: options.headers });
    const socket = new TestSocket(ws);
    return new Promise<TestSocket>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(socket), { once: true });
      ws.addEventListener("error", () => reject(new Error(`WebSocket to ${url} failed`)), { once: true });
    });
  }

  get protocol(): string {
    return this.#ws.protocol;
  }

  send(frame: Frame | string): void {
    this.#ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  sendBinary(data: Uint8Array): void {
    this.#ws.send(data);
  }

  /**
   * The first frame (received at index `from` or later) that matches; waits for it up to `timeoutMs`.
   * `from` defaults to 0: frames that already arrived count.
   */
  waitFor(
    predicate: Predicate,
    what: string,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<Frame> {
    const from = options.from ?? 0;
    const found = this.frames.slice(from).find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    const { promise, resolve, reject } = Promise.withResolvers<Frame>();
    const timeoutMs = options.timeoutMs ?? 5_000;
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
      reject(
        new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.frames)}`),
      );
    }, timeoutMs);
    const done = (frame: Frame) => {
      clearTimeout(timer);
      resolve(frame);
    };
    this.#waiters.push({ predicate, from, resolve: done });
    return promise;
  }

  /** Sends a ping and waits for its pong: every frame the server sent before it has then arrived. */
  async sync(): Promise<void> {
    const from = this.frames.length;
    this.send({ type: "ping" });
    await this.waitFor((f) => f.type === "pong", "pong", { from });
  }

  count(predicate: Predicate): number {
    return this.frames.filter(predicate).length;
  }

  async close(): Promise<void> {
    if (this.#ws.readyState !== WebSocket.CLOSED) this.#ws.close();
    await this.closed;
  }
}

export interface RawResponse {
  status: number;
  head: string;
  body: string;
  conn: Deno.TcpConn;
}

/**
 * Sends a WebSocket upgrade request by hand and reads the HTTP answer, to see a refusal's status and JSON body
 * (a browser-style client only reports "failed"). On 101 the connection stays open and is returned.
 */
export async function rawUpgrade(port: number, path: string, headers: Record<string, string> = {}) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    `Sec-WebSocket-Key: ${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))))}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(65_536);
  while (true) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const head = text.slice(0, end);
      const status = Number(head.split(" ")[1]);
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (status === 101 || text.length - end - 4 >= length) {
        const body = text.slice(end + 4, end + 4 + length);
        if (status !== 101) conn.close();
        return { status, head, body, conn } satisfies RawResponse;
      }
    }
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`Connection closed before a full response: ${text}`);
    text += decoder.decode(buffer.subarray(0, n));
  }
}

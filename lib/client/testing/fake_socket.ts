/**
 * A WebSocket for chat client tests, played by the test: it records what the client sends (parsed), and the
 * test opens it, delivers server frames and closes it from the far end. Events fire synchronously.
 *
 * @example
 * const sockets = new FakeSockets();
 * const client = new ChatClient({ me, url: "ws://test/ws", openSocket: sockets.open, ... });
 * client.connect();
 * sockets.last.accept();
 * assert.deepEqual(sockets.last.take(), [{ type: "resume", rooms: { r1: 3 } }]);
 * sockets.last.receive({ type: "resumed", rooms: { r1: 3 } });
 */
import type { ClientFrame, ServerFrame } from "../../hub/protocol.ts";
import { OPEN, type SocketLike } from "../connection.ts";

const CONNECTING = 0;
const CLOSED = 3;

export class FakeSocket implements SocketLike {
  readyState = CONNECTING;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  /** Frames the client sent and the test has not taken yet. */
  #sent: ClientFrame[] = [];
  /** Whether the client closed it. */
  closedByClient = false;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== OPEN) throw new Error("send() on a socket that is not open");
    this.#sent.push(JSON.parse(data));
  }

  close(): void {
    if (this.readyState === CLOSED) return;
    this.closedByClient = true;
    this.#closed(1005);
  }

  /** The server accepts the connection. */
  accept(): void {
    this.readyState = OPEN;
    this.onopen?.(new Event("open"));
  }

  /** The server sends these frames, in order. */
  receive(...frames: ServerFrame[]): void {
    for (const frame of frames) {
      this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(frame) }));
    }
  }

  /** The connection ends from the far end (the server went away, or the network). */
  drop(code = 1006): void {
    if (this.readyState !== CLOSED) this.#closed(code);
  }

  /** The frames sent since the last `take()`. */
  take(): ClientFrame[] {
    const sent = this.#sent;
    this.#sent = [];
    return sent;
  }

  #closed(code: number): void {
    this.readyState = CLOSED;
    this.onclose?.(new CloseEvent("close", { code }));
  }
}

/** Makes `FakeSocket`s (pass `open` as the client's `openSocket`) and keeps every one made. */
export class FakeSockets {
  readonly all: FakeSocket[] = [];

  readonly open = (url: string): FakeSocket => {
    const socket = new FakeSocket(url);
    this.all.push(socket);
    return socket;
  };

  /** The socket made last. */
  get last(): FakeSocket {
    const socket = this.all.at(-1);
    if (!socket) throw new Error("No socket was opened");
    return socket;
  }
}

/**
 * The chat client's one WebSocket: opens it, parses the server's frames, and reconnects with exponential
 * backoff and jitter whenever it closes; the network going away closes it at once, its return reconnects at
 * once. Knows nothing of rooms: the owner sends the first frames on `open` and says when the connection is
 * usable (`connected()`), which also resets the backoff. The owner may hold a closed connection (its sign-in
 * must be renewed first: `release()` reconnects) or stop it for good (its session ended).
 */
import type { ClientFrame, ServerFrame } from "../hub/protocol.ts";
import type { Timers } from "./clock.ts";

/** What the page shows about the connection; `signed_out`: stopped for good, the session ended. */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "offline" | "signed_out";

/** What to do once the socket closed: reconnect after the backoff, or wait for `release()`. */
export type AfterClose = "retry" | "hold";

/** The part of the browser's `WebSocket` the client uses (a fake one in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Whether the browser thinks it is online, and its `online`/`offline` events (the window in a page). */
export interface Network {
  readonly onLine: boolean;
  addEventListener(type: "online" | "offline", listener: () => void): void;
  removeEventListener(type: "online" | "offline", listener: () => void): void;
}

/** `WebSocket.OPEN`, which need not exist where the client is tested. */
export const OPEN = 1;
const BACKOFF_BASE_MS = 500;
/**
 * The longest wait between attempts: a page is back at most this long after the server answers again. Low,
 * because a refused connection costs the server next to nothing, and the jitter spreads a restart's reconnects.
 */
const BACKOFF_MAX_MS = 1_500;

/** Delay before reconnect attempt `n` (from 0): exponential with "equal jitter", capped at 1.5 s. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return ceiling / 2 + random() * ceiling / 2;
}

/** The browser's network: `navigator.onLine` and the window's events. */
export function browserNetwork(): Network {
  return {
    get onLine() {
      return navigator.onLine;
    },
    addEventListener: (type, listener) => addEventListener(type, listener),
    removeEventListener: (type, listener) => removeEventListener(type, listener),
  };
}

export interface ConnectionOptions {
  url: string;
  openSocket: (url: string) => SocketLike;
  network: Network;
  timers: Timers;
  random: () => number;
  /** A new socket is open: send its first frames now. */
  onOpen(): void;
  onFrame(frame: ServerFrame): void;
  /** The socket closed with `code`: reconnect by itself (`retry`), or wait for `release()` (`hold`). */
  onClose(code: number): AfterClose;
  onStatus(status: ConnectionStatus): void;
}

export class Connection {
  #status: ConnectionStatus = "connecting";
  #socket: SocketLike | null = null;
  #attempt = 0;
  #retry: number | undefined;
  #stopped = false;
  /** Closed, and waiting for `release()` rather than for a timer. */
  #held = false;
  /** Counts opened sockets: what was done on one socket is not mistaken for the next. */
  #generation = 0;
  readonly #options: ConnectionOptions;

  constructor(options: ConnectionOptions) {
    this.#options = options;
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  /** The number of the socket open now; 0 before the first opens. */
  get generation(): number {
    return this.#generation;
  }

  get open(): boolean {
    return this.#socket?.readyState === OPEN;
  }

  /** Closed and waiting for `release()`. */
  get held(): boolean {
    return this.#held;
  }

  start(): void {
    const { network } = this.#options;
    network.addEventListener("online", this.#reconnectNow);
    network.addEventListener("offline", this.#wentOffline);
    this.#connect();
  }

  /** Closes the socket for good; `status` says `signed_out` when its session ended. */
  stop(status?: "signed_out"): void {
    this.#stopped = true;
    this.#held = false;
    if (status) this.#setStatus(status);
    this.#options.timers.cancel(this.#retry);
    this.#options.network.removeEventListener("online", this.#reconnectNow);
    this.#options.network.removeEventListener("offline", this.#wentOffline);
    this.#socket?.close();
  }

  /** Sends a frame on the open socket; false when there is none. */
  send(frame: ClientFrame): boolean {
    if (!this.open) return false;
    this.#socket!.send(JSON.stringify(frame));
    return true;
  }

  /** The socket is usable (its first resume was answered): status `connected`, backoff from the start. */
  connected(): void {
    this.#attempt = 0;
    this.#setStatus("connected");
  }

  #connect(): void {
    const previous = this.#socket;
    if (previous) {
      previous.onopen = previous.onclose = previous.onmessage = null;
      previous.close();
    }
    const socket = this.#options.openSocket(this.#options.url);
    this.#socket = socket;
    socket.onopen = () => {
      this.#generation++;
      this.#options.onOpen();
    };
    socket.onmessage = (event) => this.#options.onFrame(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.#socket !== socket || this.#stopped) return;
      this.#socket = null;
      const after = this.#options.onClose(event.code);
      if (this.#stopped) return;
      this.#setStatus(this.#options.network.onLine ? "reconnecting" : "offline");
      if (after === "hold") {
        this.#held = true;
        return;
      }
      this.#retry = this.#options.timers.after(backoff(this.#attempt++, this.#options.random), () => {
        this.#retry = undefined;
        this.#connect();
      });
    };
  }

  /** Reconnects at once when there is no open socket (a "retry now"); a held connection stays held. */
  reconnectNow(): void {
    this.#reconnectNow();
  }

  /** Reconnects a held connection now (its sign-in was renewed); no effect on one that is not held. */
  release(): void {
    if (!this.#held || this.#stopped) return;
    this.#held = false;
    this.#connect();
  }

  /** The network's return: reconnects at once, unless held (a renewal's success releases it). */
  readonly #reconnectNow = (): void => {
    if (this.open || this.#stopped || this.#held) return;
    this.#options.timers.cancel(this.#retry);
    this.#retry = undefined;
    this.#connect();
  };

  /** The network is gone: the socket is dead, whether or not the browser has noticed. */
  readonly #wentOffline = (): void => {
    this.#setStatus("offline");
    this.#socket?.close();
  };

  #setStatus(status: ConnectionStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#options.onStatus(status);
  }
}

import type { ServerFrame } from "./protocol.ts";
import type { Transport } from "./transport.ts";

/** Who a socket belongs to. */
export interface Identity {
  userId: string;
  username: string;
  /** A room to join when the socket opens (the `room_id` of the connect URL). */
  roomId?: string;
}

/**
 * One connected socket: who it is, which rooms it receives, and a queue that runs its frames one at a time so
 * that a client's messages are stored in the order it sent them.
 */
export class Client {
  readonly rooms = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  #closed = false;

  constructor(
    readonly id: string,
    readonly identity: Identity,
    readonly transport: Transport,
    readonly onOverflow: (client: Client) => void,
    readonly maxBuffered: number,
  ) {}

  get userId(): string {
    return this.identity.userId;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a frame's text; a socket whose backlog passes `maxBuffered` is handed to `onOverflow`. */
  send(data: string): void {
    if (this.#closed) return;
    this.transport.send(data);
    if (this.transport.buffered > this.maxBuffered) this.onOverflow(this);
  }

  sendFrame(frame: ServerFrame): void {
    this.send(JSON.stringify(frame));
  }

  /** Runs `task` after every task enqueued before it; the returned promise settles with it. */
  enqueue(task: () => Promise<void>): Promise<void> {
    this.#pending++;
    const run = this.#queue.then(task).finally(() => this.#pending--);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Tasks enqueued and not yet settled. */
  get pending(): number {
    return this.#pending;
  }

  /** Settles once every enqueued task has. */
  idle(): Promise<void> {
    return this.#queue;
  }

  markClosed(): void {
    this.#closed = true;
  }
}

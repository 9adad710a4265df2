import type { ServerFrame } from "./protocol.ts";
import { SocketStream } from "./recovery/socket_stream.ts";
import type { Transport } from "./transport.ts";

/** Who a socket belongs to. */
export interface Identity {
  userId: string;
  username: string;
  /** A room to join when the socket opens (the `room_id` of the connect URL). */
  roomId?: string;
  /** The sign-in session the socket belongs to: ending it closes the socket (`Hub.closeSessions`). */
  sessionId?: string;
  /** When the socket's access token expires (ms since the epoch): the hub closes it then unless renewed. */
  expiresAt?: number;
  /**
   * The connect URL said `resume=1`: the socket's first frame will be a `resume`, so its stored frames wait for
   * it however long it takes (`RESUME_FIRST_WAIT_MS` at most), not only the hub's short grace.
   */
  resumeFirst?: boolean;
}

/**
 * One connected socket: who it is, which rooms it receives, and a queue that runs its frames one at a time so
 * that a client's messages are stored in the order it sent them.
 */
export class Client {
  readonly rooms = new Set<string>();
  /** Its stored room frames: each seq once, in order, across resumes (lib/hub/recovery/). */
  readonly stream: SocketStream;
  /**
   * Room frames that are not stored (presence, typing) wait here while anything holds them: the socket's set-up,
   * and whatever the set-up started that must reach the client first (e.g. the presence state it reads), so a
   * change newer than that state is never overwritten by it.
   */
  readonly #early: string[] = [];
  #liveHolds = 1;
  #queue: Promise<void> = Promise.resolve();
  #pending = 0;
  #closed = false;
  /** Closes the socket when its access token expires (see `Hub.renew`). */
  expiryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly id: string,
    readonly identity: Identity,
    readonly transport: Transport,
    readonly onOverflow: (client: Client) => void,
    readonly maxBuffered: number,
  ) {
    // Frames held during a resume count against the same cap as the unsent backlog.
    this.stream = new SocketStream((frame) => this.send(frame), {
      maxHeldBytes: maxBuffered,
      overflow: () => {
        if (!this.#closed) this.onOverflow(this);
      },
    });
  }

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

  /** Sends a live room frame that is not stored; it waits while the live frames are held (`holdLive()`). */
  sendLive(data: string): void {
    if (this.#liveHolds > 0) this.#early.push(data);
    else this.send(data);
  }

  /** Holds live frames that are not stored until a matching `releaseLive()`; the set-up holds them from the start. */
  holdLive(): void {
    this.#liveHolds++;
  }

  /** Ends one hold; after the last, the frames that waited go out in order. */
  releaseLive(): void {
    if (this.#liveHolds === 0 || --this.#liveHolds > 0) return;
    for (const data of this.#early.splice(0)) this.send(data);
  }

  /** Resolves once the unsent backlog is under `bytes` (or the socket closed): flow control for backfills. */
  async drained(bytes: number): Promise<void> {
    while (!this.#closed && this.transport.buffered > bytes) await new Promise((r) => setTimeout(r, 5));
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
    this.stream.close();
    this.#closed = true;
  }
}

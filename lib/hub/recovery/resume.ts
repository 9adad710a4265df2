/**
 * The resume: a socket catches up in each room it names from its `last_seq`, from the recent window or the
 * store, with no gap and no repeat at the seam with the live stream (see `SocketStream`).
 */
import type { Client } from "../client.ts";
import type { History, SeqFrame } from "./history.ts";

/** Where a room's resume backfill came from: the recent window, the store, or the store after a `reset`. */
export type ResumeOutcome = "window" | "store" | "reset";

/** A resume asked for a room the socket does not receive. */
export class NotSubscribedError extends Error {
  constructor(readonly roomId: string) {
    super(`Not subscribed to room ${roomId}`);
    this.name = "NotSubscribedError";
  }
}

export interface ResumeResult {
  /** Per room resumed, the last seq sent (the `resumed` frame's `rooms`). */
  done: Record<string, number>;
  /** Rooms that could not be resumed: `NotSubscribedError`, or the history's error. */
  failed: { roomId: string; error: unknown }[];
}

/**
 * The last stored frames delivered in one room on this instance, oldest first: a resume of a short gap is
 * served from memory. It holds between `size` and twice that (trimmed in batches, not per frame).
 */
export class RecentWindow {
  readonly #frames: SeqFrame[] = [];

  constructor(readonly size: number) {}

  push(seq: number, frame: string): void {
    this.#frames.push({ seq, frame });
    if (this.#frames.length >= 2 * this.size) this.#frames.splice(0, this.size);
  }

  /** The frames after `afterSeq` when the window reaches back that far without a hole; otherwise null. */
  after(afterSeq: number): SeqFrame[] | null {
    const frames = this.#frames;
    if (frames.length === 0 || frames[0].seq > afterSeq + 1) return null;
    const start = frames.findIndex((f) => f.seq > afterSeq);
    const found = start < 0 ? [] : frames.slice(start);
    for (let i = 1; i < found.length; i++) if (found[i].seq !== found[i - 1].seq + 1) return null;
    return found;
  }
}

export interface ResumeOptions {
  history: History;
  /** The room's recent window on this instance (null: none, or it does not reach back to `afterSeq`). */
  recent(roomId: string, afterSeq: number): SeqFrame[] | null;
  /** Called once per room: where its backfill came from, or `failed`. */
  onResumed?(outcome: ResumeOutcome | "failed"): void;
  /** Frames per store read (500). */
  pageSize?: number;
  /** A backfill waits for the socket's backlog to fall under this before the next page (256 KiB). */
  drainBytes?: number;
}

/**
 * Sends `client` every stored frame after each room's `last_seq` that this socket was not sent, in seq order,
 * then lets it go on live with no gap and no repeat at the seam. While a room's backfill runs its live frames
 * are held; they go out after it, each once. The backfill comes from the recent window when that reaches the
 * room's last stored seq, from the history otherwise, page by page as the socket drains. When the oldest
 * stored frame is past the gap (retention), a `reset` frame says where history resumes.
 */
export async function resume(
  client: Client,
  rooms: Record<string, number>,
  options: ResumeOptions,
): Promise<ResumeResult> {
  const done: Record<string, number> = {};
  const failed: { roomId: string; error: unknown }[] = [];
  for (const [roomId, lastSeq] of Object.entries(rooms)) {
    if (client.closed) break;
    if (!client.rooms.has(roomId)) {
      options.onResumed?.("failed");
      failed.push({ roomId, error: new NotSubscribedError(roomId) });
      continue;
    }
    const progress = { after: lastSeq };
    client.stream.hold(roomId, lastSeq);
    try {
      options.onResumed?.(await backfill(client, roomId, progress, options));
      done[roomId] = progress.after;
    } catch (error) {
      options.onResumed?.("failed");
      failed.push({ roomId, error });
    } finally {
      // Held frames the backfill did not send (also when it failed part way) go out now, once.
      client.stream.release(roomId);
    }
  }
  return { done, failed };
}

async function backfill(
  client: Client,
  roomId: string,
  progress: { after: number },
  options: ResumeOptions,
): Promise<ResumeOutcome> {
  const pageSize = options.pageSize ?? 500;
  const latest = await options.history.lastSeq(roomId);
  let outcome: ResumeOutcome = "window";
  for (let first = true;; first = false) {
    const recent = options.recent(roomId, progress.after);
    // The window may lag the store (a publish still on its way, or lost): use it only when it reaches the end.
    const fromWindow = recent !== null && (recent.at(-1)?.seq ?? progress.after) >= latest;
    if (!fromWindow && outcome === "window") outcome = "store";
    const page = fromWindow ? recent : await options.history.after(roomId, progress.after, pageSize);
    if (first && page.length > 0 && page[0].seq > progress.after + 1) {
      client.sendFrame({ type: "reset", room_id: roomId, from_seq: page[0].seq });
      outcome = "reset";
    }
    for (const { seq, frame } of page) {
      client.stream.backfilled(roomId, seq, frame);
      progress.after = seq;
    }
    if (fromWindow || page.length < pageSize || client.closed) return outcome;
    await client.drained(options.drainBytes ?? 256 * 1024);
  }
}

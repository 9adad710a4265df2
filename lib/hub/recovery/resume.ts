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
  /** Per room resumed, the last seq sent (the `resumed` frame's `rooms`); a room cut short included. */
  done: Record<string, number>;
  /**
   * Rooms the resume did not finish because it reached its bound (`maxMessages`), each with the seq to resume
   * it from next: the last seq sent, or the `last_seq` asked for a room it did not reach. Each is paused
   * (`SocketStream.pause()`) until the client resumes it again. The `resumed` frame's `more`.
   */
  more: Record<string, number>;
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
  /** Called once per room backfilled: where its backfill came from, or `failed`. */
  onResumed?(outcome: ResumeOutcome | "failed"): void;
  /** Frames per store read (500). */
  pageSize?: number;
  /**
   * Most stored frames one resume reads, over all its rooms (1,000): past it the rooms left are answered in
   * `more`, for the client to ask again. One small frame never makes the server read without bound.
   */
  maxMessages?: number;
  /** A backfilled frame is sent only once the socket's backlog is under this many bytes (256 KiB). */
  drainBytes?: number;
}

/** Default `ResumeOptions.maxMessages` (`RESUME_MAX_MESSAGES`). */
export const RESUME_MAX_MESSAGES = 1_000;

/**
 * Sends `client` every stored frame after each room's `last_seq` that this socket was not sent, in seq order,
 * then lets it go on live with no gap and no repeat at the seam. While a room's backfill runs its live frames
 * are held; they go out after it, each once. The backfill comes from the recent window when that reaches the
 * room's last stored seq, from the history otherwise, a page at a time; each frame is written only once the
 * socket's backlog is under `drainBytes`, so a client that reads keeps up however long the gap. When the
 * oldest stored frame is past the gap (retention), a `reset` frame says where history resumes.
 *
 * At most `maxMessages` frames are read per call: a room cut short there, and every room after it, is paused
 * and answered in `more` with where to go on; the client's next resume continues it exactly there.
 */
export async function resume(
  client: Client,
  rooms: Record<string, number>,
  options: ResumeOptions,
): Promise<ResumeResult> {
  const done: Record<string, number> = {};
  const more: Record<string, number> = {};
  const failed: { roomId: string; error: unknown }[] = [];
  const budget = { left: options.maxMessages ?? RESUME_MAX_MESSAGES };
  for (const [roomId, lastSeq] of Object.entries(rooms)) {
    if (client.closed) break;
    if (!client.rooms.has(roomId)) {
      options.onResumed?.("failed");
      failed.push({ roomId, error: new NotSubscribedError(roomId) });
      continue;
    }
    if (budget.left <= 0) {
      // Not reached: nothing read for it. Its live frames wait in the store for the client's next resume.
      client.stream.pause(roomId);
      more[roomId] = lastSeq;
      continue;
    }
    const progress = { after: lastSeq };
    client.stream.hold(roomId, lastSeq);
    let complete = true;
    try {
      const { outcome, complete: finished } = await backfill(client, roomId, progress, budget, options);
      complete = finished;
      options.onResumed?.(outcome);
      done[roomId] = progress.after;
      if (!complete) more[roomId] = progress.after;
    } catch (error) {
      options.onResumed?.("failed");
      failed.push({ roomId, error });
    } finally {
      // Held frames the backfill did not send (also when it failed part way) go out now, once; a room cut
      // short at the bound drops them instead: they come, in order, with the rest of its gap.
      if (complete) client.stream.release(roomId);
      else client.stream.pause(roomId);
    }
  }
  return { done, more, failed };
}

async function backfill(
  client: Client,
  roomId: string,
  progress: { after: number },
  budget: { left: number },
  options: ResumeOptions,
): Promise<{ outcome: ResumeOutcome; complete: boolean }> {
  const pageSize = options.pageSize ?? 500;
  const drainBytes = options.drainBytes ?? 256 * 1024;
  const latest = await options.history.lastSeq(roomId);
  let outcome: ResumeOutcome = "window";
  for (let first = true;; first = false) {
    const limit = Math.min(pageSize, budget.left);
    const recent = options.recent(roomId, progress.after);
    // The window may lag the store (a publish still on its way, or lost): use it only when it reaches the end.
    const fromWindow = recent !== null && (recent.at(-1)?.seq ?? progress.after) >= latest;
    if (!fromWindow && outcome === "window") outcome = "store";
    const page = fromWindow
      ? recent.slice(0, budget.left)
      : await options.history.after(roomId, progress.after, limit);
    if (first && page.length > 0 && page[0].seq > progress.after + 1) {
      client.sendFrame({ type: "reset", room_id: roomId, from_seq: page[0].seq });
      outcome = "reset";
    }
    for (const { seq, frame } of page) {
      // Written as the socket drains, never a page at once: a client reading at full speed is not "slow".
      if (client.transport.buffered > drainBytes) await client.drained(drainBytes);
      if (client.closed) return { outcome, complete: true };
      client.stream.backfilled(roomId, seq, frame);
      progress.after = seq;
      budget.left--;
    }
    // The held live frames take over past `latest`; a short page is the end of what is stored.
    const finished = progress.after >= latest ||
      (fromWindow ? page.length === recent.length : page.length < limit);
    if (finished || client.closed) return { outcome, complete: true };
    if (budget.left <= 0) return { outcome, complete: false };
  }
}

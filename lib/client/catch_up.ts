/**
 * How the chat client gets every message of its rooms once: a `resume` frame from each room's last contiguous
 * seq as the first frame of every socket, another on the open socket for a room whose live stream jumps, and
 * the history API when there is no socket or a resume could not fill a hole. The server answers resumes in the
 * order they were sent, each with one `resumed` frame (or, when the whole resume failed, an error frame). One
 * resume brings at most `RESUME_MAX_MESSAGES` messages: the rooms it did not finish come back in the answer's
 * `more`, and are resumed again from there at once, page after page, until none is left.
 */
import type { ChatMessage, ErrorFrame, ResumedFrame } from "../hub/protocol.ts";
import type { Timers } from "./clock.ts";
import type { Connection } from "./connection.ts";
import { RETRY_MS } from "./outgoing.ts";
import type { RoomApi } from "./room_api.ts";
import type { RoomState } from "./room_state.ts";

/** Messages per page of the history API. */
const PAGE = 100;

/** The catch-up state of one room, for the current socket. */
interface Sync {
  state: RoomState;
  /** The socket's first resume of the room was answered: its outbox may be sent. */
  synced: boolean;
  /** A resume of the room is on its way: gaps wait for its answer. */
  resuming: boolean;
  /** `lastSeq` when that resume was asked for. */
  resumeFrom: number;
  /** Set when the room's part of a resume was refused with a retryable error: ask again after this delay. */
  retryMs?: number;
  fetching: boolean;
  fetchAgain: boolean;
}

/** A `resume` frame sent and not answered yet. */
interface ResumeRequest {
  rooms: Sync[];
  /** The socket's first frame: its answer makes the connection `connected`. */
  first: boolean;
}

export interface CatchUpOptions {
  connection: Connection;
  api: RoomApi;
  timers: Timers;
  /** A stored message from the history API. */
  receive(roomId: string, message: ChatMessage): void;
  /** The socket's first resume of a room was answered: its own pending messages may go now. */
  synced(roomId: string): void;
}

export class CatchUp {
  readonly #options: CatchUpOptions;
  readonly #rooms = new Map<string, Sync>();
  #requests: ResumeRequest[] = [];

  constructor(options: CatchUpOptions) {
    this.#options = options;
  }

  /** A room to keep caught up; resumed at once when the socket is open. */
  add(state: RoomState): void {
    const room: Sync = {
      state,
      synced: false,
      resuming: false,
      resumeFrom: 0,
      fetching: false,
      fetchAgain: false,
    };
    this.#rooms.set(state.id, room);
    this.#resume([room]);
  }

  /** A room no longer kept caught up (the user left it); a resume on its way is answered without it. */
  remove(roomId: string): void {
    this.#rooms.delete(roomId);
  }

  /** Whether the socket's first resume of the room was answered. */
  synced(roomId: string): boolean {
    return this.#rooms.get(roomId)?.synced ?? false;
  }

  /** A new socket is open: one resume for every room, as its first frame. */
  opened(): void {
    this.#resume([...this.#rooms.values()], true);
  }

  /** The socket closed: its resumes will not be answered. */
  closed(): void {
    this.#requests = [];
    for (const room of this.#rooms.values()) room.synced = room.resuming = false;
  }

  /** Whether a live message with this seq would leave a hole (checked before it is received). */
  isJump(roomId: string, seq: number): boolean {
    const room = this.#rooms.get(roomId);
    // During a resume, its answer checks for holes instead.
    return room !== undefined && !room.resuming && seq > room.state.lastSeq + 1;
  }

  /** Fills a room's gap: a resume on the open socket, else the history API. */
  fill(roomId: string): void {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    if (this.#options.connection.open) this.#resume([room]);
    else this.#fetchAfter(room);
  }

  /** The oldest resume was answered; the rooms in its `more` are resumed again for their next page. */
  resumed(frame: ResumedFrame): void {
    const request = this.#requests.shift();
    if (!request) return;
    const more = new Map(Object.entries(frame.more ?? {}));
    const next: Sync[] = [];
    for (const room of request.rooms) {
      const from = more.get(room.state.id);
      // Still resuming (the server sends none of its live messages meanwhile) unless the user left it.
      if (from !== undefined && this.#rooms.get(room.state.id) === room) next.push(room);
      else {
        room.resuming = false;
        this.#roomResumed(room, frame.rooms[room.state.id]);
      }
    }
    if (request.first) this.#options.connection.connected();
    if (next.length > 0) this.#nextPage(next, more);
  }

  /** An error frame that is no send's: a resume's failure, for one room or the whole resume. */
  refused(frame: ErrorFrame): void {
    if (frame.room_id !== undefined) {
      // Its `resumed` follows without that room.
      const room = this.#rooms.get(frame.room_id);
      if (room?.resuming && frame.retryable) room.retryMs = frame.retry_after_ms ?? RETRY_MS;
      return;
    }
    const request = this.#requests.shift();
    if (!request) return;
    // The resume itself failed (e.g. the store is unavailable): no `resumed` follows.
    for (const room of request.rooms) room.resuming = false;
    if (request.first) this.#options.connection.connected();
    if (frame.retryable) this.#retry(request.rooms, frame.retry_after_ms ?? RETRY_MS);
    else for (const room of request.rooms) this.#roomResumed(room, undefined);
  }

  /** Asks the open socket for everything after each room's `lastSeq`. */
  #resume(rooms: Sync[], first = false): void {
    const asked = rooms.filter((room) => !room.resuming);
    if (asked.length === 0 && !first) return;
    const last = Object.fromEntries(asked.map((room) => [room.state.id, room.state.lastSeq]));
    if (!this.#options.connection.send({ type: "resume", rooms: last })) return;
    for (const room of asked) {
      room.resuming = true;
      room.resumeFrom = room.state.lastSeq;
      room.retryMs = undefined;
    }
    this.#requests.push({ rooms: asked, first });
  }

  /**
   * Asks for the next page of rooms a resume stopped short in, from where it stopped (or from `lastSeq`, were
   * that further): what arrived is never asked for again, so the pages always move on.
   */
  #nextPage(rooms: Sync[], more: Map<string, number>): void {
    const from = rooms.map((room) => [room, Math.max(room.state.lastSeq, more.get(room.state.id)!)] as const);
    const asked = Object.fromEntries(from.map(([room, seq]) => [room.state.id, seq]));
    if (!this.#options.connection.send({ type: "resume", rooms: asked })) return;
    for (const [room, seq] of from) room.resumeFrom = seq;
    this.#requests.push({ rooms, first: false });
  }

  /** A room's resume ended; `sent` is the last seq the server sent for it (none when it failed). */
  #roomResumed(room: Sync, sent: number | undefined): void {
    if (!room.synced) {
      room.synced = true;
      this.#options.synced(room.state.id);
    }
    const { state } = room;
    if (sent === undefined && room.retryMs !== undefined) this.#retry([room], room.retryMs);
    else if (sent !== undefined && sent > state.lastSeq) this.#fetchAfter(room);
    else if (state.hasGap()) state.lastSeq > room.resumeFrom ? this.#resume([room]) : this.#fetchAfter(room);
  }

  /** Resumes the rooms again after `ms`, on the same socket only (a new one resumes them anyway). */
  #retry(rooms: Sync[], ms: number): void {
    const { connection, timers } = this.#options;
    const generation = connection.generation;
    timers.after(ms, () => connection.generation === generation && this.#resume(rooms));
  }

  /** Loads everything after `lastSeq` from the history API, page by page; repeats if asked again meanwhile. */
  async #fetchAfter(room: Sync): Promise<void> {
    if (room.fetching) {
      room.fetchAgain = true;
      return;
    }
    room.fetching = true;
    const { state } = room;
    try {
      do {
        room.fetchAgain = false;
        while (true) {
          const messages = await this.#options.api.after(state.id, state.lastSeq, PAGE);
          for (const m of messages) this.#options.receive(state.id, m);
          if (messages.length < PAGE) break;
        }
      } while (room.fetchAgain);
    } catch {
      // Offline or server gone: the next reconnect resumes.
    } finally {
      room.fetching = false;
    }
  }
}

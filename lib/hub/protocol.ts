import { ChatError, type ErrorCode } from "../errors.ts";
import type { ChatMessage } from "../model.ts";

/**
 * The WebSocket protocol: JSON text frames. Types only plus `parseClientFrame()`; islands may import this file.
 */

// ---- client -> server ----

export interface MessageFrame {
  type: "message";
  room_id: string;
  content: string;
  client_id?: string;
}
export interface JoinFrame {
  type: "join";
  room_id: string;
}
export interface LeaveFrame {
  type: "leave";
  room_id: string;
}
export interface TypingFrame {
  type: "typing";
  room_id: string;
}
export interface PingFrame {
  type: "ping";
}
/**
 * Sends every message after each room's `last_seq`, in order, then continues live with no gap or repeat; at
 * most `RESUME_MAX_MESSAGES` per frame, the rest when asked again (`ResumedFrame.more`).
 */
export interface ResumeFrame {
  type: "resume";
  rooms: Record<string, number>;
}

/**
 * A new access token for this socket's session, sent before the one it opened with expires: the socket stays
 * open past that token's expiry (else it is closed with 4001 when it expires).
 */
export interface RefreshFrame {
  type: "refresh";
  token: string;
}

export type ClientFrame =
  | MessageFrame
  | JoinFrame
  | LeaveFrame
  | TypingFrame
  | PingFrame
  | ResumeFrame
  | RefreshFrame;

// ---- server -> client ----

export type { ChatMessage };

export interface AckFrame {
  type: "ack";
  client_id: string | null;
  id: string;
  seq: number;
  room_id: string;
}
/** A chat command (`/stock=AAPL.US`) was queued for its bot: nothing is stored; the answer comes as `bot`. */
export interface CommandAckFrame {
  type: "ack";
  client_id: string | null;
  room_id: string;
  command: string;
  job_id: string;
}
/** A refusal; `code` is a row of the error table (lib/errors.ts). */
export interface ErrorFrame {
  type: "error";
  code: ErrorCode;
  message: string;
  /** Whether sending the same frame again later may succeed. */
  retryable: boolean;
  client_id?: string;
  room_id?: string;
  retry_after_ms?: number;
}
export interface PresenceFrame {
  type: "presence";
  user_id: string;
  username: string;
  status: "online" | "offline";
}
/**
 * Sent to a socket when it connects (every connect, so also after a reconnect), once per room of the socket that
 * gets presence frames: the ids of that room's members who are online now; every other member is offline. Later
 * changes come as `presence` frames.
 */
export interface PresenceStateFrame {
  type: "presence_state";
  room_id: string;
  online: string[];
}
export interface TypingNotice {
  type: "typing";
  room_id: string;
  user_id: string;
  username: string;
}
export interface JoinedFrame {
  type: "joined";
  room_id: string;
  last_seq: number;
}
export interface LeftFrame {
  type: "left";
  room_id: string;
}
export interface PongFrame {
  type: "pong";
}
/** Part of a resume's gap is gone (retention): history in that room continues at `from_seq`. */
export interface ResetFrame {
  type: "reset";
  room_id: string;
  from_seq: number;
}
/**
 * A resume is answered: per room, the last seq sent; live delivery continues from there. One resume sends at
 * most `RESUME_MAX_MESSAGES` messages (1,000): the rooms it did not finish are in `more`, each with the seq to
 * resume it from next. Such a room gets no live messages until it is resumed again (`{type:"resume",rooms:
 * more}`): they come with the rest of its gap, in order, once.
 */
export interface ResumedFrame {
  type: "resumed";
  rooms: Record<string, number>;
  /** Only when the resume stopped at its bound: the rooms left, and where to resume each. */
  more?: Record<string, number>;
}

/** A `refresh` was accepted: the socket is authorised until `expires_at` (ms since the epoch). */
export interface RefreshedFrame {
  type: "refreshed";
  expires_at: number;
}

/**
 * The store answers again after an outage (sent to every socket of the instance): sends refused with
 * `store_unavailable` may go again now, with the same `client_id`.
 */
export interface StoreAvailableFrame {
  type: "store_available";
}

export type ServerFrame =
  | StoreAvailableFrame
  | ChatMessage
  | AckFrame
  | CommandAckFrame
  | ErrorFrame
  | PresenceFrame
  | PresenceStateFrame
  | TypingNotice
  | JoinedFrame
  | LeftFrame
  | PongFrame
  | ResetFrame
  | ResumedFrame
  | RefreshedFrame;

/** Largest text frame accepted; larger ones close the socket with 1009. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Why a client frame was refused; `code` goes to the client in an error frame. */
export class FrameError extends ChatError {
  constructor(code: "invalid_json" | "invalid_frame" | "unknown_type", message: string) {
    super(code, message);
    this.name = "FrameError";
  }
}

const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const TYPES = new Set(["message", "join", "leave", "typing", "ping", "resume", "refresh"]);
/** Most rooms one resume frame may name. */
export const MAX_RESUME_ROOMS = 1_000;

/**
 * Parses one text frame from a client. Throws `FrameError` with `invalid_json`, `invalid_frame` or
 * `unknown_type`; content rules (empty, too long) are the chat service's, since REST sends go through them too.
 *
 * @example
 * parseClientFrame('{"type":"join","room_id":"6745f0c2a1b2c3d4e5000001"}');
 * // { type: "join", room_id: "6745f0c2a1b2c3d4e5000001" }
 */
export function parseClientFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FrameError("invalid_json", "Frame is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FrameError("invalid_frame", "Frame must be a JSON object");
  }
  const frame = value as Record<string, unknown>;
  if (typeof frame.type !== "string") throw new FrameError("invalid_frame", 'Frame needs a string "type"');
  if (!TYPES.has(frame.type)) {
    throw new FrameError(
      "unknown_type",
      `Unknown frame type "${frame.type.slice(0, 40)}"; expected one of ${[...TYPES].join(", ")}`,
    );
  }
  if (frame.type === "ping") return { type: "ping" };
  if (frame.type === "resume") return { type: "resume", rooms: parseResumeRooms(frame.rooms) };
  if (frame.type === "refresh") {
    if (typeof frame.token !== "string" || frame.token === "" || frame.token.length > 4096) {
      throw new FrameError("invalid_frame", '"token" must be an access token');
    }
    return { type: "refresh", token: frame.token };
  }
  const room_id = requireString(frame, "room_id");
  switch (frame.type) {
    case "message": {
      const content = requireString(frame, "content");
      if (frame.client_id === undefined || frame.client_id === null) {
        return { type: "message", room_id, content };
      }
      if (typeof frame.client_id !== "string" || !CLIENT_ID_RE.test(frame.client_id)) {
        throw new FrameError("invalid_frame", '"client_id" must be 1-64 characters of A-Z, a-z, 0-9, _ or -');
      }
      return { type: "message", room_id, content, client_id: frame.client_id };
    }
    case "join":
    case "leave":
    case "typing":
      return { type: frame.type, room_id };
  }
  throw new FrameError("unknown_type", "Unknown frame type");
}

function parseResumeRooms(value: unknown): Record<string, number> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FrameError("invalid_frame", '"rooms" must be an object of room ids to last seqs');
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_RESUME_ROOMS) {
    throw new FrameError("invalid_frame", `A resume may name at most ${MAX_RESUME_ROOMS} rooms`);
  }
  const rooms: Record<string, number> = {};
  for (const [roomId, seq] of entries) {
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
      throw new FrameError("invalid_frame", `"rooms" values must be whole numbers of at least 0`);
    }
    rooms[roomId] = seq;
  }
  return rooms;
}

function requireString(frame: Record<string, unknown>, field: string): string {
  const value = frame[field];
  if (value === undefined || value === null) throw new FrameError("invalid_frame", `Frame needs "${field}"`);
  if (typeof value !== "string") throw new FrameError("invalid_frame", `"${field}" must be a string`);
  return value;
}

/** Whether a client id is acceptable (used by the REST API as well). */
export function isClientId(value: unknown): value is string {
  return typeof value === "string" && CLIENT_ID_RE.test(value);
}

/**
 * Repository interfaces for everything the chat server persists.
 *
 * Adapters: `SqliteStore` (embedded default) and, later, `MongoStore`. Every adapter must pass the one contract
 * suite in `store_contract.ts`. Ids are 24 lowercase hex characters (ObjectId-shaped) so that both adapters
 * produce the same ids; timestamps are ISO 8601 UTC strings; the per-room `seq` orders messages.
 */
import type { ChatMessage } from "../model.ts";

export interface User {
  id: string;
  username: string;
  email: string;
  password_hash: string;
  display_name: string | null;
  avatar_url: string | null;
  created_at: string;
  last_seen: string | null;
  /** The authenticator app's base32 secret once two-factor sign-in is on; null when it is off. */
  totp_secret: string | null;
  /** The last TOTP time step used to sign in (a code is good once). */
  totp_last_step: number | null;
  /** SHA-256 hashes of the unused recovery codes. */
  recovery_codes: string[];
}

export interface NewUser {
  username: string;
  email: string;
  /** "" for an account made by single sign-on: no password signs in to it until one is set. */
  password_hash: string;
}

/** A signed-in device: what the sessions list shows, and what revoking ends. */
export interface Session {
  id: string;
  user_id: string;
  /** "Firefox on Linux", from the user agent. */
  device: string;
  /** The client address at sign-in, then at the last refresh. */
  ip: string;
  created_at: string;
  last_used_at: string;
  /** When its refresh token stops working unless it is used (each use moves it on). */
  expires_at: string;
  revoked_at: string | null;
}

export interface NewSession {
  user_id: string;
  device: string;
  ip: string;
  expires_at: string;
  /** SHA-256 hex of the first refresh token. */
  refresh_hash: string;
}

/**
 * What presenting a refresh token did: `rotated` (it was the session's current one: the next is stored),
 * `reused` (it had been used already: the session is revoked now, theft detection), `ended` (the session was
 * revoked or has expired), `unknown` (no such token).
 */
export type RotateResult =
  | { outcome: "rotated"; session: Session }
  | { outcome: "reused"; session: Session }
  | { outcome: "ended"; session: Session }
  | { outcome: "unknown" };

export interface SessionRepo {
  /** A new session with its first refresh token. */
  create(session: NewSession): Promise<Session>;
  byId(id: string): Promise<Session | null>;
  /** The user's sessions that are neither revoked nor expired at `now`, most recently used first. */
  activeOf(userId: string, now: string): Promise<Session[]>;
  /**
   * Exchanges the refresh token whose hash is `hash`, atomically (two concurrent uses: one rotates, the other is
   * a reuse): see `RotateResult`. On `rotated` the session's `last_used_at`, `ip` and `expires_at` are `next`'s.
   */
  rotate(
    hash: string,
    next: { hash: string; at: string; ip: string; expires_at: string },
  ): Promise<RotateResult>;
  /** Revokes one session of `userId`; returns it when it was active (not revoked before, not expired). */
  revoke(id: string, userId: string, at: string): Promise<Session | null>;
  /** Revokes every active session of the user but `exceptId`; returns the ids revoked. */
  revokeAllOf(userId: string, at: string, exceptId?: string): Promise<string[]>;
}

export interface ProfileUpdate {
  display_name?: string | null;
  avatar_url?: string | null;
}

export interface Room {
  id: string;
  name: string;
  description: string;
  creator_id: string;
  is_private: boolean;
  is_direct: boolean;
  created_at: string;
  /** The highest `seq` stored in the room so far (0 for an empty room). */
  last_seq: number;
}

export interface NewRoom {
  name: string;
  description: string;
  creator_id: string;
  is_private: boolean;
}

/** The fields of a room its creator may change; an absent field is left as it is. */
export interface RoomUpdate {
  name?: string;
  description?: string;
}

/** A stored message is exactly what clients receive: the wire contract owns its shape. */
export type Message = ChatMessage;
export type MessageType = ChatMessage["type"];

export interface NewMessage {
  room_id: string;
  user_id: string;
  username: string;
  content: string;
  type: MessageType;
  /** Idempotency key chosen by the sender; unique per (room_id, user_id). */
  client_id?: string;
}

/** Result of `MessageRepo.append()`: `created` is false when `client_id` matched an earlier message. */
export interface AppendResult {
  message: Message;
  created: boolean;
}

/** Exactly one of `offset`, `before_seq`, `after_seq` selects the page. */
export interface HistoryQuery {
  limit: number;
  offset?: number;
  before_seq?: number;
  after_seq?: number;
}

export interface HistoryPage {
  /** Always in chronological (ascending `seq`) order. */
  messages: Message[];
  /** Number of messages stored in the room. */
  total: number;
}

/** Thrown when a unique constraint (username, email, room name) is violated. `field` names the column. */
export class ConflictError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = "ConflictError";
  }
}

export interface UserRepo {
  /** Throws `ConflictError` with field `username` or `email` (both compared case-insensitively). */
  create(user: NewUser): Promise<User>;
  byId(id: string): Promise<User | null>;
  /** Case-insensitive. */
  byEmail(email: string): Promise<User | null>;
  /** Case-insensitive. */
  byUsername(username: string): Promise<User | null>;
  /** Many at once, in no particular order; unknown ids are skipped. */
  byIds(ids: string[]): Promise<User[]>;
  /**
   * Users whose username or display name contains `text` (case-insensitive, every character literal), ordered
   * by username.
   */
  search(text: string, limit: number): Promise<User[]>;
  /** Returns the updated user, or null when it does not exist. */
  updateProfile(id: string, update: ProfileUpdate): Promise<User | null>;
  setLastSeen(id: string, at: string): Promise<void>;
  /** Replaces the password hash; false when the user does not exist. */
  setPassword(id: string, passwordHash: string): Promise<boolean>;
  /** Turns two-factor sign-in on (a secret and recovery code hashes) or off (null). */
  setTwoFactor(id: string, value: { secret: string; recovery_codes: string[] } | null): Promise<boolean>;
  /** Records a TOTP step as used when it is later than the last one; false for a replayed or older step. */
  useTotpStep(id: string, step: number): Promise<boolean>;
  /** Removes one unused recovery code by its hash; false when the user has no such code (used or wrong). */
  useRecoveryCode(id: string, hash: string): Promise<boolean>;
  /** Stores a password-reset token (its SHA-256 hex) for the user, good until `expires_at`. */
  addPasswordReset(userId: string, hash: string, expires_at: string): Promise<void>;
  /**
   * Uses a password-reset token once: returns the user id when `hash` is a stored, unused token that has not
   * expired at `now` (and marks it used, atomically); otherwise null.
   */
  usePasswordReset(hash: string, now: string): Promise<string | null>;
}

export interface RoomRepo {
  /**
   * Creates the room with its creator as first member. Throws `ConflictError` with field `name` when another
   * room that is not a direct one has the same name by `roomNameKey()` (also when two creates race).
   */
  create(room: NewRoom): Promise<Room>;
  /**
   * Changes a room's name and description; returns the updated room, or null when it does not exist. Throws
   * `ConflictError` with field `name` like `create()`.
   */
  update(id: string, update: RoomUpdate): Promise<Room | null>;
  byId(id: string): Promise<Room | null>;
  /** Public rooms plus the private ones `userId` belongs to, oldest first. */
  listVisible(userId: string): Promise<Room[]>;
  /** Ids of the rooms `userId` belongs to. */
  roomIdsOf(userId: string): Promise<string[]>;
  /**
   * The direct room of two users, created with both as members on first call; the same room after.
   * Safe under concurrent calls (one room per pair).
   */
  directRoom(a: string, b: string, name: string): Promise<{ room: Room; created: boolean }>;
  /** Returns false when the user was already a member. */
  addMember(roomId: string, userId: string): Promise<boolean>;
  /** Returns false when the user was not a member. */
  removeMember(roomId: string, userId: string): Promise<boolean>;
  isMember(roomId: string, userId: string): Promise<boolean>;
  /** Member ids in join order. */
  memberIds(roomId: string): Promise<string[]>;
  /**
   * The number of members of each room, in one query however many rooms are asked for. A room with no members
   * (or unknown) may be absent from the map: read absent as 0.
   */
  memberCounts(roomIds: string[]): Promise<Map<string, number>>;
  /** Which of `roomIds` are direct rooms, in one query. */
  directRoomIds(roomIds: string[]): Promise<Set<string>>;
  /**
   * Each room's `last_seq`, in one query however many rooms are asked for (the hub's catch-up while its bus is
   * deaf). An unknown room is absent.
   */
  lastSeqs(roomIds: string[]): Promise<Map<string, number>>;
  /**
   * Records that `userId` has read the room up to `seq` (never moves back, never past the room's `last_seq`).
   * Returns the stored marker, or null when the user is not a member.
   */
  markRead(roomId: string, userId: string, seq: number): Promise<number | null>;
  /** The read marker of every room `userId` belongs to (0 for a room never read). */
  readSeqs(userId: string): Promise<Map<string, number>>;
}

export interface MessageRepo {
  /**
   * Stores a message, assigning the room's next `seq` (1, 2, 3... no gaps, no reuse) in the same write, also
   * with several processes writing to one room. With a `client_id` already used by the same user in the same
   * room, stores nothing and returns the original message with `created: false`.
   */
  append(message: NewMessage): Promise<AppendResult>;
  history(roomId: string, query: HistoryQuery): Promise<HistoryPage>;
}

export interface Store {
  users: UserRepo;
  rooms: RoomRepo;
  messages: MessageRepo;
  sessions: SessionRepo;
  /** Throws when the store cannot serve requests (the breaker's health ping, lib/storage/breaker.ts). */
  ping(): Promise<void>;
  /**
   * Optional: throws, without waiting long, when a write would not go through now (e.g. SQLite: another process
   * holds the write lock). The breaker's recovery probe; `ping()` when absent.
   */
  probe?(): Promise<void>;
  close(): Promise<void>;
}

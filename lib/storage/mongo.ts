/**
 * `MongoStore`: the store on MongoDB, also correct on FerretDB v1 (no transactions, no partial indexes).
 *
 * Without transactions every invariant rests on a unique index and single-document writes:
 * - `seq`: `append()` reads the room's highest `seq` and inserts with `seq + 1`; the unique index on
 *   `{room_id, seq}` rejects the insert when another writer (in any process) took that `seq` first, and the
 *   writer retries with the new highest. A rejected insert stores nothing, so `seq` runs 1, 2, 3... with no gap
 *   and no reuse. `rooms.last_seq` then follows with `$max` (it never moves back, and any later append or
 *   duplicate send repairs it if the process died in between). A counter (`$inc` on the room, then insert)
 *   would leave a gap whenever the insert failed after the increment.
 * - `client_id`: a message sent with one gets a deterministic `_id` (a SHA-256 prefix of room, user and
 *   client id), so the unique `_id` index makes the send idempotent even when two sends race.
 * - Direct rooms: the `_id` is a SHA-256 prefix of the sorted pair, so there is one room per pair. Their
 *   memberships are written before the room, so whoever sees the room also sees both members.
 * - Memberships: `_id` is `${room_id}:${user_id}` (ids never contain ":"), so joining twice cannot store two.
 *
 * On MongoDB the queries use those indexes (see `historyFind()`). FerretDB v1 on SQLite, which the tests run
 * on, enforces the unique indexes but answers every query but an `_id` lookup with a full scan: fine for
 * tests, not for production data.
 *
 * Values from the interface go into filters as plain strings and numbers, never as objects, so no input can
 * become a query operator. Driver errors that mean "the server cannot be reached" become
 * `StoreUnavailableError`; the driver reconnects by itself, and the first outage and the recovery after it are
 * logged once each.
 *
 * @example
 * const store = await MongoStore.open({ url: "mongodb://127.0.0.1:27017/chat", log });
 * const { message } = await store.messages.append({ room_id, user_id, username, content: "hi", type: "text" });
 * await store.close();
 */

import { createHash } from "node:crypto";
import {
  type Collection,
  type Db,
  type Filter,
  MongoClient,
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
} from "mongodb";
import { newId } from "../ids.ts";
import { type Logger, nullLogger } from "../log.ts";
import { SchemaVersionError, StoreUnavailableError } from "./errors.ts";
import { renamesForDuplicates, roomNameKey } from "./room_names.ts";
import {
  type AppendResult,
  ConflictError,
  type HistoryPage,
  type HistoryQuery,
  type Message,
  type MessageRepo,
  type MessageType,
  type NewMessage,
  type NewRoom,
  type NewSession,
  type NewUser,
  type ProfileUpdate,
  type Room,
  type RoomRepo,
  type RoomUpdate,
  type RotateResult,
  type Session,
  type SessionRepo,
  type Store,
  type User,
  type UserRepo,
} from "./store.ts";

export interface MongoStoreOptions {
  /** `mongodb://host:port/<database>`; the database defaults to "chat". */
  url: string;
  /** Most connections the driver opens (default 20). */
  poolSize?: number;
  /** Receives "MongoDB unavailable" and "MongoDB available again" (default: dropped). */
  log?: Logger;
  /**
   * Server-side time limit of each operation (`maxTimeMS`, default 5000); a socket that stays silent 5 s longer
   * is closed. (The driver's own `timeoutMS` is a no-op in driver 6.)
   */
  timeoutMs?: number;
}

/** The schema version this code creates and understands, kept in `meta` as `{_id: "schema", version}`. */
export const SCHEMA_VERSION = 3;

const DEFAULT_DATABASE = "chat";
const DEFAULT_POOL_SIZE = 20;
const DEFAULT_TIMEOUT_MS = 5_000;
const SERVER_SELECTION_TIMEOUT_MS = 3_000;
const CONNECT_TIMEOUT_MS = 3_000;
/** How much longer than the operation time limit a socket may stay silent (10 s in all by default). */
const SOCKET_GRACE_MS = 5_000;
const DUPLICATE_KEY = 11000;
/** Most ids in one `$in` of `memberCounts` and `directRoomIds`: a user in 500 rooms is still one query. */
const IN_BATCH = 1_000;
/** Server error codes that mean "not now" rather than "not like this": time limits and shutdowns. */
const UNAVAILABLE_CODES = new Set([50, 91, 189, 262, 10107, 11600, 11602, 13435, 13436]);
/** Node socket errors that the driver sometimes lets through unwrapped. */
const SOCKET_ERROR_CODES = new Set([
  "ECONNABORTED",
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTCONN",
  "EPIPE",
  "ETIMEDOUT",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
]);
const APPEND_ATTEMPTS = 50;

interface UserDoc {
  _id: string;
  username: string;
  username_lower: string;
  email: string;
  email_lower: string;
  password_hash: string;
  display_name: string | null;
  /** `display_name` lower-cased, for search. */
  display_name_lower: string | null;
  avatar_url: string | null;
  created_at: string;
  last_seen: string | null;
  /** Absent in a document from before v3: read as null, null and []. */
  totp_secret?: string | null;
  totp_last_step?: number | null;
  recovery_codes?: string[];
}

interface SessionDoc {
  _id: string;
  user_id: string;
  device: string;
  ip: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** A refresh token by the SHA-256 hex of its value. */
interface RefreshTokenDoc {
  _id: string;
  session_id: string;
  used_at: string | null;
}

/**
 * A one-time use, by a key naming what was used (`refresh:<hash>`, `reset:<hash>`, `recovery:<user>:<hash>`,
 * `totp:<user>:<step>`): the insert of a unique `_id` is the one write FerretDB v1 performs atomically (its
 * conditional updates are not: two may both match), so it decides which of two concurrent uses wins.
 */
interface ClaimDoc {
  _id: string;
  at: string;
}

/** A password-reset token by the SHA-256 hex of its value. */
interface PasswordResetDoc {
  _id: string;
  user_id: string;
  expires_at: string;
  used_at: string | null;
}

interface RoomDoc {
  _id: string;
  name: string;
  /**
   * `roomNameKey(name)`, unique among rooms that are not direct; a direct room's is its `_id`, so the unique
   * index on `{is_direct, name_key}` (FerretDB v1 has no partial indexes) never compares direct rooms' names.
   */
  name_key: string;
  description: string;
  creator_id: string;
  is_private: boolean;
  is_direct: boolean;
  created_at: string;
  last_seq: number;
  /** The last `join_seq` handed out in this room. */
  join_counter: number;
}

interface MembershipDoc {
  _id: string;
  room_id: string;
  user_id: string;
  joined_at: string;
  join_seq: number;
  last_read_seq: number;
}

/** A stored message; `_id` is the message id. */
export interface MessageDoc {
  _id: string;
  room_id: string;
  seq: number;
  user_id: string;
  username: string;
  content: string;
  type: MessageType;
  timestamp: string;
  client_id?: string;
}

interface MetaDoc {
  _id: string;
  version: number;
}

/** The collections and their indexes; `open()` creates them (idempotently). */
const INDEXES = {
  users: [
    { key: { username_lower: 1 }, name: "username_lower_1", unique: true },
    { key: { email_lower: 1 }, name: "email_lower_1", unique: true },
  ],
  rooms: [{ key: { is_direct: 1, name_key: 1 }, name: "is_direct_1_name_key_1", unique: true }],
  memberships: [
    { key: { user_id: 1 }, name: "user_id_1" },
    { key: { room_id: 1, join_seq: 1 }, name: "room_id_1_join_seq_1" },
  ],
  messages: [{ key: { room_id: 1, seq: 1 }, name: "room_id_1_seq_1", unique: true }],
  sessions: [{ key: { user_id: 1 }, name: "user_id_1" }],
  refresh_tokens: [{ key: { session_id: 1 }, name: "session_id_1" }],
} as const;

/** The first 24 hex characters of the SHA-256 of `parts` joined by NUL: an id that the parts determine. */
function derivedId(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 24);
}

function membershipId(roomId: string, userId: string): string {
  return `${roomId}:${userId}`;
}

/** `text` as a regular expression that matches exactly that text anywhere in a string. */
function literalPattern(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

function nameTaken(name: string): ConflictError {
  return new ConflictError("name", `A room named "${name.trim()}" already exists`);
}

function isDuplicateKey(error: unknown): boolean {
  return error instanceof MongoServerError && error.code === DUPLICATE_KEY;
}

/** Whether `error` means the server cannot be reached or did not answer in time. */
function isUnavailable(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  if (error instanceof MongoServerError) return UNAVAILABLE_CODES.has(Number(error.code));
  if (error instanceof MongoError) {
    return error.name === "MongoWaitQueueTimeoutError" || error.name === "MongoOperationTimeoutError";
  }
  // Under Deno a write to a socket the server has just closed can surface as the bare Node error (EPIPE).
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && SOCKET_ERROR_CODES.has(code);
}

/** The database named in a MongoDB connection string's path, or "chat" when it has none. */
export function databaseName(url: string): string {
  const rest = url.replace(/^mongodb(\+srv)?:\/\//, "");
  const slash = rest.indexOf("/");
  if (slash < 0) return DEFAULT_DATABASE;
  const path = rest.slice(slash + 1).split("?")[0];
  return path === "" ? DEFAULT_DATABASE : decodeURIComponent(path);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function toUser(doc: UserDoc): User {
  return {
    id: doc._id,
    username: doc.username,
    email: doc.email,
    password_hash: doc.password_hash,
    display_name: doc.display_name ?? null,
    avatar_url: doc.avatar_url ?? null,
    created_at: doc.created_at,
    last_seen: doc.last_seen ?? null,
    totp_secret: doc.totp_secret ?? null,
    totp_last_step: doc.totp_last_step ?? null,
    recovery_codes: doc.recovery_codes ?? [],
  };
}

function toSession(doc: SessionDoc): Session {
  const { _id, ...rest } = doc;
  return { id: _id, ...rest, revoked_at: doc.revoked_at ?? null };
}

function toRoom(doc: RoomDoc): Room {
  return {
    id: doc._id,
    name: doc.name,
    description: doc.description,
    creator_id: doc.creator_id,
    is_private: doc.is_private,
    is_direct: doc.is_direct,
    created_at: doc.created_at,
    last_seq: doc.last_seq,
  };
}

function toMessage(doc: MessageDoc): Message {
  const message: Message = {
    id: doc._id,
    room_id: doc.room_id,
    seq: doc.seq,
    user_id: doc.user_id,
    username: doc.username,
    content: doc.content,
    type: doc.type,
    timestamp: doc.timestamp,
  };
  if (typeof doc.client_id === "string") message.client_id = doc.client_id;
  return message;
}

/** What the repositories share: the collections, the operation time limit and the availability tracking. */
class Context {
  readonly users: Collection<UserDoc>;
  readonly rooms: Collection<RoomDoc>;
  readonly memberships: Collection<MembershipDoc>;
  readonly messages: Collection<MessageDoc>;
  readonly sessions: Collection<SessionDoc>;
  readonly refreshTokens: Collection<RefreshTokenDoc>;
  readonly passwordResets: Collection<PasswordResetDoc>;
  readonly claims: Collection<ClaimDoc>;
  /** Options for every operation: the server gives up after `maxTimeMS`. */
  readonly op: { maxTimeMS: number };
  readonly #log: Logger;
  #available = true;

  constructor(readonly db: Db, timeoutMs: number, log: Logger) {
    this.users = db.collection("users");
    this.rooms = db.collection("rooms");
    this.memberships = db.collection("memberships");
    this.messages = db.collection("messages");
    this.sessions = db.collection("sessions");
    this.refreshTokens = db.collection("refresh_tokens");
    this.passwordResets = db.collection("password_resets");
    this.claims = db.collection("claims");
    this.op = { maxTimeMS: timeoutMs };
    this.#log = log;
  }

  /**
   * Runs `fn`, turning unavailability into `StoreUnavailableError` and other driver errors into
   * `Cannot <action>` errors with the cause; logs the start and the end of an outage once each.
   */
  async run<T>(action: string, fn: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      if (isUnavailable(error)) {
        if (this.#available) {
          this.#available = false;
          this.#log.error("MongoDB unavailable", { error });
        }
        throw new StoreUnavailableError("MongoDB is unavailable", { cause: error });
      }
      // The server answered, so it is reachable again.
      if (error instanceof MongoServerError || error instanceof ConflictError) this.#recovered();
      if (error instanceof MongoError) throw new Error(`Cannot ${action}`, { cause: error });
      throw error;
    }
    this.#recovered();
    return result;
  }

  /** Records the one use of `key`; false when it was used before (see `ClaimDoc`). */
  async claim(key: string, at: string): Promise<boolean> {
    try {
      await this.claims.insertOne({ _id: key, at }, this.op);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  #recovered(): void {
    if (this.#available) return;
    this.#available = true;
    this.#log.info("MongoDB available again");
  }
}

class MongoUserRepo implements UserRepo {
  constructor(private readonly c: Context) {}

  create(user: NewUser): Promise<User> {
    return this.c.run(`create user "${user.username}"`, async () => {
      const doc: UserDoc = {
        _id: newId(),
        username: user.username,
        username_lower: user.username.toLowerCase(),
        email: user.email,
        email_lower: user.email.toLowerCase(),
        password_hash: user.password_hash,
        display_name: null,
        display_name_lower: null,
        avatar_url: null,
        created_at: new Date().toISOString(),
        last_seen: null,
        totp_secret: null,
        totp_last_step: null,
        recovery_codes: [],
      };
      try {
        await this.c.users.insertOne(doc, this.c.op);
        return toUser(doc);
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // The error does not reliably name the index (FerretDB omits keyPattern): ask, username first.
      const taken = { username_lower: doc.username_lower };
      if (await this.c.users.findOne(taken, { ...this.c.op, projection: { _id: 1 } })) {
        throw new ConflictError("username", `Username "${user.username}" is already taken`);
      }
      throw new ConflictError("email", `Email "${user.email}" is already registered`);
    });
  }

  byId(id: string): Promise<User | null> {
    return this.c.run(`read user "${id}"`, async () => {
      const doc = await this.c.users.findOne({ _id: id }, this.c.op);
      return doc ? toUser(doc) : null;
    });
  }

  byEmail(email: string): Promise<User | null> {
    return this.c.run("read a user by email", async () => {
      const doc = await this.c.users.findOne({ email_lower: email.toLowerCase() }, this.c.op);
      return doc ? toUser(doc) : null;
    });
  }

  byUsername(username: string): Promise<User | null> {
    return this.c.run("read a user by username", async () => {
      const doc = await this.c.users.findOne({ username_lower: username.toLowerCase() }, this.c.op);
      return doc ? toUser(doc) : null;
    });
  }

  byIds(ids: string[]): Promise<User[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.c.run("read users", async () => {
      const docs = await this.c.users.find({ _id: { $in: [...new Set(ids)] } }, this.c.op).toArray();
      return docs.map(toUser);
    });
  }

  search(text: string, limit: number): Promise<User[]> {
    if (limit <= 0) return Promise.resolve([]); // for the driver, limit 0 means "no limit"
    return this.c.run("search users", async () => {
      // Every character of the text escaped: the pattern matches the text literally, never as a pattern.
      const $regex = literalPattern(text.toLowerCase());
      const docs = await this.c.users
        .find({ $or: [{ username_lower: { $regex } }, { display_name_lower: { $regex } }] }, {
          ...this.c.op,
          sort: { username_lower: 1 },
          limit,
        })
        .toArray();
      return docs.map(toUser);
    });
  }

  updateProfile(id: string, update: ProfileUpdate): Promise<User | null> {
    return this.c.run(`update the profile of user "${id}"`, async () => {
      const set: Partial<Pick<UserDoc, "display_name" | "display_name_lower" | "avatar_url">> = {};
      if (update.display_name !== undefined) {
        set.display_name = update.display_name;
        set.display_name_lower = update.display_name?.toLowerCase() ?? null;
      }
      if (update.avatar_url !== undefined) set.avatar_url = update.avatar_url;
      const doc = Object.keys(set).length === 0
        ? await this.c.users.findOne({ _id: id }, this.c.op)
        : await this.c.users.findOneAndUpdate({ _id: id }, { $set: set }, {
          ...this.c.op,
          returnDocument: "after",
        });
      return doc ? toUser(doc) : null;
    });
  }

  setLastSeen(id: string, at: string): Promise<void> {
    return this.c.run(`update the last seen time of user "${id}"`, async () => {
      await this.c.users.updateOne({ _id: id }, { $set: { last_seen: at } }, this.c.op);
    });
  }
  setPassword(id: string, passwordHash: string): Promise<boolean> {
    return this.c.run("set a password", async () => {
      const result = await this.c.users.updateOne(
        { _id: id },
        { $set: { password_hash: passwordHash } },
        this.c.op,
      );
      return result.matchedCount === 1;
    });
  }

  setTwoFactor(id: string, value: { secret: string; recovery_codes: string[] } | null): Promise<boolean> {
    return this.c.run("set two-factor sign-in", async () => {
      const set = {
        totp_secret: value?.secret ?? null,
        totp_last_step: null,
        recovery_codes: value?.recovery_codes ?? [],
      };
      const result = await this.c.users.updateOne({ _id: id }, { $set: set }, this.c.op);
      return result.matchedCount === 1;
    });
  }

  useTotpStep(id: string, step: number): Promise<boolean> {
    return this.c.run("use a TOTP step", async () => {
      const user = await this.c.users.findOne({ _id: id }, this.c.op);
      if (typeof user?.totp_secret !== "string" || (user.totp_last_step ?? -1) >= step) return false;
      if (!await this.c.claim(`totp:${id}:${step}`, new Date().toISOString())) return false;
      const result = await this.c.users.updateOne(
        {
          _id: id,
          totp_secret: { $type: "string" },
          $or: [{ totp_last_step: null }, { totp_last_step: { $lt: step } }],
        },
        { $set: { totp_last_step: step } },
        this.c.op,
      );
      return result.modifiedCount === 1;
    });
  }

  useRecoveryCode(id: string, hash: string): Promise<boolean> {
    return this.c.run("use a recovery code", async () => {
      const user = await this.c.users.findOne({ _id: id, recovery_codes: hash }, this.c.op);
      if (user === null || !await this.c.claim(`recovery:${id}:${hash}`, new Date().toISOString())) {
        return false;
      }
      const result = await this.c.users.updateOne(
        { _id: id, recovery_codes: hash },
        { $pull: { recovery_codes: hash } },
        this.c.op,
      );
      return result.modifiedCount === 1;
    });
  }

  addPasswordReset(userId: string, hash: string, expires_at: string): Promise<void> {
    return this.c.run("store a password reset", async () => {
      await this.c.passwordResets.insertOne(
        { _id: hash, user_id: userId, expires_at, used_at: null },
        this.c.op,
      );
    });
  }

  usePasswordReset(hash: string, now: string): Promise<string | null> {
    return this.c.run("use a password reset", async () => {
      const reset = await this.c.passwordResets.findOne({
        _id: hash,
        used_at: null,
        expires_at: { $gt: now },
      }, this.c.op);
      if (reset === null || !await this.c.claim(`reset:${hash}`, now)) return null;
      const doc = await this.c.passwordResets.findOneAndUpdate(
        { _id: hash, used_at: null, expires_at: { $gt: now } },
        { $set: { used_at: now } },
        this.c.op,
      );
      return doc?.user_id ?? null;
    });
  }
}

class MongoRoomRepo implements RoomRepo {
  constructor(private readonly c: Context) {}

  create(room: NewRoom): Promise<Room> {
    return this.c.run(`create room "${room.name}"`, async () => {
      const doc: RoomDoc = {
        _id: newId(),
        name: room.name,
        name_key: roomNameKey(room.name),
        description: room.description,
        creator_id: room.creator_id,
        is_private: room.is_private,
        is_direct: false,
        created_at: new Date().toISOString(),
        last_seq: 0,
        join_counter: 1,
      };
      // The member first: whoever finds the room also finds its creator in it.
      await this.#insertMember(doc._id, room.creator_id, 1, doc.created_at);
      try {
        await this.c.rooms.insertOne(doc, this.c.op);
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        // The room's _id is new, so the name is taken: the membership goes with the room that never was.
        await this.c.memberships.deleteOne({ _id: membershipId(doc._id, room.creator_id) }, this.c.op);
        throw nameTaken(room.name);
      }
      return toRoom(doc);
    });
  }

  update(id: string, update: RoomUpdate): Promise<Room | null> {
    return this.c.run(`update room "${id}"`, async () => {
      const room = await this.c.rooms.findOne({ _id: id }, this.c.op);
      if (!room) return null;
      const set: Partial<Pick<RoomDoc, "name" | "name_key" | "description">> = {};
      if (update.name !== undefined) {
        set.name = update.name;
        if (!room.is_direct) set.name_key = roomNameKey(update.name);
      }
      if (update.description !== undefined) set.description = update.description;
      if (Object.keys(set).length === 0) return toRoom(room);
      try {
        const doc = await this.c.rooms.findOneAndUpdate({ _id: id }, { $set: set }, {
          ...this.c.op,
          returnDocument: "after",
        });
        return doc ? toRoom(doc) : null;
      } catch (error) {
        if (set.name_key === undefined || !(error instanceof MongoServerError)) throw error;
        // FerretDB v1 answers an update that breaks a unique index with InternalError (code 1), not 11000:
        // whatever the code, the update failed; ask whether another room holds the name.
        const holder = await this.c.rooms.findOne(
          { is_direct: false, name_key: set.name_key, _id: { $ne: id } },
          { ...this.c.op, projection: { _id: 1 } },
        );
        if (holder) throw nameTaken(set.name!);
        throw error;
      }
    });
  }

  byId(id: string): Promise<Room | null> {
    return this.c.run(`read room "${id}"`, async () => {
      const doc = await this.c.rooms.findOne({ _id: id }, this.c.op);
      return doc ? toRoom(doc) : null;
    });
  }

  listVisible(userId: string): Promise<Room[]> {
    return this.c.run(`list the rooms visible to "${userId}"`, async () => {
      const ids = await this.#roomIdsOf(userId);
      const docs = await this.c.rooms
        .find({ $or: [{ is_private: false }, { _id: { $in: ids } }] }, {
          ...this.c.op,
          sort: { created_at: 1, _id: 1 },
        })
        .toArray();
      return docs.map(toRoom);
    });
  }

  roomIdsOf(userId: string): Promise<string[]> {
    return this.c.run(`list the rooms of "${userId}"`, () => this.#roomIdsOf(userId));
  }

  directRoom(a: string, b: string, name: string): Promise<{ room: Room; created: boolean }> {
    return this.c.run(`open the direct room of "${a}" and "${b}"`, async () => {
      const [first, second] = a < b ? [a, b] : [b, a];
      const id = derivedId("dm", first, second);
      const existing = await this.c.rooms.findOne({ _id: id }, this.c.op);
      if (existing) return { room: toRoom(existing), created: false };
      const doc: RoomDoc = {
        _id: id,
        name,
        name_key: id,
        description: "",
        creator_id: a,
        is_private: true,
        is_direct: true,
        created_at: new Date().toISOString(),
        last_seq: 0,
        join_counter: 2,
      };
      // Members before the room, with join_seq fixed by the pair, so racing callers write the same ones.
      await this.#insertMember(id, first, 1, doc.created_at);
      await this.#insertMember(id, second, 2, doc.created_at);
      try {
        await this.c.rooms.insertOne(doc, this.c.op);
        return { room: toRoom(doc), created: true };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const winner = await this.c.rooms.findOne({ _id: id }, this.c.op);
      if (!winner) throw new Error(`Direct room "${id}" vanished while being created`);
      return { room: toRoom(winner), created: false };
    });
  }

  addMember(roomId: string, userId: string): Promise<boolean> {
    return this.c.run(`add "${userId}" to room "${roomId}"`, async () => {
      const id = membershipId(roomId, userId);
      // Checked first so that joining twice does not use up a join_seq.
      if (await this.c.memberships.findOne({ _id: id }, { ...this.c.op, projection: { _id: 1 } })) {
        return false;
      }
      // No projection on findOneAndUpdate: FerretDB v1 rejects its "fields" parameter.
      const room = await this.c.rooms.findOneAndUpdate({ _id: roomId }, { $inc: { join_counter: 1 } }, {
        ...this.c.op,
        returnDocument: "after",
      });
      if (!room) throw new Error(`Cannot add "${userId}" to unknown room "${roomId}"`);
      return await this.#insertMember(roomId, userId, room.join_counter, new Date().toISOString());
    });
  }

  removeMember(roomId: string, userId: string): Promise<boolean> {
    return this.c.run(`remove "${userId}" from room "${roomId}"`, async () => {
      const { deletedCount } = await this.c.memberships.deleteOne(
        { _id: membershipId(roomId, userId) },
        this.c.op,
      );
      return deletedCount === 1;
    });
  }

  isMember(roomId: string, userId: string): Promise<boolean> {
    return this.c.run(`check whether "${userId}" is in room "${roomId}"`, async () => {
      const doc = await this.c.memberships.findOne({ _id: membershipId(roomId, userId) }, {
        ...this.c.op,
        projection: { _id: 1 },
      });
      return doc !== null;
    });
  }

  memberIds(roomId: string): Promise<string[]> {
    return this.c.run(`list the members of room "${roomId}"`, async () => {
      const docs = await this.c.memberships
        .find({ room_id: roomId }, { ...this.c.op, sort: { join_seq: 1 }, projection: { user_id: 1 } })
        .toArray();
      return docs.map((doc) => doc.user_id);
    });
  }

  memberCounts(roomIds: string[]): Promise<Map<string, number>> {
    const ids = [...new Set(roomIds)].sort();
    if (ids.length === 0) return Promise.resolve(new Map());
    return this.c.run(`count the members of ${ids.length} rooms`, async () => {
      const counts = new Map<string, number>();
      // One aggregate per IN_BATCH rooms (one for any ordinary user), on the {room_id, join_seq} index.
      for (let start = 0; start < ids.length; start += IN_BATCH) {
        const rows = await this.c.memberships.aggregate<{ _id: string; members: number }>([
          { $match: { room_id: { $in: ids.slice(start, start + IN_BATCH) } } },
          { $group: { _id: "$room_id", members: { $sum: 1 } } },
        ], this.c.op).toArray();
        for (const row of rows) counts.set(row._id, Number(row.members));
      }
      return counts;
    });
  }

  directRoomIds(roomIds: string[]): Promise<Set<string>> {
    const ids = [...new Set(roomIds)].sort();
    if (ids.length === 0) return Promise.resolve(new Set());
    return this.c.run(`find the direct rooms among ${ids.length} rooms`, async () => {
      const found = new Set<string>();
      for (let start = 0; start < ids.length; start += IN_BATCH) {
        const docs = await this.c.rooms
          .find({ _id: { $in: ids.slice(start, start + IN_BATCH) }, is_direct: true }, {
            ...this.c.op,
            projection: { _id: 1 },
          })
          .toArray();
        for (const doc of docs) found.add(doc._id);
      }
      return found;
    });
  }

  lastSeqs(roomIds: string[]): Promise<Map<string, number>> {
    const ids = [...new Set(roomIds)].sort();
    if (ids.length === 0) return Promise.resolve(new Map());
    return this.c.run(`read the last seq of ${ids.length} rooms`, async () => {
      const seqs = new Map<string, number>();
      for (let start = 0; start < ids.length; start += IN_BATCH) {
        const docs = await this.c.rooms
          .find({ _id: { $in: ids.slice(start, start + IN_BATCH) } }, {
            ...this.c.op,
            projection: { last_seq: 1 },
          })
          .toArray();
        for (const doc of docs) seqs.set(doc._id, Number(doc.last_seq ?? 0));
      }
      return seqs;
    });
  }

  markRead(roomId: string, userId: string, seq: number): Promise<number | null> {
    if (!Number.isInteger(seq)) return Promise.reject(new RangeError(`Invalid read marker: ${seq}`));
    return this.c.run(`mark room "${roomId}" read for "${userId}"`, async () => {
      const room = await this.c.rooms.findOne({ _id: roomId }, { ...this.c.op, projection: { last_seq: 1 } });
      if (!room) return null;
      const doc = await this.c.memberships.findOneAndUpdate(
        { _id: membershipId(roomId, userId) },
        { $max: { last_read_seq: Math.min(seq, room.last_seq) } },
        { ...this.c.op, returnDocument: "after" },
      );
      return doc ? doc.last_read_seq : null;
    });
  }

  readSeqs(userId: string): Promise<Map<string, number>> {
    return this.c.run(`read the read markers of "${userId}"`, async () => {
      const docs = await this.c.memberships
        .find({ user_id: userId }, { ...this.c.op, projection: { room_id: 1, last_read_seq: 1 } })
        .toArray();
      return new Map(docs.map((doc) => [doc.room_id, doc.last_read_seq]));
    });
  }

  async #roomIdsOf(userId: string): Promise<string[]> {
    const docs = await this.c.memberships
      .find({ user_id: userId }, {
        ...this.c.op,
        sort: { joined_at: 1, room_id: 1 },
        projection: { room_id: 1 },
      })
      .toArray();
    return docs.map((doc) => doc.room_id);
  }

  /** Inserts a membership; false when it already exists. */
  async #insertMember(roomId: string, userId: string, joinSeq: number, at: string): Promise<boolean> {
    try {
      await this.c.memberships.insertOne({
        _id: membershipId(roomId, userId),
        room_id: roomId,
        user_id: userId,
        joined_at: at,
        join_seq: joinSeq,
        last_read_seq: 0,
      }, this.c.op);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }
}

class MongoMessageRepo implements MessageRepo {
  constructor(private readonly c: Context) {}

  append(message: NewMessage): Promise<AppendResult> {
    const { room_id, user_id, client_id } = message;
    return this.c.run(`append a message to room "${room_id}"`, async () => {
      const id = client_id === undefined ? newId() : derivedId(room_id, user_id, client_id);
      if (client_id !== undefined) {
        const existing = await this.#byId(id);
        if (existing) return { message: existing, created: false };
      }
      const room = await this.c.rooms.findOne({ _id: room_id }, {
        ...this.c.op,
        projection: { last_seq: 1 },
      });
      if (!room) throw new Error(`Cannot append a message to unknown room "${room_id}"`);
      // Never below the room's last seq: if retention ever removed the newest messages, seqs are not reused.
      const floor = room.last_seq ?? 0;

      for (let attempt = 1; attempt <= APPEND_ATTEMPTS; attempt++) {
        const [last] = await this.c.messages
          .find({ room_id }, { ...this.c.op, sort: { seq: -1 }, limit: 1, projection: { seq: 1 } })
          .toArray();
        const doc: MessageDoc = {
          _id: id,
          room_id,
          seq: Math.max(last?.seq ?? 0, floor) + 1,
          user_id,
          username: message.username,
          content: message.content,
          type: message.type,
          timestamp: new Date().toISOString(),
        };
        if (client_id !== undefined) doc.client_id = client_id;
        try {
          await this.c.messages.insertOne(doc, this.c.op);
          await this.#raiseLastSeq(room_id, doc.seq);
          return { message: toMessage(doc), created: true };
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
        }
        // Either our _id exists (a racing send with this client_id, or a retried insert of ours that did
        // land) or another writer took this seq: then try the next one.
        const existing = await this.#byId(id);
        if (existing) return { message: existing, created: client_id === undefined };
        await delay(Math.random() * Math.min(attempt, 10));
      }
      throw new Error(
        `Cannot append a message to room "${room_id}": no free seq after ${APPEND_ATTEMPTS} tries`,
      );
    });
  }

  history(roomId: string, query: HistoryQuery): Promise<HistoryPage> {
    const { limit, offset, before_seq, after_seq } = query;
    const cursors = [offset, before_seq, after_seq].filter((value) => value !== undefined).length;
    if (cursors > 1) {
      return Promise.reject(
        new TypeError("History query takes only one of offset, before_seq and after_seq"),
      );
    }
    if (!Number.isInteger(limit) || limit < 0) {
      return Promise.reject(new RangeError(`Invalid history limit: ${limit}`));
    }
    if (offset !== undefined && (!Number.isInteger(offset) || offset < 0)) {
      return Promise.reject(new RangeError(`Invalid history offset: ${offset}`));
    }
    return this.c.run(`read the history of room "${roomId}"`, async () => {
      const [total, docs] = await Promise.all([
        this.c.messages.countDocuments({ room_id: roomId }, this.c.op),
        limit === 0 ? [] : this.#page(roomId, query),
      ]);
      const messages = docs.map(toMessage);
      if (after_seq === undefined) messages.reverse();
      return { messages, total };
    });
  }

  #page(roomId: string, query: HistoryQuery): Promise<MessageDoc[]> {
    const { filter, options } = historyFind(roomId, query);
    return this.c.messages.find(filter, { ...this.c.op, ...options }).toArray();
  }

  async #byId(id: string): Promise<Message | null> {
    const doc = await this.c.messages.findOne({ _id: id }, this.c.op);
    if (!doc) return null;
    // Also repairs last_seq when an earlier call stored the message but died before raising it.
    await this.#raiseLastSeq(doc.room_id, doc.seq);
    return toMessage(doc);
  }

  async #raiseLastSeq(roomId: string, seq: number): Promise<void> {
    await this.c.rooms.updateOne({ _id: roomId }, { $max: { last_seq: seq } }, this.c.op);
  }
}

/**
 * The find behind a `history()` page (without its time limit): newest first for `offset` and `before_seq` (the
 * caller reverses the page), oldest first for `after_seq`. All three match a prefix of the `{room_id, seq}`
 * index and sort on its next key, so MongoDB reads just the page from the index.
 *
 * @example
 * historyFind("r1", { before_seq: 50, limit: 20 });
 * // { filter: { room_id: "r1", seq: { $lt: 50 } }, options: { sort: { seq: -1 }, limit: 20 } }
 */
export function historyFind(roomId: string, query: HistoryQuery): {
  filter: Filter<MessageDoc>;
  options: { sort: { seq: 1 | -1 }; limit: number; skip?: number };
} {
  const { limit, offset, before_seq, after_seq } = query;
  if (after_seq !== undefined) {
    return { filter: { room_id: roomId, seq: { $gt: after_seq } }, options: { sort: { seq: 1 }, limit } };
  }
  if (before_seq !== undefined) {
    return { filter: { room_id: roomId, seq: { $lt: before_seq } }, options: { sort: { seq: -1 }, limit } };
  }
  return { filter: { room_id: roomId }, options: { sort: { seq: -1 }, limit, skip: offset ?? 0 } };
}

class MongoSessionRepo implements SessionRepo {
  constructor(private readonly c: Context) {}

  create(session: NewSession): Promise<Session> {
    return this.c.run("create a session", async () => {
      const now = new Date().toISOString();
      const doc: SessionDoc = {
        _id: newId(),
        user_id: session.user_id,
        device: session.device,
        ip: session.ip,
        created_at: now,
        last_used_at: now,
        expires_at: session.expires_at,
        revoked_at: null,
      };
      await this.c.sessions.insertOne(doc, this.c.op);
      await this.c.refreshTokens.insertOne(
        { _id: session.refresh_hash, session_id: doc._id, used_at: null },
        this.c.op,
      );
      return toSession(doc);
    });
  }

  byId(id: string): Promise<Session | null> {
    return this.c.run("read a session", async () => {
      const doc = await this.c.sessions.findOne({ _id: id }, this.c.op);
      return doc ? toSession(doc) : null;
    });
  }

  activeOf(userId: string, now: string): Promise<Session[]> {
    return this.c.run("list sessions", async () => {
      const docs = await this.c.sessions
        .find({ user_id: userId, revoked_at: null, expires_at: { $gt: now } }, {
          ...this.c.op,
          sort: { last_used_at: -1, _id: -1 },
        })
        .toArray();
      return docs.map(toSession);
    });
  }

  /**
   * Without transactions (FerretDB v1 has none): the token is marked used by one conditional update, so of two
   * concurrent uses exactly one rotates and the other is seen as a reuse.
   */
  rotate(
    hash: string,
    next: { hash: string; at: string; ip: string; expires_at: string },
  ): Promise<RotateResult> {
    return this.c.run("rotate a refresh token", async (): Promise<RotateResult> => {
      const token = await this.c.refreshTokens.findOne({ _id: hash }, this.c.op);
      if (token === null) return { outcome: "unknown" };
      const current = await this.c.sessions.findOne({ _id: token.session_id }, this.c.op);
      if (current === null) return { outcome: "unknown" };
      if ((current.revoked_at ?? null) !== null || current.expires_at <= next.at) {
        return { outcome: "ended", session: toSession(current) };
      }
      const claimed = token.used_at === null && await this.c.claim(`refresh:${hash}`, next.at);
      if (claimed) {
        await this.c.refreshTokens.updateOne({ _id: hash }, { $set: { used_at: next.at } }, this.c.op);
      } else {
        const revoked = await this.#revoke(current._id, current.user_id, next.at);
        return { outcome: "reused", session: revoked ?? { ...toSession(current), revoked_at: next.at } };
      }
      await this.c.refreshTokens.insertOne(
        { _id: next.hash, session_id: current._id, used_at: null },
        this.c.op,
      );
      const updated = await this.c.sessions.findOneAndUpdate(
        { _id: current._id },
        { $set: { last_used_at: next.at, ip: next.ip, expires_at: next.expires_at } },
        { ...this.c.op, returnDocument: "after" },
      );
      return { outcome: "rotated", session: toSession(updated ?? current) };
    });
  }

  revoke(id: string, userId: string, at: string): Promise<Session | null> {
    return this.c.run("revoke a session", () => this.#revoke(id, userId, at));
  }

  async #revoke(id: string, userId: string, at: string): Promise<Session | null> {
    const doc = await this.c.sessions.findOneAndUpdate(
      { _id: id, user_id: userId, revoked_at: null, expires_at: { $gt: at } },
      { $set: { revoked_at: at } },
      { ...this.c.op, returnDocument: "after" },
    );
    if (doc === null) return null;
    await this.c.refreshTokens.deleteMany({ session_id: id }, this.c.op);
    return toSession(doc);
  }

  revokeAllOf(userId: string, at: string, exceptId?: string): Promise<string[]> {
    return this.c.run("revoke sessions", async () => {
      const filter = {
        user_id: userId,
        revoked_at: null,
        expires_at: { $gt: at },
        ...(exceptId === undefined ? {} : { _id: { $ne: exceptId } }),
      };
      const ids = (await this.c.sessions.find(filter, { ...this.c.op, projection: { _id: 1 } }).toArray())
        .map((doc) => doc._id);
      if (ids.length === 0) return [];
      await this.c.sessions.updateMany(
        { _id: { $in: ids }, revoked_at: null },
        { $set: { revoked_at: at } },
        this.c.op,
      );
      await this.c.refreshTokens.deleteMany({ session_id: { $in: ids } }, this.c.op);
      return ids;
    });
  }
}

/** A `Store` on one MongoDB database (MongoDB 4.4+ or FerretDB v1). */
export class MongoStore implements Store {
  readonly users: UserRepo;
  readonly rooms: RoomRepo;
  readonly messages: MessageRepo;
  readonly sessions: SessionRepo;
  readonly #client: MongoClient;
  readonly #context: Context;
  #closed = false;

  private constructor(client: MongoClient, context: Context) {
    this.#client = client;
    this.#context = context;
    this.users = new MongoUserRepo(context);
    this.rooms = new MongoRoomRepo(context);
    this.messages = new MongoMessageRepo(context);
    this.sessions = new MongoSessionRepo(context);
  }

  /**
   * Connects, refuses a database written by a newer server (a higher schema version), creates the indexes
   * (idempotent) and records the schema version. Throws `StoreUnavailableError` when the server cannot be
   * reached within the server selection timeout (3 s).
   */
  static async open(options: MongoStoreOptions): Promise<MongoStore> {
    const { url, poolSize = DEFAULT_POOL_SIZE, timeoutMs = DEFAULT_TIMEOUT_MS, log = nullLogger } = options;
    if (!Number.isInteger(poolSize) || poolSize < 1) {
      throw new RangeError(`Invalid MongoDB pool size: ${poolSize}`);
    }
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      throw new RangeError(`Invalid MongoDB timeout: ${timeoutMs}`);
    }
    const dbName = databaseName(url);
    let client: MongoClient;
    try {
      client = new MongoClient(url, {
        maxPoolSize: poolSize,
        serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS,
        connectTimeoutMS: CONNECT_TIMEOUT_MS,
        socketTimeoutMS: timeoutMs + SOCKET_GRACE_MS,
      });
    } catch (error) {
      // The URL may hold a password: name it only through the driver's own message.
      throw new Error("Invalid MongoDB URL", { cause: error });
    }
    const context = new Context(client.db(dbName), timeoutMs, log);
    try {
      await client.connect();
      await setUpSchema(context);
      return new MongoStore(client, context);
    } catch (error) {
      await client.close().catch(() => {});
      if (error instanceof SchemaVersionError) throw error;
      if (isUnavailable(error)) throw new StoreUnavailableError("MongoDB is unavailable", { cause: error });
      throw new Error(`Cannot open MongoDB database "${dbName}"`, { cause: error });
    }
  }

  /** Runs the server's `ping`; throws `StoreUnavailableError` when it cannot be reached. */
  async ping(): Promise<void> {
    if (this.#closed) throw new Error("MongoDB store is closed");
    await this.#context.run("ping MongoDB", () => this.#context.db.command({ ping: 1 }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }
}

/**
 * v2: unique room names (`name_key`, see room_names.ts) and people search by display name
 * (`display_name_lower`). Existing duplicate names are made unique before the unique index is created: the
 * oldest room keeps its name, later ones get a suffix ("general (2)"); no room or message is lost. Running it
 * again (a start that died half-way) gives the same result.
 */
async function migrateToV2(c: Context): Promise<void> {
  const users = await c.users
    .find({ display_name_lower: { $exists: false } }, { ...c.op, projection: { display_name: 1 } })
    .toArray();
  for (const user of users) {
    const display_name_lower = typeof user.display_name === "string" ? user.display_name.toLowerCase() : null;
    await c.users.updateOne({ _id: user._id }, { $set: { display_name_lower } }, c.op);
  }
  const rooms = await c.rooms
    .find({}, {
      ...c.op,
      sort: { created_at: 1, _id: 1 },
      projection: { name: 1, is_direct: 1, name_key: 1 },
    })
    .toArray();
  const named = rooms.filter((room) => !room.is_direct).map((room) => ({ id: room._id, name: room.name }));
  const renames = renamesForDuplicates(named);
  for (const room of rooms) {
    const name = renames.get(room._id) ?? room.name;
    const name_key = room.is_direct ? room._id : roomNameKey(name);
    if (name === room.name && name_key === room.name_key) continue;
    await c.rooms.updateOne({ _id: room._id }, { $set: { name, name_key } }, c.op);
  }
}

/** Checks the schema version, creates the indexes and records the version (never lowering it). */
async function setUpSchema(c: Context): Promise<void> {
  const meta = c.db.collection<MetaDoc>("meta");
  const check = async () => {
    const doc = await meta.findOne({ _id: "schema" }, c.op);
    if (doc && typeof doc.version === "number" && doc.version > SCHEMA_VERSION) {
      throw new SchemaVersionError(doc.version, SCHEMA_VERSION);
    }
  };
  await check();
  const stored = await meta.findOne({ _id: "schema" }, c.op);
  if ((stored?.version ?? 0) < 2) await migrateToV2(c);
  for (const [name, indexes] of Object.entries(INDEXES)) {
    // One index per command: FerretDB v1.24 drops the connection when one createIndexes names several
    // indexes that all exist already (a panic in its handler), which is every start after the first.
    for (const index of indexes) await c.db.collection(name).createIndexes([{ ...index }], c.op);
  }
  await meta.updateOne({ _id: "schema" }, { $max: { version: SCHEMA_VERSION } }, { ...c.op, upsert: true });
  // A newer server may have raised the version while the indexes were created.
  await check();
}

// node:sqlite is synchronous; the methods stay `async` so that they match the interface and a thrown error
// always arrives as a rejected promise.
// deno-lint-ignore-file require-await

/**
 * `SqliteStore`: the embedded default store, on `node:sqlite`.
 *
 * One database file may be shared by several server processes: WAL journal, a busy timeout (1 s by default:
 * the process is blocked while it waits, so a lock held longer is `StoreUnavailableError`) and
 * `BEGIN IMMEDIATE` write transactions make `seq` assignment race-free across processes. `node:sqlite` is
 * synchronous, so no other call of this process can run between `BEGIN` and `COMMIT`.
 *
 * @example
 * const store = SqliteStore.open({ path: "data/chat.db" });
 * const { message } = await store.messages.append({ room_id, user_id, username, content: "hi", type: "text" });
 * await store.close();
 */

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { newId } from "../ids.ts";
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

export interface SqliteStoreOptions {
  /** A file path (its directory is created when missing) or `":memory:"`. */
  path: string;
  /**
   * How long a write waits for another process's write lock before it fails with `StoreUnavailableError`
   * (`SQLITE_BUSY_TIMEOUT_MS`, default 1000). `node:sqlite` is synchronous: the whole process waits that long.
   */
  busyTimeoutMs?: number;
}

/** The default of `SqliteStoreOptions.busyTimeoutMs`. */
export const DEFAULT_BUSY_TIMEOUT_MS = 1_000;
/** The busy timeout while the schema is created or migrated at start-up (several processes may open at once). */
const OPEN_BUSY_TIMEOUT_MS = 5_000;
/** How long the recovery probe waits for the write lock. */
const PROBE_BUSY_TIMEOUT_MS = 20;

/** The schema version this code creates and understands, kept in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 4;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  username_lower TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL,
  email_lower TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  display_name TEXT,
  display_name_lower TEXT,
  avatar_url TEXT,
  created_at TEXT NOT NULL,
  last_seen TEXT,
  totp_secret TEXT,
  totp_last_step INTEGER,
  recovery_codes TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS rooms (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT,
  description TEXT NOT NULL,
  creator_id TEXT NOT NULL,
  is_private INTEGER NOT NULL,
  is_direct INTEGER NOT NULL,
  direct_key TEXT UNIQUE,
  created_at TEXT NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS memberships (
  room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  joined_at TEXT NOT NULL,
  join_seq INTEGER NOT NULL,
  last_read_seq INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (room_id, user_id),
  UNIQUE (room_id, join_seq)
);
CREATE INDEX IF NOT EXISTS memberships_user_id ON memberships (user_id);
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  username TEXT NOT NULL,
  content TEXT NOT NULL,
  type TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  client_id TEXT,
  UNIQUE (room_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_id ON messages (room_id, user_id, client_id)
  WHERE client_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  device TEXT NOT NULL,
  ip TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
  hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  used_at TEXT
);
CREATE INDEX IF NOT EXISTS refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE TABLE IF NOT EXISTS password_resets (
  hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT
);
`;

/** Created after the migrations, which add the column it indexes to an older file. */
const ROOM_NAME_INDEX = `
CREATE UNIQUE INDEX IF NOT EXISTS rooms_name_key ON rooms (name_key) WHERE is_direct = 0;
`;

const SQLITE_BUSY = 5;
/**
 * Primary result codes that say the database cannot take requests now rather than that a request is wrong:
 * BUSY, LOCKED (a lock held past the busy timeout), READONLY, IOERR, FULL, CANTOPEN.
 */
const UNAVAILABLE_CODES = new Set([5, 6, 8, 10, 13, 14]);
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const BEGIN_ATTEMPTS = 5;

type Row = Record<string, SQLOutputValue>;

/** The `SQLITE_*` result code of a `node:sqlite` error, or undefined for other errors. */
function sqliteCode(error: unknown): number | undefined {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === "number" ? code : undefined;
}

/** `error` as a `StoreUnavailableError` when its result code says the database is unavailable; else itself. */
function unavailable(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  // The repositories wrap driver errors (`cause`) in messages that name what failed.
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = sqliteCode(e);
    if (code === undefined || !UNAVAILABLE_CODES.has(code & 0xff)) continue;
    const text = (e as { errstr?: unknown }).errstr;
    return new StoreUnavailableError(`SQLite: ${typeof text === "string" ? text : `result code ${code}`}`, {
      cause: error,
    });
  }
  return error;
}

/** A proxy of a repository whose methods reject with `StoreUnavailableError` for `unavailable()` errors. */
function mapUnavailable<T extends object>(repo: T): T {
  // By function, not by name: a method replaced on the repository (a test's spy) is the one called.
  const cache = new WeakMap<object, unknown>();
  return new Proxy(repo, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      let wrapped = cache.get(value);
      if (wrapped === undefined) {
        wrapped = async (...args: unknown[]) => {
          try {
            return await value.apply(target, args);
          } catch (error) {
            throw unavailable(error);
          }
        };
        cache.set(value, wrapped);
      }
      return wrapped;
    },
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function assertSupportedVersion(db: DatabaseSync): number {
  const version = db.prepare("PRAGMA user_version").get()!.user_version as number;
  if (version > SCHEMA_VERSION) throw new SchemaVersionError(version, SCHEMA_VERSION);
  return version;
}

/** Creates the tables in one write transaction, re-checking the version another process may have raised. */
function createSchema(db: DatabaseSync): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    const version = assertSupportedVersion(db);
    db.exec(SCHEMA);
    if (version === 1) {
      // v2: read markers for unread counts.
      db.exec("ALTER TABLE memberships ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0");
    }
    if (version === 1 || version === 2) migrateToV3(db);
    if (version >= 1 && version <= 3) migrateToV4(db);
    db.exec(ROOM_NAME_INDEX);
    if (version < SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/**
 * v3: unique room names (`name_key`, see room_names.ts) and people search by display name
 * (`display_name_lower`). Existing duplicate names are made unique first: the oldest room keeps its name, later
 * ones get a suffix ("general (2)"); no room or message is lost.
 */
function migrateToV3(db: DatabaseSync): void {
  // A table the file did not have yet was just created by SCHEMA, with the columns.
  const hasColumn = (table: string, column: string) =>
    db.prepare("SELECT 1 FROM pragma_table_info(?) WHERE name = ?").get(table, column) !== undefined;
  if (!hasColumn("users", "display_name_lower")) {
    db.exec("ALTER TABLE users ADD COLUMN display_name_lower TEXT");
  }
  const setDisplayNameLower = db.prepare("UPDATE users SET display_name_lower = ? WHERE id = ?");
  for (const user of db.prepare("SELECT id, display_name FROM users WHERE display_name IS NOT NULL").all()) {
    setDisplayNameLower.run((user.display_name as string).toLowerCase(), user.id as string);
  }
  if (!hasColumn("rooms", "name_key")) db.exec("ALTER TABLE rooms ADD COLUMN name_key TEXT");
  const rooms = db.prepare("SELECT id, name FROM rooms WHERE is_direct = 0 ORDER BY created_at, rowid").all()
    .map((row) => ({ id: row.id as string, name: row.name as string }));
  const renames = renamesForDuplicates(rooms);
  const setName = db.prepare("UPDATE rooms SET name = ?, name_key = ? WHERE id = ?");
  for (const room of rooms) {
    const name = renames.get(room.id) ?? room.name;
    setName.run(name, roomNameKey(name), room.id);
  }
}

/** v4: two-factor sign-in on the user (the sessions and reset tables are new ones SCHEMA creates). */
function migrateToV4(db: DatabaseSync): void {
  const hasColumn = (column: string) =>
    db.prepare("SELECT 1 FROM pragma_table_info('users') WHERE name = ?").get(column) !== undefined;
  if (!hasColumn("totp_secret")) db.exec("ALTER TABLE users ADD COLUMN totp_secret TEXT");
  if (!hasColumn("totp_last_step")) db.exec("ALTER TABLE users ADD COLUMN totp_last_step INTEGER");
  if (!hasColumn("recovery_codes")) {
    db.exec("ALTER TABLE users ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT '[]'");
  }
}

/** Runs transactions on one connection; `BEGIN IMMEDIATE` is retried when another process holds the lock. */
class Database {
  readonly #begin: StatementSync;
  readonly #beginRead: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;

  constructor(readonly db: DatabaseSync, readonly busyTimeoutMs: number) {
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#beginRead = db.prepare("BEGIN");
    this.#commit = db.prepare("COMMIT");
    this.#rollback = db.prepare("ROLLBACK");
  }

  /** Runs `fn` in a write transaction; `fn` must be synchronous so that nothing else runs inside it. */
  async write<T>(fn: () => T): Promise<T> {
    const started = performance.now();
    for (let attempt = 1;; attempt++) {
      try {
        this.#begin.run();
        break;
      } catch (error) {
        // A few more tries cover the cases where SQLite does not call the busy handler; once busy_timeout has
        // been waited out, the lock is held too long: unavailable (never several busy timeouts in a row).
        const busy = ((sqliteCode(error) ?? 0) & 0xff) === SQLITE_BUSY;
        const waited = performance.now() - started >= this.busyTimeoutMs;
        if (!busy || waited || attempt >= BEGIN_ATTEMPTS) throw error;
        await delay(20 * attempt);
      }
    }
    return this.#finish(fn);
  }

  /** Runs `fn` in a read transaction, so that all its statements see one snapshot. */
  read<T>(fn: () => T): T {
    this.#beginRead.run();
    return this.#finish(fn);
  }

  #finish<T>(fn: () => T): T {
    try {
      const result = fn();
      this.#commit.run();
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.#rollback.run();
      throw error;
    }
  }
}

function nameTaken(name: string): ConflictError {
  return new ConflictError("name", `A room named "${name.trim()}" already exists`);
}

function toUser(row: Row): User {
  return {
    id: row.id as string,
    username: row.username as string,
    email: row.email as string,
    password_hash: row.password_hash as string,
    display_name: row.display_name as string | null,
    avatar_url: row.avatar_url as string | null,
    created_at: row.created_at as string,
    last_seen: row.last_seen as string | null,
    totp_secret: row.totp_secret as string | null,
    totp_last_step: row.totp_last_step as number | null,
    recovery_codes: JSON.parse(row.recovery_codes as string),
  };
}

function toSession(row: Row): Session {
  return {
    id: row.id as string,
    user_id: row.user_id as string,
    device: row.device as string,
    ip: row.ip as string,
    created_at: row.created_at as string,
    last_used_at: row.last_used_at as string,
    expires_at: row.expires_at as string,
    revoked_at: row.revoked_at as string | null,
  };
}

function toRoom(row: Row): Room {
  return {
    id: row.id as string,
    name: row.name as string,
    description: row.description as string,
    creator_id: row.creator_id as string,
    is_private: row.is_private === 1,
    is_direct: row.is_direct === 1,
    created_at: row.created_at as string,
    last_seq: row.last_seq as number,
  };
}

function toMessage(row: Row): Message {
  const message: Message = {
    id: row.id as string,
    room_id: row.room_id as string,
    seq: row.seq as number,
    user_id: row.user_id as string,
    username: row.username as string,
    content: row.content as string,
    type: row.type as MessageType,
    timestamp: row.timestamp as string,
  };
  if (row.client_id !== null) message.client_id = row.client_id as string;
  return message;
}

class SqliteUserRepo implements UserRepo {
  readonly #insert: StatementSync;
  readonly #byId: StatementSync;
  readonly #byEmail: StatementSync;
  readonly #byUsername: StatementSync;
  readonly #usernameTaken: StatementSync;
  readonly #byIds: StatementSync;
  readonly #search: StatementSync;
  readonly #updateProfile: StatementSync;
  readonly #setLastSeen: StatementSync;
  readonly #setPassword: StatementSync;
  readonly #setTwoFactor: StatementSync;
  readonly #useTotpStep: StatementSync;
  readonly #useRecoveryCode: StatementSync;
  readonly #addReset: StatementSync;
  readonly #useReset: StatementSync;

  constructor(db: DatabaseSync) {
    this.#setPassword = db.prepare("UPDATE users SET password_hash = ? WHERE id = ?");
    this.#setTwoFactor = db.prepare(
      "UPDATE users SET totp_secret = ?, totp_last_step = NULL, recovery_codes = ? WHERE id = ?",
    );
    this.#useTotpStep = db.prepare(
      `UPDATE users SET totp_last_step = ?1
       WHERE id = ?2 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < ?1)`,
    );
    // One statement, so two uses of one code cannot both succeed.
    this.#useRecoveryCode = db.prepare(
      `UPDATE users SET recovery_codes =
         (SELECT json_group_array(value) FROM json_each(recovery_codes) WHERE value <> ?1)
       WHERE id = ?2 AND EXISTS (SELECT 1 FROM json_each(recovery_codes) WHERE value = ?1)`,
    );
    this.#addReset = db.prepare("INSERT INTO password_resets (hash, user_id, expires_at) VALUES (?, ?, ?)");
    this.#useReset = db.prepare(
      `UPDATE password_resets SET used_at = ?1 WHERE hash = ?2 AND used_at IS NULL AND expires_at > ?1
       RETURNING user_id`,
    );
    this.#insert = db.prepare(
      `INSERT INTO users (id, username, username_lower, email, email_lower, password_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    );
    this.#byId = db.prepare("SELECT * FROM users WHERE id = ?");
    this.#byEmail = db.prepare("SELECT * FROM users WHERE email_lower = ?");
    this.#usernameTaken = db.prepare("SELECT 1 FROM users WHERE username_lower = ?");
    this.#byIds = db.prepare("SELECT * FROM users WHERE id IN (SELECT value FROM json_each(?))");
    this.#byUsername = db.prepare("SELECT * FROM users WHERE username_lower = ?");
    // instr() compares characters as they are: nothing in the text is a wildcard.
    this.#search = db.prepare(
      `SELECT * FROM users WHERE instr(username_lower, ?1) > 0 OR instr(display_name_lower, ?1) > 0
       ORDER BY username_lower LIMIT ?2`,
    );
    this.#updateProfile = db.prepare(
      `UPDATE users SET
         display_name = CASE WHEN ?1 THEN ?2 ELSE display_name END,
         display_name_lower = CASE WHEN ?1 THEN ?3 ELSE display_name_lower END,
         avatar_url = CASE WHEN ?4 THEN ?5 ELSE avatar_url END
       WHERE id = ?6 RETURNING *`,
    );
    this.#setLastSeen = db.prepare("UPDATE users SET last_seen = ? WHERE id = ?");
  }

  async create(user: NewUser): Promise<User> {
    const usernameLower = user.username.toLowerCase();
    try {
      const row = this.#insert.get(
        newId(),
        user.username,
        usernameLower,
        user.email,
        user.email.toLowerCase(),
        user.password_hash,
        new Date().toISOString(),
      );
      return toUser(row as Row);
    } catch (error) {
      if (sqliteCode(error) !== SQLITE_CONSTRAINT_UNIQUE) {
        throw new Error(`Cannot create user "${user.username}"`, { cause: error });
      }
      // SQLite names whichever unique index it checked first; report the username when both are taken.
      if (this.#usernameTaken.get(usernameLower)) {
        throw new ConflictError("username", `Username "${user.username}" is already taken`);
      }
      throw new ConflictError("email", `Email "${user.email}" is already registered`);
    }
  }

  async byId(id: string): Promise<User | null> {
    const row = this.#byId.get(id);
    return row ? toUser(row as Row) : null;
  }

  async byEmail(email: string): Promise<User | null> {
    const row = this.#byEmail.get(email.toLowerCase());
    return row ? toUser(row as Row) : null;
  }

  async byUsername(username: string): Promise<User | null> {
    const row = this.#byUsername.get(username.toLowerCase());
    return row ? toUser(row as Row) : null;
  }

  async byIds(ids: string[]): Promise<User[]> {
    if (ids.length === 0) return [];
    return this.#byIds.all(JSON.stringify(ids)).map((row) => toUser(row as Row));
  }

  async search(text: string, limit: number): Promise<User[]> {
    return this.#search.all(text.toLowerCase(), limit).map((row) => toUser(row as Row));
  }

  async updateProfile(id: string, update: ProfileUpdate): Promise<User | null> {
    const { display_name, avatar_url } = update;
    const row = this.#updateProfile.get(
      display_name === undefined ? 0 : 1,
      display_name ?? null,
      display_name?.toLowerCase() ?? null,
      avatar_url === undefined ? 0 : 1,
      avatar_url ?? null,
      id,
    );
    return row ? toUser(row as Row) : null;
  }

  async setLastSeen(id: string, at: string): Promise<void> {
    this.#setLastSeen.run(at, id);
  }

  async setPassword(id: string, passwordHash: string): Promise<boolean> {
    return this.#setPassword.run(passwordHash, id).changes === 1;
  }

  async setTwoFactor(
    id: string,
    value: { secret: string; recovery_codes: string[] } | null,
  ): Promise<boolean> {
    const codes = JSON.stringify(value?.recovery_codes ?? []);
    return this.#setTwoFactor.run(value?.secret ?? null, codes, id).changes === 1;
  }

  async useTotpStep(id: string, step: number): Promise<boolean> {
    return this.#useTotpStep.run(step, id).changes === 1;
  }

  async useRecoveryCode(id: string, hash: string): Promise<boolean> {
    return this.#useRecoveryCode.run(hash, id).changes === 1;
  }

  async addPasswordReset(userId: string, hash: string, expires_at: string): Promise<void> {
    this.#addReset.run(hash, userId, expires_at);
  }

  async usePasswordReset(hash: string, now: string): Promise<string | null> {
    const row = this.#useReset.get(now, hash);
    return row ? row.user_id as string : null;
  }
}

class SqliteSessionRepo implements SessionRepo {
  readonly #insert: StatementSync;
  readonly #insertToken: StatementSync;
  readonly #byId: StatementSync;
  readonly #activeOf: StatementSync;
  readonly #token: StatementSync;
  readonly #useToken: StatementSync;
  readonly #advance: StatementSync;
  readonly #revoke: StatementSync;
  readonly #revokeAll: StatementSync;
  readonly #dropTokens: StatementSync;

  constructor(private readonly database: Database) {
    const { db } = database;
    this.#insert = db.prepare(
      `INSERT INTO sessions (id, user_id, device, ip, created_at, last_used_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    );
    this.#insertToken = db.prepare("INSERT INTO refresh_tokens (hash, session_id) VALUES (?, ?)");
    this.#byId = db.prepare("SELECT * FROM sessions WHERE id = ?");
    this.#activeOf = db.prepare(
      `SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
       ORDER BY last_used_at DESC, id DESC`,
    );
    this.#token = db.prepare(
      `SELECT t.used_at AS token_used_at, s.* FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
       WHERE t.hash = ?`,
    );
    this.#useToken = db.prepare("UPDATE refresh_tokens SET used_at = ? WHERE hash = ?");
    this.#advance = db.prepare(
      "UPDATE sessions SET last_used_at = ?, ip = ?, expires_at = ? WHERE id = ? RETURNING *",
    );
    this.#revoke = db.prepare(
      `UPDATE sessions SET revoked_at = ?1 WHERE id = ?2 AND user_id = ?3 AND revoked_at IS NULL
       AND expires_at > ?1 RETURNING *`,
    );
    this.#revokeAll = db.prepare(
      `UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL AND expires_at > ?1
       AND id IS NOT ?3 RETURNING id`,
    );
    this.#dropTokens = db.prepare("DELETE FROM refresh_tokens WHERE session_id = ?");
  }

  async create(session: NewSession): Promise<Session> {
    const now = new Date().toISOString();
    return await this.database.write(() => {
      const row = this.#insert.get(
        newId(),
        session.user_id,
        session.device,
        session.ip,
        now,
        now,
        session.expires_at,
      ) as Row;
      this.#insertToken.run(session.refresh_hash, row.id as string);
      return toSession(row);
    });
  }

  async byId(id: string): Promise<Session | null> {
    const row = this.#byId.get(id);
    return row ? toSession(row as Row) : null;
  }

  async activeOf(userId: string, now: string): Promise<Session[]> {
    return this.#activeOf.all(userId, now).map((row) => toSession(row as Row));
  }

  async rotate(
    hash: string,
    next: { hash: string; at: string; ip: string; expires_at: string },
  ): Promise<RotateResult> {
    return await this.database.write((): RotateResult => {
      const row = this.#token.get(hash) as Row | undefined;
      if (row === undefined) return { outcome: "unknown" };
      const session = toSession(row);
      if (session.revoked_at !== null || session.expires_at <= next.at) return { outcome: "ended", session };
      if (row.token_used_at !== null) {
        // A used token came back: whoever holds the newer one, one of the two is a thief. End the session.
        const revoked = this.#revoke.get(next.at, session.id, session.user_id) as Row;
        this.#dropTokens.run(session.id);
        return { outcome: "reused", session: toSession(revoked) };
      }
      this.#useToken.run(next.at, hash);
      this.#insertToken.run(next.hash, session.id);
      const updated = this.#advance.get(next.at, next.ip, next.expires_at, session.id) as Row;
      return { outcome: "rotated", session: toSession(updated) };
    });
  }

  async revoke(id: string, userId: string, at: string): Promise<Session | null> {
    return await this.database.write(() => {
      const row = this.#revoke.get(at, id, userId) as Row | undefined;
      if (row !== undefined) this.#dropTokens.run(id);
      return row ? toSession(row) : null;
    });
  }

  async revokeAllOf(userId: string, at: string, exceptId?: string): Promise<string[]> {
    return await this.database.write(() => {
      const ids = this.#revokeAll.all(at, userId, exceptId ?? null).map((row) => row.id as string);
      for (const id of ids) this.#dropTokens.run(id);
      return ids;
    });
  }
}

class SqliteRoomRepo implements RoomRepo {
  readonly #insert: StatementSync;
  readonly #insertDirect: StatementSync;
  readonly #update: StatementSync;
  readonly #byId: StatementSync;
  readonly #byDirectKey: StatementSync;
  readonly #listVisible: StatementSync;
  readonly #roomIdsOf: StatementSync;
  readonly #addMember: StatementSync;
  readonly #removeMember: StatementSync;
  readonly #isMember: StatementSync;
  readonly #memberIds: StatementSync;
  readonly #memberCounts: StatementSync;
  readonly #directRoomIds: StatementSync;
  readonly #lastSeqs: StatementSync;
  readonly #markRead: StatementSync;
  readonly #readSeqs: StatementSync;

  constructor(private readonly database: Database) {
    const db = database.db;
    this.#insert = db.prepare(
      `INSERT INTO rooms (id, name, name_key, description, creator_id, is_private, is_direct, created_at)
       VALUES (?, ?, ?, ?, ?, ?, 0, ?) RETURNING *`,
    );
    // A direct room keeps its NULL name_key: the unique index leaves direct rooms out.
    this.#update = db.prepare(
      `UPDATE rooms SET
         name = coalesce(?1, name),
         name_key = CASE WHEN is_direct = 0 THEN coalesce(?2, name_key) END,
         description = coalesce(?3, description)
       WHERE id = ?4 RETURNING *`,
    );
    this.#insertDirect = db.prepare(
      `INSERT INTO rooms (id, name, description, creator_id, is_private, is_direct, direct_key, created_at)
       VALUES (?, ?, '', ?, 1, 1, ?, ?) ON CONFLICT (direct_key) DO NOTHING RETURNING *`,
    );
    this.#byId = db.prepare("SELECT * FROM rooms WHERE id = ?");
    this.#byDirectKey = db.prepare("SELECT * FROM rooms WHERE direct_key = ?");
    this.#listVisible = db.prepare(
      `SELECT * FROM rooms
       WHERE is_private = 0 OR id IN (SELECT room_id FROM memberships WHERE user_id = ?)
       ORDER BY created_at, rowid`,
    );
    this.#roomIdsOf = db.prepare(
      "SELECT room_id FROM memberships WHERE user_id = ? ORDER BY joined_at, room_id",
    );
    this.#addMember = db.prepare(
      `INSERT INTO memberships (room_id, user_id, joined_at, join_seq)
       VALUES (?1, ?2, ?3, (SELECT coalesce(max(join_seq), 0) + 1 FROM memberships WHERE room_id = ?1))
       ON CONFLICT (room_id, user_id) DO NOTHING`,
    );
    this.#removeMember = db.prepare("DELETE FROM memberships WHERE room_id = ? AND user_id = ?");
    this.#isMember = db.prepare("SELECT 1 FROM memberships WHERE room_id = ? AND user_id = ?");
    this.#memberIds = db.prepare("SELECT user_id FROM memberships WHERE room_id = ? ORDER BY join_seq");
    // One JSON array parameter: any number of rooms is one statement (no bound-parameter limit).
    this.#memberCounts = db.prepare(
      `SELECT room_id, COUNT(*) AS members FROM memberships
       WHERE room_id IN (SELECT value FROM json_each(?)) GROUP BY room_id`,
    );
    this.#lastSeqs = db.prepare(
      "SELECT id, last_seq FROM rooms WHERE id IN (SELECT value FROM json_each(?))",
    );
    this.#directRoomIds = db.prepare(
      "SELECT id FROM rooms WHERE is_direct = 1 AND id IN (SELECT value FROM json_each(?))",
    );
    this.#markRead = db.prepare(
      `UPDATE memberships SET last_read_seq = MAX(last_read_seq, MIN(?, (SELECT last_seq FROM rooms WHERE id = ?)))
       WHERE room_id = ? AND user_id = ? RETURNING last_read_seq`,
    );
    this.#readSeqs = db.prepare("SELECT room_id, last_read_seq FROM memberships WHERE user_id = ?");
  }

  async create(room: NewRoom): Promise<Room> {
    try {
      return await this.database.write(() => {
        const now = new Date().toISOString();
        const row = this.#insert.get(
          newId(),
          room.name,
          roomNameKey(room.name),
          room.description,
          room.creator_id,
          room.is_private ? 1 : 0,
          now,
        );
        this.#addMember.run(row!.id as string, room.creator_id, now);
        return toRoom(row as Row);
      });
    } catch (error) {
      if (sqliteCode(error) === SQLITE_CONSTRAINT_UNIQUE) throw nameTaken(room.name);
      throw new Error(`Cannot create room "${room.name}"`, { cause: error });
    }
  }

  async update(id: string, update: RoomUpdate): Promise<Room | null> {
    const { name, description } = update;
    try {
      const row = this.#update.get(
        name ?? null,
        name === undefined ? null : roomNameKey(name),
        description ?? null,
        id,
      );
      return row ? toRoom(row as Row) : null;
    } catch (error) {
      if (name !== undefined && sqliteCode(error) === SQLITE_CONSTRAINT_UNIQUE) throw nameTaken(name);
      throw new Error(`Cannot update room "${id}"`, { cause: error });
    }
  }

  async byId(id: string): Promise<Room | null> {
    const row = this.#byId.get(id);
    return row ? toRoom(row as Row) : null;
  }

  async listVisible(userId: string): Promise<Room[]> {
    return this.#listVisible.all(userId).map((row) => toRoom(row as Row));
  }

  async roomIdsOf(userId: string): Promise<string[]> {
    return this.#roomIdsOf.all(userId).map((row) => row.room_id as string);
  }

  async directRoom(a: string, b: string, name: string): Promise<{ room: Room; created: boolean }> {
    const key = a < b ? `${a}:${b}` : `${b}:${a}`;
    try {
      return await this.database.write(() => {
        const now = new Date().toISOString();
        const inserted = this.#insertDirect.get(newId(), name, a, key, now);
        if (inserted) {
          this.#addMember.run(inserted.id as string, a, now);
          this.#addMember.run(inserted.id as string, b, now);
          return { room: toRoom(inserted as Row), created: true };
        }
        return { room: toRoom(this.#byDirectKey.get(key) as Row), created: false };
      });
    } catch (error) {
      throw new Error(`Cannot open the direct room of "${a}" and "${b}"`, { cause: error });
    }
  }

  async addMember(roomId: string, userId: string): Promise<boolean> {
    try {
      return this.#addMember.run(roomId, userId, new Date().toISOString()).changes === 1;
    } catch (error) {
      throw new Error(`Cannot add "${userId}" to room "${roomId}"`, { cause: error });
    }
  }

  async removeMember(roomId: string, userId: string): Promise<boolean> {
    return this.#removeMember.run(roomId, userId).changes === 1;
  }

  async isMember(roomId: string, userId: string): Promise<boolean> {
    return this.#isMember.get(roomId, userId) !== undefined;
  }

  async memberIds(roomId: string): Promise<string[]> {
    return this.#memberIds.all(roomId).map((row) => row.user_id as string);
  }

  async memberCounts(roomIds: string[]): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const rows = this.#memberCounts.all(JSON.stringify([...new Set(roomIds)].sort()));
    return new Map(rows.map((row) => [row.room_id as string, Number(row.members)]));
  }

  async directRoomIds(roomIds: string[]): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set();
    const rows = this.#directRoomIds.all(JSON.stringify([...new Set(roomIds)].sort()));
    return new Set(rows.map((row) => row.id as string));
  }

  async lastSeqs(roomIds: string[]): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const rows = this.#lastSeqs.all(JSON.stringify([...new Set(roomIds)].sort()));
    return new Map(rows.map((row) => [row.id as string, Number(row.last_seq)]));
  }

  async markRead(roomId: string, userId: string, seq: number): Promise<number | null> {
    const row = this.#markRead.get(seq, roomId, roomId, userId);
    return row === undefined ? null : row.last_read_seq as number;
  }

  async readSeqs(userId: string): Promise<Map<string, number>> {
    return new Map(
      this.#readSeqs.all(userId).map((row) => [row.room_id as string, row.last_read_seq as number]),
    );
  }
}

class SqliteMessageRepo implements MessageRepo {
  readonly #byClientId: StatementSync;
  readonly #nextSeq: StatementSync;
  readonly #insert: StatementSync;
  readonly #count: StatementSync;
  readonly #newestPage: StatementSync;
  readonly #before: StatementSync;
  readonly #after: StatementSync;

  constructor(private readonly database: Database) {
    const db = database.db;
    this.#byClientId = db.prepare(
      "SELECT * FROM messages WHERE room_id = ? AND user_id = ? AND client_id = ?",
    );
    this.#nextSeq = db.prepare("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq");
    this.#insert = db.prepare(
      `INSERT INTO messages (id, room_id, seq, user_id, username, content, type, timestamp, client_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    );
    this.#count = db.prepare("SELECT count(*) AS total FROM messages WHERE room_id = ?");
    this.#newestPage = db.prepare(
      "SELECT * FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
    );
    this.#before = db.prepare(
      "SELECT * FROM messages WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
    );
    this.#after = db.prepare("SELECT * FROM messages WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?");
  }

  async append(message: NewMessage): Promise<AppendResult> {
    const { room_id, user_id, client_id } = message;
    let result: AppendResult | undefined;
    try {
      result = await this.database.write(() => {
        if (client_id !== undefined) {
          const existing = this.#byClientId.get(room_id, user_id, client_id);
          if (existing) return { message: toMessage(existing as Row), created: false };
        }
        const next = this.#nextSeq.get(room_id);
        if (!next) return undefined;
        const row = this.#insert.get(
          newId(),
          room_id,
          next.last_seq as number,
          user_id,
          message.username,
          message.content,
          message.type,
          new Date().toISOString(),
          client_id ?? null,
        );
        return { message: toMessage(row as Row), created: true };
      });
    } catch (error) {
      throw new Error(`Cannot append a message to room "${room_id}"`, { cause: error });
    }
    if (!result) throw new Error(`Cannot append a message to unknown room "${room_id}"`);
    return result;
  }

  async history(roomId: string, query: HistoryQuery): Promise<HistoryPage> {
    const { limit, offset, before_seq, after_seq } = query;
    const cursors = [offset, before_seq, after_seq].filter((value) => value !== undefined).length;
    if (cursors > 1) throw new TypeError("History query takes only one of offset, before_seq and after_seq");
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`Invalid history limit: ${limit}`);
    return this.database.read(() => {
      const total = this.#count.get(roomId)!.total as number;
      let rows;
      if (before_seq !== undefined) rows = this.#before.all(roomId, before_seq, limit).reverse();
      else if (after_seq !== undefined) rows = this.#after.all(roomId, after_seq, limit);
      else rows = this.#newestPage.all(roomId, limit, offset ?? 0).reverse();
      return { messages: rows.map((row) => toMessage(row as Row)), total };
    });
  }
}

/** A `Store` on one SQLite database file (or an in-memory database). */
export class SqliteStore implements Store {
  readonly users: UserRepo;
  readonly rooms: RoomRepo;
  readonly messages: MessageRepo;
  readonly sessions: SessionRepo;
  readonly #db: DatabaseSync;
  readonly #ping: StatementSync;
  readonly #busyTimeoutMs: number;
  #closed = false;

  private constructor(db: DatabaseSync, busyTimeoutMs: number) {
    const database = new Database(db, busyTimeoutMs);
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#ping = db.prepare("SELECT 1");
    this.users = mapUnavailable(new SqliteUserRepo(db));
    this.rooms = mapUnavailable(new SqliteRoomRepo(database));
    this.messages = mapUnavailable(new SqliteMessageRepo(database));
    this.sessions = mapUnavailable(new SqliteSessionRepo(database));
  }

  /**
   * Opens (creating when missing) the database at `options.path` and its schema. Throws when the file was
   * written by a newer server (a higher schema version); it never migrates silently.
   */
  static open(options: SqliteStoreOptions): SqliteStore {
    const { path, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS } = options;
    let db: DatabaseSync;
    try {
      if (path !== ":memory:" && path !== "") mkdirSync(dirname(path), { recursive: true });
      db = new DatabaseSync(path);
    } catch (error) {
      throw new Error(`Cannot open SQLite database "${path}"`, { cause: error });
    }
    try {
      db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
      // Checked before anything else writes to the file (switching to WAL does).
      assertSupportedVersion(db);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA foreign_keys = ON");
      createSchema(db);
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.round(busyTimeoutMs))}`);
      return new SqliteStore(db, busyTimeoutMs);
    } catch (error) {
      db.close();
      if (error instanceof SchemaVersionError) throw error;
      throw new Error(`Cannot open SQLite database "${path}"`, { cause: error });
    }
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new Error("SQLite store is closed");
    try {
      this.#ping.get();
    } catch (error) {
      throw unavailable(error);
    }
  }

  /**
   * Takes the write lock and lets it go (`BEGIN IMMEDIATE`, `ROLLBACK`), waiting at most 20 ms for it: throws
   * `StoreUnavailableError` while another process holds it (or the file cannot be written).
   */
  async probe(): Promise<void> {
    if (this.#closed) throw new Error("SQLite store is closed");
    this.#db.exec(`PRAGMA busy_timeout = ${PROBE_BUSY_TIMEOUT_MS}`);
    try {
      // Prepared statements: their errors carry the result code (`exec()`'s do not).
      this.#db.prepare("BEGIN IMMEDIATE").run();
      this.#db.prepare("ROLLBACK").run();
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw unavailable(error);
    } finally {
      this.#db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.round(this.#busyTimeoutMs))}`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

import { ChatError } from "../errors.ts";
import type { Identity } from "../hub/client.ts";
import type { Hub } from "../hub/hub.ts";
import { isId } from "../ids.ts";
import type { RateLimiter } from "../limits/rate_limit.ts";
import { ConflictError, type Room, type RoomUpdate, type Store } from "../storage/store.ts";
import type { Access } from "./access.ts";
import type { Messages } from "./messages.ts";
import type { Presence } from "./presence.ts";
import {
  type MyRoom,
  myRoom,
  type PublicUser,
  publicUser,
  type RoomListing,
  roomListing,
  type RoomView,
  roomView,
} from "./views.ts";

export interface RoomsOptions {
  store: Store;
  hub: Hub;
  access: Access;
  /** Stores the join and leave notices. */
  messages: Messages;
  /** Who is online, for member lists. */
  presence: Presence;
  /** Rooms each user may create (`ROOMS_PER_USER_PER_HOUR`), keyed by user id. */
  roomCreations: RateLimiter;
  /** Direct rooms each user may open with someone new (`DMS_PER_USER_PER_HOUR`), keyed by user id. */
  newDirectRooms: RateLimiter;
}

/** One page of `Rooms.listPage()`: `next_cursor` asks for the next one, null after the last. */
export interface RoomPage {
  rooms: RoomListing[];
  next_cursor: string | null;
}

/** Rooms per page of `GET /api/rooms`, unless the client asks for another size. */
export const ROOM_PAGE_DEFAULT = 100;
/** The largest page a client may ask for. */
export const ROOM_PAGE_MAX = 500;

/** Who to add to a room: a user id, or a username (case-insensitive). */
export type MemberRef = { user_id: string } | { username: string };

/**
 * Rooms and who is in them: creating, listing, joining, leaving, the creator's renaming and member management,
 * direct rooms and read markers. Room names are unique (compared trimmed, NFKC-normalised, case-insensitively;
 * direct rooms aside): a taken one is `room_name_taken`. A membership change subscribes or unsubscribes the user's sockets on every instance
 * (`Hub.changeMembership`) before its notice is stored, so the user gets the notice of their own join.
 */
export class Rooms {
  readonly #store: Store;
  readonly #hub: Hub;
  readonly #access: Access;
  readonly #messages: Messages;
  readonly #presence: Presence;
  readonly #roomCreations: RateLimiter;
  readonly #newDirectRooms: RateLimiter;

  constructor(options: RoomsOptions) {
    this.#store = options.store;
    this.#hub = options.hub;
    this.#access = options.access;
    this.#messages = options.messages;
    this.#presence = options.presence;
    this.#roomCreations = options.roomCreations;
    this.#newDirectRooms = options.newDirectRooms;
  }

  /** Creates a room (the actor its creator and first member), within the actor's `ROOMS_PER_USER_PER_HOUR`. */
  async create(actor: Identity, input: { name: string; description: string; is_private: boolean }) {
    checkName(input.name);
    checkDescription(input.description);
    const allowed = await this.#roomCreations.take(actor.userId);
    if (!allowed.ok) throw new ChatError("too_many_rooms", undefined, { retryAfterMs: allowed.retryAfterMs });
    const room = await this.#store.rooms.create({ ...input, creator_id: actor.userId })
      .catch(nameTaken(input.name));
    await this.#hub.changeMembership(actor.userId, room.id, "sub");
    return roomView(room, [actor.userId]);
  }

  /**
   * The creator renames or describes a room. Each change is an event of the room's stream: a system notice
   * ("alice renamed the room to …", "alice changed the description") that members get live and on resume.
   */
  async update(actor: Identity, roomId: string, update: RoomUpdate): Promise<RoomView> {
    if (update.name === undefined && update.description === undefined) {
      throw new ChatError("invalid_body", 'Give "name", "description" or both');
    }
    if (update.name !== undefined) checkName(update.name);
    if (update.description !== undefined) checkDescription(update.description);
    const room = await this.#access.ownedRoom(actor, roomId, "change");
    await this.#access.takeToken(actor);
    const updated = await this.#store.rooms.update(room.id, update).catch(nameTaken(update.name ?? ""));
    if (updated === null) throw new ChatError("room_not_found");
    if (updated.name !== room.name) {
      await this.#messages.notice(updated, actor, `${actor.username} renamed the room to "${updated.name}"`);
    }
    if (updated.description !== room.description) {
      await this.#messages.notice(updated, actor, `${actor.username} changed the description`);
    }
    return this.get(actor, roomId);
  }

  async get(actor: Identity, roomId: string): Promise<RoomView> {
    const { room } = await this.#access.visibleRoom(actor, roomId);
    return roomView(room, await this.#store.rooms.memberIds(room.id));
  }

  /**
   * Every visible room, oldest first; `last_read_seq` is the actor's read marker in rooms they belong to, null
   * elsewhere. Member counts come from one query for all of them.
   */
  async list(actor: Identity): Promise<RoomListing[]> {
    const [rooms, read] = await Promise.all([this.#visible(actor), this.#store.rooms.readSeqs(actor.userId)]);
    return this.#listings(rooms, read);
  }

  /**
   * One page of the visible rooms, oldest first (by `created_at`, then id): at most `limit` rooms after
   * `cursor` (a `next_cursor` of the page before), two store reads for the rooms and read markers and one for
   * all the page's member counts. A room created while a client pages comes last, so each room is listed once.
   */
  async listPage(actor: Identity, options: { limit?: number; cursor?: string } = {}): Promise<RoomPage> {
    const limit = options.limit ?? ROOM_PAGE_DEFAULT;
    const after = options.cursor === undefined ? undefined : parseCursor(options.cursor);
    const [rooms, read] = await Promise.all([this.#visible(actor), this.#store.rooms.readSeqs(actor.userId)]);
    const start = after === undefined ? 0 : rooms.findIndex((room) => compareKeys(keyOf(room), after) > 0);
    const page = start < 0 ? [] : rooms.slice(start, start + limit);
    const more = start >= 0 && start + limit < rooms.length;
    return {
      rooms: await this.#listings(page, read),
      next_cursor: more ? cursorOf(page[page.length - 1]) : null,
    };
  }

  /** Visible rooms in listing order: `created_at`, then id (the same in both stores). */
  async #visible(actor: Identity): Promise<Room[]> {
    const rooms = await this.#store.rooms.listVisible(actor.userId);
    return rooms.sort((a, b) => compareKeys(keyOf(a), keyOf(b)));
  }

  async #listings(rooms: Room[], read: Map<string, number>): Promise<RoomListing[]> {
    const counts = await this.#store.rooms.memberCounts(rooms.map((room) => room.id));
    return rooms.map((room) => roomListing(room, counts.get(room.id) ?? 0, read.get(room.id) ?? null));
  }

  /** The rooms the actor belongs to, with their read markers; no member lists (cheap: two queries). */
  async mine(actor: Identity): Promise<MyRoom[]> {
    const [rooms, read] = await Promise.all([
      this.#store.rooms.listVisible(actor.userId),
      this.#store.rooms.readSeqs(actor.userId),
    ]);
    return rooms.flatMap((room) => {
      const marker = read.get(room.id);
      return marker === undefined ? [] : [myRoom(room, marker)];
    });
  }

  /** Moves the actor's read marker in a room forward to `seq`; returns the stored marker. */
  async markRead(actor: Identity, roomId: string, seq: number): Promise<number> {
    const { room } = await this.#access.visibleRoom(actor, roomId);
    const marker = await this.#store.rooms.markRead(room.id, actor.userId, seq);
    if (marker === null) {
      throw new ChatError("not_a_member", `Cannot mark room "${room.name}" read: not a member`);
    }
    return marker;
  }

  /** Joins a public room (idempotent); a private room is joined only by being added. */
  async join(actor: Identity, roomId: string): Promise<RoomView> {
    const { room, member } = await this.#access.visibleRoom(actor, roomId);
    if (!member) await this.#add(room, actor, `${actor.username} joined the room`, actor);
    return this.get(actor, roomId);
  }

  async leave(actor: Identity, roomId: string): Promise<void> {
    const { room, member } = await this.#access.visibleRoom(actor, roomId);
    if (room.is_direct) throw new ChatError("direct_room", "Cannot leave a direct conversation");
    if (!member) throw new ChatError("not_a_member", `Cannot leave room "${room.name}": not a member`);
    await this.#remove(room, actor, `${actor.username} left the room`, actor);
  }

  /** The creator adds a user, named by id or by username, to a room. */
  async addMember(actor: Identity, roomId: string, member: MemberRef): Promise<RoomView> {
    const room = await this.#access.ownedRoom(actor, roomId, "add members to");
    const user = "username" in member
      ? await this.#store.users.byUsername(member.username)
      : isId(member.user_id)
      ? await this.#store.users.byId(member.user_id)
      : null;
    if (user === null) throw new ChatError("user_not_found");
    const target = { userId: user.id, username: user.username };
    if (!(await this.#store.rooms.isMember(room.id, user.id))) {
      await this.#add(room, target, `${user.username} was added by ${actor.username}`, actor);
    }
    return this.get(actor, roomId);
  }

  /** The creator removes a user from a room. */
  async removeMember(actor: Identity, roomId: string, userId: string): Promise<RoomView> {
    const room = await this.#access.ownedRoom(actor, roomId, "remove members from");
    const user = isId(userId) ? await this.#store.users.byId(userId) : null;
    if (user === null || !(await this.#store.rooms.isMember(room.id, user.id))) {
      throw new ChatError("member_not_found");
    }
    const target = { userId: user.id, username: user.username };
    const text = user.id === actor.userId
      ? `${user.username} left the room`
      : `${user.username} was removed by ${actor.username}`;
    await this.#remove(room, target, text, actor);
    return this.get(actor, roomId);
  }

  async members(actor: Identity, roomId: string): Promise<PublicUser[]> {
    const { room } = await this.#access.visibleRoom(actor, roomId);
    const ids = await this.#store.rooms.memberIds(room.id);
    const [users, online] = await Promise.all([this.#store.users.byIds(ids), this.#presence.online(ids)]);
    const byId = new Map(users.map((u) => [u.id, u]));
    return ids.flatMap((id) => {
      const user = byId.get(id);
      return user ? [publicUser(user, online.has(id))] : [];
    });
  }

  /**
   * The one direct room of the actor and `userId`, created on first call. Starting one with someone new counts
   * against the actor's `DMS_PER_USER_PER_HOUR`; opening one they have is free.
   */
  async direct(actor: Identity, userId: string): Promise<{ room: RoomView; created: boolean }> {
    if (userId === actor.userId) {
      throw new ChatError("invalid_user", "Cannot start a direct conversation with yourself");
    }
    const other = isId(userId) ? await this.#store.users.byId(userId) : null;
    if (other === null) throw new ChatError("user_not_found");
    if (!(await this.#haveDirectRoom(actor.userId, other.id))) {
      const allowed = await this.#newDirectRooms.take(actor.userId);
      if (!allowed.ok) {
        throw new ChatError("too_many_direct_rooms", undefined, { retryAfterMs: allowed.retryAfterMs });
      }
    }
    const name = [actor.username, other.username].sort().join(", ");
    const { room, created } = await this.#store.rooms.directRoom(actor.userId, other.id, name);
    if (created) {
      for (const id of [actor.userId, other.id]) await this.#hub.changeMembership(id, room.id, "sub");
    }
    return { room: roomView(room, await this.#store.rooms.memberIds(room.id)), created };
  }

  /**
   * Whether the two users have their direct room: a direct room among the rooms both belong to (nobody leaves
   * or is removed from one, so it always has both).
   */
  async #haveDirectRoom(a: string, b: string): Promise<boolean> {
    const [ofA, ofB] = await Promise.all([this.#store.rooms.roomIdsOf(a), this.#store.rooms.roomIdsOf(b)]);
    const inB = new Set(ofB);
    const shared = ofA.filter((id) => inB.has(id));
    return shared.length > 0 && (await this.#store.rooms.directRoomIds(shared)).size > 0;
  }

  /** Adds the membership, subscribes the user's sockets everywhere, then stores and sends the notice. */
  async #add(room: Room, target: Identity, notice: string, actor: Identity): Promise<void> {
    await this.#access.takeToken(actor);
    if (!(await this.#store.rooms.addMember(room.id, target.userId))) return;
    await this.#hub.changeMembership(target.userId, room.id, "sub");
    const stored = await this.#messages.notice(room, target, notice);
    // Who joined by themselves has read the room up to their own notice.
    if (target.userId === actor.userId) await this.#store.rooms.markRead(room.id, target.userId, stored.seq);
  }

  /** Removes the membership and the user's sockets everywhere, then stores and sends the notice. */
  async #remove(room: Room, target: Identity, notice: string, actor: Identity): Promise<void> {
    await this.#access.takeToken(actor);
    if (!(await this.#store.rooms.removeMember(room.id, target.userId))) return;
    await this.#hub.changeMembership(target.userId, room.id, "unsub");
    await this.#messages.notice(room, target, notice);
  }
}

function checkName(name: string): void {
  if (name.trim() === "" || [...name].length > 100) {
    throw new ChatError("invalid_name", "A room name needs 1 to 100 characters");
  }
}

function checkDescription(description: string): void {
  if ([...description].length > 1_000) {
    throw new ChatError("invalid_description", "A room description is at most 1000 characters long");
  }
}

/** Rethrows a store's conflict over `name` as the client's refusal, anything else unchanged. */
function nameTaken(name: string): (error: unknown) => never {
  return (error) => {
    if (error instanceof ConflictError && error.field === "name") {
      throw new ChatError("room_name_taken", `A room named "${name.trim()}" already exists`, {
        cause: error,
      });
    }
    throw error;
  };
}

/** Where a room sits in the listing order. */
type ListKey = [createdAt: string, id: string];

const keyOf = (room: Room): ListKey => [room.created_at, room.id];

function compareKeys(a: ListKey, b: ListKey): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/** The opaque cursor after `room`: its listing key, base64url-encoded. */
function cursorOf(room: Room): string {
  const bytes = new TextEncoder().encode(`${room.created_at}|${room.id}`);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The listing key a cursor names; `invalid_query` when it is not one of ours. */
function parseCursor(cursor: string): ListKey {
  let text = "";
  if (/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) {
    try {
      text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    } catch {
      // not base64: refused below
    }
  }
  const match = /^(\d{4}-\d{2}-\d{2}T[\d:.]+Z)\|([0-9a-f]{24})$/.exec(text);
  if (match === null) {
    throw new ChatError("invalid_query", 'Query parameter "cursor" is not a cursor of this list');
  }
  return [match[1], match[2]];
}

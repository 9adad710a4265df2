import { ChatError } from "../errors.ts";
import type { Client, Identity } from "../hub/client.ts";
import type { Hub } from "../hub/hub.ts";
import type { PresenceFrame } from "../hub/protocol.ts";
import type { RateLimiter } from "../limits/rate_limit.ts";
import type { SocketQuota } from "../limits/socket_quota.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../storage/store.ts";
import type { Presence } from "./presence.ts";
import { SharedReads } from "./shared_reads.ts";

export interface ActivityOptions {
  store: Store;
  hub: Hub;
  presence: Presence;
  log: Logger;
  /**
   * Presence frames go only to rooms with at most this many members (`PRESENCE_MAX_ROOM_MEMBERS`); direct
   * rooms always get them; 0 leaves only direct rooms. Default 1000.
   */
  presenceMaxRoomMembers?: number;
  /** Typing notices per user, over all their sockets and rooms; the ones over it are dropped. */
  typingLimiter: RateLimiter;
  /** Sockets per user (`MAX_SOCKETS_PER_USER`), over all instances. */
  sockets: SocketQuota;
}

/**
 * Who is here and what they are doing, none of it stored: sockets coming and going (each gets the user's rooms),
 * online/offline presence, and typing notices. Presence is best effort: when its shared state (Redis) is away a
 * socket still works, it just is not counted.
 */
export class Activity {
  readonly #store: Store;
  readonly #hub: Hub;
  readonly #presence: Presence;
  readonly #log: Logger;
  readonly #maxMembers: number;
  readonly #typing: RateLimiter;
  readonly #sockets: SocketQuota;
  /** Sockets counted by `presence`, so a socket whose set-up failed is not uncounted. */
  readonly #counted = new WeakSet<Client>();
  /** Per user, the announcement of their presence going out now (the next waits for it). */
  readonly #announcing = new Map<string, Promise<void>>();
  /** A room's online members, one read shared by the sockets that ask while it waits to start. */
  readonly #onlineIn = new SharedReads((roomId) => this.#readOnlineIn(roomId));

  constructor(options: ActivityOptions) {
    this.#store = options.store;
    this.#hub = options.hub;
    this.#presence = options.presence;
    this.#log = options.log;
    this.#maxMembers = options.presenceMaxRoomMembers ?? 1_000;
    this.#typing = options.typingLimiter;
    this.#sockets = options.sockets;
  }

  /**
   * Reserves one of the user's `MAX_SOCKETS_PER_USER` places for a socket about to open, before its upgrade:
   * the function that gives it back once the socket is gone. At the cap the newest is refused (429
   * `too_many_sockets`): the user's open sockets keep working, and a client that reconnects in a loop cannot
   * push the others out.
   */
  async reserveSocket(actor: Pick<Identity, "userId">): Promise<() => void> {
    const release = await this.#sockets.acquire(actor.userId);
    if (release === null) {
      throw new ChatError(
        "too_many_sockets",
        `This account has ${this.#sockets.max} connections open, the most allowed; close one first`,
      );
    }
    return release;
  }

  /**
   * A socket opened: it receives all of the user's rooms, is counted, gets the presence state of its rooms
   * that have presence (a `presence_state` frame each, on every connect), and its user's rooms hear that they
   * came online when this is their first socket.
   */
  async connected(client: Client): Promise<void> {
    const actor = client.identity;
    const roomIds = await this.#store.rooms.roomIdsOf(actor.userId);
    await Promise.all(roomIds.map((roomId) => this.#hub.subscribe(client, roomId)));
    const cameOnline = await this.#count(actor, "connected");
    if (cameOnline === undefined) return;
    this.#counted.add(client);
    const rooms = await this.#presenceRooms(actor, roomIds);
    // The state is read now and sent without delaying the socket; its live presence frames wait for it.
    client.holdLive();
    this.#sendPresenceState(client, rooms).finally(() => client.releaseLive());
    if (cameOnline) await this.#announce(actor, "online", rooms);
  }

  /** A socket closed: when it was the user's last one, `last_seen` is recorded and presence goes out. */
  async disconnected(client: Client): Promise<void> {
    if (!this.#counted.has(client)) return;
    this.#counted.delete(client);
    const actor = client.identity;
    if (await this.#count(actor, "disconnected")) await this.#announce(actor, "offline");
  }

  /** Users whose last socket was on an instance that died: record `last_seen` and tell their rooms. */
  async usersLost(userIds: string[]): Promise<void> {
    for (const user of await this.#store.users.byIds(userIds)) {
      await this.#announce({ userId: user.id, username: user.username }, "offline");
    }
  }

  async isOnline(userId: string): Promise<boolean> {
    try {
      return (await this.#presence.online([userId])).has(userId);
    } catch {
      return false;
    }
  }

  /**
   * Tells the room's other members that `actor` is typing (not stored), within the user's typing rate; over it
   * the notice is dropped (false), as a client shows one only for a few seconds anyway.
   */
  async typing(actor: Identity, roomId: string): Promise<boolean> {
    if (!(await this.#typing.take(actor.userId)).ok) return false;
    const frame = JSON.stringify({
      type: "typing",
      room_id: roomId,
      user_id: actor.userId,
      username: actor.username,
    });
    await this.#hub.publishToRoom(roomId, frame, { x: actor.userId });
    return true;
  }

  /** Counts a socket in or out; undefined when presence (shared state, e.g. Redis) is unavailable. */
  async #count(actor: Identity, change: "connected" | "disconnected"): Promise<boolean | undefined> {
    try {
      return await this.#presence[change](actor.userId);
    } catch (error) {
      this.#log.warn("Cannot record presence", { user_id: actor.userId, error });
      return undefined;
    }
  }

  /**
   * Tells the user's rooms that they came online or went offline (recording `last_seen` when offline). One
   * user's announcements on this instance run one at a time, in the order of their transitions, and each says
   * the user's status as presence has it when it goes out: a reload's late "offline" (slowed by the store) can
   * never follow the new socket's "online" and leave the user grey while they are here. `known`: the user's
   * rooms with presence, when the caller has them.
   */
  #announce(actor: Identity, transition: PresenceFrame["status"], known?: string[]): Promise<void> {
    const previous = this.#announcing.get(actor.userId) ?? Promise.resolve();
    const run = previous.then(async () => {
      if (transition === "offline") {
        await this.#store.users.setLastSeen(actor.userId, new Date().toISOString());
      }
      const rooms = known ??
        await this.#presenceRooms(actor, await this.#store.rooms.roomIdsOf(actor.userId));
      let status = transition;
      try {
        status = (await this.#presence.online([actor.userId])).has(actor.userId) ? "online" : "offline";
      } catch {
        // Presence is away: the transition this socket saw is the best guess.
      }
      await this.#publishPresence(actor, status, rooms);
    });
    const settled = run.catch(() => {}); // the caller gets the error
    this.#announcing.set(actor.userId, settled);
    settled.finally(() => {
      if (this.#announcing.get(actor.userId) === settled) this.#announcing.delete(actor.userId);
    });
    return run;
  }

  /**
   * Sends the socket who is online now in each of `rooms`. Read after the socket receives the rooms, and sent
   * while its live frames are held, so presence frames that arrived meanwhile follow it and a newer change is
   * never overwritten by this older state. Best effort: nothing is sent when the store or presence fails.
   */
  async #sendPresenceState(client: Client, rooms: string[]): Promise<void> {
    try {
      const states = await Promise.all(rooms.map((roomId) => this.#onlineIn.get(roomId)));
      rooms.forEach((roomId, i) =>
        client.sendFrame({ type: "presence_state", room_id: roomId, online: states[i] })
      );
    } catch (error) {
      this.#log.warn("Cannot send the presence state", { user_id: client.userId, error });
    }
  }

  /** Who of a room's members is online now (read from the store and the presence). */
  async #readOnlineIn(roomId: string): Promise<string[]> {
    const members = await this.#store.rooms.memberIds(roomId);
    const online = await this.#presence.online(members);
    return members.filter((id) => online.has(id));
  }

  /**
   * Tells `rooms` that `actor` came online or went offline. Only rooms small enough get the frame (see
   * `#presenceRooms`); members of bigger rooms read `online` over REST.
   */
  async #publishPresence(actor: Identity, status: PresenceFrame["status"], rooms: string[]): Promise<void> {
    if (rooms.length === 0) return;
    const frame: PresenceFrame = {
      type: "presence",
      user_id: actor.userId,
      username: actor.username,
      status,
    };
    const text = JSON.stringify(frame);
    // `p` lists only the rooms published to: a socket in a big and a small room takes the small room's copy.
    const meta = { x: actor.userId, p: rooms };
    const results = await Promise.allSettled(
      rooms.map((roomId) => this.#hub.publishToRoom(roomId, text, meta)),
    );
    for (const result of results) {
      if (result.status === "rejected") {
        this.#log.warn("Cannot publish presence", { user_id: actor.userId, error: result.reason });
      }
    }
  }

  /**
   * The rooms, of `roomIds`, that get presence: those with at most `presenceMaxRoomMembers` members, in one
   * store query, and every direct room. Announcing each member of a 5,000-member room to all the others as
   * they connect one by one would be 12.5 million frames. A direct room has two members, so under a limit of
   * two only the direct rooms are asked for, again in one query. Best effort: none when the store fails.
   */
  async #presenceRooms(actor: Identity, roomIds: string[]): Promise<string[]> {
    if (roomIds.length === 0) return [];
    try {
      if (this.#maxMembers < 2) {
        const direct = await this.#store.rooms.directRoomIds(roomIds);
        return roomIds.filter((roomId) => direct.has(roomId));
      }
      const counts = await this.#store.rooms.memberCounts(roomIds);
      return roomIds.filter((roomId) => (counts.get(roomId) ?? 0) <= this.#maxMembers);
    } catch (error) {
      // A store hiccup must not fail the socket that is connecting.
      this.#log.warn("Cannot count room members for presence", { user_id: actor.userId, error });
      return [];
    }
  }
}

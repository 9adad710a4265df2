import type { RateLimiter } from "../auth/rate_limit.ts";
import type { CommandAnswer, CommandQueue } from "../commands/queue.ts";
import { CommandError, type CommandRegistry, unescape } from "../commands/registry.ts";
import { ChatError } from "../errors.ts";
import type { Client, Identity } from "../hub/client.ts";
import type { Hub } from "../hub/hub.ts";
import type { PresenceFrame } from "../hub/protocol.ts";
import { isId, newId } from "../ids.ts";
import type { Logger } from "../log.ts";
import type { MessageSource, Metrics } from "../metrics/metrics.ts";
import {
  type AppendResult,
  ConflictError,
  type HistoryPage,
  type HistoryQuery,
  type Message,
  type Room,
  type Store,
} from "../storage/store.ts";
import type { Presence } from "./presence.ts";
import { type PublicUser, publicUser, type RoomView, roomView } from "./views.ts";

export interface ChatServiceOptions {
  store: Store;
  hub: Hub;
  presence: Presence;
  /** Per-user limit on stored messages (text and join/leave notices). */
  messageLimiter: RateLimiter;
  log: Logger;
  maxMessageChars: number;
  /**
   * Presence frames go only to rooms with at most this many members (`PRESENCE_MAX_ROOM_MEMBERS`); direct
   * rooms always get them; 0 leaves only direct rooms. Default 1000.
   */
  presenceMaxRoomMembers?: number;
  /**
   * Chat commands (`/stock=AAPL.US`): the registry that parses them and the queue their jobs go to. Without
   * them a message starting with `/` is ordinary text.
   */
  commands?: { registry: CommandRegistry; queue: CommandQueue };
  /** Counts messages received and stored, and resumes. */
  metrics?: Metrics;
}

/** What `post()` did: stored a message, or queued a command's job for its bot. */
export type PostResult =
  | ({ kind: "message" } & AppendResult)
  | { kind: "command"; command: string; job_id: string; room_id: string };

const roomNotFound = () => new ChatError("room_not_found");

/**
 * The chat's rules, shared by the REST API and the WebSocket: who may see, join and write to which room. It
 * stores first (the store assigns `seq`) and then publishes through the hub; the hub never persists.
 */
export class ChatService {
  readonly #store: Store;
  readonly #hub: Hub;
  readonly #presence: Presence;
  readonly #limiter: RateLimiter;
  readonly #log: Logger;
  readonly #maxChars: number;
  readonly #presenceMaxMembers: number;
  readonly #commands: ChatServiceOptions["commands"];
  readonly #metrics: Metrics | undefined;
  /** Bot user ids by bot name, created on first answer. */
  readonly #botIds = new Map<string, Promise<string>>();
  /** Sockets counted by `presence`, so a socket whose set-up failed is not uncounted. */
  readonly #counted = new WeakSet<Client>();

  constructor(options: ChatServiceOptions) {
    this.#store = options.store;
    this.#hub = options.hub;
    this.#presence = options.presence;
    this.#limiter = options.messageLimiter;
    this.#log = options.log;
    this.#maxChars = options.maxMessageChars;
    this.#presenceMaxMembers = options.presenceMaxRoomMembers ?? 1_000;
    this.#commands = options.commands;
    this.#metrics = options.metrics;
  }

  // ---- rooms ----

  async createRoom(actor: Identity, input: { name: string; description: string; is_private: boolean }) {
    if (input.name.trim() === "" || [...input.name].length > 100) {
      throw new ChatError("invalid_name", "A room name needs 1 to 100 characters");
    }
    if ([...input.description].length > 1_000) {
      throw new ChatError("invalid_description", "A room description is at most 1000 characters long");
    }
    const room = await this.#store.rooms.create({ ...input, creator_id: actor.userId });
    await this.#hub.subscribeUser(actor.userId, room.id);
    await this.#publishControl(actor.userId, "sub", room.id);
    return roomView(room, [actor.userId]);
  }

  async getRoom(actor: Identity, roomId: string): Promise<RoomView> {
    const { room } = await this.#visibleRoom(actor, roomId);
    return roomView(room, await this.#store.rooms.memberIds(room.id));
  }

  /** Visible rooms; `last_read_seq` is the actor's read marker in rooms they belong to, null elsewhere. */
  async listRooms(actor: Identity): Promise<(RoomView & { last_read_seq: number | null })[]> {
    const [rooms, read] = await Promise.all([
      this.#store.rooms.listVisible(actor.userId),
      this.#store.rooms.readSeqs(actor.userId),
    ]);
    return Promise.all(rooms.map(async (room) => ({
      ...roomView(room, await this.#store.rooms.memberIds(room.id)),
      last_read_seq: read.get(room.id) ?? null,
    })));
  }

  /** Moves the actor's read marker in a room forward to `seq`; returns the stored marker. */
  async markRead(actor: Identity, roomId: string, seq: number): Promise<number> {
    const { room } = await this.#visibleRoom(actor, roomId);
    const marker = await this.#store.rooms.markRead(room.id, actor.userId, seq);
    if (marker === null) {
      throw new ChatError("not_a_member", `Cannot mark room "${room.name}" read: not a member`);
    }
    return marker;
  }

  /** Joins a public room (idempotent); a private room is joined only by being added. */
  async joinRoom(actor: Identity, roomId: string): Promise<RoomView> {
    const { room, member } = await this.#visibleRoom(actor, roomId);
    if (!member) await this.#addMember(room, actor, `${actor.username} joined the room`, actor);
    return this.getRoom(actor, roomId);
  }

  async leaveRoom(actor: Identity, roomId: string): Promise<void> {
    const { room, member } = await this.#visibleRoom(actor, roomId);
    if (room.is_direct) throw new ChatError("direct_room", "Cannot leave a direct conversation");
    if (!member) throw new ChatError("not_a_member", `Cannot leave room "${room.name}": not a member`);
    await this.#removeMember(room, actor, `${actor.username} left the room`, actor);
  }

  /** The creator adds a user to a room. */
  async addMember(actor: Identity, roomId: string, userId: string): Promise<RoomView> {
    const room = await this.#ownedRoom(actor, roomId, "add members to");
    const user = isId(userId) ? await this.#store.users.byId(userId) : null;
    if (user === null) throw new ChatError("user_not_found", "User not found");
    const target = { userId: user.id, username: user.username };
    if (!(await this.#store.rooms.isMember(room.id, user.id))) {
      await this.#addMember(room, target, `${user.username} was added by ${actor.username}`, actor);
    }
    return this.getRoom(actor, roomId);
  }

  /** The creator removes a user from a room. */
  async removeMember(actor: Identity, roomId: string, userId: string): Promise<RoomView> {
    const room = await this.#ownedRoom(actor, roomId, "remove members from");
    const user = isId(userId) ? await this.#store.users.byId(userId) : null;
    if (user === null || !(await this.#store.rooms.isMember(room.id, user.id))) {
      throw new ChatError("member_not_found", "That user is not a member of this room");
    }
    const target = { userId: user.id, username: user.username };
    const text = user.id === actor.userId
      ? `${user.username} left the room`
      : `${user.username} was removed by ${actor.username}`;
    await this.#removeMember(room, target, text, actor);
    return this.getRoom(actor, roomId);
  }

  async members(actor: Identity, roomId: string): Promise<PublicUser[]> {
    const { room } = await this.#visibleRoom(actor, roomId);
    const ids = await this.#store.rooms.memberIds(room.id);
    const [users, online] = await Promise.all([this.#store.users.byIds(ids), this.#presence.online(ids)]);
    const byId = new Map(users.map((u) => [u.id, u]));
    return ids.flatMap((id) => {
      const user = byId.get(id);
      return user ? [publicUser(user, online.has(id))] : [];
    });
  }

  /** The one direct room of the actor and `userId`, created on first call. */
  async directRoom(actor: Identity, userId: string): Promise<{ room: RoomView; created: boolean }> {
    if (userId === actor.userId) {
      throw new ChatError("invalid_user", "Cannot start a direct conversation with yourself");
    }
    const other = isId(userId) ? await this.#store.users.byId(userId) : null;
    if (other === null) throw new ChatError("user_not_found", "User not found");
    const name = [actor.username, other.username].sort().join(", ");
    const { room, created } = await this.#store.rooms.directRoom(actor.userId, other.id, name);
    if (created) {
      for (const id of [actor.userId, other.id]) {
        await this.#hub.subscribeUser(id, room.id);
        await this.#publishControl(id, "sub", room.id);
      }
    }
    return { room: roomView(room, await this.#store.rooms.memberIds(room.id)), created };
  }

  // ---- messages ----

  /**
   * Validates, rate-limits, stores (getting `seq`) and then publishes a text message. A repeated `clientId`
   * returns the stored original (`created: false`) and publishes nothing.
   */
  async sendMessage(
    actor: Identity,
    roomId: string,
    content: string,
    clientId?: string,
  ): Promise<AppendResult> {
    this.#checkContent(content);
    const room = await this.#roomToSendTo(actor, roomId);
    const result = await this.#store.messages.append({
      room_id: room.id,
      user_id: actor.userId,
      username: actor.username,
      content,
      type: "text",
      client_id: clientId,
    });
    if (result.created) await this.#broadcast(result.message);
    return result;
  }

  /**
   * What a user typed in a room: a chat command (`/stock=AAPL.US`) is checked and queued for its bot, never
   * stored; anything else (also `//text`, which posts `/text`) is stored and broadcast by `sendMessage`. An
   * unknown or malformed command is refused at once (400 with the known commands); a queue that cannot take
   * the job is a retryable 503. A retried command (same `client_id`) gets the same job id, so its answer is
   * stored once. `source` (REST unless told) labels the metrics of stored messages.
   */
  async post(
    actor: Identity,
    roomId: string,
    content: string,
    clientId?: string,
    source: MessageSource = "rest",
  ): Promise<PostResult> {
    const commands = this.#commands;
    let resolved: ReturnType<CommandRegistry["resolve"]> = null;
    if (commands !== undefined) {
      try {
        resolved = commands.registry.resolve(content);
      } catch (error) {
        if (error instanceof CommandError) throw new ChatError(error.code, error.message);
        throw error;
      }
      if (resolved === null) content = unescape(content);
    }
    if (commands === undefined || resolved === null) {
      const result = await this.sendMessage(actor, roomId, content, clientId);
      if (result.created) this.#metrics?.messageReceived(source);
      return { kind: "message", ...result };
    }
    const room = await this.#roomToSendTo(actor, roomId);
    const job = {
      id: clientId === undefined ? newId() : await jobId(room.id, actor.userId, clientId),
      command: resolved.spec.name,
      arg: resolved.arg,
      room_id: room.id,
      user_id: actor.userId,
      username: actor.username,
      requested_at: new Date().toISOString(),
    };
    try {
      await commands.queue.publishJob(job);
    } catch (error) {
      this.#log.error("Cannot queue a command", { room_id: room.id, command: job.command, error });
      throw new ChatError("commands_unavailable", "Commands are unavailable right now; try again shortly");
    }
    return { kind: "command", command: job.command, job_id: job.id, room_id: room.id };
  }

  /**
   * A bot's answer: stored as a `bot` message from the bot's user (created on first use) and broadcast like any
   * other. Keyed by the job id, so an answer delivered twice is stored and broadcast once. An answer for a
   * room that no longer exists is dropped; a store failure throws, so the queue delivers the answer again.
   */
  async postAnswer(answer: CommandAnswer): Promise<void> {
    const room = isId(answer.room_id) ? await this.#store.rooms.byId(answer.room_id) : null;
    if (room === null) {
      this.#log.warn("Dropping a bot answer for a missing room", {
        room_id: answer.room_id,
        job_id: answer.job_id,
      });
      return;
    }
    const botId = await this.#botUser(answer.bot);
    const result = await this.#store.messages.append({
      room_id: room.id,
      user_id: botId,
      username: answer.bot,
      content: answer.content.slice(0, this.#maxChars),
      type: "bot",
      client_id: `job-${answer.job_id}`,
    });
    if (result.created) await this.#broadcast(result.message);
  }

  /** The user id of bot `name` (a user that cannot log in), created on first use; safe under races. */
  #botUser(name: string): Promise<string> {
    let id = this.#botIds.get(name);
    if (id === undefined) {
      id = this.#findOrCreateBot(name);
      this.#botIds.set(name, id);
      id.catch(() => this.#botIds.delete(name));
    }
    return id;
  }

  async #findOrCreateBot(name: string): Promise<string> {
    const email = `${name}@bots.invalid`;
    const existing = await this.#store.users.byEmail(email);
    if (existing !== null) return existing.id;
    // "!" is no bcrypt hash: no password ever matches it. When a person already has the name, the bot's
    // account gets a suffix; its messages still show the bot's name, with type "bot".
    for (const username of [name, `${name}.${newId().slice(-6)}`]) {
      try {
        return (await this.#store.users.create({ username, email, password_hash: "!" })).id;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        const user = await this.#store.users.byEmail(email);
        if (user !== null) return user.id;
      }
    }
    throw new Error(`Cannot create the user of bot "${name}"`);
  }

  async history(actor: Identity, roomId: string, query: HistoryQuery): Promise<HistoryPage> {
    const { room } = await this.#visibleRoom(actor, roomId);
    return this.#store.messages.history(room.id, query);
  }

  /** Tells the room's other members that `actor` is typing (not stored). */
  async typing(actor: Identity, roomId: string): Promise<void> {
    const frame = JSON.stringify({
      type: "typing",
      room_id: roomId,
      user_id: actor.userId,
      username: actor.username,
    });
    await this.#hub.publishToRoom(roomId, frame, { x: actor.userId });
  }

  // ---- connections ----

  /** A socket opened: it receives all of the user's rooms (and `roomId`, joined if public); presence goes out. */
  async connected(client: Client): Promise<void> {
    const actor = client.identity;
    const roomIds = await this.#store.rooms.roomIdsOf(actor.userId);
    await Promise.all(roomIds.map((roomId) => this.#hub.subscribe(client, roomId)));
    const cameOnline = await this.#recordPresence(actor, "connected");
    if (cameOnline === undefined) return;
    this.#counted.add(client);
    if (cameOnline) await this.#publishPresence(actor, "online", roomIds);
  }

  /** A socket closed: when it was the user's last one, `last_seen` is recorded and presence goes out. */
  async disconnected(client: Client): Promise<void> {
    if (!this.#counted.has(client)) return;
    this.#counted.delete(client);
    const actor = client.identity;
    if (await this.#recordPresence(actor, "disconnected")) await this.#wentOffline(actor);
  }

  /**
   * Counts a socket in or out; undefined when presence (shared state, e.g. Redis) is unavailable: the socket
   * still works, it just is not counted.
   */
  async #recordPresence(actor: Identity, change: "connected" | "disconnected"): Promise<boolean | undefined> {
    try {
      return await this.#presence[change](actor.userId);
    } catch (error) {
      this.#log.warn("Cannot record presence", { user_id: actor.userId, error });
      return undefined;
    }
  }

  /** Users whose last socket was on an instance that died: record `last_seen` and tell their rooms. */
  async usersLost(userIds: string[]): Promise<void> {
    for (const user of await this.#store.users.byIds(userIds)) {
      await this.#wentOffline({ userId: user.id, username: user.username });
    }
  }

  async #wentOffline(actor: Identity): Promise<void> {
    await this.#store.users.setLastSeen(actor.userId, new Date().toISOString());
    await this.#publishPresence(actor, "offline", await this.#store.rooms.roomIdsOf(actor.userId));
  }

  async isOnline(userId: string): Promise<boolean> {
    try {
      return (await this.#presence.online([userId])).has(userId);
    } catch {
      return false;
    }
  }

  // ---- internals ----

  async #visibleRoom(actor: Identity, roomId: string): Promise<{ room: Room; member: boolean }> {
    const room = isId(roomId) ? await this.#store.rooms.byId(roomId) : null;
    if (room === null) throw roomNotFound();
    const member = await this.#store.rooms.isMember(room.id, actor.userId);
    if (room.is_private && !member) throw roomNotFound();
    return { room, member };
  }

  async #ownedRoom(actor: Identity, roomId: string, what: string): Promise<Room> {
    const { room } = await this.#visibleRoom(actor, roomId);
    if (room.is_direct) {
      throw new ChatError("direct_room", "A direct conversation always has its two members");
    }
    if (room.creator_id !== actor.userId) {
      throw new ChatError("forbidden", `Only the room's creator can ${what} room "${room.name}"`);
    }
    return room;
  }

  /** Adds the membership, subscribes the user's sockets everywhere, then stores and sends the notice. */
  async #addMember(room: Room, target: Identity, notice: string, actor: Identity): Promise<void> {
    await this.#takeToken(actor);
    if (!(await this.#store.rooms.addMember(room.id, target.userId))) return;
    await this.#hub.subscribeUser(target.userId, room.id);
    await this.#publishControl(target.userId, "sub", room.id);
    await this.#systemMessage(room, target, notice);
  }

  /** Removes the membership and the user's sockets everywhere, then stores and sends the notice. */
  async #removeMember(room: Room, target: Identity, notice: string, actor: Identity): Promise<void> {
    await this.#takeToken(actor);
    if (!(await this.#store.rooms.removeMember(room.id, target.userId))) return;
    this.#hub.unsubscribeUser(target.userId, room.id);
    await this.#publishControl(target.userId, "unsub", room.id);
    await this.#systemMessage(room, target, notice);
  }

  async #systemMessage(room: Room, subject: Identity, content: string): Promise<void> {
    const { message } = await this.#store.messages.append({
      room_id: room.id,
      user_id: subject.userId,
      username: subject.username,
      content,
      type: "system",
    });
    await this.#broadcast(message);
  }

  /** Publishes a stored message. It is stored, so a failed publish is logged, not thrown: resume repairs it. */
  async #broadcast(message: Message): Promise<void> {
    this.#metrics?.messageStored(message.type);
    try {
      const meta = { s: message.seq, t: Date.now() };
      await this.#hub.publishToRoom(message.room_id, JSON.stringify(message), meta);
    } catch (error) {
      this.#log.error("Cannot publish a stored message", {
        room_id: message.room_id,
        seq: message.seq,
        error,
      });
    }
  }

  async #publishControl(userId: string, op: "sub" | "unsub", roomId: string): Promise<void> {
    try {
      await this.#hub.publishToUser(userId, "", { c: op, r: roomId });
    } catch (error) {
      this.#log.error("Cannot publish a subscription change", { user_id: userId, room_id: roomId, error });
    }
  }

  /**
   * Tells the user's rooms that they came online or went offline. Only rooms small enough get the frame (see
   * `#presenceRooms`): announcing each member of a 5,000-member room to all the others as they connect one
   * by one would be 12.5 million frames. Members of bigger rooms read `online` over REST.
   */
  async #publishPresence(actor: Identity, status: PresenceFrame["status"], roomIds: string[]): Promise<void> {
    if (roomIds.length === 0) return;
    let rooms: string[];
    try {
      rooms = await this.#presenceRooms(roomIds);
    } catch (error) {
      // Presence is best effort: a store hiccup must not fail the socket that is connecting.
      this.#log.warn("Cannot count room members for presence", { user_id: actor.userId, error });
      return;
    }
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
   * The rooms, of `roomIds`, that get presence frames: those with at most `presenceMaxRoomMembers` members,
   * in one store query, and every direct room. A direct room has two members, so under a limit of two (which
   * leaves nobody else to tell in any other room) only the direct rooms are asked for, again in one query.
   */
  async #presenceRooms(roomIds: string[]): Promise<string[]> {
    const max = this.#presenceMaxMembers;
    if (max < 2) {
      const direct = await this.#store.rooms.directRoomIds(roomIds);
      return roomIds.filter((roomId) => direct.has(roomId));
    }
    const counts = await this.#store.rooms.memberCounts(roomIds);
    return roomIds.filter((roomId) => (counts.get(roomId) ?? 0) <= max);
  }

  /** The room `actor` posts to: visible, a member of it, and within the rate limit (one token taken). */
  async #roomToSendTo(actor: Identity, roomId: string): Promise<Room> {
    const { room, member } = await this.#visibleRoom(actor, roomId);
    if (!member) {
      throw new ChatError("not_a_member", `Cannot send to room "${room.name}": not a member; join it first`);
    }
    await this.#takeToken(actor);
    return room;
  }

  async #takeToken(actor: Identity): Promise<void> {
    const decision = await this.#limiter.take(actor.userId);
    if (!decision.ok) throw new ChatError("rate_limited", undefined, { retryAfterMs: decision.retryAfterMs });
  }

  #checkContent(content: string): void {
    if (content.trim() === "") throw new ChatError("content_empty", "Message content is empty");
    if (content.length > this.#maxChars && codePoints(content) > this.#maxChars) {
      throw new ChatError("content_too_long", `Message content is longer than ${this.#maxChars} characters`);
    }
    if (!content.isWellFormed() || content.includes("\0")) {
      throw new ChatError(
        "invalid_content",
        "Message content must be valid Unicode text without NUL characters",
      );
    }
  }
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** A command's job id from its sender's `client_id`: a retried command is the same job (24 hex characters). */
async function jobId(roomId: string, userId: string, clientId: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${roomId}|${userId}|${clientId}`),
  );
  return [...new Uint8Array(digest).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

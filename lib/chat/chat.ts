import type { RateLimiter } from "../limits/rate_limit.ts";
import type { SocketQuota } from "../limits/socket_quota.ts";
import type { CommandQueue } from "../commands/queue.ts";
import type { CommandRegistry } from "../commands/registry.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../storage/store.ts";
import { Access } from "./access.ts";
import { Activity } from "./activity.ts";
import { broadcaster, type ChatMetrics } from "./broadcast.ts";
import { Commands } from "./commands.ts";
import { Messages } from "./messages.ts";
import { People } from "./people.ts";
import type { Presence } from "./presence.ts";
import { Rooms } from "./rooms.ts";

export interface ChatOptions {
  store: Store;
  hub: Hub;
  presence: Presence;
  /** Per-user limit on stored messages (text and join/leave notices). */
  messageLimiter: RateLimiter;
  /** The other per-user caps and rates, each keyed by user id (shared by every instance with Redis). */
  limits: ChatLimits;
  log: Logger;
  maxMessageChars: number;
  /** See `ActivityOptions.presenceMaxRoomMembers`. */
  presenceMaxRoomMembers?: number;
  /**
   * Chat commands (`/stock=AAPL.US`): the registry that parses them and the queue their jobs go to. Without
   * them a message starting with `/` is ordinary text.
   */
  commands?: { registry: CommandRegistry; queue: CommandQueue };
  metrics?: ChatMetrics;
}

/** What one user may do at most (README: Security). */
export interface ChatLimits {
  /** Rooms created (`ROOMS_PER_USER_PER_HOUR`). */
  roomCreations: RateLimiter;
  /** Direct conversations started with someone the user had none with (`DMS_PER_USER_PER_HOUR`). */
  newDirectRooms: RateLimiter;
  /** Typing notices over all of the user's sockets and rooms (`TYPING_PER_USER_*`); extra ones are dropped. */
  typing: RateLimiter;
  /** Sockets held at once (`MAX_SOCKETS_PER_USER`). */
  sockets: SocketQuota;
}

/**
 * The chat's rules, shared by the REST API, the pages and the WebSocket, one module per concern. Each stores
 * first (the store assigns `seq`) and then publishes through the hub; the hub never persists.
 */
export interface Chat {
  rooms: Rooms;
  messages: Messages;
  activity: Activity;
  people: People;
  /** Absent without a command queue. */
  commands?: Commands;
}

export function createChat(options: ChatOptions): Chat {
  const { store, hub, log } = options;
  const access = new Access(store, options.messageLimiter);
  const broadcast = broadcaster(hub, log, options.metrics);
  const commands = options.commands && new Commands({
    store,
    ...options.commands,
    log,
    broadcast,
    maxMessageChars: options.maxMessageChars,
  });
  const messages = new Messages({
    store,
    access,
    broadcast,
    maxMessageChars: options.maxMessageChars,
    commands,
    metrics: options.metrics,
  });
  const activity = new Activity({
    store,
    hub,
    presence: options.presence,
    log,
    presenceMaxRoomMembers: options.presenceMaxRoomMembers,
    typingLimiter: options.limits.typing,
    sockets: options.limits.sockets,
  });
  return {
    rooms: new Rooms({
      store,
      hub,
      access,
      messages,
      presence: options.presence,
      roomCreations: options.limits.roomCreations,
      newDirectRooms: options.limits.newDirectRooms,
    }),
    messages,
    activity,
    people: new People(store, activity),
    commands,
  };
}

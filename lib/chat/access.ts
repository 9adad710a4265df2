import type { RateLimiter } from "../limits/rate_limit.ts";
import { ChatError } from "../errors.ts";
import type { Identity } from "../hub/client.ts";
import { isId } from "../ids.ts";
import type { Room, Store } from "../storage/store.ts";

/**
 * Who may see, manage and write to which room, and the per-user write limit: the rules every chat module asks
 * before it acts. A private room is "not found" to a non-member, exactly like a missing one.
 */
export class Access {
  constructor(readonly store: Store, readonly limiter: RateLimiter) {}

  /** The room, when `actor` may see it, and whether they are a member. */
  async visibleRoom(actor: Identity, roomId: string): Promise<{ room: Room; member: boolean }> {
    const room = isId(roomId) ? await this.store.rooms.byId(roomId) : null;
    if (room === null) throw new ChatError("room_not_found");
    const member = await this.store.rooms.isMember(room.id, actor.userId);
    if (room.is_private && !member) throw new ChatError("room_not_found");
    return { room, member };
  }

  /** A room `actor` created and may manage (`what` names the action in the refusal); never a direct room. */
  async ownedRoom(actor: Identity, roomId: string, what: string): Promise<Room> {
    const { room } = await this.visibleRoom(actor, roomId);
    if (room.is_direct) {
      throw new ChatError("direct_room", "A direct conversation always has its two members");
    }
    if (room.creator_id !== actor.userId) {
      throw new ChatError("forbidden", `Only the room's creator can ${what} room "${room.name}"`);
    }
    return room;
  }

  /** The room `actor` posts to: visible, a member of it, and within the rate limit (one token taken). */
  async roomToWrite(actor: Identity, roomId: string): Promise<Room> {
    const { room, member } = await this.visibleRoom(actor, roomId);
    if (!member) {
      throw new ChatError("not_a_member", `Cannot send to room "${room.name}": not a member; join it first`);
    }
    await this.takeToken(actor);
    return room;
  }

  /** Takes one token of `actor`'s write limit (stored messages: text and join/leave notices). */
  async takeToken(actor: Identity): Promise<void> {
    const decision = await this.limiter.take(actor.userId);
    if (!decision.ok) throw new ChatError("rate_limited", undefined, { retryAfterMs: decision.retryAfterMs });
  }
}

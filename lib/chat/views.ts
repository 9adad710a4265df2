import type { Room, User } from "../storage/store.ts";

/** What anyone may see of a user. */
export interface PublicUser {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
  created_at: string;
  online: boolean;
  last_seen: string | null;
}

/** What a user sees of themselves. */
export interface SelfUser extends PublicUser {
  email: string;
}

export interface RoomView {
  id: string;
  name: string;
  description: string;
  creator_id: string;
  members: string[];
  member_count: number;
  is_private: boolean;
  is_direct: boolean;
  created_at: string;
  last_seq: number;
}

/**
 * A room as `GET /api/rooms` lists it: its member count without the member list, and the caller's read marker
 * (null in rooms they are not in).
 */
export type RoomListing = Omit<RoomView, "members"> & { last_read_seq: number | null };

/** One of the caller's rooms, with their read marker, without member lists (the sidebar's row). */
export interface MyRoom {
  id: string;
  name: string;
  description: string;
  creator_id: string;
  is_private: boolean;
  is_direct: boolean;
  created_at: string;
  last_seq: number;
  last_read_seq: number;
}

export function myRoom(room: Room, lastReadSeq: number): MyRoom {
  const { id, name, description, creator_id, is_private, is_direct, created_at, last_seq } = room;
  return {
    id,
    name,
    description,
    creator_id,
    is_private,
    is_direct,
    created_at,
    last_seq,
    last_read_seq: lastReadSeq,
  };
}

export function publicUser(user: User, online: boolean): PublicUser {
  return {
    id: user.id,
    username: user.username,
    display_name: user.display_name,
    avatar_url: user.avatar_url,
    created_at: user.created_at,
    online,
    last_seen: user.last_seen,
  };
}

export function selfUser(user: User, online: boolean): SelfUser {
  return { ...publicUser(user, online), email: user.email };
}

export function roomView(room: Room, members: string[]): RoomView {
  return {
    id: room.id,
    name: room.name,
    description: room.description,
    creator_id: room.creator_id,
    members,
    member_count: members.length,
    is_private: room.is_private,
    is_direct: room.is_direct,
    created_at: room.created_at,
    last_seq: room.last_seq,
  };
}

export function roomListing(room: Room, memberCount: number, lastReadSeq: number | null): RoomListing {
  return {
    id: room.id,
    name: room.name,
    description: room.description,
    creator_id: room.creator_id,
    member_count: memberCount,
    is_private: room.is_private,
    is_direct: room.is_direct,
    created_at: room.created_at,
    last_seq: room.last_seq,
    last_read_seq: lastReadSeq,
  };
}

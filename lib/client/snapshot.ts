/** What a view reads of a watched room: one immutable snapshot per change. */
import type { ChatMessage } from "../hub/protocol.ts";
import type { PendingMessage } from "./outgoing.ts";
import { type Member, type RoomSeed, RoomState } from "./room_state.ts";

/** A watched room as a view shows it: a new object whenever anything in it changed. */
export interface RoomSnapshot {
  id: string;
  /** Received messages in seq order. */
  messages: readonly ChatMessage[];
  /** Every message up to this seq has been received. */
  lastSeq: number;
  hasOlder: boolean;
  loadingOlder: boolean;
  /** `from_seq` of the last `reset`: messages before it are gone (retention). */
  historyReset: number | null;
  /** Own messages not confirmed yet, oldest first. */
  pending: readonly PendingMessage[];
  /** One's own entry is online while the client is connected. */
  members: readonly Member[];
  /** Usernames of the members typing now, in the order they started. */
  typists: readonly string[];
}

/**
 * What a room shows before its client exists (server rendering, hydration): the seed, nothing pending, and
 * oneself offline.
 */
export function seedSnapshot(roomId: string, seed: RoomSeed, meId: string): RoomSnapshot {
  return snapshotOf(new RoomState(roomId, seed), {
    meId,
    connected: false,
    loadingOlder: false,
    pending: [],
  });
}

/** A room's snapshot from its state and what the client adds to it. */
export function snapshotOf(
  state: RoomState,
  extra: { meId: string; connected: boolean; loadingOlder: boolean; pending: PendingMessage[] },
): RoomSnapshot {
  return {
    id: state.id,
    messages: state.messages(),
    lastSeq: state.lastSeq,
    hasOlder: state.hasOlder,
    loadingOlder: extra.loadingOlder,
    historyReset: state.historyReset,
    pending: extra.pending,
    members: state.members.map((m) => m.id === extra.meId ? { ...m, online: extra.connected } : m),
    typists: state.typists(),
  };
}

import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Message, MessageType } from "../storage/store.ts";

/** What the chat counts of stored messages (the application's metrics, through a small interface). */
export interface ChatMetrics {
  messageReceived(source: MessageSource): void;
  messageStored(type: MessageType): void;
}

/** Where a new message came from. */
export type MessageSource = "ws" | "rest";

/**
 * Publishes a stored message to its room on every instance, with its seq (hubs deliver it in order, once). It is
 * already stored, so a failed publish is logged, not thrown: gap repair and resume deliver it. `again`: the
 * message was published before, or may have been (not counted as stored a second time).
 */
export function broadcaster(
  hub: Hub,
  log: Logger,
  metrics?: ChatMetrics,
): (message: Message, options?: { again?: boolean }) => Promise<void> {
  return async function broadcast(message, options = {}) {
    if (!options.again) metrics?.messageStored(message.type);
    try {
      await hub.publishToRoom(message.room_id, JSON.stringify(message), { s: message.seq, t: Date.now() });
    } catch (error) {
      log.error("Cannot publish a stored message", { room_id: message.room_id, seq: message.seq, error });
    }
  };
}

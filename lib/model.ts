/**
 * The chat's shared data shapes: what the store keeps, the API returns and the socket sends, alike. Types only,
 * so any layer (the hub, the stores, the browser client) may import them.
 */

/**
 * A stored room message (`text`, `system` or `bot`), exactly as the history API returns it. `seq` is per room,
 * from 1, without gaps; `timestamp` is ISO 8601 UTC and only for display.
 */
export interface ChatMessage {
  id: string;
  room_id: string;
  seq: number;
  user_id: string;
  username: string;
  content: string;
  type: "text" | "system" | "bot";
  timestamp: string;
  client_id?: string;
}

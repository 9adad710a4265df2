/**
 * The browser's chat client, for views: `ChatClient` (one socket for every watched room, catch-up, the outbox,
 * presence and typing, the sign-in kept alive) and the snapshots it gives views. Plain TypeScript; no Preact,
 * no server code.
 */
export {
  ApiError,
  ChatClient,
  type ChatClientOptions,
  type ConnectionStatus,
  type Member,
  type PendingMessage,
  type RoomEntry,
  type RoomSeed,
  type RoomSnapshot,
  type SidebarRoom,
} from "./chat_client.ts";
export { seedSnapshot } from "./snapshot.ts";
export { localExpiry } from "./session_keeper.ts";

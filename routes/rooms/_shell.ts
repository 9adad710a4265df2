/**
 * What every page of the chat app starts from: the user, their rooms for the sidebar (with read markers, so
 * unread counts), the page's main view, the zone to format times in (the browser's, from its `tz` cookie,
 * until then UTC), and the sign-in the island keeps alive (when its access token expires). Shared by `/rooms`
 * and `/rooms/:id`.
 */
import { parse } from "hono/utils/cookie";
import type { AppView, ChatAppProps } from "../../islands/ChatApp.tsx";
import { knownTimeZone } from "../../components/chat/timeline.ts";
import type { RoomEntry } from "../../lib/client/mod.ts";
import type { RoomView } from "../../lib/chat/views.ts";
import type { Identity } from "../../lib/hub/client.ts";
import { loadEmojiTable, shortcodesIn } from "../../lib/markdown/emoji.ts";
import type { State } from "../../utils.ts";

// The server renders every emoji shortcode: the whole table, once.
await loadEmojiTable();

/** A room as the sidebar lists it (a room view with the user's read marker, or one of `chat.rooms.mine()`). */
export type ListedRoom = Omit<RoomView, "members" | "member_count"> & { last_read_seq: number | null };

export function entryOf(room: ListedRoom): RoomEntry {
  const { id, name, description, creator_id, is_private, is_direct, last_seq, last_read_seq } = room;
  return { id, name, description, creator_id, is_private, is_direct, last_seq, last_read_seq };
}

/** The page's props; `rooms` may hold rooms the user is not in (they are left out of the sidebar). */
export async function appProps(
  state: State,
  user: Identity,
  rooms: ListedRoom[],
  view: AppView,
  req: Request,
): Promise<ChatAppProps> {
  const account = await state.services.store.users.byId(user.userId);
  return {
    me: {
      id: user.userId,
      username: user.username,
      display_name: account?.display_name ?? null,
      avatar_url: account?.avatar_url ?? null,
    },
    rooms: rooms.filter((r) => r.last_read_seq !== null).map(entryOf),
    view,
    emoji: view.kind === "room" ? shortcodesIn(view.seed.messages.map((m) => m.content)) : {},
    maxChars: state.services.config.maxMessageChars,
    timeZone: knownTimeZone(parse(req.headers.get("cookie") ?? "", "tz").tz),
    now: Date.now(),
    clientId: crypto.randomUUID(),
    token_expires_at: user.expiresAt,
    token_ttl_ms: state.services.config.accessTokenTtlSeconds * 1000,
    session_id: user.sessionId,
  };
}

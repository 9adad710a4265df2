/**
 * The REST calls the chat client makes (same origin, session cookie): history pages, members, read marker, the
 * user's rooms, and room management. A refusal throws `ApiError` with the server's code and message.
 */
import type { ChatMessage } from "../hub/protocol.ts";
import type { RoomEntry } from "./room_list.ts";
import type { Member, RoomSeed } from "./room_state.ts";

/** The server refused a request: its `{"error":{"code","message"}}`, or the status when it sent none. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number) {
    super(message);
    this.name = "ApiError";
  }
}

/** What the room list needs of a room view (`GET /api/rooms`, `GET /api/rooms/:id`). */
type RoomView = Omit<RoomEntry, "last_read_seq"> & { last_read_seq?: number | null; members?: string[] };

/** Messages in the first page of a room opened in the page. */
export const SEED_PAGE = 50;

export class RoomApi {
  readonly #fetch: typeof fetch;

  constructor(fetchFn: typeof fetch) {
    this.#fetch = fetchFn;
  }

  /** Up to `limit` messages after `seq`, oldest first. */
  async after(roomId: string, seq: number, limit: number): Promise<ChatMessage[]> {
    const page = await this.#get<{ messages: ChatMessage[] }>(
      `/api/rooms/${roomId}/messages?after_seq=${seq}&limit=${limit}`,
    );
    return page.messages.filter((m) => m.room_id === roomId);
  }

  /** Up to `limit` messages before `seq`, oldest first. */
  async before(roomId: string, seq: number, limit: number): Promise<ChatMessage[]> {
    const page = await this.#get<{ messages: ChatMessage[] }>(
      `/api/rooms/${roomId}/messages?before_seq=${seq}&limit=${limit}`,
    );
    return page.messages.filter((m) => m.room_id === roomId);
  }

  async members(roomId: string): Promise<Member[]> {
    const { members } = await this.#get<{ members: Member[] }>(`/api/rooms/${roomId}/members`);
    return members.map(({ id, username, display_name, avatar_url, online }) => ({
      id,
      username,
      display_name,
      avatar_url,
      online,
    }));
  }

  /** Moves the read marker to `seq`; false when the server refused. */
  async markRead(roomId: string, seq: number): Promise<boolean> {
    const res = await this.#fetch(`/api/rooms/${roomId}/read`, {
      method: "POST",
      // Sent even when the page is left right after (a click to another page).
      keepalive: true,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ seq }),
    });
    return res.ok;
  }

  /** The rooms the user belongs to. */
  async rooms(): Promise<RoomEntry[]> {
    const { rooms } = await this.#get<{ rooms: RoomView[] }>("/api/users/me/rooms");
    return rooms.map(entryOf);
  }

  /** One room, with whether `userId` belongs to it. */
  async room(roomId: string, userId: string): Promise<{ entry: RoomEntry; member: boolean }> {
    const room = await this.#get<RoomView>(`/api/rooms/${roomId}`);
    return { entry: entryOf(room), member: room.members?.includes(userId) ?? false };
  }

  /** What a room opened in the page starts from: its newest page of history and its members. */
  async seed(roomId: string): Promise<RoomSeed> {
    const [page, members] = await Promise.all([
      this.#get<{ messages: ChatMessage[]; total: number }>(
        `/api/rooms/${roomId}/messages?limit=${SEED_PAGE}`,
      ),
      this.members(roomId),
    ]);
    return { messages: page.messages, hasOlder: page.total > page.messages.length, members };
  }

  /** Creates a room; answers it. */
  async create(input: { name: string; description: string; is_private: boolean }): Promise<RoomEntry> {
    return entryOf(await this.#send<RoomView>("POST", "/api/rooms", input));
  }

  /** Renames a room or changes its description; answers it. */
  async update(roomId: string, change: { name?: string; description?: string }): Promise<RoomEntry> {
    return entryOf(await this.#send<RoomView>("PATCH", `/api/rooms/${roomId}`, change));
  }

  /** Adds a user, named by username, to a room. */
  async addMember(roomId: string, username: string): Promise<void> {
    await this.#send("POST", `/api/rooms/${roomId}/members`, { username });
  }

  async removeMember(roomId: string, userId: string): Promise<void> {
    await this.#send("DELETE", `/api/rooms/${roomId}/members/${userId}`);
  }

  async leave(roomId: string): Promise<void> {
    await this.#send("POST", `/api/rooms/${roomId}/leave`);
  }

  /** The direct conversation with a user, made on first call; answers it. */
  async direct(userId: string): Promise<RoomEntry> {
    return entryOf(await this.#send<RoomView>("POST", "/api/dms", { user_id: userId }));
  }

  /** People whose username or display name contains `q`. */
  async people(q: string): Promise<Member[]> {
    const { users } = await this.#get<{ users: Member[] }>(`/api/users?q=${encodeURIComponent(q)}`);
    return users;
  }

  async #send<T>(method: "POST" | "PATCH" | "DELETE", url: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(url, {
      method,
      headers: { "content-type": "application/json", accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw await errorOf(res);
    return res.status === 204 ? (null as T) : res.json();
  }

  async #get<T>(url: string): Promise<T> {
    const res = await this.#fetch(url, { headers: { accept: "application/json" } });
    if (!res.ok) throw await errorOf(res);
    return res.json();
  }
}

function entryOf(room: RoomView): RoomEntry {
  return {
    id: room.id,
    name: room.name,
    description: room.description,
    creator_id: room.creator_id,
    is_private: room.is_private,
    is_direct: room.is_direct,
    last_seq: room.last_seq,
    last_read_seq: room.last_read_seq ?? null,
  };
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const { error } = await res.json();
    if (typeof error?.code === "string") return new ApiError(error.code, String(error.message), res.status);
  } catch {
    // Not our error shape: the status says it.
  }
  return new ApiError("http_" + res.status, `The server answered ${res.status}`, res.status);
}

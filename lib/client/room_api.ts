/** The REST calls the chat client makes (same origin, session cookie): history pages, members, read marker. */
import type { ChatMessage } from "../hub/protocol.ts";
import type { Member } from "./room_state.ts";

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
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ seq }),
    });
    return res.ok;
  }

  async #get<T>(url: string): Promise<T> {
    const res = await this.#fetch(url, { headers: { accept: "application/json" } });
    if (!res.ok) throw new Error(`${url}: ${res.status}`);
    return res.json();
  }
}

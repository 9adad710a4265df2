/**
 * What the client knows of one room: its messages by seq (each once), the seq up to which it has all of them,
 * the members with their presence, and who is typing. Plain data and rules, no I/O.
 */
import type { ChatMessage } from "../hub/protocol.ts";

/** A room member as the page lists them. */
export interface Member {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url: string | null;
  online: boolean;
}

/** What a room starts with: usually what its page was rendered with. */
export interface RoomSeed {
  /** The newest page of history, oldest first; its last `seq` is where the client resumes. */
  messages: ChatMessage[];
  /** Whether older messages than these exist. */
  hasOlder: boolean;
  members: Member[];
}

export class RoomState {
  readonly #bySeq: Map<number, ChatMessage>;
  /** Highest seq up to which every message was received (the resume point). */
  lastSeq: number;
  hasOlder: boolean;
  /** `from_seq` of the last `reset`: history has a hole below it. */
  historyReset: number | null = null;
  members: Member[];
  /** Typists by user id, in the order they started; `until` is when the notice expires. */
  readonly #typing = new Map<string, { username: string; until: number }>();

  constructor(readonly id: string, seed: RoomSeed) {
    this.#bySeq = new Map(seed.messages.map((m) => [m.seq, m]));
    this.lastSeq = seed.messages.at(-1)?.seq ?? 0;
    this.hasOlder = seed.hasOlder;
    this.members = seed.members;
  }

  /** How many messages are held. */
  get size(): number {
    return this.#bySeq.size;
  }

  /** The held messages in seq order. */
  messages(): ChatMessage[] {
    return [...this.#bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * A stored message from the socket or the history API; false when it was had already. A new message ends
   * its author's typing notice.
   */
  add(message: ChatMessage): boolean {
    if (message.seq <= this.lastSeq || this.#bySeq.has(message.seq)) return false;
    this.#bySeq.set(message.seq, message);
    this.#advance();
    this.#typing.delete(message.user_id);
    return true;
  }

  /** A page of older history (below what is held); `complete` when it reaches the room's first message. */
  addOlder(messages: ChatMessage[], complete: boolean): void {
    for (const m of messages) if (!this.#bySeq.has(m.seq)) this.#bySeq.set(m.seq, m);
    if (complete) this.hasOlder = false;
  }

  /** Whether a message above `lastSeq` arrived without the ones before it. */
  hasGap(): boolean {
    for (const seq of this.#bySeq.keys()) if (seq > this.lastSeq) return true;
    return false;
  }

  /** Retention removed the messages before `fromSeq`: history continues there. */
  reset(fromSeq: number): void {
    if (fromSeq - 1 > this.lastSeq) {
      this.lastSeq = fromSeq - 1;
      this.#advance();
    }
    this.historyReset = fromSeq;
  }

  /** Forgets all but the newest `keep` messages (older ones load again on request); true when any went. */
  trim(keep: number): boolean {
    if (this.#bySeq.size <= keep) return false;
    const held = [...this.#bySeq.keys()].filter((seq) => seq <= this.lastSeq).sort((a, b) => a - b);
    const drop = Math.min(held.length, this.#bySeq.size - keep);
    for (let i = 0; i < drop; i++) this.#bySeq.delete(held[i]);
    if (drop > 0) this.hasOlder = true;
    return drop > 0;
  }

  /** The `client_id`s of `userId`'s held messages: own messages the server has stored. */
  clientIdsOf(userId: string): Set<string> {
    const ids = new Set<string>();
    for (const m of this.#bySeq.values()) if (m.client_id && m.user_id === userId) ids.add(m.client_id);
    return ids;
  }

  /** A `presence_state`: the members in `online` are online, every other member offline. */
  presenceState(online: string[]): void {
    const ids = new Set(online);
    this.members = this.members.map((m) => m.online === ids.has(m.id) ? m : { ...m, online: ids.has(m.id) });
  }

  /** A `presence` frame; true when `userId` is a member here. */
  presence(userId: string, online: boolean): boolean {
    if (!this.members.some((m) => m.id === userId)) return false;
    this.members = this.members.map((m) => m.id === userId ? { ...m, online } : m);
    return true;
  }

  typing(userId: string, username: string, until: number): void {
    this.#typing.set(userId, { username, until });
  }

  /** Drops the typing notices that expired by `now`; true when any did. */
  expireTyping(now: number): boolean {
    let expired = false;
    for (const [userId, { until }] of this.#typing) {
      if (until <= now) expired = this.#typing.delete(userId);
    }
    return expired;
  }

  /** The usernames of those typing, in the order they started. */
  typists(): string[] {
    return [...this.#typing.values()].map((t) => t.username);
  }

  #advance(): void {
    while (this.#bySeq.has(this.lastSeq + 1)) this.lastSeq++;
  }
}

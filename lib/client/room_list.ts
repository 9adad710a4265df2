/**
 * The user's rooms as the sidebar shows them: each with its newest seq and the user's read marker, so its unread
 * count is `last_seq - last_read_seq` (read positions are seqs). Live messages move `last_seq`; the user's own
 * messages count as read. Plain data and rules, no I/O.
 */

/** One of the user's rooms, as the server lists it. */
export interface RoomEntry {
  id: string;
  name: string;
  description: string;
  creator_id: string;
  is_private: boolean;
  is_direct: boolean;
  last_seq: number;
  /** The user's read marker; null when they never read the room. */
  last_read_seq: number | null;
}

/** A sidebar row: the room and how many of its events the user has not read. */
export interface SidebarRoom extends RoomEntry {
  unread: number;
}

const byName = (a: RoomEntry, b: RoomEntry) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);

export class RoomList {
  readonly #rooms = new Map<string, RoomEntry>();
  /**
   * Events of rooms not listed yet (being looked up): the highest seq, and the highest own one. The server's
   * answer may predate some of them; they are applied when the room is listed.
   */
  readonly #early = new Map<string, { seq: number; own: number }>();

  /** Starts from `entries` (the server's list); nothing live is known beyond it yet. */
  constructor(entries: readonly RoomEntry[] = []) {
    for (const entry of entries) this.#rooms.set(entry.id, { ...entry });
  }

  has(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  get(roomId: string): RoomEntry | undefined {
    return this.#rooms.get(roomId);
  }

  /**
   * The server's list, read again (after a reconnect): rooms not in it are gone, the others take the newer of
   * both seqs and markers (a live message may have come after the server answered).
   */
  replace(entries: readonly RoomEntry[]): void {
    const known = new Map(this.#rooms);
    this.#rooms.clear();
    for (const entry of entries) {
      this.#rooms.set(entry.id, this.#withEarly(merge(known.get(entry.id), entry)));
    }
  }

  /** Adds a room or updates its name, description and seqs. */
  upsert(entry: RoomEntry): void {
    this.#rooms.set(entry.id, this.#withEarly(merge(this.#rooms.get(entry.id), entry)));
  }

  /** The room's new name (from its notice); true when it changed. */
  rename(roomId: string, name: string): boolean {
    const room = this.#rooms.get(roomId);
    if (!room || room.name === name) return false;
    room.name = name;
    return true;
  }

  remove(roomId: string): boolean {
    return this.#rooms.delete(roomId);
  }

  /**
   * A stored event of the room arrived with `seq`; `own` when the user sent it (then it is read too). False
   * when nothing changed, or the room is not listed (the caller looks it up; the event counts once it is).
   */
  seen(roomId: string, seq: number, own: boolean): boolean {
    const room = this.#rooms.get(roomId);
    if (!room) {
      const early = this.#early.get(roomId) ?? { seq: 0, own: 0 };
      this.#early.set(roomId, {
        seq: Math.max(early.seq, seq),
        own: own ? Math.max(early.own, seq) : early.own,
      });
      return false;
    }
    let changed = false;
    if (seq > room.last_seq) {
      room.last_seq = seq;
      changed = true;
    }
    if (own && seq > (room.last_read_seq ?? 0)) {
      room.last_read_seq = seq;
      changed = true;
    }
    return changed;
  }

  /** The user read the room up to `seq`; true when the marker moved. */
  read(roomId: string, seq: number): boolean {
    const room = this.#rooms.get(roomId);
    if (!room || seq <= (room.last_read_seq ?? 0)) return false;
    room.last_read_seq = seq;
    return true;
  }

  /** `room` with what was seen of it before it was listed. */
  #withEarly(room: RoomEntry): RoomEntry {
    const early = this.#early.get(room.id);
    if (!early) return room;
    this.#early.delete(room.id);
    return {
      ...room,
      last_seq: Math.max(room.last_seq, early.seq),
      last_read_seq: early.own > 0 ? Math.max(room.last_read_seq ?? 0, early.own) : room.last_read_seq,
    };
  }

  /** Rooms (not direct), then direct conversations, each by name; with unread counts. */
  rows(): SidebarRoom[] {
    const all = [...this.#rooms.values()].map((room) => ({ ...room, unread: unreadOf(room) }));
    return [...all.filter((r) => !r.is_direct).sort(byName), ...all.filter((r) => r.is_direct).sort(byName)];
  }

  /** Unread events over all rooms except `exceptRoomId` (the one on screen). */
  unreadTotal(exceptRoomId?: string): number {
    let total = 0;
    for (const room of this.#rooms.values()) if (room.id !== exceptRoomId) total += unreadOf(room);
    return total;
  }
}

function unreadOf(room: RoomEntry): number {
  return Math.max(0, room.last_seq - (room.last_read_seq ?? 0));
}

function merge(known: RoomEntry | undefined, entry: RoomEntry): RoomEntry {
  if (!known) return { ...entry };
  return {
    ...entry,
    last_seq: Math.max(known.last_seq, entry.last_seq),
    last_read_seq: maxMarker(known.last_read_seq, entry.last_read_seq),
  };
}

function maxMarker(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

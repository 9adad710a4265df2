/**
 * Room names are unique among the rooms that are not direct conversations, compared by their key: trimmed,
 * Unicode-normalised (NFKC) and lower-cased, so "General", " general " and "ＧＥＮＥＲＡＬ" are one name. Both
 * stores keep the key next to the name under a unique index; the migrations that introduce that index use
 * `renamesForDuplicates()` to make the names of an existing database unique first.
 */

/** The key under which a room name must be unique. */
export function roomNameKey(name: string): string {
  return name.normalize("NFKC").trim().toLowerCase();
}

/** What the migration needs to know of a room that is not a direct conversation. */
export interface NamedRoom {
  id: string;
  name: string;
}

/**
 * The renames that make the names of `rooms` (oldest first) unique by key, losing no room: the oldest room of a
 * name keeps it, each later one gets the first free suffix, " (2)", " (3)" ..., after its own name
 * ("general" becomes "general (2)"). A suffixed name never takes the key of another room's name.
 *
 * @example
 * renamesForDuplicates([{ id: "a", name: "General" }, { id: "b", name: "general" }]);
 * // Map { "b" => "general (2)" }
 */
export function renamesForDuplicates(rooms: NamedRoom[]): Map<string, string> {
  const keepers = new Set<string>();
  const taken = new Set<string>();
  for (const room of rooms) {
    const key = roomNameKey(room.name);
    if (!taken.has(key)) {
      taken.add(key);
      keepers.add(room.id);
    }
  }
  const renames = new Map<string, string>();
  for (const room of rooms) {
    if (keepers.has(room.id)) continue;
    let n = 2;
    while (taken.has(roomNameKey(`${room.name} (${n})`))) n++;
    const name = `${room.name} (${n})`;
    taken.add(roomNameKey(name));
    renames.set(room.id, name);
  }
  return renames;
}

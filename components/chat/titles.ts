/** How a room is named on screen: `# name` for a room, the other person for a direct conversation. */
import type { RoomEntry } from "../../lib/client/mod.ts";

/** A direct conversation's stored name lists both usernames (`"ann, bob"`): the other one shows. */
export function roomLabel(room: Pick<RoomEntry, "name" | "is_direct">, meUsername: string): string {
  if (!room.is_direct) return room.name;
  const others = room.name.split(", ").filter((name) => name !== meUsername);
  return others.length > 0 ? others.join(", ") : meUsername;
}

/** `# general`, or `ann` for a direct conversation. */
export function roomTitle(room: Pick<RoomEntry, "name" | "is_direct">, meUsername: string): string {
  return room.is_direct ? roomLabel(room, meUsername) : `# ${room.name}`;
}

/**
 * A person as they are named where someone else could pass for them: `Ada (@ada)` when they chose a display
 * name, their username alone otherwise. Display names are free text; only the username is unique.
 */
export function personLabel(person: { username: string; display_name: string | null }): string {
  return person.display_name === null ? person.username : `${person.display_name} (@${person.username})`;
}

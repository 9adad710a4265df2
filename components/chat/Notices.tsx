/** What the main column shows when it shows no room: a public room's preview, a missing room, a room left. */
import { PostButton } from "../PostButton.tsx";

export function Preview(
  { room }: { room: { id: string; name: string; description: string; member_count: number } },
) {
  return (
    <section class="card">
      <h1># {room.name}</h1>
      {room.description && <p dir="auto">{room.description}</p>}
      <p class="muted">{room.member_count} members</p>
      <PostButton action="/rooms" fields={{ intent: "join", room_id: room.id }} label="Join this room" />
    </section>
  );
}

export function Missing() {
  return (
    <section class="card">
      <h1>Room not found</h1>
      <p>It does not exist, or it is private and you are not a member.</p>
      <p>
        <a href="/rooms">Browse rooms</a>
      </p>
    </section>
  );
}

export function NotAMember() {
  return (
    <section class="card">
      <h1>Not a member</h1>
      <p>You are no longer a member of this room.</p>
      <p>
        <a href="/rooms">Browse rooms</a>
      </p>
    </section>
  );
}

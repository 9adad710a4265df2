/**
 * "Browse rooms": public rooms to join, creating a room, and finding a person to message. Plain forms that post
 * to `/rooms`, so it all works without JavaScript.
 */
import { Field } from "../Field.tsx";
import { PostButton } from "../PostButton.tsx";

export interface DirectoryData {
  discover: { id: string; name: string; description: string; member_count: number }[];
  q: string;
  found: {
    id: string;
    username: string;
    display_name: string | null;
    online: boolean;
  }[];
  errors: Record<string, string>;
  values: Record<string, string>;
}

export function Directory({ data }: { data: DirectoryData }) {
  return (
    <div class="directory">
      <h1>Browse rooms</h1>
      {data.errors._form && <p class="error" role="alert">{data.errors._form}</p>}
      <section aria-labelledby="discover-title">
        <h2 id="discover-title">Public rooms</h2>
        {data.discover.length === 0
          ? <p class="muted">No public rooms to join. Create one below.</p>
          : (
            <ul class="room-list" id="public-rooms">
              {data.discover.map((room) => (
                <li key={room.id}>
                  <div>
                    <span class="room-name"># {room.name}</span>
                    <span class="muted">
                      {room.member_count} {room.member_count === 1 ? "member" : "members"}
                    </span>
                    {room.description && <p class="muted" dir="auto">{room.description}</p>}
                  </div>
                  <PostButton
                    fields={{ intent: "join", room_id: room.id }}
                    label="Join"
                    ariaLabel={`Join ${room.name}`}
                  />
                </li>
              ))}
            </ul>
          )}
      </section>

      <section aria-labelledby="create-title" class="card" id="create-room">
        <h2 id="create-title">Create a room</h2>
        <form method="post" action="/rooms" id="create-room-form">
          <input type="hidden" name="intent" value="create" />
          <Field
            id="room-name"
            name="name"
            label="Name"
            value={data.values.name}
            error={data.errors.name}
            required
            maxLength={100}
          />
          <Field
            id="room-description"
            name="description"
            label="Description"
            value={data.values.description}
            error={data.errors.description}
            maxLength={1000}
          />
          <div class="check">
            <input
              type="checkbox"
              id="room-private"
              name="is_private"
              checked={data.values.is_private === "on"}
            />
            <label for="room-private">
              Private: only people you add can see it (add them from the room's panel)
            </label>
          </div>
          <button type="submit">Create room</button>
        </form>
      </section>

      <section aria-labelledby="dm-title" class="card" id="dm">
        <h2 id="dm-title">Direct message</h2>
        <form method="get" action="/rooms" role="search" id="user-search-form">
          <Field id="user-search" name="q" label="Find a person by username or name" value={data.q} />
          <button type="submit">Search</button>
        </form>
        {data.q !== "" && data.found.length === 0 && <p class="muted">Nobody matches "{data.q}".</p>}
        <ul class="user-list" id="user-results">
          {data.found.map((u) => (
            <li key={u.id}>
              <span class={u.online ? "dot online" : "dot"} aria-hidden="true" />
              <span>{u.display_name ?? u.username}</span> <span class="muted">@{u.username}</span>
              <PostButton
                action="/rooms"
                fields={{ intent: "dm", user_id: u.id }}
                label="Message"
                ariaLabel={`Message ${u.username}`}
              />
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

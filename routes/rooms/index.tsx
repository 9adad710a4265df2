import { Field } from "../../components/Field.tsx";
import { PostButton } from "../../components/PostButton.tsx";
import type { PublicUser, RoomView } from "../../lib/chat/views.ts";
import { page, type PageProps } from "../../lib/fresh/mod.ts";
import { formError } from "../../lib/web/form_errors.ts";
import { signedIn } from "../../lib/web/guard.ts";
import { define, readForm, redirect, type State } from "../../utils.ts";

interface MyRoom extends RoomView {
  unread: number;
}

interface Data {
  mine: MyRoom[];
  discover: RoomView[];
  q: string;
  found: PublicUser[];
  errors: Record<string, string>;
  values: Record<string, string>;
}

async function load(state: State, actorId: string, q: string): Promise<Omit<Data, "errors" | "values">> {
  const { chat } = state.services;
  const rooms = await chat.rooms.list(state.user!);
  const mine = rooms.filter((r) => r.last_read_seq !== null).map((r) => ({
    ...r,
    unread: Math.max(0, r.last_seq - (r.last_read_seq ?? 0)),
  }));
  const discover = rooms.filter((r) => r.last_read_seq === null);
  const found = (await state.services.chat.people.search(q.slice(0, 32))).filter((u) => u.id !== actorId);
  return { mine, discover, q, found };
}

/** Room list: my rooms with unread counts, public rooms to join, create a room, start a direct message. */
export const handler = define.handlers<Data>({
  async GET(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    ctx.state.title = "Rooms";
    const q = (ctx.url.searchParams.get("q") ?? "").trim();
    return page({ ...(await load(ctx.state, user.userId, q)), errors: {}, values: {} });
  },

  async POST(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const { chat } = ctx.state.services;
    const { fields } = await readForm(ctx.req);
    try {
      switch (fields.intent) {
        case "create": {
          const room = await chat.rooms.create(user, {
            name: (fields.name ?? "").trim(),
            description: (fields.description ?? "").trim(),
            is_private: fields.is_private === "on",
          });
          return redirect(`/rooms/${room.id}`);
        }
        case "join":
          await chat.rooms.join(user, fields.room_id ?? "");
          return redirect(`/rooms/${fields.room_id}`);
        case "dm": {
          const { room } = await chat.rooms.direct(user, fields.user_id ?? "");
          return redirect(`/rooms/${room.id}`);
        }
        default:
          return new Response("Unknown form", { status: 400 });
      }
    } catch (error) {
      ctx.state.title = "Rooms";
      const { errors, status } = formError(error, ["name", "description"]);
      return page({ ...(await load(ctx.state, user.userId, "")), errors, values: fields }, { status });
    }
  },
});

export default function Rooms({ data }: PageProps<Data, State>) {
  return (
    <div class="rooms-page">
      {data.errors._form && <p class="error" role="alert">{data.errors._form}</p>}
      <section aria-labelledby="mine-title">
        <h1 id="mine-title">My rooms</h1>
        {data.mine.length === 0
          ? <p class="muted">You have not joined a room yet.</p>
          : (
            <ul class="room-list" id="my-rooms">
              {data.mine.map((room) => (
                <li key={room.id}>
                  <a href={`/rooms/${room.id}`} data-room-id={room.id}>
                    <span class="room-name">{room.is_direct ? `@ ${room.name}` : `# ${room.name}`}</span>
                    {room.is_private && !room.is_direct && <span class="tag">private</span>}
                    {room.unread > 0 && (
                      <span class="unread" aria-label={`${room.unread} unread`}>{room.unread}</span>
                    )}
                  </a>
                </li>
              ))}
            </ul>
          )}
      </section>

      <section aria-labelledby="discover-title">
        <h2 id="discover-title">Public rooms</h2>
        {data.discover.length === 0
          ? <p class="muted">No other public rooms.</p>
          : (
            <ul class="room-list" id="public-rooms">
              {data.discover.map((room) => (
                <li key={room.id}>
                  <span class="room-name"># {room.name}</span>
                  <span class="muted">{room.member_count} members</span>
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

      <section aria-labelledby="create-title" class="card">
        <h2 id="create-title">Create a room</h2>
        <form method="post" id="create-room-form">
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
            <label for="room-private">Private (only members you add can see it)</label>
          </div>
          <button type="submit">Create room</button>
        </form>
      </section>

      <section aria-labelledby="dm-title" class="card">
        <h2 id="dm-title">Direct message</h2>
        <form method="get" role="search" id="user-search-form">
          <Field id="user-search" name="q" label="Find a person by username" value={data.q} />
          <button type="submit">Search</button>
        </form>
        {data.q !== "" && data.found.length === 0 && <p class="muted">Nobody matches "{data.q}".</p>}
        <ul class="user-list" id="user-results">
          {data.found.map((u) => (
            <li key={u.id}>
              <span class={u.online ? "dot online" : "dot"} aria-hidden="true" />
              <span>{u.display_name ?? u.username}</span> <span class="muted">@{u.username}</span>
              <PostButton
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

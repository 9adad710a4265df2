import ChatRoom, { type ChatRoomProps } from "../../islands/ChatRoom.tsx";
import { PostButton } from "../../components/PostButton.tsx";
import { ChatError } from "../../lib/errors.ts";
import { Island, page, type PageProps } from "../../lib/fresh/mod.ts";
import { signedIn } from "../../lib/web/guard.ts";
import { define, type State } from "../../utils.ts";

type Data =
  | { kind: "room"; props: ChatRoomProps }
  | { kind: "preview"; room: { id: string; name: string; description: string; member_count: number } }
  | { kind: "missing" };

/** A room: the live chat island for members, a join button for a public room's visitors, 404 otherwise. */
export const handler = define.handlers<Data>({
  async GET(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const { chat } = ctx.state.services;
    let room;
    try {
      room = await chat.rooms.get(user, ctx.params.id);
    } catch (error) {
      if (error instanceof ChatError && error.status === 404) {
        ctx.state.title = "Room not found";
        return page({ kind: "missing" }, { status: 404 });
      }
      throw error;
    }
    ctx.state.title = room.is_direct ? room.name : `# ${room.name}`;
    if (!room.members.includes(user.userId)) {
      const { id, name, description, member_count } = room;
      return page({ kind: "preview", room: { id, name, description, member_count } });
    }
    const [history, members] = await Promise.all([
      chat.messages.history(user, room.id, { limit: 50, offset: 0 }),
      chat.rooms.members(user, room.id),
    ]);
    // The page shows everything up to its newest message: that much is read.
    const newest = history.messages.at(-1)?.seq;
    if (newest !== undefined) await chat.rooms.markRead(user, room.id, newest);
    return page({
      kind: "room",
      props: {
        room: {
          id: room.id,
          name: room.name,
          description: room.description,
          is_direct: room.is_direct,
          is_private: room.is_private,
        },
        me: { id: user.userId, username: user.username },
        messages: history.messages,
        hasOlder: history.total > history.messages.length,
        members: members.map(({ id, username, display_name, avatar_url, online }) => ({
          id,
          username,
          display_name,
          avatar_url,
          online,
        })),
      },
    });
  },
});

export default function RoomPage({ data }: PageProps<Data, State>) {
  if (data.kind === "missing") {
    return (
      <section class="card">
        <h1>Room not found</h1>
        <p>It does not exist, or it is private and you are not a member.</p>
        <p>
          <a href="/rooms">Back to rooms</a>
        </p>
      </section>
    );
  }
  if (data.kind === "preview") {
    return (
      <section class="card">
        <h1># {data.room.name}</h1>
        {data.room.description && <p>{data.room.description}</p>}
        <p class="muted">{data.room.member_count} members</p>
        <PostButton
          action="/rooms"
          fields={{ intent: "join", room_id: data.room.id }}
          label="Join this room"
        />
      </section>
    );
  }
  return <Island component={ChatRoom} props={data.props} />;
}

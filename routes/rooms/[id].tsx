import ChatApp, { type AppView, type ChatAppProps } from "../../islands/ChatApp.tsx";
import { SEED_PAGE } from "../../lib/client/room_api.ts";
import { ChatError } from "../../lib/errors.ts";
import { Island, page, type PageProps, type PageResponse } from "../../lib/fresh/mod.ts";
import type { Identity } from "../../lib/hub/client.ts";
import { signedIn } from "../../lib/web/guard.ts";
import { define, readForm, redirect, type State } from "../../utils.ts";
import { appProps, entryOf } from "./_shell.ts";

/**
 * A room: the chat app open on it for members, a join button for a public room's visitors, 404 otherwise.
 * POST sends a message without JavaScript (a plain form), then shows the room again.
 */
export const handler = define.handlers<ChatAppProps>({
  async GET(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    return await roomPage(ctx.state, user, ctx.params.id, ctx.req);
  },

  async POST(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const { fields } = await readForm(ctx.req);
    const content = fields.content ?? "";
    try {
      if (fields.intent !== "send") throw new ChatError("invalid_form", "This form cannot be sent here");
      const clientId = /^[A-Za-z0-9_-]{1,64}$/.test(fields.client_id ?? "") ? fields.client_id : undefined;
      await ctx.state.services.chat.messages.post(user, ctx.params.id, content, clientId);
      return redirect(`/rooms/${ctx.params.id}#composer`);
    } catch (error) {
      if (!(error instanceof ChatError) || error.status >= 500) throw error;
      return await roomPage(ctx.state, user, ctx.params.id, ctx.req, {
        draft: content,
        notice: `Not sent: ${error.message}`,
        status: error.status,
      });
    }
  },
});

async function roomPage(
  state: State,
  user: Identity,
  roomId: string,
  req: Request,
  failed?: { draft: string; notice: string; status: number },
): Promise<PageResponse<ChatAppProps>> {
  const { chat } = state.services;
  const rooms = await chat.rooms.mine(user);
  let view: AppView;
  let status = failed?.status ?? 200;
  const listed = rooms.find((r) => r.id === roomId);
  if (!listed) {
    // Not a member: a public room's preview; 404 for a private room of others, or none at all.
    const visible = await chat.rooms.get(user, roomId).catch((error) => {
      if (error instanceof ChatError && error.status === 404) return null;
      throw error;
    });
    if (visible === null) {
      view = { kind: "missing" };
      state.title = "Room not found";
      status = 404;
    } else {
      const { id, name, description, member_count } = visible;
      view = { kind: "preview", room: { id, name, description, member_count } };
      state.title = `# ${name}`;
    }
  } else {
    const [history, members] = await Promise.all([
      chat.messages.history(user, roomId, { limit: SEED_PAGE, offset: 0 }),
      chat.rooms.members(user, roomId),
    ]);
    // The page shows everything up to its newest message: that much is read (the line stays where it was).
    const newest = history.messages.at(-1)?.seq;
    if (newest !== undefined && !failed) await chat.rooms.markRead(user, roomId, newest);
    view = {
      kind: "room",
      room: entryOf(listed),
      seed: {
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
      readSeq: listed.last_seq > listed.last_read_seq ? listed.last_read_seq : null,
      ...(failed ? { draft: failed.draft, notice: failed.notice } : {}),
    };
    state.title = listed.is_direct ? listed.name : `# ${listed.name}`;
    listed.last_read_seq = Math.max(listed.last_read_seq, newest ?? 0);
  }
  return page(await appProps(state, user, rooms, view, req), { status });
}

export default function RoomPage({ data }: PageProps<ChatAppProps, State>) {
  return (
    <>
      <noscript>
        <p class="banner">Live updates need JavaScript: reload the page to see new messages.</p>
      </noscript>
      <Island component={ChatApp} props={data} />
    </>
  );
}

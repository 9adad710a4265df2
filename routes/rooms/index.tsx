import ChatApp, { type ChatAppProps } from "../../islands/ChatApp.tsx";
import type { DirectoryData } from "../../components/chat/Directory.tsx";
import { Island, page, type PageProps } from "../../lib/fresh/mod.ts";
import type { Identity } from "../../lib/hub/client.ts";
import { formError } from "../../lib/web/form_errors.ts";
import { signedIn } from "../../lib/web/guard.ts";
import { define, readForm, redirect, type State } from "../../utils.ts";
import { appProps } from "./_shell.ts";

/** Browse rooms: public rooms to join, create a room, find a person to message; beside the user's rooms. */
export const handler = define.handlers<ChatAppProps>({
  async GET(ctx) {
    const user = signedIn(ctx.state, ctx.url);
    if (user instanceof Response) return user;
    const q = (ctx.url.searchParams.get("q") ?? "").trim();
    return page(await browsePage(ctx.state, user, ctx.req, { q, errors: {}, values: {} }));
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
      const { errors, status } = formError(error, ["name", "description"]);
      return page(await browsePage(ctx.state, user, ctx.req, { q: "", errors, values: fields }), { status });
    }
  },
});

async function browsePage(
  state: State,
  user: Identity,
  req: Request,
  form: Pick<DirectoryData, "q" | "errors" | "values">,
): Promise<ChatAppProps> {
  state.title = "Browse rooms";
  const rooms = await state.services.chat.rooms.list(user);
  const found = form.q === ""
    ? []
    : (await state.services.chat.people.search(form.q.slice(0, 32))).filter((u) => u.id !== user.userId);
  const directory: DirectoryData = {
    ...form,
    discover: rooms.filter((r) => r.last_read_seq === null).map((
      { id, name, description, member_count },
    ) => ({
      id,
      name,
      description,
      member_count,
    })),
    found: found.map(({ id, username, display_name, online }) => ({ id, username, display_name, online })),
  };
  return await appProps(state, user, rooms, { kind: "browse", directory }, req);
}

export default function Rooms({ data }: PageProps<ChatAppProps, State>) {
  return <Island component={ChatApp} props={data} />;
}

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { publicUser, selfUser } from "../chat/views.ts";
import { ChatError } from "../errors.ts";
import { isId } from "../ids.ts";
import { parseProfileUpdate } from "../chat/profile.ts";
import type { ApiDeps, AppEnv } from "./context.ts";
import { readJson } from "../validate.ts";

/** Profiles: `/api/users/me`, `/api/users/:id`, and search by username prefix (`/api/users?q=`). */
export function userRoutes(deps: ApiDeps): Hono<AppEnv> {
  const { store, chat } = deps;
  const app = new Hono<AppEnv>();

  app.get("/me", async (c) => {
    const user = await store.users.byId(c.var.user.userId);
    if (user === null) throw new ChatError("user_not_found", "User not found");
    return c.json(selfUser(user, await chat.activity.isOnline(user.id)));
  });

  app.patch("/me", bodyLimit({ maxSize: 400 * 1024, onError: tooLarge }), async (c) => {
    const update = parseProfileUpdate(await readJson(c.req.raw));
    const user = await store.users.updateProfile(c.var.user.userId, update);
    if (user === null) throw new ChatError("user_not_found", "User not found");
    return c.json(selfUser(user, await chat.activity.isOnline(user.id)));
  });

  app.get("/", async (c) => {
    const q = c.req.query("q") ?? "";
    if (q.length > 32) throw new ChatError("invalid_query", '"q" must be at most 32 characters long');
    const users = q === "" ? [] : await store.users.search(q, 20);
    const online = await Promise.all(users.map((u) => chat.activity.isOnline(u.id)));
    return c.json({ users: users.map((u, i) => publicUser(u, online[i])) });
  });

  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    const user = isId(id) ? await store.users.byId(id) : null;
    if (user === null) throw new ChatError("user_not_found", "User not found");
    return c.json(publicUser(user, await chat.activity.isOnline(user.id)));
  });

  return app;
}

function tooLarge(): never {
  throw new ChatError("payload_too_large", "The request body is too large");
}

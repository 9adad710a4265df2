import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { publicUser, selfUser } from "../chat/views.ts";
import { ChatError } from "../errors.ts";
import { isId } from "../ids.ts";
import { checkDisplayNameFree, parseProfileUpdate } from "../chat/profile.ts";
import type { Services, SignedInEnv } from "../web/env.ts";
import { readJson } from "../validate.ts";

/**
 * Profiles: `/api/users/me`, `/api/users/:id`, and people search by username or display name
 * (`/api/users?q=`); the caller's rooms with read markers (`/api/users/me/rooms`).
 */
export function userRoutes(deps: Services): Hono<SignedInEnv> {
  const { store, chat } = deps;
  const app = new Hono<SignedInEnv>();

  async function me(userId: string) {
    const user = await store.users.byId(userId);
    if (user === null) throw new ChatError("user_not_found", "User not found");
    return user;
  }

  app.get("/me", async (c) => {
    const user = await store.users.byId(c.var.user.userId);
    if (user === null) throw new ChatError("user_not_found", "User not found");
    return c.json(selfUser(user, await chat.activity.isOnline(user.id)));
  });

  app.patch("/me", bodyLimit({ maxSize: 400 * 1024, onError: tooLarge }), async (c) => {
    const body = await readJson(c.req.raw);
    if (body.password !== undefined) {
      throw new ChatError("invalid_password", "Change the password with POST /api/users/me/password");
    }
    const update = parseProfileUpdate(body);
    await checkDisplayNameFree(store.users, c.var.user.userId, update);
    const user = await store.users.updateProfile(c.var.user.userId, update);
    if (user === null) throw new ChatError("user_not_found", "User not found");
    return c.json(selfUser(user, await chat.activity.isOnline(user.id)));
  });

  app.post("/me/password", async (c) => {
    const ended = await deps.auth.changePassword(c.var.user, await readJson(c.req.raw));
    return c.json({ ended_sessions: ended });
  });

  app.get("/me/two-factor", async (c) => {
    const user = await me(c.var.user.userId);
    return c.json({ enabled: user.totp_secret !== null, recovery_codes_left: user.recovery_codes.length });
  });

  /** A secret to enrol (nothing is stored until `/enable` confirms it). */
  app.post("/me/two-factor/setup", async (c) => c.json(deps.twoFactor.setup(await me(c.var.user.userId))));

  app.post("/me/two-factor/enable", async (c) => {
    const body = await readJson(c.req.raw);
    const user = await me(c.var.user.userId);
    await deps.auth.checkPassword(user, body.password);
    return c.json({ recovery_codes: await deps.twoFactor.enable(user, body.secret, body.code) });
  });

  app.post("/me/two-factor/disable", async (c) => {
    const body = await readJson(c.req.raw);
    const user = await me(c.var.user.userId);
    await deps.auth.checkPassword(user, body.password);
    await deps.twoFactor.disable(user);
    return c.body(null, 204);
  });

  app.get("/me/rooms", async (c) => c.json({ rooms: await chat.rooms.mine(c.var.user) }));

  app.get("/", async (c) => c.json({ users: await chat.people.search(c.req.query("q") ?? "") }));

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

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { publicUser, selfUser } from "../chat/views.ts";
import { HttpError } from "../http_error.ts";
import { isId } from "../ids.ts";
import type { ProfileUpdate } from "../storage/store.ts";
import type { ApiDeps, AppEnv } from "./context.ts";
import { optionalString, readJson } from "../validate.ts";

/** Largest avatar given as a `data:` URL, in decoded bytes. */
export const MAX_AVATAR_BYTES = 256 * 1024;
const DATA_URL_RE = /^data:image\/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$/;

/** Profiles: `/api/users/me`, `/api/users/:id`, and search by username prefix (`/api/users?q=`). */
export function userRoutes(deps: ApiDeps): Hono<AppEnv> {
  const { store, chat } = deps;
  const app = new Hono<AppEnv>();

  app.get("/me", async (c) => {
    const user = await store.users.byId(c.var.user.userId);
    if (user === null) throw new HttpError(404, "user_not_found", "User not found");
    return c.json(selfUser(user, await chat.isOnline(user.id)));
  });

  app.patch("/me", bodyLimit({ maxSize: 400 * 1024, onError: tooLarge }), async (c) => {
    const body = await readJson(c.req.raw);
    const update: ProfileUpdate = {};
    const displayName = optionalString(body, "display_name", 64, { nullable: true });
    if (displayName !== undefined) {
      if (displayName !== null && displayName.trim() === "") {
        throw new HttpError(
          400,
          "invalid_display_name",
          '"display_name" must not be blank; send null to clear it',
        );
      }
      update.display_name = displayName;
    }
    const avatar = optionalString(body, "avatar_url", 400 * 1024, { nullable: true });
    if (avatar !== undefined) update.avatar_url = avatar === null ? null : checkAvatar(avatar);
    const user = await store.users.updateProfile(c.var.user.userId, update);
    if (user === null) throw new HttpError(404, "user_not_found", "User not found");
    return c.json(selfUser(user, await chat.isOnline(user.id)));
  });

  app.get("/", async (c) => {
    const q = c.req.query("q") ?? "";
    if (q.length > 32) throw new HttpError(400, "invalid_query", '"q" must be at most 32 characters long');
    const users = q === "" ? [] : await store.users.search(q, 20);
    const online = await Promise.all(users.map((u) => chat.isOnline(u.id)));
    return c.json({ users: users.map((u, i) => publicUser(u, online[i])) });
  });

  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    const user = isId(id) ? await store.users.byId(id) : null;
    if (user === null) throw new HttpError(404, "user_not_found", "User not found");
    return c.json(publicUser(user, await chat.isOnline(user.id)));
  });

  return app;
}

function checkAvatar(url: string): string {
  const data = DATA_URL_RE.exec(url);
  if (data !== null) {
    const b64 = data[2];
    const bytes = Math.floor(b64.length * 3 / 4) - (b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0);
    if (bytes > MAX_AVATAR_BYTES) {
      throw new HttpError(
        400,
        "invalid_avatar_url",
        `An avatar image must be at most ${MAX_AVATAR_BYTES / 1024} KB`,
      );
    }
    return url;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HttpError(400, "invalid_avatar_url", '"avatar_url" must be an https URL or a data:image URL');
  }
  if (parsed.protocol !== "https:" || url.length > 2048) {
    throw new HttpError(
      400,
      "invalid_avatar_url",
      '"avatar_url" must be an https URL (at most 2048 characters) or a data:image URL',
    );
  }
  return url;
}

function tooLarge(): never {
  throw new HttpError(413, "payload_too_large", "The request body is too large");
}

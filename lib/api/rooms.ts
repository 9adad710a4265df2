import { Hono } from "hono";
import { ChatError } from "../errors.ts";
import { isClientId } from "../hub/protocol.ts";
import { type MemberRef, ROOM_PAGE_MAX } from "../chat/rooms.ts";
import type { HistoryQuery, RoomUpdate } from "../storage/store.ts";
import type { Services, SignedInEnv } from "../web/env.ts";
import { integerQuery, optionalBoolean, optionalString, readJson, requiredString } from "../validate.ts";

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** Rooms, their members and their messages under `/api/rooms`. */
export function roomRoutes(deps: Services): Hono<SignedInEnv> {
  const { chat } = deps;
  const app = new Hono<SignedInEnv>();

  app.post("/", async (c) => {
    const body = await readJson(c.req.raw);
    const name = requiredString(body, "name", 1, 100);
    if (name.trim() === "") throw new ChatError("invalid_name", '"name" must not be blank');
    const description = optionalString(body, "description", 1_000) ?? "";
    const is_private = optionalBoolean(body, "is_private", false);
    return c.json(await chat.rooms.create(c.var.user, { name, description, is_private }), 201);
  });

  // `?limit=&cursor=`: a page of the visible rooms, and `next_cursor` for the next one (null after the last).
  app.get("/", async (c) => {
    const url = new URL(c.req.url);
    const cursors = url.searchParams.getAll("cursor");
    if (cursors.length > 1) throw new ChatError("invalid_query", 'Query parameter "cursor" is repeated');
    url.searchParams.delete("cursor");
    const { limit } = integerQuery(url, { limit: { min: 1, max: ROOM_PAGE_MAX } });
    return c.json(await chat.rooms.listPage(c.var.user, { limit, cursor: cursors[0] }));
  });

  app.get("/:id", async (c) => c.json(await chat.rooms.get(c.var.user, c.req.param("id"))));

  app.patch("/:id", async (c) => {
    const body = await readJson(c.req.raw);
    const update: RoomUpdate = {};
    const name = optionalString(body, "name", 100);
    if (name !== undefined && name !== null) {
      if (name.trim() === "") throw new ChatError("invalid_name", '"name" must not be blank');
      update.name = name;
    }
    const description = optionalString(body, "description", 1_000);
    if (description !== undefined && description !== null) update.description = description;
    return c.json(await chat.rooms.update(c.var.user, c.req.param("id"), update));
  });

  app.post("/:id/join", async (c) => c.json(await chat.rooms.join(c.var.user, c.req.param("id"))));

  app.post("/:id/leave", async (c) => {
    await chat.rooms.leave(c.var.user, c.req.param("id"));
    return c.body(null, 204);
  });

  app.get(
    "/:id/members",
    async (c) => c.json({ members: await chat.rooms.members(c.var.user, c.req.param("id")) }),
  );

  app.post("/:id/members", async (c) => {
    const body = await readJson(c.req.raw);
    const member: MemberRef =
      (body.user_id === undefined || body.user_id === null) && body.username !== undefined
        ? { username: requiredString(body, "username", 1, 64) }
        : { user_id: requiredString(body, "user_id", 1, 64) };
    return c.json(await chat.rooms.addMember(c.var.user, c.req.param("id"), member));
  });

  app.delete("/:id/members/:userId", async (c) => {
    return c.json(await chat.rooms.removeMember(c.var.user, c.req.param("id"), c.req.param("userId")));
  });

  app.get("/:id/messages", async (c) => {
    const q = integerQuery(new URL(c.req.url), {
      limit: { min: 1, max: 100 },
      offset: { min: 0, max: MAX_SEQ },
      before_seq: { min: 1, max: MAX_SEQ },
      after_seq: { min: 0, max: MAX_SEQ },
    });
    const cursors = [q.offset, q.before_seq, q.after_seq].filter((v) => v !== undefined).length;
    if (cursors > 1) {
      throw new ChatError("invalid_query", "Use only one of offset, before_seq and after_seq");
    }
    const query: HistoryQuery = { limit: q.limit ?? 50 };
    if (q.before_seq !== undefined) query.before_seq = q.before_seq;
    else if (q.after_seq !== undefined) query.after_seq = q.after_seq;
    else query.offset = q.offset ?? 0;
    const page = await chat.messages.history(c.var.user, c.req.param("id"), query);
    return c.json({
      messages: page.messages,
      total: page.total,
      offset: query.offset ?? 0,
      limit: query.limit,
    });
  });

  app.post("/:id/read", async (c) => {
    const body = await readJson(c.req.raw);
    const seq = body.seq;
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
      throw new ChatError("invalid_seq", '"seq" must be a whole number of at least 0');
    }
    return c.json({
      room_id: c.req.param("id"),
      last_read_seq: await chat.rooms.markRead(c.var.user, c.req.param("id"), seq),
    });
  });

  app.post("/:id/messages", async (c) => {
    const body = await readJson(c.req.raw);
    if (typeof body.content !== "string") {
      throw new ChatError("invalid_content", '"content" must be a string');
    }
    const clientId = body.client_id;
    if (clientId !== undefined && clientId !== null && !isClientId(clientId)) {
      throw new ChatError(
        "invalid_client_id",
        '"client_id" must be 1-64 characters of A-Z, a-z, 0-9, _ or -',
      );
    }
    const result = await chat.messages.post(
      c.var.user,
      c.req.param("id"),
      body.content,
      clientId ?? undefined,
    );
    // A command is queued for its bot, not stored: 202 with its job.
    if (result.kind === "command") {
      return c.json({ command: result.command, job_id: result.job_id, room_id: result.room_id }, 202);
    }
    return c.json(result.message, result.created ? 201 : 200);
  });

  return app;
}

/** `POST /api/dms {user_id}`: the direct room of the caller and that user. */
export function dmRoutes(deps: Services): Hono<SignedInEnv> {
  const app = new Hono<SignedInEnv>();
  app.post("/", async (c) => {
    const body = await readJson(c.req.raw);
    const userId = requiredString(body, "user_id", 1, 64);
    const { room, created } = await deps.chat.rooms.direct(c.var.user, userId);
    return c.json(room, created ? 201 : 200);
  });
  return app;
}

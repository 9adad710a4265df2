import { Hono } from "hono";
import { ChatError } from "../errors.ts";
import { isId } from "../ids.ts";
import type { Session } from "../storage/store.ts";
import type { Services, SignedInEnv } from "../web/env.ts";

/** What the sessions list shows of one signed-in device; `current` marks the one asking. */
export function sessionView(session: Session, currentId: string | undefined) {
  return {
    id: session.id,
    device: session.device,
    ip: session.ip,
    created_at: session.created_at,
    last_used_at: session.last_used_at,
    expires_at: session.expires_at,
    current: session.id === currentId,
  };
}

/** `GET /api/sessions` (the caller's signed-in devices) and `DELETE /api/sessions/:id` (sign one out). */
export function sessionRoutes(deps: Services): Hono<SignedInEnv> {
  const { sessions } = deps;
  const app = new Hono<SignedInEnv>();

  app.get("/", async (c) => {
    const { userId, sessionId } = c.var.user;
    return c.json({ sessions: (await sessions.list(userId)).map((s) => sessionView(s, sessionId)) });
  });

  app.delete("/:id", async (c) => {
    const id = c.req.param("id");
    if (!isId(id) || !await sessions.end(id, c.var.user.userId)) throw new ChatError("session_not_found");
    return c.body(null, 204);
  });

  return app;
}

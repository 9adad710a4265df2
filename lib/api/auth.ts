import { Hono } from "hono";
import { ChatError } from "../errors.ts";
import { readJson } from "../validate.ts";
import type { ApiDeps, AppEnv } from "./context.ts";
import { clientIp } from "./middleware.ts";

/** `POST /api/auth/register` and `POST /api/auth/login`, both limited per client IP. */
export function authRoutes(deps: ApiDeps): Hono<AppEnv> {
  const { auth, authLimiter, config } = deps;
  const app = new Hono<AppEnv>();

  app.use("*", async function limitPerIp(c, next) {
    const decision = await authLimiter.take(clientIp(c, config.trustProxy));
    if (!decision.ok) {
      const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new ChatError("too_many_requests", `Too many attempts; try again in ${seconds} s`, {
        retryAfterMs: decision.retryAfterMs,
      });
    }
    await next();
  });

  app.post("/register", async (c) => {
    const user = await auth.register(await readJson(c.req.raw));
    return c.json(
      { id: user.id, username: user.username, email: user.email, created_at: user.created_at },
      201,
    );
  });

  app.post("/login", async (c) => c.json(await auth.login(await readJson(c.req.raw))));

  return app;
}

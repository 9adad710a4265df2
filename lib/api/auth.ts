import { Hono } from "hono";
import { readJson } from "../validate.ts";
import { limitAuthAttempts } from "../web/auth_attempts.ts";
import type { AppEnv, Services } from "../web/env.ts";

/** `POST /api/auth/register` and `POST /api/auth/login`, both limited per client IP (as the login form is). */
export function authRoutes(deps: Services): Hono<AppEnv> {
  const { auth } = deps;
  const app = new Hono<AppEnv>();

  app.use("*", limitAuthAttempts());

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

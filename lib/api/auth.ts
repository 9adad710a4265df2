import { Hono } from "hono";
import { MAX_PASSWORD_BYTES } from "../auth/password.ts";
import { HttpError } from "../http_error.ts";
import { ConflictError } from "../storage/store.ts";
import type { ApiDeps, AppEnv } from "./context.ts";
import { clientIp } from "./middleware.ts";
import { readJson, requiredString } from "./validate.ts";

const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/;
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
const encoder = new TextEncoder();

/** `POST /api/auth/register` and `POST /api/auth/login`, both limited per client IP. */
export function authRoutes(deps: ApiDeps): Hono<AppEnv> {
  const { store, passwords, tokens, authLimiter, config } = deps;
  const app = new Hono<AppEnv>();

  app.use("*", async function limitPerIp(c, next) {
    const decision = await authLimiter.take(clientIp(c, config.trustProxy));
    if (!decision.ok) {
      const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new HttpError(429, "too_many_requests", `Too many attempts; try again in ${seconds} s`, {
        "Retry-After": String(seconds),
      });
    }
    await next();
  });

  app.post("/register", async (c) => {
    const body = await readJson(c.req.raw);
    const username = requiredString(body, "username", 3, 32);
    if (!USERNAME_RE.test(username)) {
      throw new HttpError(400, "invalid_username", "Username may only use letters, digits, '_', '.' and '-'");
    }
    const email = requiredString(body, "email", 3, 254);
    if (!EMAIL_RE.test(email)) throw new HttpError(400, "invalid_email", "Email address is not valid");
    const password = requiredString(body, "password", 1, 1_000);
    const bytes = encoder.encode(password).length;
    if (bytes < 8 || bytes > MAX_PASSWORD_BYTES) {
      throw new HttpError(400, "invalid_password", `Password must be 8 to ${MAX_PASSWORD_BYTES} bytes long`);
    }
    try {
      const user = await store.users.create({
        username,
        email,
        password_hash: await passwords.hash(password),
      });
      return c.json(
        { id: user.id, username: user.username, email: user.email, created_at: user.created_at },
        201,
      );
    } catch (error) {
      if (error instanceof ConflictError) {
        throw new HttpError(409, `${error.field}_taken`, `That ${error.field} is already registered`);
      }
      throw error;
    }
  });

  app.post("/login", async (c) => {
    const body = await readJson(c.req.raw);
    const email = body.email, password = body.password;
    if (typeof email !== "string" || typeof password !== "string") {
      throw new HttpError(400, "invalid_credentials_format", '"email" and "password" must be strings');
    }
    const user = email.length <= 254 ? await store.users.byEmail(email) : null;
    const ok = user !== null && encoder.encode(password).length <= MAX_PASSWORD_BYTES
      ? await passwords.verify(password, user.password_hash)
      : await passwords.verifyDummy(password);
    if (!ok || user === null) throw new HttpError(401, "invalid_credentials", "Invalid email or password");
    const token = await tokens.sign({ id: user.id, username: user.username });
    return c.json({ token, user: { id: user.id, username: user.username, email: user.email } });
  });

  return app;
}

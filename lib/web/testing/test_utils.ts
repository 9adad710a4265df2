/** A bare Hono app with the request state the middleware here expect, for their unit tests. */
import { Hono } from "hono";
import { TokenService } from "../../auth/jwt.ts";
import { Sessions } from "../../auth/sessions.ts";
import { SqliteStore } from "../../storage/sqlite.ts";
import { loadConfig } from "../../config.ts";
import { type LogFields, Logger, type LogLevel } from "../../log.ts";
import type { AppEnv, Services } from "../env.ts";

export const SECRET = "unit-test-secret-0123456789-0123456789";

export interface WebTestApp {
  app: Hono<AppEnv>;
  tokens: TokenService;
  /** Real sessions on an in-memory SQLite store. */
  sessions: Sessions;
  services: Services;
  /** Everything logged through `services.log`. */
  logs: { level: LogLevel; message: string; fields: LogFields }[];
}

/**
 * `services` (a real config from `env`, real tokens, a recording logger; nothing else) set on every request,
 * as the app's first middleware does.
 */
export function webTestApp(env: Record<string, string> = {}): WebTestApp {
  const config = loadConfig({ APP_ENV: "test", JWT_SECRET: SECRET, ...env });
  const tokens = new TokenService({ secret: SECRET, ttlSeconds: 60 });
  const logs: WebTestApp["logs"] = [];
  const log = new Logger("debug", (level, message, fields) => logs.push({ level, message, fields }));
  const store = SqliteStore.open({ path: ":memory:" });
  const sessions = new Sessions({ store, tokens, refreshTtlDays: 1, log, broadcast: async () => {} });
  const services = { config, tokens, sessions, store, log } as unknown as Services;
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("services", services);
    await next();
  });
  return { app, tokens, sessions, services, logs };
}

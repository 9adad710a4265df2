/** The web UI's typed request state and `define` helpers (as `utils.ts` in a Fresh 2 app). */
import type { TokenService } from "./lib/auth/jwt.ts";
import type { RateLimiter } from "./lib/limits/rate_limit.ts";
import type { AuthService } from "./lib/auth/service.ts";
import type { Chat } from "./lib/chat/chat.ts";
import type { Config } from "./lib/config.ts";
import { createDefine } from "./lib/fresh/mod.ts";
export { clearedSessionCookie, SESSION_COOKIE, sessionCookie, sessionToken } from "./lib/auth/session.ts";
import type { Identity } from "./lib/hub/client.ts";
import type { Logger } from "./lib/log.ts";
import type { Store } from "./lib/storage/store.ts";

/** What pages reach the application through; built once by `createChatServer`. */
export interface WebServices {
  chat: Chat;
  auth: AuthService;
  tokens: TokenService;
  store: Store;
  config: Config;
  authLimiter: RateLimiter;
  log: Logger;
}

export interface State {
  services: WebServices;
  /** The signed-in user (from the session cookie), or null. */
  user: Identity | null;
  /** The page title; `_app.tsx` appends the product name. */
  title?: string;
}

export const define = createDefine<State>();

/** A 303 redirect (after a form POST) or 302, optionally setting cookies. */
export function redirect(location: string, cookies: string[] = [], status = 303): Response {
  const headers = new Headers({ location });
  for (const cookie of cookies) headers.append("set-cookie", cookie);
  return new Response(null, { status, headers });
}

/** Reads a urlencoded or multipart form into a plain object of its text fields. */
export async function readForm(req: Request): Promise<{ fields: Record<string, string>; form: FormData }> {
  const form = await req.formData();
  const fields: Record<string, string> = {};
  for (const [key, value] of form) if (typeof value === "string") fields[key] = value;
  return { fields, form };
}

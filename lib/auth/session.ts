/**
 * The web session: the access token in an HttpOnly cookie that pages, the API and the socket all accept.
 * Reading it is `hono/cookie`'s `getCookie(c, SESSION_COOKIE)` (lib/web/session.ts).
 */

export const SESSION_COOKIE = "chat_session";

/** `Set-Cookie` value for a new session: HttpOnly, SameSite=Lax, Secure when served over https. */
export function sessionCookie(token: string, maxAgeSeconds: number, url: URL): string {
  const secure = url.protocol === "https:" ? "; Secure" : "";
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`;
}

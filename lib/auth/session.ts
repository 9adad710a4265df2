/**
 * The web app's session cookies, both HttpOnly:
 * - the access token, sent with every request (`Path=/`): pages, the API and the socket accept it;
 * - the refresh token, sent only to `REFRESH_PATH`, where it is exchanged for a new pair (JavaScript never
 *   sees either).
 * Over https (also behind a trusted proxy that says so) they are `Secure` and named with the `__Host-` and
 * `__Secure-` prefixes, which a browser only accepts from a secure page.
 */

import type { Config } from "../config.ts";

export const SESSION_COOKIE = "chat_session";
export const REFRESH_COOKIE = "chat_refresh";
/** Tells the next page about failed sign-ins since the last one (`noticeCookie`). */
export const NOTICE_COOKIE = "chat_notice";
/** Where the refresh cookie is sent: `POST` (the web app) and `GET ?next=` (a page whose token expired). */
export const REFRESH_PATH = "/api/auth/refresh";

const SECURE_NAMES = { access: `__Host-${SESSION_COOKIE}`, refresh: `__Secure-${REFRESH_COOKIE}` };
const PLAIN_NAMES = { access: SESSION_COOKIE, refresh: REFRESH_COOKIE };

/** Whether the client reached the server over https: the URL's scheme, or a trusted proxy's `X-Forwarded-Proto`. */
export function isHttps(req: Request, trustProxy: boolean): boolean {
  if (new URL(req.url).protocol === "https:") return true;
  if (!trustProxy) return false;
  const forwarded = req.headers.get("x-forwarded-proto")?.split(",")[0].trim().toLowerCase();
  return forwarded === "https";
}

/** The two cookies' names for a secure or a plain connection. */
export function cookieNames(secure: boolean): { access: string; refresh: string } {
  return secure ? SECURE_NAMES : PLAIN_NAMES;
}

/** Reads a cookie from a `Cookie` header. */
function cookieOf(header: string | null, name: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The access token cookie of a request, under either name. */
export function accessCookie(req: Request): string | undefined {
  const header = req.headers.get("cookie");
  return cookieOf(header, SECURE_NAMES.access) ?? cookieOf(header, PLAIN_NAMES.access);
}

/** The refresh token cookie of a request, under either name. */
export function refreshCookie(req: Request): string | undefined {
  const header = req.headers.get("cookie");
  return cookieOf(header, SECURE_NAMES.refresh) ?? cookieOf(header, PLAIN_NAMES.refresh);
}

/**
 * `Set-Cookie` values for a signed-in browser. Both live as long as the refresh token: an expired access token
 * still names its session, so a page can send the browser to be renewed rather than to the login form.
 */
export function sessionCookies(
  tokens: { token: string; refresh_token: string },
  refreshTtlSeconds: number,
  secure: boolean,
): string[] {
  const names = cookieNames(secure);
  const tail = `HttpOnly; SameSite=Lax; Max-Age=${Math.floor(refreshTtlSeconds)}${secure ? "; Secure" : ""}`;
  return [
    `${names.access}=${tokens.token}; Path=/; ${tail}`,
    `${names.refresh}=${tokens.refresh_token}; Path=${REFRESH_PATH}; ${tail}`,
  ];
}

/** `Set-Cookie` values that remove both cookies under both names. */
export function clearedSessionCookies(secure: boolean): string[] {
  const tail = (path: string, secureName: boolean) =>
    `=; Path=${path}; HttpOnly; SameSite=Lax; Max-Age=0${secureName || secure ? "; Secure" : ""}`;
  const cleared = [
    PLAIN_NAMES.access + tail("/", false),
    PLAIN_NAMES.refresh + tail(REFRESH_PATH, false),
  ];
  // A browser ignores a prefixed cookie from a plain page, so the secure names are cleared over https only.
  if (secure) {
    cleared.push(SECURE_NAMES.access + tail("/", true), SECURE_NAMES.refresh + tail(REFRESH_PATH, true));
  }
  return cleared;
}

/**
 * A short-lived cookie that tells the next page about failed sign-ins since the last one (the app shows it
 * once): `<failed attempts>.<locks>`. Not HttpOnly: it holds no secret.
 */
export function noticeCookie(notice: { failed_attempts: number; locks: number }): string {
  return `${NOTICE_COOKIE}=${notice.failed_attempts}.${notice.locks}; Path=/; SameSite=Lax; Max-Age=300`;
}

/** Whether a response sets a session cookie (a sign-in): nothing after it may clear the session. */
export function setsSession(headers: Headers): boolean {
  return headers.getSetCookie().some((line) =>
    line.startsWith(`${SESSION_COOKIE}=`) && !line.startsWith(`${SESSION_COOKIE}=;`) ||
    line.startsWith(`${SECURE_NAMES.access}=`) && !line.startsWith(`${SECURE_NAMES.access}=;`)
  );
}

/**
 * `PUBLIC_URL` when set; otherwise the request's own origin: its host (a trusted proxy's `X-Forwarded-Host`)
 * and scheme (`https` when the request or a trusted proxy says so). No trailing slash.
 *
 * @example
 * const base = publicBaseOf(ctx.req, config); // "https://chat.example.com"
 */
export function publicBaseOf(req: Request, config: Pick<Config, "publicUrl" | "trustProxy">): string {
  if (config.publicUrl !== undefined) return config.publicUrl;
  const url = new URL(req.url);
  const forwarded = config.trustProxy
    ? req.headers.get("x-forwarded-host")?.split(",")[0].trim() || undefined
    : undefined;
  const scheme = isHttps(req, config.trustProxy) ? "https" : url.protocol.slice(0, -1);
  return `${scheme}://${forwarded ?? url.host}`;
}

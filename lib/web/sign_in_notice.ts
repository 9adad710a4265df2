/**
 * The sign-in notice: after a sign-in that followed failed attempts, the home page sets a short-lived cookie
 * (`chat_notice=<failed>.<locks>`); the next page a signed-in person opens shows it once (`_app.tsx`) and the
 * cookie is cleared with that page.
 */
import type { Context } from "../fresh/mod.ts";
import type { State } from "./env.ts";

import { NOTICE_COOKIE } from "../auth/session.ts";
export { NOTICE_COOKIE };

/** Failed sign-ins since the last good one, and how many times they locked the account. */
export interface SignInNoticeCounts {
  failed: number;
  locks: number;
}

/** The `Set-Cookie` value that removes the notice cookie. */
export const CLEARED_NOTICE_COOKIE = `${NOTICE_COOKIE}=; Path=/; SameSite=Lax; Max-Age=0`;

/**
 * The notice a `Cookie` header carries: `undefined` without the cookie, `null` when its value is not
 * `<failed>.<locks>` (two whole numbers, at least one failure).
 */
export function noticeOfCookies(header: string | null): SignInNoticeCounts | null | undefined {
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0 || part.slice(0, eq).trim() !== NOTICE_COOKIE) continue;
    const match = /^(\d{1,6})\.(\d{1,6})$/.exec(part.slice(eq + 1).trim());
    if (match === null || Number(match[1]) === 0) return null;
    return { failed: Number(match[1]), locks: Number(match[2]) };
  }
  return undefined;
}

/** "3 failed sign-in attempts since you last signed in (the account was locked once)." */
export function noticeSentence(notice: SignInNoticeCounts): string {
  const attempts = notice.failed === 1
    ? "1 failed sign-in attempt"
    : `${notice.failed} failed sign-in attempts`;
  const times = notice.locks === 1 ? "once" : notice.locks === 2 ? "twice" : `${notice.locks} times`;
  const locked = notice.locks > 0 ? ` (the account was locked ${times})` : "";
  return `${attempts} since you last signed in${locked}.`;
}

/**
 * Page middleware: for a signed-in person's GET with the notice cookie, puts the notice in `state.signInNotice`
 * for `_app.tsx` to show, and clears the cookie with the page that showed it (a redirect, such as the session
 * renewal, leaves it for the page after). A malformed cookie is cleared without a notice.
 */
export async function signInNotice(ctx: Context<State>): Promise<Response> {
  const notice = ctx.req.method === "GET" && ctx.state.user
    ? noticeOfCookies(ctx.req.headers.get("cookie"))
    : undefined;
  if (notice === undefined) return await ctx.next();
  if (notice !== null) ctx.state.signInNotice = notice;
  const response = await ctx.next();
  const shown = response.status === 200 &&
    (response.headers.get("content-type") ?? "").startsWith("text/html");
  if (shown || notice === null) response.headers.append("set-cookie", CLEARED_NOTICE_COOKIE);
  return response;
}

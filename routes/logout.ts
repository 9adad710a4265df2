import { clearedSessionCookies, define, isHttps, redirect } from "../utils.ts";

/** The "Log out" button (a form, so it works without JavaScript): ends this session everywhere, then home. */
export const handler = define.handlers({
  async POST(ctx) {
    const { sessions, config } = ctx.state.services;
    const user = ctx.state.user;
    if (user?.sessionId !== undefined) await sessions.end(user.sessionId, user.userId);
    return redirect("/", clearedSessionCookies(isHttps(ctx.req, config.trustProxy)));
  },
});

/**
 * The web UI's typed request state and `define` helpers, as `utils.ts` in a Fresh 2 app. Everything here lives
 * in lib/; routes import it from here by Fresh's convention.
 */
export { define, type State } from "./lib/web/env.ts";
export { readForm, redirect, safeNext } from "./lib/web/forms.ts";
export { clearedSessionCookies, isHttps, noticeCookie, sessionCookies } from "./lib/auth/session.ts";

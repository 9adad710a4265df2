import { clearedSessionCookie, define, redirect } from "../utils.ts";

export const handler = define.handlers({
  POST() {
    return redirect("/", [clearedSessionCookie()]);
  },
});

import { signInNotice } from "../lib/web/sign_in_notice.ts";
import { define } from "../utils.ts";

/** Every page: the sign-in notice (failed attempts since the last sign-in) is shown once, then forgotten. */
export const handler = define.middleware(signInNotice);

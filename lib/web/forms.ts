/** Plain HTML forms: read the posted fields, answer with a redirect. */
import { ChatError } from "../errors.ts";

const FORM_TYPE = /^(application\/x-www-form-urlencoded|multipart\/form-data)\s*(;|$)/i;

/** A 303 redirect (after a form POST) or 302, optionally setting cookies. */
export function redirect(location: string, cookies: string[] = [], status = 303): Response {
  const headers = new Headers({ location });
  for (const cookie of cookies) headers.append("set-cookie", cookie);
  return new Response(null, { status, headers });
}

/**
 * Reads a urlencoded or multipart form into a plain object of its text fields. Another media type is 415
 * `unsupported_media_type`, a form that cannot be parsed 400 `invalid_form`: a refusal, never a 500.
 */
export async function readForm(req: Request): Promise<{ fields: Record<string, string>; form: FormData }> {
  const type = req.headers.get("content-type") ?? "";
  if (!FORM_TYPE.test(type)) {
    throw new ChatError(
      "unsupported_media_type",
      "Send the form as application/x-www-form-urlencoded or multipart/form-data",
    );
  }
  let form: FormData;
  try {
    form = await req.formData();
  } catch (error) {
    throw new ChatError("invalid_form", "The form could not be read", { cause: error });
  }
  const fields: Record<string, string> = {};
  for (const [key, value] of form) if (typeof value === "string") fields[key] = value;
  return { fields, form };
}

/** Where a sign-in goes when `next` is absent or refused. */
export const DEFAULT_NEXT = "/rooms";

/** `/` alone, or `/` followed by a character that is neither `/` nor `\` (`//host` and `/\host` leave the site). */
const SAME_SITE_PATH = /^\/(?:[^/\\]|$)/;
/**
 * Characters a `next` may not hold at all: C0 and C1 controls and every Unicode space. Browsers drop tab, CR and
 * LF from a `Location`, so `/\t/evil.example` would become `//evil.example`; CR and LF cannot be in a header.
 */
const FORBIDDEN_IN_NEXT =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF]/;
const BASE = "http://next.invalid";

/**
 * A same-site path to go back to after a sign-in or renewal (`?next=`): only an absolute path on this site
 * (`/` followed by a character that is not `/` or `\`, with no control character or space anywhere), as the
 * URL parser writes it (non-ASCII percent-encoded, so it is always a valid `Location`). Anything else is ignored:
 * `/rooms`.
 *
 * @example
 * safeNext("/rooms/abc?x=1"); // "/rooms/abc?x=1"
 * safeNext("/\\evil.example"); // "/rooms"
 */
export function safeNext(next: string | undefined | null): string {
  if (typeof next !== "string" || !SAME_SITE_PATH.test(next) || FORBIDDEN_IN_NEXT.test(next)) {
    return DEFAULT_NEXT;
  }
  let url: URL;
  try {
    url = new URL(next, BASE);
  } catch {
    return DEFAULT_NEXT;
  }
  // Belt and braces: whatever the parser made of it must still be on this site.
  if (url.origin !== BASE) return DEFAULT_NEXT;
  const path = url.pathname + url.search + url.hash;
  return SAME_SITE_PATH.test(path) ? path : DEFAULT_NEXT;
}

/** Plain HTML forms: read the posted fields, answer with a redirect. */

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

/** A same-site path to go back to after a sign-in or renewal (`?next=`); anything else goes to the rooms. */
export function safeNext(next: string | undefined | null): string {
  const ok = typeof next === "string" && next.startsWith("/") && !next.startsWith("//") &&
    !next.startsWith("/\\");
  return ok ? next : "/rooms";
}

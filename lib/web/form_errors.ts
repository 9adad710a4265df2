import { ChatError, httpErrorOf } from "../errors.ts";

/**
 * Which form field a refusal belongs to, from its code (`invalid_email`, `username_taken` …), so the page shows
 * the server's own message next to that field; anything else belongs to the form as a whole (`_form`). A taken
 * value may be named with what it belongs to: `room_name_taken` is the `name` field of the room form.
 */
export function fieldOf(error: ChatError, fields: string[]): string {
  const invalid = /^invalid_(\w+)$/.exec(error.code);
  if (invalid && fields.includes(invalid[1])) return invalid[1];
  const taken = /^(\w+)_taken$/.exec(error.code);
  if (taken) {
    const subject = taken[1];
    const lastWord = subject.slice(subject.lastIndexOf("_") + 1);
    const field = [subject, lastWord].find((name) => fields.includes(name));
    if (field) return field;
  }
  return "_form";
}

/**
 * A `ChatError` under 500 as `{field: message}`, with its status and headers (`Retry-After`) from the error
 * table; anything else is rethrown (an error page).
 */
export function formError(
  error: unknown,
  fields: string[],
): { errors: Record<string, string>; status: number; headers: Record<string, string> } {
  if (error instanceof ChatError && error.status < 500) {
    const { status, headers } = httpErrorOf(error);
    return { errors: { [fieldOf(error, fields)]: error.message }, status, headers };
  }
  throw error;
}

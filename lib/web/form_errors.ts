import { ChatError } from "../errors.ts";

/**
 * Which form field a refusal belongs to, from its code (`invalid_email`, `username_taken` …), so the page shows
 * the server's own message next to that field; anything else belongs to the form as a whole (`_form`).
 */
export function fieldOf(error: ChatError, fields: string[]): string {
  const match = /^invalid_(\w+)$/.exec(error.code) ?? /^(\w+)_taken$/.exec(error.code);
  if (match && fields.includes(match[1])) return match[1];
  return "_form";
}

/** A `ChatError` under 500 as `{field: message}`; anything else is rethrown (a 500 page). */
export function formError(
  error: unknown,
  fields: string[],
): { errors: Record<string, string>; status: number } {
  if (error instanceof ChatError && error.status < 500) {
    return { errors: { [fieldOf(error, fields)]: error.message }, status: error.status };
  }
  throw error;
}

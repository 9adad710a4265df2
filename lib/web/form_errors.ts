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
 * A `ChatError` under 500 as `{field: message}`: every bad field it names (`error.fields`), or the one its code
 * names; a problem of no field of the form is `_form`. With its status and headers (`Retry-After`) from the
 * error table; anything else is rethrown (an error page).
 */
export function formError(
  error: unknown,
  fields: string[],
): { errors: Record<string, string>; status: number; headers: Record<string, string> } {
  if (error instanceof ChatError && error.status < 500) {
    const { status, headers } = httpErrorOf(error);
    const errors: Record<string, string> = {};
    for (
      const [field, message] of Object.entries(error.fields ?? { [fieldOf(error, fields)]: error.message })
    ) {
      errors[fields.includes(field) ? field : "_form"] ??= message;
    }
    return { errors, status, headers };
  }
  throw error;
}

/** One line of a form's error summary: the message, and the id of the input it links to (none for `_form`). */
export interface Problem {
  message: string;
  inputId?: string;
}

/**
 * The summary of a form's errors, in the form's order: `_form` first, then each field that has one, linked to
 * its input (`inputIds`: field name -> input id).
 */
export function problemsOf(errors: Record<string, string>, inputIds: Record<string, string>): Problem[] {
  const problems: Problem[] = errors._form ? [{ message: errors._form }] : [];
  for (const [field, inputId] of Object.entries(inputIds)) {
    if (errors[field]) problems.push({ message: errors[field], inputId });
  }
  return problems;
}

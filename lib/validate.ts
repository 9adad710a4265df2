import { ChatError, type ErrorCode } from "./errors.ts";

/** A parsed JSON object body. Reading a field checks its type, so nothing but plain values reaches a query. */
export type Body = Record<string, unknown>;

/** Reads the request body as a JSON object; 415 for another media type, 400 for bad JSON or a non-object. */
export async function readJson(request: Request): Promise<Body> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new ChatError("unsupported_media_type", "Send the body as application/json");
  }
  let value: unknown;
  try {
    value = JSON.parse(await request.text());
  } catch {
    throw new ChatError("invalid_json", "The request body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ChatError("invalid_body", "The request body must be a JSON object");
  }
  return value as Body;
}

const invalid = (field: string, message: string) => new ChatError(`invalid_${field}`, message);

/** A required string field, checked for type and (code point) length. */
export function requiredString(body: Body, field: string, min: number, max: number): string {
  const value = body[field];
  if (value === undefined || value === null) throw invalid(field, `"${field}" is required`);
  if (typeof value !== "string") throw invalid(field, `"${field}" must be a string`);
  const length = [...value].length;
  if (length < min || length > max) {
    throw invalid(field, `"${field}" must be ${min === max ? min : `${min} to ${max}`} characters long`);
  }
  return value;
}

/** An optional string field: `undefined` when absent; `null` only when `nullable`. */
export function optionalString(
  body: Body,
  field: string,
  max: number,
  options: { nullable?: boolean } = {},
): string | null | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (value === null) {
    if (options.nullable) return null;
    throw invalid(field, `"${field}" must be a string`);
  }
  if (typeof value !== "string") throw invalid(field, `"${field}" must be a string`);
  if ([...value].length > max) throw invalid(field, `"${field}" must be at most ${max} characters long`);
  return value;
}

export function optionalBoolean(body: Body, field: string, fallback: boolean): boolean {
  const value = body[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") throw invalid(field, `"${field}" must be true or false`);
  return value;
}

/**
 * Reads whole-number query parameters. Anything else in the query (unknown names such as `before_seq[$gt]`,
 * repeated names, non-digits) is a 400 before any query runs.
 */
export function integerQuery<K extends string>(
  url: URL,
  allowed: Record<K, { min: number; max: number }>,
): Partial<Record<K, number>> {
  const result: Partial<Record<K, number>> = {};
  for (const name of new Set(url.searchParams.keys())) {
    if (!Object.hasOwn(allowed, name)) {
      throw new ChatError("invalid_query", `Unknown query parameter "${name.slice(0, 40)}"`);
    }
    const values = url.searchParams.getAll(name);
    if (values.length > 1) throw new ChatError("invalid_query", `Query parameter "${name}" is repeated`);
    const { min, max } = allowed[name as K];
    const raw = values[0];
    const value = Number(raw);
    if (!/^\d{1,15}$/.test(raw) || value < min || value > max) {
      throw new ChatError(
        "invalid_query",
        `Query parameter "${name}" must be an integer from ${min} to ${max}`,
      );
    }
    result[name as K] = value;
  }
  return result;
}

/**
 * Every problem of a request's fields, gathered so the client hears of all of them at once. `throwIfAny()`
 * throws one `ChatError` with every field's message in `fields`; its code and message are the first problem's
 * of the lowest status, so a malformed request is a 400 even when a name in it is also taken (409).
 *
 * @example
 * const problems = new FieldProblems();
 * if (name === "") problems.add("name", "Enter a name");
 * const topic = problems.check("topic", () => parseTopic(body));
 * problems.throwIfAny();
 */
export class FieldProblems {
  readonly #problems: ChatError[] = [];
  readonly #fields: Record<string, string> = {};

  /** Records `field`'s problem (`invalid_<field>` unless `code` says otherwise); a field keeps its first. */
  add(field: string, message: string, code: ErrorCode = `invalid_${field}`): void {
    if (this.has(field)) return;
    this.#problems.push(new ChatError(code, message));
    this.#fields[field] = message;
  }

  has(field: string): boolean {
    return Object.hasOwn(this.#fields, field);
  }

  /**
   * Runs a validator that throws; a refusal (`ChatError` under 500) is recorded under `field`, not thrown, with
   * its own message or `message` (a form's words for its field).
   */
  check<T>(field: string, validate: () => T, message?: string): T | undefined {
    try {
      return validate();
    } catch (error) {
      if (!(error instanceof ChatError) || error.status >= 500) throw error;
      this.add(field, message ?? error.message, error.code);
      return undefined;
    }
  }

  get size(): number {
    return this.#problems.length;
  }

  /** The one refusal for every problem recorded; `undefined` when there is none. */
  error(): ChatError | undefined {
    if (this.#problems.length === 0) return undefined;
    const first = this.#problems.reduce((best, problem) => problem.status < best.status ? problem : best);
    return new ChatError(first.code, first.message, { fields: { ...this.#fields } });
  }

  throwIfAny(): void {
    const error = this.error();
    if (error) throw error;
  }
}

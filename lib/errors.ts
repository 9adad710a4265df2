/**
 * The one table of errors the server answers with, over HTTP and WebSocket alike. A `ChatError` names a row by
 * its code; the row says the HTTP status and whether the same request may succeed later (`retryable`). The
 * HTTP layer maps an error to `{"error":{"code","message"}}` once (`httpErrorOf`), the socket handler to an
 * error frame once (`errorFrameOf`). Socket closes have their own codes (`CloseCode` in lib/hub/transport.ts).
 *
 * @example
 * throw new ChatError("room_not_found");
 * throw new ChatError("invalid_name", '"name" must not be blank');
 */

interface Row {
  status: number;
  retryable: boolean;
  /** The message when the thrower gives none. */
  message: string;
}

const row = (status: number, message: string, retryable = false): Row => ({ status, retryable, message });

/** Every error code, with its status, retryability and default message. README: "Errors". */
export const ERRORS = {
  // The request itself is wrong: fix it, do not retry it.
  invalid_json: row(400, "The request body is not valid JSON"),
  invalid_body: row(400, "The request body must be a JSON object"),
  invalid_query: row(400, "The query string is not valid"),
  invalid_frame: row(400, "The frame is not valid"),
  unknown_type: row(400, "Unknown frame type"),
  binary_not_supported: row(400, "Binary frames are not supported; send JSON text frames"),
  unsupported_media_type: row(415, "Send the body as application/json"),
  payload_too_large: row(413, "The request body is too large"),
  upgrade_required: row(426, "This endpoint only accepts WebSocket upgrades"),
  not_found: row(404, "Not found"),
  method_not_allowed: row(405, "This path does not answer that method; see the Allow header"),
  content_empty: row(400, "Message content is empty"),
  content_too_long: row(400, "Message content is too long"),
  unknown_command: row(400, "Unknown command"),
  invalid_command: row(400, "The command is not valid"),
  // Accounts and sessions.
  invalid_credentials_format: row(
    400,
    'Send "password" and one of "login", "username" or "email", as strings',
  ),
  invalid_credentials: row(401, "Wrong username, email or password"),
  missing_token: row(401, "An access token is required"),
  invalid_token: row(401, "The access token is not valid"),
  token_expired: row(401, "The access token has expired"),
  session_revoked: row(401, "This session has ended; sign in again"),
  invalid_refresh_token: row(401, "The refresh token is not valid; sign in again"),
  two_factor_required: row(401, "Enter the code from your authenticator app"),
  invalid_two_factor_code: row(401, "That code is not right; try the current one, or a recovery code"),
  account_locked: row(
    429,
    "Too many failed sign-ins for this account; try again later or reset your password",
    true,
  ),
  invalid_reset_token: row(400, "This reset link is not valid any more; ask for a new one"),
  session_not_found: row(404, "Session not found"),
  two_factor_enabled: row(409, "Two-factor sign-in is already on"),
  two_factor_disabled: row(409, "Two-factor sign-in is off"),
  sso_not_configured: row(404, "Single sign-on is not set up on this server"),
  sso_failed: row(400, "Single sign-on did not work; try again"),
  origin_not_allowed: row(403, "Cross-origin request refused"),
  username_taken: row(409, "That username is taken"),
  email_taken: row(409, "An account with that email exists"),
  // Rooms, members and users.
  room_not_found: row(404, "Room not found"),
  user_not_found: row(404, "User not found"),
  member_not_found: row(404, "That user is not a member of this room"),
  not_a_member: row(403, "Not a member of this room"),
  forbidden: row(403, "Not allowed"),
  direct_room: row(409, "Not possible in a direct conversation"),
  room_name_taken: row(409, "A room with that name already exists"),
  // Slow down, or the server is not able to now: the same request may succeed later.
  rate_limited: row(429, "Too many messages; slow down", true),
  too_many_requests: row(429, "Too many attempts; try again later", true),
  // Per-user caps (ROOMS_PER_USER_PER_HOUR, DMS_PER_USER_PER_HOUR, MAX_SOCKETS_PER_USER).
  too_many_rooms: row(429, "You have created too many rooms lately; try again later", true),
  too_many_direct_rooms: row(
    429,
    "You have started too many new conversations lately; try again later",
    true,
  ),
  too_many_sockets: row(429, "Too many connections are open for this account; close one first", true),
  store_unavailable: row(
    503,
    "The database is unavailable; try again shortly (a send with the same client_id is never stored twice)",
    true,
  ),
  commands_unavailable: row(503, "Commands are unavailable right now; try again shortly", true),
  shutting_down: row(503, "Server is shutting down; reconnect", true),
  server_full: row(503, "The server has no room for another connection; try again later", true),
  too_many_connections: row(429, "Too many connections from your address; close some and try again", true),
  internal_error: row(500, "Internal server error; try again", true),
} satisfies Record<string, Row>;

/**
 * A code of the table, or `invalid_<field>` for a request field that fails validation (400, e.g.
 * `invalid_name`, `invalid_avatar_url`).
 */
export type ErrorCode = keyof typeof ERRORS | `invalid_${string}`;

const FIELD_INVALID: Row = row(400, "A field of the request is not valid");

/** The table's row for `code`. */
export function errorRow(code: ErrorCode): Row {
  return Object.hasOwn(ERRORS, code) ? ERRORS[code as keyof typeof ERRORS] : FIELD_INVALID;
}

/**
 * A refusal the client is told about: a code of the table and a message for people. A request with several bad
 * fields is one refusal that names the first problem and carries every field's message in `fields`
 * (`FieldProblems` in lib/validate.ts).
 */
export class ChatError extends Error {
  /** For retryable refusals: when to try again. */
  readonly retryAfterMs: number | undefined;
  /** Every bad field of the request with its message, the first one being `code` and `message`. */
  readonly fields: Record<string, string> | undefined;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    options: { retryAfterMs?: number; fields?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message ?? errorRow(code).message, { cause: options.cause });
    this.name = "ChatError";
    this.retryAfterMs = options.retryAfterMs;
    this.fields = options.fields;
  }

  get status(): number {
    return errorRow(this.code).status;
  }

  get retryable(): boolean {
    return errorRow(this.code).retryable;
  }
}

/** What anything thrown becomes for a client: itself when a `ChatError`, else `internal_error`. */
export function asChatError(error: unknown): ChatError {
  return error instanceof ChatError ? error : new ChatError("internal_error");
}

/** Whether an error is unexpected (a bug or an outage to log as an error), not a refusal. */
export function isUnexpected(error: unknown): boolean {
  return !(error instanceof ChatError) || error.code === "internal_error";
}

/**
 * The HTTP answer to an error: status, `{"error":{"code","message"}}` (with `"fields"` when the error names
 * several bad fields) and headers (`Retry-After`).
 */
export function httpErrorOf(
  error: unknown,
): { status: number; body: ErrorBody; headers: Record<string, string> } {
  const chat = asChatError(error);
  const headers: Record<string, string> = {};
  if (chat.retryAfterMs !== undefined) {
    headers["Retry-After"] = String(Math.max(1, Math.ceil(chat.retryAfterMs / 1000)));
  } else if (chat.code === "store_unavailable") headers["Retry-After"] = "2";
  return { status: chat.status, body: errorBody(chat.code, chat.message, chat.fields), headers };
}

export interface ErrorBody {
  error: { code: string; message: string; fields?: Record<string, string> };
}

/** The JSON body every HTTP error response carries; `fields` maps each bad field of the request to its message. */
export function errorBody(code: string, message: string, fields?: Record<string, string>): ErrorBody {
  return { error: fields ? { code, message, fields } : { code, message } };
}

/** An HTTP error response for anything thrown. */
export function errorResponse(error: unknown): Response {
  const { status, body, headers } = httpErrorOf(error);
  return Response.json(body, { status, headers });
}

/** The WebSocket error frame for anything thrown, with what it concerns (`room_id`, `client_id`). */
export function errorFrameOf(
  error: unknown,
  context: { room_id?: string; client_id?: string } = {},
): {
  type: "error";
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retry_after_ms?: number;
  room_id?: string;
  client_id?: string;
} {
  const chat = asChatError(error);
  const frame = { type: "error" as const, code: chat.code, message: chat.message, retryable: chat.retryable };
  return chat.retryAfterMs !== undefined
    ? { ...frame, retry_after_ms: chat.retryAfterMs, ...context }
    : { ...frame, ...context };
}

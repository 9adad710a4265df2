/**
 * The OpenAPI 3.1 description of the REST API (`GET /api/openapi.json`) and a readable page rendered from it
 * (`GET /api/docs`). The document is written by hand from the routes in this folder and the validation they
 * call; `tests/openapi_test.ts` checks that it lists exactly the routes the app serves, and
 * `tests/schemathesis_test.ts` fuzzes the running server against it.
 */
import type { Handler } from "hono";
import type { Config } from "../config.ts";
import { DISPLAY_NAME_PATTERN, MAX_DISPLAY_NAME_CHARS } from "../chat/profile.ts";
import type { AppEnv } from "../web/env.ts";

// ---- a typed subset of OpenAPI 3.1 ----

type JsonType = "object" | "array" | "string" | "integer" | "number" | "boolean" | "null";

/** A JSON Schema (2020-12), as much of it as this document uses. */
export interface Schema {
  $ref?: string;
  type?: JsonType | JsonType[];
  title?: string;
  description?: string;
  enum?: readonly (string | number | boolean | null)[];
  const?: string | number | boolean | null;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  minProperties?: number;
  additionalProperties?: boolean | Schema;
  allOf?: Schema[];
  anyOf?: Schema[];
  default?: unknown;
  examples?: unknown[];
}

export interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  description?: string;
  schema: Schema;
}

export interface MediaType {
  schema: Schema;
  example?: unknown;
}

export interface Header {
  description?: string;
  required?: boolean;
  schema: Schema;
}

export interface Link {
  operationId: string;
  parameters?: Record<string, string>;
  /** The body for the linked operation; `$response…` expressions in it are replaced. */
  requestBody?: Record<string, string>;
  description?: string;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, Header>;
  content?: Record<string, MediaType>;
  links?: Record<string, Link>;
}

export interface RequestBody {
  required: boolean;
  description?: string;
  content: Record<string, MediaType>;
}

export interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  /** `[]` for a public operation; the document's default (a token) otherwise. */
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: RequestBody;
  responses: Record<string, ResponseObject>;
}

export const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;
export type HttpMethod = typeof HTTP_METHODS[number];
export type PathItem = Partial<Record<HttpMethod, Operation>>;

export interface SecurityScheme {
  type: "http" | "apiKey";
  scheme?: string;
  bearerFormat?: string;
  in?: "header" | "query" | "cookie";
  name?: string;
  description?: string;
}

export interface OpenApiDocument {
  openapi: string;
  info: {
    title: string;
    version: string;
    description: string;
    license?: { name: string; identifier: string };
  };
  servers?: { url: string; description?: string }[];
  tags: { name: string; description: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes: Record<string, SecurityScheme>;
  };
  /** The WebSocket endpoint, which OpenAPI cannot describe: where it is and where its protocol is documented. */
  "x-websocket": { path: string; description: string };
}

// ---- building blocks ----

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, example?: unknown): Record<string, MediaType> => ({
  "application/json": example === undefined ? { schema } : { schema, example },
});
const ok = (description: string, schema: Schema, links?: Record<string, Link>): ResponseObject => ({
  description,
  content: json(schema),
  ...(links ? { links } : {}),
});

/** An error response whose `error.code` is one of `codes`. */
function error(description: string, codes: string[], headers?: Record<string, Header>): ResponseObject {
  return {
    description: `${description} (\`${codes.join("`, `")}\`)`,
    ...(headers ? { headers } : {}),
    content: json({
      allOf: [ref("Error"), {
        type: "object",
        properties: { error: { type: "object", properties: { code: { enum: codes } } } },
      }],
    }),
  };
}

const retryAfter = (required: boolean): Record<string, Header> => ({
  "Retry-After": { description: "Seconds to wait before trying again", required, schema: { type: "string" } },
});

/** 400 for a body that is not a JSON object, plus the operation's own field codes. */
const badBody = (...codes: string[]) =>
  error("The body is not a JSON object, or a field is invalid", ["invalid_json", "invalid_body", ...codes]);
const unauthorized = error("No valid access token, or its session has ended", [
  "missing_token",
  "invalid_token",
  "token_expired",
  "session_revoked",
]);
const originRefused = ["origin_not_allowed"];
const tooLarge = (limit: string) => error(`The body is larger than ${limit}`, ["payload_too_large"]);
const unsupportedType = error("The body is not sent as `application/json`", ["unsupported_media_type"]);
const rateLimited = error(
  "Over the per-user message rate; see `Retry-After`",
  ["rate_limited"],
  retryAfter(true),
);
const storeDown = (...extra: string[]) =>
  error("The database (or the command queue) is unavailable; try again shortly", [
    "store_unavailable",
    ...extra,
  ], retryAfter(false));
/**
 * A 404 of an operation with path parameters. `not_found` is the answer for a path that matches no route: a
 * parameter of `.` or `..` is a dot segment, which URL parsing removes.
 */
const notFound = (description: string, ...codes: string[]) =>
  error(`${description}; or the path matches no route`, [...codes, "not_found"]);
const roomNotFound = notFound(
  "No such room, or a private room the caller is not a member of",
  "room_not_found",
);

/** The cookies a sign-in or a renewal by cookie sets, and a logout clears (lib/auth/session.ts). */
const setCookie: Record<string, Header> = {
  "Set-Cookie": {
    description: "The session cookies: `chat_session` (the access token, `Path=/`) and `chat_refresh` (the " +
      "refresh token, `Path=/api/auth/refresh`), both HttpOnly; over https `__Host-chat_session` and " +
      "`__Secure-chat_refresh`, Secure. A logout sets them empty with `Max-Age=0`.",
    schema: { type: "string" },
  },
};

/** From an answer carrying a refresh token to its exchange. */
const refreshLink: Record<string, Link> = {
  RefreshTokens: {
    operationId: "refreshTokens",
    requestBody: { refresh_token: "$response.body#/refresh_token" },
  },
};

/** A byte count as people read it: `64 KiB`, `1.5 MiB`, `1000 bytes`. */
export function byteSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024 / 2) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 512 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** The limit of `PATCH /api/users/me` (lib/api/users.ts), whose avatar may be a `data:` URL. */
const PROFILE_LIMIT = "400 KiB";
const locked = error(
  "Too many attempts from this IP, or too many failed sign-ins for this account (locked for a while)",
  ["too_many_requests", "account_locked"],
  retryAfter(true),
);

/** JavaScript's `\s` as a character class body, so the pattern means the same in every regex dialect. */
const JS_SPACE = "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff";
/** Holds something other than spaces (what `trim()` leaves non-empty). */
const NOT_BLANK = `[^${JS_SPACE}]`;

const idSchema: Schema = {
  type: "string",
  pattern: "^[0-9a-f]{24}$",
  description: "24 lowercase hex characters",
  examples: ["6745f0c2a1b2c3d4e5000001"],
};
const timestamp: Schema = { type: "string", format: "date-time", description: "ISO 8601, UTC" };
const MAX_SEQ_QUERY = 999_999_999_999_999; // a query value is at most 15 digits (`integerQuery`)

const roomName: Schema = {
  type: "string",
  minLength: 1,
  maxLength: 100,
  pattern: NOT_BLANK,
  description: "Not blank; unique among rooms that are not direct, compared trimmed, NFKC-normalised and " +
    "case-insensitively",
};
const nameTaken = error("Another room has that name", ["room_name_taken"]);

const roomId: Parameter = {
  name: "id",
  in: "path",
  required: true,
  description: "The room's id",
  schema: { type: "string", minLength: 1 },
};

/** Links from a response carrying a room (`$response.body#/id`) to the operations on that room. */
function roomLinks(pointer = "#/id"): Record<string, Link> {
  const p = { id: `$response.body${pointer}` };
  return {
    GetRoom: { operationId: "getRoom", parameters: p },
    JoinRoom: { operationId: "joinRoom", parameters: p },
    ListMembers: { operationId: "listMembers", parameters: p },
    GetMessages: { operationId: "getMessages", parameters: p },
    PostMessage: { operationId: "postMessage", parameters: p },
    MarkRead: { operationId: "markRead", parameters: p },
    LeaveRoom: { operationId: "leaveRoom", parameters: p },
  };
}

/**
 * An https URL the server takes as an avatar: `https://`, a host name of dotted labels of letters and digits
 * joined by single hyphens, the last one starting with a letter (a numeric one would be read as an IPv4
 * address), an optional port, then a path, query or fragment without spaces or controls.
 */
const HTTPS_URL =
  "^https://([A-Za-z0-9]+(-[A-Za-z0-9]+)*\\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(:[0-9]{1,4})?([/?#][^\\u0000-\\u0020\\u007F]*)?$";

// ---- schemas ----

const userProperties: Record<string, Schema> = {
  id: idSchema,
  username: { type: "string" },
  display_name: { type: ["string", "null"], description: "Shown instead of the username when set" },
  avatar_url: { type: ["string", "null"], description: "An https URL or a `data:image/…;base64` URL" },
  created_at: timestamp,
  online: { type: "boolean", description: "Has at least one open WebSocket" },
  last_seen: { type: ["string", "null"], format: "date-time", description: "When the last socket closed" },
};

const roomProperties: Record<string, Schema> = {
  id: idSchema,
  name: { type: "string" },
  description: { type: "string" },
  creator_id: idSchema,
  members: { type: "array", items: idSchema, description: "Member ids in join order" },
  member_count: { type: "integer", minimum: 0 },
  is_private: { type: "boolean" },
  is_direct: { type: "boolean", description: "The direct room of two users (always private)" },
  created_at: timestamp,
  last_seq: { type: "integer", minimum: 0, description: "The highest `seq` stored in the room (0: empty)" },
};

/** A room's properties without its member list (lists carry only `member_count`). */
function withoutMembers(properties: Record<string, Schema>): Record<string, Schema> {
  const { members: _, ...rest } = properties;
  return rest;
}

/** What a sign-in and a refresh answer (lib/auth/sessions.ts `IssuedTokens`). */
const tokenProperties: Record<string, Schema> = {
  token: {
    type: "string",
    description: "An access token (an HS256 JWT naming the session): send it as `Authorization: Bearer " +
      "<token>`. It expires after `expires_in` seconds; renew it with `POST /api/auth/refresh`",
  },
  expires_in: {
    type: "integer",
    minimum: 5,
    description: "Seconds until `token` expires (`ACCESS_TOKEN_TTL_SECONDS`, 900 by default)",
  },
  refresh_token: {
    type: "string",
    description:
      "Exchanged once at `POST /api/auth/refresh` for a new pair; keep it secret. Using one twice " +
      "ends the session (someone else has it)",
  },
  session_id: { ...idSchema, description: "This sign-in: see `GET /api/sessions`" },
};

const object = (properties: Record<string, Schema>, required = Object.keys(properties), extra?: Schema) => ({
  type: "object" as const,
  required,
  additionalProperties: false,
  properties,
  ...extra,
});

function schemas(maxMessageChars: number): Record<string, Schema> {
  return {
    Error: {
      type: "object",
      description: "Every error: a stable snake_case `code` and a human sentence.",
      required: ["error"],
      additionalProperties: false,
      properties: {
        error: object({
          code: { type: "string", pattern: "^[a-z][a-z_]*$", examples: ["room_not_found"] },
          message: { type: "string" },
          fields: {
            type: "object",
            additionalProperties: { type: "string" },
            description: "When several fields of the request are bad (sign-up): each bad field's message. " +
              "`code` and `message` are then the first problem's, a 400 before a 409.",
            examples: [{
              username: "That username is taken",
              password: "Password must be at least 8 characters",
            }],
          },
        }, ["code", "message"]),
      },
    },
    Account: object({
      id: idSchema,
      username: { type: "string" },
      email: { type: "string" },
      created_at: timestamp,
    }),
    LoginResult: object(
      {
        ...tokenProperties,
        user: object({ id: idSchema, username: { type: "string" }, email: { type: "string" } }),
        notice: object(
          {
            failed_attempts: { type: "integer", minimum: 1, description: "Wrong passwords or codes" },
            locks: { type: "integer", minimum: 0, description: "Times the account was locked for them" },
            last_failure_at: { anyOf: [timestamp, { type: "null" }] },
          },
          undefined,
          { description: "Failed sign-ins since the last sign-in: tell the user" },
        ),
      },
      ["token", "expires_in", "refresh_token", "session_id", "user"],
      { description: "A new session (a sign-in) and its first tokens." },
    ),
    SecondFactorNeeded: object(
      {
        two_factor_required: { type: "boolean", const: true },
        mfa_token: {
          type: "string",
          description: "Send it with the code to `POST /api/auth/login/two-factor`",
        },
        expires_in: { type: "integer", description: "Seconds the `mfa_token` is good for" },
      },
      undefined,
      { description: "The password was right; the second factor is still needed." },
    ),
    Tokens: object(tokenProperties, ["token", "expires_in", "session_id"], {
      description:
        "The session's new tokens. `refresh_token` is absent when the browser's refresh cookie was " +
        "sent: the new refresh token is then only in `Set-Cookie`.",
    }),
    Session: object(
      {
        id: idSchema,
        device: {
          type: "string",
          description: 'Named from the User-Agent at sign-in: "Firefox on Linux", "Safari on iOS", "curl"',
          examples: ["Firefox on Linux"],
        },
        ip: { type: "string", description: "The client address at sign-in, then at the last refresh" },
        created_at: timestamp,
        last_used_at: { ...timestamp, description: "Sign-in or the last refresh" },
        expires_at: {
          ...timestamp,
          description: "When the refresh token stops working unless used (each refresh moves it on)",
        },
        current: { type: "boolean", description: "The session of the access token that asked" },
      },
      undefined,
      { description: "A signed-in device: one sign-in and the tokens renewed from it." },
    ),
    PublicUser: object(userProperties, undefined, {
      description: "What anyone signed in may see of a user.",
    }),
    User: object({ ...userProperties, email: { type: "string" } }, undefined, {
      description: "The caller's own profile.",
    }),
    Room: object(roomProperties),
    RoomListing: object({
      ...withoutMembers(roomProperties),
      last_read_seq: {
        type: ["integer", "null"],
        minimum: 0,
        description: "The caller's read marker; null in rooms the caller is not a member of",
      },
    }),
    MyRoom: object({
      id: idSchema,
      name: { type: "string" },
      description: { type: "string" },
      creator_id: idSchema,
      is_private: { type: "boolean" },
      is_direct: { type: "boolean" },
      created_at: timestamp,
      last_seq: roomProperties.last_seq,
      last_read_seq: { type: "integer", minimum: 0, description: "The caller's read marker" },
    }),
    Message: object({
      id: idSchema,
      room_id: idSchema,
      seq: { type: "integer", minimum: 1, description: "Gap-free per room, from 1" },
      user_id: idSchema,
      username: { type: "string" },
      content: { type: "string", maxLength: maxMessageChars },
      type: {
        enum: ["text", "system", "bot"],
        description: "`text` from a user, `system` a join/leave notice, `bot` a command's answer",
      },
      timestamp,
      client_id: { type: "string", description: "The sender's idempotency key, when it sent one" },
    }, ["id", "room_id", "seq", "user_id", "username", "content", "type", "timestamp"]),
    MessagePage: object({
      messages: { type: "array", items: ref("Message"), description: "Oldest first" },
      total: { type: "integer", minimum: 0, description: "Messages stored in the room" },
      offset: { type: "integer", minimum: 0, description: "The offset asked for (0 with a seq cursor)" },
      limit: { type: "integer", minimum: 1, maximum: 100 },
    }),
    CommandAccepted: object(
      {
        command: { type: "string", examples: ["stock"] },
        job_id: idSchema,
        room_id: idSchema,
      },
      undefined,
      {
        description: "A chat command queued for its bot; the answer arrives later as a `bot` message.",
      },
    ),
    ReadMarker: object({ room_id: idSchema, last_read_seq: { type: "integer", minimum: 0 } }),
    Health: object({
      status: { enum: ["ok", "degraded", "error", "shutting_down"] },
      checks: {
        type: "object",
        additionalProperties: false,
        properties: { store: { enum: ["ok", "error"] }, bus: { enum: ["ok", "degraded"] } },
        description: "Empty while shutting down",
      },
    }),
  };
}

// ---- the document ----

/** The document's introduction, with the limits of this server's configuration. */
function description(limits: DocumentLimits): string {
  return `A real-time chat server: accounts, public and private rooms, direct messages, and persisted
history with one gap-free \`seq\` per room.

- All bodies are JSON (\`Content-Type: application/json\`; anything else is 415).
- Every error is \`{"error":{"code":"snake_case_code","message":"A human sentence"}}\` with the matching status.
  A path asked with a method it does not answer is 405 \`method_not_allowed\`, with \`Allow\`.
- Authenticated operations take \`Authorization: Bearer <token>\` (the access token from
  \`POST /api/auth/login\`) or the web UI's \`chat_session\` cookie. A cookie-authenticated request that changes
  state must come from the same origin (scheme, host and port) or \`CORS_ORIGINS\`, else 403
  \`origin_not_allowed\`.
- Each sign-in is a **session**. Its access token lives \`expires_in\` seconds (15 minutes by default, then 401
  \`token_expired\`); \`POST /api/auth/refresh\` exchanges the refresh token for a new pair. A session ended by a
  logout, from the sessions list or by a password change is refused at once on every instance: 401
  \`session_revoked\`, and sign in again.
- A private room is 404 to non-members, exactly like a missing room.
- Answers carry \`Cache-Control: no-store\` (this document excepted) and \`X-Content-Type-Options: nosniff\`.

**Limits** the server enforces:

- A request body is at most ${byteSize(limits.maxBodyBytes)} (\`MAX_BODY_BYTES\`), ${PROFILE_LIMIT} for
  \`PATCH /api/users/me\`: 413 \`payload_too_large\`, refused before more of the body is read.
- A message is at most ${limits.maxMessageChars} characters (\`MAX_MESSAGE_CHARS\`). Messages are limited per
  user on every instance together (\`RATE_LIMIT_PER_SEC\`, \`RATE_LIMIT_BURST\`): 429 \`rate_limited\` with
  \`Retry-After\`.
- Register, login and password-reset requests are limited per client IP (\`AUTH_RATE_LIMIT_PER_MIN\`,
  \`AUTH_RATE_LIMIT_BURST\`): 429 \`too_many_requests\`. 5 wrong passwords or codes for one account within 15
  minutes lock it for a while: 429 \`account_locked\`.
- A password is 8 characters to 72 bytes of UTF-8 (bcrypt reads no further); a username 3 to 32 of
  \`A-Z a-z 0-9 _ . -\`; an email at most 254 characters; a room name 1 to 100 characters and a description at
  most 1000; a display name at most 64 characters, with no control or bidirectional-formatting character, not
  only invisible ones, and not another user's username; an avatar an https URL of at most 2048 characters or an
  image of at most 256 KB.
- \`GET /api/users?q=\` takes at most 32 characters and answers at most 20 users. A history page is at most 100
  messages, with at most one of \`offset\`, \`before_seq\` and \`after_seq\`.

**Live delivery** is over a WebSocket at \`GET /ws?token=<token>\`, which OpenAPI does not describe (see
\`x-websocket\` and the README's WebSocket section).`;
}

/** The configurable limits the document states: `MAX_MESSAGE_CHARS` and `MAX_BODY_BYTES`. */
export type DocumentLimits = Pick<Config, "maxMessageChars" | "maxBodyBytes">;

/** The OpenAPI 3.1 document for a server's limits (the defaults when left out). */
export function openApiDocument(options: Partial<DocumentLimits> = {}): OpenApiDocument {
  const maxMessageChars = options.maxMessageChars ?? 4000;
  const maxBodyBytes = options.maxBodyBytes ?? 65_536;
  const small = byteSize(maxBodyBytes);
  return {
    openapi: "3.1.0",
    info: {
      title: "Chat server API",
      version: "1.0.0",
      description: description({ maxMessageChars, maxBodyBytes }),
    },
    tags: [
      { name: "meta", description: "Health and this documentation" },
      {
        name: "auth",
        description: "Accounts, sign-in and tokens; register and login are limited per client IP",
      },
      { name: "sessions", description: "The caller's signed-in devices" },
      { name: "users", description: "Profiles and user search" },
      { name: "rooms", description: "Rooms and their members" },
      { name: "messages", description: "History, sending, read markers" },
      { name: "dms", description: "Direct conversations" },
    ],
    security: [{ bearerAuth: [] }, { cookieAuth: [] }],
    paths: {
      "/api/health": {
        get: {
          operationId: "health",
          tags: ["meta"],
          summary: "Health of the process and its store",
          description: "`degraded` when the bus (Redis) is unreachable but the store works.",
          security: [],
          responses: {
            "200": ok("The store answers (`ok` or `degraded`)", ref("Health")),
            "503": ok("The store does not answer (`error`) or the server is shutting down", ref("Health")),
          },
        },
      },
      "/api/openapi.json": {
        get: {
          operationId: "getOpenApi",
          tags: ["meta"],
          summary: "This OpenAPI 3.1 document",
          security: [],
          responses: {
            "200": ok("The document", {
              type: "object",
              required: ["openapi", "info", "paths"],
              properties: { openapi: { type: "string", pattern: "^3\\.1\\.\\d+$" } },
            }),
          },
        },
      },
      "/api/docs": {
        get: {
          operationId: "getDocs",
          tags: ["meta"],
          summary: "This documentation as an HTML page",
          security: [],
          responses: {
            "200": { description: "The page", content: { "text/html": { schema: { type: "string" } } } },
          },
        },
      },
      "/api/auth/register": {
        post: {
          operationId: "register",
          tags: ["auth"],
          summary: "Create an account",
          description: "Every field is checked, and every problem is answered at once in `error.fields` " +
            "(a taken username or email with the others).",
          security: [],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["username", "email", "password"],
              properties: {
                username: {
                  type: "string",
                  minLength: 3,
                  maxLength: 32,
                  pattern: "^[A-Za-z0-9_.-]{3,32}$",
                  description: "Letters, digits, `_`, `.` and `-`; unique ignoring case",
                },
                email: {
                  type: "string",
                  minLength: 3,
                  maxLength: 254,
                  pattern: `^[^@${JS_SPACE}]{1,64}@[^@.${JS_SPACE}]+(\\.[^@.${JS_SPACE}]+)+$`,
                  description: "local@domain.tld without spaces; unique ignoring case",
                },
                password: {
                  type: "string",
                  minLength: 8,
                  maxLength: 72,
                  description: "At least 8 characters and at most 72 bytes of UTF-8 (bcrypt's limit)",
                },
              },
            }, { username: "alice", email: "alice@example.com", password: "SecurePass123!" }),
          },
          responses: {
            "201": ok("Created", ref("Account"), {
              GetUser: { operationId: "getUser", parameters: { id: "$response.body#/id" } },
              OpenDirectRoom: {
                operationId: "openDirectRoom",
                requestBody: { user_id: "$response.body#/id" },
              },
            }),
            "400": badBody("invalid_username", "invalid_email", "invalid_password"),
            "409": error("The username or email (or both: see `error.fields`) is taken", [
              "username_taken",
              "email_taken",
            ]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": error("Too many attempts from this IP", ["too_many_requests"], retryAfter(true)),
            "503": storeDown(),
          },
        },
      },
      "/api/auth/login": {
        post: {
          operationId: "login",
          tags: ["auth"],
          summary: "Exchange a username or email and a password for an access token",
          description: "Name the account by one of `login` (a username, or an email when it has an `@`), " +
            "`username` or `email`; the first of these present is read. An unknown account and a wrong " +
            "password get the same 401, after the same bcrypt work.",
          security: [],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["password"],
              anyOf: [{ required: ["login"] }, { required: ["username"] }, { required: ["email"] }],
              properties: {
                login: { type: "string", pattern: NOT_BLANK, description: "A username or an email" },
                username: { type: "string", pattern: NOT_BLANK },
                email: { type: "string", pattern: NOT_BLANK },
                password: { type: "string", minLength: 1 },
                code: {
                  type: "string",
                  description:
                    "With two-factor sign-in on: the authenticator code or a recovery code, to sign in " +
                    "in one request",
                },
              },
            }, { email: "alice@example.com", password: "SecurePass123!" }),
          },
          responses: {
            "200": ok(
              "Signed in: a new session; or, with two-factor sign-in on and no `code`, the second step to take",
              { anyOf: [ref("LoginResult"), ref("SecondFactorNeeded")] },
              refreshLink,
            ),
            "400": badBody(
              "invalid_credentials_format",
              "invalid_login",
              "invalid_username",
              "invalid_email",
              "invalid_password",
              "invalid_code",
            ),
            "401": error("Wrong username, email or password, or two-factor code", [
              "invalid_credentials",
              "invalid_two_factor_code",
            ]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": locked,
            "503": storeDown(),
          },
        },
      },
      "/api/auth/login/two-factor": {
        post: {
          operationId: "loginSecondFactor",
          tags: ["auth"],
          summary: "The second step of a sign-in: the authenticator app's code, or a recovery code",
          description:
            "Send the `mfa_token` of the login answer (valid 5 minutes). A TOTP code is good once; " +
            "a recovery code is used up. Wrong codes count towards the account's lockout like passwords.",
          security: [],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["mfa_token", "code"],
              properties: {
                mfa_token: { type: "string", description: "From the login answer" },
                code: { type: "string", description: "6 digits, or a recovery code like `abcd-efgh-jk`" },
              },
            }, { mfa_token: "eyJhbGciOiJIUzI1NiJ9…", code: "123456" }),
          },
          responses: {
            "200": ok("Signed in: a new session", ref("LoginResult"), refreshLink),
            "400": badBody("invalid_code"),
            "401": error("The pending sign-in is not valid any more, or the code is wrong", [
              "invalid_token",
              "invalid_two_factor_code",
            ]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": locked,
            "503": storeDown(),
          },
        },
      },
      "/api/auth/password-reset": {
        post: {
          operationId: "requestPasswordReset",
          tags: ["auth"],
          summary: "Mail a password-reset link (valid 30 minutes, once) to the account with this email",
          description: "The answer is the same whether or not an account has the address, and the mail is " +
            "sent in the background, so neither the answer nor its time tells.",
          security: [],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["email"],
              properties: {
                email: { type: "string", maxLength: 254, pattern: "@", description: "The account's address" },
              },
            }, { email: "alice@example.com" }),
          },
          responses: {
            "202": ok(
              "Asked (a mail goes out when the address has an account)",
              object({
                status: { type: "string", enum: ["sent"] },
              }),
            ),
            "400": badBody("invalid_email"),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": error("Too many attempts from this IP", ["too_many_requests"], retryAfter(true)),
            "503": storeDown(),
          },
        },
      },
      "/api/auth/password-reset/confirm": {
        post: {
          operationId: "confirmPasswordReset",
          tags: ["auth"],
          summary: "Set a new password with the token of a reset link; every session of the account ends",
          description: "The token works once, within 30 minutes. The account's lockout is lifted.",
          security: [],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["token", "new_password"],
              properties: {
                token: { type: "string", description: "The `token` of the link in the mail" },
                new_password: { type: "string", minLength: 8, maxLength: 72 },
              },
            }, { token: "q2V…", new_password: "An even better passphrase" }),
          },
          responses: {
            "204": { description: "The password is set; every session of the account has ended" },
            "400": badBody("invalid_reset_token", "invalid_new_password"),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": error("Too many attempts from this IP", ["too_many_requests"], retryAfter(true)),
            "503": storeDown(),
          },
        },
      },
      "/api/auth/refresh": {
        post: {
          operationId: "refreshTokens",
          tags: ["auth"],
          summary: "Exchange a refresh token for a new access token and refresh token",
          description:
            "Rotation: the refresh token sent stops working and the answer carries the next one. A " +
            "refresh token used a second time ends its session on every instance (`session_revoked`): one of " +
            "its two users has stolen it. The web app sends no body: its HttpOnly `chat_refresh` cookie is " +
            "used, and the new tokens come back as cookies (and the access token in the body, for the " +
            "socket's `refresh` frame).",
          security: [],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["refresh_token"],
              properties: {
                refresh_token: {
                  type: "string",
                  minLength: 1,
                  maxLength: 200,
                  description: "From the sign-in answer or the last refresh",
                },
              },
            }, { refresh_token: "hvXk0j8f4QeGm2yVQ0n1t3Jd7aB9cE5wR6sT8uV0xYz" }),
          },
          responses: {
            "200": { ...ok("The session's new tokens", ref("Tokens"), refreshLink), headers: setCookie },
            "400": badBody(),
            "401": error(
              "The refresh token is unknown, used twice (the session is now ended), or its session " +
                "has ended",
              ["invalid_refresh_token", "session_revoked"],
            ),
            "403": error("Cross-origin request with the refresh cookie", originRefused),
            "413": tooLarge(small),
            "415": unsupportedType,
            "503": storeDown(),
          },
        },
        get: {
          operationId: "refreshPage",
          tags: ["auth"],
          summary: "Renew the browser's cookies and go back to a page",
          description:
            "Where a page whose access token expired sends the browser: with a good `chat_refresh` " +
            "cookie the cookies are renewed and the browser goes back to `next`; otherwise they are cleared " +
            "and it goes to the login form (`/?next=`). Always a redirect.",
          security: [],
          parameters: [{
            name: "next",
            in: "query",
            description:
              "A path on this site to return to: `/` followed by a character other than `/` and `\\`, with no " +
              "control character or space (anything else means `/rooms`)",
            schema: { type: "string" },
          }],
          responses: {
            "303": {
              description: "Back to `next` with renewed cookies, or to the login form with cleared ones",
              headers: {
                Location: {
                  description: "`next`, or `/?next=…`",
                  required: true,
                  schema: { type: "string" },
                },
                ...setCookie,
              },
            },
          },
        },
      },
      "/api/auth/logout": {
        post: {
          operationId: "logout",
          tags: ["auth"],
          summary: "End this session",
          description: "Its access and refresh tokens stop working on every instance, and its sockets are " +
            "closed with 4003. The user's other sessions stay. The session cookies are cleared.",
          responses: {
            "204": { description: "Signed out", headers: setCookie },
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "503": storeDown(),
          },
        },
      },
      "/api/auth/logout-all": {
        post: {
          operationId: "logoutAll",
          tags: ["auth"],
          summary: "End every session of the caller, this one included (log out everywhere)",
          responses: {
            "200": {
              ...ok(
                "Signed out everywhere",
                object({ ended: { type: "integer", minimum: 0, description: "Sessions ended" } }),
              ),
              headers: setCookie,
            },
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "503": storeDown(),
          },
        },
      },
      "/api/users/me": {
        get: {
          operationId: "getMe",
          tags: ["users"],
          summary: "The caller's profile",
          responses: {
            "200": ok("The profile", ref("User")),
            "401": unauthorized,
            "404": error("The token's user no longer exists", ["user_not_found"]),
            "503": storeDown(),
          },
        },
        patch: {
          operationId: "updateMe",
          tags: ["users"],
          summary: "Change display name and avatar",
          description: "An absent field is unchanged; `null` clears it. A `password` is refused (400 " +
            "`invalid_password`): see `POST /api/users/me/password`.",
          requestBody: {
            required: true,
            content: json({
              type: "object",
              properties: {
                display_name: {
                  type: ["string", "null"],
                  minLength: 1,
                  maxLength: MAX_DISPLAY_NAME_CHARS,
                  pattern: DISPLAY_NAME_PATTERN,
                  description: "Shows something (not only spaces or invisible characters); no control " +
                    "character and no bidirectional formatting (U+202A–202E, U+2066–2069, U+200E, U+200F, " +
                    "U+061C); not another user's username (compared NFKC-normalised, ignoring case and a " +
                    "leading `@`: 400 `invalid_display_name`)",
                },
                avatar_url: {
                  anyOf: [
                    { type: "null" },
                    { type: "string", maxLength: 2048, pattern: HTTPS_URL, description: "An https URL" },
                    {
                      type: "string",
                      maxLength: 400 * 1024,
                      pattern: "^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$",
                      description: "An image of at most 256 KB decoded",
                    },
                  ],
                  description:
                    "An https URL of at most 2048 characters, or a `data:image/(png|jpeg|gif|webp);base64,…` " +
                    "URL of at most 256 KB decoded",
                },
              },
            }, { display_name: "Alice Liddell" }),
          },
          responses: {
            "200": ok("The updated profile", ref("User")),
            "400": badBody("invalid_display_name", "invalid_avatar_url", "invalid_password"),
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": error("The token's user no longer exists", ["user_not_found"]),
            "413": tooLarge(PROFILE_LIMIT),
            "415": unsupportedType,
            "503": storeDown(),
          },
        },
      },
      "/api/users/me/password": {
        post: {
          operationId: "changePassword",
          tags: ["users"],
          summary: "Change the caller's password; every other session of theirs ends",
          description:
            "The other sessions' tokens stop working and their sockets are closed with 4003; this " +
            "session stays. An account made by single sign-on has no password yet: it sets one without " +
            "`current_password`. Every bad field is answered at once in `error.fields`.",
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["new_password"],
              properties: {
                current_password: { type: "string", description: "Required when the account has a password" },
                new_password: {
                  type: "string",
                  minLength: 8,
                  maxLength: 72,
                  description: "At least 8 characters and at most 72 bytes of UTF-8",
                },
              },
            }, { current_password: "SecurePass123!", new_password: "An even better passphrase" }),
          },
          responses: {
            "200": ok(
              "Changed",
              object({
                ended_sessions: { type: "integer", minimum: 0, description: "Other sessions ended" },
              }),
            ),
            "400": badBody("invalid_current_password", "invalid_new_password"),
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": error("The token's user no longer exists", ["user_not_found"]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "503": storeDown(),
          },
        },
      },
      "/api/users/me/two-factor": {
        get: {
          operationId: "twoFactorStatus",
          tags: ["users"],
          summary: "Whether two-factor sign-in is on, and how many recovery codes are left",
          responses: {
            "200": ok(
              "The state",
              object({
                enabled: { type: "boolean" },
                recovery_codes_left: { type: "integer", minimum: 0 },
              }),
            ),
            "401": unauthorized,
            "404": error("The token's user no longer exists", ["user_not_found"]),
            "503": storeDown(),
          },
        },
      },
      "/api/users/me/two-factor/setup": {
        post: {
          operationId: "twoFactorSetup",
          tags: ["users"],
          summary: "A new authenticator secret to enrol (nothing is stored until it is confirmed)",
          responses: {
            "200": ok(
              "Scan the QR code or type the secret, then confirm with a code",
              object({
                secret: { type: "string", pattern: "^[A-Z2-7]+$", description: "Base32" },
                secret_text: { type: "string", description: "The secret in groups of four, for typing" },
                otpauth_uri: { type: "string", description: "`otpauth://totp/…`" },
                qr_svg: { type: "string", description: "An inline SVG of the URI" },
              }),
            ),
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": error("The token's user no longer exists", ["user_not_found"]),
            "409": error("Two-factor sign-in is already on", ["two_factor_enabled"]),
            "503": storeDown(),
          },
        },
      },
      "/api/users/me/two-factor/enable": {
        post: {
          operationId: "twoFactorEnable",
          tags: ["users"],
          summary: "Turn two-factor sign-in on with the secret from setup and a code from the app",
          description: "Answers 10 recovery codes, shown once: only their hashes are kept, each works once.",
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["secret", "code"],
              properties: {
                secret: { type: "string", description: "From `setup`" },
                code: { type: "string", description: "The app's current 6-digit code" },
                password: { type: "string", description: "Required when the account has a password" },
              },
            }, { secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code: "123456", password: "SecurePass123!" }),
          },
          responses: {
            "200": ok(
              "On",
              object({
                recovery_codes: {
                  type: "array",
                  items: { type: "string" },
                  description: "10 codes, shown once",
                },
              }),
            ),
            "400": badBody("invalid_secret", "invalid_password"),
            "401": error("No valid access token, its session has ended, or the code is wrong", [
              "missing_token",
              "invalid_token",
              "token_expired",
              "session_revoked",
              "invalid_two_factor_code",
            ]),
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": error("The token's user no longer exists", ["user_not_found"]),
            "409": error("Two-factor sign-in is already on", ["two_factor_enabled"]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "503": storeDown(),
          },
        },
      },
      "/api/users/me/two-factor/disable": {
        post: {
          operationId: "twoFactorDisable",
          tags: ["users"],
          summary: "Turn two-factor sign-in off (the password confirms it)",
          requestBody: {
            required: true,
            content: json({
              type: "object",
              properties: {
                password: { type: "string", description: "Required when the account has a password" },
              },
            }, { password: "SecurePass123!" }),
          },
          responses: {
            "204": { description: "Off; the recovery codes are gone" },
            "400": badBody("invalid_password"),
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": error("The token's user no longer exists", ["user_not_found"]),
            "409": error("Two-factor sign-in is off", ["two_factor_disabled"]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "503": storeDown(),
          },
        },
      },
      "/api/users/me/rooms": {
        get: {
          operationId: "listMyRooms",
          tags: ["users"],
          summary: "The rooms the caller belongs to, with read markers (a sidebar's rows)",
          description:
            "Unread in a room: `last_seq - last_read_seq`. No member lists: see `GET /api/rooms/{id}`.",
          responses: {
            "200": ok("The rooms, oldest first", object({ rooms: { type: "array", items: ref("MyRoom") } })),
            "401": unauthorized,
            "503": storeDown(),
          },
        },
      },
      "/api/users": {
        get: {
          operationId: "searchUsers",
          tags: ["users"],
          summary: "Find users by username or display name",
          description: "At most 20, ordered by username; an empty or absent `q` finds nobody.",
          parameters: [{
            name: "q",
            in: "query",
            description:
              "Text the username or the display name contains, case-insensitive, every character " +
              "literal; at most 32 UTF-16 code units",
            schema: { type: "string", maxLength: 32 },
          }],
          responses: {
            "200": ok("Matching users", object({ users: { type: "array", items: ref("PublicUser") } })),
            "400": error("`q` is too long", ["invalid_query"]),
            "401": unauthorized,
            "503": storeDown(),
          },
        },
      },
      "/api/users/{id}": {
        get: {
          operationId: "getUser",
          tags: ["users"],
          summary: "A user's public profile",
          parameters: [{
            name: "id",
            in: "path",
            required: true,
            description: "The user's id (`me` is the caller: `GET /api/users/me`)",
            schema: { type: "string", minLength: 1 },
          }],
          responses: {
            "200": ok("The profile (the caller's own, with `email`, for `me`)", {
              anyOf: [ref("PublicUser"), ref("User")],
            }),
            "401": unauthorized,
            "404": notFound("No such user", "user_not_found"),
            "503": storeDown(),
          },
        },
      },
      "/api/sessions": {
        get: {
          operationId: "listSessions",
          tags: ["sessions"],
          summary: "The caller's signed-in devices, most recently used first",
          responses: {
            "200": ok("The active sessions", object({ sessions: { type: "array", items: ref("Session") } })),
            "401": unauthorized,
            "503": storeDown(),
          },
        },
      },
      "/api/sessions/{id}": {
        delete: {
          operationId: "endSession",
          tags: ["sessions"],
          summary: "Sign one of the caller's devices out",
          description: "Its tokens stop working on every instance and its sockets are closed with 4003.",
          parameters: [{
            name: "id",
            in: "path",
            required: true,
            description: "The session's id (from `GET /api/sessions`)",
            schema: { type: "string", minLength: 1 },
          }],
          responses: {
            "204": { description: "Signed out" },
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": notFound("No active session of the caller's has that id", "session_not_found"),
            "503": storeDown(),
          },
        },
      },
      "/api/rooms": {
        get: {
          operationId: "listRooms",
          tags: ["rooms"],
          summary: "Public rooms and the private rooms the caller belongs to, a page at a time",
          description: "Oldest first (by `created_at`, then `id`), at most `limit` per page; while " +
            "`next_cursor` is not null, pass it as `cursor` for the next page. Every room is listed once " +
            "across the pages (one created meanwhile comes last). Each room has its `member_count`, not its " +
            "members (`GET /api/rooms/{id}/members`). Unread messages in a room: `last_seq - last_read_seq`. " +
            "Any other query parameter, or one given twice, is 400.",
          parameters: [
            {
              name: "limit",
              in: "query",
              description: "Rooms per page",
              schema: { type: "integer", minimum: 1, maximum: 500, default: 100 },
            },
            {
              name: "cursor",
              in: "query",
              description: "The `next_cursor` of the page before; without it, the first page",
              schema: { type: "string", minLength: 1, maxLength: 200, pattern: "^[A-Za-z0-9_-]+$" },
            },
          ],
          responses: {
            "200": ok(
              "A page of rooms",
              object({
                rooms: { type: "array", items: ref("RoomListing") },
                next_cursor: {
                  type: ["string", "null"],
                  description: "The `cursor` of the next page; null on the last page",
                },
              }),
            ),
            "400": error(
              "A query parameter is unknown, repeated, out of range, or not a cursor of this list",
              [
                "invalid_query",
              ],
            ),
            "401": unauthorized,
            "503": storeDown(),
          },
        },
        post: {
          operationId: "createRoom",
          tags: ["rooms"],
          summary: "Create a room; the caller is its creator and first member",
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["name"],
              properties: {
                name: roomName,
                description: { type: "string", maxLength: 1000, default: "" },
                is_private: { type: ["boolean", "null"], default: false, description: "null means false" },
              },
            }, { name: "General Discussion", description: "", is_private: false }),
          },
          responses: {
            "201": ok("Created", ref("Room"), {
              ...roomLinks(),
              RemoveCreator: {
                operationId: "removeMember",
                parameters: { id: "$response.body#/id", userId: "$response.body#/creator_id" },
              },
            }),
            "400": badBody("invalid_name", "invalid_description", "invalid_is_private"),
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "409": nameTaken,
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": error(
              "The caller created `ROOMS_PER_USER_PER_HOUR` rooms (20 by default) within the hour; see `Retry-After`",
              ["too_many_rooms"],
              retryAfter(true),
            ),
            "503": storeDown(),
          },
        },
      },
      "/api/rooms/{id}": {
        get: {
          operationId: "getRoom",
          tags: ["rooms"],
          summary: "A room",
          parameters: [roomId],
          responses: {
            "200": ok("The room", ref("Room")),
            "401": unauthorized,
            "404": roomNotFound,
            "503": storeDown(),
          },
        },
        patch: {
          operationId: "updateRoom",
          tags: ["rooms"],
          summary: "The room's creator renames it or changes its description",
          description:
            "Each change is stored as a system message of the room (the next `seq`), which members " +
            'receive live: `alice renamed the room to "design"`, `alice changed the description`. A value ' +
            "equal to the current one changes nothing and stores no message.",
          parameters: [roomId],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              properties: { name: roomName, description: { type: "string", maxLength: 1000 } },
              minProperties: 1,
              description: "At least one of `name` and `description`",
            }, { name: "design", description: "Pixels and fonts" }),
          },
          responses: {
            "200": ok("The room as it is now", ref("Room")),
            "400": badBody("invalid_name", "invalid_description"),
            "401": unauthorized,
            "403": error("The caller is not the room's creator; or a cross-origin cookie request", [
              "forbidden",
              ...originRefused,
            ]),
            "404": roomNotFound,
            "409": error("The name is taken, or the room is a direct one", [
              "room_name_taken",
              "direct_room",
            ]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": rateLimited,
            "503": storeDown(),
          },
        },
      },
      "/api/rooms/{id}/join": {
        post: {
          operationId: "joinRoom",
          tags: ["rooms"],
          summary: "Join a public room (idempotent)",
          description: "A private room is joined only by being added by its creator.",
          parameters: [roomId],
          responses: {
            "200": ok("The room, with the caller as a member", ref("Room")),
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": roomNotFound,
            "429": rateLimited,
            "503": storeDown(),
          },
        },
      },
      "/api/rooms/{id}/leave": {
        post: {
          operationId: "leaveRoom",
          tags: ["rooms"],
          summary: "Leave a room",
          parameters: [roomId],
          responses: {
            "204": { description: "Left" },
            "401": unauthorized,
            "403": error("The caller is not a member; or a cross-origin request with the session cookie", [
              "not_a_member",
              ...originRefused,
            ]),
            "404": roomNotFound,
            "409": error("A direct room cannot be left", ["direct_room"]),
            "429": rateLimited,
            "503": storeDown(),
          },
        },
      },
      "/api/rooms/{id}/members": {
        get: {
          operationId: "listMembers",
          tags: ["rooms"],
          summary: "A room's members with `online` and `last_seen`",
          parameters: [roomId],
          responses: {
            "200": ok(
              "Members in join order",
              object({ members: { type: "array", items: ref("PublicUser") } }),
            ),
            "401": unauthorized,
            "404": roomNotFound,
            "503": storeDown(),
          },
        },
        post: {
          operationId: "addMember",
          tags: ["rooms"],
          summary: "The room's creator adds a user (idempotent)",
          description: "The user is named by `user_id` or by `username` (case-insensitive); `user_id` wins " +
            "when both are given.",
          parameters: [roomId],
          requestBody: {
            required: true,
            content: json({
              anyOf: [{
                type: "object",
                required: ["user_id"],
                properties: { user_id: { type: "string", minLength: 1, maxLength: 64 } },
              }, {
                type: "object",
                required: ["username"],
                properties: { username: { type: "string", minLength: 1, maxLength: 64 } },
              }],
            }, { username: "bob" }),
          },
          responses: {
            "200": ok("The room", ref("Room")),
            "400": badBody("invalid_user_id", "invalid_username"),
            "401": unauthorized,
            "403": error("The caller is not the room's creator; or a cross-origin cookie request", [
              "forbidden",
              ...originRefused,
            ]),
            "404": notFound(
              "No such room (or not visible), or no such user",
              "room_not_found",
              "user_not_found",
            ),
            "409": error("A direct room always has its two members", ["direct_room"]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": rateLimited,
            "503": storeDown(),
          },
        },
      },
      "/api/rooms/{id}/members/{userId}": {
        delete: {
          operationId: "removeMember",
          tags: ["rooms"],
          summary: "The room's creator removes a member",
          description:
            "A creator who removes themselves from a private room no longer sees it: 404 after the " +
            "removal.",
          parameters: [roomId, {
            name: "userId",
            in: "path",
            required: true,
            description: "The member's user id",
            schema: { type: "string", minLength: 1 },
          }],
          responses: {
            "200": ok("The room", ref("Room")),
            "401": unauthorized,
            "403": error("The caller is not the room's creator; or a cross-origin cookie request", [
              "forbidden",
              ...originRefused,
            ]),
            "404": notFound(
              "No such room (or not visible), or the user is not a member",
              "room_not_found",
              "member_not_found",
            ),
            "409": error("A direct room always has its two members", ["direct_room"]),
            "429": rateLimited,
            "503": storeDown(),
          },
        },
      },
      "/api/rooms/{id}/messages": {
        get: {
          operationId: "getMessages",
          tags: ["messages"],
          summary: "A page of history, oldest first",
          description:
            "Use at most one of `offset`, `before_seq` and `after_seq`; `offset` 0 (the default) is " +
            "the newest page. Any other query parameter, or one given twice, is 400.",
          parameters: [
            roomId,
            {
              name: "limit",
              in: "query",
              description: "Page size",
              schema: { type: "integer", minimum: 1, maximum: 100, default: 50 },
            },
            {
              name: "offset",
              in: "query",
              description: "Messages to skip from the newest",
              schema: { type: "integer", minimum: 0, maximum: MAX_SEQ_QUERY },
            },
            {
              name: "before_seq",
              in: "query",
              description: "The newest `limit` messages with a smaller seq",
              schema: { type: "integer", minimum: 1, maximum: MAX_SEQ_QUERY },
            },
            {
              name: "after_seq",
              in: "query",
              description: "The oldest `limit` messages with a larger seq",
              schema: { type: "integer", minimum: 0, maximum: MAX_SEQ_QUERY },
            },
          ],
          responses: {
            "200": ok("The page", ref("MessagePage")),
            "400": error("A query parameter is unknown, repeated, out of range, or combined", [
              "invalid_query",
            ]),
            "401": unauthorized,
            "404": roomNotFound,
            "503": storeDown(),
          },
        },
        post: {
          operationId: "postMessage",
          tags: ["messages"],
          summary: "Send a message (or a chat command)",
          description:
            "The caller must be a member. A `client_id` makes the send idempotent: a retry answers " +
            "200 with the original. Content starting with `/` is a command (`/stock=AAPL.US`): it is queued, " +
            "not stored, and answered 202; the bot's answer arrives later as a `bot` message. `//text` posts " +
            "`/text`.",
          parameters: [roomId],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["content"],
              properties: {
                content: {
                  type: "string",
                  minLength: 1,
                  maxLength: maxMessageChars,
                  pattern: `^[^\\u0000]*[^\\u0000${JS_SPACE}][^\\u0000]*$`,
                  description:
                    "Not blank, no NUL, well-formed Unicode. Text starting with `/` is a command " +
                    "(400 `unknown_command` or `invalid_command` when it is not one); `//` sends it as text.",
                },
                client_id: {
                  type: ["string", "null"],
                  pattern: "^[A-Za-z0-9_-]{1,64}$",
                  description: "Idempotency key, unique per sender and room",
                },
              },
            }, { content: "Hello, everyone!", client_id: "9b2f0c1e-8a8e-4a5e-9d7b-1f2e3d4c5b6a" }),
          },
          responses: {
            "200": ok("A repeated `client_id`: the message stored the first time", ref("Message")),
            "201": ok("Stored and delivered", ref("Message"), {
              GetMessages: { operationId: "getMessages", parameters: { id: "$response.body#/room_id" } },
            }),
            "202": ok("A chat command, queued for its bot", ref("CommandAccepted")),
            "400": badBody(
              "invalid_content",
              "invalid_client_id",
              "content_empty",
              "content_too_long",
              "unknown_command",
              "invalid_command",
            ),
            "401": unauthorized,
            "403": error("The caller is not a member; or a cross-origin cookie request", [
              "not_a_member",
              ...originRefused,
            ]),
            "404": roomNotFound,
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": rateLimited,
            "503": storeDown("commands_unavailable"),
          },
        },
      },
      "/api/rooms/{id}/read": {
        post: {
          operationId: "markRead",
          tags: ["messages"],
          summary: "Move the caller's read marker forward",
          description: "The marker never moves back and never past the room's `last_seq`.",
          parameters: [roomId],
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["seq"],
              properties: { seq: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
            }, { seq: 42 }),
          },
          responses: {
            "200": ok("The stored marker", ref("ReadMarker")),
            "400": badBody("invalid_seq"),
            "401": unauthorized,
            "403": error("The caller is not a member; or a cross-origin cookie request", [
              "not_a_member",
              ...originRefused,
            ]),
            "404": roomNotFound,
            "413": tooLarge(small),
            "415": unsupportedType,
            "503": storeDown(),
          },
        },
      },
      "/api/dms": {
        post: {
          operationId: "openDirectRoom",
          tags: ["dms"],
          summary: "The one direct room of the caller and another user",
          description:
            "Starting one with someone new counts against `DMS_PER_USER_PER_HOUR`; opening one the " +
            "caller has is free.",
          requestBody: {
            required: true,
            content: json({
              type: "object",
              required: ["user_id"],
              properties: { user_id: { type: "string", minLength: 1, maxLength: 64 } },
            }),
          },
          responses: {
            "200": ok("It already existed", ref("Room"), roomLinks()),
            "201": ok("Created", ref("Room"), roomLinks()),
            "400": badBody("invalid_user_id", "invalid_user"),
            "401": unauthorized,
            "403": error("Cross-origin request with the session cookie", originRefused),
            "404": error("No such user", ["user_not_found"]),
            "413": tooLarge(small),
            "415": unsupportedType,
            "429": error(
              "The caller started conversations with `DMS_PER_USER_PER_HOUR` new people (20 by default) " +
                "within the hour; opening one they have is never refused. See `Retry-After`",
              ["too_many_direct_rooms"],
              retryAfter(true),
            ),
            "503": storeDown(),
          },
        },
      },
    },
    components: {
      schemas: schemas(maxMessageChars),
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "The access token from `POST /api/auth/login` or `POST /api/auth/refresh`",
        },
        cookieAuth: {
          type: "apiKey",
          in: "cookie",
          name: "chat_session",
          description: "The web UI's HttpOnly session cookie (holds the same JWT); `__Host-chat_session` " +
            "over https",
        },
      },
    },
    "x-websocket": {
      path: "/ws",
      description:
        "GET /ws?token=<token>[&room_id=<id>][&resume=1] upgrades to a WebSocket carrying JSON frames " +
        "(`resume=1`: the first frame will be a resume; stored messages wait for it, up to 30 s) " +
        "(message, join, leave, typing, ping, resume, refresh from the client; messages, acks, presence, " +
        "errors from the server). 401 without a valid token, 403 for a foreign Origin, 503 `server_full` at " +
        "MAX_CONNECTIONS, 429 `too_many_sockets` when the user holds MAX_SOCKETS_PER_USER sockets (20 by " +
        "default) already. Typing notices over the user's TYPING_PER_USER_* rate are dropped. The socket is closed with 4001 when its access token expires, unless the client " +
        'sent `{"type":"refresh","token":"<new access token of the same session>"}` before; with 4003 ' +
        "when its session ends (do not reconnect with that token). See the README's WebSocket section.",
    },
  };
}

/** The document for the default configuration. */
export const openApi: OpenApiDocument = openApiDocument();

// ---- serving ----

const CACHE = "public, max-age=300";

/** `GET /api/openapi.json`: the document for this server's configuration, built once. */
export function openApiHandler(config: DocumentLimits): Handler<AppEnv> {
  const body = JSON.stringify(openApiDocument(limitsOf(config)));
  return () =>
    new Response(body, {
      headers: { "content-type": "application/json", "cache-control": CACHE },
    });
}

/** `GET /api/docs`: the document as a static HTML page (no script; styles allowed by hash only). */
export function apiDocsHandler(config: DocumentLimits): Handler<AppEnv> {
  const html = renderDocs(openApiDocument(limitsOf(config)));
  let csp: Promise<string> | undefined;
  return async () => {
    csp ??= styleHash(STYLE).then((hash) =>
      `default-src 'none'; style-src '${hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
    );
    return new Response(html, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": CACHE,
        "content-security-policy": await csp,
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
      },
    });
  };
}

const limitsOf = ({ maxMessageChars, maxBodyBytes }: DocumentLimits): DocumentLimits => ({
  maxMessageChars,
  maxBodyBytes,
});

async function styleHash(css: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(css)));
  return `sha256-${btoa(String.fromCharCode(...digest))}`;
}

// ---- the docs page ----

const STYLE = `
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;color:#1d2433}
h1{margin-bottom:.25rem}h2{border-bottom:2px solid #d8dee9;padding-bottom:.25rem;margin-top:2.5rem}
code,.path{font-family:ui-monospace,monospace;font-size:.92em}
nav ul{columns:2;padding-left:1.2rem}nav li{break-inside:avoid}nav li ul{columns:1}
section.op{border:1px solid #d8dee9;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}
.op h3{margin:.25rem 0;font-size:1.05rem}
.m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-weight:600;
padding:0 .4rem;margin-right:.5rem;font-family:ui-monospace,monospace}
.get{background:#2f6fb3}.post{background:#2d8a4e}.patch{background:#a86a00}.delete{background:#b3362f}
table{border-collapse:collapse;width:100%;margin:.25rem 0 .75rem}
th,td{text-align:left;vertical-align:top;border-top:1px solid #e5e9f0;padding:.25rem .5rem}
th{font-weight:600;background:#f4f6f9}.muted{color:#5c677d}.lock{font-size:.85em;color:#5c677d}
pre{white-space:pre-wrap}`;

const escapeHtml = (text: unknown): string =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Inline Markdown of the descriptions: only `code` spans and **bold**, after escaping. */
const md = (text: string): string =>
  escapeHtml(text).replace(/`([^`]+)`/g, "<code>$1</code>").replace(
    /\*\*([^*]+)\*\*/g,
    "<strong>$1</strong>",
  );

const refName = (ref: string) => ref.slice(ref.lastIndexOf("/") + 1);

/** A short human label for a schema: its type and constraints; a $ref links to the schema's section. */
function typeLabel(schema: Schema): string {
  if (schema.$ref) {
    return `<a href="#schema-${escapeHtml(refName(schema.$ref))}">${escapeHtml(refName(schema.$ref))}</a>`;
  }
  // An error response is `allOf: [Error, {its codes}]`: the codes are in the description, the type is Error.
  if (schema.allOf) return schema.allOf.filter((s) => s.$ref).map(typeLabel).join(" &amp; ") || "object";
  if (schema.anyOf) return schema.anyOf.map(typeLabel).join(" | ");
  const parts: string[] = [];
  if (schema.enum) {
    parts.push(schema.enum.map((v) => `<code>${escapeHtml(JSON.stringify(v))}</code>`).join(" | "));
  }
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  for (const type of types) {
    parts.push(type === "array" && schema.items ? `array of ${typeLabel(schema.items)}` : escapeHtml(type));
  }
  const label = parts.join(" | ") || "any";
  const notes: string[] = [];
  if (schema.format) notes.push(escapeHtml(schema.format));
  if (schema.minLength !== undefined || schema.maxLength !== undefined) {
    notes.push(`${schema.minLength ?? 0}–${schema.maxLength ?? "∞"} chars`);
  }
  if (schema.minimum !== undefined || schema.maximum !== undefined) {
    notes.push(`${schema.minimum ?? "−∞"}–${schema.maximum ?? "∞"}`);
  }
  if (schema.pattern) notes.push(`pattern <code>${escapeHtml(schema.pattern)}</code>`);
  if (schema.default !== undefined) {
    notes.push(`default <code>${escapeHtml(JSON.stringify(schema.default))}</code>`);
  }
  return notes.length ? `${label} <span class="muted">(${notes.join(", ")})</span>` : label;
}

function fieldsTable(schema: Schema): string {
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) return `<p>${typeLabel(schema)}</p>`;
  const required = new Set(schema.required ?? []);
  const rows = properties.map(([name, field]) =>
    `<tr><td><code>${escapeHtml(name)}</code></td><td>${typeLabel(field)}</td>` +
    `<td>${required.has(name) ? "yes" : "no"}</td><td>${md(field.description ?? "")}</td></tr>`
  );
  return `<table><tr><th>field</th><th>type</th><th>required</th><th>notes</th></tr>${rows.join("")}</table>`;
}

function renderOperation(method: string, path: string, op: Operation, doc: OpenApiDocument): string {
  const id = `op-${op.operationId}`;
  const secured = (op.security ?? doc.security).length > 0;
  const out = [
    `<section class="op" id="${escapeHtml(id)}"><h3><span class="m ${escapeHtml(method)}">` +
    `${escapeHtml(method.toUpperCase())}</span><span class="path">${escapeHtml(path)}</span></h3>`,
    `<p>${md(op.summary)}${secured ? ' <span class="lock">(token required)</span>' : ""}</p>`,
  ];
  if (op.description) out.push(`<p>${md(op.description)}</p>`);
  if (op.parameters?.length) {
    const rows = op.parameters.map((p) =>
      `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${escapeHtml(p.in)}</td><td>${
        typeLabel(p.schema)
      }</td>` +
      `<td>${p.required ? "yes" : "no"}</td><td>${md(p.description ?? "")}</td></tr>`
    );
    out.push(
      `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>notes</th></tr>` +
        `${rows.join("")}</table>`,
    );
  }
  if (op.requestBody) {
    const [type, media] = Object.entries(op.requestBody.content)[0];
    out.push(
      `<h4>Request body <span class="muted">(${escapeHtml(type)})</span></h4>${fieldsTable(media.schema)}`,
    );
    if (media.example !== undefined) {
      out.push(`<pre><code>${escapeHtml(JSON.stringify(media.example))}</code></pre>`);
    }
  }
  const rows = Object.entries(op.responses).map(([status, response]) => {
    const media = response.content ? Object.entries(response.content)[0] : undefined;
    const body = media
      ? `${typeLabel(media[1].schema)} <span class="muted">${escapeHtml(media[0])}</span>`
      : "";
    return `<tr><td><code>${escapeHtml(status)}</code></td><td>${
      md(response.description)
    }</td><td>${body}</td></tr>`;
  });
  out.push(
    `<h4>Responses</h4><table><tr><th>status</th><th>meaning</th><th>body</th></tr>${rows.join("")}</table>`,
  );
  out.push("</section>");
  return out.join("\n");
}

/** The whole page: operations grouped by tag, then the schemas. Every value from the document is escaped. */
export function renderDocs(doc: OpenApiDocument): string {
  const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) => (item[method] ? [{ method, path, op: item[method]! }] : []))
  );
  const toc: string[] = [];
  const sections: string[] = [];
  for (const tag of doc.tags) {
    const ops = operations.filter((o) => o.op.tags[0] === tag.name);
    if (ops.length === 0) continue;
    toc.push(
      `<li><a href="#tag-${escapeHtml(tag.name)}">${escapeHtml(tag.name)}</a>: ${md(tag.description)}<ul>` +
        ops.map((o) =>
          `<li><a href="#op-${escapeHtml(o.op.operationId)}"><code>${escapeHtml(o.method.toUpperCase())} ` +
          `${escapeHtml(o.path)}</code></a></li>`
        ).join("") + "</ul></li>",
    );
    sections.push(
      `<h2 id="tag-${escapeHtml(tag.name)}">${escapeHtml(tag.name)}</h2><p>${md(tag.description)}</p>` +
        ops.map((o) => renderOperation(o.method, o.path, o.op, doc)).join("\n"),
    );
  }
  const schemaSections = Object.entries(doc.components.schemas).map(([name, schema]) =>
    `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3>` +
    (schema.description ? `<p>${md(schema.description)}</p>` : "") + fieldsTable(schema)
  );
  const description = doc.info.description.split(/\n\n+/).map((block) =>
    block.startsWith("- ")
      ? `<ul>${block.split(/\n- /).map((item) => `<li>${md(item.replace(/^- /, ""))}</li>`).join("")}</ul>`
      : `<p>${md(block)}</p>`
  ).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(doc.info.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(doc.info.title)} <span class="muted">${escapeHtml(doc.info.version)}</span></h1>
<p class="muted">OpenAPI ${escapeHtml(doc.openapi)}: <a href="/api/openapi.json">/api/openapi.json</a></p>
${description}
<nav><h2>Operations</h2><ul>${toc.join("")}</ul></nav>
${sections.join("\n")}
<h2 id="websocket">WebSocket</h2><p><code>${escapeHtml(doc["x-websocket"].path)}</code>: ${
    md(doc["x-websocket"].description)
  }</p>
<h2 id="schemas">Schemas</h2>
${schemaSections.join("\n")}
</body>
</html>
`;
}

import { totpCode } from "../lib/auth/totp.ts";
/**
 * The OpenAPI document (lib/api/openapi.ts): well formed, listing exactly the routes the Hono app serves under
 * /api, served at /api/openapi.json with a readable page at /api/docs, and true to real responses (checked
 * with a small JSON Schema validator here; tests/schemathesis_test.ts fuzzes it much harder).
 */
import assert from "node:assert/strict";
import {
  HTTP_METHODS,
  openApi,
  type OpenApiDocument,
  openApiDocument,
  type Operation,
  type Schema,
} from "../lib/api/openapi.ts";
import { api, createTestApp, newUser, type RequestOptions, startServer } from "./helpers/server.ts";

/** Every (method, path) the document describes, as "GET /api/rooms/{id}". */
function documentedRoutes(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`)
  ).sort();
}

function operations(doc: OpenApiDocument): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) => item[method] ? [{ method, path, op: item[method]! }] : [])
  );
}

/** Resolves a local JSON pointer (`#/components/schemas/Room`) in `doc`; undefined when it leads nowhere. */
function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function collectRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => collectRefs(n, out));
  else if (node !== null && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string") out.push(value);
      else collectRefs(value, out);
    }
  }
  return out;
}

// ---- a small JSON Schema validator: the keywords the document uses ----

const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** The problems of `value` against `schema` (empty when it is valid), each with the JSON path. */
function validate(doc: OpenApiDocument, schema: Schema, value: unknown, at = "$"): string[] {
  if (schema.$ref !== undefined) {
    const target = resolvePointer(doc, schema.$ref) as Schema | undefined;
    return target === undefined ? [`${at}: unresolved ${schema.$ref}`] : validate(doc, target, value, at);
  }
  const problems: string[] = [];
  for (const sub of schema.allOf ?? []) problems.push(...validate(doc, sub, value, at));
  if (schema.anyOf && !schema.anyOf.some((sub) => validate(doc, sub, value, at).length === 0)) {
    problems.push(`${at}: matches none of anyOf`);
  }
  if (schema.enum && !schema.enum.includes(value as string)) {
    problems.push(`${at}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = value === null
      ? "null"
      : Array.isArray(value)
      ? "array"
      : Number.isInteger(value)
      ? "integer"
      : typeof value;
    const ok = types.some((t) => t === actual || (t === "number" && actual === "integer"));
    if (!ok) return [...problems, `${at}: ${actual} is not ${types.join("|")}`];
  }
  if (typeof value === "string") {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) problems.push(`${at}: shorter than min`);
    if (schema.maxLength !== undefined && length > schema.maxLength) problems.push(`${at}: longer than max`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
      problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (schema.format === "date-time" && (!DATE_TIME.test(value) || Number.isNaN(Date.parse(value)))) {
      problems.push(`${at}: ${JSON.stringify(value)} is not a date-time`);
    }
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      problems.push(`${at}: below ${schema.minimum}`);
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      problems.push(`${at}: above ${schema.maximum}`);
    }
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => problems.push(...validate(doc, schema.items!, item, `${at}[${i}]`)));
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    if (schema.minProperties !== undefined && Object.keys(record).length < schema.minProperties) {
      problems.push(`${at}: fewer than ${schema.minProperties} properties`);
    }
    for (const name of schema.required ?? []) {
      if (!Object.hasOwn(record, name)) problems.push(`${at}: missing "${name}"`);
    }
    for (const [name, field] of Object.entries(record)) {
      const sub = schema.properties?.[name];
      if (sub !== undefined) problems.push(...validate(doc, sub, field, `${at}.${name}`));
      else if (schema.additionalProperties === false) problems.push(`${at}: unexpected "${name}"`);
    }
  }
  return problems;
}

// ---- (a) well formed ----

Deno.test("the OpenAPI document is well-formed 3.1: refs resolve, path params declared, links and tags exist", () => {
  const doc = openApi;
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.ok(doc.info.title && doc.info.version, "info.title and info.version");
  const problems: string[] = [];
  for (const ref of collectRefs(doc)) {
    if (resolvePointer(doc, ref) === undefined) problems.push(`unresolved $ref ${ref}`);
  }
  const ops = operations(doc);
  const ids = new Map(ops.map((o) => [o.op.operationId, o.op]));
  if (ids.size !== ops.length) problems.push("operationIds are not unique");
  const tags = new Set(doc.tags.map((t) => t.name));
  const schemes = new Set(Object.keys(doc.components.securitySchemes));
  for (const requirement of doc.security) {
    for (const name of Object.keys(requirement)) {
      if (!schemes.has(name)) problems.push(`unknown scheme ${name}`);
    }
  }
  for (const { method, path, op } of ops) {
    const where = `${method.toUpperCase()} ${path}`;
    if (!path.startsWith("/api/")) problems.push(`${where}: not under /api/`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const declared = (op.parameters ?? []).filter((p) => p.in === "path");
    assert.deepEqual(declared.map((p) => p.name).sort(), templated, `${where}: path parameters`);
    for (const p of declared) {
      if (p.required !== true) problems.push(`${where}: path param ${p.name} not required`);
    }
    const query = (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name);
    if (new Set(query).size !== query.length) problems.push(`${where}: repeated query parameter`);
    for (const tag of op.tags) if (!tags.has(tag)) problems.push(`${where}: undeclared tag ${tag}`);
    for (const requirement of op.security ?? []) {
      for (const name of Object.keys(requirement)) if (!schemes.has(name)) problems.push(`${where}: ${name}`);
    }
    const statuses = Object.keys(op.responses);
    // A success, or a redirect for the one operation that only redirects (`GET /api/auth/refresh`).
    if (!statuses.some((s) => /^[23]\d\d$/.test(s))) problems.push(`${where}: no 2xx or 3xx response`);
    for (const [status, response] of Object.entries(op.responses)) {
      if (!/^[1-5]\d\d$/.test(status)) problems.push(`${where}: status ${status}`);
      if (!response.description) problems.push(`${where} ${status}: no description`);
      const schema = response.content?.["application/json"]?.schema;
      // Every 4xx/5xx is the error object (the health check's 503 is its own report).
      if (Number(status) >= 400 && op.operationId !== "health") {
        const refs = collectRefs(schema);
        if (!refs.includes("#/components/schemas/Error")) problems.push(`${where} ${status}: not an Error`);
      }
      for (const [name, link] of Object.entries(response.links ?? {})) {
        const target = ids.get(link.operationId);
        if (target === undefined) {
          problems.push(`${where} ${status}: link ${name} to unknown ${link.operationId}`);
          continue;
        }
        for (const param of Object.keys(link.parameters ?? {})) {
          if (!(target.parameters ?? []).some((p) => p.name === param)) {
            problems.push(`${where} ${status}: link ${name} sets unknown parameter ${param}`);
          }
        }
        if (link.requestBody !== undefined && target.requestBody === undefined) {
          problems.push(`${where} ${status}: link ${name} sends a body to ${link.operationId}`);
        }
      }
    }
    if (op.requestBody && !op.requestBody.content["application/json"]) {
      problems.push(`${where}: body not JSON`);
    }
  }
  assert.deepEqual(problems, []);
  // The WebSocket is described beside the paths, not as one.
  assert.equal(doc["x-websocket"].path, "/ws");
  assert.ok(!Object.keys(doc.paths).includes("/ws"));
});

// ---- (b) in sync with the app ----

Deno.test("the document lists exactly the routes the Hono app serves under /api (method and path)", async () => {
  const app = await createTestApp();
  try {
    const served = [
      ...new Set(
        app.chat.app.routes
          .filter((r) => r.method !== "ALL" && r.path.startsWith("/api/"))
          .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`),
      ),
    ].sort();
    const documented = documentedRoutes(openApi);
    assert.ok(served.length >= 20, `the app's routes were read (${served.length})`);
    assert.deepEqual(
      served.filter((r) => !documented.includes(r)),
      [],
      "served by the app but missing from lib/api/openapi.ts",
    );
    assert.deepEqual(
      documented.filter((r) => !served.includes(r)),
      [],
      "in lib/api/openapi.ts but not served by the app",
    );
  } finally {
    await app.close();
  }
});

// ---- (c) served ----

Deno.test("GET /api/openapi.json serves the document for the server's configuration, cacheable", async () => {
  const server = await startServer({ MAX_MESSAGE_CHARS: "500", MAX_BODY_BYTES: "131072" });
  try {
    const response = await fetch(`${server.url}/api/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^application\/json/);
    assert.match(response.headers.get("cache-control")!, /public, max-age=\d+/);
    const served = await response.json();
    assert.deepEqual(
      served,
      JSON.parse(JSON.stringify(openApiDocument({ maxMessageChars: 500, maxBodyBytes: 131_072 }))),
    );
    const content =
      served.paths["/api/rooms/{id}/messages"].post.requestBody.content["application/json"].schema
        .properties.content;
    assert.equal(content.maxLength, 500, "MAX_MESSAGE_CHARS reaches the document");
    assert.match(served.info.description, /A request body is at most 128 KiB \(`MAX_BODY_BYTES`\)/);
    assert.match(served.paths["/api/rooms"].post.responses["413"].description, /larger than 128 KiB/);
    // Public: no token needed.
    assert.equal((await fetch(`${server.url}/api/openapi.json`, { method: "HEAD" })).status, 200);
  } finally {
    await server.close();
  }
});

Deno.test("GET /api/docs is a static HTML page of every operation, with no script and no outside resource", async () => {
  const server = await startServer();
  try {
    const response = await fetch(`${server.url}/api/docs`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/html; charset=utf-8$/);
    const html = await response.text();
    for (const { method, path, op } of operations(openApi)) {
      assert.ok(html.includes(`>${path}</span>`), `the page shows ${path}`);
      assert.ok(html.includes(`id="op-${op.operationId}"`), `the page has ${method} ${path}`);
      for (const status of Object.keys(op.responses)) {
        assert.ok(html.includes(`<code>${status}</code>`), `${op.operationId} shows ${status}`);
      }
    }
    for (const tag of openApi.tags) assert.ok(html.includes(`id="tag-${tag.name}"`), `tag ${tag.name}`);
    for (const name of Object.keys(openApi.components.schemas)) {
      assert.ok(html.includes(`id="schema-${name}"`), `schema ${name}`);
    }
    assert.ok(html.includes("<code>before_seq</code>") && html.includes("<code>client_id</code>"));
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /\b(src|href)="(https?:)?\/\//i, "nothing is loaded from elsewhere");
    // The CSP allows no script at all and exactly the page's one inline style, by hash.
    const csp = response.headers.get("content-security-policy")!;
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|script-src/);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(style)));
    assert.ok(csp.includes(`style-src 'sha256-${btoa(String.fromCharCode(...digest))}'`), csp);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    assert.equal(response.headers.get("referrer-policy"), "same-origin");
  } finally {
    await server.close();
  }
});

// ---- (d) real answers match the document ----

Deno.test("real answers of every operation match the documented status, content type and schema", async () => {
  const server = await startServer({ QUOTE_URL: "http://127.0.0.1:9/q/l/", QUOTE_TIMEOUT_MS: "200" }, {
    commands: true,
  });
  const doc = openApiDocument({ maxMessageChars: server.config.maxMessageChars });
  const seen = new Set<string>();
  /** Calls `method path` (the template filled from `params`) and checks the answer against the document. */
  async function call(
    method: string,
    template: string,
    params: Record<string, string>,
    options: RequestOptions & { query?: string; redirect?: "manual" } = {},
  ) {
    const path = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name]));
    const res = options.redirect === "manual"
      ? await redirected(method, path + (options.query ?? ""), options.headers)
      : await api(server.url, method, path + (options.query ?? ""), options);
    const op = doc.paths[template]?.[method.toLowerCase() as "get"];
    assert.ok(op, `${method} ${template} is documented`);
    const documented = op.responses[String(res.status)];
    assert.ok(
      documented,
      `${method} ${template}: status ${res.status} is documented (${JSON.stringify(res.body)})`,
    );
    const schema = documented.content?.["application/json"]?.schema;
    if (schema === undefined) assert.equal(res.body, null, `${method} ${template} ${res.status}: no body`);
    else {
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(validate(doc, schema, res.body), [], `${method} ${template} ${res.status}`);
    }
    for (const [name, header] of Object.entries(documented.headers ?? {})) {
      if (header.required) assert.ok(res.headers.has(name), `${method} ${template} ${res.status}: ${name}`);
    }
    // What the document's introduction promises of every answer.
    assert.equal(
      res.headers.get("cache-control"),
      "no-store",
      `${method} ${template} ${res.status}: no-store`,
    );
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", `${method} ${template}: nosniff`);
    seen.add(`${method} ${template} ${res.status}`);
    return res;
  }
  /** A request whose redirect is not followed; its body is empty. */
  async function redirected(method: string, path: string, headers: Record<string, string> = {}) {
    const response = await fetch(server.url + path, { method, headers, redirect: "manual" });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text === "" ? null : JSON.parse(text),
    };
  }
  try {
    const password = "correct horse battery";
    const reg = await call("POST", "/api/auth/register", {}, {
      body: { username: "docs_alice", email: "docs_alice@example.com", password },
    });
    assert.equal(reg.status, 201);
    assert.equal(
      (await call("POST", "/api/auth/register", {}, {
        body: { username: "docs_alice", email: "other@example.com", password },
      })).status,
      409,
    );
    assert.equal((await call("POST", "/api/auth/register", {}, { body: { username: "x" } })).status, 400);
    assert.equal(
      (await call("POST", "/api/auth/register", {}, {
        body: "{}",
        headers: { "content-type": "text/plain" },
      }))
        .status,
      415,
    );
    const login = await call("POST", "/api/auth/login", {}, {
      body: { email: "docs_alice@example.com", password },
    });
    assert.equal(login.status, 200);
    const alice = { id: reg.body.id as string, token: login.body.token as string };
    assert.equal(
      (await call("POST", "/api/auth/login", {}, {
        body: { email: "docs_alice@example.com", password: "nope" },
      }))
        .status,
      401,
    );
    assert.equal((await call("POST", "/api/auth/login", {}, { body: { email: 1 } })).status, 400);
    const bob = await newUser(server.url, "docs_bob");
    const a = { token: alice.token };
    const b = { token: bob.token };

    assert.equal((await call("GET", "/api/health", {})).status, 200);
    assert.equal((await call("GET", "/api/users/me", {}, a)).status, 200);
    assert.equal((await call("GET", "/api/users/me", {})).status, 401);
    assert.equal((await call("GET", "/api/users/me/rooms", {}, a)).status, 200);
    assert.equal((await call("GET", "/api/users/me/rooms", {})).status, 401);
    assert.equal(
      (await call("PATCH", "/api/users/me", {}, { ...a, body: { display_name: "Alice", avatar_url: null } }))
        .status,
      200,
    );
    assert.equal(
      (await call("PATCH", "/api/users/me", {}, { ...a, body: { display_name: " " } })).status,
      400,
    );
    for (const display_name of ["\u202Eevil", "\u200B\u200B", bob.username.toUpperCase(), "Docs_Alice"]) {
      const patched = await call("PATCH", "/api/users/me", {}, { ...a, body: { display_name } });
      const own = display_name === "Docs_Alice";
      assert.equal(patched.status, own ? 200 : 400, JSON.stringify(display_name));
      if (!own) assert.equal(patched.body.error.code, "invalid_display_name");
    }
    assert.equal((await call("GET", "/api/users", {}, { ...a, query: "?q=docs_" })).body.users.length, 2);
    assert.equal((await call("GET", "/api/users", {}, { ...a, query: `?q=${"x".repeat(33)}` })).status, 400);
    // 32 characters are 32 code points, as `maxLength` counts them, though these are 64 UTF-16 units.
    const emoji = (n: number) => `?q=${encodeURIComponent("\u{1F600}".repeat(n))}`;
    assert.equal((await call("GET", "/api/users", {}, { ...a, query: emoji(32) })).status, 200);
    assert.equal((await call("GET", "/api/users", {}, { ...a, query: emoji(33) })).status, 400);
    assert.equal((await call("GET", "/api/users/{id}", { id: bob.id }, a)).status, 200);
    assert.equal((await call("GET", "/api/users/{id}", { id: "nobody" }, a)).status, 404);
    // `me` is the caller's own profile (with email); a dot segment leaves no route: 404 `not_found`.
    assert.equal(
      (await call("GET", "/api/users/{id}", { id: "me" }, a)).body.email,
      "docs_alice@example.com",
    );
    assert.equal(
      (await call("GET", "/api/rooms/{id}/members", { id: ".." }, a)).body.error.code,
      "not_found",
    );

    const room = await call("POST", "/api/rooms", {}, { ...a, body: { name: "Docs", is_private: null } });
    assert.equal(room.status, 201);
    const id = room.body.id as string;
    assert.equal((await call("POST", "/api/rooms", {}, { ...a, body: { name: "   " } })).status, 400);
    assert.equal((await call("POST", "/api/rooms", {}, { ...a, body: { name: "DOCS" } })).status, 409);
    const other = await call("POST", "/api/rooms", {}, { ...a, body: { name: "Other" } });
    assert.equal(other.status, 201);
    assert.equal(
      (await call("PATCH", "/api/rooms/{id}", { id: other.body.id }, { ...a, body: { name: "Docs" } }))
        .status,
      409,
    );
    assert.equal(
      (await call("PATCH", "/api/rooms/{id}", { id: other.body.id }, { ...a, body: { description: "more" } }))
        .body.description,
      "more",
    );
    assert.equal(
      (await call("PATCH", "/api/rooms/{id}", { id: other.body.id }, { ...a, body: { name: "" } })).status,
      400,
    );
    assert.equal(
      (await call("PATCH", "/api/rooms/{id}", { id: other.body.id }, { ...b, body: { name: "Mine" } }))
        .status,
      403,
    );
    assert.equal(
      (await call("PATCH", "/api/rooms/{id}", { id: "0".repeat(24) }, { ...a, body: { name: "x" } })).status,
      404,
    );
    assert.equal((await call("GET", "/api/rooms/{id}", { id }, a)).status, 200);
    assert.equal((await call("GET", "/api/rooms/{id}", { id: "0".repeat(24) }, a)).status, 404);
    assert.equal((await call("POST", "/api/rooms/{id}/join", { id }, b)).status, 200);
    assert.equal((await call("GET", "/api/rooms", {}, a)).status, 200);
    assert.equal((await call("GET", "/api/rooms/{id}/members", { id }, a)).status, 200);

    const sent = await call("POST", "/api/rooms/{id}/messages", { id }, {
      ...a,
      body: { content: "hello", client_id: "docs-1" },
    });
    assert.equal(sent.status, 201);
    const again = await call("POST", "/api/rooms/{id}/messages", { id }, {
      ...a,
      body: { content: "hello", client_id: "docs-1" },
    });
    assert.equal(again.status, 200);
    const command = await call("POST", "/api/rooms/{id}/messages", { id }, {
      ...a,
      body: { content: "/stock=AAPL.US" },
    });
    assert.equal(command.status, 202);
    assert.equal(
      (await call("POST", "/api/rooms/{id}/messages", { id }, { ...a, body: { content: "/nope" } })).status,
      400,
    );
    assert.equal(
      (await call("POST", "/api/rooms/{id}/messages", { id }, {
        ...a,
        body: { content: "x", client_id: "a b" },
      }))
        .status,
      400,
    );
    const history = await call("GET", "/api/rooms/{id}/messages", { id }, { ...a, query: "?after_seq=0" });
    assert.deepEqual(history.body.messages.slice(0, 2).map((m: { type: string }) => m.type), [
      "system",
      "text",
    ]);
    assert.equal(
      (await call("GET", "/api/rooms/{id}/messages", { id }, { ...a, query: "?offset=0&before_seq=2" }))
        .status,
      400,
    );
    assert.equal(
      (await call("POST", "/api/rooms/{id}/read", { id }, { ...a, body: { seq: 2 } })).status,
      200,
    );
    assert.equal(
      (await call("POST", "/api/rooms/{id}/read", { id }, { ...a, body: { seq: -1 } })).status,
      400,
    );

    assert.equal(
      (await call("POST", "/api/rooms/{id}/members", { id }, { ...b, body: { user_id: bob.id } })).status,
      403,
    );
    assert.equal(
      (await call("DELETE", "/api/rooms/{id}/members/{userId}", { id, userId: bob.id }, a)).status,
      200,
    );
    assert.equal(
      (await call("DELETE", "/api/rooms/{id}/members/{userId}", { id, userId: bob.id }, a)).status,
      404,
    );
    assert.equal(
      (await call("POST", "/api/rooms/{id}/members", { id }, {
        ...a,
        body: { username: bob.username.toUpperCase() },
      }))
        .status,
      200,
    );
    assert.equal((await call("POST", "/api/rooms/{id}/leave", { id }, b)).status, 204);
    assert.equal((await call("POST", "/api/rooms/{id}/leave", { id }, b)).status, 403);

    const dm = await call("POST", "/api/dms", {}, { ...a, body: { user_id: bob.id } });
    assert.equal(dm.status, 201);
    assert.equal((await call("POST", "/api/dms", {}, { ...b, body: { user_id: alice.id } })).status, 200);
    assert.equal((await call("POST", "/api/dms", {}, { ...a, body: { user_id: alice.id } })).status, 400);
    assert.equal((await call("POST", "/api/rooms/{id}/leave", { id: dm.body.id }, a)).status, 409);

    // Sessions: refresh (rotation), the page renewal, the list, password change, ending one, logging out.
    const renewed = await call("POST", "/api/auth/refresh", {}, {
      body: { refresh_token: login.body.refresh_token },
    });
    assert.equal(renewed.status, 200);
    assert.equal(renewed.body.session_id, login.body.session_id);
    assert.equal(
      (await call("POST", "/api/auth/refresh", {}, { body: { refresh_token: "nope" } })).body.error.code,
      "invalid_refresh_token",
    );
    assert.equal((await call("POST", "/api/auth/refresh", {}, { body: "[]" })).status, 400);
    const page = await call("GET", "/api/auth/refresh", {}, {
      query: "?next=%2Frooms%2Fabc",
      headers: { cookie: `chat_refresh=${renewed.body.refresh_token}` },
      redirect: "manual",
    });
    assert.deepEqual([page.status, page.headers.get("location")], [303, "/rooms/abc"]);
    const signedOut = await call("GET", "/api/auth/refresh", {}, {
      query: "?next=%2Fprofile",
      redirect: "manual",
    });
    assert.deepEqual([signedOut.status, signedOut.headers.get("location")], [303, "/?next=%2Fprofile"]);

    const signIn = async (pw: string) =>
      (await call("POST", "/api/auth/login", {}, { body: { email: "docs_alice@example.com", password: pw } }))
        .body as { token: string; session_id: string };
    const second = await signIn(password);
    const listed = await call("GET", "/api/sessions", {}, a);
    assert.deepEqual(listed.body.sessions.map((s: { current: boolean }) => s.current).sort(), [false, true]);
    assert.equal((await call("GET", "/api/sessions", {})).status, 401);
    assert.equal((await call("DELETE", "/api/sessions/{id}", { id: "0".repeat(24) }, a)).status, 404);
    assert.equal(
      (await call("PATCH", "/api/users/me", {}, { ...a, body: { password: "another passphrase" } })).status,
      400,
    );
    assert.equal(
      (await call("POST", "/api/users/me/password", {}, {
        ...a,
        body: { current_password: "wrong password", new_password: "another passphrase" },
      })).status,
      400,
    );
    const changed = await call("POST", "/api/users/me/password", {}, {
      ...a,
      body: { current_password: password, new_password: "another passphrase" },
    });
    assert.deepEqual(changed.body, { ended_sessions: 1 });
    assert.equal(
      (await call("GET", "/api/users/me", {}, { token: second.token })).body.error.code,
      "session_revoked",
    );
    const third = await signIn("another passphrase");
    assert.equal((await call("DELETE", "/api/sessions/{id}", { id: third.session_id }, a)).status, 204);
    const fourth = await signIn("another passphrase");
    assert.equal((await call("POST", "/api/auth/logout", {}, { token: fourth.token })).status, 204);
    assert.equal((await call("POST", "/api/auth/logout", {}, { token: fourth.token })).status, 401);
    assert.deepEqual((await call("POST", "/api/auth/logout-all", {}, b)).body, { ended: 1 });
    assert.equal((await call("POST", "/api/auth/logout-all", {}, b)).status, 401);

    // Two-factor sign-in: status, setup, enable (a wrong code first), the two-step login, disable.
    assert.deepEqual((await call("GET", "/api/users/me/two-factor", {}, a)).body, {
      enabled: false,
      recovery_codes_left: 0,
    });
    const setup = await call("POST", "/api/users/me/two-factor/setup", {}, a);
    const enable = (code: string) =>
      call("POST", "/api/users/me/two-factor/enable", {}, {
        ...a,
        body: { secret: setup.body.secret, code, password: "another passphrase" },
      });
    assert.equal((await enable("abcdef")).body.error.code, "invalid_two_factor_code");
    const enabled = await enable(totpCode(setup.body.secret));
    assert.equal(enabled.body.recovery_codes.length, 10);
    const pending = await call("POST", "/api/auth/login", {}, {
      body: { email: "docs_alice@example.com", password: "another passphrase" },
    });
    assert.equal(pending.body.two_factor_required, true);
    assert.equal(
      (await call("POST", "/api/auth/login/two-factor", {}, { body: { mfa_token: "nope", code: "123456" } }))
        .status,
      401,
    );
    const stepped = await call("POST", "/api/auth/login/two-factor", {}, {
      body: { mfa_token: pending.body.mfa_token, code: enabled.body.recovery_codes[0] },
    });
    assert.equal(stepped.body.user.username, "docs_alice");
    const disable = () =>
      call("POST", "/api/users/me/two-factor/disable", {}, {
        ...a,
        body: { password: "another passphrase" },
      });
    assert.equal((await disable()).status, 204);
    assert.equal((await disable()).body.error.code, "two_factor_disabled");

    // Password reset: the same answer for any address; a token that was never mailed is refused.
    assert.deepEqual(
      (await call("POST", "/api/auth/password-reset", {}, { body: { email: "nobody@example.com" } })).body,
      {
        status: "sent",
      },
    );
    assert.equal(
      (await call("POST", "/api/auth/password-reset/confirm", {}, {
        body: { token: "never-mailed", new_password: "a new passphrase" },
      })).body.error.code,
      "invalid_reset_token",
    );

    // A documented path asked with another method: 405 with the methods it answers (not in the document,
    // which lists what is served).
    for (
      const [method, path, allow] of [
        ["PUT", "/api/health", "GET, HEAD, OPTIONS"],
        ["DELETE", "/api/rooms", "GET, HEAD, POST, OPTIONS"],
        ["PUT", `/api/rooms/${id}/messages`, "GET, HEAD, POST, OPTIONS"],
      ]
    ) {
      const res = await api(server.url, method, path, a);
      assert.deepEqual([res.status, res.body.error.code, res.headers.get("allow")], [
        405,
        "method_not_allowed",
        allow,
      ]);
    }

    // Every documented operation was called at least once.
    const called = new Set([...seen].map((s) => s.split(" ").slice(0, 2).join(" ")));
    const all = documentedRoutes(doc).filter((r) => !r.endsWith("/api/docs") && !r.endsWith("/openapi.json"));
    assert.deepEqual(all.filter((r) => !called.has(r)), [], "operations not exercised");
  } finally {
    await server.close();
  }
});

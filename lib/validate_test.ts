import assert from "node:assert/strict";
import { ChatError } from "./errors.ts";
import {
  type Body,
  FieldProblems,
  integerQuery,
  optionalBoolean,
  optionalString,
  readJson,
  requiredString,
} from "./validate.ts";

/** Asserts that `fn` throws (or rejects with) an `ChatError` with exactly this status, code and message. */
async function expectChatError(
  fn: () => unknown,
  status: number,
  code: string,
  message?: string,
): Promise<void> {
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof ChatError, `expected an ChatError, got ${thrown}`);
  assert.equal(thrown.status, status);
  assert.equal(thrown.code, code);
  if (message !== undefined) assert.equal(thrown.message, message);
}

function post(body: BodyInit | null, contentType?: string): Request {
  const headers = contentType === undefined ? undefined : { "content-type": contentType };
  return new Request("http://localhost/api/rooms", { method: "POST", body, headers });
}

Deno.test("readJson() returns the JSON object body", async (t) => {
  for (
    const type of ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
  ) {
    await t.step(type, async () => {
      assert.deepEqual(await readJson(post('{"name":"general","n":1,"nested":{"a":[1]}}', type)), {
        name: "general",
        n: 1,
        nested: { a: [1] },
      });
    });
  }
  await t.step("empty object", async () => {
    assert.deepEqual(await readJson(post("{}", "application/json")), {});
  });
});

Deno.test("readJson() answers 415 without a JSON content type", async (t) => {
  const message = "Send the body as application/json";
  const cases: [string, Request][] = [
    ["text/plain (a string body's default)", post('{"a":1}')],
    ["no content type", post(new TextEncoder().encode('{"a":1}'))],
    ["form", post("a=1", "application/x-www-form-urlencoded")],
    ["multipart", post('{"a":1}', "multipart/form-data; boundary=x")],
    ["text/json", post('{"a":1}', "text/json")],
    ["json inside another type", post('{"a":1}', "text/plain; application/json")],
  ];
  for (const [name, request] of cases) {
    await t.step(
      name,
      () => expectChatError(() => readJson(request), 415, "unsupported_media_type", message),
    );
  }
});

Deno.test("readJson() answers 400 invalid_json for a body that is not JSON", async (t) => {
  for (const body of ["", "{", "{'a':1}", '{"a":1,}', "undefined", "NaN", '{"a":1} x']) {
    await t.step(JSON.stringify(body), () =>
      expectChatError(
        () => readJson(post(body, "application/json")),
        400,
        "invalid_json",
        "The request body is not valid JSON",
      ));
  }
});

Deno.test("readJson() answers 400 invalid_body for JSON that is not an object", async (t) => {
  for (const body of ["[]", '[{"a":1}]', "null", '"text"', "42", "true", "false"]) {
    await t.step(body, () =>
      expectChatError(
        () => readJson(post(body, "application/json")),
        400,
        "invalid_body",
        "The request body must be a JSON object",
      ));
  }
});

Deno.test("requiredString() returns a string within the length bounds", () => {
  const body: Body = { name: "general", one: "x", max: "abcde" };
  assert.equal(requiredString(body, "name", 1, 100), "general");
  assert.equal(requiredString(body, "one", 1, 5), "x");
  assert.equal(requiredString(body, "max", 1, 5), "abcde");
  assert.equal(requiredString({ s: "" }, "s", 0, 5), "");
});

Deno.test("requiredString() counts code points: an emoji is one character", () => {
  assert.equal(requiredString({ name: "🦕🦕🦕" }, "name", 3, 3), "🦕🦕🦕"); // .length is 6
  assert.equal(requiredString({ name: "ab🦕" }, "name", 1, 3), "ab🦕");
  assert.equal(requiredString({ name: "😀" }, "name", 1, 1), "😀");
  return expectChatError(
    () => requiredString({ name: "🦕🦕🦕🦕" }, "name", 1, 3),
    400,
    "invalid_name",
    '"name" must be 1 to 3 characters long',
  );
});

Deno.test("requiredString() refuses missing, non-string and wrongly sized values with invalid_<field>", async (t) => {
  const cases: [string, unknown, string][] = [
    ["missing", undefined, '"username" is required'],
    ["null", null, '"username" is required'],
    ["number", 42, '"username" must be a string'],
    ["boolean", true, '"username" must be a string'],
    ["array", ["alice"], '"username" must be a string'],
    ["object", { $ne: "" }, '"username" must be a string'],
    ["too short", "al", '"username" must be 3 to 32 characters long'],
    ["too long", "a".repeat(33), '"username" must be 3 to 32 characters long'],
    ["empty", "", '"username" must be 3 to 32 characters long'],
  ];
  for (const [name, value, message] of cases) {
    await t.step(name, () => {
      const body: Body = value === undefined ? {} : { username: value };
      return expectChatError(() => requiredString(body, "username", 3, 32), 400, "invalid_username", message);
    });
  }
  await t.step("exact length message", () =>
    expectChatError(
      () => requiredString({ code: "12345" }, "code", 6, 6),
      400,
      "invalid_code",
      '"code" must be 6 characters long',
    ));
});

Deno.test("optionalString() returns undefined when absent and checks type and length", async (t) => {
  assert.equal(optionalString({}, "description", 10), undefined);
  assert.equal(optionalString({ description: "" }, "description", 10), "");
  assert.equal(optionalString({ description: "0123456789" }, "description", 10), "0123456789");
  assert.equal(optionalString({ description: "🦕".repeat(10) }, "description", 10), "🦕".repeat(10));
  assert.equal(optionalString({ display_name: null }, "display_name", 10, { nullable: true }), null);
  assert.equal(optionalString({}, "display_name", 10, { nullable: true }), undefined);

  const cases: [string, unknown, string][] = [
    ["null when not nullable", null, '"description" must be a string'],
    ["number", 5, '"description" must be a string'],
    ["object", { $gt: "" }, '"description" must be a string'],
    ["array", ["a"], '"description" must be a string'],
    ["too long", "01234567890", '"description" must be at most 10 characters long'],
    ["too many emoji", "🦕".repeat(11), '"description" must be at most 10 characters long'],
  ];
  for (const [name, value, message] of cases) {
    await t.step(name, () =>
      expectChatError(
        () => optionalString({ description: value }, "description", 10),
        400,
        "invalid_description",
        message,
      ));
  }
  await t.step("nullable still checks the type", () =>
    expectChatError(
      () => optionalString({ display_name: 1 }, "display_name", 10, { nullable: true }),
      400,
      "invalid_display_name",
      '"display_name" must be a string',
    ));
});

Deno.test("optionalBoolean() returns the value, or the fallback when absent or null", async (t) => {
  assert.equal(optionalBoolean({ is_private: true }, "is_private", false), true);
  assert.equal(optionalBoolean({ is_private: false }, "is_private", true), false);
  assert.equal(optionalBoolean({}, "is_private", false), false);
  assert.equal(optionalBoolean({}, "is_private", true), true);
  assert.equal(optionalBoolean({ is_private: null }, "is_private", true), true);
  for (const value of ["true", 1, 0, "", [], {}]) {
    await t.step(`refuses ${JSON.stringify(value)}`, () =>
      expectChatError(
        () => optionalBoolean({ is_private: value }, "is_private", false),
        400,
        "invalid_is_private",
        '"is_private" must be true or false',
      ));
  }
});

const HISTORY = {
  limit: { min: 1, max: 100 },
  offset: { min: 0, max: 1_000_000 },
  before_seq: { min: 1, max: 1_000_000 },
};
const query = (search: string) =>
  integerQuery(new URL(`http://localhost/api/rooms/r/messages${search}`), HISTORY);

Deno.test("integerQuery() parses the allowed whole-number parameters", () => {
  assert.deepEqual(query(""), {});
  assert.deepEqual(query("?"), {});
  assert.deepEqual(query("?limit=50"), { limit: 50 });
  assert.deepEqual(query("?limit=1&offset=0&before_seq=1000000"), {
    limit: 1,
    offset: 0,
    before_seq: 1_000_000,
  });
  assert.deepEqual(query("?limit=100"), { limit: 100 });
  assert.deepEqual(query("?limit=007"), { limit: 7 });
});

Deno.test("integerQuery() answers 400 invalid_query for an unknown parameter", async (t) => {
  const cases: [string, string][] = [
    ["?before_seq[$gt]=5", 'Unknown query parameter "before_seq[$gt]"'],
    ["?before_seq%5B%24gt%5D=5", 'Unknown query parameter "before_seq[$gt]"'],
    ["?limit=5&sort=desc", 'Unknown query parameter "sort"'],
    ["?LIMIT=5", 'Unknown query parameter "LIMIT"'],
    ["?limit", 'Query parameter "limit" must be an integer from 1 to 100'],
    ["?constructor=5", 'Unknown query parameter "constructor"'],
    ["?__proto__=5", 'Unknown query parameter "__proto__"'],
    ["?toString=5", 'Unknown query parameter "toString"'],
    [`?${"x".repeat(100)}=1`, `Unknown query parameter "${"x".repeat(40)}"`],
  ];
  for (const [search, message] of cases) {
    await t.step(
      search.slice(0, 50),
      () => expectChatError(() => query(search), 400, "invalid_query", message),
    );
  }
});

Deno.test("integerQuery() answers 400 invalid_query for a repeated parameter", async () => {
  await expectChatError(
    () => query("?limit=5&limit=6"),
    400,
    "invalid_query",
    'Query parameter "limit" is repeated',
  );
  await expectChatError(
    () => query("?limit=5&limit=5"),
    400,
    "invalid_query",
    'Query parameter "limit" is repeated',
  );
});

Deno.test("integerQuery() answers 400 invalid_query for non-digits and out-of-range values", async (t) => {
  const limitMessage = 'Query parameter "limit" must be an integer from 1 to 100';
  const values = [
    "",
    "abc",
    "1.5",
    "1e2",
    "0x10",
    "-1",
    "+5",
    "%205", // " 5"
    "5%20", // "5 "
    "\u0661", // Arabic-Indic digit one
    "0", // below min
    "101", // above max
    "1234567890123456", // more than 15 digits
    "Infinity",
  ];
  for (const value of values) {
    await t.step(
      `limit=${value}`,
      () => expectChatError(() => query(`?limit=${value}`), 400, "invalid_query", limitMessage),
    );
  }
  await t.step("before_seq=0 (min 1)", () =>
    expectChatError(
      () => query("?before_seq=0"),
      400,
      "invalid_query",
      'Query parameter "before_seq" must be an integer from 1 to 1000000',
    ));
  await t.step("offset=-0", () =>
    expectChatError(
      () => query("?offset=-0"),
      400,
      "invalid_query",
      'Query parameter "offset" must be an integer from 0 to 1000000',
    ));
});

Deno.test("integerQuery() accepts 15-digit values when the range allows", () => {
  const url = new URL("http://localhost/?seq=999999999999999");
  assert.deepEqual(integerQuery(url, { seq: { min: 0, max: Number.MAX_SAFE_INTEGER } }), {
    seq: 999_999_999_999_999,
  });
});

Deno.test("readJson() accepts application/json with parameters but not its relatives", async () => {
  const request = (type: string) =>
    new Request("http://x/", { method: "POST", headers: { "content-type": type }, body: "{}" });
  assert.deepEqual(await readJson(request("application/json; charset=utf-8")), {});
  assert.deepEqual(await readJson(request("Application/JSON")), {});
  for (const type of ["application/json-seq", "application/json-patch+json", "application/jsonx"]) {
    await assert.rejects(
      readJson(request(type)),
      (e: ChatError) => e.status === 415 && e.code === "unsupported_media_type",
    );
  }
});

Deno.test("FieldProblems reports every field at once; the code is the first problem of the lowest status", () => {
  const problems = new FieldProblems();
  problems.throwIfAny(); // nothing recorded: nothing thrown
  problems.add("username", "That username is taken", "username_taken");
  problems.add("email", "Enter an email address like name@example.com");
  problems.add("email", "a second problem of a field is dropped");
  assert.equal(problems.check("password", () => "kept"), "kept");
  assert.equal(problems.check("bio", () => requiredString({}, "bio", 1, 5)), undefined);
  problems.check("topic", () => requiredString({ topic: "" }, "topic", 1, 5), "Enter a topic");
  assert.throws(() => problems.check("bug", () => JSON.parse("{")), SyntaxError, "not a refusal: rethrown");
  let thrown: unknown;
  try {
    problems.throwIfAny();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof ChatError);
  assert.deepEqual([thrown.status, thrown.code, thrown.message], [
    400,
    "invalid_email",
    "Enter an email address like name@example.com",
  ]);
  assert.deepEqual(thrown.fields, {
    username: "That username is taken",
    email: "Enter an email address like name@example.com",
    bio: '"bio" is required',
    topic: "Enter a topic",
  });
});

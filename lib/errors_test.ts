import assert from "node:assert/strict";
import { ChatError, errorFrameOf, errorResponse, ERRORS, httpErrorOf, isUnexpected } from "./errors.ts";
import { StoreUnavailableError } from "./storage/errors.ts";

Deno.test("`httpErrorOf()` answers a `ChatError` with its row's status, its code and its message", () => {
  const { status, body, headers } = httpErrorOf(new ChatError("room_not_found"));
  assert.deepEqual([status, body, headers], [404, {
    error: { code: "room_not_found", message: "Room not found" },
  }, {}]);
  const field = httpErrorOf(new ChatError("invalid_name", '"name" must not be blank'));
  assert.deepEqual([field.status, field.body.error.code], [400, "invalid_name"]);
  const fields = { name: "Enter a name", topic: "Topic is too long" };
  assert.deepEqual(httpErrorOf(new ChatError("invalid_name", "Enter a name", { fields })).body, {
    error: { code: "invalid_name", message: "Enter a name", fields },
  });
});

Deno.test("`httpErrorOf()` sets Retry-After from `retryAfterMs` (rounded up to whole seconds, at least 1)", () => {
  const limited = new ChatError("rate_limited", undefined, { retryAfterMs: 1_200 });
  assert.deepEqual(httpErrorOf(limited).headers, { "Retry-After": "2" });
  assert.deepEqual(httpErrorOf(new ChatError("too_many_requests", "x", { retryAfterMs: 10 })).headers, {
    "Retry-After": "1",
  });
  assert.deepEqual(httpErrorOf(new StoreUnavailableError("MongoDB is unavailable")).headers, {
    "Retry-After": "2",
  });
});

Deno.test("anything but a `ChatError` becomes a retryable `internal_error` that says nothing of its cause", async () => {
  const response = errorResponse(new Error("secret: connection string"));
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), {
    error: { code: "internal_error", message: "Internal server error; try again" },
  });
  assert.deepEqual(errorFrameOf(new TypeError("x"), { room_id: "r1" }), {
    type: "error",
    code: "internal_error",
    message: "Internal server error; try again",
    retryable: true,
    room_id: "r1",
  });
  assert.equal(isUnexpected(new TypeError("x")), true);
  assert.equal(isUnexpected(new ChatError("room_not_found")), false);
});

Deno.test("`errorFrameOf()` carries retryable, retry_after_ms and the context; the store's detail stays in logs", () => {
  assert.deepEqual(
    errorFrameOf(new ChatError("rate_limited", undefined, { retryAfterMs: 500 }), {
      room_id: "r",
      client_id: "c",
    }),
    {
      type: "error",
      code: "rate_limited",
      message: "Too many messages; slow down",
      retryable: true,
      retry_after_ms: 500,
      room_id: "r",
      client_id: "c",
    },
  );
  const down = new StoreUnavailableError("MongoDB is unavailable", { cause: new Error("ECONNREFUSED") });
  const frame = errorFrameOf(down);
  assert.equal(frame.code, "store_unavailable");
  assert.equal(frame.retryable, true);
  assert.ok(!frame.message.includes("MongoDB"));
  assert.equal(down.detail, "MongoDB is unavailable");
});

Deno.test("the README's error table lists every code of `ERRORS` with its status and retryability", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const rows = new Map<string, string[]>();
  for (const match of readme.matchAll(/^\| `([a-z_<>]+)` +\| (\d{3}) +\| (yes|no) +\|/gm)) {
    rows.set(match[1], [match[2], match[3]]);
  }
  for (const [code, row] of Object.entries(ERRORS)) {
    assert.deepEqual(rows.get(code), [String(row.status), row.retryable ? "yes" : "no"], code);
  }
  assert.deepEqual(rows.get("invalid_<field>"), ["400", "no"]);
  assert.equal(rows.size, Object.keys(ERRORS).length + 1, "no row for a code that does not exist");
});

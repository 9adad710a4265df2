import assert from "node:assert/strict";
import type { Context } from "hono";
import { ChatError } from "../errors.ts";
import type { PageInit } from "../fresh/mod.ts";
import { StoreUnavailableError } from "../storage/errors.ts";
import { errorHandler, type ErrorPages, notFoundHandler } from "./error_handler.ts";
import { webTestApp } from "./testing/test_utils.ts";

/** Stand-ins for `_404` and `_500` that say what they were asked to render. */
const pages: ErrorPages = {
  notFoundPage: (c: Context) =>
    new Response(`<p>404 page for ${c.req.path}</p>`, {
      status: 404,
      headers: { "content-type": "text/html; charset=utf-8" },
    }),
  errorPage: (_c: Context, error: unknown, init: PageInit = {}) =>
    new Response(`<p>500 page for ${(error as Error).name}</p>`, {
      status: init.status ?? 500,
      headers: { "content-type": "text/html; charset=utf-8", ...init.headers },
    }),
};

/** An app whose every route throws `error`. */
function throwing(error: Error, withPages: boolean) {
  const test = webTestApp();
  test.app.all("*", () => {
    throw error;
  });
  test.app.onError(errorHandler(test.services.log, withPages ? pages : undefined));
  return test;
}

async function answer(response: Response) {
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    retryAfter: response.headers.get("retry-after"),
    body: await response.text(),
  };
}

Deno.test("errorHandler() answers the API and the socket with the error table's JSON", async (t) => {
  for (const path of ["/api/rooms", "/api", "/ws"]) {
    await t.step(path, async () => {
      const limited = throwing(new ChatError("rate_limited", "Slow down", { retryAfterMs: 1_500 }), true);
      assert.deepEqual(await answer(await limited.app.request(path)), {
        status: 429,
        type: "application/json",
        retryAfter: "2",
        body: '{"error":{"code":"rate_limited","message":"Slow down"}}',
      });
      const bug = throwing(new Error("secret detail"), true);
      assert.deepEqual(await answer(await bug.app.request(path)), {
        status: 500,
        type: "application/json",
        retryAfter: null,
        body: '{"error":{"code":"internal_error","message":"Internal server error; try again"}}',
      });
    });
  }
});

Deno.test("errorHandler() answers pages with _404 for a 404, _500 for a 5xx, and text for other refusals", async (t) => {
  await t.step("a 404 is the _404 page", async () => {
    const { app } = throwing(new ChatError("room_not_found"), true);
    assert.deepEqual(await answer(await app.request("/rooms/x")), {
      status: 404,
      type: "text/html; charset=utf-8",
      retryAfter: null,
      body: "<p>404 page for /rooms/x</p>",
    });
  });
  await t.step("anything unexpected is the _500 page, status 500", async () => {
    const { app } = throwing(new TypeError("secret detail"), true);
    const got = await answer(await app.request("/rooms"));
    assert.deepEqual(got, {
      status: 500,
      type: "text/html; charset=utf-8",
      retryAfter: null,
      body: "<p>500 page for TypeError</p>",
    });
  });
  await t.step("a store outage is the _500 page with the table's 503 and Retry-After", async () => {
    const { app } = throwing(new StoreUnavailableError("down"), true);
    assert.deepEqual(await answer(await app.request("/rooms")), {
      status: 503,
      type: "text/html; charset=utf-8",
      retryAfter: "2",
      body: "<p>500 page for StoreUnavailableError</p>",
    });
  });
  await t.step("another refusal is its message as text, with the table's status", async () => {
    const { app } = throwing(new ChatError("origin_not_allowed"), true);
    assert.deepEqual(await answer(await app.request("/profile", { method: "POST" })), {
      status: 403,
      type: "text/plain;charset=UTF-8",
      retryAfter: null,
      body: "Cross-origin request refused",
    });
  });
});

Deno.test("errorHandler() without pages answers JSON for every path", async () => {
  const { app } = throwing(new ChatError("room_not_found"), false);
  const response = await app.request("/rooms/x");
  assert.deepEqual([response.status, await response.json()], [404, {
    error: { code: "room_not_found", message: "Room not found" },
  }]);
});

Deno.test("errorHandler() logs an outage as a warning and the unexpected as an error, never a refusal", async () => {
  for (
    const [error, logged] of [
      [new ChatError("forbidden"), []],
      [new StoreUnavailableError("down"), ["warn Store unavailable"]],
      [new Error("bug"), ["error Unhandled error"]],
    ] as const
  ) {
    const { app, logs } = throwing(error, true);
    await (await app.request("/api/x")).body?.cancel();
    await (await app.request("/page")).body?.cancel();
    assert.deepEqual(logs.map((l) => `${l.level} ${l.message}`), [...logged, ...logged]);
    for (const { fields } of logs) assert.ok(fields.path === "/api/x" || fields.path === "/page");
  }
});

Deno.test("notFoundHandler() answers a JSON 404 naming the request, or the _404 page for a page", async () => {
  const { app } = webTestApp();
  app.notFound(notFoundHandler(pages));
  const api = await app.request("/api/nope", { method: "DELETE" });
  assert.deepEqual([api.status, await api.json()], [404, {
    error: { code: "not_found", message: "No route for DELETE /api/nope" },
  }]);
  const page = await app.request("/nope");
  assert.deepEqual([page.status, await page.text()], [404, "<p>404 page for /nope</p>"]);

  const { app: bare } = webTestApp();
  bare.notFound(notFoundHandler());
  assert.equal((await (await bare.request("/nope")).json()).error.code, "not_found");
});

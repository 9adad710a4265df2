import assert from "node:assert/strict";
import { parseRoutePath, patternOf, Router, splitPath } from "./router.ts";

function routerOf(...paths: string[]): Router<string> {
  return new Router(paths.map((path) => ({ segments: parseRoutePath(path), value: path })));
}

Deno.test("parseRoutePath() maps index, [param] and [...rest] file names to patterns", async (t) => {
  for (
    const [path, pattern] of [
      ["index", "/"],
      ["about", "/about"],
      ["rooms/index", "/rooms"],
      ["rooms/[id]", "/rooms/:id"],
      ["rooms/[id]/messages", "/rooms/:id/messages"],
      ["docs/[...slug]", "/docs/:slug*"],
    ]
  ) {
    await t.step(path, () => assert.equal(patternOf(parseRoutePath(path)), pattern));
  }
});

Deno.test("parseRoutePath() rejects a catch-all that is not last and stray brackets", () => {
  assert.throws(() => parseRoutePath("[...rest]/x"), /must be the last segment/);
  assert.throws(() => parseRoutePath("a[b"), /Invalid route segment/);
});

Deno.test("Router.match() prefers static over param over catch-all", async (t) => {
  const router = routerOf("[...all]", "rooms/[id]", "rooms/new", "rooms/[...rest]", "rooms/index", "index");
  for (
    const [path, value, params] of [
      ["/", "index", {}],
      ["/rooms", "rooms/index", {}],
      ["/rooms/new", "rooms/new", {}],
      ["/rooms/42", "rooms/[id]", { id: "42" }],
      ["/rooms/42/x", "rooms/[...rest]", { rest: "42/x" }],
      ["/other/a/b", "[...all]", { all: "other/a/b" }],
    ] as const
  ) {
    await t.step(path, () => assert.deepEqual(router.match(splitPath(path)), { value, params }));
  }
});

Deno.test("Router.match() decodes params and answers undefined when nothing matches", () => {
  const router = routerOf("rooms/[id]");
  assert.deepEqual(router.match(splitPath("/rooms/a%20b%2Fc")), {
    value: "rooms/[id]",
    params: { id: "a b/c" },
  });
  assert.equal(router.match(splitPath("/rooms")), undefined);
  assert.equal(router.match(splitPath("/rooms/1/2")), undefined);
  assert.equal(router.match(splitPath("/rooms/")), undefined);
});

Deno.test("splitPath() throws URIError on malformed encoding", () => {
  assert.throws(() => splitPath("/rooms/%E0%A4%A"), URIError);
});

Deno.test("new Router() rejects two routes of the same shape", () => {
  assert.throws(() => routerOf("rooms/[id]", "rooms/[name]"), /Two routes have the shape \/rooms\/:name/);
  assert.throws(() => routerOf("rooms", "rooms/index"), /Two routes/);
});

Deno.test("Router.routes lists the routes in matching order", () => {
  const router = routerOf("[id]", "about", "[...rest]");
  assert.deepEqual(router.routes.map((r) => r.value), ["about", "[id]", "[...rest]"]);
});

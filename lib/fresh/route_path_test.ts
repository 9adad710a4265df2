import assert from "node:assert/strict";
import { Hono } from "hono";
import { honoPaths, parseRoutePath, patternOf, sortRoutes } from "./route_path.ts";

/** A Hono app with one route per file path, registered as `Fresh.fsRoutes()` does; answers name and params. */
function appOf(...paths: string[]): Hono {
  const app = new Hono();
  const routes = sortRoutes(paths.map((path) => ({ path, segments: parseRoutePath(path) })));
  for (const { path, segments } of routes) {
    const last = segments.at(-1);
    const rest = last?.kind === "rest" ? last.name : undefined;
    for (const honoPath of honoPaths(segments)) {
      app.all(honoPath, (c) => {
        const params: Record<string, string> = c.req.param();
        if (rest !== undefined) params[rest] ??= "";
        return c.json({ value: path, params });
      });
    }
  }
  return app;
}

async function match(app: Hono, path: string): Promise<unknown> {
  const response = await app.request(path);
  return response.status === 404 ? undefined : await response.json();
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

Deno.test("honoPaths() gives the Hono paths of a route; a catch-all also answers without its segment", () => {
  assert.deepEqual(honoPaths(parseRoutePath("index")), ["/"]);
  assert.deepEqual(honoPaths(parseRoutePath("rooms/[id]/messages")), ["/rooms/:id/messages"]);
  assert.deepEqual(honoPaths(parseRoutePath("docs/[...slug]")), ["/docs", "/docs/:slug{.+}"]);
  assert.deepEqual(honoPaths(parseRoutePath("[...all]")), ["/", "/:all{.+}"]);
});

Deno.test("routes registered on Hono in sortRoutes() order prefer static over param over catch-all", async (t) => {
  const app = appOf("[...all]", "rooms/[id]", "rooms/new", "rooms/[...rest]", "rooms/index", "index");
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
    await t.step(path, async () => assert.deepEqual(await match(app, path), { value, params }));
  }
  await t.step("a catch-all without its segment gets an empty rest", async () => {
    assert.deepEqual(await match(appOf("docs/[...slug]"), "/docs"), {
      value: "docs/[...slug]",
      params: { slug: "" },
    });
  });
});

Deno.test("routes registered on Hono get decoded params and do not match other lengths", async () => {
  const app = appOf("rooms/[id]");
  assert.deepEqual(await match(app, "/rooms/a%20b%2Fc"), { value: "rooms/[id]", params: { id: "a b/c" } });
  assert.deepEqual(await match(app, "/rooms/100%2525"), { value: "rooms/[id]", params: { id: "100%25" } });
  assert.equal(await match(app, "/rooms"), undefined);
  assert.equal(await match(app, "/rooms/1/2"), undefined);
  assert.equal(await match(app, "/rooms/"), undefined);
});

Deno.test("sortRoutes() rejects two routes of the same shape", () => {
  const sort = (...paths: string[]) => sortRoutes(paths.map((path) => ({ segments: parseRoutePath(path) })));
  assert.throws(() => sort("rooms/[id]", "rooms/[name]"), /Two routes have the shape \/rooms\/:name/);
  assert.throws(() => sort("rooms", "rooms/index"), /Two routes/);
});

Deno.test("sortRoutes() lists the routes in matching order", () => {
  const sorted = sortRoutes(
    ["[id]", "about", "[...rest]"].map((path) => ({ path, segments: parseRoutePath(path) })),
  );
  assert.deepEqual(sorted.map((r) => r.path), ["about", "[id]", "[...rest]"]);
});

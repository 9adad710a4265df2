import assert from "node:assert/strict";
import { Hono } from "hono";
import { createFresh } from "./app.ts";
import { pageHeaders } from "./headers.ts";
import { fixture, fixtureApp } from "./testing/test_utils.ts";

const ROUTES = {
  "routes/_app.tsx": `
    import type { AppProps } from "$fresh";
    export default function App({ Component, state }: AppProps<{ trail: string[] }>) {
      return <html lang="en"><head><title>Test</title></head><body data-trail={state.trail.join(",")}><Component /></body></html>;
    }`,
  "routes/_middleware.ts": `
    export const handler = async (ctx) => {
      ctx.state.trail.push("root");
      const response = await ctx.next();
      response.headers.set("x-root", "seen");
      return response;
    };`,
  "routes/index.tsx": `export default function Home() { return <h1>Home</h1>; }`,
  "routes/about.tsx": `
    export const handler = (ctx) => new Response("about via " + ctx.req.method);`,
  "routes/rooms/_middleware.ts": `
    export const handler = [
      (ctx) => { ctx.state.trail.push("rooms"); return ctx.next(); },
      (ctx) => ctx.req.headers.get("x-block") ? new Response("blocked", { status: 403 }) : ctx.next(),
    ];`,
  "routes/rooms/new.tsx": `export default () => <p>new room</p>;`,
  "routes/rooms/[id].tsx": `
    import { page } from "$fresh";
    export const handler = {
      GET: (ctx) => page({ id: ctx.params.id, trail: ctx.state.trail.join("+") }, { headers: { "x-page": "1" } }),
      POST: (ctx) => Response.json({ posted: ctx.params.id }, { status: 201 }),
    };
    export default function Room({ data }) { return <p>room {data.id} after {data.trail}</p>; }`,
  "routes/docs/[...slug].tsx": `
    export const handler = (ctx) => Response.json(ctx.params);`,
  "routes/api/ping.ts": `
    export const handler = { GET: () => new Response("pong"), DELETE: () => new Response(null, { status: 204 }) };`,
  "routes/twice/_middleware.ts": `
    export const handler = async (ctx) => { await ctx.next(); return await ctx.next(); };`,
  "routes/twice/index.tsx": `export default () => <p>twice</p>;`,
  "routes/fail.tsx": `
    export const handler = () => { throw new Error("secret database password in here"); };`,
  "routes/no_page.ts": `
    import { page } from "$fresh";
    export const handler = () => page({});`,
  "routes/created.tsx": `
    import { page } from "$fresh";
    export const handler = () => page("made", { status: 201 });
    export default ({ data }) => <p>{data}</p>;`,
  "routes/_ignored.tsx": `export default () => <p>ignored</p>;`,
  "routes/index_test.tsx": `throw new Error("test files are not routes");`,
};

const state = () => ({ trail: [] as string[] });

Deno.test("createFresh() lists the routes most specific first", async () => {
  await using project = await fixtureApp(ROUTES, { initialState: state });
  const patterns = project.fresh.routes.map((r) => r.pattern);
  assert.deepEqual(patterns.filter((p) => p.startsWith("/rooms")), ["/rooms/new", "/rooms/:id"]);
  assert.ok(
    project.fresh.routes.some((r) => r.pattern === "/docs/:slug*" && r.file === "routes/docs/[...slug].tsx"),
  );
  assert.equal(patterns.includes("/_ignored"), false);
  assert.match(project.fresh.buildId, /^[0-9a-f]{12}$/);
});

Deno.test("Fresh.fsRoutes() routes by file name", async (t) => {
  await using project = await fixtureApp(ROUTES, { initialState: state });

  await t.step("index and static segments", async () => {
    assert.match(await (await project.request("/")).text(), /<h1>Home<\/h1>/);
    assert.match(await (await project.request("/rooms/new")).text(), /new room/);
  });
  await t.step("[id] gets the decoded param", async () => {
    const response = await project.request("/rooms/caf%C3%A9%20%2F%201");
    assert.equal(response.status, 200);
    assert.match(await response.text(), /room café \/ 1 after/);
  });
  await t.step("[...slug] gets the rest of the path", async () => {
    assert.deepEqual(await (await project.request("/docs/a/b%20c")).json(), { slug: "a/b c" });
    assert.deepEqual(await (await project.request("/docs")).json(), { slug: "" });
  });
  await t.step("malformed encoding is a 400", async () => {
    assert.equal((await project.request("/rooms/%E0%A4%A")).status, 400);
  });
  await t.step("a trailing slash redirects with 308, keeping the query", async () => {
    const response = await project.request("/rooms/new/?a=1");
    assert.equal(response.status, 308);
    assert.equal(response.headers.get("location"), "/rooms/new?a=1");
  });
  await t.step("a trailing-slash redirect never points to another host", async () => {
    const response = await project.request("//evil.example/");
    assert.equal(response.headers.get("location"), "/evil.example");
  });
  await t.step("_* files and *_test files are not routes", async () => {
    assert.equal((await project.request("/_ignored")).status, 404);
    assert.equal((await project.request("/index_test")).status, 404);
  });
});

Deno.test("Fresh.fsRoutes() runs folder middleware outermost first, sharing state", async (t) => {
  await using project = await fixtureApp(ROUTES, { initialState: state });

  await t.step("root, then rooms, then the route", async () => {
    const response = await project.request("/rooms/7");
    const html = await response.text();
    assert.match(html, /room 7 after root\+rooms/);
    assert.match(html, /<body data-trail="root,rooms">/);
    assert.equal(response.headers.get("x-root"), "seen");
  });
  await t.step("a middleware can answer itself", async () => {
    const response = await project.request("/rooms/7", { headers: { "x-block": "1" } });
    assert.equal(response.status, 403);
    assert.equal(response.headers.get("x-root"), "seen");
  });
  await t.step("state starts fresh for every request", async () => {
    assert.match(await (await project.request("/rooms/8")).text(), /after root\+rooms</);
  });
  await t.step("root middleware runs for unmatched paths, then the 404", async () => {
    const response = await project.request("/nowhere");
    assert.equal(response.status, 404);
    assert.equal(response.headers.get("x-root"), "seen");
    assert.match(await response.text(), /404 Not Found/);
  });
  await t.step("next() twice is a 500", async () => {
    const errors: unknown[] = [];
    await using other = await fixtureApp(ROUTES, {
      initialState: state,
      onError: (error) => errors.push(error),
    });
    assert.equal((await other.request("/twice")).status, 500);
    assert.match(String(errors[0]), /next\(\) called multiple times/);
  });
});

Deno.test("Fresh.fsRoutes() dispatches by method", async (t) => {
  await using project = await fixtureApp(ROUTES, { initialState: state });

  await t.step("a handler function answers every method", async () => {
    assert.equal(await (await project.request("/about", { method: "PUT" })).text(), "about via PUT");
  });
  await t.step("per-method handlers", async () => {
    const response = await project.request("/rooms/3", { method: "POST" });
    assert.equal(response.status, 201);
    assert.deepEqual(await response.json(), { posted: "3" });
    assert.equal((await project.request("/api/ping", { method: "DELETE" })).status, 204);
  });
  await t.step("GET answers HEAD without a body", async () => {
    const response = await project.request("/api/ping", { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(response.body, null);
    const page = await project.request("/rooms/3", { method: "HEAD" });
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.body, null);
  });
  await t.step("a missing method is a 405 with a sorted Allow", async () => {
    const response = await project.request("/api/ping", { method: "POST" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "DELETE, GET, HEAD");
    await response.body?.cancel();
  });
  await t.step("a page without handler answers GET and HEAD only", async () => {
    const response = await project.request("/rooms/new", { method: "POST" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    await response.body?.cancel();
  });
});

Deno.test("Fresh.fsRoutes() renders page(data) inside _app; pageHeaders() adds the security headers", async () => {
  await using project = await fixtureApp(ROUTES, { initialState: state });
  const response = await project.request("/rooms/5");
  const html = await response.text();
  assert.equal(response.status, 200);
  assert.ok(html.startsWith('<!DOCTYPE html><html lang="en"><head><title>Test</title></head>'));
  assert.match(html, /<p>room 5 after root\+rooms<\/p><\/body><\/html>$/);
  assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
  assert.match(response.headers.get("content-security-policy")!, /^default-src 'self'; script-src 'self';/);
  assert.match(response.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(response.headers.get("referrer-policy"), "same-origin");
  assert.equal(response.headers.get("x-page"), "1");
  assert.doesNotMatch(html, /<script/);

  const created = await project.request("/created");
  assert.equal(created.status, 201);
  assert.match(await created.text(), /<p>made<\/p>/);
});

Deno.test("Fresh.fsRoutes() renders a minimal document without _app; pageHeaders() takes another policy", async () => {
  await using project = await fixtureApp({ "routes/index.tsx": `export default () => <main>hi</main>;` }, {
    csp: { defaultSrc: ["'none'"] },
  });
  const response = await project.request("/");
  assert.equal(
    await response.text(),
    '<!DOCTYPE html><html><head><meta charset="utf-8"/><meta name="viewport" ' +
      'content="width=device-width, initial-scale=1"/></head><body><main>hi</main></body></html>',
  );
  assert.equal(response.headers.get("content-security-policy"), "default-src 'none'");
});

Deno.test("Fresh.errorPage() answers 500 without revealing the error; the error reaches the error handler", async (t) => {
  const errors: unknown[] = [];
  await using project = await fixtureApp(ROUTES, {
    initialState: state,
    onError: (error) => errors.push(error),
  });

  await t.step("a throwing handler", async () => {
    const response = await project.request("/fail");
    const html = await response.text();
    assert.equal(response.status, 500);
    assert.match(html, /500 Internal Server Error/);
    assert.doesNotMatch(html, /secret|database|at /);
    assert.match(response.headers.get("content-security-policy")!, /default-src/);
    assert.match(String(errors.at(-1)), /secret database password/);
  });
  await t.step("page() from a route without a component", async () => {
    assert.equal((await project.request("/no_page")).status, 500);
    assert.match(
      String(errors.at(-1)),
      /routes\/no_page\.ts returned page\(data\), but the file has no default/,
    );
  });
});

Deno.test("Fresh.notFoundPage() and errorPage() render _404.tsx and _500.tsx when present", async () => {
  const errors: unknown[] = [];
  await using project = await fixtureApp({
    "routes/_404.tsx": `export default ({ url }) => <p>No page at {url.pathname}</p>;`,
    "routes/_500.tsx": `export default ({ data }) => <p>Sorry ({data instanceof Error ? "error" : "?"})</p>;`,
    "routes/boom.tsx": `export default () => { throw new Error("render failed"); };`,
  }, { onError: (error) => errors.push(error) });
  const missing = await project.request("/missing");
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /No page at \/missing/);
  const failed = await project.request("/boom");
  assert.equal(failed.status, 500);
  assert.match(await failed.text(), /<p>Sorry \(error\)<\/p>/);
  assert.match(String(errors[0]), /render failed/);
});

Deno.test("Fresh.errorPage() falls back to a plain 500 when _app itself throws", async () => {
  await using project = await fixtureApp({
    "routes/_app.tsx": `export default () => { throw new Error("layout broke"); };`,
    "routes/index.tsx": `export default () => <p>hi</p>;`,
  });
  const response = await project.request("/");
  assert.equal(response.status, 500);
  assert.doesNotMatch(await response.text(), /layout broke/);
});

Deno.test("createFresh() rejects route files that export nothing usable", async () => {
  await assert.rejects(
    fixtureApp({ "routes/empty.ts": `export const x = 1;` }),
    /routes\/empty\.ts exports neither "handler" nor a default page component/,
  );
});

Deno.test("Fresh.fsRoutes() makes each file route a route of the Hono app; ctx.state is c.var", async (t) => {
  await using project = await fixture({
    "routes/_middleware.ts": `
      export const handler = (ctx) => { ctx.state.trail = [...(ctx.state.trail ?? []), "root"]; return ctx.next(); };`,
    "routes/rooms/[id].tsx": `
      import { page } from "$fresh";
      export const handler = (ctx) => {
        ctx.state.title = "Room " + ctx.params.id;
        return page({ who: ctx.state.who, trail: ctx.state.trail.join("+"), has: "who" in ctx.state });
      };
      export default ({ data }) => <p>{data.who} {data.trail} {String(data.has)}</p>;`,
  });
  const fresh = await createFresh({ root: project.root });
  const app = new Hono<{ Variables: { who: string; title?: string; trail?: string[] } }>();
  const seen: (string | undefined)[] = [];
  app.use(async (c, next) => {
    c.set("who", "hono");
    await next();
    seen.push(c.get("title"));
  });
  fresh.fsRoutes(app);

  await t.step("the route is registered on the app under its Hono path, then the catch-all", () => {
    const paths = app.routes.map((r) => `${r.method} ${r.path}`);
    assert.ok(paths.includes("ALL /rooms/:id"));
    assert.equal(paths.at(-1), "ALL /*");
  });
  await t.step("Hono middleware and the page share one state, both ways", async () => {
    const response = await app.request("/rooms/7");
    assert.match(await response.text(), /<p>hono root true<\/p>/);
    assert.deepEqual(seen, ["Room 7"]);
  });
});

Deno.test("pageHeaders() adds the page CSP, nosniff and Referrer-Policy to HTML only, keeping a page's own", async () => {
  const app = new Hono();
  app.use(pageHeaders());
  app.get(
    "/page",
    () => new Response("<p>hi</p>", { headers: { "content-type": "text/html; charset=utf-8" } }),
  );
  app.get("/own", () =>
    new Response("<p>hi</p>", {
      headers: { "content-type": "text/html", "referrer-policy": "no-referrer" },
    }));
  app.get("/redirect", () => new Response(null, { status: 303, headers: { location: "/page" } }));
  app.get("/text", () => new Response("Unknown form", { status: 400 }));

  const page = await app.request("/page");
  assert.deepEqual(Object.fromEntries(page.headers), {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; " +
      "img-src 'self' data: https:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
      "frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
  });
  assert.equal((await app.request("/own")).headers.get("referrer-policy"), "no-referrer");
  for (const path of ["/redirect", "/text"]) {
    const response = await app.request(path);
    assert.equal(response.headers.get("content-security-policy"), null, path);
    assert.equal(response.headers.get("referrer-policy"), null, path);
    await response.body?.cancel();
  }
});

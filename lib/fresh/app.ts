/**
 * The web layer on a Hono app: the island bundles and `static/` files as one middleware, every file route as a
 * Hono route (its folders' `_middleware.ts` first), and the `_404` / `_500` pages for the app's error handler.
 * Routes and islands are discovered and imported once, at startup.
 */
import { join } from "node:path";
import type { Context as HonoContext, Env, Hono, MiddlewareHandler } from "hono";
import type { ComponentType } from "preact";
import { loadPrebuilt } from "./build.ts";
import { buildIdOf, bundleIslands, CLIENT_FILE, type IslandBuild } from "./bundle.ts";
import { contextOf, honoHandler, honoMiddleware } from "./context.ts";
import { DefaultNotFound, DefaultServerError, PLAIN_SERVER_ERROR } from "./error_pages.tsx";
import { loadRoutes } from "./fs_routes.ts";
import { routeHandler } from "./handlers.ts";
import { type IslandFile, loadIslands } from "./islands.ts";
import { htmlResponse, renderDocument } from "./render.tsx";
import { honoPaths } from "./route_path.ts";
import { staticFiles } from "./static.ts";
import type { Context, FreshOptions, FsRoutesOptions, PageInit, PageProps } from "./types.ts";

/** The layer of one project: hand its pieces to a Hono app. */
export interface Fresh {
  /** The discovered routes, most specific first: `{ pattern: "/rooms/:id", file: "routes/rooms/[id].tsx" }`. */
  routes: { pattern: string; file: string }[];
  /** A short hash of the island bundles; part of their URLs. */
  buildId: string;
  /**
   * Middleware answering `/_fresh/js/<buildId>/…` (immutable island bundles, 404 for anything else there) and
   * GET/HEAD of `static/` files; every other request goes on.
   */
  staticFiles: MiddlewareHandler;
  /**
   * Registers every file route on `app`, most specific first, each behind its folders' `_middleware.ts`
   * (outermost first), then a catch-all that runs the root `_middleware.ts` and renders `_404`. A path with
   * malformed percent-encoding is a 400. Register it after the middleware pages share.
   */
  fsRoutes<E extends Env>(app: Hono<E>, options?: FsRoutesOptions<E["Variables"]>): void;
  /** The `_404` page (or a default one), status 404. */
  notFoundPage(c: HonoContext): Response;
  /** The `_500` page (or a default one) for `error`, which it never shows; status 500 unless `init` says. */
  errorPage(c: HonoContext, error: unknown, init?: PageInit): Response;
}

/**
 * Discovers routes and islands under `options.root` and bundles the islands (or loads `prebuiltDir`).
 *
 * ```ts
 * const fresh = await createFresh({ root: import.meta.dirname! });
 * const app = new Hono();
 * app.use(fresh.staticFiles, trailingSlashes(), pageHeaders());
 * fresh.fsRoutes(app);
 * app.onError((error, c) => fresh.errorPage(c, error));
 * Deno.serve(app.fetch);
 * ```
 */
export async function createFresh(options: FreshOptions): Promise<Fresh> {
  // The layer serves any project: its pages' data and state are the project's business.
  // deno-lint-ignore no-explicit-any
  type State = any;
  // deno-lint-ignore no-explicit-any
  type AnyPage = ComponentType<PageProps<any, State>>;
  const tree = await loadRoutes<State>(options.root);
  const islandFiles = await loadIslands(options.root);
  const build = await loadBuild(islandFiles, options);
  const jsBase = `/_fresh/js/${build.buildId}/`;
  const islands = new Map(
    islandFiles.map(({ name, component }) => [component, { name, src: jsBase + build.islands[name] }]),
  );
  const serveStatic = staticFiles(join(options.root, "static"));

  function render(
    component: AnyPage,
    ctx: Context<State>,
    data: unknown,
    init: PageInit,
  ) {
    const props = { data, params: ctx.params, url: ctx.url, state: ctx.state };
    const html = renderDocument({
      app: tree.app,
      component,
      props,
      islands,
      clientSrc: jsBase + CLIENT_FILE,
    });
    return htmlResponse(html, init);
  }

  const notFoundPage = (c: HonoContext) =>
    render(tree.notFound ?? DefaultNotFound, contextOf(c), undefined, { status: 404 });

  return {
    routes: tree.routes.map(({ pattern, file }) => ({ pattern, file })),
    buildId: build.buildId,

    async staticFiles(c, next) {
      const url = new URL(c.req.url);
      if (url.pathname.startsWith("/_fresh/js/")) return serveBundle(build, jsBase, c.req.raw, url);
      const file = await serveStatic(c.req.raw, url);
      if (file) return file;
      await next();
    },

    fsRoutes(app, fsOptions = {}) {
      const { initialState } = fsOptions;
      // deno-lint-ignore no-explicit-any
      const hono = app as Hono<any>;
      /** The first step of every chain: a well-formed path, the route's params and the initial state. */
      const startOf = (rest?: string): MiddlewareHandler => async (c, next) => {
        try {
          new URL(c.req.url).pathname.split("/").forEach((part) => decodeURIComponent(part));
        } catch {
          return new Response("Bad Request: malformed URL encoding", { status: 400 });
        }
        const ctx = contextOf(c);
        ctx.params = { ...c.req.param() };
        if (rest !== undefined) ctx.params[rest] ??= "";
        for (const [key, value] of Object.entries(initialState?.() ?? {})) {
          if (c.get(key) === undefined) c.set(key, value);
        }
        await next();
      };
      const renderPage = (
        component: AnyPage,
        result: { data: unknown } & PageInit,
        ctx: Context<State>,
      ) => render(component, ctx, result.data, { status: result.status, headers: result.headers });
      for (const route of tree.routes) {
        const last = route.segments.at(-1);
        const chain = [
          startOf(last?.kind === "rest" ? last.name : undefined),
          ...route.middlewares.map(honoMiddleware),
        ];
        const handler = honoHandler(routeHandler(route, renderPage));
        // One registration per step: Hono runs a path's handlers in the order they were added.
        for (const path of honoPaths(route.segments)) {
          for (const step of [...chain, handler]) hono.all(path, step);
        }
      }
      for (const step of [startOf(), ...tree.rootMiddlewares.map(honoMiddleware)]) hono.all("*", step);
      hono.all("*", notFoundPage);
    },

    notFoundPage,

    errorPage(c, error, init = {}) {
      const status = init.status ?? 500;
      try {
        return render(tree.error ?? DefaultServerError, contextOf(c), error, { ...init, status });
      } catch (renderError) {
        try {
          options.onError?.(renderError, c.req.raw);
        } catch {
          // A failing error reporter must not turn a 500 page into a crash.
        }
        return htmlResponse(PLAIN_SERVER_ERROR, { ...init, status });
      }
    },
  };
}

/** The prebuilt bundles when `prebuiltDir` holds a manifest, otherwise a fresh bundle (none without islands). */
async function loadBuild(islands: IslandFile[], options: FreshOptions): Promise<IslandBuild> {
  const prebuilt = options.prebuiltDir ? await loadPrebuilt(options.prebuiltDir) : undefined;
  if (prebuilt) {
    const missing = islands.filter(({ name }) => !prebuilt.islands[name]).map(({ name }) => name);
    if (missing.length > 0) {
      throw new Error(`${options.prebuiltDir} has no bundle for island(s) ${missing.join(", ")}; rebuild it`);
    }
    return prebuilt;
  }
  if (islands.length === 0) return { buildId: await buildIdOf(new Map()), files: new Map(), islands: {} };
  return await bundleIslands(islands, { dev: options.dev });
}

function serveBundle(build: IslandBuild, jsBase: string, req: Request, url: URL): Response {
  const file = url.pathname.startsWith(jsBase)
    ? build.files.get(url.pathname.slice(jsBase.length))
    : undefined;
  if (!file || (req.method !== "GET" && req.method !== "HEAD")) {
    return new Response("Not Found", { status: 404 });
  }
  return new Response(file as Uint8Array<ArrayBuffer>, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    },
  });
}

/**
 * The web app: `/_fresh/js/` bundles, then `static/` files, then file routes through their middleware chains.
 * Everything is discovered and imported once, at startup.
 */
import { join } from "node:path";
import type { ComponentType } from "preact";
import { loadPrebuilt } from "./build.ts";
import { buildIdOf, bundleIslands, CLIENT_FILE, type IslandBuild } from "./bundle.ts";
import { compose } from "./compose.ts";
import { DefaultNotFound, DefaultServerError, PLAIN_SERVER_ERROR } from "./error_pages.tsx";
import { loadRoutes } from "./fs_routes.ts";
import { type RenderPage, routeHandler } from "./handlers.ts";
import { type IslandFile, loadIslands } from "./islands.ts";
import { DEFAULT_CSP, htmlResponse, renderDocument } from "./render.tsx";
import { Router, splitPath } from "./router.ts";
import { staticFiles } from "./static.ts";
import type { Context, FreshApp, FreshAppOptions, PageInit, PageProps } from "./types.ts";

/**
 * Discovers routes and islands under `options.root`, bundles the islands (or loads `prebuiltDir`) and returns
 * the request handler.
 *
 * ```ts
 * const app = await createFreshApp({ root: import.meta.dirname!, initialState: () => ({}) });
 * Deno.serve(app.handler);
 * ```
 */
export async function createFreshApp<State>(options: FreshAppOptions<State>): Promise<FreshApp> {
  const tree = await loadRoutes<State>(options.root);
  const islandFiles = await loadIslands(options.root);
  const build = await loadBuild(islandFiles, options);
  const jsBase = `/_fresh/js/${build.buildId}/`;
  const islands = new Map(
    islandFiles.map(({ name, component }) => [component, { name, src: jsBase + build.islands[name] }]),
  );
  const csp = options.csp ?? DEFAULT_CSP;
  const serveStatic = staticFiles(join(options.root, "static"));

  function render(
    // deno-lint-ignore no-explicit-any
    component: ComponentType<PageProps<any, State>>,
    props: PageProps<unknown, State>,
    init: PageInit,
  ) {
    const html = renderDocument({
      app: tree.app,
      component,
      props,
      islands,
      clientSrc: jsBase + CLIENT_FILE,
    });
    return htmlResponse(html, { ...init, csp });
  }
  const propsOf = (ctx: Context<State>, data: unknown) => ({
    data,
    params: ctx.params,
    url: ctx.url,
    state: ctx.state,
  });
  const renderPage: RenderPage<State> = (component, result, ctx) =>
    render(component, propsOf(ctx, result.data), { status: result.status, headers: result.headers });

  const router = new Router(tree.routes.map((route) => ({
    segments: route.segments,
    value: { route, run: compose([...route.middlewares, routeHandler(route, renderPage)]) },
  })));
  const notFound = compose<State>([
    ...tree.rootMiddlewares,
    (ctx) => render(tree.notFound ?? DefaultNotFound, propsOf(ctx, undefined), { status: 404 }),
  ]);

  function reportError(error: unknown, req: Request): void {
    try {
      options.onError?.(error, req);
    } catch {
      // A failing error reporter must not turn a 500 page into a crash.
    }
  }

  async function handle(req: Request, info?: Deno.ServeHandlerInfo): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/_fresh/js/")) return serveBundle(build, jsBase, req, url);
    if (url.pathname.length > 1 && url.pathname.endsWith("/")) {
      // Also collapses leading slashes, so `//evil.example/` cannot become a protocol-relative redirect.
      const location = "/" + url.pathname.replace(/^\/+|\/+$/g, "") + url.search;
      return new Response(null, { status: 308, headers: { location } });
    }
    const file = await serveStatic(req, url);
    if (file) return file;
    let path: string[];
    try {
      path = splitPath(url.pathname);
    } catch {
      return new Response("Bad Request: malformed URL encoding", { status: 400 });
    }
    const match = router.match(path);
    const ctx: Context<State> = {
      req,
      url,
      params: match?.params ?? {},
      state: undefined as State,
      info,
      next: () => Promise.reject(new Error("next() called outside of a middleware chain")),
    };
    try {
      ctx.state = options.initialState();
      return await (match ? match.value.run : notFound)(ctx);
    } catch (error) {
      reportError(error, req);
      try {
        return render(tree.error ?? DefaultServerError, propsOf(ctx, error), { status: 500 });
      } catch (renderError) {
        reportError(renderError, req);
        return htmlResponse(PLAIN_SERVER_ERROR, { status: 500, csp });
      }
    }
  }

  return {
    async handler(req, info) {
      const response = await handle(req, info);
      if (req.method !== "HEAD" || response.body === null) return response;
      await response.body.cancel();
      return new Response(null, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    },
    routes: router.routes.map(({ value: { route } }) => ({ pattern: route.pattern, file: route.file })),
    buildId: build.buildId,
  };
}

/** The prebuilt bundles when `prebuiltDir` holds a manifest, otherwise a fresh bundle (none without islands). */
async function loadBuild<State>(
  islands: IslandFile[],
  options: FreshAppOptions<State>,
): Promise<IslandBuild> {
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

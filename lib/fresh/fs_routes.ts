/**
 * Route discovery: walks `<root>/routes`, imports every module and sorts it into pages/handlers, `_app`,
 * `_middleware` (per folder), `_404` and `_500`. Runs once at startup (`Deno.readDir` and `import()`, which a
 * compiled binary supports for the folders it embeds); there is no build step.
 */
import { join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { ComponentType } from "preact";
import { parseRoutePath, patternOf, type Segment, sortRoutes } from "./route_path.ts";
import type { AppProps, Middleware, MiddlewareModule, PageProps, RouteModule } from "./types.ts";

export interface FileRoute<State> {
  /** `/rooms/:id` */
  pattern: string;
  /** `routes/rooms/[id].tsx`, relative to the project root. */
  file: string;
  segments: Segment[];
  /** The middleware that applies, outermost first. */
  middlewares: Middleware<State>[];
  module: RouteModule<unknown, State>;
}

export interface RouteTree<State> {
  /** Most specific first: the order they are tried in. */
  routes: FileRoute<State>[];
  /** The middleware of the routes folder itself (it also runs for unmatched paths). */
  rootMiddlewares: Middleware<State>[];
  app?: ComponentType<AppProps<State>>;
  notFound?: ComponentType<PageProps<undefined, State>>;
  error?: ComponentType<PageProps<unknown, State>>;
}

/** Relative paths (with `/`) of the `.ts`/`.tsx` files under `dir`, sorted; `[]` when `dir` does not exist. */
export async function listModules(dir: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(current: string): Promise<void> {
    const entries = [];
    for await (const entry of Deno.readDir(current)) entries.push(entry);
    entries.sort((a, b) => a.name < b.name ? -1 : 1);
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory) await walk(path);
      else if (
        /\.tsx?$/.test(entry.name) && !/_test\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")
      ) {
        found.push(relative(dir, path).split(sep).join("/"));
      }
    }
  }
  try {
    await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  await walk(dir);
  return found;
}

/** Imports every route module under `<root>/routes`. */
export async function loadRoutes<State>(root: string): Promise<RouteTree<State>> {
  const routesDir = join(root, "routes");
  const tree: RouteTree<State> = { routes: [], rootMiddlewares: [] };
  const middlewares = new Map<string, Middleware<State>[]>();
  const pages: { path: string; file: string; module: RouteModule<unknown, State> }[] = [];

  for (const path of await listModules(routesDir)) {
    const file = `routes/${path}`;
    const module = await import(pathToFileURL(join(routesDir, path)).href);
    const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    const name = path.slice(path.lastIndexOf("/") + 1).replace(/\.tsx?$/, "");
    if (name === "_middleware") {
      const handler = (module as MiddlewareModule<State>).handler;
      const list = Array.isArray(handler) ? handler : [handler];
      if (!list.every((m) => typeof m === "function")) {
        throw new TypeError(`${file} must export a middleware function (or an array of them) as "handler"`);
      }
      middlewares.set(folder, list);
    } else if (folder === "" && name === "_app") tree.app = defaultComponent(module, file);
    else if (folder === "" && name === "_404") tree.notFound = defaultComponent(module, file);
    else if (folder === "" && name === "_500") tree.error = defaultComponent(module, file);
    else if (!name.startsWith("_")) {
      if (module.handler === undefined && typeof module.default !== "function") {
        throw new TypeError(`${file} exports neither "handler" nor a default page component`);
      }
      pages.push({ path: path.replace(/\.tsx?$/, ""), file, module });
    }
  }

  tree.rootMiddlewares = middlewares.get("") ?? [];
  const routes = pages.map(({ path, file, module }) => {
    const segments = parseRoutePath(path);
    const folders = path.split("/").slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join("/"));
    const chain = ["", ...folders].flatMap((folder) => middlewares.get(folder) ?? []);
    return { pattern: patternOf(segments), file, segments, middlewares: chain, module };
  });
  tree.routes = sortRoutes(routes);
  return tree;
}

function defaultComponent<P>(module: { default?: unknown }, file: string): ComponentType<P> {
  if (typeof module.default !== "function") throw new TypeError(`${file} must default-export a component`);
  return module.default as ComponentType<P>;
}

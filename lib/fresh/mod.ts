/**
 * A thin, Fresh-shaped web layer on a Hono app: file routes with `_app`/`_middleware`/`_404`/`_500`,
 * `page(data)`, typed `createDefine<State>()` helpers, explicitly marked islands bundled with `Deno.bundle`,
 * `static/` files, and the pages' security headers. It knows nothing about the application it serves.
 */
export * from "./types.ts";
export { page } from "./handlers.ts";
export { createDefine, type Define, type PageData } from "./define.ts";
export { Island, type IslandProps } from "./island.tsx";
export { createFresh, type Fresh } from "./app.ts";
export { type CspDirectives, DEFAULT_CSP, pageHeaders } from "./headers.ts";
export { trailingSlashes } from "./trailing_slashes.ts";
export { buildIslands, type BuildIslandsOptions, type BuildManifest } from "./build.ts";
export { escapeJsonForScript } from "./json_script.ts";
export { IS_BROWSER } from "./runtime.ts";

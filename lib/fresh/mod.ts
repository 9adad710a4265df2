/**
 * A thin, Fresh-shaped web layer: file routes with `_app`/`_middleware`/`_404`/`_500`, `page(data)`, typed
 * `createDefine<State>()` helpers, explicitly marked islands bundled with `Deno.bundle`, and `static/` files.
 * It knows nothing about the application it serves.
 */
export * from "./types.ts";
export { page } from "./handlers.ts";
export { createDefine, type Define, type PageData } from "./define.ts";
export { Island, type IslandProps } from "./island.tsx";
export { createFreshApp } from "./app.ts";
export { buildIslands, type BuildIslandsOptions, type BuildManifest } from "./build.ts";
export { escapeJsonForScript } from "./json_script.ts";

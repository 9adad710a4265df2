/**
 * `deno task build`: bundles the islands ahead of time into `_fresh/` (used by the compiled binary and the
 * container image); `deno task start` bundles them at start-up when `_fresh/` is absent.
 */
// deno-lint-ignore-file no-console
import { fileURLToPath } from "node:url";
import { buildIslands } from "../lib/fresh/mod.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = `${root}_fresh`;
await buildIslands({ root, outDir });
console.log(`Islands built into ${outDir}`);

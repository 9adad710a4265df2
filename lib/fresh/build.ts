/**
 * Prebuilt island bundles, for `deno task build` and compiled binaries: `buildIslands()` writes the bundles and a
 * `manifest.json`; `loadPrebuilt()` reads them back so the server starts without bundling.
 */
import { join } from "node:path";
import { buildIdOf, bundleIslands, type IslandBuild } from "./bundle.ts";
import { loadIslands } from "./islands.ts";

/** The contents of `manifest.json`. */
export interface BuildManifest {
  buildId: string;
  files: string[];
  /** Island name -> file. */
  islands: Record<string, string>;
}

export interface BuildIslandsOptions {
  /** The project directory (with `islands/`). */
  root: string;
  /** Where the bundles and `manifest.json` go; created when missing. */
  outDir: string;
  /** Unminified output. */
  dev?: boolean;
}

/**
 * Bundles the project's islands and writes them, plus `manifest.json`, into `outDir`.
 *
 * ```ts
 * await buildIslands({ root: Deno.cwd(), outDir: "_fresh" });
 * const fresh = await createFresh({ root: Deno.cwd(), prebuiltDir: "_fresh" });
 * ```
 */
export async function buildIslands(options: BuildIslandsOptions): Promise<BuildManifest> {
  const islands = await loadIslands(options.root);
  const build = await bundleIslands(islands, { dev: options.dev });
  await Deno.mkdir(options.outDir, { recursive: true });
  for (const [name, contents] of build.files) await Deno.writeFile(join(options.outDir, name), contents);
  const manifest: BuildManifest = {
    buildId: build.buildId,
    files: [...build.files.keys()],
    islands: build.islands,
  };
  await Deno.writeTextFile(join(options.outDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** The build in `dir`, or `undefined` when it has no `manifest.json`. */
export async function loadPrebuilt(dir: string): Promise<IslandBuild | undefined> {
  let manifest: BuildManifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read ${join(dir, "manifest.json")}`, { cause: error });
  }
  const files = new Map<string, Uint8Array>();
  for (const name of manifest.files) {
    if (name.includes("/") || name.includes("\\") || name.startsWith(".")) {
      throw new Error(`Invalid file name "${name}" in ${join(dir, "manifest.json")}`);
    }
    files.set(name, await Deno.readFile(join(dir, name)));
  }
  if (await buildIdOf(files) !== manifest.buildId) {
    throw new Error(`The files in ${dir} do not match its manifest.json; rebuild them`);
  }
  return { buildId: manifest.buildId, files, islands: manifest.islands };
}

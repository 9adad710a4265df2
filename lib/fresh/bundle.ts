/**
 * Browser bundles for islands: the client runtime and every island are entrypoints of ONE `Deno.bundle` call
 * with code splitting, so they share one Preact instance (a second copy would break hooks).
 * Outputs stay in memory, keyed by file name; nothing is written to the project.
 */
import { join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";

export interface IslandBuild {
  /** A short hash of every output file. */
  buildId: string;
  /** `client.js`, `island-<Name>.js` and shared `chunk-*.js` files. */
  files: Map<string, Uint8Array>;
  /** Island name -> the file to import for it. */
  islands: Record<string, string>;
}

export const CLIENT_FILE = "client.js";
export const islandFile = (name: string): string => `island-${name}.js`;

// The subset of the unstable `Deno.bundle` API used here, so type checking works without `--unstable-bundle`.
interface BundleMessage {
  text: string;
  location?: { file: string; line: number; column: number };
}
interface BundleResult {
  success: boolean;
  errors: BundleMessage[];
  outputFiles?: { path: string; contents?: Uint8Array; text(): string }[];
}
type Bundle = (options: {
  entrypoints: string[];
  outputDir: string;
  write: boolean;
  codeSplitting: boolean;
  format: "esm";
  platform: "browser";
  minify: boolean;
}) => Promise<BundleResult>;

/** Bundles `client.ts` and the given islands for the browser. */
export async function bundleIslands(
  islands: { name: string; path: string }[],
  options: { dev?: boolean } = {},
): Promise<IslandBuild> {
  const bundle = (Deno as unknown as { bundle?: Bundle }).bundle;
  if (typeof bundle !== "function") {
    throw new Error(
      "Bundling islands needs `deno run --unstable-bundle` (or a prebuiltDir from buildIslands())",
    );
  }
  // Entrypoints in one flat folder give flat output names (client.js, island-Name.js, chunk-*.js).
  const entries = await Deno.makeTempDir({ prefix: "fresh_entries_" });
  try {
    const entrypoints = [join(entries, "client.ts")];
    await Deno.writeTextFile(
      entrypoints[0],
      `import ${JSON.stringify(import.meta.resolve("./client.ts"))};\n`,
    );
    for (const { name, path } of islands) {
      const entry = join(entries, `island-${name}.ts`);
      await Deno.writeTextFile(
        entry,
        `export { default } from ${JSON.stringify(pathToFileURL(path).href)};\n`,
      );
      entrypoints.push(entry);
    }
    const outputDir = join(entries, "out");
    const result = await bundle({
      entrypoints,
      outputDir,
      write: false,
      codeSplitting: true,
      format: "esm",
      platform: "browser",
      minify: !options.dev,
    });
    if (!result.success) {
      throw new Error(`Cannot bundle islands:\n${result.errors.map(formatMessage).join("\n")}`);
    }
    const files = new Map<string, Uint8Array>();
    for (const file of result.outputFiles ?? []) {
      const name = relative(outputDir, file.path).split(sep).join("/");
      files.set(name, file.contents ?? new TextEncoder().encode(file.text()));
    }
    const names = Object.fromEntries(islands.map(({ name }) => [name, islandFile(name)]));
    for (const file of [CLIENT_FILE, ...Object.values(names)]) {
      if (!files.has(file)) throw new Error(`Bundling islands did not produce ${file}`);
    }
    return { buildId: await buildIdOf(files), files, islands: names };
  } finally {
    await Deno.remove(entries, { recursive: true });
  }
}

/** A 12-hex-digit SHA-256 of the file names and contents. */
export async function buildIdOf(files: Map<string, Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const name of [...files.keys()].sort()) {
    parts.push(new TextEncoder().encode(`${name}\0`), files.get(name)!, new Uint8Array([0]));
  }
  const all = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.slice(0, 6), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function formatMessage({ text, location }: BundleMessage): string {
  return location ? `${location.file}:${location.line}:${location.column}: ${text}` : text;
}

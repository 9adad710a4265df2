/**
 * Fixture projects for the tests: files written to a temp dir, removed on dispose.
 *
 * Fixture modules live outside the project, yet `preact` resolves in them because Deno applies the import map
 * and JSX settings of the running process's `deno.json` to every local module (and `Deno.bundle` does the same).
 * They import this layer as `"$fresh"`, replaced by the absolute URL of `mod.ts`, so that `page()` and `Island`
 * are the very module instances the app under test uses.
 */
import { dirname, join } from "node:path";
import { createFreshApp } from "./app.ts";
import type { FreshApp, FreshAppOptions } from "./types.ts";

export const FRESH_URL: string = import.meta.resolve("./mod.ts");

export interface Fixture extends AsyncDisposable {
  root: string;
}

/** Writes `files` (paths relative to the root) into a new temp dir. */
export async function fixture(files: Record<string, string | Uint8Array>): Promise<Fixture> {
  const root = await Deno.makeTempDir({ prefix: "fresh_fixture_" });
  for (const [path, contents] of Object.entries(files)) {
    const file = join(root, path);
    await Deno.mkdir(dirname(file), { recursive: true });
    if (typeof contents === "string") {
      await Deno.writeTextFile(file, contents.replaceAll('"$fresh"', `"${FRESH_URL}"`));
    } else await Deno.writeFile(file, contents);
  }
  return { root, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

export interface FixtureApp extends Fixture {
  app: FreshApp;
  /** `app.handler` for a path on http://localhost. */
  request(path: string, init?: RequestInit): Promise<Response>;
}

/** A fixture project and the app created from it. */
export async function fixtureApp<State = Record<string, unknown>>(
  files: Record<string, string | Uint8Array>,
  options: Partial<FreshAppOptions<State>> = {},
): Promise<FixtureApp> {
  const project = await fixture(files);
  try {
    const app = await createFreshApp<State>({
      root: project.root,
      initialState: () => ({}) as State,
      ...options,
    });
    const request = (path: string, init?: RequestInit) =>
      app.handler(new Request(`http://localhost${path}`, init));
    return { ...project, app, request };
  } catch (error) {
    await project[Symbol.asyncDispose]();
    throw error;
  }
}

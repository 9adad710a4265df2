/**
 * Fixture projects for the tests: files written to a temp dir, removed on dispose.
 *
 * Fixture modules live outside the project, yet `preact` resolves in them because Deno applies the import map
 * and JSX settings of the running process's `deno.json` to every local module (and `Deno.bundle` does the same).
 * They import this layer as `"$fresh"`, replaced by the absolute URL of `mod.ts`, so that `page()` and `Island`
 * are the very module instances the app under test uses.
 */
import { dirname, join } from "node:path";
import { Hono } from "hono";
import { createFresh, type Fresh } from "../app.ts";
import { type CspDirectives, pageHeaders } from "../headers.ts";
import { trailingSlashes } from "../trailing_slashes.ts";
import type { FreshOptions } from "../types.ts";

export const FRESH_URL: string = import.meta.resolve("../mod.ts");

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

export interface FixtureAppOptions<State> extends Partial<FreshOptions> {
  initialState?: () => Partial<State>;
  csp?: CspDirectives;
}

export interface FixtureApp extends Fixture {
  fresh: Fresh;
  // deno-lint-ignore no-explicit-any
  app: Hono<any>;
  /** `app.request()` for a path on http://localhost. */
  request(path: string, init?: RequestInit): Promise<Response>;
}

/**
 * A fixture project served by a Hono app wired as an application wires the layer: static files, trailing
 * slashes, page headers, the file routes, and an error handler that reports to `onError` and renders `_500`.
 */
export async function fixtureApp<State = Record<string, unknown>>(
  files: Record<string, string | Uint8Array>,
  options: FixtureAppOptions<State> = {},
): Promise<FixtureApp> {
  const project = await fixture(files);
  try {
    const fresh = await createFresh({ root: project.root, ...options });
    const app = new Hono();
    app.use(fresh.staticFiles, trailingSlashes(), pageHeaders(options.csp));
    fresh.fsRoutes(app, { initialState: options.initialState });
    app.onError((error, c) => {
      options.onError?.(error, c.req.raw);
      return fresh.errorPage(c, error);
    });
    const request = async (path: string, init?: RequestInit) =>
      await app.request(new Request(`http://localhost${path}`, init));
    return { ...project, fresh, app, request };
  } catch (error) {
    await project[Symbol.asyncDispose]();
    throw error;
  }
}

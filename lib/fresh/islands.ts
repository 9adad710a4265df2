/** Island discovery: every `<root>/islands/PascalCase.tsx`, imported server-side for its default export. */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ComponentType } from "preact";

export interface IslandFile {
  /** `ChatApp` for `islands/ChatApp.tsx`. */
  name: string;
  /** Absolute path of the file. */
  path: string;
  // deno-lint-ignore no-explicit-any
  component: ComponentType<any>;
}

/** The islands of a project, sorted by name; `[]` without an `islands/` folder. Other files there are ignored. */
export async function loadIslands(root: string): Promise<IslandFile[]> {
  const dir = join(root, "islands");
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = /^([A-Z][A-Za-z0-9]*)\.tsx$/.exec(entry.name);
      if (entry.isFile && match) names.push(match[1]);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  names.sort();
  return await Promise.all(names.map(async (name) => {
    const path = join(dir, `${name}.tsx`);
    const module = await import(pathToFileURL(path).href);
    if (typeof module.default !== "function") {
      throw new TypeError(`islands/${name}.tsx must default-export a component`);
    }
    return { name, path, component: module.default };
  }));
}

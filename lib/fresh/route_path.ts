/**
 * File-route shapes: `rooms/[id]` is a static segment and a parameter. Static segments sort before `[param]`s,
 * which sort before a final `[...rest]`; each shape becomes the Hono path(s) it is registered under.
 */

export type Segment =
  | { kind: "static"; value: string }
  | { kind: "param"; name: string }
  | { kind: "rest"; name: string };

const RANK = { static: 0, param: 1, rest: 2 } as const;

/** The segments of a route file path without extension: `rooms/[id]` -> static `rooms`, param `id`. */
export function parseRoutePath(path: string): Segment[] {
  const parts = path.split("/").filter((part) => part !== "");
  if (parts.at(-1) === "index") parts.pop();
  return parts.map((part, i) => {
    const rest = /^\[\.\.\.([^\]/]+)\]$/.exec(part);
    if (rest) {
      if (i !== parts.length - 1) {
        throw new Error(`Catch-all "${part}" must be the last segment of "${path}"`);
      }
      return { kind: "rest", name: rest[1] };
    }
    const param = /^\[([^\].]+)\]$/.exec(part);
    if (param) return { kind: "param", name: param[1] };
    if (part.includes("[") || part.includes("]")) {
      throw new Error(`Invalid route segment "${part}" in "${path}"`);
    }
    return { kind: "static", value: part };
  });
}

/** The display form of a route: `/rooms/:id`, `/docs/:slug*`. */
export function patternOf(segments: Segment[]): string {
  const parts = segments.map((s) =>
    s.kind === "static" ? s.value : s.kind === "param" ? `:${s.name}` : `:${s.name}*`
  );
  return "/" + parts.join("/");
}

/**
 * The Hono paths of a route: `/rooms/:id`; a catch-all is registered twice, without its segment (`rest` is then
 * `""`) and with it (`/docs/:slug{.+}`, which spans slashes).
 *
 * ```ts
 * honoPaths(parseRoutePath("docs/[...slug]")); // ["/docs", "/docs/:slug{.+}"]
 * ```
 */
export function honoPaths(segments: Segment[]): string[] {
  const parts = segments.map((s) =>
    s.kind === "static" ? s.value : s.kind === "param" ? `:${s.name}` : `:${s.name}{.+}`
  );
  const path = "/" + parts.join("/");
  return segments.at(-1)?.kind === "rest" ? ["/" + parts.slice(0, -1).join("/"), path] : [path];
}

/** Orders routes most specific first, segment by segment (a route that ends sorts before a catch-all). */
export function compareSegments(a: Segment[], b: Segment[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const rankA = a[i] ? RANK[a[i].kind] : -1;
    const rankB = b[i] ? RANK[b[i].kind] : -1;
    if (rankA !== rankB) return rankA - rankB;
  }
  return 0;
}

/** What two routes that could never be told apart have in common: `/rooms/:` for `rooms/[id]` and `rooms/[name]`. */
export function shapeOf(segments: Segment[]): string {
  return segments.map((s) => s.kind === "static" ? `/${s.value}` : s.kind === "param" ? "/:" : "/*").join("");
}

/** Sorts routes most specific first (the order Hono tries them in); throws when two have the same shape. */
export function sortRoutes<T extends { segments: Segment[] }>(routes: T[]): T[] {
  const sorted = [...routes].sort((a, b) => compareSegments(a.segments, b.segments));
  const shapes = new Set<string>();
  for (const { segments } of sorted) {
    const shape = shapeOf(segments);
    if (shapes.has(shape)) throw new Error(`Two routes have the shape ${patternOf(segments)}`);
    shapes.add(shape);
  }
  return sorted;
}

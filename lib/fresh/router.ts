/**
 * Matching of file-route shapes against URL paths: static segments win over `[param]`s, which win over a final
 * `[...rest]`. Knows nothing of files or handlers: a route is its segments plus a value.
 */

export type Segment =
  | { kind: "static"; value: string }
  | { kind: "param"; name: string }
  | { kind: "rest"; name: string };

export interface Match<T> {
  value: T;
  params: Record<string, string>;
}

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

/** Orders routes most specific first, segment by segment (a route that ends sorts before a catch-all). */
export function compareSegments(a: Segment[], b: Segment[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const rankA = a[i] ? RANK[a[i].kind] : -1;
    const rankB = b[i] ? RANK[b[i].kind] : -1;
    if (rankA !== rankB) return rankA - rankB;
  }
  return 0;
}

/** Splits and decodes a URL path: `/a%20b/c` -> `["a b", "c"]`. Throws `URIError` on malformed encoding. */
export function splitPath(pathname: string): string[] {
  if (pathname === "/") return [];
  return pathname.slice(1).split("/").map(decodeURIComponent);
}

function matchSegments(segments: Segment[], path: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (const [i, segment] of segments.entries()) {
    if (segment.kind === "rest") {
      params[segment.name] = path.slice(i).join("/");
      return params;
    }
    const part = path[i];
    if (part === undefined || part === "") return undefined;
    if (segment.kind === "static" && segment.value !== part) return undefined;
    if (segment.kind === "param") params[segment.name] = part;
  }
  return segments.length === path.length ? params : undefined;
}

/**
 * A list of routes, tried most specific first.
 *
 * ```ts
 * const router = new Router([{ segments: parseRoutePath("rooms/[id]"), value: "room" }]);
 * router.match(splitPath("/rooms/42")); // { value: "room", params: { id: "42" } }
 * ```
 */
export class Router<T> {
  readonly #routes: { segments: Segment[]; value: T }[];

  constructor(routes: { segments: Segment[]; value: T }[]) {
    this.#routes = [...routes].sort((a, b) => compareSegments(a.segments, b.segments));
    const shapes = new Set<string>();
    for (const { segments } of this.#routes) {
      const shape = segments.map((s) =>
        s.kind === "static" ? `/${s.value}` : s.kind === "param" ? "/:" : "/*"
      )
        .join("");
      if (shapes.has(shape)) throw new Error(`Two routes have the shape ${patternOf(segments)}`);
      shapes.add(shape);
    }
  }

  /** The routes in matching order. */
  get routes(): readonly { segments: Segment[]; value: T }[] {
    return this.#routes;
  }

  match(path: string[]): Match<T> | undefined {
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, path);
      if (params) return { value: route.value, params };
    }
    return undefined;
  }
}

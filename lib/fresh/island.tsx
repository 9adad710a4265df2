/**
 * Explicit island marking, as Fresh 1.x rendered islands: the server output of the component inside a
 * `<div data-island>`, followed by its props as escaped JSON in a `<script type="application/json">`.
 * The client runtime (`client.ts`) finds the markers and hydrates them.
 *
 * The marker carries no `style="display:contents"`: the default CSP (`style-src 'self'`) blocks inline style
 * attributes. The runtime sets `display: contents` through the CSSOM, which CSP allows; a stylesheet rule
 * `[data-island] { display: contents }` gives the same layout before hydration.
 */
import { type ComponentType, h } from "preact";
import { assertJsonSerialisable, escapeJsonForScript } from "./json_script.ts";
import type { VNode } from "./types.ts";

export interface IslandEntry {
  name: string;
  /** The URL of the island's browser module. */
  src: string;
}

// deno-lint-ignore no-explicit-any
export type IslandRegistry = ReadonlyMap<ComponentType<any>, IslandEntry>;

interface Collector {
  registry: IslandRegistry;
  count: number;
}

/** The island registry of the render in progress (`renderToString` is synchronous). */
let collector: Collector | undefined;

/** Runs a synchronous `render` with `<Island>` enabled; returns its result and how many islands it rendered. */
export function collectIslands<T>(registry: IslandRegistry, render: () => T): { result: T; islands: number } {
  const previous = collector;
  const current: Collector = { registry, count: 0 };
  collector = current;
  try {
    return { result: render(), islands: current.count };
  } finally {
    collector = previous;
  }
}

export interface IslandProps<P> {
  /** The default export of a file in `islands/`. */
  component: ComponentType<P>;
  /** JSON-serialisable props, sent to the browser. */
  props: P;
}

/**
 * Renders an island: server-side now, hydrated in the browser later.
 *
 * ```tsx
 * import ChatRoom from "../islands/ChatRoom.tsx";
 * <Island component={ChatRoom} props={{ roomId: "r1" }} />
 * ```
 */
export function Island<P>({ component, props }: IslandProps<P>): VNode {
  if (!collector) throw new Error("<Island> can only be rendered by a page of createFresh()");
  const name = component.displayName ?? component.name ?? "anonymous";
  const entry = collector.registry.get(component);
  if (!entry) {
    throw new Error(`<Island component={${name}}>: ${name} is not the default export of a file in islands/`);
  }
  const data = props ?? {};
  try {
    assertJsonSerialisable(data);
  } catch (error) {
    throw new TypeError(`Island "${entry.name}": ${(error as Error).message}`, { cause: error });
  }
  const id = String(collector.count++);
  const json = escapeJsonForScript(JSON.stringify(data));
  return (
    <>
      <div data-island={entry.name} data-island-id={id} data-island-src={entry.src}>
        {h(component as ComponentType<object>, data as object)}
      </div>
      <script type="application/json" data-island-props={id} dangerouslySetInnerHTML={{ __html: json }} />
    </>
  );
}

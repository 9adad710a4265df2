/**
 * The browser runtime, bundled with the islands: hydrates every `[data-island]` element with the default
 * export of its `data-island-src` module and the props from its `<script data-island-props>` block.
 * No server code here.
 *
 * The marker gets `display: contents` here, through the CSSOM, because CSP blocks inline `style` attributes.
 */
import { type ComponentType, h, hydrate } from "preact";

async function hydrateIsland(element: HTMLElement): Promise<void> {
  const { islandId, islandSrc } = element.dataset;
  if (islandSrc === undefined) return;
  element.style.display = "contents";
  const script = document.querySelector(`script[data-island-props="${CSS.escape(islandId ?? "")}"]`);
  const props = JSON.parse(script?.textContent || "{}");
  const module: { default: ComponentType } = await import(islandSrc);
  // How long the island's first render took, for budgets (`performance.getEntriesByName("hydrate <name>")`).
  const start = performance.now();
  hydrate(h(module.default, props), element);
  performance.measure(`hydrate ${element.dataset.island}`, { start });
}

const islands = document.querySelectorAll<HTMLElement>("[data-island]");
await Promise.all(Array.from(islands, (element) => hydrateIsland(element).catch(reportError)));

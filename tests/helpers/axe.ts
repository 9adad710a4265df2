/**
 * Accessibility checks for browser tests: axe-core run inside a playwright-core page. The page's CSP forbids
 * inline scripts, so axe is evaluated through the DevTools protocol (`page.evaluate`), which CSP does not govern.
 *
 * ```ts
 * await page.goto(base + "/rooms");
 * await checkA11y(page, "rooms"); // fails on serious/critical violations; writes test-output/axe-rooms.json
 * ```
 */
import axe from "axe-core";
import type { AxeResults, ImpactValue } from "axe-core";
import type { Page } from "playwright-core";

const OUT = new URL("../../test-output/", import.meta.url).pathname;
const FAILING: ImpactValue[] = ["serious", "critical"];

/**
 * Runs every axe-core rule on `page` as it is now, writes the full result to `test-output/axe-<name>.json`,
 * and throws listing each serious or critical violation (rule id, help, impact and the offending elements'
 * selectors). Resolves with the result for further assertions.
 */
export async function checkA11y(page: Page, name: string): Promise<AxeResults> {
  const loaded = await page.evaluate(() => "axe" in globalThis);
  if (!loaded) await page.evaluate(axe.source);
  const results = await page.evaluate(() => (globalThis as unknown as { axe: typeof axe }).axe.run(document));
  await Deno.mkdir(OUT, { recursive: true });
  await Deno.writeTextFile(`${OUT}axe-${name}.json`, JSON.stringify(results, null, 2) + "\n");
  const failing = results.violations.filter((violation) => FAILING.includes(violation.impact ?? null));
  if (failing.length > 0) {
    const lines = failing.map((violation) =>
      `- ${violation.id} (${violation.impact}): ${violation.help}\n` +
      violation.nodes.map((node) => `    ${node.target.map(String).join(" ")}  ${node.html.slice(0, 120)}`)
        .join("\n")
    );
    throw new Error(
      `${name}: ${failing.length} serious or critical accessibility violation(s) on ${page.url()}:\n` +
        lines.join("\n") + `\nFull result: ${OUT}axe-${name}.json`,
    );
  }
  return results;
}

/**
 * `deno run -A scripts/icons.ts`: draws the app's PNG icons into `static/icons/` with the system's Chromium
 * (the same one the browser tests drive), from the artwork of `static/favicon.svg`. Run it once after changing
 * the artwork and commit the PNGs; the server never runs it.
 * - `icon-<size>.png`: the favicon as it is (rounded square, transparent corners);
 * - `maskable-<size>.png`: full-bleed background with the glyph inside the central safe zone (80 % circle),
 *   for launchers that cut icons into their own shape.
 */
// deno-lint-ignore-file no-console
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const OUT = new URL("../static/icons/", import.meta.url).pathname;
const SIZES = [192, 512];

const favicon = await Deno.readTextFile(new URL("../static/favicon.svg", import.meta.url));
const background = favicon.match(/<rect[^>]*fill="([^"]+)"/)?.[1];
const glyph = favicon.match(/<path[^>]*\/>/)?.[0];
if (background === undefined || glyph === undefined) {
  throw new Error("static/favicon.svg has no <rect fill> background or no <path> glyph");
}
// The glyph spans 16x14 units of the 32-unit favicon; at 0.9 scale around its centre its corners stay inside
// the maskable safe zone, a circle of radius 12.8 units (they are 9.6 units away).
const maskable = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
  <rect width="32" height="32" fill="${background}" />
  <g transform="translate(16 16) scale(0.9) translate(-16 -17)">${glyph}</g>
</svg>`;

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ deviceScaleFactor: 1 });
  await Deno.mkdir(OUT, { recursive: true });
  for (const size of SIZES) {
    for (const [name, svg] of [["icon", favicon], ["maskable", maskable]]) {
      await page.setViewportSize({ width: size, height: size });
      const src = `data:image/svg+xml;base64,${btoa(svg)}`;
      await page.setContent(
        `<body style="margin:0"><img src="${src}" width="${size}" height="${size}" style="display:block"></body>`,
      );
      await page.locator("img").evaluate((img: HTMLImageElement) => img.decode());
      const path = `${OUT}${name}-${size}.png`;
      await page.screenshot({ path, omitBackground: true });
      console.log(`Wrote ${path}`);
    }
  }
} finally {
  await browser.close();
}

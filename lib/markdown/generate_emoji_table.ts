/**
 * Writes `emoji_table.ts` from npm:gemoji (GitHub's shortcodes): `deno run -A lib/markdown/generate_emoji_table.ts`
 * after updating gemoji. The browser gets only emoji and names (about 14 KB gzipped) instead of gemoji's whole
 * module with tags, descriptions and categories (about 30 KB); `emoji_test.ts` checks the file is up to date.
 */
import { gemoji } from "gemoji";

/** The source text of `emoji_table.ts`: one line per emoji, the emoji then its shortcodes, space separated. */
export function emojiTableSource(): string {
  const lines = gemoji.map((entry) => [entry.emoji, ...entry.names].join(" "));
  return [
    "/** Generated from npm:gemoji by generate_emoji_table.ts; do not edit. A line: emoji, its shortcodes. */",
    `export const EMOJI_TABLE = \`${lines.join("\n")}\`;`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  await Deno.writeTextFile(new URL("./emoji_table.ts", import.meta.url), emojiTableSource());
}

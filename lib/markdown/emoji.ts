/**
 * Emoji shortcodes (`:tada:` -> 🎉) with GitHub's names, from the table generated out of npm:gemoji. Every
 * function here runs in time linear in its input: a shortcode is at most 40 characters between two colons.
 */
import { EMOJI_TABLE } from "./emoji_table.ts";

/** One emoji and its shortcodes (the first is its main name). */
export interface Emoji {
  emoji: string;
  names: string[];
}

/** The shortcodes an emoji picker offers before anything is typed: the reactions chats use most. */
export const COMMON_EMOJI = [
  "+1",
  "-1",
  "heart",
  "joy",
  "smile",
  "tada",
  "thinking",
  "fire",
  "eyes",
  "pray",
  "clap",
  "rocket",
  "white_check_mark",
  "x",
  "100",
  "wave",
  "ok_hand",
  "sob",
  "rofl",
  "heart_eyes",
  "wink",
  "blush",
  "sunglasses",
  "slightly_smiling_face",
  "upside_down_face",
  "grimacing",
  "confused",
  "cry",
  "scream",
  "rage",
  "sweat_smile",
  "muscle",
  "raised_hands",
  "handshake",
  "point_up",
  "star",
  "sparkles",
  "zap",
  "bulb",
  "warning",
  "question",
  "exclamation",
  "coffee",
  "beer",
  "pizza",
  "birthday",
  "gift",
  "partying_face",
];

let emojiList: Emoji[] | null = null;
let byName: Map<string, string> | null = null;

/** Every emoji of the table, in gemoji's order (by category, smileys first). Parsed once, on first use. */
export function allEmoji(): Emoji[] {
  emojiList ??= EMOJI_TABLE.split("\n").map((line) => {
    const [emoji, ...names] = line.split(" ");
    return { emoji, names };
  });
  return emojiList;
}

/** The emoji for a shortcode name without colons (`tada`), or undefined. */
export function emojiFor(name: string): string | undefined {
  byName ??= new Map(allEmoji().flatMap(({ emoji, names }) => names.map((n) => [n, emoji] as const)));
  return byName.get(name);
}

/** A shortcode candidate: a colon, 1 to 40 name characters, a colon (bounded, so matching stays linear). */
const SHORTCODE_RE = /:([a-z0-9_+-]{1,40}):/g;

/** `text` with every known `:name:` replaced by its emoji; unknown names stay as written. */
export function replaceShortcodes(text: string): string {
  if (!text.includes(":")) return text;
  let out = "";
  let last = 0;
  const re = new RegExp(SHORTCODE_RE);
  for (let match = re.exec(text); match !== null; match = re.exec(text)) {
    const emoji = emojiFor(match[1]);
    if (emoji === undefined) {
      // The closing colon may open the next shortcode (`:not-one:tada:`).
      re.lastIndex = match.index + match[0].length - 1;
      continue;
    }
    out += text.slice(last, match.index) + emoji;
    last = match.index + match[0].length;
  }
  return last === 0 ? text : out + text.slice(last);
}

/**
 * Up to `limit` emoji whose shortcodes contain `query` (lower-cased, colons and spaces ignored), those whose
 * name starts with it first; for an empty query, the common ones.
 */
export function searchEmoji(query: string, limit: number): Emoji[] {
  const q = query.toLowerCase().replace(/[:\s]/g, "");
  if (q === "") {
    return COMMON_EMOJI.slice(0, limit).map((name) => ({ emoji: emojiFor(name)!, names: [name] }));
  }
  const starts: Emoji[] = [];
  const contains: Emoji[] = [];
  for (const entry of allEmoji()) {
    if (entry.names.some((n) => n.startsWith(q))) starts.push(entry);
    else if (entry.names.some((n) => n.includes(q))) contains.push(entry);
    if (starts.length >= limit) break;
  }
  return [...starts, ...contains].slice(0, limit);
}

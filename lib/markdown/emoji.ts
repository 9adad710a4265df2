/**
 * Emoji shortcodes (`:tada:` -> 🎉) with GitHub's names, from the table generated out of npm:gemoji. Every
 * function here runs in time linear in its input: a shortcode is at most 40 characters between two colons.
 *
 * The full table (about 15 KB compressed) is loaded on demand (`loadEmojiTable()`), so a page does not ship it
 * up front: the server loads it at start and gives a page the few emoji its messages use (`shortcodesIn()`,
 * then `addEmoji()` in the browser); the browser loads the rest when a new message names one it does not know,
 * or when the picker searches.
 */

/** One emoji and its shortcodes (the first is its main name). */
export interface Emoji {
  emoji: string;
  names: string[];
}

/** What an emoji picker offers before anything is typed (the reactions chats use most), known without the table. */
export const COMMON_EMOJI: readonly (readonly [name: string, emoji: string])[] = [
  ["+1", "👍"],
  ["-1", "👎"],
  ["heart", "❤️"],
  ["joy", "😂"],
  ["smile", "😄"],
  ["tada", "🎉"],
  ["thinking", "🤔"],
  ["fire", "🔥"],
  ["eyes", "👀"],
  ["pray", "🙏"],
  ["clap", "👏"],
  ["rocket", "🚀"],
  ["white_check_mark", "✅"],
  ["x", "❌"],
  ["100", "💯"],
  ["wave", "👋"],
  ["ok_hand", "👌"],
  ["sob", "😭"],
  ["rofl", "🤣"],
  ["heart_eyes", "😍"],
  ["wink", "😉"],
  ["blush", "😊"],
  ["sunglasses", "😎"],
  ["slightly_smiling_face", "🙂"],
  ["upside_down_face", "🙃"],
  ["grimacing", "😬"],
  ["confused", "😕"],
  ["cry", "😢"],
  ["scream", "😱"],
  ["rage", "😡"],
  ["sweat_smile", "😅"],
  ["muscle", "💪"],
  ["raised_hands", "🙌"],
  ["handshake", "🤝"],
  ["point_up", "☝️"],
  ["star", "⭐"],
  ["sparkles", "✨"],
  ["zap", "⚡"],
  ["bulb", "💡"],
  ["warning", "⚠️"],
  ["question", "❓"],
  ["exclamation", "❗"],
  ["coffee", "☕"],
  ["beer", "🍺"],
  ["pizza", "🍕"],
  ["birthday", "🎂"],
  ["gift", "🎁"],
  ["partying_face", "🥳"],
];

let emojiList: Emoji[] | null = null;
/** Names known so far: the whole table once loaded, else the common ones and what a page was given. */
const byName = new Map<string, string>(COMMON_EMOJI);
let loading: Promise<void> | null = null;
let version = 0;
const listeners = new Set<() => void>();

/** Loads the whole table (once); listeners hear when it is there. */
export function loadEmojiTable(): Promise<void> {
  loading ??= import("./emoji_table.ts").then(({ EMOJI_TABLE }) => {
    emojiList = EMOJI_TABLE.split("\n").map((line) => {
      const [emoji, ...names] = line.split(" ");
      return { emoji, names };
    });
    for (const { emoji, names } of emojiList) for (const name of names) byName.set(name, emoji);
    version++;
    for (const listener of listeners) listener();
  });
  return loading;
}

/** Whether the whole table is loaded. */
export function emojiTableLoaded(): boolean {
  return emojiList !== null;
}

/** Changes whenever more emoji became known: renders that used the names depend on it. */
export function emojiVersion(): number {
  return version;
}

/** Calls `listener` once the whole table is loaded; returns the unsubscribe function. */
export function onEmojiTable(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Makes shortcodes known without the table (those a page's messages use, from `shortcodesIn()`). */
export function addEmoji(known: Record<string, string>): void {
  for (const [name, emoji] of Object.entries(known)) byName.set(name, emoji);
}

/** Every emoji of the table, in gemoji's order (by category, smileys first); empty until it is loaded. */
export function allEmoji(): Emoji[] {
  return emojiList ?? [];
}

/** The emoji for a shortcode name without colons (`tada`), or undefined (unknown, or not loaded yet). */
export function emojiFor(name: string): string | undefined {
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
      // Maybe a name the table has: it loads, and renders that depend on emojiVersion() run again.
      if (emojiList === null) loadEmojiTable();
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
  if (q === "") return COMMON_EMOJI.slice(0, limit).map(([name, emoji]) => ({ emoji, names: [name] }));
  const starts: Emoji[] = [];
  const contains: Emoji[] = [];
  for (const entry of allEmoji()) {
    if (entry.names.some((n) => n.startsWith(q))) starts.push(entry);
    else if (entry.names.some((n) => n.includes(q))) contains.push(entry);
    if (starts.length >= limit) break;
  }
  return [...starts, ...contains].slice(0, limit);
}

/** The shortcodes that `texts` use, with their emoji (for a page to render them without the table). */
export function shortcodesIn(texts: Iterable<string>): Record<string, string> {
  const found: Record<string, string> = {};
  for (const text of texts) {
    if (!text.includes(":")) continue;
    for (const match of text.matchAll(SHORTCODE_RE)) {
      const emoji = emojiFor(match[1]);
      if (emoji !== undefined) found[match[1]] = emoji;
    }
  }
  return found;
}

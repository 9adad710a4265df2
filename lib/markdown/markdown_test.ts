/** What chat markdown renders to, as HTML strings from preact-render-to-string: syntax, safety, emoji, RTL. */
import assert from "node:assert/strict";
import { h } from "preact";
import { renderToString } from "preact-render-to-string";
import { emojiTableSource } from "./generate_emoji_table.ts";
import { EMOJI_TABLE } from "./emoji_table.ts";
import {
  addEmoji,
  COMMON_EMOJI,
  emojiFor,
  emojiTableLoaded,
  emojiVersion,
  loadEmojiTable,
  replaceShortcodes,
  searchEmoji,
  shortcodesIn,
} from "./emoji.ts";
import { renderMarkdown } from "./markdown.ts";

const render = (text: string) => renderToString(h("div", null, renderMarkdown(text)));
/** The rendered HTML inside the test wrapper. */
const html = (text: string) => render(text).slice("<div>".length, -"</div>".length);
const LINK = 'target="_blank" rel="noopener noreferrer nofollow ugc"';

// First, while the table is not loaded (tests run in the order they are declared).
Deno.test("without the emoji table: the common names and those a page was given render; another name loads it", async () => {
  assert.equal(emojiTableLoaded(), false);
  addEmoji({ partying_face: "🥳" });
  assert.equal(replaceShortcodes(":+1: :partying_face:"), "👍 🥳");
  assert.deepEqual(searchEmoji("", 2).map((e) => e.emoji), ["👍", "👎"]);
  assert.deepEqual(searchEmoji("tada", 5), [], "search needs the table");
  const before = emojiVersion();
  assert.equal(replaceShortcodes(":unicorn:"), ":unicorn:", "unknown until the table is there");
  await loadEmojiTable();
  assert.equal(emojiTableLoaded(), true);
  assert.equal(emojiVersion(), before + 1);
  assert.equal(replaceShortcodes(":unicorn:"), "🦄");
});

Deno.test("shortcodesIn() lists the known shortcodes of texts with their emoji", () => {
  assert.deepEqual(shortcodesIn(["a :tada: b", "no code", ":nope: :+1::tada:"]), { tada: "🎉", "+1": "👍" });
});

Deno.test("inline syntax: bold, italics, strikethrough, code, line breaks", () => {
  assert.equal(
    html("**bold** _it_ *it* ~~gone~~ `x < y`"),
    '<p dir="auto"><strong>bold</strong> <em>it</em> <em>it</em> <del>gone</del> <code>x &lt; y</code></p>',
  );
  assert.equal(html("one\ntwo\n\nthree"), '<p dir="auto">one\ntwo</p><p dir="auto">three</p>');
  assert.equal(html("hard  \nbreak"), '<p dir="auto">hard\nbreak</p>');
});

Deno.test("blocks: fenced code with a language class, lists, quotes, headings as bold paragraphs, rules", () => {
  assert.equal(
    html("```ts\nconst a = 1 < 2;\n```"),
    '<pre><code class="language-ts">const a = 1 &lt; 2;\n</code></pre>',
  );
  assert.equal(html("```\nplain\n```"), "<pre><code>plain\n</code></pre>");
  assert.equal(html('```x"onload=1\nz\n```'), "<pre><code>z\n</code></pre>", "an odd language gets no class");
  assert.equal(
    html("- a\n- b\n\n3. c\n4. d"),
    '<ul><li dir="auto">a</li><li dir="auto">b</li></ul><ol start="3"><li dir="auto">c</li><li dir="auto">d</li></ol>',
  );
  assert.equal(
    html("> quoted\n> > nested"),
    '<blockquote dir="auto"><p dir="auto">quoted</p>' +
      '<blockquote dir="auto"><p dir="auto">nested</p></blockquote></blockquote>',
  );
  assert.equal(html("# Title"), '<p class="md-heading" dir="auto"><strong>Title</strong></p>');
  assert.equal(html("a\n\n---\n\nb"), '<p dir="auto">a</p><hr/><p dir="auto">b</p>');
  assert.equal(html("    four spaces"), '<p dir="auto">four spaces</p>', "no indented code in chat");
});

Deno.test("GFM tables render, alignment as classes (the CSP allows no inline style)", () => {
  assert.equal(
    html("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |"),
    '<div class="md-table"><table><thead><tr><th class="md-align-left" dir="auto">a</th>' +
      '<th class="md-align-center" dir="auto">b</th><th class="md-align-right" dir="auto">c</th></tr></thead>' +
      '<tbody><tr><td class="md-align-left" dir="auto">1</td><td class="md-align-center" dir="auto">2</td>' +
      '<td class="md-align-right" dir="auto">3</td></tr></tbody></table></div>',
  );
});

Deno.test("links: http, https and mailto only, bare URLs and e-mail addresses too, always in a new tab without opener", () => {
  assert.equal(
    html("[site](https://example.com/a)"),
    `<p dir="auto"><a href="https://example.com/a" ${LINK}>site</a></p>`,
  );
  assert.equal(
    html("see https://example.com/x. or me@example.org!"),
    `<p dir="auto">see <a href="https://example.com/x" ${LINK}>https://example.com/x</a>. or ` +
      `<a href="mailto:me@example.org" ${LINK}>me@example.org</a>!</p>`,
  );
  assert.equal(
    html("<mailto:a@example.com>"),
    `<p dir="auto"><a href="mailto:a@example.com" ${LINK}>mailto:a@example.com</a></p>`,
  );
  assert.equal(
    html("[rel](/rooms/1) [ftp](ftp://x.org/f)"),
    '<p dir="auto">rel ftp</p>',
    "other targets: text only",
  );
});

Deno.test("XSS payloads render as inert text: no script, no handler attribute, no javascript:/data: link", () => {
  const payloads = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '"><svg onload=alert(1)>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#115;cript:alert(1))",
    "[x](\tjavascript:alert(1))",
    "<javascript:alert(1)>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "![x](javascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    '[x](https://ok.example "title" onmouseover="alert(1)")',
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src=https://evil.example></iframe>",
    "```\n</code><script>alert(1)</script>\n```",
  ];
  for (const payload of payloads) {
    const out = html(payload);
    assert.doesNotMatch(
      out,
      /<(script|img|svg|iframe|object|embed|style|input|form)\b/i,
      `${payload} -> ${out}`,
    );
    // Every `<` of the message is escaped, so any `<` left opens an element the renderer made.
    assert.doesNotMatch(out, /<[^>]*\son\w+=/i, `${payload} -> ${out}`);
    assert.doesNotMatch(out, /href="(?!https?:|mailto:)/i, `${payload} -> ${out}`);
  }
  assert.equal(html("<script>alert(1)</script>"), '<p dir="auto">&lt;script>alert(1)&lt;/script></p>');
  assert.equal(html("[x](javascript:alert(1))"), '<p dir="auto">[x](javascript:alert(1))</p>');
});

Deno.test("images become links to the image (nothing remote is loaded), unsafe ones their alt text", () => {
  assert.equal(
    html("![a cat](https://example.com/cat.png)"),
    `<p dir="auto"><a href="https://example.com/cat.png" ${LINK} class="md-image">a cat</a></p>`,
  );
  assert.equal(html("![a cat](cat.png)"), '<p dir="auto">a cat</p>');
});

Deno.test("emoji shortcodes become emoji, but not in code or bare links; unknown ones stay", () => {
  assert.equal(
    html(":tada: :+1: :not_an_emoji: `:tada:` http://x.example/:tada:"),
    '<p dir="auto">🎉 👍 :not_an_emoji: <code>:tada:</code> ' +
      `<a href="http://x.example/:tada:" ${LINK}>http://x.example/:tada:</a></p>`,
  );
  assert.equal(html("```\n:tada:\n```"), "<pre><code>:tada:\n</code></pre>");
  assert.equal(
    html("[party :tada:](https://x.example)"),
    `<p dir="auto"><a href="https://x.example/" ${LINK}>party 🎉</a></p>`,
  );
  assert.equal(replaceShortcodes(":nope:tada::smile:"), ":nope🎉😄");
  assert.equal(replaceShortcodes("10:30:45 a::b :"), "10:30:45 a::b :");
  assert.equal(emojiFor("heart"), "❤️");
  assert.equal(emojiFor("nope"), undefined);
});

Deno.test("emoji search by shortcode: prefix matches first, limited", () => {
  const found = searchEmoji(":TAD", 5);
  assert.equal(found[0].emoji, "🎉");
  assert.ok(found[0].names.includes("tada"));
  assert.equal(searchEmoji("smile", 3).length, 3);
  assert.ok(searchEmoji("smile", 3)[0].names.some((n) => n.startsWith("smile")));
  assert.deepEqual(searchEmoji("zzzzqqq", 5), []);
  assert.deepEqual(searchEmoji("", 3).map((e) => e.emoji), ["👍", "👎", "❤️"]);
  for (const [name, emoji] of COMMON_EMOJI) assert.equal(emojiFor(name), emoji, `${name} as in the table`);
  assert.equal(new Set(COMMON_EMOJI.map(([name]) => name)).size, COMMON_EMOJI.length);
});

Deno.test("the emoji table is up to date with npm:gemoji", async () => {
  const file = await Deno.readTextFile(new URL("./emoji_table.ts", import.meta.url));
  assert.equal(file, emojiTableSource(), "run: deno run -A lib/markdown/generate_emoji_table.ts");
  assert.ok(EMOJI_TABLE.split("\n").length > 1800);
});

Deno.test("right-to-left text: the wrapper's blocks all carry dir=auto", () => {
  assert.equal(
    html("שלום **עולם**\n\n- פריט\n\n> ציטוט"),
    '<p dir="auto">שלום <strong>עולם</strong></p><ul><li dir="auto">פריט</li></ul>' +
      '<blockquote dir="auto"><p dir="auto">ציטוט</p></blockquote>',
  );
});

Deno.test("nesting deeper than the cap is flattened: the text stays, the formatting goes", () => {
  const deep = "*".repeat(200) + "x" + "*".repeat(200);
  const out = html(deep);
  assert.equal(out.replace(/<[^>]*>/g, "").replaceAll("*", ""), "x");
  assert.ok((out.match(/<(em|strong)>/g) ?? []).length < 40);
});

/**
 * Chat message markdown to Preact elements, the same on the server and in the browser (no DOM needed).
 *
 * npm:markdown-it parses (CommonMark with GFM tables, strikethrough and bare-URL links); its token stream is
 * turned into elements here from a fixed list, so no HTML string is ever produced and nothing a message says
 * reaches the page except as text or as an allowed link (see links.ts). Raw HTML is text, images are links,
 * headings are bold paragraphs, a single newline is a line break (shown by CSS), and `:shortcodes:` become emoji outside
 * code and bare links. Every step is linear in the text: markdown-it is (nesting is capped by its
 * `maxNesting`), and the tokens are walked once with an explicit stack, not by recursion.
 */
import MarkdownIt, { type Token } from "markdown-it";
import { type ComponentChildren, Fragment, h } from "preact";
import { replaceShortcodes } from "./emoji.ts";
import { LINK_PROPS, safeHref } from "./links.ts";

const parser = new MarkdownIt("default", { html: false, linkify: true, breaks: true, typographer: false })
  // Chat, not documents: four leading spaces are just spaces, and `[x]: url` lines stay visible as typed.
  .disable(["code", "reference"]);

/** An element being built: its children so far and how to make it once its closing token comes. */
interface Frame {
  children: ComponentChildren[];
  make: (children: ComponentChildren[]) => ComponentChildren;
  /** Text is shown exactly as written (inside a bare or `<…>` link: no emoji). */
  verbatim: boolean;
}

/**
 * How deep elements nest; deeper ones are flattened into their ancestor (content kept, formatting dropped).
 * markdown-it caps blocks but not emphasis: `*` x 1000, a letter, `*` x 1000 nests 500 deep.
 */
const MAX_DEPTH = 32;

/** The elements of a message's text, to put inside the `.msg-text` wrapper. */
export function renderMarkdown(text: string): ComponentChildren[] {
  const root: Frame = { children: [], make: (children) => children, verbatim: false };
  const stack = [root];
  const walk = (tokens: Token[]) => {
    for (const token of tokens) {
      const top = stack[stack.length - 1];
      if (token.nesting === 1) {
        stack.push(stack.length < MAX_DEPTH ? open(token, top) : { ...top, make: () => null });
      } else if (token.nesting === -1) {
        if (stack.length > 1) close(stack);
      } else if (token.type === "inline") {
        walk(token.children ?? []);
      } else {
        top.children.push(leaf(token, top.verbatim));
      }
    }
  };
  walk(parser.parse(text, {}));
  // Unclosed frames (markdown-it always closes them; kept safe anyway) still show their content.
  while (stack.length > 1) close(stack);
  return root.children;
}

/** Ends the innermost frame: its element joins its parent's children (a flattened one is already there). */
function close(stack: Frame[]): void {
  const done = stack.pop()!;
  const element = done.make(done.children);
  if (element !== null) stack[stack.length - 1].children.push(element);
}

const withDir = (tag: string, props: Record<string, unknown> = {}) => (children: ComponentChildren[]) =>
  h(tag, { ...props, dir: "auto", children });
const plain = (tag: string) => (children: ComponentChildren[]) => h(tag, { children });
const fragment = (children: ComponentChildren[]) => h(Fragment, null, children);

/** The frame for an opening token; anything not listed keeps only its content. */
function open(token: Token, parent: Frame): Frame {
  const frame = (make: Frame["make"], verbatim = parent.verbatim): Frame => ({
    children: [],
    make,
    verbatim,
  });
  switch (token.type) {
    case "paragraph_open":
      // Items of a tight list hold their text directly.
      return frame(token.hidden ? fragment : withDir("p"));
    case "heading_open":
      return frame((children) =>
        h("p", { class: "md-heading", dir: "auto", children: h("strong", { children }) })
      );
    case "blockquote_open":
      return frame(withDir("blockquote"));
    case "bullet_list_open":
      return frame(plain("ul"));
    case "ordered_list_open": {
      const start = Number(token.attrGet("start") ?? 1);
      return frame((children) => h("ol", { start: start === 1 ? undefined : start, children }));
    }
    case "list_item_open":
      return frame(withDir("li"));
    case "table_open":
      return frame((children) => h("div", { class: "md-table", children: h("table", { children }) }));
    case "thead_open":
    case "tbody_open":
    case "tr_open":
      return frame(plain(token.tag));
    case "th_open":
    case "td_open":
      return frame(withDir(token.tag, { class: alignClass(token.attrGet("style")) }));
    case "em_open":
      return frame(plain("em"));
    case "strong_open":
      return frame(plain("strong"));
    case "s_open":
      return frame(plain("del"));
    case "link_open": {
      const href = safeHref(String(token.attrGet("href") ?? ""));
      const bare = token.markup === "linkify" || token.markup === "autolink";
      return frame(href === null ? fragment : (children) => h("a", { href, ...LINK_PROPS, children }), bare);
    }
    default:
      return frame(fragment);
  }
}

/** A cell's alignment (`:--`, `:-:`, `--:`) as a class: the page's CSP allows no inline style. */
function alignClass(style: string | number | null): string | undefined {
  const align = /^text-align:(left|center|right)$/.exec(String(style))?.[1];
  return align === undefined ? undefined : `md-align-${align}`;
}

/** A token without children of its own. */
function leaf(token: Token, verbatim: boolean): ComponentChildren {
  switch (token.type) {
    case "text":
      return verbatim ? token.content : replaceShortcodes(token.content);
    case "softbreak":
    case "hardbreak":
      // Kept as a newline that `white-space: pre-wrap` shows as a break: copied text keeps its lines too.
      return "\n";
    case "code_inline":
      return h("code", { children: token.content });
    case "fence":
    case "code_block":
      return codeBlock(token);
    case "hr":
      return h("hr", null);
    case "image":
      return image(token);
    default:
      // Raw HTML (never parsed as such: `html` is off) and anything unknown: as text.
      return token.content;
  }
}

function codeBlock(token: Token): ComponentChildren {
  const lang = /^[\w#+.-]{1,32}$/.exec(token.info.trim().split(/\s/, 1)[0])?.[0];
  return h("pre", { children: h("code", { class: lang && `language-${lang}`, children: token.content }) });
}

/** An image as a link to it (no remote image is ever loaded), labelled by its alt text. */
function image(token: Token): ComponentChildren {
  const alt = (token.children ?? []).map((child) => child.content).join("");
  const src = String(token.attrGet("src") ?? "");
  const href = safeHref(src);
  if (href === null) return alt;
  return h("a", { href, ...LINK_PROPS, class: "md-image", children: alt || src });
}

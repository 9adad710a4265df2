/**
 * A worker for linear_test.ts: renders each text it is sent to an HTML string with the message renderer and
 * posts back `{ name, html }`, so the test can stop it when an input never finishes. Posts `{ ready: true }`
 * first, once it can render: starting the worker (and type-checking it) is not part of any input's deadline.
 */
/// <reference lib="deno.worker" />
import { h } from "preact";
import { renderToString } from "preact-render-to-string";
import { loadEmojiTable } from "../emoji.ts";
import { renderMarkdown } from "../markdown.ts";

await loadEmojiTable();

self.onmessage = (event: MessageEvent<{ name: string; text: string }>) => {
  const { name, text } = event.data;
  const html = renderToString(h("div", { class: "msg-text", children: renderMarkdown(text) }));
  self.postMessage({ name, html });
};

self.postMessage({ ready: true });

/**
 * The renderer runs in linear time on any input: each pathological text of about a million characters must
 * render at all, in a worker stopped after a generous deadline. A quadratic algorithm needs ~10^12 steps on
 * these and cannot finish; a linear one takes about a second. Not a timing assertion: "finishes at all".
 */
import assert from "node:assert/strict";

const N = 1_000_000;
/** Per input; far above what a linear renderer needs, far below what a quadratic one does. */
const DEADLINE_MS = 30_000;

const repeat = (unit: string) => unit.repeat(Math.ceil(N / unit.length));

const INPUTS: Record<string, string> = {
  "a URL then dots (the old linkifier's case)": "http://a" + ".".repeat(N) + "x",
  "a real URL then punctuation": "see https://example.com/" + repeat(".,;:!?)]}"),
  "asterisks": repeat("*"),
  "underscores": repeat("_"),
  "backticks": repeat("`"),
  "backtick runs of growing length": Array.from({ length: 1400 }, (_, i) => "`".repeat(i) + "a").join(""),
  "tildes": repeat("~"),
  "open brackets": repeat("["),
  "open parentheses": repeat("("),
  "less-than signs": repeat("<"),
  "nested quotes on one line": repeat(">"),
  "nested quotes, one per line": repeat("> ").replace(/(> ){50}/g, "$&\n"),
  "nested lists": repeat("- "),
  "nested ordered lists": repeat("1. "),
  "emphasis openers": repeat("*a _b "),
  "stars around one letter": "*".repeat(N / 2) + "x" + "*".repeat(N / 2),
  "unclosed links": repeat("[a]("),
  "image openers": repeat("!["),
  "link text nesting": "[".repeat(N / 2) + "]".repeat(N / 2),
  "colons": repeat(":"),
  "colon and letter": repeat(":a"),
  "a colon then letters": ":" + "a".repeat(N),
  "many shortcodes": repeat(":tada:"),
  "lines": repeat("a\n"),
  "table rows": "a|b\n-|-\n" + repeat("|x|\n"),
  "bare www and e-mail": repeat("www.a@b."),
  "mixed punctuation": repeat("*_~`[(<>:!\\&"),
};

function renderAll(): Promise<Map<string, string>> {
  const worker = new Worker(new URL("./testing/render_worker.ts", import.meta.url), { type: "module" });
  const names = Object.keys(INPUTS);
  const done = new Map<string, string>();
  return new Promise<Map<string, string>>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = () => {
      clearTimeout(timer);
      if (done.size === names.length) {
        worker.terminate();
        return resolve(done);
      }
      const name = names[done.size];
      timer = setTimeout(() => {
        worker.terminate();
        reject(new Error(`"${name}" did not render within ${DEADLINE_MS / 1000} s: not linear`));
      }, DEADLINE_MS);
      worker.postMessage({ name, text: INPUTS[name] });
    };
    worker.onmessage = (event: MessageEvent<{ name: string; html: string } | { ready: true }>) => {
      if (!("ready" in event.data)) done.set(event.data.name, event.data.html);
      next();
    };
    worker.onerror = (event) => {
      clearTimeout(timer);
      event.preventDefault();
      worker.terminate();
      reject(new Error(`rendering "${names[done.size]}" failed: ${event.message}`));
    };
    // The first input is sent once the worker says it is ready.
    timer = setTimeout(() => {
      worker.terminate();
      reject(new Error("the render worker did not start within 120 s"));
    }, 120_000);
  });
}

const count = (text: string, part: string) => text.split(part).length - 1;
/** The text of rendered HTML (the renderer escapes every `<` of the message, so tags are all `<` … `>`). */
const textOf = (html: string) => html.replace(/<[^>]*>/g, "");

Deno.test("pathological texts of a million characters all render (linear time), with their text kept", async () => {
  const html = await renderAll();
  assert.deepEqual([...html.keys()], Object.keys(INPUTS));
  // What they render to is still the text: spot checks on the largest cases.
  assert.equal(count(html.get("a URL then dots (the old linkifier's case)")!, "."), N);
  assert.equal(count(html.get("many shortcodes")!, "🎉"), Math.ceil(N / 6));
  assert.equal(count(html.get("colons")!, ":"), N);
  assert.equal(count(html.get("lines")!, "\n"), N / 2 - 1);
  assert.equal(textOf(html.get("a colon then letters")!), ":" + "a".repeat(N));
  // markdown-it ends a table at 65,536 cells (its own guard); the rows after it stay as text.
  assert.equal(count(html.get("table rows")!, "<tr>"), 65_537);
  assert.equal(count(textOf(html.get("table rows")!), "x"), Math.ceil(N / 4));
  for (const [name, out] of html) assert.ok(out.length > 20, `${name} rendered something`);
});

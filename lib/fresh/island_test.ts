import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { buildIslands } from "./build.ts";
import { createFresh } from "./app.ts";
import { fixture, fixtureApp } from "./testing/test_utils.ts";

const NASTY = "</script><script>alert(1)</script> \u2028 \u2029 & <!-- é";

const PROJECT = {
  "islands/Counter.tsx": `
    import { useState } from "preact/hooks";
    export default function Counter(props: { start: number; label: string }) {
      const [count, setCount] = useState(props.start);
      return <button class="counter-island-marker" onClick={() => setCount(count + 1)}>{props.label}: {count}</button>;
    }`,
  "islands/Greeter.tsx": `export default ({ name }: { name: string }) => <p>Hello {name}</p>;`,
  "islands/helper.ts": `export const notAnIsland = 1;`,
  "components/Plain.tsx": `export default function Plain() { return <p>plain</p>; }`,
  "routes/index.tsx": `
    import { Island } from "$fresh";
    import Counter from "../islands/Counter.tsx";
    import Greeter from "../islands/Greeter.tsx";
    export default () => (
      <main>
        <Island component={Counter} props={{ start: 1, label: ${JSON.stringify(NASTY)} }} />
        <Island component={Counter} props={{ start: 2, label: "second" }} />
        <Island component={Greeter} props={{ name: "Ada" }} />
      </main>
    );`,
  "routes/plain.tsx": `export default () => <p>no islands here</p>;`,
  "routes/bad_props.tsx": `
    import { Island } from "$fresh";
    import Counter from "../islands/Counter.tsx";
    export default () => <Island component={Counter} props={{ start: new Date(0), label: "x" }} />;`,
  "routes/not_island.tsx": `
    import { Island } from "$fresh";
    import Plain from "../components/Plain.tsx";
    export default () => <Island component={Plain} props={{}} />;`,
};

function propsBlock(html: string, id: string): string {
  const match = new RegExp(`<script type="application/json" data-island-props="${id}">(.*?)</script>`).exec(
    html,
  );
  assert.ok(match, `no props block ${id}`);
  return match[1];
}

Deno.test("<Island> marks islands and serialises their props safely", async (t) => {
  await using project = await fixtureApp(PROJECT);
  const { buildId } = project.fresh;
  const html = await (await project.request("/")).text();

  await t.step("each island gets a marker div around its server output", () => {
    assert.ok(html.includes(
      `<div data-island="Counter" data-island-id="0" data-island-src="/_fresh/js/${buildId}/island-Counter.js">` +
        `<button class="counter-island-marker">`,
    ));
    assert.match(
      html,
      /<div data-island="Counter" data-island-id="1" [^>]*><button [^>]*>second: 2<\/button><\/div>/,
    );
    assert.match(html, /<div data-island="Greeter" data-island-id="2" [^>]*><p>Hello Ada<\/p><\/div>/);
  });
  await t.step("props survive JSON and cannot close their script element", () => {
    assert.equal(html.includes("</script><script>alert(1)"), false);
    const block = propsBlock(html, "0");
    assert.equal(/[<>&\u2028\u2029]/.test(block), false);
    assert.deepEqual(JSON.parse(block), { start: 1, label: NASTY });
    assert.deepEqual(JSON.parse(propsBlock(html, "2")), { name: "Ada" });
  });
  await t.step("the client runtime is added once, before </body>", () => {
    const script = `<script type="module" src="/_fresh/js/${buildId}/client.js"></script>`;
    assert.equal(html.split(script).length, 2);
    assert.ok(html.endsWith(`${script}</body></html>`));
    assert.equal(html.match(/<script/g)?.length, 4); // 3 JSON blocks + the module
    assert.doesNotMatch(html, /<script(?! type="(module|application\/json)")/);
  });
  await t.step("pages without islands get no script", async () => {
    assert.doesNotMatch(await (await project.request("/plain")).text(), /<script/);
  });
});

Deno.test("<Island> errors are 500s that name the problem", async (t) => {
  const errors: unknown[] = [];
  await using project = await fixtureApp(PROJECT, { onError: (error) => errors.push(error) });
  await t.step("props that JSON cannot carry", async () => {
    assert.equal((await project.request("/bad_props")).status, 500);
    assert.match(String(errors.at(-1)), /Island "Counter": props\.start is a Date, not a plain object/);
  });
  await t.step("a component that is not an island", async () => {
    assert.equal((await project.request("/not_island")).status, 500);
    assert.match(String(errors.at(-1)), /Plain is not the default export of a file in islands\//);
  });
});

Deno.test("Fresh.staticFiles serves the island bundles as immutable modules", async (t) => {
  await using project = await fixtureApp(PROJECT);
  const base = `/_fresh/js/${project.fresh.buildId}`;

  const client = await project.request(`${base}/client.js`);
  const clientCode = await client.text();
  await t.step("client.js", () => {
    assert.equal(client.status, 200);
    assert.equal(client.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(client.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.match(clientCode, /data-island/);
  });
  await t.step("the island module contains the island and shares the runtime's Preact chunk", async () => {
    const island = await project.request(`${base}/island-Counter.js`);
    const code = await island.text();
    assert.equal(island.status, 200);
    assert.ok(code.includes("counter-island-marker"));
    const shared = /chunk-[A-Z0-9]+\.js/.exec(clientCode)?.[0];
    assert.ok(shared && code.includes(shared), "island and runtime import the same chunk");
    const chunk = await project.request(`${base}/${shared}`);
    assert.equal(chunk.status, 200);
    // Preact's diff (which handles dangerouslySetInnerHTML) is in the shared chunk only: one Preact instance.
    assert.ok((await chunk.text()).includes("dangerouslySetInnerHTML"));
    assert.equal(
      code.includes("dangerouslySetInnerHTML") || clientCode.includes("dangerouslySetInnerHTML"),
      false,
    );
  });
  await t.step("unknown files and other build ids are 404", async () => {
    for (const path of [`${base}/nope.js`, `/_fresh/js/000000000000/client.js`, `${base}/../client.js`]) {
      const response = await project.request(path);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
  });
});

Deno.test("createFresh() fails with the bundler's message when an island cannot be bundled", async () => {
  await assert.rejects(
    fixtureApp({
      "islands/Broken.tsx": `
        export default function Broken() { return <button onClick={() => import("./missing.ts")}>x</button>; }`,
    }),
    (error: Error) =>
      error.message.startsWith("Cannot bundle islands:") && error.message.includes("missing.ts"),
  );
});

Deno.test("buildIslands() writes bundles and a manifest that createFresh({ prebuiltDir }) loads", async () => {
  await using project = await fixture(PROJECT);
  const outDir = join(project.root, "_fresh");
  const manifest = await buildIslands({ root: project.root, outDir });
  assert.deepEqual(manifest.islands, { Counter: "island-Counter.js", Greeter: "island-Greeter.js" });
  assert.ok(manifest.files.includes("client.js"));
  const written = JSON.parse(await Deno.readTextFile(join(outDir, "manifest.json")));
  assert.deepEqual(written, manifest);

  const fresh = await createFresh({ root: project.root, prebuiltDir: outDir });
  assert.equal(fresh.buildId, manifest.buildId);
  const app = new Hono().use(fresh.staticFiles);
  const response = await app.request(`http://localhost/_fresh/js/${manifest.buildId}/island-Greeter.js`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.bytes(), await Deno.readFile(join(outDir, "island-Greeter.js")));

  await Deno.writeTextFile(join(outDir, "client.js"), "tampered");
  await assert.rejects(
    createFresh({ root: project.root, prebuiltDir: outDir }),
    /do not match its manifest\.json/,
  );
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { fixtureApp } from "./testing/test_utils.ts";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const PROJECT = {
  "static/styles.css": "body { color: red; }",
  "static/app.js": "export {};",
  "static/logo.svg": "<svg/>",
  "static/img/pic.png": PNG,
  "static/robots.txt": "User-agent: *",
  "static/data.json": "{}",
  "static/manifest.webmanifest": "{}",
  "static/font.woff2": new Uint8Array([1, 2, 3]),
  "static/file.unknown": "?",
  "secret.txt": "outside static",
  "routes/index.tsx": `export default () => <p>home</p>;`,
};

Deno.test("Fresh.staticFiles serves static/ files with a content type and an ETag", async (t) => {
  await using project = await fixtureApp(PROJECT);

  for (
    const [path, type] of [
      ["/styles.css", "text/css; charset=utf-8"],
      ["/app.js", "text/javascript; charset=utf-8"],
      ["/logo.svg", "image/svg+xml"],
      ["/img/pic.png", "image/png"],
      ["/robots.txt", "text/plain; charset=utf-8"],
      ["/data.json", "application/json; charset=utf-8"],
      ["/manifest.webmanifest", "application/manifest+json; charset=utf-8"],
      ["/font.woff2", "font/woff2"],
      ["/file.unknown", "application/octet-stream"],
    ]
  ) {
    await t.step(path, async () => {
      const response = await project.request(path);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), type);
      assert.equal(response.headers.get("cache-control"), "no-cache");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      await response.body?.cancel();
    });
  }

  await t.step("the body is the file", async () => {
    assert.deepEqual(await (await project.request("/img/pic.png")).bytes(), PNG);
  });
  await t.step("If-None-Match with the ETag is a 304; a changed file gets a new ETag", async () => {
    const first = await project.request("/styles.css");
    await first.body?.cancel();
    const etag = first.headers.get("etag")!;
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    const cached = await project.request("/styles.css", { headers: { "if-none-match": `"x", W/${etag}` } });
    assert.equal(cached.status, 304);
    assert.equal(cached.body, null);
    assert.equal(cached.headers.get("etag"), etag);

    await Deno.writeTextFile(join(project.root, "static/styles.css"), "body { color: blue; }");
    const changed = await project.request("/styles.css", { headers: { "if-none-match": etag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get("etag"), etag);
    await changed.body?.cancel();
  });
  await t.step("HEAD has the headers and no body", async () => {
    const response = await project.request("/robots.txt", { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(response.body, null);
  });
  await t.step("routes still answer other paths", async () => {
    assert.match(await (await project.request("/")).text(), /home/);
  });
});

Deno.test("Fresh.staticFiles never serves outside static/ nor lists directories", async (t) => {
  await using project = await fixtureApp(PROJECT);
  await Deno.symlink(join(project.root, "secret.txt"), join(project.root, "static/link.txt"));

  for (
    const path of [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/img/..%2f..%2fsecret.txt",
      "/..%5csecret.txt",
      "/img%5c..%5c..%5csecret.txt",
      "/%2E%2E%2Fsecret.txt",
      "/img",
      "/img/",
      "/link.txt",
      "/nul%00.txt",
      "/%E0%A4%A",
    ]
  ) {
    await t.step(path, async () => {
      const response = await project.request(path);
      assert.ok([404, 308, 400].includes(response.status), `${path} -> ${response.status}`);
      const body = await response.text();
      assert.doesNotMatch(body, /outside static/);
      if (!path.endsWith("/") && !path.includes("%E0")) assert.equal(response.status, 404);
    });
  }
});

/**
 * The shape of lib/, checked on every run: which folder may import which. Walks the relative imports of every
 * module in lib/ (tests excluded) and fails on a forbidden one, naming the file and the import.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL(".", import.meta.url));

/**
 * What each folder of lib/ may import besides itself: `.` is lib/'s own files (errors, log, ids, model, …),
 * `bus/bus.ts` one file of a folder. Every folder of lib/ must be listed; a folder never imports one above it.
 */
const ALLOWED: Record<string, string[]> = {
  ".": [],
  bus: ["."],
  storage: ["."],
  commands: ["."],
  limits: ["."],
  mail: ["."],
  auth: [".", "mail", "storage"],
  hub: [".", "bus/bus.ts"],
  client: [".", "hub/protocol.ts"],
  websocket: [".", "hub"],
  chat: [".", "bus/bus.ts", "commands", "hub", "limits", "storage"],
  metrics: [".", "bus", "chat", "commands", "hub", "limits", "storage", "websocket"],
  fresh: ["."],
  markdown: [],
  web: [".", "auth", "bus/bus.ts", "chat", "fresh", "hub", "limits", "metrics", "storage", "websocket"],
  api: [".", "auth", "bus/bus.ts", "chat", "hub", "limits", "metrics", "storage", "web", "websocket"],
};
/** lib/'s own files that sit above every folder (they compose the server): only they may import anything. */
const COMPOSITION = new Set(["server.ts", "app.ts"]);

/** Adapters of one port: none may import another (what they share lives beside the port). */
const ADAPTERS = [
  ["storage/sqlite.ts", "storage/mongo.ts"],
  ["bus/memory.ts", "bus/redis.ts"],
  ["commands/memory_queue.ts", "commands/amqp_queue.ts"],
  ["chat/memory_presence.ts", "chat/redis_presence.ts"],
  ["limits/token_bucket.ts", "limits/redis_rate_limit.ts"],
];

interface Import {
  from: string;
  to: string;
}

const isTest = (path: string) => /_test\.tsx?$/.test(path) || path.split("/").includes("testing");

async function modules(dir = LIB): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await modules(path));
    else if (/\.tsx?$/.test(entry.name)) found.push(relative(LIB, path));
  }
  return found.sort();
}

/** The relative imports and re-exports of a module, resolved against lib/ (`../routes/x.ts` stays outside). */
async function importsOf(path: string): Promise<Import[]> {
  const text = await Deno.readTextFile(join(LIB, path));
  const specifiers = text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/g);
  return [...specifiers].map((m) => ({ from: path, to: relative(LIB, join(LIB, dirname(path), m[1])) }));
}

const folderOf = (path: string) => path.includes("/") ? path.split("/")[0] : ".";

/** Why `imp` is forbidden, or null. */
function violation({ from, to }: Import): string | null {
  if (to.startsWith("..")) return "imports from outside lib/ (routes/, islands/, utils.ts …)";
  if (!isTest(from) && isTest(to)) return "production code imports a test-only module";
  const [source, target] = [folderOf(from), folderOf(to)];
  for (const group of ADAPTERS) {
    if (group.includes(from) && group.includes(to)) return "an adapter imports a sibling adapter";
  }
  if (source === target || COMPOSITION.has(from)) return null;
  const allowed = ALLOWED[source];
  if (allowed === undefined) return `lib/${source}/ is not listed in ALLOWED`;
  if (allowed.includes(target) || allowed.includes(to)) return null;
  const name = (folder: string) => folder === "." ? "lib/'s own files" : `lib/${folder}/`;
  return `${name(source)} may not import ${name(target)}`;
}

Deno.test("lib/ imports only downwards: no routes/islands/utils, the hub sees no storage/chat/metrics, adapters not each other", async () => {
  const found: string[] = [];
  for (const path of await modules()) {
    if (isTest(path) && !path.split("/").includes("testing")) continue;
    for (const imp of await importsOf(path)) {
      const why = violation(imp);
      if (why !== null) found.push(`lib/${imp.from} -> lib/${imp.to}: ${why}`);
    }
  }
  assert.deepEqual(found, []);
});

Deno.test("the import rules catch what they forbid", () => {
  assert.match(violation({ from: "server.ts", to: "../utils.ts" })!, /outside lib/);
  assert.match(
    violation({ from: "hub/hub.ts", to: "metrics/metrics.ts" })!,
    /lib\/hub\/ may not import lib\/metrics/,
  );
  assert.match(violation({ from: "hub/hub.ts", to: "storage/store.ts" })!, /may not import lib\/storage/);
  assert.match(violation({ from: "hub/hub.ts", to: "bus/redis.ts" })!, /may not import lib\/bus/);
  assert.match(violation({ from: "storage/mongo.ts", to: "storage/sqlite.ts" })!, /sibling adapter/);
  assert.match(
    violation({ from: "storage/store.ts", to: "hub/protocol.ts" })!,
    /lib\/storage\/ may not import/,
  );
  assert.match(violation({ from: "chat/rooms.ts", to: "hub/testing/fake_history.ts" })!, /test-only/);
  assert.equal(violation({ from: "hub/hub.ts", to: "bus/bus.ts" }), null);
  assert.equal(violation({ from: "server.ts", to: "api/app.ts" }), null);
  assert.match(
    violation({ from: "web/session.ts", to: "api/app.ts" })!,
    /lib\/web\/ may not import lib\/api/,
  );
  assert.match(
    violation({ from: "errors.ts", to: "chat/chat.ts" })!,
    /lib\/'s own files may not import lib\/chat/,
  );
});

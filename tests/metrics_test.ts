/** `GET /metrics`: exact counts after real traffic, the text format, bounded labels, and the Grafana dashboard. */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisBus } from "../lib/bus/redis.ts";
import { RedisPresence } from "../lib/chat/redis_presence.ts";
import { loadConfig } from "../lib/config.ts";
import { nullLogger } from "../lib/log.ts";
import { createChatServer } from "../lib/server.ts";
import { deleteMessagesUpTo, openTestStore, testDatabaseUrl } from "./helpers/database.ts";
import { startRedis } from "./helpers/redis.ts";
import {
  api,
  createRoom,
  createTestApp,
  newUser,
  startServer,
  TEST_ENV,
  waitUntil,
} from "./helpers/server.ts";
import { type Frame, TestSocket } from "./helpers/socket.ts";

// ---- a small parser for the Prometheus text format 0.0.4 ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`);
const LABEL_RE = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

/**
 * Parses an exposition strictly: every sample belongs to a family declared before it with `# HELP` and
 * `# TYPE` (histogram samples end in `_bucket`, `_sum` or `_count`), labels are `name="escaped value"`.
 */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta;
      const family = families.get(name) ?? { name, help: "", type: "", samples: [] };
      families.set(name, family);
      if (kind === "HELP") family.help = rest;
      else {
        assert.ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(rest), line);
        family.type = rest;
      }
      continue;
    }
    assert.ok(!line.startsWith("#"), `unexpected comment: ${line}`);
    const match = SAMPLE_RE.exec(line);
    assert.ok(match !== null, `not a sample line: ${line}`);
    const [, name, labelText, valueText] = match;
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== "") {
      LABEL_RE.lastIndex = 0;
      while (LABEL_RE.lastIndex < labelText.length) {
        const label = LABEL_RE.exec(labelText);
        assert.ok(label !== null, `bad labels: ${line}`);
        labels[label[1]] = label[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      }
    }
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(valueText), `bad value: ${line}`);
    const base = /_(bucket|sum|count)$/.test(name) && families.get(name.replace(/_(bucket|sum|count)$/, ""));
    const family = families.get(name) ?? (base && base.type === "histogram" ? base : undefined);
    assert.ok(family !== undefined, `sample before its # TYPE: ${line}`);
    assert.ok(family.help !== "" && family.type !== "", `no HELP or TYPE for ${family.name}`);
    family.samples.push({ name, labels, value });
  }
  return families;
}

/** The value of the one sample `name` with exactly `labels`. */
function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name.replace(/_(bucket|sum|count)$/, "")) ?? families.get(name);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const found =
    family?.samples.filter((s) =>
      s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted
    ) ?? [];
  assert.equal(found.length, 1, `one sample ${name}${wanted}, got ${JSON.stringify(found)}`);
  return found[0].value;
}

/**
 * Checks every series of a histogram: buckets ascending by `le` and cumulative, `+Inf` equal to `_count`.
 * Returns the `_count` per label set (without `le`).
 */
function checkHistogram(family: Family): Map<string, number> {
  assert.equal(family.type, "histogram");
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name.endsWith("_bucket")) entry.buckets.push([le === "+Inf" ? Infinity : Number(le), s.value]);
    else if (s.name.endsWith("_count")) entry.count = s.value;
    else entry.sum = s.value;
  }
  const counts = new Map<string, number>();
  for (const [key, { buckets, count, sum }] of series) {
    assert.ok(buckets.length > 1 && count !== undefined && sum !== undefined, `${family.name}${key}`);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(buckets[i][0] > buckets[i - 1][0], `${family.name}${key}: le ascending`);
      assert.ok(buckets[i][1] >= buckets[i - 1][1], `${family.name}${key}: buckets cumulative`);
    }
    assert.equal(buckets.at(-1)![0], Infinity);
    assert.equal(buckets.at(-1)![1], count, `${family.name}${key}: +Inf bucket equals _count`);
    assert.ok(sum >= 0);
    counts.set(key, count);
  }
  return counts;
}

async function scrape(base: string): Promise<Map<string, Family>> {
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await res.text());
}

function resume(socket: TestSocket, rooms: Record<string, number>): Promise<Frame> {
  const from = socket.frames.length;
  socket.send({ type: "resume", rooms });
  return socket.waitFor((f) => f.type === "resumed", "resumed", { from });
}

Deno.test("GET /metrics counts real traffic exactly, in the Prometheus text format with bounded labels", async () => {
  const srv = await startServer({
    RATE_LIMIT_BURST: "4",
    RATE_LIMIT_PER_SEC: "0.01",
    AUTH_RATE_LIMIT_BURST: "4",
    AUTH_RATE_LIMIT_PER_MIN: "0.01",
    MAX_CONNECTIONS: "3",
  });
  const sockets: TestSocket[] = [];
  try {
    // Two registers and two logins use this IP's four auth tokens; the fifth attempt is refused.
    const alice = await newUser(srv.url, "alice");
    const bob = await newUser(srv.url, "bob");
    const login = await api(srv.url, "POST", "/api/auth/login", {
      body: { email: alice.email, password: "whatever" },
    });
    assert.equal(login.status, 429);
    const room = await createRoom(srv.url, alice);
    const other = await createRoom(srv.url, alice, { name: "not bob's" });
    // Seq 1: bob's join notice, stored before any socket is open (so fanned out nowhere).
    assert.equal(
      (await api(srv.url, "POST", `/api/rooms/${room.id}/join`, { token: bob.token })).status,
      200,
    );

    const a = await TestSocket.open(`${srv.wsUrl}?token=${alice.token}`);
    const b = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    sockets.push(a, b);
    await Promise.all([a.sync(), b.sync()]); // Both are subscribed to their rooms.
    for (let i = 1; i <= 3; i++) {
      a.send({ type: "message", room_id: room.id, content: `ws ${i}`, client_id: `m${i}` });
      await a.waitFor((f) => f.type === "ack" && f.client_id === `m${i}`, `ack ${i}`);
    }
    const path = `/api/rooms/${room.id}/messages`;
    assert.equal(
      (await api(srv.url, "POST", path, { token: alice.token, body: { content: "rest" } })).status,
      201,
    );
    // Alice's four message tokens are used: one refusal over REST, one over the socket.
    assert.equal(
      (await api(srv.url, "POST", path, { token: alice.token, body: { content: "no" } })).status,
      429,
    );
    a.send({ type: "message", room_id: room.id, content: "no", client_id: "m5" });
    await a.waitFor((f) => f.type === "error" && f.code === "rate_limited", "rate_limited");
    for (const s of [a, b]) {
      await s.waitFor((f) => f.type === "text" && f.content === "rest", "the REST message");
    }
    assert.equal(a.count((f) => f.type === "text") + b.count((f) => f.type === "text"), 8);

    // The third socket is the last slot (MAX_CONNECTIONS=3); a fourth is refused with 503.
    const c = await TestSocket.open(`${srv.wsUrl}?token=${bob.token}`);
    sockets.push(c);
    await assert.rejects(TestSocket.open(`${srv.wsUrl}?token=${bob.token}`));
    await c.sync();
    // One resume per outcome: the recent window (seqs 2-5), the store (seq 1 is older than the window), a
    // reset (retention removed seq 1), and a room bob is not in.
    assert.deepEqual((await resume(c, { [room.id]: 1 })).rooms, { [room.id]: 5 });
    assert.deepEqual((await resume(c, { [room.id]: 0 })).rooms, { [room.id]: 5 });
    await deleteMessagesUpTo(srv.config.databaseUrl, room.id, 1);
    assert.deepEqual((await resume(c, { [room.id]: 0 })).rooms, { [room.id]: 5 });
    assert.equal(c.count((f) => f.type === "reset"), 1);
    assert.deepEqual((await resume(c, { [other.id]: 0 })).rooms, {});

    assert.equal((await api(srv.url, "GET", `/api/nope/${room.id}`)).status, 404);
    assert.equal((await api(srv.url, "GET", path)).status, 401);

    const m = await scrape(srv.url);
    for (const family of m.values()) {
      assert.ok(family.name.startsWith("chat_"), family.name);
      assert.ok(family.help !== "" && family.type !== "", family.name);
    }

    assert.equal(valueOf(m, "chat_messages_received_total", { source: "ws" }), 3);
    assert.equal(valueOf(m, "chat_messages_received_total", { source: "rest" }), 1);
    assert.equal(valueOf(m, "chat_messages_stored_total", { type: "text" }), 4);
    assert.equal(valueOf(m, "chat_messages_stored_total", { type: "system" }), 1);
    assert.equal(valueOf(m, "chat_messages_stored_total", { type: "bot" }), 0);
    // Four messages, each to alice's and bob's socket.
    assert.equal(valueOf(m, "chat_messages_delivered_total"), 8);
    // Observed once per fan-out (per message on this instance), not per socket.
    const latency = checkHistogram(m.get("chat_publish_deliver_seconds")!);
    assert.deepEqual([...latency.values()], [4]);

    assert.equal(valueOf(m, "chat_rate_limited_total", { kind: "message" }), 2);
    assert.equal(valueOf(m, "chat_rate_limited_total", { kind: "auth" }), 1);
    for (const outcome of ["window", "store", "reset", "failed"]) {
      assert.equal(valueOf(m, "chat_resumes_total", { outcome }), 1, outcome);
    }
    for (const outcome of ["filled", "skipped", "failed"]) {
      assert.equal(valueOf(m, "chat_gap_repairs_total", { outcome }), 0, outcome);
    }

    assert.equal(valueOf(m, "chat_ws_connections"), 3);
    assert.equal(valueOf(m, "chat_ws_connections_max"), 3);
    assert.equal(valueOf(m, "chat_ws_users"), 2);
    assert.equal(valueOf(m, "chat_ws_rooms"), 2);
    assert.equal(valueOf(m, "chat_ws_connections_refused_total"), 1);

    assert.deepEqual(m.get("chat_backend_up")!.samples.map((s) => `${s.labels.backend} ${s.value}`).sort(), [
      "bus 1",
      "presence 1",
      "store 1",
    ]);
    assert.equal(valueOf(m, "chat_pubsub_lag_seconds"), 0);

    // Every request so far, by route pattern: no id anywhere.
    const requests = m.get("chat_http_requests_total")!.samples.map((s) =>
      `${s.labels.method} ${s.labels.route} ${s.labels.status} ${s.value}`
    ).sort();
    assert.deepEqual(requests, [
      "GET /api/rooms/:id/messages 401 1",
      "GET /ws 101 3",
      "GET /ws 503 1",
      "GET unmatched 404 1",
      "POST /api/auth/login 200 2",
      "POST /api/auth/login 429 1",
      "POST /api/auth/register 201 2",
      "POST /api/rooms 201 2",
      "POST /api/rooms/:id/join 200 1",
      "POST /api/rooms/:id/messages 201 1",
      "POST /api/rooms/:id/messages 429 1",
    ]);
    const durations = checkHistogram(m.get("chat_http_request_duration_seconds")!);
    const perRoute = new Map<string, number>();
    for (const s of m.get("chat_http_requests_total")!.samples) {
      const key = JSON.stringify(Object.entries({ method: s.labels.method, route: s.labels.route }).sort());
      perRoute.set(key, (perRoute.get(key) ?? 0) + s.value);
    }
    assert.deepEqual(new Map([...durations].sort()), new Map([...perRoute].sort()));

    const secrets = [room.id, other.id, alice.id, bob.id, alice.email, bob.email, alice.token, bob.token];
    for (const family of m.values()) {
      for (const sample of family.samples) {
        for (const value of Object.values(sample.labels)) {
          assert.ok(!secrets.some((s) => value.includes(s)), `${sample.name} label ${value}`);
        }
      }
    }

    // The connection gauges are read at scrape time.
    for (const s of sockets) await s.close();
    await waitUntil(() => srv.chat.connections.open === 0, "the sockets to be gone");
    const after = await scrape(srv.url);
    assert.equal(valueOf(after, "chat_ws_connections"), 0);
    assert.equal(valueOf(after, "chat_ws_users"), 0);
    assert.equal(valueOf(after, "chat_ws_rooms"), 0);
    // The first scrape is counted once it is answered.
    assert.equal(
      valueOf(after, "chat_http_requests_total", { route: "/metrics", method: "GET", status: "200" }),
      1,
    );
  } finally {
    for (const s of sockets) await s.close();
    await srv.close();
  }
});

Deno.test("with Redis: backend_up follows the bus and presence connections; the probe's round trip is the lag", async () => {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir({ prefix: "chat-metrics-" });
  const config = loadConfig({ ...TEST_ENV, DATABASE_URL: testDatabaseUrl(dir) });
  const store = await openTestStore(config.databaseUrl);
  const bus = new RedisBus({ url: redis.url, log: nullLogger, name: "metrics-test" });
  const client = new Redis(redis.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  client.on("error", () => {});
  const chat = await (async () => {
    await new Promise((resolve) => client.once("ready", resolve));
    const presence = new RedisPresence({ redis: client, log: nullLogger, instanceId: "metrics-test" });
    return await createChatServer({ config, log: nullLogger, store, bus, presence, web: false });
  })();
  const scrapeApp = async () => parseExposition(await (await chat.app.request("/metrics")).text());
  const up = (m: Map<string, Family>) =>
    m.get("chat_backend_up")!.samples.map((s) => `${s.labels.backend} ${s.value}`).sort();
  try {
    const m = await scrapeApp();
    assert.deepEqual(up(m), ["bus 1", "presence 1", "store 1"]);
    const lag = valueOf(m, "chat_pubsub_lag_seconds");
    assert.ok(Number.isFinite(lag) && lag > 0, `lag ${lag}`);

    await redis.stop();
    let last: string[] = [];
    const deadline = Date.now() + 15_000;
    while (JSON.stringify(last) !== JSON.stringify(["bus 0", "presence 0", "store 1"])) {
      assert.ok(Date.now() < deadline, `backend_up still ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 50));
      last = up(await scrapeApp());
    }
  } finally {
    await chat.drain();
    await bus.close();
    client.disconnect();
    await redis.stop();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Grafana dashboard is valid and every query uses a metric that /metrics exposes", async () => {
  const dashboard = JSON.parse(
    await Deno.readTextFile(new URL("../deploy/grafana-dashboard.json", import.meta.url)),
  );
  const app = await createTestApp();
  let families: Map<string, Family>;
  try {
    families = parseExposition(await (await app.chat.app.request("/metrics")).text());
  } finally {
    await app.close();
  }
  assert.equal(typeof dashboard.title, "string");
  assert.equal(typeof dashboard.uid, "string");
  assert.ok(dashboard.schemaVersion >= 36, "a current Grafana schema");
  const variable = dashboard.templating.list.find((v: { type: string }) => v.type === "datasource");
  assert.equal(variable.query, "prometheus");

  // Histogram series end in _bucket, _sum or _count; anything else must be a family as exposed.
  const exposed = new Set<string>();
  for (const family of families.values()) {
    exposed.add(family.name);
    if (family.type === "histogram") {
      for (const s of ["_bucket", "_sum", "_count"]) exposed.add(family.name + s);
    }
  }
  const used = new Set<string>();
  const ids = new Set<number>();
  const panels = dashboard.panels.flatMap((p: { panels?: unknown[] }) => [p, ...(p.panels ?? [])]);
  for (const panel of panels) {
    assert.ok(!ids.has(panel.id), `panel id ${panel.id} unique`);
    ids.add(panel.id);
    if (panel.type === "row") continue;
    assert.equal(
      panel.datasource?.uid,
      `\${${variable.name}}`,
      `${panel.title}: uses the datasource variable`,
    );
    assert.ok(panel.targets.length > 0, `${panel.title}: has queries`);
    for (const target of panel.targets) {
      const names = target.expr.match(/\bchat_[a-z0-9_]+/g) ?? [];
      assert.ok(names.length > 0, `${panel.title}: ${target.expr}`);
      for (const name of names) {
        assert.ok(exposed.has(name), `${panel.title}: ${name} is not exposed`);
        used.add(name.replace(/_(bucket|sum|count)$/, ""));
      }
    }
  }
  // And the other way round: every family has a panel.
  for (const family of families.values()) assert.ok(used.has(family.name), `no panel shows ${family.name}`);
});

import assert from "node:assert/strict";
import { Hono } from "hono";
import { TokenBucketLimiter } from "../limits/token_bucket.ts";
import { MemoryBus } from "../bus/memory.ts";
import { MemoryPresence } from "../chat/memory_presence.ts";
import { SeqOrder } from "../hub/recovery/mod.ts";
import { httpMetrics } from "./http.ts";
import { countRefusals, type GapRepairOutcome, Metrics } from "./metrics.ts";

/** The sample lines of `name` (with labels), as exposed. */
async function lines(metrics: Metrics, name: string): Promise<string[]> {
  const { text } = await metrics.expose();
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

Deno.test("countRefusals counts refused takes by kind and passes every decision through", async () => {
  const metrics = new Metrics();
  const limiter = countRefusals(
    new TokenBucketLimiter({ ratePerSec: 1, burst: 2, now: () => 0 }),
    metrics,
    "message",
  );
  const decisions = [];
  for (let i = 0; i < 5; i++) decisions.push((await limiter.take("u1")).ok);
  assert.deepEqual(decisions, [true, true, false, false, false]);
  assert.deepEqual(await lines(metrics, "chat_rate_limited_total"), [
    'chat_rate_limited_total{kind="message"} 3',
    'chat_rate_limited_total{kind="auth"} 0',
  ]);
});

Deno.test("backend_up: a failing or throwing check is 0; checks run at most once a second", async () => {
  let now = 0;
  let pings = 0;
  let storeOk = true;
  const metrics = new Metrics({ backendTimeoutMs: 20, now: () => now });
  const bus = new MemoryBus();
  metrics.watch({
    connections: { open: 2, max: 5 },
    hub: { stats: () => ({ clients: 2, users: 1, rooms: 3 }) },
    store: {
      ping: () => {
        pings++;
        return storeOk ? Promise.resolve() : Promise.reject(new Error("down"));
      },
    },
    bus,
    presence: Object.assign(new MemoryPresence(), { health: () => "degraded" as const }),
    // A queue whose state cannot even be read is down too.
    commands: {
      get connected(): boolean {
        throw new Error("broken");
      },
    },
  });
  assert.deepEqual(await lines(metrics, "chat_backend_up"), [
    'chat_backend_up{backend="store"} 1',
    'chat_backend_up{backend="bus"} 1',
    'chat_backend_up{backend="presence"} 0',
    'chat_backend_up{backend="commands"} 0',
  ]);
  storeOk = false;
  now += 999;
  assert.equal((await lines(metrics, "chat_backend_up"))[0], 'chat_backend_up{backend="store"} 1');
  assert.equal(pings, 1);
  now += 1;
  assert.equal((await lines(metrics, "chat_backend_up"))[0], 'chat_backend_up{backend="store"} 0');
  assert.equal(pings, 2);
  assert.deepEqual(await lines(metrics, "chat_ws_connections"), ["chat_ws_connections 2"]);
  assert.deepEqual(await lines(metrics, "chat_ws_rooms"), ["chat_ws_rooms 3"]);
  // The in-process bus has no lag.
  assert.deepEqual(await lines(metrics, "chat_pubsub_lag_seconds"), ["chat_pubsub_lag_seconds 0"]);
});

Deno.test("backend_up: a store ping that never answers counts as down once the timeout passes", async () => {
  const metrics = new Metrics({ backendTimeoutMs: 10 });
  const { promise: never, resolve } = Promise.withResolvers<void>();
  metrics.watch({
    connections: { open: 0, max: 1 },
    hub: { stats: () => ({ clients: 0, users: 0, rooms: 0 }) },
    store: { ping: () => never },
    bus: new MemoryBus(),
    presence: new MemoryPresence(),
  });
  assert.deepEqual(await lines(metrics, "chat_backend_up"), [
    'chat_backend_up{backend="store"} 0',
    'chat_backend_up{backend="bus"} 1',
    'chat_backend_up{backend="presence"} 1',
  ]);
  resolve();
});

Deno.test("SeqOrder reports each gap repair: filled, skipped (nothing found) or failed (store error)", async () => {
  const cases: [string, () => Promise<{ seq: number; frame: string }[]>, GapRepairOutcome][] = [
    ["found", () => Promise.resolve([{ seq: 2, frame: "f2" }]), "filled"],
    ["lost", () => Promise.resolve([]), "skipped"],
    ["error", () => Promise.reject(new Error("store down")), "failed"],
  ];
  for (const [what, missing, expected] of cases) {
    const metrics = new Metrics();
    const delivered: string[] = [];
    const { promise: repaired, resolve } = Promise.withResolvers<void>();
    const order = new SeqOrder({
      deliver: (frame) => delivered.push(frame),
      missing,
      waitMs: 0,
      maxRepair: 10,
      onError: () => {},
      onRepair: (outcome) => {
        metrics.gapRepaired(outcome);
        resolve();
      },
    });
    order.push(1, "f1", { s: 1 });
    order.push(3, "f3", { s: 3 });
    await repaired;
    order.close();
    assert.deepEqual(delivered, expected === "filled" ? ["f1", "f2", "f3"] : ["f1", "f3"], what);
    const counts = await lines(metrics, "chat_gap_repairs_total");
    assert.deepEqual(
      counts.filter((l) => l.endsWith(" 1")),
      [`chat_gap_repairs_total{outcome="${expected}"} 1`],
      what,
    );
  }
});

Deno.test("HTTP metrics label requests by route pattern, also when a middleware refuses; methods are bounded", async () => {
  const metrics = new Metrics();
  const app = new Hono();
  app.use("*", httpMetrics(metrics));
  const rooms = new Hono();
  rooms.use("*", async (c, next) => {
    if (c.req.header("authorization") === undefined) return c.text("no", 401);
    await next();
  });
  rooms.get("/:id/messages", (c) => c.text(`messages of ${c.req.param("id")}`));
  app.route("/api/rooms", rooms);
  app.on(["PROPFIND"], "/dav", (c) => c.text("dav"));

  const auth = { headers: { authorization: "Bearer x" } };
  assert.equal((await app.request("/api/rooms/r1/messages", auth)).status, 200);
  assert.equal((await app.request("/api/rooms/r2/messages", auth)).status, 200);
  assert.equal((await app.request("/api/rooms/r3/messages")).status, 401);
  assert.equal((await app.request("/api/rooms/r4/nothing", auth)).status, 404);
  assert.equal((await app.request("/dav", { method: "PROPFIND" })).status, 200);
  assert.deepEqual(await lines(metrics, "chat_http_requests_total"), [
    'chat_http_requests_total{route="/api/rooms/:id/messages",method="GET",status="200"} 2',
    'chat_http_requests_total{route="/api/rooms/:id/messages",method="GET",status="401"} 1',
    'chat_http_requests_total{route="unmatched",method="GET",status="404"} 1',
    'chat_http_requests_total{route="/dav",method="OTHER",status="200"} 1',
  ]);
  assert.deepEqual(await lines(metrics, "chat_http_request_duration_seconds_count"), [
    'chat_http_request_duration_seconds_count{route="/api/rooms/:id/messages",method="GET"} 3',
    'chat_http_request_duration_seconds_count{route="unmatched",method="GET"} 1',
    'chat_http_request_duration_seconds_count{route="/dav",method="OTHER"} 1',
  ]);
});

Deno.test("a fan-out counts its deliveries and observes its latency once", async () => {
  const metrics = new Metrics();
  metrics.fannedOut(3, Date.now());
  metrics.fannedOut(0, Date.now()); // A room whose only local socket is the typist's: no delivery.
  metrics.fannedOut(2, undefined); // Filled from the store: no publish time.
  assert.deepEqual(await lines(metrics, "chat_messages_delivered_total"), [
    "chat_messages_delivered_total 5",
  ]);
  assert.deepEqual(await lines(metrics, "chat_publish_deliver_seconds_count"), [
    "chat_publish_deliver_seconds_count 2",
  ]);
  // A publisher's clock ahead of ours is no negative latency: it lands in the lowest bucket (the two above may
  // have taken a millisecond, so they are counted, not placed).
  const lowest = async () =>
    Number(
      /^chat_publish_deliver_seconds_bucket\{le="0.0005"\} (\d+)$/m.exec((await metrics.expose()).text)![1],
    );
  const before = await lowest();
  metrics.fannedOut(1, Date.now() + 60_000);
  assert.equal(await lowest(), before + 1);
});

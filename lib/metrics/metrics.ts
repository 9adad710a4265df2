import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RateDecision, RateLimiter } from "../limits/rate_limit.ts";
import type { Bus } from "../bus/bus.ts";
import type { MessageSource } from "../chat/broadcast.ts";
import type { Presence } from "../chat/presence.ts";
import type { ResumeOutcome as HubResumeOutcome } from "../hub/recovery/mod.ts";
import type { CommandQueue } from "../commands/queue.ts";
import type { MessageType, Store } from "../storage/store.ts";
import type { StoreBreaker } from "../storage/breaker.ts";

/** Publish -> deliver buckets in seconds: 0.5 ms to 5 s. */
export const DELIVERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** HTTP request duration buckets in seconds: 1 ms to 10 s. */
export const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A backend check's result is reused for this long, so frequent scrapes do not ping the store each time. */
const BACKEND_CACHE_MS = 1_000;
/** A backend check that has not answered after this long counts as down (a scrape never waits longer). */
const BACKEND_TIMEOUT_MS = 1_000;

/** Where a resume's backfill came from: the hub's recent window, the store, the store after a `reset` frame. */
export type ResumeOutcome = HubResumeOutcome | "failed";
/** A hub's gap repair: every missing message found, part of the gap skipped, or the store failed. */
export type GapRepairOutcome = "filled" | "skipped" | "failed";
export type RateLimitKind = "message" | "auth";

const MESSAGE_TYPES: MessageType[] = ["text", "system", "bot"];
const RESUME_OUTCOMES: ResumeOutcome[] = ["window", "store", "reset", "failed"];
const GAP_OUTCOMES: GapRepairOutcome[] = ["filled", "skipped", "failed"];
const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** What the scrape-time gauges read: the server's parts, attached once they exist (`watch`). */
export interface MetricsSources {
  /** Sockets held against `MAX_CONNECTIONS`, and that limit. */
  connections: { readonly open: number; readonly max: number };
  /** Sockets registered with the hub, their distinct users, and rooms with a local socket. */
  hub: { stats(): { clients: number; users: number; rooms: number }; readonly catchingUpFromStore?: boolean };
  store: Pick<Store, "ping">;
  /** The store's circuit breaker, when it has one: the store is up while it is closed (no ping then). */
  breaker?: Pick<StoreBreaker, "state">;
  bus: Pick<Bus, "health" | "probeRoundTripMs">;
  presence: Presence;
  /** Absent when chat commands are off. */
  commands?: Pick<CommandQueue, "connected">;
}

/**
 * The server's Prometheus metrics (`GET /metrics`), all named `chat_…`, on a registry of their own (several
 * servers can live in one process, as in the tests). Hot paths call the small methods here: a counter increment,
 * or one histogram observation per fan-out; nothing is allocated per recipient. Gauges are read at scrape time.
 *
 * @example
 * const metrics = new Metrics();
 * metrics.messageStored("text");
 * const text = await metrics.registry.metrics();
 */
export class Metrics {
  readonly registry = new Registry();
  #sources: MetricsSources | undefined;
  #backends: { at: number; result: Promise<Map<string, boolean>> } | undefined;
  readonly #backendTimeoutMs: number;
  readonly #now: () => number;

  readonly #received: Record<MessageSource, Counter.Internal>;
  readonly #stored: Counter<"type">;
  readonly #delivered: Counter;
  readonly #deliverSeconds: Histogram;
  readonly #resumes: Counter<"outcome">;
  readonly #gapRepairs: Counter<"outcome">;
  readonly #caughtUp: Counter;
  readonly #rateLimited: Record<RateLimitKind, Counter.Internal>;
  readonly #wsRefused: Counter;
  readonly #httpRequests: Counter<"route" | "method" | "status">;
  readonly #httpSeconds: Histogram<"route" | "method">;

  /** `backendTimeoutMs` (1 s) and the clock that ages cached backend checks are for tests. */
  constructor(options: { backendTimeoutMs?: number; now?: () => number } = {}) {
    this.#backendTimeoutMs = options.backendTimeoutMs ?? BACKEND_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
    const registers = [this.registry];
    // deno-lint-ignore no-this-alias
    const self = this;

    new Gauge({
      name: "chat_ws_connections",
      help: "WebSocket connections held against MAX_CONNECTIONS (opening and closing ones included).",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.connections.open);
      },
    });
    new Gauge({
      name: "chat_ws_connections_max",
      help: "The connection limit (MAX_CONNECTIONS).",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.connections.max);
      },
    });
    new Gauge({
      name: "chat_ws_users",
      help: "Distinct users with at least one socket on this instance.",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.hub.stats().users);
      },
    });
    new Gauge({
      name: "chat_ws_rooms",
      help: "Rooms with at least one local socket (each is one bus subscription).",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.hub.stats().rooms);
      },
    });
    this.#wsRefused = new Counter({
      name: "chat_ws_connections_refused_total",
      help: "WebSocket upgrades refused with 503 server_full (MAX_CONNECTIONS reached).",
      registers,
    });

    const received = new Counter({
      name: "chat_messages_received_total",
      help: "Messages from clients stored as new (retries with a known client_id excluded), by source.",
      labelNames: ["source"] as const,
      registers,
    });
    this.#received = { ws: zero(received, { source: "ws" }), rest: zero(received, { source: "rest" }) };
    this.#stored = new Counter({
      name: "chat_messages_stored_total",
      help: "Messages stored and published, by type.",
      labelNames: ["type"] as const,
      registers,
    });
    for (const type of MESSAGE_TYPES) this.#stored.inc({ type }, 0);
    this.#delivered = new Counter({
      name: "chat_messages_delivered_total",
      help: "Frames of stored messages the live fan-out handed to local sockets.",
      registers,
    });
    this.#deliverSeconds = new Histogram({
      name: "chat_publish_deliver_seconds",
      help:
        "From publishing a stored message to its fan-out on this instance (once per message and instance; " +
        "across hosts it includes their clock difference).",
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.#resumes = new Counter({
      name: "chat_resumes_total",
      help: "Rooms resumed, by where the backfill came from (window, store, reset) or failed.",
      labelNames: ["outcome"] as const,
      registers,
    });
    for (const outcome of RESUME_OUTCOMES) this.#resumes.inc({ outcome }, 0);
    this.#gapRepairs = new Counter({
      name: "chat_gap_repairs_total",
      help: "Gaps in a room's seq filled from the store by the hub, by outcome.",
      labelNames: ["outcome"] as const,
      registers,
    });
    for (const outcome of GAP_OUTCOMES) this.#gapRepairs.inc({ outcome }, 0);
    new Gauge({
      name: "chat_bus_catch_up",
      help: "1 while the bus is deaf and the hub reads new stored messages from the store instead, else 0.",
      registers,
      collect() {
        if (self.#sources) this.set(self.#sources.hub.catchingUpFromStore ? 1 : 0);
      },
    });
    this.#caughtUp = new Counter({
      name: "chat_bus_catch_up_messages_total",
      help:
        "Stored messages (any event with a seq) read from the store and delivered while the bus was deaf.",
      registers,
    });
    const limited = new Counter({
      name: "chat_rate_limited_total",
      help: "Requests refused by a rate limit: message (per user) or auth (register/login per IP).",
      labelNames: ["kind"] as const,
      registers,
    });
    this.#rateLimited = {
      message: zero(limited, { kind: "message" }),
      auth: zero(limited, { kind: "auth" }),
    };

    new Gauge({
      name: "chat_backend_up",
      help: "1 when a backend answers (store ping, bus probe, presence and command queue connections), " +
        "else 0. In-process backends are always 1.",
      labelNames: ["backend"] as const,
      registers,
      async collect() {
        this.reset();
        for (const [backend, up] of await self.#checkBackends()) this.set({ backend }, up ? 1 : 0);
      },
    });
    new Gauge({
      name: "chat_store_breaker_open",
      help:
        "1 while the store's circuit breaker is open (store calls refused at once with store_unavailable " +
        "until a probe answers), else 0.",
      registers,
      collect() {
        const breaker = self.#sources?.breaker;
        this.set(breaker?.state === "open" ? 1 : 0);
      },
    });
    new Gauge({
      name: "chat_pubsub_lag_seconds",
      help: "Round trip of the last Redis bus probe (publish until received back); 0 for the in-process bus.",
      registers,
      collect() {
        this.reset();
        const bus = self.#sources?.bus;
        if (bus === undefined) return;
        const ms = bus.probeRoundTripMs === undefined ? 0 : bus.probeRoundTripMs();
        if (ms !== undefined) this.set(ms / 1000);
      },
    });

    this.#httpRequests = new Counter({
      name: "chat_http_requests_total",
      help: "HTTP requests by route pattern (not the raw path), method and status.",
      labelNames: ["route", "method", "status"] as const,
      registers,
    });
    this.#httpSeconds = new Histogram({
      name: "chat_http_request_duration_seconds",
      help: "HTTP request duration by route pattern and method (for /ws, until the upgrade).",
      labelNames: ["route", "method"] as const,
      buckets: HTTP_BUCKETS,
      registers,
    });
  }

  /** Attaches what the gauges read at scrape time; until then they have no samples. */
  watch(sources: MetricsSources): void {
    this.#sources = sources;
    this.#backends = undefined;
  }

  messageReceived(source: MessageSource): void {
    this.#received[source].inc();
  }

  messageStored(type: MessageType): void {
    this.#stored.inc({ type });
  }

  /** `count` frames of one stored message went to local sockets; `publishedAt` (ms) when it was published. */
  fannedOut(count: number, publishedAt: number | undefined): void {
    if (count > 0) this.#delivered.inc(count);
    if (publishedAt !== undefined) this.#deliverSeconds.observe(Math.max(0, Date.now() - publishedAt) / 1000);
  }

  resumed(outcome: ResumeOutcome): void {
    this.#resumes.inc({ outcome });
  }

  gapRepaired(outcome: GapRepairOutcome): void {
    this.#gapRepairs.inc({ outcome });
  }

  caughtUpFromStore(count: number): void {
    this.#caughtUp.inc(count);
  }

  rateLimited(kind: RateLimitKind): void {
    this.#rateLimited[kind].inc();
  }

  connectionRefused(): void {
    this.#wsRefused.inc();
  }

  httpRequest(route: string, method: string, status: number, seconds: number): void {
    const m = HTTP_METHODS.has(method) ? method : "OTHER";
    this.#httpRequests.inc({ route, method: m, status: String(status) });
    this.#httpSeconds.observe({ route, method: m }, seconds);
  }

  /** The Prometheus text exposition (format 0.0.4) and its content type. */
  async expose(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** Backend states, checked at most once per second; concurrent scrapes share one check. */
  #checkBackends(): Promise<Map<string, boolean>> {
    const sources = this.#sources;
    if (sources === undefined) return Promise.resolve(new Map());
    const now = this.#now();
    if (this.#backends === undefined || now - this.#backends.at >= BACKEND_CACHE_MS) {
      const checks: [string, () => boolean | Promise<unknown>][] = [
        ["store", () => sources.breaker ? sources.breaker.state === "closed" : sources.store.ping()],
        ["bus", () => sources.bus.health() === "ok"],
        ["presence", () => sources.presence.health?.() !== "degraded"],
      ];
      const commands = sources.commands;
      if (commands !== undefined) checks.push(["commands", () => commands.connected !== false]);
      const result = Promise.all(checks.map(async ([name, check]) => {
        return [name, await within(check, this.#backendTimeoutMs)] as const;
      })).then((entries) => new Map(entries));
      this.#backends = { at: now, result };
    }
    return this.#backends.result;
  }
}

/**
 * Counts the refusals of a rate limiter under `chat_rate_limited_total{kind}`; decisions pass through unchanged.
 */
export function countRefusals(limiter: RateLimiter, metrics: Metrics, kind: RateLimitKind): RateLimiter {
  return {
    async take(key: string): Promise<RateDecision> {
      const decision = await limiter.take(key);
      if (!decision.ok) metrics.rateLimited(kind);
      return decision;
    },
  };
}

/** The child of `counter` for `labels`, exposed at 0 from the start so `rate()` sees its first increment. */
function zero<T extends string>(counter: Counter<T>, labels: Partial<Record<T, string>>): Counter.Internal {
  const child = counter.labels(labels);
  child.inc(0);
  return child;
}

/** Whether `check` succeeds (true, or a settled promise that is not `false`) within `ms`. */
async function within(check: () => boolean | Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([Promise.resolve().then(check).then((v) => v !== false, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `GET /metrics`: the text exposition. No secrets in it, but it is for the scraper, not the public. */
export async function metricsResponse(metrics: Metrics): Promise<Response> {
  const { text, contentType } = await metrics.expose();
  return new Response(text, { headers: { "content-type": contentType, "cache-control": "no-store" } });
}

import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "../log.ts";
import type { Bus, BusHandler } from "./bus.ts";

export interface RedisBusOptions {
  /** `redis://[[user]:password@]host[:port][/db]`, or `rediss://…` for TLS. */
  url: string;
  log: Logger;
  /** Names this instance in log fields and in `CLIENT LIST` (`<name>:pub`, `<name>:sub`). Default `bus`. */
  name?: string;
  /**
   * How often a healthy bus checks that its subscriber still receives (default 5 s): a deaf link is noticed
   * within this plus `PROBE_TIMEOUT_MS`.
   */
  probeIntervalMs?: number;
}

/** How long `start()` waits for both connections and a first probe before it fails. */
export const START_TIMEOUT_MS = 5_000;
/** How long one connection attempt (TCP, TLS, AUTH, ready check) may take. */
const CONNECT_TIMEOUT_MS = 2_000;
/** A command without a reply after this long fails: catches a connection that is open but dead. */
const COMMAND_TIMEOUT_MS = 2_000;
/** How often a healthy bus checks that its subscriber still receives, by default. */
const PROBE_INTERVAL_MS = 5_000;
/** How long a probe may take to come back through the subscriber before it is reconnected. */
export const PROBE_TIMEOUT_MS = 2_000;
/**
 * How often to probe so that a deaf link is noticed, and the hub has read the store (every second, see
 * `BusCatchUp`), within `staleMaxSeconds` of a message being stored elsewhere: the interval, the probe's timeout,
 * a second for the hub's next round and four to spare (a loaded machine, a slow store) fit in it. Between 1 s and
 * the default 5 s: 3 s for the default bound of 10 s.
 */
export function busProbeIntervalMs(staleMaxSeconds: number): number {
  return Math.max(1_000, Math.min(PROBE_INTERVAL_MS, staleMaxSeconds * 1_000 - PROBE_TIMEOUT_MS - 5_000));
}

/** How long `close()` waits for Redis to answer QUIT before it drops the connection. */
const QUIT_TIMEOUT_MS = 1_000;
/** Channels per SUBSCRIBE when resubscribing after a reconnect. */
const SUBSCRIBE_BATCH = 500;

/** Milliseconds before reconnect attempt `attempt` (1, 2, …): 100, 200, … capped at 2 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, 2_000);
}

type State = "starting" | "ok" | "degraded" | "closed";

/**
 * The bus between instances through Redis pub/sub: one connection publishes, one subscribes.
 *
 * The set of wanted channels lives here, not in ioredis (its `autoResubscribe` is off): after every reconnect
 * of the subscriber the bus sends SUBSCRIBE for all of them itself, checks that Redis's reply counts every one,
 * then publishes a probe on a channel of its own (`bus-probe:<uuid>`) through the publisher and reports
 * `health()` "ok" only once the probe came back. The probe repeats every 5 s; a subscriber that stops receiving
 * (probe not back within 2 s) is reconnected, and so resubscribed.
 *
 * While Redis is unreachable `health()` is "degraded" and ioredis reconnects by itself (100 ms, 200 ms, … up to
 * 2 s apart). `publish()` fails at once (no offline queue; on a connection that is open but dead, after 2 s).
 * `subscribe()` and `unsubscribe()` only record the change and resolve: the hub keeps its rooms, and the
 * subscriptions are put right on reconnect. So while degraded a resolved `subscribe()` does not mean the
 * channel is subscribed yet, and what others publish before the resubscription is not delivered here (Redis
 * pub/sub keeps nothing). An error Redis answers (e.g. an ACL refusing the channel) still rejects `subscribe()`.
 *
 * `start()` fails when Redis is not ready within 5 s (and the bus is then closed). The password never appears
 * in errors or logs.
 *
 * @example
 * const bus = new RedisBus({ url: "redis://127.0.0.1:6379", log });
 * await bus.start((channel, payload) => hub.deliver(channel, payload));
 * await bus.subscribe("room:1");
 * await bus.publish("room:1", "hello");
 */
export class RedisBus implements Bus {
  readonly #url: string;
  readonly #tls: boolean;
  /** The URL without credentials, for messages. */
  readonly #where: string;
  readonly #name: string;
  readonly #log: Logger;
  readonly #probeIntervalMs: number;
  readonly #probeChannel = `bus-probe:${crypto.randomUUID()}`;
  /** Channels this bus should be subscribed to: the source of truth for resubscribing. */
  readonly #wanted = new Set<string>();
  #handler: BusHandler | undefined;
  #pub: Redis | undefined;
  #sub: Redis | undefined;
  #state: State = "starting";
  #lostAt = 0;
  #lastError: unknown;
  /** Changes on every ready and close of the subscriber, so late replies of an old connection are ignored. */
  #subEpoch = 0;
  /** The subscriber has confirmed SUBSCRIBE for every wanted channel since it last became ready. */
  #synced = false;
  /** A probe came back since both connections last became ready. */
  #probeOk = false;
  #probeSeq = 0;
  #probeRequested = false;
  /** Publish-to-receipt time of the last probe that came back (ms). */
  #probeRttMs: number | undefined;
  #probing: Promise<void> | undefined;
  #pendingProbe: { token: string; settle: (delivered: boolean) => void } | undefined;
  #interval: ReturnType<typeof setInterval> | undefined;
  #started: ((ok: boolean) => void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: RedisBusOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      // Not echoed: a malformed URL may still hold a password.
      throw new Error("Invalid Redis URL: expected redis://host:port or rediss://host:port");
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
      throw new Error(`Invalid Redis URL: expected redis:// or rediss://, got ${url.protocol}//`);
    }
    if (url.hostname === "") throw new Error("Invalid Redis URL: no host");
    const name = options.name ?? "bus";
    if (!/^[\w.:-]{1,64}$/.test(name)) {
      throw new Error(
        `Invalid bus name ${JSON.stringify(name)}: use 1-64 letters, digits, "_", ".", ":", "-"`,
      );
    }
    this.#url = options.url;
    this.#tls = url.protocol === "rediss:";
    this.#where = `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname}`;
    this.#name = name;
    this.#log = options.log;
    this.#probeIntervalMs = options.probeIntervalMs ?? PROBE_INTERVAL_MS;
  }

  async start(handler: BusHandler): Promise<void> {
    if (this.#closed) throw new Error("The bus is closed");
    if (this.#handler !== undefined) throw new Error("The bus is already started");
    this.#handler = handler;
    const started = new Promise<boolean>((resolve) => this.#started = resolve);
    this.#pub = this.#connect("pub");
    this.#sub = this.#connect("sub");
    this.#interval = setInterval(() => this.#probeSoon(), this.#probeIntervalMs);
    const timer = setTimeout(() => this.#started?.(false), START_TIMEOUT_MS);
    const ok = await started;
    clearTimeout(timer);
    this.#started = undefined;
    if (ok) {
      this.#log.info("Redis bus connected", { bus: this.#name, url: this.#where });
      return;
    }
    const cause = this.#lastError ??
      new Error(this.#closed ? "Closed while starting" : `Not ready within ${START_TIMEOUT_MS} ms`);
    await this.close();
    throw new Error(`Cannot connect to Redis at ${this.#where}`, { cause });
  }

  /** Records the channel and, while connected, resolves once Redis confirmed the subscription. */
  async subscribe(channel: string): Promise<void> {
    this.#assertOpen();
    this.#wanted.add(channel);
    const sub = this.#sub;
    if (sub?.status !== "ready") return; // Subscribed with all the others once the subscriber is ready.
    try {
      await sub.subscribe(channel);
    } catch (error) {
      if (!isReplyError(error)) return; // The connection failed: the next resubscription includes it.
      this.#wanted.delete(channel);
      throw new Error(`Cannot subscribe to "${channel}"`, { cause: error });
    }
  }

  /** Forgets the channel and, while connected, resolves once Redis confirmed the unsubscription. */
  async unsubscribe(channel: string): Promise<void> {
    if (!this.#wanted.delete(channel)) return;
    const sub = this.#sub;
    if (this.#closed || sub?.status !== "ready") return; // Left out of the next resubscription.
    try {
      await sub.unsubscribe(channel);
    } catch (error) {
      // Its payloads are dropped here anyway (not wanted), and a reconnect leaves it out.
      this.#log.debug("Cannot unsubscribe", { bus: this.#name, channel, error });
    }
  }

  async publish(channel: string, payload: string): Promise<void> {
    this.#assertOpen();
    const pub = this.#pub;
    if (pub === undefined) throw new Error("The bus is not started");
    try {
      await pub.publish(channel, payload);
    } catch (cause) {
      throw new Error(`Cannot publish to "${channel}"`, { cause });
    }
  }

  health(): "ok" | "degraded" {
    return this.#state === "ok" ? "ok" : "degraded";
  }

  probeRoundTripMs(): number | undefined {
    return this.#probeRttMs;
  }

  /** Quits both connections and stops the probe; idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true; // Set before shutting down, which can emit events synchronously.
      this.#closing = this.#shutdown();
    }
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#state = "closed";
    this.#started?.(false);
    clearInterval(this.#interval);
    this.#pendingProbe?.settle(false);
    const clients = [this.#pub, this.#sub].filter((c) => c !== undefined);
    await Promise.all(clients.map(closeClient));
    await this.#probing;
    this.#wanted.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("The bus is closed");
  }

  #connect(role: "pub" | "sub"): Redis {
    const options: RedisOptions = {
      connectionName: `${this.#name}:${role}`,
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: reconnectDelay,
      // Commands fail at once while disconnected, and in-flight ones as soon as the connection drops.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // This bus resubscribes itself: ioredis would do it without telling whether it worked.
      autoResubscribe: false,
      ...(this.#tls ? { tls: {} } : {}),
    };
    const client = new Redis(this.#url, options);
    // Every failed attempt emits an error; keep the last for start() and the outage log, and log nothing here.
    client.on("error", (error) => this.#lastError = error);
    if (role === "pub") {
      client.on("ready", () => {
        this.#update();
        this.#probeSoon();
      });
      client.on("close", () => {
        this.#probeOk = false;
        this.#update("publisher connection closed");
      });
    } else {
      client.on("ready", () => this.#resubscribe(client));
      client.on("close", () => {
        this.#subEpoch++;
        this.#synced = false;
        this.#probeOk = false;
        this.#pendingProbe?.settle(false);
        this.#update("subscriber connection closed");
      });
      client.on("message", (channel: string, payload: string) => this.#receive(channel, payload));
    }
    client.connect().catch(() => {}); // Failures arrive as error/close events; ioredis keeps retrying.
    return client;
  }

  /** Subscribes a fresh subscriber connection to the probe channel and every wanted channel. */
  #resubscribe(sub: Redis): void {
    const epoch = ++this.#subEpoch;
    this.#synced = false;
    this.#probeOk = false;
    const channels = [this.#probeChannel, ...this.#wanted];
    // All batches are written now, in one go, so a later (un)subscribe is sent after them and wins.
    const replies: Promise<unknown>[] = [];
    for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH) {
      replies.push(sub.subscribe(...channels.slice(i, i + SUBSCRIBE_BATCH)));
    }
    Promise.all(replies).then(
      (counts) => {
        if (epoch !== this.#subEpoch || this.#closed) return;
        // On a fresh connection nothing runs before these batches: the last reply counts every channel.
        if (counts.at(-1) !== channels.length) {
          this.#lastError = new Error(`Redis confirmed ${counts.at(-1)} of ${channels.length} subscriptions`);
          this.#reconnect(sub, "resubscribing failed");
          return;
        }
        this.#synced = true;
        this.#probeSoon();
      },
      (error) => {
        if (epoch !== this.#subEpoch || this.#closed) return;
        this.#lastError = error;
        this.#reconnect(sub, "resubscribing failed");
      },
    );
  }

  #receive(channel: string, payload: string): void {
    if (channel === this.#probeChannel) {
      if (this.#pendingProbe?.token === payload) this.#pendingProbe.settle(true);
      return;
    }
    if (this.#closed || !this.#wanted.has(channel)) return;
    try {
      this.#handler?.(channel, payload);
    } catch (error) {
      // Thrown back into ioredis it would break the reply parser.
      this.#log.error("Bus handler failed", { bus: this.#name, channel, error });
    }
  }

  /** Runs a probe now, or right after the one running: never two at once. */
  #probeSoon(): void {
    this.#probeRequested = true;
    this.#probing ??= this.#probeLoop();
  }

  async #probeLoop(): Promise<void> {
    await null; // Lets #probeSoon() store the promise before it can be cleared below.
    while (this.#probeRequested && !this.#closed) {
      this.#probeRequested = false;
      try {
        await this.#probe();
      } catch (error) {
        this.#log.error("Redis probe failed", { bus: this.#name, error });
      }
    }
    this.#probing = undefined;
  }

  /** Publishes a token on the probe channel and waits for it to come back through the subscriber. */
  async #probe(): Promise<void> {
    const pub = this.#pub;
    const sub = this.#sub;
    const epoch = this.#subEpoch;
    if (!this.#synced || pub?.status !== "ready" || sub === undefined) return;
    const token = String(++this.#probeSeq);
    const { promise: delivered, resolve } = Promise.withResolvers<boolean>();
    const timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
    this.#pendingProbe = { token, settle: resolve };
    const sentAt = performance.now();
    try {
      let receivers: number;
      try {
        receivers = await pub.publish(this.#probeChannel, token);
      } catch (error) {
        this.#lastError = error;
        // Closed: the close event has done the bookkeeping. Open but not answering: make it reconnect.
        if (pub.status === "ready") this.#reconnect(pub, "publisher not answering");
        return;
      }
      // No receiver: Redis does not count our subscriber as subscribed, whatever ioredis believes.
      const ok = receivers > 0 && await delivered;
      if (epoch !== this.#subEpoch || this.#closed) return; // A new connection probes itself.
      if (ok) {
        this.#probeRttMs = performance.now() - sentAt;
        this.#probeOk = true;
        this.#update();
      } else {
        this.#lastError = new Error(
          `Probe on ${this.#probeChannel} not delivered within ${PROBE_TIMEOUT_MS} ms`,
        );
        this.#reconnect(sub, "subscriber not receiving");
      }
    } finally {
      clearTimeout(timer);
      this.#pendingProbe = undefined;
    }
  }

  /** Drops a connection that looks open but does not work; ioredis then reconnects it. */
  #reconnect(client: Redis, reason: string): void {
    this.#probeOk = false;
    this.#update(reason);
    // destroy(), not end(): a dead peer would never acknowledge a graceful close.
    if (client.stream !== undefined) client.stream.destroy();
    else client.disconnect(true);
  }

  /** Recomputes the health from the connection states, logging the first loss and the recovery once each. */
  #update(reason?: string): void {
    if (this.#closed) return;
    const ok = this.#probeOk && this.#synced && this.#pub?.status === "ready" &&
      this.#sub?.status === "ready";
    if (ok && this.#state !== "ok") {
      if (this.#state === "degraded") {
        this.#log.info("Redis connection restored", {
          bus: this.#name,
          url: this.#where,
          down_ms: Date.now() - this.#lostAt,
        });
      }
      this.#state = "ok";
      this.#lastError = undefined;
      this.#started?.(true);
    } else if (!ok && this.#state === "ok") {
      this.#state = "degraded";
      this.#lostAt = Date.now();
      this.#log.warn("Redis connection lost", {
        bus: this.#name,
        url: this.#where,
        reason: reason ?? "not ready",
        error: this.#lastError,
      });
    }
  }
}

/** Sends QUIT (when connected) and waits until the connection is gone, without leaving a reconnect timer. */
async function closeClient(client: Redis): Promise<void> {
  if (client.status === "end") return;
  const ended = new Promise<void>((resolve) => client.once("end", resolve));
  if (client.status === "ready") await withTimeout(client.quit(), QUIT_TIMEOUT_MS).catch(() => {});
  // Also cancels a pending reconnect; a connection already closed and waiting to reconnect emits no "end".
  const waiting = client.status === "reconnecting";
  client.disconnect();
  if (!waiting) await withTimeout(ended, QUIT_TIMEOUT_MS).catch(() => {});
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An error Redis answered (as opposed to a connection failure or timeout). */
function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === "ReplyError";
}

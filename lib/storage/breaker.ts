/**
 * A circuit breaker in front of any `Store`: once the store is found unavailable (an adapter's
 * `StoreUnavailableError`, or a ping that does not answer within `timeoutMs`) the breaker opens and every new
 * call is refused at once with the retryable `store_unavailable`, so no request and no socket frame waits out a
 * driver timeout behind others that are doomed too. While closed it pings the store every `probeIntervalMs`,
 * and also as soon as a call has not answered after `timeoutMs` (that call is refused when the ping fails too;
 * a slow store that answers pings is not down, and the call goes on, but not past 4 × `timeoutMs`: then it is
 * refused and the breaker opens until the next probe). While open it probes the store (`probe()`, else
 * `ping()`) at the same interval; the first probe that succeeds closes it.
 *
 * A call refused while it was under way may still complete later in the adapter: callers must be idempotent
 * where it matters (message sends are, by `client_id`). Every refusal is sent while the breaker is open (a
 * failing call opens it first), so each is followed by a change to `closed`: the server tells sockets
 * `store_available` then, and clients resend what was refused.
 *
 * @example
 * const breaker = new StoreBreaker(SqliteStore.open({ path }), { timeoutMs: 1_000, log });
 * breaker.onChange((state) => state === "closed" && hub.broadcast('{"type":"store_available"}'));
 * breaker.start();
 * await breaker.store.messages.append(message); // refused at once while the breaker is open
 * await breaker.store.close(); // stops the probes, then closes the adapter
 */
import type { Logger } from "../log.ts";
import { StoreUnavailableError } from "./errors.ts";
import type { Store } from "./store.ts";

/** `closed`: calls go to the store. `open`: calls are refused at once until a probe succeeds. */
export type BreakerState = "closed" | "open";

export interface StoreBreakerOptions {
  /**
   * A call that has not answered after this long makes the breaker ping the store; a ping that has not answered
   * after this long opens it (default 1000).
   */
  timeoutMs?: number;
  /** How often the store is probed while open, and pinged while closed (default 250). */
  probeIntervalMs?: number;
  /** How long an open breaker's probe may take before it counts as failed (default `probeIntervalMs`). */
  probeTimeoutMs?: number;
  /** What refusals ask clients to wait (`retry_after_ms`, `Retry-After`; default 2000). */
  retryAfterMs?: number;
  log?: Logger;
}

/** The store's repositories whose methods the breaker guards (every method of each). */
const REPOS = ["users", "rooms", "messages", "sessions"] as const;

export class StoreBreaker {
  /** The guarded store: the same repositories and methods as the adapter's. */
  readonly store: Store;
  readonly #inner: Store;
  readonly #timeoutMs: number;
  readonly #maxCallMs: number;
  readonly #intervalMs: number;
  readonly #probeTimeoutMs: number;
  readonly #retryAfterMs: number;
  readonly #log: Logger | undefined;
  readonly #listeners: ((state: BreakerState) => void)[] = [];
  #state: BreakerState = "closed";
  /** Bumped at each change: a ping started before the breaker last changed cannot open it. */
  #epoch = 0;
  #openedAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #probing: Promise<void> | undefined;
  #checking: Promise<boolean> | undefined;
  /** Resolves when the breaker next opens (a new one after each close). */
  #opened: Promise<typeof OPENED>;
  #signalOpened: (value: typeof OPENED) => void;
  #stopped = false;

  constructor(inner: Store, options: StoreBreakerOptions = {}) {
    this.#inner = inner;
    this.#timeoutMs = options.timeoutMs ?? 1_000;
    this.#maxCallMs = this.#timeoutMs * MAX_CALL_FACTOR;
    this.#intervalMs = options.probeIntervalMs ?? 250;
    this.#probeTimeoutMs = options.probeTimeoutMs ?? this.#intervalMs;
    this.#retryAfterMs = options.retryAfterMs ?? 2_000;
    this.#log = options.log;
    ({ promise: this.#opened, resolve: this.#signalOpened } = Promise.withResolvers<typeof OPENED>());
    const store: Partial<Store> = {
      ping: () => this.#call(() => inner.ping()),
      close: () => this.close(),
    };
    for (const name of REPOS) store[name] = this.#guard(inner[name]) as never;
    this.store = store as Store;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** When the breaker last opened (ms since the epoch), or 0 while it never did. */
  get openedAt(): number {
    return this.#openedAt;
  }

  /** Calls `listener` at every change of state (after it). */
  onChange(listener: (state: BreakerState) => void): void {
    this.#listeners.push(listener);
  }

  /** Starts the periodic probe (until `close()` or `stop()`). */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stops probing and waits for a probe under way; the store stays open. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#probing;
  }

  /** Stops probing, then closes the adapter. */
  async close(): Promise<void> {
    await this.stop();
    await this.#inner.close();
  }

  /** Runs one probe now (open: `probe()`/`ping()`, closed: `ping()`), as the timer does. */
  probeNow(): Promise<void> {
    return this.#probing ??= this.#probe().finally(() => this.#probing = undefined);
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(async () => {
      this.#timer = undefined;
      await this.probeNow();
      this.#schedule();
    }, this.#intervalMs);
  }

  async #probe(): Promise<void> {
    if (this.#state === "closed") {
      await this.#check("the health ping");
      return;
    }
    const probe = this.#inner.probe ? () => this.#inner.probe!() : () => this.#inner.ping();
    const result = settle(probe());
    const outcome = await deadline(result, this.#probeTimeoutMs);
    if (outcome === "ok") {
      if (this.#state === "open") this.#close();
    } else if (outcome === "timeout") {
      // A probe that passed its deadline may still succeed later: that closes the breaker too.
      result.then((late) => {
        if (late === "ok" && this.#state === "open") this.#close();
      });
    }
  }

  /**
   * While closed: whether the store answers a ping within `timeoutMs`; opens the breaker when it does not.
   * Concurrent checks share one ping.
   */
  #check(what: string): Promise<boolean> {
    if (this.#state === "open") return Promise.resolve(false);
    return this.#checking ??= (async () => {
      const epoch = this.#epoch;
      const outcome = await deadline(settle(this.#inner.ping()), this.#timeoutMs);
      if (outcome === "ok") return true;
      // A ping started before the breaker last changed says nothing about now.
      if (epoch !== this.#epoch) return this.#state === "closed";
      this.#open(`${what} ${outcome === "timeout" ? `passed its ${this.#timeoutMs} ms deadline` : "failed"}`);
      return false;
    })().finally(() => this.#checking = undefined);
  }

  /** A proxy of `repo` whose every method goes through `#call`. */
  #guard<T extends object>(repo: T): T {
    // By function, not by name: a method replaced on the repository (a test's spy) is the one called.
    const cache = new WeakMap<object, unknown>();
    return new Proxy(repo, {
      get: (target, property) => {
        const value = Reflect.get(target, property, target);
        if (typeof value !== "function") return value;
        let wrapped = cache.get(value);
        if (wrapped === undefined) {
          wrapped = (...args: unknown[]) => this.#call(() => value.apply(target, args));
          cache.set(value, wrapped);
        }
        return wrapped;
      },
    });
  }

  /**
   * Refuses at once while open. Otherwise runs `fn`; one that has not answered after `timeoutMs` makes the
   * breaker ping the store: when the ping does not answer within `timeoutMs` either, the breaker opens and the
   * call is refused; when it does, the store is up but slow and the call goes on, unless the breaker opens
   * meanwhile or it passes `MAX_CALL_FACTOR` × `timeoutMs` (then refused, opening the breaker). An adapter's
   * `StoreUnavailableError` opens it too.
   */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#state === "open") throw this.#refusal("the store is unavailable (circuit open)");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const started = performance.now();
    try {
      const result = fn();
      // Awaited below, maybe only after the ping: never an unhandled rejection meanwhile.
      result.catch(() => {});
      const first = await Promise.race([
        result,
        new Promise<typeof LATE>((resolve) => timer = setTimeout(() => resolve(LATE), this.#timeoutMs)),
      ]);
      if (first !== LATE) return first as T;
      if (!(await this.#check("a store call passed its deadline and the ping"))) {
        throw this.#refusal(
          `a store call passed its ${this.#timeoutMs} ms deadline and the store did not answer`,
        );
      }
      // Up but slow: the call may go on, up to `MAX_CALL_FACTOR` deadlines in all. Past that the store is too
      // slow to answer within the promised bound: refused, and the breaker opens until the next probe.
      clearTimeout(timer);
      const second = await Promise.race([
        result,
        this.#opened,
        new Promise<typeof LATE>((resolve) => {
          timer = setTimeout(() => resolve(LATE), Math.max(0, started + this.#maxCallMs - performance.now()));
        }),
      ]);
      if (second === OPENED) throw this.#refusal("the store became unavailable during the call");
      if (second === LATE) {
        const detail = `a store call took longer than ${this.#maxCallMs} ms`;
        this.#open(detail);
        throw this.#refusal(detail);
      }
      return second as T;
    } catch (error) {
      // Every refusal is sent while the breaker is open (also one of a call that started before it last
      // closed): so a client told `store_unavailable` always hears `store_available` afterwards.
      if (error instanceof StoreUnavailableError) this.#open(error.detail, error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #refusal(detail: string, cause?: unknown): StoreUnavailableError {
    return new StoreUnavailableError(detail, { cause, retryAfterMs: this.#retryAfterMs });
  }

  #open(reason: string, error?: unknown): void {
    if (this.#state === "open") return;
    this.#state = "open";
    this.#epoch++;
    this.#signalOpened(OPENED);
    this.#openedAt = Date.now();
    this.#log?.error("Store unavailable: refusing store calls until a probe succeeds", { reason, error });
    this.#changed();
  }

  #close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#epoch++;
    ({ promise: this.#opened, resolve: this.#signalOpened } = Promise.withResolvers<typeof OPENED>());
    this.#log?.info("Store available again", { unavailable_ms: Date.now() - this.#openedAt });
    this.#changed();
  }

  #changed(): void {
    for (const listener of this.#listeners) {
      try {
        listener(this.#state);
      } catch (error) {
        this.#log?.error("A store breaker listener failed", { error });
      }
    }
  }
}

/** A call is refused after this many `timeoutMs` in all, even while the store answers pings. */
export const MAX_CALL_FACTOR = 4;

const LATE = Symbol("late");
const OPENED = Symbol("opened");

/** A promise's outcome without rejecting. */
function settle(promise: Promise<unknown>): Promise<"ok" | "failed"> {
  return promise.then(() => "ok" as const, () => "failed" as const);
}

/** `result`, or `"timeout"` when it has not settled within `ms`. */
async function deadline(
  result: Promise<"ok" | "failed">,
  ms: number,
): Promise<"ok" | "failed" | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      result,
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

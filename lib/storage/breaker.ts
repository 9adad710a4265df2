/**
 * A circuit breaker in front of any `Store`: once the store is found unavailable (an adapter's
 * `StoreUnavailableError`, a call that passed its deadline, or a failed probe) the breaker opens and every new
 * call is refused at once with the retryable `store_unavailable`, so no request and no socket frame waits out a
 * driver timeout behind others that are doomed too. While open it probes the store (`probe()`, else `ping()`)
 * every `probeIntervalMs`; the first probe that succeeds closes it. While closed it pings the store at the same
 * interval, so an outage is seen also when nothing else asks the store.
 *
 * A call refused at its deadline may still complete later in the adapter: callers must be idempotent where it
 * matters (message sends are, by `client_id`). Every refusal is sent while the breaker is open (a failing call
 * opens it first), so each is followed by a change to `closed`: the server tells sockets `store_available`
 * then, and clients resend what was refused.
 *
 * @example
 * const breaker = new StoreBreaker(SqliteStore.open({ path }), { timeoutMs: 2_000, log });
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
  /** A call (or a ping) that has not settled after this long is refused and opens the breaker (default 2000). */
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
  readonly #intervalMs: number;
  readonly #probeTimeoutMs: number;
  readonly #retryAfterMs: number;
  readonly #log: Logger | undefined;
  readonly #listeners: ((state: BreakerState) => void)[] = [];
  #state: BreakerState = "closed";
  /** Bumped at each change: a closed breaker's ping started before it last changed cannot open it. */
  #epoch = 0;
  #openedAt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #probing: Promise<void> | undefined;
  #stopped = false;

  constructor(inner: Store, options: StoreBreakerOptions = {}) {
    this.#inner = inner;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#intervalMs = options.probeIntervalMs ?? 250;
    this.#probeTimeoutMs = options.probeTimeoutMs ?? this.#intervalMs;
    this.#retryAfterMs = options.retryAfterMs ?? 2_000;
    this.#log = options.log;
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
    const open = this.#state === "open";
    const epoch = this.#epoch;
    const check = open && this.#inner.probe ? () => this.#inner.probe!() : () => this.#inner.ping();
    const result = settle(check());
    const outcome = await deadline(result, open ? this.#probeTimeoutMs : this.#timeoutMs);
    if (outcome === "ok") {
      if (this.#state === "open") this.#close();
      return;
    }
    if (!open && epoch === this.#epoch) {
      this.#open(
        outcome === "timeout" ? "the health ping passed its deadline" : "the health ping failed",
        outcome,
      );
      return;
    }
    // An open probe that passed its deadline may still succeed later: that closes the breaker too.
    if (open && outcome === "timeout") {
      result.then((late) => {
        if (late === "ok" && this.#state === "open") this.#close();
      });
    }
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

  /** Refuses at once while open; otherwise runs `fn` against the deadline, opening on unavailability. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#state === "open") throw this.#refusal("the store is unavailable (circuit open)");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError()), this.#timeoutMs);
    });
    try {
      return await Promise.race([fn(), late]);
    } catch (error) {
      // Every refusal opens the breaker (also one of a call that started before it last closed): so a client
      // told `store_unavailable` always hears `store_available` afterwards, when a probe closes it again.
      if (error instanceof DeadlineError) {
        this.#open(`a store call passed its ${this.#timeoutMs} ms deadline`, error);
        throw this.#refusal(`a store call passed its ${this.#timeoutMs} ms deadline`);
      }
      if (error instanceof StoreUnavailableError) {
        this.#open(error.detail, error);
        throw error;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #refusal(detail: string, cause?: unknown): StoreUnavailableError {
    return new StoreUnavailableError(detail, { cause, retryAfterMs: this.#retryAfterMs });
  }

  #open(reason: string, error: unknown): void {
    if (this.#state === "open") return;
    this.#state = "open";
    this.#epoch++;
    this.#openedAt = Date.now();
    this.#log?.error("Store unavailable: refusing store calls until a probe succeeds", { reason, error });
    this.#changed();
  }

  #close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#epoch++;
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

class DeadlineError extends Error {
  constructor() {
    super("deadline passed");
    this.name = "DeadlineError";
  }
}

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

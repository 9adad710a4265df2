/**
 * The HTTP server of main.ts, in front of the app: it accepts TCP connections itself so that it can time them,
 * count them and refuse them, and serves each with the runtime's HTTP/1.1 engine.
 *
 * `Deno.serve` accepts in native code and offers none of this: a connection that sends half a request header
 * is kept forever, nothing caps plain HTTP connections, and an `accept()` failing with EMFILE ends its loop and
 * the process. So this server:
 *
 * - closes a connection whose first request header is not complete within `headerTimeoutMs`, and one that
 *   waits longer than `idleTimeoutMs` for its next request (keep-alive); a request being handled and an
 *   upgraded WebSocket (which has its own heartbeat) are never timed out here;
 * - holds at most `maxHttpConnections` connections that are not WebSockets. At the cap a new connection
 *   replaces the one idle longest (waiting for a header or a next request), so half-sent headers cannot lock
 *   anyone out; when none is idle, `healthReserve` more connections may still ask for `healthPath` (anything
 *   else gets 503 `server_full`), and past those a connection is closed at once;
 * - holds at most `maxPerIp` connections (WebSockets included) per peer address, closing the next one at once.
 *   A raw connection has no `X-Forwarded-For` before its header, so behind a trusted proxy (`trustProxy`),
 *   where the peer is the proxy, the cap counts instead per forwarded client: its requests in flight and its
 *   WebSockets, and one over gets 429 `too_many_connections`;
 * - survives `accept()` failing (EMFILE when the process is out of files): it logs once per burst, closes the
 *   longest-idle connection to free a file, and tries again a little later.
 *
 * Each connection is served by `Deno.serveHttp`, which Deno 2.9 still ships (HTTP/1.1, automatic compression,
 * `Deno.upgradeWebSocket`) but no longer declares in its types. Where it is missing the caller falls back to
 * `Deno.serve` (`guardAvailable()`).
 */
import { ChatError, errorResponse } from "../errors.ts";
import type { Logger } from "../log.ts";
import { clientIpOf } from "./client_ip.ts";

/** The runtime's per-connection HTTP server (`Deno.serveHttp`), as far as this module uses it. */
interface HttpConn {
  nextRequest(): Promise<RequestEvent | null>;
  close(): void;
}
interface RequestEvent {
  readonly request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}
type ServeHttp = (conn: Deno.Conn) => HttpConn;

function runtimeServeHttp(): ServeHttp | undefined {
  const serveHttp = (Deno as unknown as { serveHttp?: unknown }).serveHttp;
  return typeof serveHttp === "function" ? (conn) => serveHttp.call(Deno, conn) : undefined;
}

/** Whether this runtime can serve connections one by one (`Deno.serveHttp`), which the guard needs. */
export function guardAvailable(): boolean {
  return runtimeServeHttp() !== undefined;
}

export type GuardHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

export interface ConnectionGuardOptions {
  hostname: string;
  port: number;
  /** Most connections that are not WebSockets (`MAX_HTTP_CONNECTIONS`). */
  maxHttpConnections: number;
  /** Connections past `maxHttpConnections` that may only ask for `healthPath` (default 4). */
  healthReserve?: number;
  /** Default `/api/health`. */
  healthPath?: string;
  /** Most connections per client address, WebSockets included; 0: no cap (`MAX_CONNECTIONS_PER_IP`). */
  maxPerIp: number;
  /** Behind a proxy: count per `X-Forwarded-For` client (requests and WebSockets), not per connection. */
  trustProxy: boolean;
  /** A new connection's first request header must be complete within this (`HTTP_HEADER_TIMEOUT_SECONDS`). */
  headerTimeoutMs: number;
  /** Longest wait for the next request on a kept-alive connection (`HTTP_IDLE_TIMEOUT_SECONDS`). */
  idleTimeoutMs: number;
  log: Logger;
  /** Refusals and accept failures are logged at most once per this many ms (10 s) per kind. */
  logEveryMs?: number;
  /** Wait after a failed `accept()` before trying again (100 ms). */
  acceptRetryMs?: number;
  onListen?: (addr: Deno.NetAddr) => void;
}

/** What the guard holds now (tests, logs). */
export interface GuardStats {
  /** Connections counted against `maxHttpConnections`, reserve ones included. */
  http: number;
  /** Of those, waiting for a request header. */
  idle: number;
  /** Of those, the ones in the health reserve. */
  reserve: number;
  /** Connections handed over to WebSockets and still held (`holdConnection`). */
  held: number;
}

export interface GuardedServer {
  readonly addr: Deno.NetAddr;
  /** Settles once the server has stopped accepting and its last HTTP connection is closed. */
  readonly finished: Promise<void>;
  /** Stops accepting, closes idle connections at once and the others after their response. */
  shutdown(): Promise<void>;
  stats(): GuardStats;
}

/** How long a connection whose last response is on its way may take to end by itself. */
const CLOSE_GRACE_MS = 1_000;

/** Seconds a client refused for lack of room is asked to wait (`Retry-After`), as for WebSocket refusals. */
const RETRY_AFTER_S = 5;

/**
 * The key a client address is counted under: an IPv4 address as it is (also when IPv4-mapped), an IPv6
 * address by its /64 prefix (one subscriber gets a whole /64), anything else as given.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(":")) return address;
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const [head, tail = ""] = bare.split("::", 2);
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  if (!bare.includes("::") && left.length !== 8) return bare.toLowerCase();
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return groups.slice(0, 4).map((g) => (g.replace(/^0+(?=.)/, "") || "0").toLowerCase()).join(":") + "::/64";
}

/** Logs a kind of event at most once per interval, with the number of them since the last line. */
class BurstLog {
  readonly #last = new Map<string, { at: number; count: number }>();
  constructor(readonly log: Logger, readonly everyMs: number) {}

  warn(kind: string, message: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    const entry = this.#last.get(kind) ?? { at: -Infinity, count: 0 };
    entry.count++;
    this.#last.set(kind, entry);
    if (now - entry.at < this.everyMs) return;
    this.log.warn(message, { ...fields, count: entry.count, log_every_s: this.everyMs / 1000 });
    entry.at = now;
    entry.count = 0;
  }
}

/** One accepted connection. */
class Connection {
  http: HttpConn | undefined;
  /** In the health reserve: answers `healthPath` only, then closes. */
  reserve = false;
  inFlight = 0;
  /** Requests dispatched so far: the first must arrive within the header timeout, the next the idle timeout. */
  served = 0;
  upgraded = false;
  closed = false;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The HTTP loop's reference plus one per `holdConnection`; the address slot is freed at zero. */
  refs = 1;

  constructor(readonly conn: Deno.Conn, readonly remoteAddr: Deno.NetAddr, readonly key: string) {}
}

/** A connection handed over to a WebSocket (`holdConnection`). */
export interface HeldConnection {
  /** Gives the connection's place back: call when the socket is gone (safe to call twice). */
  release(): void;
  /**
   * Names `Deno.upgradeWebSocket`'s 101 response as the one to send, and returns it. The runtime ties the
   * socket to that very object, and middleware may answer with a copy (Hono's `c.header()` after the handler
   * makes one), which would send a 101 without upgrading.
   */
  upgraded(response: Response): Response;
}

/** Per request: what `holdConnection` reaches. */
interface RequestContext {
  hold(): () => void;
  upgrade: Response | undefined;
}
const contexts = new WeakMap<object, RequestContext>();

/**
 * Keeps the connection that carried this request counted against its address's cap after the request, until
 * `release()`: a WebSocket upgrade hands its connection over so, and gives it back when the socket is gone.
 * `info` is the handler's second argument (Hono's `c.env`); for a request the guard did not serve (plain
 * `Deno.serve`, tests calling the app) both methods do nothing.
 */
export function holdConnection(info: unknown): HeldConnection {
  const context = typeof info === "object" && info !== null ? contexts.get(info) : undefined;
  const release = context?.hold() ?? (() => {});
  return {
    release,
    upgraded(response) {
      if (context !== undefined) context.upgrade = response;
      return response;
    },
  };
}

/** Starts the guarded server; see the module comment. */
export function serveGuarded(options: ConnectionGuardOptions, handler: GuardHandler): GuardedServer {
  return new Guard(options, handler).start();
}

class Guard {
  readonly #options:
    & Required<Omit<ConnectionGuardOptions, "onListen">>
    & Pick<ConnectionGuardOptions, "onListen">;
  readonly #handler: GuardHandler;
  readonly #serveHttp: ServeHttp;
  readonly #burst: BurstLog;
  #listener: Deno.Listener | undefined;
  /** Connections whose HTTP loop runs (until closed and gone, or upgraded). */
  readonly #http = new Set<Connection>();
  /** Connections counted against the HTTP cap: running and not being closed; reserve ones included. */
  readonly #counted = new Set<Connection>();
  /** Of those, the ones waiting for a request, longest-waiting first (a Set keeps insertion order). */
  readonly #idle = new Set<Connection>();
  #reserve = 0;
  #held = 0;
  /** Connections (per-connection cap) or requests and WebSockets (behind a proxy) per address key. */
  readonly #perKey = new Map<string, number>();
  #closing = false;
  readonly #done = Promise.withResolvers<void>();
  #accepting = true;
  /** Wakes the accept loop early after a failure when a connection closes. */
  #freed: (() => void) | undefined;

  constructor(options: ConnectionGuardOptions, handler: GuardHandler) {
    const serveHttp = runtimeServeHttp();
    if (serveHttp === undefined) throw new Error("Deno.serveHttp is not available in this runtime");
    this.#serveHttp = serveHttp;
    this.#options = {
      healthReserve: 4,
      healthPath: "/api/health",
      logEveryMs: 10_000,
      acceptRetryMs: 100,
      ...options,
    };
    this.#handler = handler;
    this.#burst = new BurstLog(options.log, this.#options.logEveryMs);
  }

  start(): GuardedServer {
    const listener = Deno.listen({ hostname: this.#options.hostname, port: this.#options.port });
    this.#listener = listener;
    const addr = listener.addr as Deno.NetAddr;
    this.#options.onListen?.(addr);
    this.#acceptLoop().catch((error) => this.#options.log.error("The accept loop failed", { error }))
      .finally(() => {
        this.#accepting = false;
        this.#maybeDone();
      });
    return {
      addr,
      finished: this.#done.promise,
      shutdown: () => this.#shutdown(),
      stats: () => ({
        http: this.#counted.size,
        idle: this.#idle.size,
        reserve: this.#reserve,
        held: this.#held,
      }),
    };
  }

  async #acceptLoop(): Promise<void> {
    const listener = this.#listener!;
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (
          this.#closing || error instanceof Deno.errors.BadResource ||
          error instanceof Deno.errors.Interrupted
        ) {
          return;
        }
        this.#acceptFailed(error);
        await this.#pause();
        continue;
      }
      this.#admit(conn);
    }
  }

  /** `accept()` failed, most likely out of files: log once per burst and free the longest-idle connection. */
  #acceptFailed(error: unknown): void {
    const code = (error as { code?: string }).code;
    this.#burst.warn("accept", "Cannot accept connections; refusing new ones until files are free", {
      error: error instanceof Error ? error.message : String(error),
      code,
      http_connections: this.#counted.size,
      held_connections: this.#held,
    });
    const oldest = this.#idle.values().next().value;
    if (oldest !== undefined) this.#close(oldest);
  }

  /** Waits `acceptRetryMs`, or less when a connection closes meanwhile. */
  #pause(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, this.#options.acceptRetryMs);
    this.#freed = resolve;
    return promise.finally(() => {
      clearTimeout(timer);
      this.#freed = undefined;
    });
  }

  #admit(conn: Deno.Conn): void {
    const remoteAddr = conn.remoteAddr as Deno.NetAddr;
    const key = addressKey(remoteAddr.hostname);
    const { maxPerIp, maxHttpConnections, healthReserve, trustProxy } = this.#options;
    if (!trustProxy && maxPerIp > 0 && (this.#perKey.get(key) ?? 0) >= maxPerIp) {
      this.#burst.warn("per_ip", "Too many connections from one address; closing new ones at once", {
        address: key,
        max_connections_per_ip: maxPerIp,
      });
      return closeQuietly(conn);
    }
    let reserve = false;
    if (this.#counted.size - this.#reserve >= maxHttpConnections) {
      // Full: make room by closing the connection that has waited longest for a request, if any.
      const oldest = this.#idle.values().next().value;
      if (oldest !== undefined) {
        this.#burst.warn("evict", "HTTP connections at the cap; closing the longest-idle ones", {
          max_http_connections: maxHttpConnections,
        });
        this.#close(oldest);
      }
      if (this.#counted.size - this.#reserve >= maxHttpConnections) {
        if (this.#reserve >= healthReserve) {
          this.#burst.warn("full", "HTTP connections at the cap and none idle; closing new ones at once", {
            max_http_connections: maxHttpConnections,
            health_reserve: healthReserve,
          });
          return closeQuietly(conn);
        }
        reserve = true;
      }
    }
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // Gone already; serveHttp below notices.
    }
    const connection = new Connection(conn, remoteAddr, key);
    connection.reserve = reserve;
    if (reserve) this.#reserve++;
    if (!trustProxy) this.#take(key);
    this.#http.add(connection);
    this.#counted.add(connection);
    this.#serve(connection).catch((error) => {
      this.#options.log.error("Serving a connection failed", { error });
      this.#close(connection);
    });
  }

  async #serve(connection: Connection): Promise<void> {
    try {
      connection.http = this.#serveHttp(connection.conn);
    } catch {
      closeQuietly(connection.conn);
      this.#ended(connection);
      return;
    }
    this.#waitForRequest(connection);
    try {
      for (;;) {
        const event = await connection.http.nextRequest();
        if (event === null) break;
        this.#dispatch(connection, event);
      }
    } catch {
      // A malformed request (already answered 400), a reset, or closed by a timeout: the connection is over.
    } finally {
      if (!connection.upgraded) this.#close(connection);
      this.#ended(connection);
    }
  }

  /** The connection waits for a request: it may be closed by its timer, or to make room. */
  #waitForRequest(connection: Connection): void {
    if (connection.closed) return;
    this.#idle.add(connection);
    // A last response went with `Connection: close`: the runtime ends the connection once it is written (it
    // says nothing when; closing now could cut it). The timer is for a client that does not read it.
    const last = this.#closing || (connection.reserve && connection.served > 0);
    const ms = last
      ? CLOSE_GRACE_MS
      : connection.served === 0
      ? this.#options.headerTimeoutMs
      : this.#options.idleTimeoutMs;
    connection.timer = setTimeout(() => {
      connection.timer = undefined;
      if (connection.inFlight === 0) this.#close(connection);
    }, ms);
  }

  #dispatch(connection: Connection, event: RequestEvent): void {
    clearTimeout(connection.timer);
    connection.timer = undefined;
    this.#idle.delete(connection);
    connection.inFlight++;
    connection.served++;
    this.#respond(connection, event)
      .catch((error) => this.#options.log.error("Answering a request failed", { error }))
      .finally(() => {
        connection.inFlight--;
        if (connection.inFlight === 0 && !connection.upgraded) this.#waitForRequest(connection);
      });
  }

  async #respond(connection: Connection, event: RequestEvent): Promise<void> {
    const { request } = event;
    const completed = Promise.withResolvers<void>();
    completed.promise.catch(() => {}); // nobody need listen
    const info: Deno.ServeHandlerInfo<Deno.NetAddr> = {
      remoteAddr: connection.remoteAddr,
      completed: completed.promise,
    };
    // Behind a proxy: the forwarded client's slot, given back after the response unless a WebSocket holds it.
    let releaseClient = () => {};
    let requestDone = false;
    let holds = 0;
    const context: RequestContext = {
      upgrade: undefined,
      hold: () => {
        holds++;
        connection.refs++;
        this.#held++;
        let held = true;
        return () => {
          if (!held) return;
          held = false;
          this.#held--;
          if (--holds === 0 && requestDone) releaseClient();
          this.#unref(connection);
        };
      },
    };
    contexts.set(info, context);
    let response: Response;
    try {
      response = await this.#answer(connection, request, info, (release) => releaseClient = release);
    } catch (error) {
      this.#options.log.error("Unhandled error in a request handler", { error });
      response = errorResponse(error);
    }
    if (response.status === 101) {
      connection.upgraded = true;
      if (context.upgrade !== undefined) response = context.upgrade;
    } else if (this.#closing || connection.reserve) {
      response = withConnectionClose(response);
    }
    try {
      await event.respondWith(response);
      completed.resolve();
    } catch (error) {
      completed.reject(error);
      if (connection.upgraded) {
        // The upgrade did not happen: the connection is plain HTTP again, and over.
        connection.upgraded = false;
        this.#close(connection);
      }
    } finally {
      requestDone = true;
      if (holds === 0) releaseClient();
    }
  }

  /** The response: the app's, or a refusal from the guard (health reserve, per-client cap behind a proxy). */
  #answer(
    connection: Connection,
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
    setRelease: (release: () => void) => void,
  ): Response | Promise<Response> {
    if (connection.reserve && new URL(request.url).pathname !== this.#options.healthPath) {
      return errorResponse(
        new ChatError(
          "server_full",
          "The server has reached its connection limit; try again in a few seconds",
          { retryAfterMs: RETRY_AFTER_S * 1000 },
        ),
      );
    }
    const { trustProxy, maxPerIp } = this.#options;
    if (trustProxy && maxPerIp > 0) {
      const key = addressKey(clientIpOf(request, info, true));
      if ((this.#perKey.get(key) ?? 0) >= maxPerIp) {
        this.#burst.warn("per_client", "Too many connections from one client; refusing with 429", {
          address: key,
          max_connections_per_ip: maxPerIp,
        });
        return errorResponse(
          new ChatError("too_many_connections", undefined, { retryAfterMs: RETRY_AFTER_S * 1000 }),
        );
      }
      this.#take(key);
      let taken = true;
      setRelease(() => {
        if (!taken) return;
        taken = false;
        this.#give(key);
      });
    }
    return this.#handler(request, info);
  }

  #take(key: string): void {
    this.#perKey.set(key, (this.#perKey.get(key) ?? 0) + 1);
  }

  #give(key: string): void {
    const n = (this.#perKey.get(key) ?? 1) - 1;
    if (n <= 0) this.#perKey.delete(key);
    else this.#perKey.set(key, n);
  }

  /** Closes the connection's HTTP side (never an upgraded socket); its loop then ends. */
  #close(connection: Connection): void {
    if (connection.closed || connection.upgraded) return;
    connection.closed = true;
    clearTimeout(connection.timer);
    connection.timer = undefined;
    this.#idle.delete(connection);
    this.#uncount(connection);
    try {
      if (connection.http !== undefined) connection.http.close();
      else connection.conn.close();
    } catch {
      // Closed already.
    }
  }

  /** The HTTP loop is over (closed, failed, or upgraded): the connection leaves the HTTP count. */
  #ended(connection: Connection): void {
    if (!this.#http.delete(connection)) return;
    clearTimeout(connection.timer);
    connection.timer = undefined;
    this.#idle.delete(connection);
    this.#uncount(connection);
    this.#unref(connection);
    this.#freed?.();
    this.#maybeDone();
  }

  #uncount(connection: Connection): void {
    if (this.#counted.delete(connection) && connection.reserve) this.#reserve--;
  }

  #unref(connection: Connection): void {
    if (--connection.refs > 0) return;
    if (!this.#options.trustProxy) this.#give(connection.key);
  }

  #shutdown(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      try {
        this.#listener?.close();
      } catch {
        // Closed already.
      }
      for (const connection of [...this.#idle]) this.#close(connection);
      this.#freed?.();
    }
    this.#maybeDone();
    return this.#done.promise;
  }

  #maybeDone(): void {
    if (this.#closing && !this.#accepting && this.#http.size === 0) this.#done.resolve();
  }
}

/** `response` with `Connection: close` (a copy when its headers cannot change). */
function withConnectionClose(response: Response): Response {
  try {
    response.headers.set("connection", "close");
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set("connection", "close");
    return copy;
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** A real chat server for integration tests: real SQLite file, in-process bus, a real port on loopback. */
import { MemoryBus } from "../../lib/bus/memory.ts";
import { type Config, loadConfig } from "../../lib/config.ts";
import { nullLogger } from "../../lib/log.ts";
import { MemoryQueue } from "../../lib/commands/memory_queue.ts";
import { defaultRegistry } from "../../lib/commands/registry.ts";
import { stockBot } from "../../lib/commands/stock.ts";
import { type ChatServer, createChatServer } from "../../lib/server.ts";
import type { Store } from "../../lib/storage/store.ts";
import { openTestStore, testDatabaseUrl } from "./database.ts";

export const TEST_SECRET = "test-secret-0123456789-0123456789-abcdef";

/** Environment every test server starts from: fast bcrypt, generous limits, a fixed secret. */
export const TEST_ENV: Record<string, string> = {
  APP_ENV: "test",
  BCRYPT_COST: "4",
  JWT_SECRET: TEST_SECRET,
  RATE_LIMIT_PER_SEC: "1000",
  RATE_LIMIT_BURST: "1000",
  AUTH_RATE_LIMIT_PER_MIN: "60000",
  AUTH_RATE_LIMIT_BURST: "10000",
  LOG_LEVEL: "error",
};

export interface TestServer {
  url: string;
  wsUrl: string;
  port: number;
  config: Config;
  chat: ChatServer;
  store: Store;
  dir: string;
  /** Drains sockets, stops listening, closes the store and removes the data folder. */
  close(): Promise<void>;
}

export interface TestApp {
  config: Config;
  chat: ChatServer;
  store: Store;
  bus: MemoryBus;
  dir: string;
  /** Calls the app's handler directly: no port. */
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResult>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** Serve the web UI (default false). */
  web?: boolean;
  /** Chat commands with the in-process queue and stock bot, asking `QUOTE_URL` (default false). */
  commands?: boolean;
}

/** The whole app on a real SQLite file in a temp folder, called without a port (`app.request()`). */
export async function createTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const dir = await Deno.makeTempDir({ prefix: "chat-test-" });
  const config = loadConfig({ ...TEST_ENV, DATABASE_URL: testDatabaseUrl(dir), ...env });
  const store = await openTestStore(config.databaseUrl);
  const bus = new MemoryBus();
  // Chat commands as main.ts sets them up without AMQP_URL: an in-process queue and stock bot (QUOTE_URL).
  const queue = options.commands ? new MemoryQueue() : undefined;
  if (queue !== undefined) {
    await queue.start();
    await stockBot(queue, { baseUrl: config.quoteUrl, timeoutMs: config.quoteTimeoutMs, log: nullLogger });
  }
  const chat = await createChatServer({
    config,
    log: nullLogger,
    store,
    bus,
    web: options.web ?? false,
    commands: queue === undefined ? undefined : { registry: defaultRegistry(), queue },
  });
  return {
    config,
    chat,
    store,
    bus,
    dir,
    request: (method, path, options = {}) =>
      toResult(
        chat.app.request(
          path,
          buildInit(method, options),
          options.remoteAddr ? remote(options.remoteAddr) : undefined,
        ),
      ),
    async close() {
      await chat.drain();
      await queue?.close();
      await bus.close();
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

export async function startServer(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestServer> {
  const app = await createTestApp(env, options);
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    app.chat.app.fetch,
  );
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    port,
    config: app.config,
    chat: app.chat,
    store: app.store,
    dir: app.dir,
    async close() {
      await app.chat.drain();
      ac.abort();
      await server.finished;
      await app.close();
    },
  };
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** The client address the app sees (per-IP limits). */
  remoteAddr?: string;
}

function remote(hostname: string) {
  return { remoteAddr: { transport: "tcp", hostname, port: 40000 } };
}

function buildInit(method: string, options: RequestOptions): RequestInit {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] ??= "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  return { method, headers, body };
}

async function toResult(pending: Response | Promise<Response>): Promise<ApiResult> {
  const response = await pending;
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === "" ? null : JSON.parse(text) };
}

export interface ApiResult {
  status: number;
  headers: Headers;
  /** The parsed JSON body (null when empty); `any` so tests can reach into it directly. */
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Calls the REST API over the network; the body is parsed when JSON (null for an empty response). */
export function api(
  base: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<ApiResult> {
  return toResult(fetch(base + path, buildInit(method, options)));
}

/** A server's base URL, or an app called without a port. */
export type Target = string | Pick<TestApp, "request">;

export function call(target: Target, method: string, path: string, options: RequestOptions = {}) {
  return typeof target === "string"
    ? api(target, method, path, options)
    : target.request(method, path, options);
}

export interface TestUser {
  id: string;
  username: string;
  email: string;
  token: string;
}

let userCounter = 0;

/** Registers and logs in a fresh user named `<prefix><n>`. */
export async function newUser(base: Target, prefix = "user"): Promise<TestUser> {
  const username = `${prefix}${++userCounter}_${crypto.randomUUID().slice(0, 6)}`;
  const email = `${username}@example.com`;
  const password = "correct horse battery";
  const reg = await call(base, "POST", "/api/auth/register", { body: { username, email, password } });
  if (reg.status !== 201) throw new Error(`register failed: ${reg.status} ${JSON.stringify(reg.body)}`);
  const login = await call(base, "POST", "/api/auth/login", { body: { email, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return { id: reg.body.id, username, email, token: login.body.token };
}

export async function createRoom(
  base: Target,
  user: TestUser,
  body: { name?: string; description?: string; is_private?: boolean } = {},
): Promise<Record<string, unknown> & { id: string }> {
  // Room names are unique: a name of its own unless the test gives one.
  const name = `Room ${crypto.randomUUID().slice(0, 8)}`;
  const res = await call(base, "POST", "/api/rooms", { token: user.token, body: { name, ...body } });
  if (res.status !== 201) throw new Error(`create room failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Record<string, unknown> & { id: string };
}

/**
 * Polls `condition` every 10 ms until it holds; fails after `timeoutMs` with `what` in the message. For state
 * that has no event to await (e.g. the server noticing a closed socket).
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

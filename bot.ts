/**
 * The stock bot as its own process (`deno task bot`): consumes `stock` jobs from RabbitMQ and publishes the
 * answers. Without `AMQP_URL` there is nothing to do here: the chat server then runs the bot in-process on
 * its memory queue (the zero-setup default).
 *
 * Environment: `AMQP_URL` (required), `AMQP_PREFIX` (default `chat`), `QUOTE_URL` (default
 * `https://stooq.com/q/l/`, the endpoint without its query), `QUOTE_TIMEOUT_MS` (default 5000), `LOG_LEVEL`
 * (default `info`). A missing or bad setting is named and the process exits 1.
 */
import { AmqpQueue } from "./lib/commands/amqp_queue.ts";
import { DEFAULT_QUOTE_URL, stockBot } from "./lib/commands/stock.ts";
import { isLogLevel, jsonLineHandler, Logger, type LogLevel } from "./lib/log.ts";

export interface BotConfig {
  amqpUrl: string;
  amqpPrefix: string;
  quoteUrl: string;
  quoteTimeoutMs: number;
  logLevel: LogLevel;
}

/** Reads the bot's settings; throws a `BotConfigError` naming every problem. */
export function loadBotConfig(env: Record<string, string | undefined>): BotConfig {
  const problems: string[] = [];
  const amqpUrl = env.AMQP_URL?.trim() ?? "";
  if (amqpUrl === "") {
    problems.push(
      "AMQP_URL is not set: the separate bot process needs RabbitMQ (e.g. amqp://guest:guest@localhost:5672); " +
        "without AMQP_URL the chat server answers commands with its in-process bot",
    );
  } else if (!/^amqps?:\/\//.test(amqpUrl)) {
    // The value is not echoed: it may hold a password.
    problems.push("AMQP_URL must start with amqp:// or amqps://");
  }
  const amqpPrefix = env.AMQP_PREFIX?.trim() || "chat";
  const quoteUrl = env.QUOTE_URL?.trim() || DEFAULT_QUOTE_URL;
  if (!URL.canParse(quoteUrl) || !/^https?:$/.test(new URL(quoteUrl).protocol)) {
    problems.push(`QUOTE_URL must be an http(s) URL, got "${quoteUrl}"`);
  }
  const timeoutText = env.QUOTE_TIMEOUT_MS?.trim() || "5000";
  const quoteTimeoutMs = Number(timeoutText);
  if (!/^\d+$/.test(timeoutText) || quoteTimeoutMs < 1 || quoteTimeoutMs > 120_000) {
    problems.push(`QUOTE_TIMEOUT_MS must be an integer from 1 to 120000, got "${timeoutText}"`);
  }
  const logLevel = env.LOG_LEVEL?.trim() || "info";
  if (!isLogLevel(logLevel)) problems.push(`LOG_LEVEL must be debug, info, warn or error, got "${logLevel}"`);
  if (problems.length > 0) throw new BotConfigError(problems);
  return { amqpUrl, amqpPrefix, quoteUrl, quoteTimeoutMs, logLevel: logLevel as LogLevel };
}

export class BotConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("; "));
    this.name = "BotConfigError";
  }
}

const SHUTDOWN_TIMEOUT_MS = 10_000;

export async function main(): Promise<number> {
  const sink = jsonLineHandler();
  let config;
  try {
    config = loadBotConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof BotConfigError)) throw error;
    sink("error", "Invalid bot configuration", { problems: error.problems });
    return 1;
  }
  const log = new Logger(config.logLevel, sink, { process: "bot" });

  const queue = new AmqpQueue({
    url: config.amqpUrl,
    prefix: config.amqpPrefix,
    log: log.with({ component: "queue" }),
  });
  try {
    await queue.start();
    await stockBot(queue, {
      baseUrl: config.quoteUrl,
      timeoutMs: config.quoteTimeoutMs,
      log: log.with({ component: "stockbot" }),
    });
  } catch (error) {
    log.error("Cannot start the bot", { error });
    await queue.close().catch(() => {});
    return 1;
  }
  log.info("Bot ready", { commands: ["stock"], prefix: config.amqpPrefix, quote_url: config.quoteUrl });

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => stop(signal));
  const signal = await stopped;

  log.info("Shutting down", { signal });
  const deadline = setTimeout(() => {
    log.error("Shutdown took too long; exiting", { timeout_ms: SHUTDOWN_TIMEOUT_MS });
    Deno.exit(1);
  }, SHUTDOWN_TIMEOUT_MS);
  await queue.close();
  clearTimeout(deadline);
  log.info("Stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main());

/**
 * The stock bot: answers `/stock=CODE` jobs with the last close from a Stooq-style CSV endpoint
 * (`<baseUrl>?s=<code>&f=sd2t2ohlcv&h&e=csv`, code lower-cased as Stooq expects).
 *
 * Retry policy of `fetchQuote`: only what may succeed on a second try is retried, with a backoff between
 * tries: network errors, timeouts, 5xx and 429. A 200 is an answer: `N/D` (unknown symbol) is `null` at
 * once, and an unreadable body (not CSV, missing columns, non-numeric close) fails at once, since asking
 * again within a second would return the same thing; other 4xx fail at once too.
 *
 * `stockAnswer` never throws for source problems: every outcome is a friendly message in the room.
 */
import type { Logger } from "../log.ts";
import type { CommandAnswer, CommandJob, CommandQueue } from "./queue.ts";
import { CommandError, STOCK_COMMAND } from "./registry.ts";

export interface QuoteOptions {
  /** The endpoint without its query, e.g. `https://stooq.com/q/l/`. */
  baseUrl: string;
  /** Per try, headers and body included. Default 5000. */
  timeoutMs?: number;
  /** Tries in all (1 = no retry). Default 3. */
  attempts?: number;
  /** Delay after failed try number `attempt` (1-based) before the next. Default 200, 400, 800... */
  backoffMs?: (attempt: number) => number;
  fetch?: typeof fetch;
}

export interface Quote {
  /** The code asked for, upper-cased (`AAPL.US`). */
  code: string;
  /** The last close. */
  close: number;
}

/** The quote source failed (after the retries, when the failure was retryable). */
export class QuoteSourceError extends Error {
  /** Whether another try might have succeeded (network error, timeout, 5xx, 429). */
  readonly retryable: boolean;
  /** Tries made before giving up. */
  attempts = 1;

  constructor(message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = "QuoteSourceError";
    this.retryable = retryable;
  }
}

export const DEFAULT_QUOTE_URL = "https://stooq.com/q/l/";
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_ATTEMPTS = 3;
const defaultBackoff = (attempt: number) => 200 * 2 ** (attempt - 1);

/** The request URL for `code`: `<baseUrl>?s=aapl.us&f=sd2t2ohlcv&h&e=csv`. */
export function quoteUrl(baseUrl: string, code: string): string {
  const url = new URL(baseUrl);
  // Built by hand: URLSearchParams would turn the bare `h` flag into `h=`.
  url.search = `?s=${encodeURIComponent(code.toLowerCase())}&f=sd2t2ohlcv&h&e=csv`;
  return url.href;
}

/**
 * The last close of `code`, or null when the source does not know the symbol (`N/D`). Throws
 * `QuoteSourceError` when the source fails (see the retry policy in the module doc).
 */
export async function fetchQuote(code: string, options: QuoteOptions): Promise<Quote | null> {
  const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
  const backoff = options.backoffMs ?? defaultBackoff;
  const url = quoteUrl(options.baseUrl, code);
  for (let attempt = 1;; attempt++) {
    try {
      return await fetchOnce(url, code, options);
    } catch (error) {
      const failure = error instanceof QuoteSourceError
        ? error
        : new QuoteSourceError(`Quote request failed: ${String(error)}`, true, { cause: error });
      failure.attempts = attempt;
      if (!failure.retryable || attempt >= attempts) throw failure;
      await sleep(backoff(attempt));
    }
  }
}

async function fetchOnce(url: string, code: string, options: QuoteOptions): Promise<Quote | null> {
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let body: string;
  try {
    const response = await fetchFn(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) {
      await response.body?.cancel();
      const retryable = response.status >= 500 || response.status === 429;
      throw new QuoteSourceError(`Quote source answered HTTP ${response.status}`, retryable);
    }
    body = await response.text();
  } catch (error) {
    if (error instanceof QuoteSourceError) throw error;
    if (error instanceof DOMException && error.name === "TimeoutError") {
      throw new QuoteSourceError(`Quote source did not answer within ${timeoutMs} ms`, true, {
        cause: error,
      });
    }
    throw new QuoteSourceError(`Quote request failed: ${String(error)}`, true, { cause: error });
  }
  return parseQuoteCsv(body, code);
}

/**
 * Reads Stooq's CSV (`Symbol,Date,Time,Open,High,Low,Close,Volume` then one line per symbol). Null for
 * `N/D`; throws a non-retryable `QuoteSourceError` for anything unreadable.
 */
export function parseQuoteCsv(body: string, code: string): Quote | null {
  const lines = body.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  const unreadable = (why: string) =>
    new QuoteSourceError(
      `Unreadable quote for ${code}: ${why}: ${JSON.stringify(body.slice(0, 200))}`,
      false,
    );
  if (lines.length < 2) throw unreadable("no data line");
  const header = lines[0].split(",").map((name) => name.trim().toLowerCase());
  const symbolAt = header.indexOf("symbol");
  const closeAt = header.indexOf("close");
  if (symbolAt === -1 || closeAt === -1) throw unreadable("no Symbol or Close column");
  const rows = lines.slice(1).map((line) => line.split(",").map((field) => field.trim()));
  const wanted = code.toUpperCase();
  const row = rows.find((fields) => fields[symbolAt]?.toUpperCase() === wanted) ?? rows[0];
  const close = row[closeAt];
  if (close === undefined) throw unreadable("missing Close field");
  if (close.toUpperCase() === "N/D") return null;
  const value = Number(close);
  if (!/^-?\d+(\.\d+)?$/.test(close) || !Number.isFinite(value)) throw unreadable("Close is not a number");
  return { code: wanted, close: value };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** `$229.87`-style: two decimals. */
export function formatQuote(quote: Quote): string {
  return `${quote.code} quote is $${quote.close.toFixed(2)} per share`;
}

/**
 * The answer to a `/stock=CODE` job. Never throws for bad input or source problems: an unknown symbol,
 * an invalid code or a failing source each become a friendly message. Only a bug (anything other than a
 * `QuoteSourceError` or `CommandError`) is thrown, so that the queue retries and then dead-letters the job.
 */
export async function stockAnswer(
  job: CommandJob,
  options: QuoteOptions & { log?: Logger },
): Promise<CommandAnswer> {
  const answer = (content: string): CommandAnswer => ({
    job_id: job.id,
    command: job.command,
    room_id: job.room_id,
    bot: STOCK_COMMAND.bot,
    content,
  });
  let code: string;
  try {
    code = STOCK_COMMAND.validate(job.arg);
  } catch (error) {
    if (error instanceof CommandError) return answer(`Sorry, ${error.message}`);
    throw error;
  }
  try {
    const quote = await fetchQuote(code, options);
    if (quote === null) return answer(`Sorry, no quote for ${code}`);
    return answer(formatQuote(quote));
  } catch (error) {
    if (!(error instanceof QuoteSourceError)) throw error;
    options.log?.warn("Quote source failed", {
      job_id: job.id,
      code,
      attempts: error.attempts,
      retryable: error.retryable,
      error,
    });
    return answer(`Sorry, the quote service is not answering right now; try /stock=${code} again later`);
  }
}

/**
 * Runs the stock bot on `queue` (already started): answers `stock` jobs one at a time. Resolves once it is
 * consuming; `queue.close()` stops it.
 */
export async function stockBot(queue: CommandQueue, options: QuoteOptions & { log: Logger }): Promise<void> {
  await queue.consumeJobs(STOCK_COMMAND.name, (job) => stockAnswer(job, options), { prefetch: 1 });
  options.log.info("Stock bot consuming", { command: STOCK_COMMAND.name, quote_url: options.baseUrl });
}

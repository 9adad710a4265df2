import assert from "node:assert/strict";
import { type QuoteServer, startQuoteServer } from "../../tests/helpers/quote_server.ts";
import { Logger, type LogLevel } from "../log.ts";
import type { CommandJob } from "./queue.ts";
import {
  fetchQuote,
  parseQuoteCsv,
  type QuoteOptions,
  QuoteSourceError,
  quoteUrl,
  stockAnswer,
} from "./stock.ts";

const UNAVAILABLE = (code: string) =>
  `Sorry, the quote service is not answering right now; try /stock=${code} again later`;

function job(arg: string): CommandJob {
  return {
    id: "0123456789abcdef01234567",
    command: "stock",
    arg,
    room_id: "room-1",
    user_id: "user-1",
    username: "alice",
    requested_at: new Date().toISOString(),
  };
}

/** Fast options against the fake server: short timeout, tiny backoff whose calls are recorded. */
function fast(quotes: QuoteServer, extra: Partial<QuoteOptions> = {}) {
  const backoffs: number[] = [];
  const options: QuoteOptions = {
    baseUrl: quotes.url,
    timeoutMs: 1_000,
    attempts: 3,
    backoffMs: (attempt) => {
      backoffs.push(attempt);
      return 5;
    },
    ...extra,
  };
  return { options, backoffs };
}

async function withQuotes(test: (quotes: QuoteServer) => Promise<void>): Promise<void> {
  const quotes = await startQuoteServer();
  try {
    await test(quotes);
  } finally {
    await quotes.close();
  }
}

Deno.test("quoteUrl adds Stooq's query with the code lower-cased", () => {
  assert.equal(
    quoteUrl("https://stooq.com/q/l/", "AAPL.US"),
    "https://stooq.com/q/l/?s=aapl.us&f=sd2t2ohlcv&h&e=csv",
  );
  assert.equal(
    quoteUrl("http://127.0.0.1:9/q/l/", "^SPX"),
    "http://127.0.0.1:9/q/l/?s=%5Espx&f=sd2t2ohlcv&h&e=csv",
  );
});

Deno.test("parseQuoteCsv reads Close, N/D and refuses garbage", () => {
  const header = "Symbol,Date,Time,Open,High,Low,Close,Volume";
  assert.deepEqual(
    parseQuoteCsv(
      `${header}\r\nAAPL.US,2024-11-22,22:00:12,228.06,230.72,228.06,229.87,38168252\r\n`,
      "AAPL.US",
    ),
    { code: "AAPL.US", close: 229.87 },
  );
  assert.equal(parseQuoteCsv(`${header}\nXYZ.US,N/D,N/D,N/D,N/D,N/D,N/D,N/D\n`, "XYZ.US"), null);
  for (
    const body of [
      "",
      "<html>nope</html>",
      header,
      "Symbol,Date,Time\nAAPL.US,2024-11-22,22:00:12",
      `${header}\nAAPL.US,2024-11-22,22:00:12,228.06,230.72,228.06`,
      `${header}\nAAPL.US,2024-11-22,22:00:12,228.06,230.72,228.06,abc,1`,
      `${header}\nAAPL.US,2024-11-22,22:00:12,228.06,230.72,228.06,,1`,
      `${header}\nAAPL.US,2024-11-22,22:00:12,228.06,230.72,228.06,1e3,1`,
    ]
  ) {
    assert.throws(
      () => parseQuoteCsv(body, "AAPL.US"),
      (error: unknown) => error instanceof QuoteSourceError && !error.retryable,
      JSON.stringify(body),
    );
  }
});

Deno.test("fetchQuote asks the right URL and reads the close", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "quote", close: "229.87" });
    const { options } = fast(quotes);
    assert.deepEqual(await fetchQuote("AAPL.US", options), { code: "AAPL.US", close: 229.87 });
    assert.deepEqual(quotes.paths, ["/q/l/"]);
    assert.deepEqual(quotes.queries, ["?s=aapl.us&f=sd2t2ohlcv&h&e=csv"]);
  });
});

Deno.test("stockAnswer formats the price with two decimals", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "quote", close: "229.87" });
    quotes.set("msft.us", { kind: "quote", close: "93.4" });
    quotes.set("brk-a.us", { kind: "quote", close: "701234" });
    quotes.set("penny.us", { kind: "quote", close: "0.005" });
    const { options } = fast(quotes);
    const answer = await stockAnswer(job("AAPL.US"), options);
    assert.deepEqual(answer, {
      job_id: "0123456789abcdef01234567",
      command: "stock",
      room_id: "room-1",
      bot: "stockbot",
      content: "AAPL.US quote is $229.87 per share",
    });
    assert.equal((await stockAnswer(job("msft.us"), options)).content, "MSFT.US quote is $93.40 per share");
    assert.equal(
      (await stockAnswer(job("BRK-A.US"), options)).content,
      "BRK-A.US quote is $701234.00 per share",
    );
    assert.equal((await stockAnswer(job("PENNY.US"), options)).content, "PENNY.US quote is $0.01 per share");
  });
});

Deno.test("N/D: null from fetchQuote, a friendly answer, no retry", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("xyz.us", { kind: "nd" });
    const { options, backoffs } = fast(quotes);
    assert.equal(await fetchQuote("XYZ.US", options), null);
    assert.equal((await stockAnswer(job("XYZ.US"), options)).content, "Sorry, no quote for XYZ.US");
    assert.equal(quotes.requestsFor("xyz.us"), 2, "one request each, no retry");
    assert.deepEqual(backoffs, []);
  });
});

Deno.test("garbage with a 200: QuoteSourceError at once, then a friendly answer", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "garbage" });
    const { options, backoffs } = fast(quotes);
    await assert.rejects(
      fetchQuote("AAPL.US", options),
      (error: unknown) => error instanceof QuoteSourceError && !error.retryable && error.attempts === 1,
    );
    assert.equal(quotes.requestsFor("aapl.us"), 1);
    quotes.set("aapl.us", {
      kind: "garbage",
      body: "Symbol,Date,Time,Open,High,Low,Close,Volume\nAAPL.US,x,y,z",
    });
    assert.equal((await stockAnswer(job("AAPL.US"), options)).content, UNAVAILABLE("AAPL.US"));
    assert.equal(quotes.requestsFor("aapl.us"), 2);
    assert.deepEqual(backoffs, []);
  });
});

Deno.test("HTTP 500 twice then 200: the price, after backoffs 1 and 2", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "error", times: 2, then: { kind: "quote", close: "229.87" } });
    const { options, backoffs } = fast(quotes);
    assert.equal((await stockAnswer(job("AAPL.US"), options)).content, "AAPL.US quote is $229.87 per share");
    assert.equal(quotes.requestsFor("aapl.us"), 3);
    assert.deepEqual(backoffs, [1, 2]);
  });
});

Deno.test("HTTP 500 every time: a friendly answer after exactly `attempts` tries", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "error", times: 100, then: { kind: "nd" } });
    const { options } = fast(quotes, { attempts: 4 });
    await assert.rejects(
      fetchQuote("AAPL.US", options),
      (error: unknown) => error instanceof QuoteSourceError && error.retryable && error.attempts === 4,
    );
    assert.equal(quotes.requestsFor("aapl.us"), 4);
    assert.equal((await stockAnswer(job("AAPL.US"), options)).content, UNAVAILABLE("AAPL.US"));
    assert.equal(quotes.requestsFor("aapl.us"), 8);
  });
});

Deno.test("HTTP 404 is not retried", async () => {
  await withQuotes(async (quotes) => {
    const { options } = fast(quotes, { baseUrl: new URL("/nowhere/", quotes.url).href });
    assert.equal((await stockAnswer(job("AAPL.US"), options)).content, UNAVAILABLE("AAPL.US"));
    assert.equal(quotes.requests, 1);
  });
});

Deno.test("a source that hangs: a friendly answer after exactly `attempts` timed-out tries", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "hang" });
    const { options, backoffs } = fast(quotes, { timeoutMs: 100, attempts: 3 });
    const started = performance.now();
    const answer = await stockAnswer(job("AAPL.US"), options);
    const elapsed = performance.now() - started;
    assert.equal(answer.content, UNAVAILABLE("AAPL.US"));
    assert.equal(quotes.requestsFor("aapl.us"), 3);
    assert.deepEqual(backoffs, [1, 2]);
    assert.ok(elapsed >= 300 && elapsed < 3_000, `took ${elapsed} ms`);
  });
});

Deno.test("nobody listening (connection refused): a friendly answer after the retries", async () => {
  const quotes = await startQuoteServer();
  const { options, backoffs } = fast(quotes);
  await quotes.close();
  assert.equal((await stockAnswer(job("AAPL.US"), options)).content, UNAVAILABLE("AAPL.US"));
  assert.deepEqual(backoffs, [1, 2]);
});

Deno.test("source failures are logged with the cause; an invalid job arg is answered, not fetched", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "error", status: 503, times: 1, then: { kind: "nd" } });
    const entries: { level: LogLevel; message: string; fields: Record<string, unknown> }[] = [];
    const log = new Logger("debug", (level, message, fields) => entries.push({ level, message, fields }));
    const { options } = fast(quotes, { attempts: 1 });
    assert.equal((await stockAnswer(job("AAPL.US"), { ...options, log })).content, UNAVAILABLE("AAPL.US"));
    assert.equal(entries.length, 1);
    assert.equal(entries[0].level, "warn");
    assert.equal(entries[0].fields.code, "AAPL.US");
    assert.match(String((entries[0].fields.error as Error).message), /HTTP 503/);

    assert.equal(
      (await stockAnswer(job("$$$"), options)).content,
      `Sorry, "$$$" is not a stock code: use letters, digits and dots, e.g. AAPL.US`,
    );
    assert.equal(quotes.requests, 1, "nothing fetched for an invalid code");
  });
});

Deno.test("the default backoff doubles from 200 ms", async () => {
  await withQuotes(async (quotes) => {
    quotes.set("aapl.us", { kind: "error", times: 1, then: { kind: "quote", close: "1" } });
    const started = performance.now();
    assert.deepEqual(await fetchQuote("aapl.us", { baseUrl: quotes.url, attempts: 2 }), {
      code: "AAPL.US",
      close: 1,
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 195, `waited ${elapsed} ms before the second try`);
  });
});

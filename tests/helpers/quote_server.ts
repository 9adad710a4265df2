/**
 * A real local stand-in for Stooq's CSV endpoint (`GET /q/l/?s=<code>&f=sd2t2ohlcv&h&e=csv`) on a free
 * loopback port. Each symbol's behaviour is set by the test; unknown symbols answer `N/D` like Stooq.
 *
 * @example
 * const quotes = await startQuoteServer();
 * try {
 *   quotes.set("aapl.us", { kind: "quote", close: 229.87 });
 *   await fetchQuote("AAPL.US", { baseUrl: quotes.url });
 * } finally {
 *   await quotes.close();
 * }
 */

export type QuoteBehaviour =
  /** A normal CSV answer with this Close. */
  | { kind: "quote"; close: number | string }
  /** Stooq's answer for an unknown symbol: every field `N/D`. */
  | { kind: "nd" }
  /** A 200 with this body (default: an HTML page). */
  | { kind: "garbage"; body?: string }
  /** `status` (default 500) for the next `times` requests, then `then`. */
  | { kind: "error"; status?: number; times: number; then: QuoteBehaviour }
  /** Never answers (until the client gives up or the server closes). */
  | { kind: "hang" };

export interface QuoteServer {
  /** The endpoint without its query: `http://127.0.0.1:<port>/q/l/`. */
  url: string;
  /** Every request's query string (`?s=aapl.us&f=…`), in arrival order. */
  readonly queries: string[];
  /** Every request's path, in arrival order. */
  readonly paths: string[];
  /** Requests received in all. */
  readonly requests: number;
  /** Requests received for `symbol` (case-insensitive). */
  requestsFor(symbol: string): number;
  /** Sets how `symbol` (case-insensitive) is answered from now on. */
  set(symbol: string, behaviour: QuoteBehaviour): void;
  /** Releases hanging requests and stops the server. */
  close(): Promise<void>;
}

const HEADER = "Symbol,Date,Time,Open,High,Low,Close,Volume";

export function startQuoteServer(): Promise<QuoteServer> {
  const behaviours = new Map<string, QuoteBehaviour>();
  const counts = new Map<string, number>();
  const queries: string[] = [];
  const paths: string[] = [];
  const release = new AbortController();

  async function answer(symbol: string, behaviour: QuoteBehaviour): Promise<Response> {
    const upper = symbol.toUpperCase();
    switch (behaviour.kind) {
      case "quote":
        return csv(
          `${HEADER}\n${upper},2024-11-22,22:00:12,228.06,230.72,228.06,${behaviour.close},38168252\n`,
        );
      case "nd":
        return csv(`${HEADER}\n${upper},N/D,N/D,N/D,N/D,N/D,N/D,N/D\n`);
      case "garbage":
        return new Response(behaviour.body ?? "<html><body>Service temporarily unavailable</body></html>", {
          headers: { "content-type": "text/html" },
        });
      case "error": {
        if (behaviour.times > 0) {
          behaviour.times--;
          return new Response("Internal error", { status: behaviour.status ?? 500 });
        }
        behaviours.set(symbol, behaviour.then);
        return answer(symbol, behaviour.then);
      }
      case "hang": {
        // Settles when the server closes, so that shutdown never waits on it. (Not on `request.signal`:
        // Deno.serve warns about its legacy abort behaviour.)
        await new Promise<void>((resolve) => {
          if (release.signal.aborted) resolve();
          else release.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        return new Response("too late", { status: 504 });
      }
    }
  }

  const { promise: listening, resolve: onListening } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => onListening(port),
  }, (request) => {
    const url = new URL(request.url);
    queries.push(url.search);
    paths.push(url.pathname);
    if (url.pathname !== "/q/l/") return new Response("Not found", { status: 404 });
    const symbol = (url.searchParams.get("s") ?? "").toLowerCase();
    counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
    return answer(symbol, behaviours.get(symbol) ?? { kind: "nd" });
  });

  return listening.then((port) => ({
    url: `http://127.0.0.1:${port}/q/l/`,
    queries,
    paths,
    get requests() {
      return queries.length;
    },
    requestsFor: (symbol: string) => counts.get(symbol.toLowerCase()) ?? 0,
    set(symbol: string, behaviour: QuoteBehaviour) {
      // A copy: an `error` behaviour counts down its `times`.
      behaviours.set(symbol.toLowerCase(), structuredClone(behaviour));
    },
    async close() {
      release.abort();
      await server.shutdown();
    },
  }));
}

function csv(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/csv" } });
}

import { ChatError } from "../errors.ts";

/** What a refusal for an unavailable store asks the client to wait, unless it says otherwise. */
export const STORE_RETRY_AFTER_MS = 2_000;

/** Errors a `Store` adapter throws that callers may want to tell apart, whichever adapter they use. */

/**
 * The store cannot be reached right now (network error, server selection or operation timeout). The operation
 * may or may not have taken effect; the adapter keeps trying to reconnect by itself.
 *
 * @example
 * try {
 *   await store.ping();
 * } catch (error) {
 *   if (error instanceof StoreUnavailableError) return new Response(null, { status: 503 });
 *   throw error;
 * }
 */
export class StoreUnavailableError extends ChatError {
  /**
   * `detail` (what the adapter saw) goes to logs with the cause; clients get the error table's message and
   * `retryAfterMs` (default 2000: `retry_after_ms` in a WebSocket error frame, `Retry-After: 2` over HTTP).
   */
  constructor(readonly detail: string, options?: ErrorOptions & { retryAfterMs?: number }) {
    super("store_unavailable", undefined, {
      cause: options?.cause,
      retryAfterMs: options?.retryAfterMs ?? STORE_RETRY_AFTER_MS,
    });
    this.name = "StoreUnavailableError";
  }
}

/**
 * Thrown by an adapter's `open()` when the database was written by a newer server (a higher schema version);
 * adapters never migrate down or silently.
 */
export class SchemaVersionError extends Error {
  constructor(readonly version: number, readonly supported: number) {
    super(
      `Database schema version ${version} is newer than this server supports (${supported}); ` +
        "upgrade the server",
    );
    this.name = "SchemaVersionError";
  }
}

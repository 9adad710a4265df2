/**
 * What the hub needs of a socket. One small adapter per runtime (`lib/websocket/deno_websocket.ts`) owns the
 * real WebSocket; tests use a fake that records frames.
 */
export interface Transport {
  send(data: string): void;
  close(code: number, reason: string): void;
  /** Bytes queued but not yet written to the network. */
  readonly buffered: number;
}

/** WebSocket close codes the server uses, with what a client should do about each. */
export const CloseCode = {
  /** Server shutting down: reconnect (another instance, or this one once back). */
  GoingAway: 1001,
  /** More than `MAX_PENDING_FRAMES` frames sent and not yet handled: a flood; reconnecting is allowed. */
  PolicyViolation: 1008,
  /** A frame over `MAX_FRAME_BYTES`: a client bug; reconnecting is allowed. */
  TooBig: 1009,
  /** The server could not set the connection up (bus unavailable): reconnect with backoff. */
  TryAgainLater: 1013,
  /** The socket's unsent backlog passed the cap: reconnect and resume from the last seq. */
  SlowConsumer: 4008,
  /** The access token the socket was opened (or last refreshed) with expired: renew it, then reconnect. */
  TokenExpired: 4001,
  /** The socket's session ended (signed out, or ended from another device): do not reconnect with it. */
  SessionEnded: 4003,
} as const;

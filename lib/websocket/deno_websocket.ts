import type { Client, Identity } from "../hub/client.ts";
import type { Hub } from "../hub/hub.ts";
import { CloseCode, type Transport } from "../hub/transport.ts";

/**
 * How long an upgraded socket may take to open. A client that leaves before the runtime writes the 101 never
 * gets an open or a close event; after this its socket is given up and its connection slot given back.
 */
export const OPEN_TIMEOUT_MS = 10_000;

export interface UpgradeOptions {
  /** The subprotocol to answer with (one the client offered), if any. */
  protocol?: string;
  /** Seconds between server pings; a peer that does not answer one in time is closed. */
  heartbeatSeconds: number;
  /**
   * Called once when the socket is gone: closed, given up before it opened, or never made because the upgrade
   * threw. The caller's connection slot is given back here.
   */
  onGone?: () => void;
  /** Default `OPEN_TIMEOUT_MS`. */
  openTimeoutMs?: number;
}

/**
 * Upgrades `request` with `Deno.upgradeWebSocket` and attaches the socket to the hub: the only place that
 * touches a real WebSocket. Heartbeats are the runtime's own ping/pong (`idleTimeout`), so no timer runs per
 * socket in JavaScript once it is open.
 */
export function upgradeToHub(
  request: Request,
  hub: Hub,
  identity: Identity,
  options: UpgradeOptions,
): Response {
  let goneCalled = false;
  const gone = () => {
    if (goneCalled) return;
    goneCalled = true;
    options.onGone?.();
  };
  let upgraded;
  try {
    upgraded = Deno.upgradeWebSocket(request, {
      protocol: options.protocol,
      idleTimeout: options.heartbeatSeconds,
    });
  } catch (error) {
    gone();
    throw error;
  }
  const { socket, response } = upgraded;
  const transport: Transport = {
    send(data) {
      if (socket.readyState === WebSocket.OPEN) socket.send(data);
    },
    close(code, reason) {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(code, reason);
      }
    },
    get buffered() {
      return socket.bufferedAmount;
    },
  };
  let client: Client | undefined;
  const openTimer = setTimeout(() => {
    gone();
    transport.close(CloseCode.TryAgainLater, "The connection took too long to open");
  }, options.openTimeoutMs ?? OPEN_TIMEOUT_MS);
  socket.onopen = () => {
    clearTimeout(openTimer);
    // Given up already: its slot may be someone else's by now.
    if (goneCalled) transport.close(CloseCode.TryAgainLater, "The connection took too long to open");
    else client = hub.connect(transport, identity);
  };
  socket.onmessage = (event) => {
    if (client !== undefined) hub.receive(client, event.data);
  };
  socket.onclose = () => {
    clearTimeout(openTimer);
    gone();
    if (client !== undefined) hub.disconnect(client);
  };
  socket.onerror = () => {
    // A close event follows; nothing to do here.
  };
  return response;
}

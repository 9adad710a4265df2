import type { Client, Identity } from "../hub/client.ts";
import type { Hub } from "../hub/hub.ts";
import type { Transport } from "../hub/transport.ts";

export interface UpgradeOptions {
  /** The subprotocol to answer with (one the client offered), if any. */
  protocol?: string;
  /** Seconds between server pings; a peer that does not answer one in time is closed. */
  heartbeatSeconds: number;
}

/**
 * Upgrades `request` with `Deno.upgradeWebSocket` and attaches the socket to the hub: the only place that
 * touches a real WebSocket. Heartbeats are the runtime's own ping/pong (`idleTimeout`), so no timer runs per
 * socket in JavaScript.
 */
export function upgradeToHub(
  request: Request,
  hub: Hub,
  identity: Identity,
  options: UpgradeOptions,
): Response {
  const { socket, response } = Deno.upgradeWebSocket(request, {
    protocol: options.protocol,
    idleTimeout: options.heartbeatSeconds,
  });
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
  socket.onopen = () => {
    client = hub.connect(transport, identity);
  };
  socket.onmessage = (event) => {
    if (client !== undefined) hub.receive(client, event.data);
  };
  socket.onclose = () => {
    if (client !== undefined) hub.disconnect(client);
  };
  socket.onerror = () => {
    // A close event follows; nothing to do here.
  };
  return response;
}

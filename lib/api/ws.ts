import type { Handler } from "hono";
import { accessCookie } from "../auth/session.ts";
import { ChatError, errorResponse } from "../errors.ts";
import type { ConnectionSlots } from "../websocket/connection_slots.ts";
import { upgradeToHub } from "../websocket/deno_websocket.ts";
import type { AppEnv, Services } from "../web/env.ts";
import { holdConnection } from "../web/connection_guard.ts";
import { originAllowed } from "../web/origins.ts";
import { identify } from "../web/session.ts";

/** The subprotocol a browser offers (with `bearer.<token>`) since it cannot set an Authorization header. */
export const WS_PROTOCOL = "chat";
const BEARER_PREFIX = "bearer.";

/** Seconds a client refused with `server_full` is asked to wait (`Retry-After`). */
export const SERVER_FULL_RETRY_AFTER_S = 5;

/**
 * `GET /ws?token=JWT&room_id=ID`: checks the origin and the token (query, `Sec-WebSocket-Protocol: chat,
 * bearer.<jwt>`, or the session cookie) before upgrading, and answers a refusal with HTTP 401/403 and a JSON
 * error, never with an upgraded socket. At `MAX_CONNECTIONS` it answers 503 `server_full` with `Retry-After`;
 * a user who holds `MAX_SOCKETS_PER_USER` sockets already gets 429 `too_many_sockets`.
 */
export function wsHandler(deps: Services): Handler<AppEnv> {
  const { store, hub, config, connections } = deps;
  return async (c) => {
    if (deps.isShuttingDown?.()) {
      throw new ChatError("shutting_down", "Server is shutting down; reconnect");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ChatError("upgrade_required", "This endpoint only accepts WebSocket upgrades");
    }
    if (!originAllowed(c.req.raw, config)) {
      throw new ChatError("origin_not_allowed", "WebSocket connections from this origin are not allowed");
    }
    // Early, before the token and the store are asked; the slot itself is taken just before the upgrade.
    if (connections.full) return serverFull(connections);
    const offered = offeredProtocols(c.req.header("sec-websocket-protocol"));
    const bearer = offered.find((p) => p.startsWith(BEARER_PREFIX));
    const token = c.req.query("token") ?? bearer?.slice(BEARER_PREFIX.length) ?? accessCookie(c.req.raw);
    const who = await identify(deps, token);
    const user = await store.users.byId(who.userId);
    if (user === null) throw new ChatError("invalid_token", "The access token's account does not exist");
    const identity = { ...who, username: user.username };
    c.set("user", identity);
    const roomId = c.req.query("room_id");
    const protocol = offered.includes(WS_PROTOCOL) ? WS_PROTOCOL : bearer;
    // One of the user's MAX_SOCKETS_PER_USER places (429 `too_many_sockets` at the cap), held until it is gone.
    const releaseOwn = await deps.chat.activity.reserveSocket(identity);
    // No await from here to the upgrade: the count cannot change in between.
    const release = connections.tryAcquire();
    if (release === null) {
      releaseOwn();
      return serverFull(connections, false);
    }
    // The socket keeps its connection counted against MAX_CONNECTIONS_PER_IP until it is gone.
    const connection = holdConnection(c.env);
    const onGone = () => {
      release();
      releaseOwn();
      connection.release();
    };
    const response = upgradeToHub(
      c.req.raw,
      hub,
      { ...identity, roomId: roomId === "" ? undefined : roomId, resumeFirst: c.req.query("resume") === "1" },
      { heartbeatSeconds: config.heartbeatSeconds, onGone },
    );
    // Set here rather than passed as `protocol`: Deno.upgradeWebSocket splits the offer on ", " exactly and
    // throws (a 500) for `chat,bearer.<jwt>`, which is how Node's `ws` client sends it.
    if (protocol !== undefined) response.headers.set("sec-websocket-protocol", protocol);
    return connection.upgraded(response);
  };
}

/** RFC 7230 `token` characters: what a subprotocol name may be made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The subprotocols a client offers, parsed as RFC 6455 says (`Sec-WebSocket-Protocol: 1#token`): names
 * separated by commas with optional spaces or tabs around them, over one or several header lines. Elements
 * that are not tokens are dropped, so no header value makes the upgrade fail.
 *
 * @example
 * offeredProtocols("chat,bearer.abc"); // ["chat", "bearer.abc"]
 * offeredProtocols(" chat ,\tbearer.abc , "); // ["chat", "bearer.abc"]
 */
export function offeredProtocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header.split(",").map((part) => part.trim()).filter((part) => TOKEN.test(part));
}

/**
 * The 503 refusal at `MAX_CONNECTIONS`. Returned, not thrown: a thrown 5xx is logged once per request, and
 * the slots log refusals once per burst instead.
 */
function serverFull(connections: ConnectionSlots, count = true): Response {
  if (count) connections.refused();
  return errorResponse(
    new ChatError(
      "server_full",
      "The server has reached its connection limit; try again in a few seconds",
      { retryAfterMs: SERVER_FULL_RETRY_AFTER_S * 1000 },
    ),
  );
}

import { ChatError, errorFrameOf, isUnexpected } from "../errors.ts";
import type { Client } from "../hub/client.ts";
import type { Hub, HubHandler } from "../hub/hub.ts";
import { NotSubscribedError } from "../hub/recovery/mod.ts";
import { isId } from "../ids.ts";
import type { ClientFrame, ErrorFrame, PingFrame } from "../hub/protocol.ts";
import type { Logger } from "../log.ts";
import type { Chat } from "./chat.ts";

/** Typing notices from one socket for one room go out at most this often; extra ones are dropped. */
const TYPING_INTERVAL_MS = 1_000;

/**
 * The chat side of the hub (its `HubHandler`): one method per frame type, each calling the chat core; every
 * refusal becomes an error frame that names the code and, for sends, the `client_id`.
 */
export function hubHandler(
  chat: Chat,
  hub: Hub,
  log: Logger,
  now: () => number = Date.now,
  authenticate?: (token: string) => Promise<{ userId: string; sessionId: string; expiresAt: number }>,
): HubHandler {
  const lastTyping = new WeakMap<Client, Map<string, number>>();

  return {
    async connect(client) {
      await chat.activity.connected(client);
      const roomId = client.identity.roomId;
      if (roomId === undefined || client.rooms.has(roomId)) return;
      try {
        const room = await chat.rooms.join(client.identity, roomId);
        client.sendFrame({ type: "joined", room_id: room.id, last_seq: room.last_seq });
      } catch (error) {
        client.sendFrame(errorFrame(error, log, { room_id: roomId }));
      }
    },

    disconnect(client) {
      return chat.activity.disconnected(client);
    },

    async frame(client, frame: Exclude<ClientFrame, PingFrame>) {
      const actor = client.identity;
      try {
        switch (frame.type) {
          case "message": {
            const result = await chat.messages.post(
              actor,
              frame.room_id,
              frame.content,
              frame.client_id,
              "ws",
            );
            if (result.kind === "command") {
              client.sendFrame({
                type: "ack",
                client_id: frame.client_id ?? null,
                room_id: result.room_id,
                command: result.command,
                job_id: result.job_id,
              });
              return;
            }
            const { message } = result;
            client.sendFrame({
              type: "ack",
              client_id: frame.client_id ?? null,
              id: message.id,
              seq: message.seq,
              room_id: message.room_id,
            });
            return;
          }
          case "join": {
            const room = await chat.rooms.join(actor, frame.room_id);
            client.sendFrame({ type: "joined", room_id: room.id, last_seq: room.last_seq });
            return;
          }
          case "leave": {
            // A subscribed socket gets its `left` from the membership change.
            const subscribed = client.rooms.has(frame.room_id);
            await chat.rooms.leave(actor, frame.room_id);
            if (!subscribed) client.sendFrame({ type: "left", room_id: frame.room_id });
            return;
          }
          case "resume": {
            const { done, more, failed } = await hub.resume(client, frame.rooms);
            for (const { roomId, error } of failed) {
              const refusal = !(error instanceof NotSubscribedError)
                ? error
                : isId(roomId)
                ? new ChatError("not_a_member", "Cannot resume a room you are not in")
                : new ChatError("room_not_found");
              client.sendFrame(errorFrame(refusal, log, { room_id: roomId }));
            }
            // Rooms cut short at the bound: the client asks for the rest (`more`), page by page.
            const cut = Object.keys(more).length > 0;
            client.sendFrame(cut ? { type: "resumed", rooms: done, more } : { type: "resumed", rooms: done });
            return;
          }
          case "refresh": {
            if (authenticate === undefined) {
              throw new ChatError("invalid_frame", "This server takes no refresh");
            }
            const who = await authenticate(frame.token);
            if (who.userId !== actor.userId || who.sessionId !== actor.sessionId) {
              throw new ChatError("invalid_token", "The token belongs to another sign-in than this socket's");
            }
            hub.renew(client, who.expiresAt);
            client.sendFrame({ type: "refreshed", expires_at: who.expiresAt });
            return;
          }
          case "typing": {
            if (!client.rooms.has(frame.room_id)) {
              throw new ChatError("not_a_member", "Cannot send typing to a room you are not in");
            }
            let rooms = lastTyping.get(client);
            if (rooms === undefined) lastTyping.set(client, rooms = new Map());
            const t = now();
            if (t - (rooms.get(frame.room_id) ?? -Infinity) < TYPING_INTERVAL_MS) return;
            rooms.set(frame.room_id, t);
            // Then the user's own rate over all their sockets and rooms (and instances): over it, dropped.
            await chat.activity.typing(actor, frame.room_id);
            return;
          }
        }
      } catch (error) {
        const context = frame.type === "resume" || frame.type === "refresh"
          ? {}
          : frame.type === "message" && frame.client_id !== undefined
          ? { room_id: frame.room_id, client_id: frame.client_id }
          : { room_id: frame.room_id };
        client.sendFrame(errorFrame(error, log, context));
      }
    },
  };
}

/** Maps a refusal to an error frame; anything unexpected is logged and answered as a retryable internal error. */
function errorFrame(
  error: unknown,
  log: Logger,
  context: { room_id?: string; client_id?: string },
): ErrorFrame {
  if (isUnexpected(error)) log.error("Frame failed", { ...context, error });
  return errorFrameOf(error, context);
}

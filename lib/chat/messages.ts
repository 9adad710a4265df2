import { unescape } from "../commands/registry.ts";
import { ChatError } from "../errors.ts";
import type { Identity } from "../hub/client.ts";
import type { AppendResult, HistoryPage, HistoryQuery, Message, Room, Store } from "../storage/store.ts";
import type { Access } from "./access.ts";
import type { ChatMetrics, MessageSource } from "./broadcast.ts";
import type { Commands, QueuedCommand } from "./commands.ts";

/** What `post()` did: stored a message, or queued a command's job for its bot. */
export type PostResult = ({ kind: "message" } & AppendResult) | QueuedCommand;

export interface MessagesOptions {
  store: Store;
  access: Access;
  broadcast(message: Message, options?: { again?: boolean }): Promise<void>;
  maxMessageChars: number;
  /** Without them a message starting with `/` is ordinary text. */
  commands?: Commands;
  metrics?: ChatMetrics;
}

/**
 * A room's stream of stored events: what people post (text, or a command for a bot), the system notices, and
 * reading history. Every event is stored first, getting the room's next `seq` in the same write, then
 * broadcast.
 */
/**
 * A retried send whose original is younger than this is published again. An older one is not: an instance with no
 * stream of the room yet would start it there and fill everything after it from the store.
 */
const REPUBLISH_WITHIN_MS = 60_000;

export class Messages {
  readonly #options: MessagesOptions;

  constructor(options: MessagesOptions) {
    this.#options = options;
  }

  /**
   * What a user typed in a room: a chat command (`/stock=AAPL.US`) is checked and queued for its bot, never
   * stored; anything else (also `//text`, which posts `/text`) is stored and broadcast by `send()`. `source`
   * labels the metrics of stored messages.
   */
  async post(
    actor: Identity,
    roomId: string,
    content: string,
    clientId?: string,
    source: MessageSource = "rest",
  ): Promise<PostResult> {
    const { commands, access, metrics } = this.#options;
    const command = commands?.resolve(content) ?? null;
    if (commands === undefined || command === null) {
      const result = await this.send(
        actor,
        roomId,
        commands === undefined ? content : unescape(content),
        clientId,
      );
      if (result.created) metrics?.messageReceived(source);
      return { kind: "message", ...result };
    }
    return commands.queue(actor, await access.roomToWrite(actor, roomId), command, clientId);
  }

  /**
   * Validates, rate-limits, stores (getting `seq`) and then publishes a text message. A repeated `clientId`
   * returns the stored original (`created: false`); if that is recent it is published again, since the first
   * attempt may have been stored without being published (refused at its deadline while the store was slow, or
   * the instance died after the write). Hubs and sockets drop a seq they have delivered, so nobody sees it twice.
   */
  async send(actor: Identity, roomId: string, content: string, clientId?: string): Promise<AppendResult> {
    this.#checkContent(content);
    const room = await this.#options.access.roomToWrite(actor, roomId);
    const result = await this.#options.store.messages.append({
      room_id: room.id,
      user_id: actor.userId,
      username: actor.username,
      content,
      type: "text",
      client_id: clientId,
    });
    if (result.created) await this.#options.broadcast(result.message);
    else if (Date.now() - Date.parse(result.message.timestamp) < REPUBLISH_WITHIN_MS) {
      await this.#options.broadcast(result.message, { again: true });
    }
    return result;
  }

  /** Stores and broadcasts a system notice about `subject` (a join, a leave). */
  /** Stores and sends a system notice about `subject` (a join, a rename …); returns it. */
  async notice(room: Room, subject: Identity, content: string): Promise<Message> {
    const { message } = await this.#options.store.messages.append({
      room_id: room.id,
      user_id: subject.userId,
      username: subject.username,
      content,
      type: "system",
    });
    await this.#options.broadcast(message);
    return message;
  }

  async history(actor: Identity, roomId: string, query: HistoryQuery): Promise<HistoryPage> {
    const { room } = await this.#options.access.visibleRoom(actor, roomId);
    return this.#options.store.messages.history(room.id, query);
  }

  #checkContent(content: string): void {
    const max = this.#options.maxMessageChars;
    if (content.trim() === "") throw new ChatError("content_empty");
    if (content.length > max && codePoints(content) > max) {
      throw new ChatError("content_too_long", `Message content is longer than ${max} characters`);
    }
    if (!content.isWellFormed() || content.includes("\0")) {
      throw new ChatError(
        "invalid_content",
        "Message content must be valid Unicode text without NUL characters",
      );
    }
  }
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

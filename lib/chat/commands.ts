import type { CommandAnswer, CommandQueue } from "../commands/queue.ts";
import { CommandError, type CommandRegistry } from "../commands/registry.ts";
import { ChatError } from "../errors.ts";
import type { Identity } from "../hub/client.ts";
import { isId, newId } from "../ids.ts";
import type { Logger } from "../log.ts";
import { ConflictError, type Message, type Room, type Store } from "../storage/store.ts";

/** A command a user typed, resolved by the registry: which one, and its argument. */
export type ResolvedCommand = NonNullable<ReturnType<CommandRegistry["resolve"]>>;

/** What queueing a command did: the job its bot will answer. */
export interface QueuedCommand {
  kind: "command";
  command: string;
  job_id: string;
  room_id: string;
}

export interface CommandsOptions {
  store: Store;
  registry: CommandRegistry;
  queue: CommandQueue;
  log: Logger;
  /** Publishes a stored message (the bots' answers). */
  broadcast(message: Message): Promise<void>;
  maxMessageChars: number;
}

/**
 * Chat commands (`/stock=AAPL.US`): parsed here, queued as jobs for their bots, never stored; the bots' answers
 * come back through the queue and are stored as `bot` messages from the bot's user.
 */
export class Commands {
  readonly #options: CommandsOptions;
  /** Bot user ids by bot name, created on first answer. */
  readonly #botIds = new Map<string, Promise<string>>();

  constructor(options: CommandsOptions) {
    this.#options = options;
  }

  /** The command in `content`, or null for ordinary text; an unknown or malformed command is refused (400). */
  resolve(content: string): ResolvedCommand | null {
    try {
      return this.#options.registry.resolve(content);
    } catch (error) {
      if (error instanceof CommandError) throw new ChatError(error.code, error.message);
      throw error;
    }
  }

  /**
   * Queues the command's job for its bot. A retried command (same `client_id`) is the same job, so its answer
   * is stored once; a queue that cannot take the job is a retryable `commands_unavailable`.
   */
  async queue(
    actor: Identity,
    room: Room,
    command: ResolvedCommand,
    clientId?: string,
  ): Promise<QueuedCommand> {
    const job = {
      id: clientId === undefined ? newId() : await jobId(room.id, actor.userId, clientId),
      command: command.spec.name,
      arg: command.arg,
      room_id: room.id,
      user_id: actor.userId,
      username: actor.username,
      requested_at: new Date().toISOString(),
    };
    try {
      await this.#options.queue.publishJob(job);
    } catch (error) {
      this.#options.log.error("Cannot queue a command", { room_id: room.id, command: job.command, error });
      throw new ChatError("commands_unavailable");
    }
    return { kind: "command", command: job.command, job_id: job.id, room_id: room.id };
  }

  /**
   * A bot's answer: stored as a `bot` message from the bot's user (created on first use) and broadcast like any
   * other. Keyed by the job id, so an answer delivered twice is stored and broadcast once. An answer for a
   * room that no longer exists is dropped; a store failure throws, so the queue delivers the answer again.
   */
  async answer(answer: CommandAnswer): Promise<void> {
    const { store, log, broadcast, maxMessageChars } = this.#options;
    const room = isId(answer.room_id) ? await store.rooms.byId(answer.room_id) : null;
    if (room === null) {
      log.warn("Dropping a bot answer for a missing room", {
        room_id: answer.room_id,
        job_id: answer.job_id,
      });
      return;
    }
    const botId = await this.#botUser(answer.bot);
    const result = await store.messages.append({
      room_id: room.id,
      user_id: botId,
      username: answer.bot,
      content: answer.content.slice(0, maxMessageChars),
      type: "bot",
      client_id: `job-${answer.job_id}`,
    });
    if (result.created) await broadcast(result.message);
  }

  /** The user id of bot `name` (a user that cannot log in), created on first use; safe under races. */
  #botUser(name: string): Promise<string> {
    let id = this.#botIds.get(name);
    if (id === undefined) {
      id = this.#findOrCreateBot(name);
      this.#botIds.set(name, id);
      id.catch(() => this.#botIds.delete(name));
    }
    return id;
  }

  async #findOrCreateBot(name: string): Promise<string> {
    const { store } = this.#options;
    const email = `${name}@bots.invalid`;
    const existing = await store.users.byEmail(email);
    if (existing !== null) return existing.id;
    // "!" is no bcrypt hash: no password ever matches it. When a person already has the name, the bot's
    // account gets a suffix; its messages still show the bot's name, with type "bot".
    for (const username of [name, `${name}.${newId().slice(-6)}`]) {
      try {
        return (await store.users.create({ username, email, password_hash: "!" })).id;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        const user = await store.users.byEmail(email);
        if (user !== null) return user.id;
      }
    }
    throw new Error(`Cannot create the user of bot "${name}"`);
  }
}

/** A command's job id from its sender's `client_id`: a retried command is the same job (24 hex characters). */
async function jobId(roomId: string, userId: string, clientId: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${roomId}|${userId}|${clientId}`),
  );
  return [...new Uint8Array(digest).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

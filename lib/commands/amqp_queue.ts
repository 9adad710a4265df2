/**
 * The RabbitMQ command queue (`AMQP_URL`), on amqplib's promise API.
 *
 * Topology, declared idempotently by `start()` (and again after every reconnect), with `<prefix>` = `chat` by
 * default:
 *
 * | name                   | kind                                                                        |
 * | ---------------------- | --------------------------------------------------------------------------- |
 * | `<prefix>.commands`    | durable direct exchange; jobs are published to it with the command as key   |
 * | `<prefix>.jobs.<cmd>`  | durable queue per command, bound with key `<cmd>`, dead-lettering to…       |
 * | `<prefix>.dead`        | durable fanout exchange, bound to…                                          |
 * | `<prefix>.jobs.dead`   | durable queue of the jobs that failed `maxAttempts` times (`deadJobs()`)    |
 * | `<prefix>.answers`     | durable queue of answers, `x-single-active-consumer: true`                  |
 *
 * A job queue is declared before the first publish of its command (and by its consumer), so a job published
 * while no bot runs waits in it. Every message is persistent, published with `mandatory` on a confirm channel,
 * and `publishJob` resolves once RabbitMQ has confirmed it.
 *
 * Retries: a job whose handler throws is kept (unacked, its prefetch slot taken) for `retryDelayMs(attempt)`,
 * then a copy with header `x-attempts` = attempt + 1 is published to the back of its queue and confirmed, and
 * only then is the original acked; so a crash at any point loses nothing (at worst the job runs once more). The
 * delay holds up the consumer's later jobs (with the default prefetch 1), which is acceptable because a bot
 * throws only for bugs: it answers bad input and failing sources with a friendly answer. Chosen over a TTL
 * retry queue, which would need one queue per delay (RabbitMQ expires messages only at a queue's head) and
 * queue arguments that break when the delays change. After `maxAttempts` the job is nacked without requeue, so
 * RabbitMQ dead-letters it to `<prefix>.jobs.dead` (with its `x-death` history).
 *
 * Answers: consumed with prefetch 1 on the single-active-consumer queue, so across every chat instance one
 * consumer handles them, one at a time, in publish order; acked once the handler resolves, nacked with requeue
 * (back to the head of the queue) `ANSWER_RETRY_DELAY_MS` after it throws. Delivery is at least once: an answer
 * whose ack is lost with a connection comes again, and chat servers store answers idempotently by job id.
 *
 * Connection loss (RabbitMQ restarting, a network cut, a channel closed by an error): logged, then the whole
 * connection is rebuilt with exponential backoff (100 ms doubling up to 5 s, with jitter, for as long as it
 * takes), the topology declared again and every consumer resubscribed. Unacked deliveries return to their
 * queues with the old connection. Meanwhile `publishJob` and `deadJobs` throw `AmqpUnavailableError`.
 */
import { Buffer } from "node:buffer";
import {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  connect,
  type ConsumeMessage,
  type GetMessage,
  type Message,
} from "amqplib";
import type { Logger } from "../log.ts";
import {
  ANSWER_RETRY_DELAY_MS,
  checkCommand,
  CLOSE_GRACE_MS,
  Delays,
  jobFields,
  settleWithin,
} from "./queue_support.ts";
import type {
  AnswerHandler,
  CommandAnswer,
  CommandJob,
  CommandQueue,
  JobConsumerOptions,
  JobHandler,
} from "./queue.ts";

export interface AmqpQueueOptions {
  /** `amqp://user:password@host:5672/vhost`; a `heartbeat` query parameter is added when missing (15 s). */
  url: string;
  /** Prefix of every exchange and queue name. Default `chat`. */
  prefix?: string;
  log: Logger;
}

/** The exchange and queue names for `prefix` (see the module doc). */
export function amqpNames(prefix: string) {
  return {
    commandsExchange: `${prefix}.commands`,
    deadExchange: `${prefix}.dead`,
    deadQueue: `${prefix}.jobs.dead`,
    answersQueue: `${prefix}.answers`,
    jobQueue: (command: string) => `${prefix}.jobs.${command}`,
  };
}

/** `publishJob` or `deadJobs` while there is no connection to RabbitMQ (not started, reconnecting or closed). */
export class AmqpUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AmqpUnavailableError";
  }
}

const HEARTBEAT_SECONDS = 15;
const CONNECT_TIMEOUT_MS = 10_000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/** Delay before a job whose answer (or retry copy) could not be published is given back to its queue. */
const GIVE_BACK_DELAY_MS = 1_000;
/** Most jobs `deadJobs()` reads (the rest stay in the queue, unread). */
const DEAD_JOBS_LIMIT = 1_000;
const DEFAULT_PREFETCH = 1;
const DEFAULT_MAX_ATTEMPTS = 3;
const defaultRetryDelay = (attempt: number) => 1_000 * 2 ** (attempt - 1);

interface JobSubscription {
  kind: "jobs";
  command: string;
  handler: JobHandler;
  prefetch: number;
  maxAttempts: number;
  retryDelayMs: (attempt: number) => number;
}

interface AnswerSubscription {
  kind: "answers";
  handler: AnswerHandler;
}

type Subscription = JobSubscription | AnswerSubscription;

/** One connection and its channels; replaced whole on reconnect. */
class Session {
  publisher!: ConfirmChannel;
  /** Commands whose job queue is declared (or being declared) on this connection. */
  readonly declared = new Map<string, Promise<void>>();
  /** The consumers' channels. */
  readonly consumers: Channel[] = [];
  /** Message ids RabbitMQ returned as unroutable (a `return` arrives before its confirm). */
  readonly returned = new Set<string>();
  /** We are closing it: its close events are expected. */
  closing = false;
  /** It went away on its own (or one of its channels did). */
  lost = false;

  constructor(readonly connection: ChannelModel) {}
}

/**
 * The RabbitMQ `CommandQueue`. See the module doc for the topology, retries, ordering and reconnects.
 *
 * @example
 * const queue = new AmqpQueue({ url: "amqp://guest:guest@localhost:5672", log });
 * await queue.start();
 * await queue.consumeJobs("stock", (job) => stockAnswer(job, options));
 * // ...
 * await queue.close();
 */
export class AmqpQueue implements CommandQueue {
  readonly #url: string;
  readonly #prefix: string;
  readonly #names: ReturnType<typeof amqpNames>;
  readonly #log: Logger;
  readonly #connectionName: string;
  #state: "new" | "starting" | "open" | "closed" = "new";
  #session: Session | undefined;
  #reconnecting: Promise<void> | undefined;
  /** Every command published or consumed, so that its queue is declared again after a reconnect. */
  readonly #commands = new Set<string>();
  readonly #subscriptions: Subscription[] = [];
  readonly #tasks = new Set<Promise<void>>();
  readonly #delays = new Delays();

  constructor(options: AmqpQueueOptions) {
    this.#url = withHeartbeat(options.url);
    this.#prefix = options.prefix ?? "chat";
    this.#names = amqpNames(this.#prefix);
    this.#log = options.log;
    this.#connectionName = `${this.#prefix}.queue.${crypto.randomUUID().slice(0, 8)}`;
  }

  /** The name this queue's connection shows in RabbitMQ (`rabbitmqctl list_connections client_properties`). */
  get connectionName(): string {
    return this.#connectionName;
  }

  /** Whether a connection is up right now (false while reconnecting). */
  get connected(): boolean {
    return this.#state === "open" && this.#session !== undefined;
  }

  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error(`The command queue cannot start: it is ${this.#state}`);
    this.#state = "starting";
    let session: Session;
    try {
      session = await this.#open();
      if (session.lost) throw new Error("The connection closed while it was being set up");
    } catch (error) {
      this.#state = "new";
      throw new AmqpUnavailableError(`Cannot connect to RabbitMQ: ${errorMessage(error)}`, { cause: error });
    }
    if (this.#state !== "starting") {
      // close() was called meanwhile.
      await this.#closeSession(session);
      throw new AmqpUnavailableError("The command queue was closed while it started");
    }
    this.#session = session;
    this.#state = "open";
    this.#log.info("Connected to RabbitMQ", { prefix: this.#prefix, connection: this.#connectionName });
  }

  async publishJob(job: CommandJob): Promise<void> {
    checkCommand(job.command);
    const session = this.#connected();
    this.#commands.add(job.command);
    await this.#declareJobQueue(session, job.command);
    await this.#publish(session, this.#names.commandsExchange, job.command, job, job.id, 1);
  }

  async consumeJobs(command: string, handler: JobHandler, options: JobConsumerOptions = {}): Promise<void> {
    checkCommand(command);
    const session = this.#connected();
    const subscription: JobSubscription = {
      kind: "jobs",
      command,
      handler,
      prefetch: Math.max(1, options.prefetch ?? DEFAULT_PREFETCH),
      maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS),
      retryDelayMs: options.retryDelayMs ?? defaultRetryDelay,
    };
    this.#commands.add(command);
    await this.#subscribe(session, subscription);
    // Registered once it works: a reconnect from now on subscribes it again.
    this.#subscriptions.push(subscription);
  }

  async consumeAnswers(handler: AnswerHandler): Promise<void> {
    const session = this.#connected();
    const subscription: AnswerSubscription = { kind: "answers", handler };
    await this.#subscribe(session, subscription);
    this.#subscriptions.push(subscription);
  }

  /**
   * Reads up to 1,000 dead jobs without removing them: each is fetched unacked and given back (requeued to its
   * place) at the end. A consumer of `<prefix>.jobs.dead` running at the same time may see them delivered again.
   */
  async deadJobs(): Promise<CommandJob[]> {
    const session = this.#connected();
    const channel = await session.connection.createChannel();
    channel.on("error", (error) => this.#log.warn("RabbitMQ channel error (dead jobs)", { error }));
    const messages: GetMessage[] = [];
    try {
      while (messages.length < DEAD_JOBS_LIMIT) {
        const message = await channel.get(this.#names.deadQueue, { noAck: false });
        if (message === false) break;
        messages.push(message);
      }
    } finally {
      try {
        if (messages.length > 0) channel.nackAll(true);
        await channel.close();
      } catch (error) {
        // Closing the channel (or the connection going) gives the messages back all the same.
        this.#log.debug("Cannot close the dead-jobs channel", { error });
      }
    }
    const jobs: CommandJob[] = [];
    for (const message of messages) {
      try {
        jobs.push(parseJob(message.content));
      } catch (error) {
        this.#log.warn("Unreadable message in the dead-letter queue", { error });
      }
    }
    return jobs;
  }

  /**
   * Stops taking deliveries (one that arrives now stays unacked), ends the reconnect loop and retry delays,
   * waits up to `CLOSE_GRACE_MS` for handlers already running (their answers are published and acked), then
   * closes the connection: RabbitMQ gives every unacked delivery back to its queue, in place.
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#delays.cancelAll();
    await this.#reconnecting;
    await settleWithin([...this.#tasks], CLOSE_GRACE_MS);
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) await this.#closeSession(session);
    this.#log.info("Disconnected from RabbitMQ", { connection: this.#connectionName });
  }

  /** Connects, declares the topology and subscribes every registered consumer; on failure nothing stays open. */
  async #open(): Promise<Session> {
    const connection = await connect(this.#url, {
      timeout: CONNECT_TIMEOUT_MS,
      clientProperties: { connection_name: this.#connectionName },
    });
    const session = new Session(connection);
    connection.on("error", (error: Error) => this.#log.warn("RabbitMQ connection error", { error }));
    connection.on("close", (error?: Error) => this.#lost(session, "connection closed", error));
    connection.on(
      "blocked",
      (reason: string) => this.#log.warn("RabbitMQ blocked the connection", { reason }),
    );
    connection.on("unblocked", () => this.#log.info("RabbitMQ unblocked the connection"));
    try {
      const publisher = await connection.createConfirmChannel();
      session.publisher = publisher;
      this.#watch(session, publisher);
      publisher.on("return", (message: Message) => {
        const id = message.properties.messageId;
        if (typeof id === "string") session.returned.add(id);
      });
      const names = this.#names;
      await publisher.assertExchange(names.commandsExchange, "direct", { durable: true });
      await publisher.assertExchange(names.deadExchange, "fanout", { durable: true });
      await publisher.assertQueue(names.deadQueue, { durable: true });
      await publisher.bindQueue(names.deadQueue, names.deadExchange, "");
      await publisher.assertQueue(names.answersQueue, {
        durable: true,
        arguments: { "x-single-active-consumer": true },
      });
      for (const command of this.#commands) await this.#declareJobQueue(session, command);
      for (const subscription of this.#subscriptions) await this.#subscribe(session, subscription);
      return session;
    } catch (error) {
      await this.#closeSession(session);
      throw error;
    }
  }

  /** Declares the job queue of `command` on `session`, once per connection. */
  #declareJobQueue(session: Session, command: string): Promise<void> {
    let declared = session.declared.get(command);
    if (declared === undefined) {
      const queue = this.#names.jobQueue(command);
      declared = (async () => {
        await session.publisher.assertQueue(queue, {
          durable: true,
          arguments: { "x-dead-letter-exchange": this.#names.deadExchange },
        });
        await session.publisher.bindQueue(queue, this.#names.commandsExchange, command);
      })();
      session.declared.set(command, declared);
      declared.catch(() => session.declared.delete(command));
    }
    return declared;
  }

  /** Opens a channel for `subscription` on `session` and starts consuming. */
  async #subscribe(session: Session, subscription: Subscription): Promise<void> {
    const channel = await session.connection.createChannel();
    this.#watch(session, channel);
    session.consumers.push(channel);
    if (subscription.kind === "jobs") {
      await this.#declareJobQueue(session, subscription.command);
      await channel.prefetch(subscription.prefetch);
      await channel.consume(
        this.#names.jobQueue(subscription.command),
        (message) =>
          this.#deliver(session, message, () => this.#handleJob(session, channel, subscription, message!)),
        { noAck: false },
      );
    } else {
      await channel.prefetch(1);
      await channel.consume(
        this.#names.answersQueue,
        (message) =>
          this.#deliver(session, message, () => this.#handleAnswer(channel, subscription, message!)),
        { noAck: false },
      );
    }
  }

  #deliver(session: Session, message: ConsumeMessage | null, handle: () => Promise<void>): void {
    if (message === null) {
      // RabbitMQ cancelled the consumer (its queue was deleted): rebuild, which declares the queue again.
      this.#lost(session, "consumer cancelled by RabbitMQ");
      return;
    }
    // Closing: the delivery stays unacked, and closing the connection gives it back in place.
    if (this.#state !== "open") return;
    const task = handle();
    this.#tasks.add(task);
    task.catch((error) => this.#log.error("Command queue handling failed", { error }))
      .finally(() => this.#tasks.delete(task));
  }

  async #handleJob(
    session: Session,
    channel: Channel,
    subscription: JobSubscription,
    message: ConsumeMessage,
  ): Promise<void> {
    let job: CommandJob;
    try {
      job = parseJob(message.content);
    } catch (error) {
      this.#log.error("Unreadable command job; dead-lettered", { queue: message.fields.routingKey, error });
      this.#settle(channel, message, "nack");
      return;
    }
    const attempts = attemptsOf(message);
    let answer: CommandAnswer;
    try {
      answer = await subscription.handler(job);
    } catch (error) {
      if (attempts >= subscription.maxAttempts) {
        this.#log.error("Command job failed too often; dead-lettered", {
          ...jobFields(job),
          attempts,
          error,
        });
        this.#settle(channel, message, "nack");
        return;
      }
      const delayMs = subscription.retryDelayMs(attempts);
      this.#log.warn("Command job failed; retrying", {
        ...jobFields(job),
        attempts,
        delay_ms: delayMs,
        error,
      });
      // Closing during the delay leaves the job unacked: RabbitMQ gives it back as it was.
      if (!(await this.#delays.sleep(delayMs))) return;
      // With its connection gone the delivery is back in the queue already: a copy would run it twice.
      if (session.lost) return;
      try {
        await this.#publish(session, this.#names.commandsExchange, job.command, job, job.id, attempts + 1);
      } catch (error) {
        this.#log.warn("Cannot requeue a failed command job; giving it back", { ...jobFields(job), error });
        await this.#giveBack(channel, message);
        return;
      }
      this.#settle(channel, message, "ack");
      return;
    }
    if (session.lost) {
      this.#log.info("Connection lost while a job ran; it will run again", jobFields(job));
      return;
    }
    try {
      await this.#publish(session, "", this.#names.answersQueue, answer, job.id, 1);
    } catch (error) {
      this.#log.warn("Cannot publish a command answer; the job will run again", { ...jobFields(job), error });
      await this.#giveBack(channel, message);
      return;
    }
    this.#settle(channel, message, "ack");
  }

  async #handleAnswer(
    channel: Channel,
    subscription: AnswerSubscription,
    message: ConsumeMessage,
  ): Promise<void> {
    let answer: CommandAnswer;
    try {
      answer = parseAnswer(message.content);
    } catch (error) {
      this.#log.error("Unreadable command answer; dropped", { error });
      this.#settle(channel, message, "ack");
      return;
    }
    try {
      await subscription.handler(answer);
    } catch (error) {
      this.#log.warn("Command answer handler failed; handling it again", {
        job_id: answer.job_id,
        delay_ms: ANSWER_RETRY_DELAY_MS,
        error,
      });
      if (await this.#delays.sleep(ANSWER_RETRY_DELAY_MS)) this.#settle(channel, message, "requeue");
      return;
    }
    this.#settle(channel, message, "ack");
  }

  /** After a short delay, requeues `message` (nothing to do when its channel is gone: it is requeued already). */
  async #giveBack(channel: Channel, message: ConsumeMessage): Promise<void> {
    if (await this.#delays.sleep(GIVE_BACK_DELAY_MS)) this.#settle(channel, message, "requeue");
  }

  /** Acks, dead-letters (`nack`) or requeues `message`; a closed channel already gave it back, so that is fine. */
  #settle(channel: Channel, message: ConsumeMessage, how: "ack" | "nack" | "requeue"): void {
    try {
      if (how === "ack") channel.ack(message);
      else channel.nack(message, false, how === "requeue");
    } catch (error) {
      this.#log.debug("Cannot settle a delivery (its channel is closed); RabbitMQ delivers it again", {
        how,
        error,
      });
    }
  }

  /** Publishes `body` as persistent JSON and resolves once RabbitMQ confirms it (and routed it to a queue). */
  async #publish(
    session: Session,
    exchange: string,
    routingKey: string,
    body: CommandJob | CommandAnswer,
    jobId: string,
    attempts: number,
  ): Promise<void> {
    const messageId = crypto.randomUUID();
    try {
      await new Promise<void>((resolve, reject) => {
        try {
          session.publisher.publish(
            exchange,
            routingKey,
            Buffer.from(JSON.stringify(body)),
            {
              persistent: true,
              mandatory: true,
              contentType: "application/json",
              messageId,
              correlationId: jobId,
              headers: attempts > 1 ? { "x-attempts": attempts } : undefined,
            },
            (error: unknown) => error ? reject(error) : resolve(),
          );
        } catch (error) {
          reject(error);
        }
      });
    } catch (error) {
      throw new AmqpUnavailableError(`RabbitMQ did not take the message: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    if (session.returned.delete(messageId)) {
      throw new Error(`RabbitMQ has no queue for ${exchange || "(default)"} / ${routingKey}`);
    }
  }

  /** Logs channel errors and treats an unexpected close of `channel` as the loss of the connection. */
  #watch(session: Session, channel: Channel): void {
    channel.on("error", (error: Error) => this.#log.warn("RabbitMQ channel error", { error }));
    // A closing connection closes its channels first, then reports why: let the connection speak first.
    channel.on("close", () => queueMicrotask(() => this.#lost(session, "channel closed")));
  }

  /** `session` (or one of its channels) went away on its own: drop it and reconnect in the background. */
  #lost(session: Session, what: string, error?: Error): void {
    if (session.closing || session.lost) return;
    session.lost = true;
    // A lost channel leaves the connection up: close it so that every unacked delivery goes back.
    void this.#closeSession(session);
    if (session !== this.#session) return; // still being set up: #open() or its caller sees `lost`
    this.#session = undefined;
    if (this.#state !== "open") return;
    this.#log.warn("Lost the RabbitMQ connection; reconnecting", { what, error });
    this.#reconnecting = this.#reconnect().finally(() => this.#reconnecting = undefined);
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 1; this.#state === "open"; attempt++) {
      if (!(await this.#delays.sleep(backoff(attempt)))) return;
      let session: Session;
      try {
        session = await this.#open();
      } catch (error) {
        const fields = { attempt, error: errorMessage(error) };
        if (attempt === 1 || attempt % 10 === 0) this.#log.warn("Cannot reconnect to RabbitMQ yet", fields);
        else this.#log.debug("Cannot reconnect to RabbitMQ yet", fields);
        continue;
      }
      if (this.#state !== "open") {
        await this.#closeSession(session);
        return;
      }
      if (session.lost) continue;
      this.#session = session;
      this.#log.info("Reconnected to RabbitMQ", { attempts: attempt, connection: this.#connectionName });
      return;
    }
  }

  /**
   * Closes the consumers' channels, then the connection. Closing each channel first makes RabbitMQ process the
   * acks sent on it before it requeues what is left (a connection close may overtake them).
   */
  async #closeSession(session: Session): Promise<void> {
    session.closing = true;
    if (!session.lost) {
      for (const channel of session.consumers) {
        try {
          await channel.close();
        } catch {
          // Already closed.
        }
      }
    }
    try {
      await session.connection.close();
    } catch (error) {
      // Already closed (the usual case after a loss).
      this.#log.debug("Closing the RabbitMQ connection failed", { error: errorMessage(error) });
    }
  }

  /** The current session, or a clear error when there is none. */
  #connected(): Session {
    if (this.#state === "closed") throw new AmqpUnavailableError("The command queue is closed");
    if (this.#state !== "open") throw new AmqpUnavailableError("The command queue is not started");
    if (this.#session === undefined) {
      throw new AmqpUnavailableError(
        "The command queue is not connected to RabbitMQ (reconnecting); try again",
      );
    }
    return this.#session;
  }
}

/** 100 ms doubling to at most 5 s, each within ±20 %. */
function backoff(attempt: number): number {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

function attemptsOf(message: ConsumeMessage): number {
  const value = Number(message.properties.headers?.["x-attempts"] ?? 1);
  return Number.isInteger(value) && value >= 1 ? value : 1;
}

function withHeartbeat(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (parsed.searchParams.has("heartbeat")) return url;
  parsed.searchParams.set("heartbeat", String(HEARTBEAT_SECONDS));
  return parsed.href;
}

function parseJob(content: Buffer): CommandJob {
  const value = JSON.parse(content.toString("utf8"));
  const fields = ["id", "command", "arg", "room_id", "user_id", "username", "requested_at"] as const;
  if (typeof value !== "object" || value === null || fields.some((f) => typeof value[f] !== "string")) {
    throw new Error("Not a command job");
  }
  return value as CommandJob;
}

function parseAnswer(content: Buffer): CommandAnswer {
  const value = JSON.parse(content.toString("utf8"));
  const fields = ["job_id", "command", "room_id", "bot", "content"] as const;
  if (typeof value !== "object" || value === null || fields.some((f) => typeof value[f] !== "string")) {
    throw new Error("Not a command answer");
  }
  return value as CommandAnswer;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

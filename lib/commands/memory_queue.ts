/**
 * The in-process command queue, the default when no `AMQP_URL` is set. A `MemoryJobBroker` plays RabbitMQ's part
 * (queues, prefetch, acks, requeue, dead-lettering, a single active answer consumer) and `MemoryQueue` plays
 * the client's, with the same retry algorithm as `AmqpQueue`; several `MemoryQueue`s on one broker behave like
 * several processes on one RabbitMQ (the contract suite runs them so).
 *
 * Nothing outlives the process: the zero-setup default trades durability for needing no service.
 */
import { type Logger, nullLogger } from "../log.ts";
import type {
  AnswerHandler,
  CommandAnswer,
  CommandJob,
  CommandQueue,
  JobConsumerOptions,
  JobHandler,
} from "./queue.ts";
import {
  ANSWER_RETRY_DELAY_MS,
  checkCommand,
  CLOSE_GRACE_MS,
  Delays,
  jobFields,
  settleWithin,
} from "./queue_support.ts";

const DEFAULT_PREFETCH = 1;
const DEFAULT_MAX_ATTEMPTS = 3;
const defaultRetryDelay = (attempt: number) => 1_000 * 2 ** (attempt - 1);

/** A message in a broker queue: what RabbitMQ holds as the body and its `x-attempts` header. */
interface Message<T> {
  /** Publish order in the broker; a requeued message goes back to its place by it. */
  seq: number;
  body: T;
  attempts: number;
}

/** A consumer's hold on a queue, like an AMQP consumer on its own channel. */
export class BrokerConsumer<T> {
  readonly #queue: BrokerQueue<T>;
  readonly prefetch: number;
  readonly unacked = new Set<Message<T>>();
  /** No new deliveries (after `stop()` or `cancel()`). */
  stopped = false;
  #cancelled = false;
  readonly #onMessage: (message: Message<T>) => void;

  constructor(queue: BrokerQueue<T>, prefetch: number, onMessage: (message: Message<T>) => void) {
    this.#queue = queue;
    this.prefetch = prefetch;
    this.#onMessage = onMessage;
  }

  get hasRoom(): boolean {
    return !this.stopped && this.unacked.size < this.prefetch;
  }

  /** Called by the queue: hands `message` over a microtask later, as a network delivery would. */
  deliver(message: Message<T>): void {
    this.unacked.add(message);
    queueMicrotask(() => {
      if (this.unacked.has(message) && !this.#cancelled) this.#onMessage(message);
    });
  }

  /** Done with `message`: it leaves the queue. Does nothing after `cancel()` (the message was requeued). */
  ack(message: Message<T>): void {
    if (!this.unacked.delete(message)) return;
    this.#queue.dispatch();
  }

  /** Gives `message` back: to its place in the queue, or to the dead letters when `requeue` is false. */
  nack(message: Message<T>, requeue: boolean): void {
    if (!this.unacked.delete(message)) return;
    if (requeue) this.#queue.requeue([message]);
    else this.#queue.deadLetter(message);
    this.#queue.dispatch();
  }

  /** Stops new deliveries; messages already delivered stay with this consumer until acked or `cancel()`. */
  stop(): void {
    this.stopped = true;
  }

  /** Leaves the queue: what is still unacked goes back to its place (a closed channel, in AMQP terms). */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.stopped = true;
    const unacked = [...this.unacked];
    this.unacked.clear();
    this.#queue.remove(this);
    this.#queue.requeue(unacked);
    this.#queue.dispatch();
  }
}

/** One broker queue: FIFO by publish order, round-robin over consumers with room, or one active consumer. */
class BrokerQueue<T> {
  readonly #ready: Message<T>[] = [];
  readonly #consumers: BrokerConsumer<T>[] = [];
  readonly #singleActive: boolean;
  readonly #onDead: ((message: Message<T>) => void) | undefined;
  #next = 0;

  constructor(options: { singleActive?: boolean; onDead?: (message: Message<T>) => void } = {}) {
    this.#singleActive = options.singleActive ?? false;
    this.#onDead = options.onDead;
  }

  get ready(): readonly Message<T>[] {
    return this.#ready;
  }

  push(message: Message<T>): void {
    this.#ready.push(message);
    this.dispatch();
  }

  /** Puts messages back at their places by publish order (RabbitMQ requeues to the original position). */
  requeue(messages: Message<T>[]): void {
    for (const message of messages) {
      let at = this.#ready.findIndex((m) => m.seq > message.seq);
      if (at === -1) at = this.#ready.length;
      this.#ready.splice(at, 0, message);
    }
  }

  deadLetter(message: Message<T>): void {
    this.#onDead?.(message);
  }

  add(consumer: BrokerConsumer<T>): void {
    this.#consumers.push(consumer);
    this.dispatch();
  }

  remove(consumer: BrokerConsumer<T>): void {
    const at = this.#consumers.indexOf(consumer);
    if (at !== -1) this.#consumers.splice(at, 1);
  }

  /** Hands ready messages to consumers with room, in order. */
  dispatch(): void {
    while (this.#ready.length > 0) {
      const consumer = this.#pick();
      if (consumer === undefined) return;
      consumer.deliver(this.#ready.shift()!);
    }
  }

  #pick(): BrokerConsumer<T> | undefined {
    if (this.#singleActive) {
      // The oldest consumer is the active one until it is cancelled (a stopped one still finishing its answer
      // keeps the others waiting, so answers stay in order across a hand-over).
      const active = this.#consumers[0];
      return active?.hasRoom ? active : undefined;
    }
    for (let i = 0; i < this.#consumers.length; i++) {
      const consumer = this.#consumers[(this.#next + i) % this.#consumers.length];
      if (consumer.hasRoom) {
        this.#next = (this.#next + i + 1) % this.#consumers.length;
        return consumer;
      }
    }
    return undefined;
  }
}

/**
 * Connects `MemoryQueue` instances in one process, as a RabbitMQ server connects `AmqpQueue` instances: one
 * queue of jobs per command, one queue of answers (with a single active consumer) and the dead letters.
 */
export class MemoryJobBroker {
  readonly #jobs = new Map<string, BrokerQueue<CommandJob>>();
  readonly #answers = new BrokerQueue<CommandAnswer>({ singleActive: true });
  readonly #dead: CommandJob[] = [];
  #seq = 0;

  /** Queues a copy of `job` (jobs of a command nobody consumes yet wait for a consumer). */
  publishJob(job: CommandJob, attempts = 1): void {
    this.#jobQueue(job.command).push({ seq: ++this.#seq, body: structuredClone(job), attempts });
  }

  publishAnswer(answer: CommandAnswer): void {
    this.#answers.push({ seq: ++this.#seq, body: structuredClone(answer), attempts: 1 });
  }

  consumeJobs(
    command: string,
    prefetch: number,
    onMessage: (message: Message<CommandJob>) => void,
  ): BrokerConsumer<CommandJob> {
    const queue = this.#jobQueue(command);
    const consumer = new BrokerConsumer(queue, prefetch, onMessage);
    queue.add(consumer);
    return consumer;
  }

  consumeAnswers(onMessage: (message: Message<CommandAnswer>) => void): BrokerConsumer<CommandAnswer> {
    const consumer = new BrokerConsumer(this.#answers, 1, onMessage);
    this.#answers.add(consumer);
    return consumer;
  }

  /** Copies of the dead-lettered jobs, oldest first. */
  deadJobs(): CommandJob[] {
    return this.#dead.map((job) => structuredClone(job));
  }

  /** Jobs of `command` waiting for a consumer (not counting those handed out and not yet acked). */
  waitingJobs(command: string): number {
    return this.#jobs.get(command)?.ready.length ?? 0;
  }

  /** Answers waiting for a consumer (not counting one handed out and not yet acked). */
  get waitingAnswers(): number {
    return this.#answers.ready.length;
  }

  #jobQueue(command: string): BrokerQueue<CommandJob> {
    let queue = this.#jobs.get(command);
    if (queue === undefined) {
      queue = new BrokerQueue<CommandJob>({ onDead: (message) => this.#dead.push(message.body) });
      this.#jobs.set(command, queue);
    }
    return queue;
  }
}

/**
 * The in-process `CommandQueue`. Jobs of a command are handed out in FIFO order, at most `prefetch` at a time
 * per consumer; a job's answer is published, then the job is acked. A handler that throws gets the job again:
 * after `retryDelayMs(attempt)` a copy with one more attempt goes to the back of the queue and the failed one is
 * acked (the consumer's slot stays taken during the delay, as with `AmqpQueue`); after `maxAttempts` the job is
 * dead-lettered (see `deadJobs()`). Answers go to one consumer at a time (the first still subscribed on the
 * broker), one at a time in publish order; an answer whose handler throws is handed out again after
 * `ANSWER_RETRY_DELAY_MS`, before any later answer.
 *
 * @example
 * const broker = new MemoryJobBroker();
 * const chat = new MemoryQueue(broker);
 * const bot = new MemoryQueue(broker);
 * await chat.start();
 * await bot.start();
 * await bot.consumeJobs("stock", (job) => stockAnswer(job, options));
 * await chat.consumeAnswers((answer) => commands.answer(answer));
 * await chat.publishJob(job);
 */
export class MemoryQueue implements CommandQueue {
  readonly #broker: MemoryJobBroker;
  readonly #log: Logger;
  readonly #consumers = new Set<BrokerConsumer<CommandJob> | BrokerConsumer<CommandAnswer>>();
  /** Handlings in progress (handler, then publish and ack, or the retry delay). */
  readonly #tasks = new Set<Promise<void>>();
  readonly #delays = new Delays();
  #closed = false;

  constructor(broker: MemoryJobBroker = new MemoryJobBroker(), options: { log?: Logger } = {}) {
    this.#broker = broker;
    this.#log = options.log ?? nullLogger;
  }

  start(): Promise<void> {
    this.#assertOpen();
    return Promise.resolve();
  }

  publishJob(job: CommandJob): Promise<void> {
    try {
      this.#assertOpen();
      checkCommand(job.command);
      this.#broker.publishJob(job);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  consumeJobs(command: string, handler: JobHandler, options: JobConsumerOptions = {}): Promise<void> {
    try {
      this.#assertOpen();
      checkCommand(command);
    } catch (error) {
      return Promise.reject(error);
    }
    const prefetch = Math.max(1, options.prefetch ?? DEFAULT_PREFETCH);
    const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    const retryDelayMs = options.retryDelayMs ?? defaultRetryDelay;
    const consumer: BrokerConsumer<CommandJob> = this.#broker.consumeJobs(
      command,
      prefetch,
      (message) => this.#track(this.#handleJob(consumer, message, handler, { maxAttempts, retryDelayMs })),
    );
    this.#consumers.add(consumer);
    return Promise.resolve();
  }

  consumeAnswers(handler: AnswerHandler): Promise<void> {
    try {
      this.#assertOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    const consumer: BrokerConsumer<CommandAnswer> = this.#broker.consumeAnswers(
      (message) => this.#track(this.#handleAnswer(consumer, message, handler)),
    );
    this.#consumers.add(consumer);
    return Promise.resolve();
  }

  deadJobs(): Promise<CommandJob[]> {
    return Promise.resolve(this.#broker.deadJobs());
  }

  /**
   * Stops new deliveries, cuts retry delays short, waits up to `CLOSE_GRACE_MS` for handlers already running
   * (whose answers are then published and acked), then gives everything still unacked back to the broker.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const consumer of this.#consumers) consumer.stop();
    this.#delays.cancelAll();
    await settleWithin([...this.#tasks], CLOSE_GRACE_MS);
    for (const consumer of this.#consumers) consumer.cancel();
    this.#consumers.clear();
  }

  async #handleJob(
    consumer: BrokerConsumer<CommandJob>,
    message: Message<CommandJob>,
    handler: JobHandler,
    options: { maxAttempts: number; retryDelayMs: (attempt: number) => number },
  ): Promise<void> {
    const job = structuredClone(message.body);
    const { attempts } = message;
    let answer: CommandAnswer;
    try {
      answer = await handler(job);
    } catch (error) {
      if (attempts < options.maxAttempts) {
        const delayMs = options.retryDelayMs(attempts);
        this.#log.warn("Command job failed; retrying", {
          ...jobFields(job),
          attempts,
          delay_ms: delayMs,
          error,
        });
        // Closing during the delay leaves the job unacked: close() gives it back as it was.
        if (!(await this.#delays.sleep(delayMs))) return;
        this.#broker.publishJob(job, attempts + 1);
        consumer.ack(message);
        return;
      }
      this.#log.error("Command job failed too often; dead-lettered", { ...jobFields(job), attempts, error });
      consumer.nack(message, false);
      return;
    }
    if (!consumer.unacked.has(message)) return; // given back by close() after the grace period
    this.#broker.publishAnswer(answer);
    consumer.ack(message);
  }

  async #handleAnswer(
    consumer: BrokerConsumer<CommandAnswer>,
    message: Message<CommandAnswer>,
    handler: AnswerHandler,
  ): Promise<void> {
    try {
      await handler(structuredClone(message.body));
    } catch (error) {
      this.#log.warn("Command answer handler failed; handling it again", {
        job_id: message.body.job_id,
        delay_ms: ANSWER_RETRY_DELAY_MS,
        error,
      });
      if (await this.#delays.sleep(ANSWER_RETRY_DELAY_MS)) consumer.nack(message, true);
      return;
    }
    consumer.ack(message);
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.catch((error) => this.#log.error("Command queue handling failed", { error }))
      .finally(() => this.#tasks.delete(task));
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("The command queue is closed");
  }
}

/**
 * The message queue between chat servers and bots. A chat server turns `/stock=AAPL.US` into a `CommandJob`
 * and publishes it; a bot consumes the jobs of its command, does the slow work and publishes a
 * `CommandAnswer`; chat servers consume answers, store each as a `bot` message and broadcast it.
 *
 * Adapters: `MemoryQueue` (in-process, the zero-setup default) and `AmqpQueue` (RabbitMQ, `AMQP_URL`). Both
 * pass the contract suite in `queue_contract.ts`.
 */

/** A command a user typed, waiting for its bot. */
export interface CommandJob {
  /** Unique id (24 hex): also the idempotency key of the answer's stored message. */
  id: string;
  /** The command's name, e.g. `stock`. */
  command: string;
  /** What followed `=`, validated by the command's parser (e.g. `AAPL.US`). */
  arg: string;
  room_id: string;
  user_id: string;
  username: string;
  /** ISO 8601. */
  requested_at: string;
}

/** A bot's reply to a job, to be posted in the job's room. */
export interface CommandAnswer {
  job_id: string;
  command: string;
  room_id: string;
  /** The bot's display name (the stored message's `username`), e.g. `stockbot`. */
  bot: string;
  content: string;
}

export interface JobConsumerOptions {
  /** Jobs handed to this consumer before it acks one (RabbitMQ prefetch). Default 1: jobs are answered in order. */
  prefetch?: number;
  /** Attempts before a job that keeps failing goes to the dead-letter queue. Default 3. */
  maxAttempts?: number;
  /** Delay before a failed job is tried again, per attempt (ms). Default 1000, 2000, 4000... */
  retryDelayMs?: (attempt: number) => number;
}

/**
 * Handles one job and returns its answer; throwing means "failed, try again later" (the job is retried, then
 * dead-lettered). A bot answers bad input with a friendly answer instead of throwing.
 */
export type JobHandler = (job: CommandJob) => Promise<CommandAnswer>;

/** Handles one answer; throwing leaves it in the queue to be handled again. */
export type AnswerHandler = (answer: CommandAnswer) => Promise<void>;

export interface CommandQueue {
  /** Connects (and declares what it needs). Throws when the broker cannot be reached. */
  start(): Promise<void>;
  /** Publishes a job durably: resolves once the broker has taken responsibility for it. */
  publishJob(job: CommandJob): Promise<void>;
  /**
   * Bots: consumes the jobs of `command`. Each job's answer is published, then the job is acked; a handler
   * that throws gets the job again after a delay, up to `maxAttempts`, then the job is dead-lettered.
   */
  consumeJobs(command: string, handler: JobHandler, options?: JobConsumerOptions): Promise<void>;
  /**
   * Chat servers: consumes answers. With several chat instances each answer is handled by one of them, and
   * answers are handled one at a time in the order they were published; acked after `handler` resolves.
   */
  consumeAnswers(handler: AnswerHandler): Promise<void>;
  /** Jobs that failed `maxAttempts` times (for operators and tests). */
  deadJobs(): Promise<CommandJob[]>;
  /** Stops consuming and disconnects; unacked deliveries go back to the queue. */
  close(): Promise<void>;
  /** Whether the broker connection is up (metrics); absent in process. */
  readonly connected?: boolean;
}

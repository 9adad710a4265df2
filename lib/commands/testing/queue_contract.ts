/**
 * The contract every `CommandQueue` adapter must pass. It sees only the interface in `queue.ts`, so the same
 * suite runs against `MemoryQueue` and `AmqpQueue` (see `queue_test.ts`).
 *
 * Each case gets two queues on one broker, like two processes: usually `b` is the bot side (consumes jobs,
 * publishes answers) and `a` the chat side (publishes jobs, consumes answers). The queues are given started
 * and are closed by the case; `cleanup()` runs after every case, also a failed one, and must tolerate queues
 * that are closed already.
 *
 * No case sleeps to prove that something did not happen: "exactly once" is checked by publishing a later
 * sentinel job after the others and looking, once its answer is handled, at what came before it (answers are
 * handled in publish order).
 *
 * @example
 * // lib/commands/queue_test.ts
 * queueContract("MemoryQueue", () => {
 *   const broker = new MemoryJobBroker();
 *   const a = new MemoryQueue(broker);
 *   const b = new MemoryQueue(broker);
 *   return Promise.resolve({ a, b, cleanup: async () => { await a.close(); await b.close(); } });
 * });
 */

import assert from "node:assert/strict";
import type { CommandAnswer, CommandJob, CommandQueue, JobConsumerOptions } from "../queue.ts";

/** Two queues on the same broker, not yet started. */
export interface QueuePair {
  a: CommandQueue;
  b: CommandQueue;
  /** Closes both queues and removes what the case left on the broker (queues, exchanges). */
  cleanup(): Promise<void>;
}

/** The commands the cases use (an adapter's cleanup may delete their queues). */
export const CONTRACT_COMMANDS = ["echo", "flaky", "doomed"] as const;

/** How long a case waits for something before failing (generous: retries wait on purpose). */
const WAIT_MS = 10_000;
/** Quick retries, so that cases with failing handlers stay fast. */
const FAST_RETRIES: JobConsumerOptions = { maxAttempts: 3, retryDelayMs: () => 20 };

let counter = 0;

/** A job with a unique 24-hex id; `arg` tells the test handlers what to do. */
export function makeJob(command: string, arg: string): CommandJob {
  counter++;
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 16) + counter.toString(16).padStart(8, "0");
  return {
    id,
    command,
    arg,
    room_id: "room-1",
    user_id: "user-1",
    username: "alice",
    requested_at: new Date().toISOString(),
  };
}

/** The answer the test bots give. */
function answerTo(job: CommandJob): CommandAnswer {
  return {
    job_id: job.id,
    command: job.command,
    room_id: job.room_id,
    bot: `${job.command}bot`,
    content: `${job.command}:${job.arg}`,
  };
}

/** Resolves once `done()` holds (checked every 5 ms); fails with `what` after `WAIT_MS`. */
async function waitUntil(done: () => boolean | Promise<boolean>, what: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${WAIT_MS} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Records what answer handlers get, across every queue that consumes answers. */
class Answers {
  /** Every call, in the order the handlers were called (a repeated answer appears twice). */
  readonly calls: { by: string; answer: CommandAnswer }[] = [];
  /** Handler calls running right now, and the most ever at once. */
  active = 0;
  maxActive = 0;

  /** A handler for `by`; `behave` may throw (the call is recorded first) or take its time. */
  handler(
    by: string,
    behave: (answer: CommandAnswer, call: number) => Promise<void> = () => Promise.resolve(),
  ) {
    return async (answer: CommandAnswer): Promise<void> => {
      this.calls.push({ by, answer });
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      try {
        await behave(answer, this.calls.filter((c) => c.answer.job_id === answer.job_id).length);
      } finally {
        this.active--;
      }
    };
  }

  jobIds(): string[] {
    return this.calls.map((c) => c.answer.job_id);
  }

  count(jobId: string): number {
    return this.calls.filter((c) => c.answer.job_id === jobId).length;
  }

  waitFor(jobId: string, times = 1): Promise<void> {
    return waitUntil(
      () => this.count(jobId) >= times,
      () => `answer to ${jobId} handled ${times} time(s) (handled: ${JSON.stringify(this.jobIds())})`,
    );
  }
}

/** Registers the contract cases for the adapter `name`. */
export function queueContract(name: string, makeQueue: () => Promise<QueuePair>): void {
  /** Runs `body` with both queues started; always cleans up. */
  const withQueues = async (body: (a: CommandQueue, b: CommandQueue) => Promise<void>) => {
    const pair = await makeQueue();
    try {
      await pair.a.start();
      await pair.b.start();
      await body(pair.a, pair.b);
    } finally {
      await pair.cleanup();
    }
  };

  Deno.test(`${name}: a job is handled by the bot side and its answer by the chat side, once each`, () =>
    withQueues(async (a, b) => {
      const jobsSeen: CommandJob[] = [];
      await b.consumeJobs("echo", (job) => {
        jobsSeen.push(job);
        return Promise.resolve(answerTo(job));
      });
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a"));

      const job = makeJob("echo", "AAPL.US");
      await a.publishJob(job);
      await answers.waitFor(job.id);
      assert.deepEqual(answers.calls[0].answer, answerTo(job));
      assert.deepEqual(jobsSeen[0], job, "the bot gets the job as published");

      const sentinel = makeJob("echo", "sentinel");
      await a.publishJob(sentinel);
      await answers.waitFor(sentinel.id);
      assert.deepEqual(answers.jobIds(), [job.id, sentinel.id]);
      assert.deepEqual(jobsSeen.map((j) => j.id), [job.id, sentinel.id]);
      assert.deepEqual(await a.deadJobs(), []);
    }));

  Deno.test(`${name}: jobs published while no bot runs wait, then are all handled in order`, () =>
    withQueues(async (a, b) => {
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a"));
      const jobs = Array.from({ length: 5 }, (_, i) => makeJob("echo", `job-${i}`));
      for (const job of jobs) await a.publishJob(job);

      const handled: string[] = [];
      await b.consumeJobs("echo", (job) => {
        handled.push(job.id);
        return Promise.resolve(answerTo(job));
      }, { prefetch: 1 });
      await answers.waitFor(jobs[4].id);
      assert.deepEqual(handled, jobs.map((j) => j.id), "the bot handles them in publish order");
      assert.deepEqual(answers.jobIds(), jobs.map((j) => j.id), "the answers come in the same order");
      assert.deepEqual(
        answers.calls.map((c) => c.answer.content),
        jobs.map((j) => `echo:${j.arg}`),
      );
    }));

  Deno.test(`${name}: a restarted bot gets the jobs its predecessor left, in order`, () =>
    withQueues(async (a, b) => {
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a"));
      await b.consumeJobs("echo", (job) => Promise.resolve(answerTo(job)));
      const first = makeJob("echo", "first");
      await a.publishJob(first);
      await answers.waitFor(first.id);
      await b.close(); // the bot is killed

      const jobs = Array.from({ length: 5 }, (_, i) => makeJob("echo", `while-down-${i}`));
      for (const job of jobs) await a.publishJob(job);
      const handled: string[] = [];
      await a.consumeJobs("echo", (job) => {
        handled.push(job.id);
        return Promise.resolve(answerTo(job));
      });
      await answers.waitFor(jobs[4].id);
      assert.deepEqual(handled, jobs.map((j) => j.id));
      assert.deepEqual(answers.jobIds(), [first.id, ...jobs.map((j) => j.id)]);
    }));

  Deno.test(`${name}: a handler that throws twice, then succeeds, gets its job answered once`, () =>
    withQueues(async (a, b) => {
      const attempts = new Map<string, number>();
      await b.consumeJobs("flaky", (job) => {
        const attempt = (attempts.get(job.id) ?? 0) + 1;
        attempts.set(job.id, attempt);
        if (job.arg === "twice" && attempt <= 2) return Promise.reject(new Error(`failure ${attempt}`));
        return Promise.resolve(answerTo(job));
      }, FAST_RETRIES);
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a"));

      const job = makeJob("flaky", "twice");
      await a.publishJob(job);
      await answers.waitFor(job.id);
      assert.equal(attempts.get(job.id), 3, "two failures, then the answer");

      const sentinel = makeJob("flaky", "sentinel");
      await a.publishJob(sentinel);
      await answers.waitFor(sentinel.id);
      assert.equal(answers.count(job.id), 1, "answered once");
      assert.equal(attempts.get(job.id), 3, "not run again after its answer");
      assert.deepEqual(await b.deadJobs(), []);
    }));

  Deno.test(`${name}: a job whose handler always throws is dead-lettered after maxAttempts`, () =>
    withQueues(async (a, b) => {
      const attempts = new Map<string, number>();
      await b.consumeJobs("doomed", (job) => {
        attempts.set(job.id, (attempts.get(job.id) ?? 0) + 1);
        if (job.arg === "boom") return Promise.reject(new Error("always fails"));
        return Promise.resolve(answerTo(job));
      }, FAST_RETRIES);
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a"));

      const doomed = makeJob("doomed", "boom");
      const later = makeJob("doomed", "fine");
      await a.publishJob(doomed);
      await a.publishJob(later);
      await answers.waitFor(later.id);
      let dead: CommandJob[] = [];
      await waitUntil(async () => {
        dead = await a.deadJobs();
        return dead.length > 0;
      }, () => `${doomed.id} in deadJobs()`);
      assert.deepEqual(dead, [doomed]);
      assert.equal(attempts.get(doomed.id), 3, "tried maxAttempts times");
      assert.equal(answers.count(doomed.id), 0, "never answered");
      assert.deepEqual(await b.deadJobs(), [doomed], "deadJobs() leaves the dead jobs where they are");

      const after = makeJob("doomed", "after");
      await a.publishJob(after);
      await answers.waitFor(after.id);
      assert.deepEqual(answers.jobIds(), [later.id, after.id]);
      assert.equal(attempts.get(doomed.id), 3, "a dead job is not tried again");
    }));

  Deno.test(`${name}: two bots on one command share the jobs, each handled once`, () =>
    withQueues(async (a, b) => {
      const handledBy = new Map<string, string[]>();
      const bot = (by: string) => (job: CommandJob) => {
        handledBy.set(job.id, [...(handledBy.get(job.id) ?? []), by]);
        return Promise.resolve(answerTo(job));
      };
      await a.consumeJobs("echo", bot("a"));
      await b.consumeJobs("echo", bot("b"));
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a"));

      const jobs = Array.from({ length: 8 }, (_, i) => makeJob("echo", `shared-${i}`));
      for (const job of jobs) await a.publishJob(job);
      await waitUntil(
        () => jobs.every((j) => answers.count(j.id) > 0),
        () => `all 8 answers (handled: ${answers.calls.length})`,
      );
      for (const job of jobs) assert.equal(handledBy.get(job.id)?.length, 1, `${job.arg} handled once`);
      assert.deepEqual([...answers.jobIds()].sort(), jobs.map((j) => j.id).sort());
    }));

  Deno.test(`${name}: answers are handled one at a time, in order, once, with two chat consumers`, () =>
    withQueues(async (a, b) => {
      await b.consumeJobs("echo", (job) => Promise.resolve(answerTo(job)));
      const answers = new Answers();
      // Each handler takes a moment, so overlapping deliveries would show in `maxActive`.
      const slow = () => new Promise<void>((resolve) => setTimeout(resolve, 5));
      await a.consumeAnswers(answers.handler("a", slow));
      await b.consumeAnswers(answers.handler("b", slow));

      const jobs = Array.from({ length: 8 }, (_, i) => makeJob("echo", `ordered-${i}`));
      for (const job of jobs) await a.publishJob(job);
      await answers.waitFor(jobs[7].id);
      const sentinel = makeJob("echo", "sentinel");
      await a.publishJob(sentinel);
      await answers.waitFor(sentinel.id);

      assert.deepEqual(answers.jobIds(), [...jobs, sentinel].map((j) => j.id), "each once, in publish order");
      assert.equal(answers.maxActive, 1, "never two answers at once");
    }));

  Deno.test(`${name}: an answer whose handler throws is handled again, before later answers`, () =>
    withQueues(async (a, b) => {
      await b.consumeJobs("echo", (job) => Promise.resolve(answerTo(job)));
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a", (answer, call) => {
        if (answer.content === "echo:fails-once" && call === 1) {
          return Promise.reject(new Error("store unavailable"));
        }
        return Promise.resolve();
      }));

      const first = makeJob("echo", "fails-once");
      const second = makeJob("echo", "next");
      await a.publishJob(first);
      await a.publishJob(second);
      await answers.waitFor(second.id);
      assert.deepEqual(answers.jobIds(), [first.id, first.id, second.id]);
      assert.deepEqual(answers.calls[1].answer, answerTo(first));
    }));

  Deno.test(`${name}: after close() nothing is consumed and publishJob() fails`, () =>
    withQueues(async (a, b) => {
      const answers = new Answers();
      await a.consumeAnswers(answers.handler("a"));
      await b.consumeJobs("echo", (job) => Promise.resolve(answerTo(job)));
      await a.close();
      await a.close(); // idempotent
      await assert.rejects(a.publishJob(makeJob("echo", "late")), Error);

      // The answer waits in the queue for the next chat consumer.
      const job = makeJob("echo", "after-close");
      await b.publishJob(job);
      const next = new Answers();
      await b.consumeAnswers(next.handler("b"));
      await next.waitFor(job.id);
      assert.equal(answers.calls.length, 0);
    }));
}

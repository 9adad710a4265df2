/** What both command queue adapters (in-process and RabbitMQ) share: limits, checks, log fields and delays. */
import type { CommandJob } from "./queue.ts";

/** Delay before an answer whose handler threw is handed out again (ms). */
export const ANSWER_RETRY_DELAY_MS = 250;
/** How long `close()` waits for handlers already running to finish (their results are then published and acked). */
export const CLOSE_GRACE_MS = 5_000;

/**
 * Throws for a command name that cannot name a queue: letters, digits, `_` and `-`, at most 64, and not `dead`
 * (RabbitMQ's `<prefix>.jobs.dead` holds the dead letters).
 */
export function checkCommand(command: string): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(command) || command === "dead") {
    throw new Error(`Invalid command name for the queue: ${JSON.stringify(command)}`);
  }
}

/** The fields a log line about `job` carries (never the user's text beyond the command's argument). */
export function jobFields(job: CommandJob): Record<string, unknown> {
  return { job_id: job.id, command: job.command, room_id: job.room_id };
}

/** Waits until every task has settled or `ms` has passed, leaving no timer behind. */
export async function settleWithin(tasks: Promise<unknown>[], ms: number): Promise<void> {
  if (tasks.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  try {
    await Promise.race([Promise.allSettled(tasks), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Delays that `cancelAll()` ends at once, so that a closing queue cuts its retry and backoff waits short and
 * leaves no timer behind. `sleep()` resolves true when the time passed, false when cancelled (also when
 * called after `cancelAll()`).
 */
export class Delays {
  readonly #pending = new Set<
    { timer: ReturnType<typeof setTimeout>; resolve: (elapsed: boolean) => void }
  >();
  #cancelled = false;

  sleep(ms: number): Promise<boolean> {
    if (this.#cancelled) return Promise.resolve(false);
    return new Promise((resolve) => {
      const delay = {
        timer: setTimeout(() => {
          this.#pending.delete(delay);
          resolve(true);
        }, Math.max(0, ms)),
        resolve,
      };
      this.#pending.add(delay);
    });
  }

  cancelAll(): void {
    this.#cancelled = true;
    for (const delay of this.#pending) {
      clearTimeout(delay.timer);
      delay.resolve(false);
    }
    this.#pending.clear();
  }
}

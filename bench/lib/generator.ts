/**
 * The load generator seen from the orchestrator: several Node worker processes (bench/generator/worker.mjs),
 * pinned to the generator's core, each holding a share of the connections. Commands go to every worker at once
 * and their answers are merged.
 */
import { fileURLToPath } from "node:url";
import * as hdr from "hdr-histogram-js";
import { newHistogram } from "../generator/histogram.mjs";
import { cpuOf } from "./procs.ts";

const WORKER = fileURLToPath(
  new URL("../generator/worker.mjs", import.meta.url),
);
/** Most connections one worker holds (each process may hold at most 20,000 open files here). */
export const PER_WORKER = 9_600;

export type Protocol = "ours" | "plain" | "socketio";

export interface ConnSpec {
  url: string;
  rooms?: string[];
}

export interface Stats {
  conns: number;
  ready: number;
  received: number;
  gaps: number;
  dups: number;
  sent: number;
  unexpectedCloses: number;
  closeCodes: Record<string, number>;
  /** Error frames by code. */
  errors: Record<string, number>;
  histogram: hdr.Histogram;
  /** Per message: recipients reached and the slowest delivery (ms), when tracking. */
  perMessage: Map<string, [number, number]> | null;
}

interface Answer {
  id: number;
  ok: boolean;
  error?: string;
  [key: string]: unknown;
}

class Worker {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<number, (answer: Answer) => void>();
  #nextId = 1;

  constructor(readonly index: number, cpus: string | undefined) {
    const argv = ["node", "--max-old-space-size=4096", WORKER];
    const cmd = cpus === undefined ? argv : ["taskset", "-c", cpus, ...argv];
    this.#child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      // Source addresses 127.0.0.2, .3, ...: each one needs fewer ports than the ~28k ephemeral ones.
      env: { WORKER_ID: String(index), LOCAL_ADDRESS: `127.0.0.${2 + index}` },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#read();
  }

  get pid(): number {
    return this.#child.pid;
  }

  async #read(): Promise<void> {
    let rest = "";
    for await (
      const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        const answer = JSON.parse(line) as Answer;
        this.#waiting.get(answer.id)?.(answer);
        this.#waiting.delete(answer.id);
      }
    }
  }

  async call(cmd: string, args: Record<string, unknown> = {}): Promise<Answer> {
    const id = this.#nextId++;
    const answer = new Promise<Answer>((resolve) => this.#waiting.set(id, resolve));
    await this.#writer.write(
      new TextEncoder().encode(JSON.stringify({ id, cmd, ...args }) + "\n"),
    );
    const result = await answer;
    if (!result.ok) {
      throw new Error(`generator worker ${this.index}: ${result.error}`);
    }
    return result;
  }

  async exit(): Promise<void> {
    try {
      await this.call("exit");
    } catch { /* already gone */ }
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}

export class Generator {
  readonly #workers: Worker[];

  /** `workers` processes, pinned to `cpus` (e.g. "1"). */
  constructor(workers: number, readonly cpus: string | undefined) {
    this.#workers = Array.from(
      { length: workers },
      (_, i) => new Worker(i, cpus),
    );
  }

  get size(): number {
    return this.#workers.length;
  }

  get pids(): number[] {
    return this.#workers.map((w) => w.pid);
  }

  /** CPU seconds the generator's processes have used so far. */
  cpu(): number {
    return cpuOf(this.pids);
  }

  /**
   * Opens `specs`, spread over the workers (spec i goes to worker i % size); answers the count opened, the
   * refusals by reason, and the wall time.
   */
  async connect(
    protocol: Protocol,
    specs: ConnSpec[],
    concurrency = 100,
  ): Promise<
    {
      opened: number;
      failed: number;
      errors: Record<string, number>;
      ms: number;
    }
  > {
    const start = performance.now();
    const shares = this.#workers.map((_, w) => specs.filter((_, i) => i % this.size === w));
    const answers = await Promise.all(
      this.#workers.map((w, i) => w.call("connect", { protocol, specs: shares[i], concurrency })),
    );
    const errors: Record<string, number> = {};
    for (const a of answers) {
      for (const [k, v] of Object.entries(a.errors as Record<string, number>)) {
        errors[k] = (errors[k] ?? 0) + v;
      }
    }
    return {
      opened: answers.reduce((n, a) => n + (a.opened as number), 0),
      failed: answers.reduce((n, a) => n + (a.failed as number), 0),
      errors,
      ms: performance.now() - start,
    };
  }

  /** Publishes `rate` messages/s in all for `seconds`, split evenly over the workers. */
  async publish(
    rate: number,
    seconds: number,
    senders?: (worker: number) => number[] | undefined,
  ) {
    const answers = await Promise.all(
      this.#workers.map((w, i) =>
        w.call("publish", {
          rate: rate / this.size,
          seconds,
          senders: senders?.(i),
        })
      ),
    );
    return {
      sent: answers.reduce((n, a) => n + (a.sent as number), 0),
      skipped: answers.reduce((n, a) => n + (a.skipped as number), 0),
    };
  }

  /** Only worker `index` publishes (e.g. one sender in a big room). */
  async publishFrom(
    index: number,
    rate: number,
    seconds: number,
    senders?: number[],
  ) {
    const a = await this.#workers[index].call("publish", {
      rate,
      seconds,
      senders,
    });
    return { sent: a.sent as number, skipped: a.skipped as number };
  }

  /** Merged counters and histogram; options as the worker's `stats` command. */
  async stats(
    options: { reset?: boolean; track?: boolean; recording?: boolean } = {},
  ): Promise<Stats> {
    const answers = await Promise.all(
      this.#workers.map((w) => w.call("stats", options)),
    );
    const histogram = newHistogram();
    let perMessage: Map<string, [number, number]> | null = null;
    const total: Stats = {
      conns: 0,
      ready: 0,
      received: 0,
      gaps: 0,
      dups: 0,
      sent: 0,
      unexpectedCloses: 0,
      closeCodes: {},
      errors: {},
      histogram,
      perMessage: null,
    };
    for (const a of answers) {
      for (
        const key of [
          "conns",
          "ready",
          "received",
          "gaps",
          "dups",
          "sent",
          "unexpectedCloses",
        ] as const
      ) {
        total[key] += a[key] as number;
      }
      for (
        const [k, v] of Object.entries(a.closeCodes as Record<string, number>)
      ) {
        total.closeCodes[k] = (total.closeCodes[k] ?? 0) + v;
      }
      for (const [k, v] of Object.entries(a.errors as Record<string, number>)) {
        total.errors[k] = (total.errors[k] ?? 0) + v;
      }
      histogram.add(hdr.decodeFromCompressedBase64(a.histogram as string));
      if (a.perMessage !== null) {
        perMessage ??= new Map();
        for (
          const [key, [count, ms]] of a.perMessage as [
            string,
            [number, number],
          ][]
        ) {
          const entry = perMessage.get(key);
          if (entry === undefined) perMessage.set(key, [count, ms]);
          else perMessage.set(key, [entry[0] + count, Math.max(entry[1], ms)]);
        }
      }
    }
    total.perMessage = perMessage;
    return total;
  }

  /** Drops every connection and reconnects with up to `jitterMs` of delay each (resuming); the slowest time. */
  async storm(jitterMs: number): Promise<{ ms: number; failures: number }> {
    const answers = await Promise.all(
      this.#workers.map((w) => w.call("storm", { jitterMs })),
    );
    return {
      ms: Math.max(...answers.map((a) => a.ms as number)),
      failures: answers.reduce((n, a) => n + (a.failures as number), 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.call("close")));
  }

  async exit(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.exit()));
  }
}

/** Latency percentiles in ms from a histogram of microseconds. */
export function percentiles(
  h: hdr.Histogram,
): { p50: number; p99: number; p999: number; max: number } {
  const ms = (us: number) => us / 1000;
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

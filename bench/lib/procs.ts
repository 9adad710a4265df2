/**
 * Processes under measurement: start one pinned to a CPU core with `taskset`, wait until it answers, read its
 * CPU time and RSS from /proc, stop it.
 */

/** Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`, 100 on Linux). */
const CLK_TCK = 100;

export interface Proc {
  name: string;
  pid: number;
  child: Deno.ChildProcess;
  /** Output lines kept for the error report when the process fails. */
  tail: string[];
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  cmd: string[];
  env?: Record<string, string>;
  /** CPU list for `taskset -c` (e.g. "0"); undefined runs unpinned. */
  cpus?: string;
  cwd?: string;
  /** URL that answers 200 once the process is ready. */
  readyUrl?: string;
  /** Or a stdout line that says it is ready. */
  readyLine?: RegExp;
  /** Or a TCP port on loopback that accepts connections. */
  readyPort?: number;
  timeoutMs?: number;
}

/** Starts `cmd` (pinned when `cpus` is set) and resolves once it is ready. */
export async function startProc(options: StartOptions): Promise<Proc> {
  const argv = options.cpus === undefined ? options.cmd : ["taskset", "-c", options.cpus, ...options.cmd];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const tail: string[] = [];
  let sawLine = false;
  const keep = async (stream: ReadableStream<Uint8Array<ArrayBuffer>>) => {
    for await (
      const line of stream.pipeThrough(new TextDecoderStream()).pipeThrough(
        lines(),
      )
    ) {
      if (options.readyLine?.test(line)) sawLine = true;
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  keep(child.stdout).catch(() => {});
  keep(child.stderr).catch(() => {});
  let exited = false;
  child.status.then(() => exited = true);
  const proc: Proc = {
    name: options.name,
    pid: child.pid,
    child,
    tail,
    async stop() {
      if (exited) return;
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5_000);
      await child.status;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (exited) {
      throw new Error(
        `${options.name} exited while starting:\n${tail.join("\n")}`,
      );
    }
    if (options.readyLine !== undefined && sawLine) return proc;
    if (options.readyPort !== undefined) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: options.readyPort }))
          .close();
        return proc;
      } catch { /* not yet */ }
    }
    if (options.readyUrl !== undefined) {
      try {
        const res = await fetch(options.readyUrl);
        await res.body?.cancel();
        if (res.ok) return proc;
      } catch { /* not yet */ }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await proc.stop();
  throw new Error(`${options.name} was not ready in time:\n${tail.join("\n")}`);
}

/** Splits a text stream into lines. */
function lines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (rest !== "") controller.enqueue(rest);
    },
  });
}

/** User + system CPU seconds a process has used so far (all its threads). */
export function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size in KiB. */
export function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** CPU seconds of several processes, summed. */
export const cpuOf = (pids: number[]): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

/** A free TCP port on loopback. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** What a command prints, trimmed; "" when it fails. */
export async function output(cmd: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    return new TextDecoder().decode(out.stdout).trim() ||
      new TextDecoder().decode(out.stderr).trim();
  } catch {
    return "";
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

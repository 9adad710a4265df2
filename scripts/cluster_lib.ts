/**
 * A real local cluster on loopback: Redis, N chat instances sharing one SQLite file, and nginx in front
 * (round-robin, WebSocket upgrades). Used by `deno task cluster` and by the cluster tests; the same topology
 * as `docker-compose.yml`.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface ClusterOptions {
  /** Folder for the database, nginx files and logs (created). */
  dir: string;
  instances?: number;
  /** nginx listens here (0: a free port). */
  port?: number;
  /** Extra environment for every instance. */
  env?: Record<string, string>;
  /** Show the instances' log lines (default: only their errors). */
  inheritOutput?: boolean;
}

export interface ProcessHandle {
  readonly port: number;
  readonly name: string;
  /** Sends SIGTERM (or `signal`) and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Starts again on the same port; resolves when it is ready. */
  start(): Promise<void>;
  readonly running: boolean;
}

export interface Cluster {
  /** nginx: the one address clients use. */
  url: string;
  wsUrl: string;
  redisUrl: string;
  redis: ProcessHandle;
  instances: ProcessHandle[];
  nginx: ProcessHandle;
  /** Stops everything: nginx, the instances, Redis. */
  stop(): Promise<void>;
}

/** A free TCP port on loopback. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

async function tcpOpen(port: number): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.close();
  return true;
}

async function healthy(url: string): Promise<boolean> {
  const res = await fetch(url + "/api/health");
  await res.body?.cancel();
  return res.status === 200;
}

/** A child process that can be stopped and started again with the same command. */
function managed(
  name: string,
  port: number,
  command: () => Deno.Command,
  ready: () => Promise<boolean>,
): ProcessHandle {
  let child: Deno.ChildProcess | undefined;
  return {
    name,
    port,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child) throw new Error(`${name} is already running`);
      child = command().spawn();
      const exited = child.status.then((s) => {
        throw new Error(`${name} exited with ${s.code} before it was ready`);
      });
      await Promise.race([waitFor(ready, name), exited]);
      exited.catch(() => {});
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      const running = child;
      if (!running) throw new Error(`${name} is not running`);
      child = undefined;
      try {
        running.kill(signal);
      } catch {
        // Already gone.
      }
      return await running.status;
    },
  };
}

function nginxConfig(dir: string, port: number, upstreams: number[]): string {
  return `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  fastcgi_temp_path ${dir}/nginx-fastcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi;
  scgi_temp_path ${dir}/nginx-scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream chat {
${upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join("\n")}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 1m;
    location / {
      proxy_pass http://chat;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
      proxy_next_upstream error timeout http_502 http_503;
    }
  }
}
`;
}

/** Starts Redis, the instances and nginx; resolves when all answer. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = options.dir;
  await Deno.mkdir(dir, { recursive: true });
  const count = options.instances ?? 3;
  const redisPort = freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;

  const redis = managed("redis", redisPort, () =>
    new Deno.Command("redis-server", {
      args: ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      stdout: "null",
      stderr: "inherit",
    }), () => tcpOpen(redisPort));

  const secret = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  const instances = Array.from({ length: count }, (_, i) => {
    const port = freePort();
    const name = `app-${i + 1}`;
    return managed(name, port, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--unstable-bundle", join(ROOT, "main.ts")],
        cwd: ROOT,
        env: {
          APP_ENV: "production",
          HOST: "127.0.0.1",
          PORT: String(port),
          INSTANCE_ID: name,
          DATABASE_URL: `sqlite:${join(dir, "chat.db")}`,
          REDIS_URL: redisUrl,
          JWT_SECRET: secret,
          TRUST_PROXY: "true",
          LOG_LEVEL: "warn",
          ...options.env,
        },
        stdout: options.inheritOutput ? "inherit" : "null",
        stderr: "inherit",
      }), () => healthy(`http://127.0.0.1:${port}`));
  });

  const port = options.port || freePort();
  const nginxConf = join(dir, "nginx.conf");
  await Deno.writeTextFile(nginxConf, nginxConfig(dir, port, instances.map((i) => i.port)));
  const nginx = managed("nginx", port, () =>
    new Deno.Command("nginx", {
      args: ["-c", nginxConf, "-p", dir, "-e", join(dir, "nginx-error.log")],
      stdout: "null",
      stderr: "inherit",
    }), () => healthy(`http://127.0.0.1:${port}`));

  const started: ProcessHandle[] = [];
  try {
    await redis.start();
    started.push(redis);
    // One at a time: the first creates the SQLite schema, the others find it.
    for (const instance of instances) {
      await instance.start();
      started.push(instance);
    }
    await nginx.start();
    started.push(nginx);
  } catch (error) {
    for (const handle of started.reverse()) await handle.stop().catch(() => {});
    throw error;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    redisUrl,
    redis,
    instances,
    nginx,
    async stop() {
      for (const handle of [nginx, ...instances, redis]) {
        if (handle.running) await handle.stop().catch(() => {});
      }
    },
  };
}

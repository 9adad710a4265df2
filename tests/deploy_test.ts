/**
 * The deployment files against the code they deploy: docker-compose.yml, .env.example, the Dockerfile,
 * .dockerignore, deploy/nginx.conf and the `compile` task. There is no Docker engine here, so what Docker would
 * run is checked piece by piece with the real tools: the configuration code validates the compose environment,
 * nginx runs deploy/nginx.conf in front of real instances (Docker's DNS played by a tiny DNS server), and
 * `deno task compile` packages the Docker build context (with `deno` standing in for its `denort` runtime,
 * which cannot be downloaded here, so the binary is checked for what it embeds, not run).
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadBotConfig } from "../bot.ts";
import { CONFIG_VARIABLES, loadConfig } from "../lib/config.ts";
import { healthcheck } from "../main.ts";
import { freePort } from "../scripts/cluster_lib.ts";
import { spawnServer } from "./helpers/process.ts";
import { api, createRoom, newUser } from "./helpers/server.ts";
import { TestSocket } from "./helpers/socket.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const read = (path: string) => Deno.readTextFileSync(join(ROOT, path));

// ---------------------------------------------------------------------------------------------------------
// What the code reads

/** The names `load` reads from its environment: it gets an object that records every lookup. */
function namesRead(load: (env: Record<string, string | undefined>) => unknown): Set<string> {
  const seen = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get(_, name) {
      if (typeof name === "string") seen.add(name);
      return undefined;
    },
  });
  try {
    load(env);
  } catch {
    // The bot refuses a missing AMQP_URL, after reading everything.
  }
  return seen;
}

const SERVER_VARIABLES = namesRead((env) => loadConfig(env, { openFileLimit: () => 1_000 }));
const BOT_VARIABLES = namesRead(loadBotConfig);
const CODE_VARIABLES = new Set([...SERVER_VARIABLES, ...BOT_VARIABLES]);

Deno.test("CONFIG_VARIABLES lists exactly the variables loadConfig reads", () => {
  assert.deepEqual([...CONFIG_VARIABLES].sort(), [...SERVER_VARIABLES].sort());
  // The bot reads a subset of the server's names (with the same meaning).
  assert.deepEqual([...BOT_VARIABLES].filter((name) => !SERVER_VARIABLES.has(name)), []);
  // And the README documents each one in its configuration table.
  const readme = read("README.md");
  for (const name of CODE_VARIABLES) assert.match(readme, new RegExp("\\| `" + name + "`"), name);
});

// ---------------------------------------------------------------------------------------------------------
// docker-compose.yml

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  container_name?: string;
  ports?: (string | { published?: string | number; target?: number })[];
  environment?: Record<string, string | number | boolean | null> | string[];
  env_file?: unknown;
  volumes?: string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parseYaml(read("docker-compose.yml")) as Compose;

/** A service's `environment` as a map (both compose forms), values as written (still with `${…}`). */
function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((line) => {
      const i = line.indexOf("=");
      return i < 0 ? [line, ""] : [line.slice(0, i), line.slice(i + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

/** Compose's interpolation: `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `$$`. */
function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (all, name, op, arg) => {
    if (all === "$$") return "$";
    const v = vars[name];
    const unsetOrEmpty = v === undefined || v === "";
    if (op === ":-") return unsetOrEmpty ? arg : v;
    if (op === "-") return v === undefined ? arg : v;
    if (op === ":?" || op === "?") {
      if (op === ":?" ? unsetOrEmpty : v === undefined) throw new Error(`${name}: ${arg}`);
      return v!;
    }
    return v ?? "";
  });
}

const interpolatedNames = (text: string) =>
  new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((match) => match[1]));

Deno.test("compose: the cluster's services, app scalable behind nginx on 8080", () => {
  const services = compose.services;
  for (const name of ["app", "nginx", "redis", "mongo", "rabbitmq", "bot"]) {
    assert.ok(services[name], `service ${name}`);
  }
  const app = services.app;
  assert.equal(app.container_name, undefined, "a container_name would stop --scale app=N");
  assert.equal(app.ports, undefined, "a host port on app would stop --scale app=N (nginx is the way in)");
  assert.ok(app.build, "app is built from the Dockerfile");
  // The bot runs the same image in its bot mode.
  assert.equal(services.bot.image, app.image);
  assert.deepEqual(services.bot.command, ["bot"]);

  const published = (services.nginx.ports ?? []).map((p) =>
    typeof p === "string" ? p : `${p.published}:${p.target}`
  );
  assert.ok(published.some((p) => /^(\d+\.\d+\.\d+\.\d+:)?8080:8080$/.test(p)), JSON.stringify(published));
  const onlyNginxPublishes = Object.entries(services).filter(([, s]) => s.ports !== undefined).map(([n]) =>
    n
  );
  assert.deepEqual(onlyNginxPublishes, ["nginx"]);
  assert.ok(
    (services.nginx.volumes ?? []).some((v) => v.startsWith("./deploy/nginx.conf:/etc/nginx/nginx.conf")),
  );

  assert.match(services.mongo.image ?? "", /^mongo:7/);
  assert.match(services.rabbitmq.image ?? "", /^rabbitmq:3/);
  const mongoVolume = (services.mongo.volumes ?? []).find((v) => v.endsWith(":/data/db"));
  assert.ok(mongoVolume, "MongoDB keeps /data/db in a volume");
  assert.ok(compose.volumes && mongoVolume.split(":")[0] in compose.volumes, "a named volume");
});

Deno.test("compose: every service has a health check and waits for healthy dependencies", () => {
  for (const [name, service] of Object.entries(compose.services)) {
    const test = service.healthcheck?.test;
    assert.ok(Array.isArray(test) && test.length > 1 && test[0] !== "NONE", `${name} has a health check`);
    assert.notEqual(service.healthcheck?.disable, true, name);
    assert.ok(!Array.isArray(service.depends_on), `${name}: depends_on needs conditions`);
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      assert.equal(condition, "service_healthy", `${name} -> ${dependency}`);
      assert.ok(compose.services[dependency], `${name} depends on a service that exists: ${dependency}`);
    }
  }
  const dependsOn = (name: string) => Object.keys(compose.services[name].depends_on ?? {}).sort();
  assert.deepEqual(dependsOn("app"), ["mongo", "rabbitmq", "redis"]);
  assert.deepEqual(dependsOn("nginx"), ["app"]);
  assert.deepEqual(dependsOn("bot"), ["rabbitmq"]);
  // The app's check is the binary's own health check mode (the image has no curl).
  assert.deepEqual(compose.services.app.healthcheck?.test, ["CMD", "/app/chat", "healthcheck"]);
  assert.deepEqual(compose.services.bot.healthcheck?.test, ["CMD", "/app/chat", "healthcheck", "--amqp"]);
});

Deno.test("compose: app and bot get only variables the code reads, and the code accepts them", () => {
  const app = environmentOf(compose.services.app);
  const bot = environmentOf(compose.services.bot);
  for (const [service, env] of [["app", app], ["bot", bot]] as const) {
    for (const name of Object.keys(env)) assert.ok(CODE_VARIABLES.has(name), `${service}: ${name} is read`);
  }
  // The same topology as `deno task cluster`, with containers' names for addresses.
  assert.equal(app.APP_ENV, "production");
  assert.equal(app.DATABASE_URL, "mongodb://mongo:27017/chat");
  assert.equal(app.REDIS_URL, "redis://redis:6379");
  assert.match(app.AMQP_URL, /^amqp:\/\/[^@\s]+@rabbitmq:5672$/);
  assert.equal(app.AMQP_URL, bot.AMQP_URL);
  assert.equal(app.TRUST_PROXY, "true");
  assert.equal(app.PORT, "8080");
  assert.match(app.JWT_SECRET, /^\$\{JWT_SECRET:\?/, "JWT_SECRET comes from .env and is required");

  // What the containers would get, interpolated as compose does with an .env that sets only JWT_SECRET.
  const dotEnv = { JWT_SECRET: "x".repeat(64) };
  const appEnv = Object.fromEntries(Object.entries(app).map(([k, v]) => [k, interpolate(v, dotEnv)]));
  const config = loadConfig(appEnv);
  assert.equal(config.appEnv, "production");
  assert.equal(config.trustProxy, true);
  assert.equal(config.amqpUrl, "amqp://chat:chat@rabbitmq:5672");
  assert.equal(config.jwtSecretGenerated, false);
  const botEnv = Object.fromEntries(Object.entries(bot).map(([k, v]) => [k, interpolate(v, dotEnv)]));
  assert.equal(loadBotConfig(botEnv).amqpUrl, config.amqpUrl);
  // The broker's user is the one in AMQP_URL.
  const broker = environmentOf(compose.services.rabbitmq);
  const brokerUrl = new URL(config.amqpUrl!);
  assert.equal(broker.RABBITMQ_DEFAULT_USER, brokerUrl.username);
  assert.equal(interpolate(broker.RABBITMQ_DEFAULT_PASS, dotEnv), brokerUrl.password);
  // Without JWT_SECRET compose refuses to start, naming it.
  assert.throws(() => interpolate(app.JWT_SECRET, {}), /JWT_SECRET/);
});

// ---------------------------------------------------------------------------------------------------------
// .env.example

/** `NAME=value` lines (comments and blank lines skipped), in order. */
function parseDotEnv(text: string): [string, string][] {
  return text.split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
      assert.ok(match, `not a NAME=value line: ${line}`);
      return [match[1], match[2]];
    });
}

const envExampleText = read(".env.example");
const envExample = parseDotEnv(envExampleText);
/** Names `.env.example` holds only for docker-compose.yml's interpolation (its last section). */
const COMPOSE_ONLY = parseDotEnv(
  envExampleText.slice(envExampleText.indexOf("# --- docker-compose.yml only")),
)
  .map(([name]) => name);

Deno.test(".env.example: every variable the server and the bot read, once, and no other", () => {
  const names = envExample.map(([name]) => name);
  assert.deepEqual(names.filter((name, i) => names.indexOf(name) !== i), [], "no duplicates");
  for (const name of CODE_VARIABLES) assert.ok(names.includes(name), `${name} is in .env.example`);
  for (const name of names) {
    assert.ok(CODE_VARIABLES.has(name) || COMPOSE_ONLY.includes(name), `${name} is read by the code`);
  }
  // Each compose-only name is one compose interpolates, and compose interpolates nothing else.
  const composeText = read("docker-compose.yml");
  assert.deepEqual([...interpolatedNames(composeText)].sort(), ["JWT_SECRET", ...COMPOSE_ONLY].sort());
  for (const name of COMPOSE_ONLY) assert.ok(!CODE_VARIABLES.has(name), name);
  // No secret ships in the example.
  assert.equal(Object.fromEntries(envExample).JWT_SECRET, "");
});

Deno.test(".env.example: its values are the code's defaults", () => {
  const example = Object.fromEntries(envExample);
  const limit = { openFileLimit: () => 20_000 };
  const secret = { JWT_SECRET: "s".repeat(32), INSTANCE_ID: "same" };
  assert.deepEqual(loadConfig({ ...example, ...secret }, limit), loadConfig(secret, limit));
  const amqp = { AMQP_URL: "amqp://u:p@broker:5672" };
  assert.deepEqual(loadBotConfig({ ...example, ...amqp }), loadBotConfig(amqp));
});

// ---------------------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

interface Instruction {
  keyword: string;
  args: string;
  /** The body of a heredoc (`RUN <<EOF`), if any. */
  heredoc?: string;
}

/** The Dockerfile's instructions by stage: continuation lines joined, comments dropped, heredocs kept. */
function parseDockerfile(text: string): Instruction[][] {
  const lines = text.split("\n");
  const stages: Instruction[][] = [];
  const preamble: Instruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      line = line.slice(0, -1).trim() + " " + lines[++i].trim();
    }
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction: Instruction = { keyword: keyword.toUpperCase(), args };
    const heredoc = /<<-?["']?(\w+)["']?/.exec(args);
    if (heredoc) {
      const body: string[] = [];
      while (++i < lines.length && lines[i].trim() !== heredoc[1]) body.push(lines[i]);
      instruction.heredoc = body.join("\n");
    }
    if (instruction.keyword === "FROM") stages.push([instruction]);
    else (stages.at(-1) ?? preamble).push(instruction);
  }
  return stages;
}

const dockerfile = parseDockerfile(read("Dockerfile"));
const all = (stage: Instruction[], keyword: string) => stage.filter((i) => i.keyword === keyword);

Deno.test("Dockerfile: built by deno task compile, run as a non-root user with a health check", () => {
  assert.ok(dockerfile.length >= 2, "multi-stage");
  const build = dockerfile[0];
  const final = dockerfile.at(-1)!;
  assert.match(build[0].args, /^denoland\/deno:/);
  assert.ok(all(build, "RUN").some((i) => /^deno task compile\b/.test(i.args)), "the build stage compiles");
  // The final stage starts from a runtime image, not from the build stage, and takes only the binary.
  const buildName = /\bAS\s+(\S+)/i.exec(build[0].args)?.[1];
  assert.ok(buildName);
  assert.doesNotMatch(final[0].args, new RegExp(`^${buildName}\\b`));
  const copies = all(final, "COPY");
  assert.ok(copies.every((c) => c.args.includes(`--from=${buildName}`)), "nothing from the build context");
  assert.ok(copies.some((c) => /\/chat\s+\/app\/chat$/.test(c.args)), "the compiled binary");

  const users = all(final, "USER");
  assert.equal(users.length, 1);
  const user = users[0].args.split(":")[0];
  assert.ok(!["root", "0", ""].includes(user), `USER ${users[0].args} is not root`);
  // USER comes before the process starts and after everything that needs root.
  assert.ok(final.indexOf(users[0]) > Math.max(...all(final, "RUN").map((i) => final.indexOf(i)), -1));

  const health = all(final, "HEALTHCHECK");
  assert.equal(health.length, 1);
  assert.match(health[0].args, /CMD \["\/app\/chat", "healthcheck"\]$/);
  assert.deepEqual(all(final, "ENTRYPOINT").map((i) => i.args), ['["/app/chat"]']);
  assert.ok(all(final, "EXPOSE").some((i) => i.args.split(/\s+/).includes("8080")));

  // Configured by the environment: no secret, and no default for one, in any stage.
  for (const stage of dockerfile) {
    for (const instruction of stage) {
      const text = `${instruction.args}\n${instruction.heredoc ?? ""}`;
      assert.doesNotMatch(text, /JWT_SECRET|RABBITMQ_PASSWORD/, `${instruction.keyword} ${instruction.args}`);
      assert.doesNotMatch(text, /(^|\s)\.env(\s|$)/, "no .env in the image");
    }
  }
  const env = all(final, "ENV").map((i) => i.args).join(" ");
  for (const [, name] of env.matchAll(/([A-Z_][A-Z0-9_]*)=/g)) assert.ok(CODE_VARIABLES.has(name), name);
  // The health check asks /api/health on the port the server listens on.
  assert.match(env, /\bPORT=8080\b/);
});

/** `.dockerignore` semantics: the last matching pattern wins, `!` re-includes, a directory covers its files. */
function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith("!");
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, "");
    const re = new RegExp(
      "^" + pattern.split("/").map((part) =>
        part === "**"
          ? "(?:.*)"
          : part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(
            /\?/g,
            "[^/]",
          )
      ).join("/").replace(/\(\?:\.\*\)\//g, "(?:.*/)?") + "(?:/.*)?$",
    );
    if (re.test(path)) {
      ignored = !negate;
    }
  }
  return ignored;
}

const dockerignore = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) =>
  l !== "" && !l.startsWith("#")
);

Deno.test(".dockerignore: no secrets or local state in the build context", () => {
  for (
    const path of [
      ".env",
      ".env.production",
      ".git/HEAD",
      "data/chat.db",
      "data/chat.db-wal",
      "node_modules/x/index.js",
      "bench/node_modules/ws/index.js",
      "test-output/shot.png",
      "dist/chat",
      "_fresh/manifest.json",
    ]
  ) {
    assert.ok(dockerIgnored(dockerignore, path), `${path} is left out`);
  }
  for (const path of [".env.example", "main.ts", "deno.lock", "lib/fresh/app.ts", "static/styles.css"]) {
    assert.ok(!dockerIgnored(dockerignore, path), `${path} is in the context`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// deploy/nginx.conf

interface Directive {
  name: string;
  args: string[];
  block?: Directive[];
}

/** nginx's configuration syntax: directives, `{…}` blocks, quotes, `#` comments. */
function parseNginx(text: string): Directive[] {
  const tokens = [...text.replace(/#[^\n]*/g, "").matchAll(/'[^']*'|"[^"]*"|[{};]|[^\s{};]+/g)].map((m) =>
    m[0]
  );
  let at = 0;
  function block(): Directive[] {
    const out: Directive[] = [];
    let words: string[] = [];
    while (at < tokens.length) {
      const token = tokens[at++];
      if (token === ";") {
        out.push({ name: words[0], args: words.slice(1) });
        words = [];
      } else if (token === "{") {
        out.push({ name: words[0], args: words.slice(1), block: block() });
        words = [];
      } else if (token === "}") return out;
      else words.push(token);
    }
    return out;
  }
  return block();
}

/** The directives at `path` (e.g. ["http", "server", "location /"]). */
function at(config: Directive[], path: string[]): Directive[] {
  let level = config;
  for (const step of path) {
    const found = level.find((d) => [d.name, ...d.args].join(" ") === step);
    assert.ok(found?.block, `no ${path.join(" > ")}`);
    level = found.block;
  }
  return level;
}

const text = (d: Directive) => [d.name, ...d.args].join(" ");
const deployNginx = parseNginx(read("deploy/nginx.conf"));
/** `template` with each `${…}` (nested ones included) replaced by `X`. */
function fillPlaceholders(template: string): string {
  let out = "";
  for (let i = 0; i < template.length; i++) {
    if (!template.startsWith("${", i)) {
      out += template[i];
      continue;
    }
    let depth = 0;
    for (; i < template.length; i++) {
      if (template[i] === "{") depth++;
      else if (template[i] === "}" && --depth === 0) break;
    }
    out += "X";
  }
  return out;
}

/** The config scripts/cluster_lib.ts writes for `deno task cluster` (its template, placeholders filled). */
const clusterNginx = parseNginx(fillPlaceholders(
  /function nginxConfig\([^)]*\): string \{\s*return `([\s\S]*?)\n`;/.exec(
    read("scripts/cluster_lib.ts"),
  )![1],
));

Deno.test("deploy/nginx.conf: proxies like the cluster's nginx, to app:8080 through Docker's DNS", () => {
  const location = at(deployNginx, ["http", "server", "location /"]);
  const clusterLocation = at(clusterNginx, ["http", "server", "location /"]);
  // Every proxy directive of the tested cluster config, the same, but the upstream.
  for (const directive of clusterLocation.filter((d) => d.name !== "proxy_pass")) {
    assert.ok(location.some((d) => text(d) === text(directive)), `location / has "${text(directive)}"`);
  }
  for (const header of ["Upgrade $http_upgrade", "Connection $connection_upgrade"]) {
    assert.ok(location.some((d) => text(d) === `proxy_set_header ${header}`), header);
  }
  const map = (config: Directive[]) => at(config, ["http"]).find((d) => d.name === "map");
  assert.deepEqual(map(deployNginx), map(clusterNginx));
  const server = at(deployNginx, ["http", "server"]);
  const clusterServer = at(clusterNginx, ["http", "server"]);
  const bodyLimit = (s: Directive[]) => s.find((d) => d.name === "client_max_body_size");
  assert.deepEqual(bodyLimit(server), bodyLimit(clusterServer));
  assert.deepEqual(
    at(deployNginx, ["events"]).map(text),
    at(clusterNginx, ["events"]).map(text),
  );

  // The upstream: every address of `app` on 8080, resolved at request time by Docker's DNS.
  assert.ok(server.some((d) => text(d) === "listen 8080"));
  const resolver = at(deployNginx, ["http"]).find((d) => d.name === "resolver");
  assert.equal(resolver?.args[0], "127.0.0.11");
  const proxyPass = location.find((d) => d.name === "proxy_pass")!.args[0];
  const variable = /^http:\/\/\$(\w+)$/.exec(proxyPass)?.[1];
  assert.ok(variable, proxyPass);
  assert.deepEqual(server.find((d) => d.name === "set" && d.args[0] === `$${variable}`)?.args, [
    `$${variable}`,
    "app:8080",
  ]);
  // /metrics is not served to the outside.
  const metrics = server.find((d) => text(d) === "location = /metrics");
  assert.ok(metrics?.block?.some((d) => /^(return 40[34]|deny all)$/.test(text(d))));
});

Deno.test("deploy/nginx.conf: nginx accepts it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-nginx-t-" });
  try {
    const { code, stderr } = await new Deno.Command(nginxBinary(), {
      args: ["-t", "-q", "-c", join(ROOT, "deploy/nginx.conf"), "-p", dir, "-e", join(dir, "error.log")],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function nginxBinary(): string {
  for (const path of ["/usr/sbin/nginx", "/usr/bin/nginx"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* next */ }
  }
  return "nginx";
}

/** A DNS server answering A queries for `name` with `addresses`; Docker's embedded DNS in the compose network. */
async function fakeDns(name: string, addresses: string[]) {
  const socket = dgram.createSocket("udp4");
  const queries: string[] = [];
  socket.on("message", (query: Uint8Array, peer: { port: number; address: string }) => {
    let offset = 12;
    const labels: string[] = [];
    while (query[offset] !== 0) {
      labels.push(new TextDecoder().decode(query.subarray(offset + 1, offset + 1 + query[offset])));
      offset += query[offset] + 1;
    }
    const type = (query[offset + 1] << 8) | query[offset + 2];
    const question = query.subarray(12, offset + 5);
    const asked = labels.join(".").toLowerCase();
    queries.push(asked);
    const answers = asked === name && type === 1 ? addresses : [];
    const header = [
      query[0],
      query[1],
      0x81,
      asked === name ? 0x80 : 0x83,
      0,
      1,
      0,
      answers.length,
      0,
      0,
      0,
      0,
    ];
    const records = answers.flatMap((
      ip,
    ) => [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, ...ip.split(".").map(Number)]);
    socket.send(new Uint8Array([...header, ...question, ...records]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    port: socket.address().port,
    queries,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** deploy/nginx.conf with only its addresses and file paths moved onto this machine; fails if one is missing. */
function localNginxConfig(dir: string, ports: { dns: number; nginx: number; app: number }): string {
  const replacements: [RegExp, string][] = [
    [/^(\s*)resolver 127\.0\.0\.11 /m, `$1resolver 127.0.0.1:${ports.dns} `],
    [/^(\s*)listen 8080;/m, `$1listen 127.0.0.1:${ports.nginx};`],
    [/app:8080;/, `app:${ports.app};`],
    [/^error_log .*$/m, `error_log ${dir}/error.log warn;\npid ${dir}/nginx.pid;`],
    [
      /^http \{$/m,
      `http {\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n` +
      `  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;`,
    ],
  ];
  let config = read("deploy/nginx.conf");
  for (const [pattern, replacement] of replacements) {
    assert.match(config, pattern);
    config = config.replace(pattern, replacement);
  }
  return config;
}

Deno.test("deploy/nginx.conf in front of two instances: round-robin by DNS, pages, WebSocket, /metrics closed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-deploy-nginx-" });
  const addresses = ["127.0.0.2", "127.0.0.3"];
  const dns = await fakeDns("app", addresses);
  // One port on two loopback addresses, as `app:8080` is one port on every container's address.
  const probe = Deno.listen({ hostname: addresses[0], port: 0 });
  const appPort = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const instances = [];
  let nginx: Deno.ChildProcess | undefined;
  try {
    for (const host of addresses) {
      instances.push(
        await spawnServer({
          HOST: host,
          PORT: String(appPort),
          DATABASE_URL: `sqlite:${join(dir, "chat.db")}`,
          TRUST_PROXY: "true",
        }),
      );
    }
    const port = freePort();
    const conf = join(dir, "nginx.conf");
    await Deno.writeTextFile(conf, localNginxConfig(dir, { dns: dns.port, nginx: port, app: appPort }));
    nginx = new Deno.Command(nginxBinary(), {
      args: ["-c", conf, "-p", dir, "-e", join(dir, "error.log"), "-g", "daemon off;"],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (
      !(await fetch(`${base}/api/health`).then(async (r) => (await r.body?.cancel(), r.ok), () => false))
    ) {
      assert.ok(Date.now() < deadline, "nginx did not answer");
      await new Promise((r) => setTimeout(r, 50));
    }

    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${base}/api/health`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    assert.ok(dns.queries.includes("app"), "nginx asked the DNS for app");
    const served = instances.map((instance) =>
      instance.logs.filter((l) => l.msg === "request" && l.path === "/api/health").length
    );
    assert.ok(served.every((n) => n >= 5), `both instances served: ${served}`);

    // A page, and the API and a socket through the proxy.
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form/);
    const alice = await newUser(base, "deploy");
    const room = await createRoom(base, alice, { name: "through nginx" });
    const socket = await TestSocket.open(`ws://127.0.0.1:${port}/ws?token=${alice.token}&room_id=${room.id}`);
    try {
      socket.send({ type: "message", room_id: room.id, content: "via nginx", client_id: "n-1" });
      await socket.waitFor((f) => f.type === "ack" && f.client_id === "n-1", "ack");
      await socket.waitFor((f) => f.type === "text" && f.content === "via nginx", "the message");
    } finally {
      await socket.close();
    }
    const history = await api(base, "GET", `/api/rooms/${room.id}/messages`, { token: alice.token });
    assert.equal(history.status, 200);

    // /metrics is answered by nginx and never reaches an instance.
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 404);
    await metrics.body?.cancel();
    assert.ok(instances.every((i) => !i.logs.some((l) => l.path === "/metrics")));

    // An instance that goes away is skipped (proxy_next_upstream): every request still succeeds.
    await instances[1].stop();
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${base}/api/health`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
  } finally {
    if (nginx) {
      nginx.kill("SIGTERM");
      await nginx.status;
    }
    for (const instance of instances) await instance.stop().catch(() => {});
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------------
// The compiled binary

const compileTask: string = JSON.parse(read("deno.json")).tasks.compile;
const includes = [...compileTask.matchAll(/--include[= ](\S+)/g)].map((m) => m[1].replace(/\/$/, ""));

/** The project folders the web layer reads at run time, from its source: `join(root, "<dir>")` and `_fresh`. */
function runtimeFolders(): string[] {
  const found = new Set<string>();
  for (const entry of Deno.readDirSync(join(ROOT, "lib/fresh"))) {
    if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    for (const m of read(`lib/fresh/${entry.name}`).matchAll(/join\((?:options\.)?root, "([^"]+)"\)/g)) {
      found.add(m[1]);
    }
  }
  for (const m of read("lib/server.ts").matchAll(/join\(ROOT, "([^"]+)"\)/g)) found.add(m[1]);
  return [...found].sort();
}

Deno.test("compile task: one binary of main.ts that embeds every folder the web layer reads", () => {
  assert.match(compileTask, /^deno task build && deno compile /);
  assert.match(compileTask, /--output dist\/chat main\.ts$/);
  assert.match(compileTask, /(^|\s)(-A|--allow-all)(\s|$)/);
  const folders = runtimeFolders();
  assert.deepEqual(folders, ["_fresh", "islands", "routes", "static"]);
  for (const folder of folders) assert.ok(includes.includes(folder), `--include ${folder}`);
  assert.match(read("scripts/build.ts"), /outDir = `\$\{root\}_fresh`/, "deno task build writes _fresh/");
  assert.match(read(".gitignore"), /^\/?dist\/?$/m);
});

/** The files of the Docker build context: the work tree (tracked or not, less .gitignore) less .dockerignore. */
async function dockerContext(): Promise<string[]> {
  const { code, stdout } = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  assert.equal(code, 0);
  return new TextDecoder().decode(stdout).split("\0").filter((path) =>
    path !== "" && !dockerIgnored(dockerignore, path) && Deno.statSync(join(ROOT, path)).isFile
  );
}

Deno.test("deno task compile packages the Docker build context: islands prebuilt, every runtime folder inside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-compile-" });
  try {
    for (const path of await dockerContext()) {
      await Deno.mkdir(join(dir, dirname(path)), { recursive: true });
      await Deno.copyFile(join(ROOT, path), join(dir, path));
    }
    // `deno` itself stands in for `denort`, which `deno compile` cannot download here: the result is
    // packaged exactly as in the image build, but it does not run as the server.
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: dir,
      env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, output);
    const binary = await Deno.readFile(join(dir, "dist/chat"));
    assert.deepEqual([...binary.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "an ELF executable");

    // The islands are complete: every islands/Name.tsx has its bundle, and the files match the manifest.
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, "_fresh/manifest.json")));
    const islands = [...Deno.readDirSync(join(ROOT, "islands"))]
      .map((e) => /^([A-Z][A-Za-z0-9]*)\.tsx$/.exec(e.name)?.[1]).filter((n) => n !== undefined).sort();
    assert.ok(islands.length > 0);
    assert.deepEqual(Object.keys(manifest.islands).sort(), islands);
    for (const file of manifest.files) await Deno.stat(join(dir, "_fresh", file));
    const { loadPrebuilt } = await import("../lib/fresh/build.ts");
    assert.ok(await loadPrebuilt(join(dir, "_fresh")), "the build loads as the server loads it");

    // What the binary embeds (deno compile's "Embedded Files" tree): the entry points, every folder the
    // web layer reads at run time (all of static/), and no local state.
    const top = [...output.matchAll(/^[├└]─[─┬] (\S+)/gm)].map((m) => m[1].replace(/\/\*$/, ""));
    for (const entry of ["main.ts", "bot.ts", "lib", ...runtimeFolders()]) {
      assert.ok(top.includes(entry), `embeds ${entry}: ${top}`);
    }
    for (const entry of ["data", "test-output", "tests", "bench", ".env"]) {
      assert.ok(!top.includes(entry), entry);
    }
    assert.ok([...Deno.readDirSync(join(ROOT, "static"))].length > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------------
// The health check and the binary's modes

Deno.test("healthcheck: 0 only for a 200 from /api/health on PORT", async () => {
  let status = 200;
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    paths.push(new URL(req.url).pathname);
    return Response.json({ status: status === 200 ? "ok" : "error" }, { status });
  });
  const port = String(server.addr.port);
  try {
    assert.equal(await healthcheck([], { PORT: port }), 0);
    assert.equal(await healthcheck([], { PORT: port, HOST: "0.0.0.0" }), 0);
    assert.equal(await healthcheck([], { PORT: port, HOST: "127.0.0.1" }), 0);
    assert.deepEqual(paths, ["/api/health", "/api/health", "/api/health"]);
    status = 503;
    assert.equal(await healthcheck([], { PORT: port }), 1);
  } finally {
    await server.shutdown();
  }
  // Nothing listening.
  assert.equal(await healthcheck([], { PORT: String(freePort()) }), 1);
});

Deno.test("healthcheck --amqp: 0 when the broker in AMQP_URL accepts connections", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepting = (async () => {
    for await (const conn of listener) conn.close();
  })();
  try {
    assert.equal(await healthcheck(["--amqp"], { AMQP_URL: `amqp://u:p@127.0.0.1:${port}` }), 0);
  } finally {
    listener.close();
    await accepting.catch(() => {});
  }
  assert.equal(await healthcheck(["--amqp"], { AMQP_URL: `amqp://u:p@127.0.0.1:${port}` }), 1);
});

function denoEnv(): Record<string, string> {
  const names = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME"];
  return Object.fromEntries(names.flatMap((name) => Deno.env.has(name) ? [[name, Deno.env.get(name)!]] : []));
}

async function runMain(args: string[], env: Record<string, string>) {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "main.ts"), ...args],
    // Only what the mode is given (and what deno needs to find its cache): no AMQP_URL or PORT from outside.
    env: { NO_COLOR: "1", ...denoEnv(), ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return { code, stdout: new TextDecoder().decode(stdout) };
}

Deno.test("main.ts modes: healthcheck against the real server, bot, and an unknown command", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-modes-" });
  const server = await spawnServer({ DATABASE_URL: `sqlite:${dir}/chat.db` });
  try {
    const env = { PORT: String(server.port), HOST: "127.0.0.1" };
    assert.equal((await runMain(["healthcheck"], env)).code, 0);
    await server.stop();
    const down = await runMain(["healthcheck"], env);
    assert.equal(down.code, 1);
    assert.match(down.stdout, /Health check failed/);
  } finally {
    await server.stop().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
  // `bot` runs bot.ts's main: without AMQP_URL it names the problem and exits 1.
  const bot = await runMain(["bot"], {});
  assert.equal(bot.code, 1);
  assert.match(bot.stdout, /Invalid bot configuration.*AMQP_URL/);
  const unknown = await runMain(["serve-please"], {});
  assert.equal(unknown.code, 2);
  assert.match(unknown.stdout, /Unknown command/);
});

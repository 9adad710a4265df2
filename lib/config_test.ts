import assert from "node:assert/strict";
import {
  type Config,
  ConfigError,
  defaultMaxConnections,
  defaultMaxHttpConnections,
  FALLBACK_OPEN_FILE_LIMIT,
  loadConfig,
  parseOpenFileLimit,
  readOpenFileLimit,
} from "./config.ts";

const SECRET = "0123456789abcdef0123456789abcdef"; // exactly 32 bytes

/** The problems of the `ConfigError` that `loadConfig(env)` must throw. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.equal(error.name, "ConfigError");
    assert.equal(error.message, `Invalid configuration:\n  ${error.problems.join("\n  ")}`);
    return error.problems;
  }
  assert.fail(`loadConfig(${JSON.stringify(env)}) did not throw`);
}

Deno.test("loadConfig() uses the documented defaults for an empty environment", () => {
  const { jwtSecret, instanceId, ...config } = loadConfig({});
  assert.deepEqual(
    config,
    {
      appEnv: "development",
      host: "0.0.0.0",
      port: 8080,
      databaseUrl: "sqlite:./data/chat.db",
      mongoPoolSize: 20,
      storeTimeoutMs: 1_000,
      storeProbeIntervalMs: 250,
      sqliteBusyTimeoutMs: 1_000,
      redisUrl: undefined,
      busStaleMaxSeconds: 10,
      jwtSecretGenerated: true,
      accessTokenTtlSeconds: 900,
      refreshTokenTtlDays: 30,
      publicUrl: undefined,
      smtpUrl: undefined,
      mailFrom: "Chat <chat@localhost>",
      oidc: undefined,
      bcryptCost: 12,
      maxMessageChars: 4_000,
      maxBodyBytes: 65_536,
      rateLimitPerSec: 10,
      rateLimitBurst: 20,
      authRateLimitPerMin: 20,
      authRateLimitBurst: 10,
      roomsPerUserPerHour: 20,
      dmsPerUserPerHour: 20,
      typingPerUserPerSec: 1,
      typingPerUserBurst: 3,
      maxSocketsPerUser: 20,
      corsOrigins: [],
      heartbeatSeconds: 25,
      wsMaxBufferedBytes: 1_048_576,
      resumeMaxMessages: 1_000,
      trustProxy: false,
      logLevel: "info",
      shutdownTimeoutSeconds: 10,
      maxConnections: defaultMaxConnections(readOpenFileLimit()),
      maxHttpConnections: defaultMaxHttpConnections(readOpenFileLimit()),
      maxConnectionsPerIp: 256,
      headerTimeoutSeconds: 10,
      keepAliveTimeoutSeconds: 30,
      presenceMaxRoomMembers: 1_000,
      amqpUrl: undefined,
      amqpPrefix: "chat",
      quoteUrl: "https://stooq.com/q/l/",
      quoteTimeoutMs: 5_000,
    } satisfies Omit<Config, "jwtSecret" | "instanceId">,
  );
  assert.match(jwtSecret, /^[0-9a-f]{64}$/);
  assert.match(instanceId, new RegExp(`^.+-${Deno.pid}-[0-9a-f]{8}$`), "host, pid and a random part");
});

Deno.test("loadConfig() treats empty and blank values as unset", () => {
  const blank = [
    "APP_ENV",
    "HOST",
    "PORT",
    "DATABASE_URL",
    "BCRYPT_COST",
    "RATE_LIMIT_PER_SEC",
    "TRUST_PROXY",
    "LOG_LEVEL",
    "CORS_ORIGINS",
  ];
  const config = loadConfig(Object.fromEntries(blank.map((name) => [name, "  "])));
  assert.equal(config.appEnv, "development");
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.port, 8080);
  assert.equal(config.databaseUrl, "sqlite:./data/chat.db");
  assert.equal(config.bcryptCost, 12);
  assert.equal(config.rateLimitPerSec, 10);
  assert.equal(config.trustProxy, false);
  assert.equal(config.logLevel, "info");
  assert.deepEqual(config.corsOrigins, []);
});

Deno.test("loadConfig() parses every variable", () => {
  const config = loadConfig({
    APP_ENV: "production",
    HOST: " 127.0.0.1 ",
    PORT: " 3000 ",
    DATABASE_URL: "mongodb://db.internal:27017/chat",
    JWT_SECRET: SECRET,
    ACCESS_TOKEN_TTL_SECONDS: "600",
    REFRESH_TOKEN_TTL_DAYS: "7",
    PUBLIC_URL: "https://chat.example.com/",
    SMTP_URL: "smtp://mailer:secret@mail.internal:587",
    MAIL_FROM: "Team chat <chat@example.com>",
    OIDC_ISSUER: "https://id.example.com/realms/team",
    OIDC_CLIENT_ID: "chat",
    OIDC_CLIENT_SECRET: "s3cret",
    OIDC_NAME: "Example ID",
    BCRYPT_COST: "10",
    MAX_MESSAGE_CHARS: "2000",
    MAX_BODY_BYTES: "131072",
    RATE_LIMIT_PER_SEC: "2.5",
    RATE_LIMIT_BURST: "5",
    AUTH_RATE_LIMIT_PER_MIN: "0.5",
    AUTH_RATE_LIMIT_BURST: "3",
    ROOMS_PER_USER_PER_HOUR: "5",
    DMS_PER_USER_PER_HOUR: "7",
    TYPING_PER_USER_PER_SEC: "0.5",
    TYPING_PER_USER_BURST: "2",
    MAX_SOCKETS_PER_USER: "4",
    CORS_ORIGINS: "https://chat.example.com,http://localhost:5173",
    HEARTBEAT_SECONDS: "30",
    WS_MAX_BUFFERED_BYTES: "65536",
    RESUME_MAX_MESSAGES: "250",
    TRUST_PROXY: "true",
    LOG_LEVEL: "debug",
    SHUTDOWN_TIMEOUT_SECONDS: "20",
    REDIS_URL: "redis://cache.internal:6379/0",
    INSTANCE_ID: "app-2",
    MONGO_POOL_SIZE: "50",
    STORE_TIMEOUT_MS: "3000",
    STORE_PROBE_INTERVAL_MS: "400",
    SQLITE_BUSY_TIMEOUT_MS: "200",
    MAX_CONNECTIONS: "25000",
    MAX_HTTP_CONNECTIONS: "500",
    MAX_CONNECTIONS_PER_IP: "50",
    HEADER_TIMEOUT_SECONDS: "5",
    KEEPALIVE_TIMEOUT_SECONDS: "2.5",
    PRESENCE_MAX_ROOM_MEMBERS: "250",
    AMQP_URL: "amqp://chat:secret@mq.internal:5672/chat",
    AMQP_PREFIX: "chat-prod",
    QUOTE_URL: "http://quotes.internal/q/l/",
    QUOTE_TIMEOUT_MS: "2500",
  });
  assert.deepEqual(
    config,
    {
      appEnv: "production",
      host: "127.0.0.1",
      port: 3000,
      databaseUrl: "mongodb://db.internal:27017/chat",
      mongoPoolSize: 50,
      storeTimeoutMs: 3_000,
      storeProbeIntervalMs: 400,
      sqliteBusyTimeoutMs: 200,
      redisUrl: "redis://cache.internal:6379/0",
      busStaleMaxSeconds: 10,
      instanceId: "app-2",
      jwtSecret: SECRET,
      jwtSecretGenerated: false,
      accessTokenTtlSeconds: 600,
      refreshTokenTtlDays: 7,
      publicUrl: "https://chat.example.com",
      smtpUrl: "smtp://mailer:secret@mail.internal:587",
      mailFrom: "Team chat <chat@example.com>",
      oidc: {
        issuer: "https://id.example.com/realms/team",
        clientId: "chat",
        clientSecret: "s3cret",
        name: "Example ID",
      },
      bcryptCost: 10,
      maxMessageChars: 2000,
      maxBodyBytes: 131_072,
      rateLimitPerSec: 2.5,
      rateLimitBurst: 5,
      authRateLimitPerMin: 0.5,
      authRateLimitBurst: 3,
      roomsPerUserPerHour: 5,
      dmsPerUserPerHour: 7,
      typingPerUserPerSec: 0.5,
      typingPerUserBurst: 2,
      maxSocketsPerUser: 4,
      corsOrigins: ["https://chat.example.com", "http://localhost:5173"],
      heartbeatSeconds: 30,
      wsMaxBufferedBytes: 65_536,
      resumeMaxMessages: 250,
      trustProxy: true,
      logLevel: "debug",
      shutdownTimeoutSeconds: 20,
      maxConnections: 25_000,
      maxHttpConnections: 500,
      maxConnectionsPerIp: 50,
      headerTimeoutSeconds: 5,
      keepAliveTimeoutSeconds: 2.5,
      presenceMaxRoomMembers: 250,
      amqpUrl: "amqp://chat:secret@mq.internal:5672/chat",
      amqpPrefix: "chat-prod",
      quoteUrl: "http://quotes.internal/q/l/",
      quoteTimeoutMs: 2_500,
    } satisfies Config,
  );
});

Deno.test("loadConfig() accepts the bounds of each integer and number", async (t) => {
  const cases: [name: string, raw: string, field: keyof Config, value: number][] = [
    ["PORT", "0", "port", 0],
    ["PORT", "65535", "port", 65_535],
    ["ACCESS_TOKEN_TTL_SECONDS", "5", "accessTokenTtlSeconds", 5],
    ["ACCESS_TOKEN_TTL_SECONDS", "86400", "accessTokenTtlSeconds", 86_400],
    ["REFRESH_TOKEN_TTL_DAYS", "365", "refreshTokenTtlDays", 365],
    ["BCRYPT_COST", "4", "bcryptCost", 4],
    ["BCRYPT_COST", "15", "bcryptCost", 15],
    ["MAX_MESSAGE_CHARS", "1", "maxMessageChars", 1],
    ["MAX_MESSAGE_CHARS", "16000", "maxMessageChars", 16_000],
    ["MAX_BODY_BYTES", "1024", "maxBodyBytes", 1_024],
    ["MAX_BODY_BYTES", "16777216", "maxBodyBytes", 16_777_216],
    ["RATE_LIMIT_PER_SEC", "0.01", "rateLimitPerSec", 0.01],
    ["RATE_LIMIT_BURST", "1", "rateLimitBurst", 1],
    ["RATE_LIMIT_BURST", "1000000", "rateLimitBurst", 1_000_000],
    ["AUTH_RATE_LIMIT_PER_MIN", "0.01", "authRateLimitPerMin", 0.01],
    ["AUTH_RATE_LIMIT_BURST", "1000000", "authRateLimitBurst", 1_000_000],
    ["ROOMS_PER_USER_PER_HOUR", "1", "roomsPerUserPerHour", 1],
    ["DMS_PER_USER_PER_HOUR", "1000000", "dmsPerUserPerHour", 1_000_000],
    ["TYPING_PER_USER_PER_SEC", "0.001", "typingPerUserPerSec", 0.001],
    ["TYPING_PER_USER_BURST", "1", "typingPerUserBurst", 1],
    ["MAX_SOCKETS_PER_USER", "1", "maxSocketsPerUser", 1],
    ["HEARTBEAT_SECONDS", "1", "heartbeatSeconds", 1],
    ["HEARTBEAT_SECONDS", "300", "heartbeatSeconds", 300],
    ["WS_MAX_BUFFERED_BYTES", "1024", "wsMaxBufferedBytes", 1_024],
    ["WS_MAX_BUFFERED_BYTES", "1073741824", "wsMaxBufferedBytes", 1_073_741_824],
    ["RESUME_MAX_MESSAGES", "1", "resumeMaxMessages", 1],
    ["RESUME_MAX_MESSAGES", "100000", "resumeMaxMessages", 100_000],
    ["SHUTDOWN_TIMEOUT_SECONDS", "1", "shutdownTimeoutSeconds", 1],
    ["SHUTDOWN_TIMEOUT_SECONDS", "300", "shutdownTimeoutSeconds", 300],
    ["MAX_CONNECTIONS", "1", "maxConnections", 1],
    ["MAX_CONNECTIONS", "10000000", "maxConnections", 10_000_000],
    ["MAX_HTTP_CONNECTIONS", "1", "maxHttpConnections", 1],
    ["MAX_HTTP_CONNECTIONS", "10000000", "maxHttpConnections", 10_000_000],
    ["MAX_CONNECTIONS_PER_IP", "0", "maxConnectionsPerIp", 0],
    ["MAX_CONNECTIONS_PER_IP", "10000000", "maxConnectionsPerIp", 10_000_000],
    ["HEADER_TIMEOUT_SECONDS", "0.1", "headerTimeoutSeconds", 0.1],
    ["KEEPALIVE_TIMEOUT_SECONDS", "0.1", "keepAliveTimeoutSeconds", 0.1],
    ["PRESENCE_MAX_ROOM_MEMBERS", "0", "presenceMaxRoomMembers", 0],
    ["PRESENCE_MAX_ROOM_MEMBERS", "10000000", "presenceMaxRoomMembers", 10_000_000],
  ];
  for (const [name, raw, field, value] of cases) {
    await t.step(`${name}=${raw}`, () => {
      assert.equal(loadConfig({ [name]: raw })[field], value);
    });
  }
});

Deno.test("loadConfig() rejects out-of-range and non-numeric values, naming the variable", async (t) => {
  const cases: [name: string, raw: string, problem: string][] = [
    ["PORT", "-1", `PORT must be an integer from 0 to 65535, got "-1"`],
    ["PORT", "65536", `PORT must be an integer from 0 to 65535, got "65536"`],
    ["PORT", "80.5", `PORT must be an integer from 0 to 65535, got "80.5"`],
    ["PORT", "http", `PORT must be an integer from 0 to 65535, got "http"`],
    ["ACCESS_TOKEN_TTL_SECONDS", "4", `ACCESS_TOKEN_TTL_SECONDS must be an integer from 5 to 86400, got "4"`],
    ["REFRESH_TOKEN_TTL_DAYS", "0", `REFRESH_TOKEN_TTL_DAYS must be an integer from 1 to 365, got "0"`],
    [
      "PUBLIC_URL",
      "https://chat.example.com/app",
      `PUBLIC_URL must look like https://host[:port] (no path), got "https://chat.example.com/app"`,
    ],
    ["SMTP_URL", "mail.internal:25", "SMTP_URL must look like smtp://user:password@host:port (or smtps://)"],
    [
      "OIDC_ISSUER",
      "https://id.example.com",
      "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are required with OIDC_ISSUER",
    ],
    ["BCRYPT_COST", "3", `BCRYPT_COST must be an integer from 4 to 15, got "3"`],
    ["BCRYPT_COST", "16", `BCRYPT_COST must be an integer from 4 to 15, got "16"`],
    ["MAX_MESSAGE_CHARS", "0", `MAX_MESSAGE_CHARS must be an integer from 1 to 16000, got "0"`],
    ["MAX_MESSAGE_CHARS", "16001", `MAX_MESSAGE_CHARS must be an integer from 1 to 16000, got "16001"`],
    ["MAX_BODY_BYTES", "1023", `MAX_BODY_BYTES must be an integer from 1024 to 16777216, got "1023"`],
    ["RATE_LIMIT_PER_SEC", "0", `RATE_LIMIT_PER_SEC must be a number of at least 0.01, got "0"`],
    [
      "RATE_LIMIT_PER_SEC",
      "Infinity",
      `RATE_LIMIT_PER_SEC must be a number of at least 0.01, got "Infinity"`,
    ],
    ["RATE_LIMIT_PER_SEC", "ten", `RATE_LIMIT_PER_SEC must be a number of at least 0.01, got "ten"`],
    ["RATE_LIMIT_BURST", "0", `RATE_LIMIT_BURST must be an integer from 1 to 1000000, got "0"`],
    ["AUTH_RATE_LIMIT_PER_MIN", "-5", `AUTH_RATE_LIMIT_PER_MIN must be a number of at least 0.01, got "-5"`],
    ["AUTH_RATE_LIMIT_BURST", "1.5", `AUTH_RATE_LIMIT_BURST must be an integer from 1 to 1000000, got "1.5"`],
    ["ROOMS_PER_USER_PER_HOUR", "0", `ROOMS_PER_USER_PER_HOUR must be an integer from 1 to 1000000, got "0"`],
    [
      "DMS_PER_USER_PER_HOUR",
      "many",
      `DMS_PER_USER_PER_HOUR must be an integer from 1 to 1000000, got "many"`,
    ],
    ["TYPING_PER_USER_PER_SEC", "0", `TYPING_PER_USER_PER_SEC must be a number of at least 0.001, got "0"`],
    ["TYPING_PER_USER_BURST", "0", `TYPING_PER_USER_BURST must be an integer from 1 to 1000000, got "0"`],
    ["MAX_SOCKETS_PER_USER", "0", `MAX_SOCKETS_PER_USER must be an integer from 1 to 1000000, got "0"`],
    ["HEARTBEAT_SECONDS", "301", `HEARTBEAT_SECONDS must be an integer from 1 to 300, got "301"`],
    [
      "WS_MAX_BUFFERED_BYTES",
      "1023",
      `WS_MAX_BUFFERED_BYTES must be an integer from 1024 to 1073741824, got "1023"`,
    ],
    ["RESUME_MAX_MESSAGES", "0", `RESUME_MAX_MESSAGES must be an integer from 1 to 100000, got "0"`],
    [
      "RESUME_MAX_MESSAGES",
      "100001",
      `RESUME_MAX_MESSAGES must be an integer from 1 to 100000, got "100001"`,
    ],
    ["SHUTDOWN_TIMEOUT_SECONDS", "0", `SHUTDOWN_TIMEOUT_SECONDS must be an integer from 1 to 300, got "0"`],
    ["MAX_CONNECTIONS", "0", `MAX_CONNECTIONS must be an integer from 1 to 10000000, got "0"`],
    ["MAX_CONNECTIONS", "lots", `MAX_CONNECTIONS must be an integer from 1 to 10000000, got "lots"`],
    ["MAX_HTTP_CONNECTIONS", "0", `MAX_HTTP_CONNECTIONS must be an integer from 1 to 10000000, got "0"`],
    [
      "MAX_CONNECTIONS_PER_IP",
      "-1",
      `MAX_CONNECTIONS_PER_IP must be an integer from 0 to 10000000, got "-1"`,
    ],
    [
      "HEADER_TIMEOUT_SECONDS",
      "0",
      `HEADER_TIMEOUT_SECONDS must be a number of at least 0.1, got "0"`,
    ],
    [
      "KEEPALIVE_TIMEOUT_SECONDS",
      "soon",
      `KEEPALIVE_TIMEOUT_SECONDS must be a number of at least 0.1, got "soon"`,
    ],
    [
      "PRESENCE_MAX_ROOM_MEMBERS",
      "-1",
      `PRESENCE_MAX_ROOM_MEMBERS must be an integer from 0 to 10000000, got "-1"`,
    ],
    ["APP_ENV", "staging", `APP_ENV must be development, production or test, got "staging"`],
    ["LOG_LEVEL", "verbose", `LOG_LEVEL must be debug, info, warn or error, got "verbose"`],
    ["LOG_LEVEL", "constructor", `LOG_LEVEL must be debug, info, warn or error, got "constructor"`],
    ["LOG_LEVEL", "INFO", `LOG_LEVEL must be debug, info, warn or error, got "INFO"`],
    [
      "DATABASE_URL",
      "postgres://db/chat",
      `DATABASE_URL must start with sqlite: or mongodb://, got "postgres://db/chat"`,
    ],
    ["TRUST_PROXY", "maybe", `TRUST_PROXY must be true or false, got "maybe"`],
  ];
  for (const [name, raw, problem] of cases) {
    await t.step(`${name}=${raw}`, () => {
      assert.deepEqual(problemsOf({ [name]: raw }), [problem]);
    });
  }
});

Deno.test("loadConfig() collects every problem into one ConfigError", () => {
  assert.deepEqual(
    problemsOf({
      APP_ENV: "prod",
      JWT_SECRET: "short",
      DATABASE_URL: "mysql://x",
      CORS_ORIGINS: "https://ok.example.com,ftp://files.example.com",
      LOG_LEVEL: "loud",
      PORT: "99999",
      BCRYPT_COST: "2",
      RATE_LIMIT_PER_SEC: "-1",
      HEARTBEAT_SECONDS: "0",
      TRUST_PROXY: "sometimes",
      SHUTDOWN_TIMEOUT_SECONDS: "x",
    }),
    [
      `APP_ENV must be development, production or test, got "prod"`,
      "JWT_SECRET must be at least 32 bytes long",
      `DATABASE_URL must start with sqlite: or mongodb://, got "mysql://x"`,
      `CORS_ORIGINS entries must look like https://host[:port] (or *), got "ftp://files.example.com"`,
      `LOG_LEVEL must be debug, info, warn or error, got "loud"`,
      `PORT must be an integer from 0 to 65535, got "99999"`,
      `BCRYPT_COST must be an integer from 4 to 15, got "2"`,
      `RATE_LIMIT_PER_SEC must be a number of at least 0.01, got "-1"`,
      `HEARTBEAT_SECONDS must be an integer from 1 to 300, got "0"`,
      `TRUST_PROXY must be true or false, got "sometimes"`,
      `SHUTDOWN_TIMEOUT_SECONDS must be an integer from 1 to 300, got "x"`,
    ],
  );
});

Deno.test("loadConfig() requires JWT_SECRET of at least 32 bytes", () => {
  assert.deepEqual(problemsOf({ JWT_SECRET: SECRET.slice(1) }), [
    "JWT_SECRET must be at least 32 bytes long",
  ]);
  // Bytes, not characters: 15 two-byte characters and one ASCII make 31 bytes.
  assert.deepEqual(problemsOf({ JWT_SECRET: "é".repeat(15) + "a" }), [
    "JWT_SECRET must be at least 32 bytes long",
  ]);
  const config = loadConfig({ JWT_SECRET: "é".repeat(16) });
  assert.equal(config.jwtSecret, "é".repeat(16));
  assert.equal(config.jwtSecretGenerated, false);
});

Deno.test("loadConfig() requires JWT_SECRET when APP_ENV=production", () => {
  assert.deepEqual(problemsOf({ APP_ENV: "production" }), ["JWT_SECRET is required when APP_ENV=production"]);
  assert.deepEqual(problemsOf({ APP_ENV: "production", JWT_SECRET: "" }), [
    "JWT_SECRET is required when APP_ENV=production",
  ]);
  assert.equal(loadConfig({ APP_ENV: "production", JWT_SECRET: SECRET }).jwtSecret, SECRET);
});

Deno.test("loadConfig() generates a random JWT secret outside production", async (t) => {
  for (const appEnv of ["development", "test"]) {
    await t.step(appEnv, () => {
      const first = loadConfig({ APP_ENV: appEnv });
      const second = loadConfig({ APP_ENV: appEnv });
      assert.equal(first.appEnv, appEnv);
      assert.equal(first.jwtSecretGenerated, true);
      assert.match(first.jwtSecret, /^[0-9a-f]{64}$/);
      assert.match(second.jwtSecret, /^[0-9a-f]{64}$/);
      assert.notEqual(first.jwtSecret, second.jwtSecret);
    });
  }
});

Deno.test("loadConfig() accepts sqlite: and mongodb URLs", async (t) => {
  for (
    const url of ["sqlite::memory:", "sqlite:/var/lib/chat/chat.db", "mongodb://h/db", "mongodb+srv://c.x/db"]
  ) {
    await t.step(url, () => assert.equal(loadConfig({ DATABASE_URL: url }).databaseUrl, url));
  }
});

Deno.test("loadConfig() splits CORS_ORIGINS on commas and validates each origin", async (t) => {
  await t.step("list with spaces and empty entries", () => {
    const { corsOrigins } = loadConfig({
      CORS_ORIGINS: " https://a.example.com , ,http://localhost:3000,, https://[::1]:8443 ",
    });
    assert.deepEqual(corsOrigins, ["https://a.example.com", "http://localhost:3000", "https://[::1]:8443"]);
  });
  await t.step("wildcard", () => {
    assert.deepEqual(loadConfig({ CORS_ORIGINS: "*" }).corsOrigins, ["*"]);
  });
  await t.step("only separators", () => {
    assert.deepEqual(loadConfig({ CORS_ORIGINS: " , ," }).corsOrigins, []);
  });
  const bad = [
    "a.example.com",
    "https://a.example.com/",
    "https://a.example.com/path",
    "ftp://a.example.com",
    "https://",
    "*.example.com",
  ];
  for (const origin of bad) {
    await t.step(`rejects ${origin}`, () => {
      assert.deepEqual(problemsOf({ CORS_ORIGINS: `https://ok.example.com,${origin}` }), [
        `CORS_ORIGINS entries must look like https://host[:port] (or *), got "${origin}"`,
      ]);
    });
  }
  await t.step("one problem per bad entry", () => {
    assert.equal(problemsOf({ CORS_ORIGINS: "a,b,https://ok.example.com,c" }).length, 3);
  });
});

Deno.test("loadConfig() reads TRUST_PROXY as a boolean", async (t) => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ["", false],
    ["1", true],
    ["true", true],
    ["TRUE", true],
    [" yes ", true],
    ["Yes", true],
    ["0", false],
    ["false", false],
    ["False", false],
    ["no", false],
    ["NO", false],
  ];
  for (const [raw, value] of cases) {
    await t.step(raw === undefined ? "unset" : JSON.stringify(raw), () => {
      assert.equal(loadConfig({ TRUST_PROXY: raw }).trustProxy, value);
    });
  }
  for (const raw of ["2", "on", "off", "y", "truee"]) {
    await t.step(`rejects ${raw}`, () => {
      assert.deepEqual(problemsOf({ TRUST_PROXY: raw }), [`TRUST_PROXY must be true or false, got "${raw}"`]);
    });
  }
});

Deno.test("loadConfig() refuses a malformed AMQP_URL, AMQP_PREFIX and QUOTE_URL", () => {
  assert.throws(
    () => loadConfig({ AMQP_URL: "localhost:5672", AMQP_PREFIX: "a b", QUOTE_URL: "https://q.example/?s=x" }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems.length, 3);
      assert.match(error.problems.join("\n"), /AMQP_URL.*\n.*AMQP_PREFIX.*\n.*QUOTE_URL/);
      return true;
    },
  );
});

Deno.test("loadConfig() refuses a malformed REDIS_URL and INSTANCE_ID", () => {
  assert.throws(
    () => loadConfig({ REDIS_URL: "localhost:6379", INSTANCE_ID: "a b" }),
    (error: ConfigError) => {
      assert.deepEqual(error.problems, [
        "REDIS_URL must look like redis://host:port (or rediss://)",
        "INSTANCE_ID may only use letters, digits, '_', '.', ':' and '-' (at most 100)",
      ]);
      return true;
    },
  );
});

Deno.test("defaultMaxConnections() keeps max(64, 2.5 %) of the open-file limit in reserve", async (t) => {
  const cases: [limit: number | undefined, expected: number][] = [
    [20_000, 19_500],
    [300, 236],
    [1_024, 960],
    [2_560, 2_496], // 2.5 % is exactly 64
    [2_600, 2_535], // 2.5 % (65) is more than 64
    [1_048_576, 1_022_361],
    [64, 1], // never below one connection
    [undefined, FALLBACK_OPEN_FILE_LIMIT - 250], // unreadable: 10,000 assumed
  ];
  for (const [limit, expected] of cases) {
    await t.step(String(limit), () => assert.equal(defaultMaxConnections(limit), expected));
  }
  assert.equal(FALLBACK_OPEN_FILE_LIMIT, 10_000);
});

Deno.test("defaultMaxHttpConnections() is a quarter of that reserve", async (t) => {
  const cases: [limit: number | undefined, expected: number][] = [
    [20_000, 125],
    [300, 16],
    [1_048_576, 6_553],
    [64, 16],
    [16, 16], // the reserve is never below 64
    [undefined, 62], // unreadable: 10,000 assumed
  ];
  for (const [limit, expected] of cases) {
    await t.step(String(limit), () => assert.equal(defaultMaxHttpConnections(limit), expected));
  }
  // With the WebSocket default, a quarter of the reserve (the runtime's own files, the health reserve) stays.
  for (const limit of [300, 2_560, 20_000]) {
    const spare = limit - defaultMaxConnections(limit) - defaultMaxHttpConnections(limit);
    assert.ok(spare >= 48, `${limit}: ${spare} files to spare`);
  }
});

Deno.test("MAX_CONNECTIONS defaults from the open-file limit; an explicit value wins", async (t) => {
  await t.step("limit 20,000", () => {
    assert.equal(loadConfig({}, { openFileLimit: () => 20_000 }).maxConnections, 19_500);
  });
  await t.step("limit 300", () => {
    assert.equal(loadConfig({}, { openFileLimit: () => 300 }).maxConnections, 236);
  });
  await t.step("limit unreadable", () => {
    assert.equal(loadConfig({}, { openFileLimit: () => undefined }).maxConnections, 9_750);
  });
  await t.step("explicit values, the limit not even read", () => {
    const config = loadConfig({ MAX_CONNECTIONS: " 50000 ", MAX_HTTP_CONNECTIONS: "400" }, {
      openFileLimit: () => assert.fail("read the limit although both caps are set"),
    });
    assert.equal(config.maxConnections, 50_000);
    assert.equal(config.maxHttpConnections, 400);
  });
  await t.step("both defaults from one reading of the limit", () => {
    let reads = 0;
    const config = loadConfig({}, { openFileLimit: () => (reads++, 300) });
    assert.deepEqual([config.maxConnections, config.maxHttpConnections, reads], [236, 16, 1]);
  });
});

Deno.test("parseOpenFileLimit() reads the soft limit from /proc/<pid>/limits", () => {
  const limits = [
    "Limit                     Soft Limit           Hard Limit           Units     ",
    "Max processes             127551               127551               processes ",
    "Max open files            300                  4096                 files     ",
    "Max locked memory         8388608              8388608              bytes     ",
  ].join("\n");
  assert.equal(parseOpenFileLimit(limits), 300);
  assert.equal(parseOpenFileLimit(limits.replace("300 ", "unlimited ")), undefined);
  assert.equal(parseOpenFileLimit(""), undefined);
  assert.equal(parseOpenFileLimit("Max open files 12"), undefined, "not the file's format");
});

Deno.test("readOpenFileLimit() reads this process's limit, which Deno raised to the hard limit", async () => {
  const { stdout } = await new Deno.Command("sh", { args: ["-c", "ulimit -Hn"] }).output();
  const hard = new TextDecoder().decode(stdout).trim();
  assert.equal(readOpenFileLimit(), hard === "unlimited" ? undefined : Number(hard));
});

import assert from "node:assert/strict";
import { isLogLevel, jsonLineHandler, type LogFields, Logger, type LogLevel, nullLogger } from "./log.ts";

type Entry = [level: LogLevel, message: string, fields: LogFields];

/** A logger at `level` that records what reaches its handler. */
function recording(level: LogLevel, fields?: LogFields) {
  const entries: Entry[] = [];
  const logger = new Logger(level, (...entry) => entries.push(entry), fields);
  return { entries, logger };
}

function logAtEveryLevel(logger: Logger): void {
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
}

Deno.test("Logger passes entries at or above its level to the handler, and only those", async (t) => {
  const cases: [LogLevel, string[]][] = [
    ["debug", ["debug", "info", "warn", "error"]],
    ["info", ["info", "warn", "error"]],
    ["warn", ["warn", "error"]],
    ["error", ["error"]],
  ];
  for (const [level, expected] of cases) {
    await t.step(level, () => {
      const { entries, logger } = recording(level);
      logAtEveryLevel(logger);
      assert.deepEqual(entries.map(([level]) => level), expected);
      assert.deepEqual(
        ["debug", "info", "warn", "error"].filter((l) => logger.enabled(l as LogLevel)),
        expected,
      );
    });
  }
});

Deno.test("Logger never calls the handler for a disabled level", () => {
  let calls = 0;
  const logger = new Logger("error", () => calls++);
  logger.debug("d", { big: "x" });
  logger.info("i");
  logger.warn("w");
  assert.equal(calls, 0);
  logger.error("e");
  assert.equal(calls, 1);
});

Deno.test("Logger hands the message and fields to the handler", () => {
  const { entries, logger } = recording("debug");
  logger.info("Room created", { room_id: "r1", user_id: "u1" });
  logger.debug("No fields");
  assert.deepEqual(entries, [
    ["info", "Room created", { room_id: "r1", user_id: "u1" }],
    ["debug", "No fields", {}],
  ]);
});

Deno.test("Logger.with() merges fields and keeps the level", () => {
  const { entries, logger } = recording("warn", { service: "chat" });
  const child = logger.with({ request_id: "req-1", user_id: "u1" });
  const grandchild = child.with({ user_id: "u2", conn_id: "c1" });

  child.info("dropped"); // still at warn
  assert.equal(child.enabled("info"), false);
  assert.equal(grandchild.enabled("info"), false);
  assert.equal(grandchild.enabled("warn"), true);
  child.warn("child", { room_id: "r1" });
  grandchild.error("grandchild", { request_id: "req-2" });
  logger.warn("parent");

  assert.deepEqual(entries, [
    ["warn", "child", { service: "chat", request_id: "req-1", user_id: "u1", room_id: "r1" }],
    ["error", "grandchild", { service: "chat", request_id: "req-2", user_id: "u2", conn_id: "c1" }],
    ["warn", "parent", { service: "chat" }],
  ]);
});

Deno.test("Logger does not let one entry's fields leak into the next", () => {
  const { entries, logger } = recording("info", { a: 1 });
  const fields = { b: 2 };
  logger.info("one", fields);
  logger.info("two");
  assert.deepEqual(fields, { b: 2 });
  assert.deepEqual(entries.map(([, , fields]) => fields), [{ a: 1, b: 2 }, { a: 1 }]);
});

Deno.test("nullLogger is disabled below error and swallows error entries", () => {
  assert.equal(nullLogger.enabled("warn"), false);
  nullLogger.error("nothing happens", { error: new Error("x") });
});

Deno.test("isLogLevel() accepts the four levels only", () => {
  for (const level of ["debug", "info", "warn", "error"]) assert.equal(isLogLevel(level), true, level);
  for (
    const value of ["", "INFO", "trace", "fatal", "constructor", "toString", "__proto__", "hasOwnProperty"]
  ) {
    assert.equal(isLogLevel(value), false, value);
  }
});

Deno.test("jsonLineHandler() writes one JSON line per entry with time, level, msg and fields", () => {
  const lines: string[] = [];
  const logger = new Logger("debug", jsonLineHandler((line) => lines.push(line)), { service: "chat" });
  const before = Date.now();
  logger.info("Server started", { port: 8080, nested: { ok: true }, list: [1, "two"] });
  logger.debug("Line\nbreak");
  const after = Date.now();

  assert.equal(lines.length, 2);
  for (const line of lines) {
    assert.ok(line.endsWith("\n"));
    assert.equal(line.indexOf("\n"), line.length - 1, "exactly one newline, at the end");
  }
  const [first, second] = lines.map((line) => JSON.parse(line));
  assert.deepEqual(Object.keys(first), ["time", "level", "msg", "service", "port", "nested", "list"]);
  const { time, ...rest } = first;
  assert.deepEqual(rest, {
    level: "info",
    msg: "Server started",
    service: "chat",
    port: 8080,
    nested: { ok: true },
    list: [1, "two"],
  });
  assert.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const ms = Date.parse(time);
  assert.ok(ms >= before && ms <= after, `time ${time} outside the call`);
  assert.equal(second.level, "debug");
  assert.equal(second.msg, "Line\nbreak");
});

Deno.test("jsonLineHandler() serialises Errors with name, message, stack and cause", () => {
  const lines: string[] = [];
  const handler = jsonLineHandler((line) => lines.push(line));
  const root = new TypeError("socket closed");
  const error = new Error('Cannot publish to "room:1"', { cause: root });
  handler("error", "Publish failed", { error, room_id: "room:1", reason: new RangeError("plain") });

  const entry = JSON.parse(lines[0]);
  assert.equal(entry.level, "error");
  assert.equal(entry.msg, "Publish failed");
  assert.equal(entry.room_id, "room:1");
  assert.equal(entry.error.name, "Error");
  assert.equal(entry.error.message, 'Cannot publish to "room:1"');
  assert.equal(entry.error.stack, error.stack);
  assert.equal(entry.error.cause.name, "TypeError");
  assert.equal(entry.error.cause.message, "socket closed");
  assert.equal(entry.error.cause.stack, root.stack);
  assert.equal("cause" in entry.error.cause, false); // no cause: key left out
  assert.deepEqual(Object.keys(entry.reason), ["name", "message", "stack"]);
  assert.equal(entry.reason.name, "RangeError");
  assert.equal(entry.reason.message, "plain");
});

Deno.test("jsonLineHandler() keeps a cause that is not an Error as is", () => {
  const lines: string[] = [];
  jsonLineHandler((line) => lines.push(line))("warn", "x", {
    error: new Error("outer", { cause: { code: 42 } }),
  });
  assert.deepEqual(JSON.parse(lines[0]).error.cause, { code: 42 });
});

Deno.test("jsonLineHandler() still writes a line when a field cannot be serialised", () => {
  const lines: string[] = [];
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const handler = jsonLineHandler((line) => lines.push(line));
  handler("error", "boom", { big: 1n });
  handler("warn", "loop", { cyclic });
  assert.equal(lines.length, 2);
  const [first, second] = lines.map((l) => JSON.parse(l));
  assert.deepEqual([first.level, first.msg], ["error", "boom"]);
  assert.match(first.log_error, /BigInt/);
  assert.deepEqual([second.level, second.msg], ["warn", "loop"]);
  assert.match(second.log_error, /circular/i);
});

import assert from "node:assert/strict";
import {
  CommandError,
  CommandRegistry,
  type CommandSpec,
  defaultRegistry,
  escape,
  parseCommand,
  STOCK_COMMAND,
  unescape,
} from "./registry.ts";

const KNOWN = "Known commands: /stock=CODE (stock quote, e.g. /stock=AAPL.US)";

function commandError(code: string, message?: string) {
  return (error: unknown) => {
    assert.ok(error instanceof CommandError, `expected a CommandError, got ${error}`);
    assert.equal(error.code, code);
    if (message !== undefined) assert.equal(error.message, message);
    return true;
  };
}

Deno.test("parseCommand: messages that are not commands are null", () => {
  for (
    const content of ["hello", "", "   ", "a /stock=AAPL.US", "price? /stock", "//stock=AAPL.US", "  //x"]
  ) {
    assert.equal(parseCommand(content), null, JSON.stringify(content));
  }
});

Deno.test("parseCommand: name and arg", () => {
  assert.deepEqual(parseCommand("/stock=AAPL.US"), { name: "stock", arg: "AAPL.US" });
  assert.deepEqual(parseCommand("/help"), { name: "help", arg: "" });
  assert.deepEqual(parseCommand("  /stock=AAPL.US \n"), { name: "stock", arg: "AAPL.US" });
  assert.deepEqual(
    parseCommand("/STOCK=aapl.us"),
    { name: "stock", arg: "aapl.us" },
    "name lower-cased only",
  );
  assert.deepEqual(parseCommand("/stock="), { name: "stock", arg: "" });
  assert.deepEqual(parseCommand("/stock= AAPL.US "), { name: "stock", arg: "AAPL.US" });
  assert.deepEqual(
    parseCommand("/stock AAPL.US"),
    { name: "stock", arg: "AAPL.US" },
    "whitespace separates too",
  );
  assert.deepEqual(parseCommand("/weather=New York"), { name: "weather", arg: "New York" });
  assert.deepEqual(parseCommand("/a=b=c"), { name: "a", arg: "b=c" }, "only the first = separates");
  assert.deepEqual(parseCommand("/my_cmd-2"), { name: "my_cmd-2", arg: "" });
});

Deno.test("parseCommand: a malformed name is an unknown command", () => {
  for (const content of ["/", "/$$$", "/123", "/-x", "/ stock=AAPL.US", "/usr/bin"]) {
    assert.throws(() => parseCommand(content), commandError("unknown_command"), content);
  }
});

Deno.test("escape and unescape: // posts text that starts with /", () => {
  assert.equal(unescape("//shrug"), "/shrug");
  assert.equal(unescape("  //stock=AAPL.US"), "  /stock=AAPL.US");
  assert.equal(unescape("///"), "//");
  assert.equal(unescape("hello"), "hello");
  assert.equal(unescape("/stock"), "/stock", "a command is not an escape");
  assert.equal(escape("/shrug"), "//shrug");
  assert.equal(escape("hello /x"), "hello /x");
  for (const text of ["/stock=AAPL.US", "//x", "plain", "", " /lead"]) {
    const sent = escape(text);
    assert.equal(defaultRegistry().resolve(sent), null, `${JSON.stringify(sent)} is not a command`);
    assert.equal(unescape(sent), text);
  }
});

Deno.test("STOCK_COMMAND.validate normalises codes", () => {
  assert.equal(STOCK_COMMAND.validate("aapl.us"), "AAPL.US");
  assert.equal(STOCK_COMMAND.validate(" AAPL.US "), "AAPL.US");
  assert.equal(STOCK_COMMAND.validate("^spx"), "^SPX");
  assert.equal(STOCK_COMMAND.validate("brk-b.us"), "BRK-B.US");
  assert.equal(STOCK_COMMAND.validate("A"), "A");
  assert.equal(STOCK_COMMAND.validate("A".repeat(20)), "A".repeat(20));
});

Deno.test("STOCK_COMMAND.validate refuses empty and invalid codes", () => {
  for (const arg of ["", "   "]) {
    assert.throws(
      () => STOCK_COMMAND.validate(arg),
      commandError("invalid_command", "/stock= needs a stock code, e.g. /stock=AAPL.US"),
    );
  }
  assert.throws(
    () => STOCK_COMMAND.validate("$$$"),
    commandError("invalid_command", `"$$$" is not a stock code: use letters, digits and dots, e.g. AAPL.US`),
  );
  for (const arg of ["A".repeat(21), "AAPL US", "...", "^", "AAPL;DROP", "ÄPFEL", "AAPL\nUS"]) {
    assert.throws(() => STOCK_COMMAND.validate(arg), commandError("invalid_command"), JSON.stringify(arg));
  }
  assert.throws(
    () => STOCK_COMMAND.validate("x".repeat(100)),
    (error: unknown) => error instanceof CommandError && error.message.length < 120,
    "long input is shortened in the message",
  );
});

Deno.test("defaultRegistry resolves /stock", () => {
  const registry = defaultRegistry();
  const resolved = registry.resolve("/stock=aapl.us");
  assert.ok(resolved !== null);
  assert.equal(resolved.spec, STOCK_COMMAND);
  assert.equal(resolved.arg, "AAPL.US");
  assert.equal(resolved.spec.bot, "stockbot");
  assert.equal(registry.resolve(" /Stock=msft.us ")?.arg, "MSFT.US");
  assert.equal(registry.resolve("hello"), null);
  assert.equal(registry.resolve("//stock=AAPL.US"), null);
  assert.deepEqual(registry.list().map((spec) => spec.name), ["stock"]);
  assert.equal(registry.get("stock"), STOCK_COMMAND);
  assert.equal(registry.get("STOCK"), STOCK_COMMAND);
  assert.equal(registry.get("foo"), undefined);
});

Deno.test("resolve: unknown commands list the known ones", () => {
  const registry = defaultRegistry();
  assert.throws(
    () => registry.resolve("/foo"),
    commandError("unknown_command", `Unknown command "/foo". ${KNOWN}`),
  );
  assert.throws(
    () => registry.resolve("/FOO=bar"),
    commandError("unknown_command", `Unknown command "/foo". ${KNOWN}`),
  );
  assert.throws(
    () => registry.resolve("/$$$"),
    commandError("unknown_command", `Unknown command "/$$$". ${KNOWN}`),
  );
  assert.throws(
    () => registry.resolve("/"),
    commandError("unknown_command", `Unknown command "/". ${KNOWN}`),
  );
  assert.throws(
    () => new CommandRegistry().resolve("/stock=AAPL.US"),
    commandError("unknown_command", `Unknown command "/stock". Known commands: there are none`),
  );
});

Deno.test("resolve: invalid args are invalid_command", () => {
  const registry = defaultRegistry();
  for (const content of ["/stock=", "/stock", "/stock=  "]) {
    assert.throws(
      () => registry.resolve(content),
      commandError("invalid_command", "/stock= needs a stock code, e.g. /stock=AAPL.US"),
      content,
    );
  }
  assert.throws(
    () => registry.resolve("/stock=$$$"),
    commandError("invalid_command", `"$$$" is not a stock code: use letters, digits and dots, e.g. AAPL.US`),
  );
});

Deno.test("a second command is one register() call", () => {
  const weather: CommandSpec = {
    name: "weather",
    usage: "/weather=CITY",
    description: "current weather, e.g. /weather=Lisbon",
    bot: "weatherbot",
    validate(arg) {
      const city = arg.trim();
      if (city === "") {
        throw new CommandError("invalid_command", "/weather= needs a city, e.g. /weather=Lisbon");
      }
      return city;
    },
  };
  const registry = defaultRegistry().register(weather);
  assert.deepEqual(registry.resolve("/weather=Lisbon"), { spec: weather, arg: "Lisbon" });
  assert.throws(
    () => registry.resolve("/nope"),
    commandError(
      "unknown_command",
      `Unknown command "/nope". ${KNOWN}, /weather=CITY (current weather, e.g. /weather=Lisbon)`,
    ),
  );
  assert.throws(() => registry.register(weather), /already registered/);
  assert.throws(() => registry.register({ ...weather, name: "Bad Name" }), /Invalid command name/);
});

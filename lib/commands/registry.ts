/**
 * Chat commands: what a message starting with `/` means. Knows nothing about queues or the hub: the chat
 * server asks `resolve(content)` and gets either `null` (an ordinary message), a `{spec, arg}` to publish as
 * a job for `spec.bot`, or a `CommandError` to show the sender.
 *
 * Syntax (after trimming surrounding whitespace):
 * - `/name` or `/name=arg` (also `/name arg`): a command. The name is case-insensitive (lower-cased) and
 *   matches `[a-z][a-z0-9_-]*`; the arg is everything after the first `=` (or whitespace), trimmed.
 * - Anything else starting with a single `/` (`/`, `/$$$`, `/123`) is an attempted command with an unknown
 *   name: `resolve` answers `unknown_command` with the list of known commands, so typos are never posted
 *   silently as text.
 * - Escape: content starting with `//` is not a command. It is an ordinary message whose text is the content
 *   without its first `/` (`//shrug` posts `/shrug`); `unescape` does that, `escape` is the inverse for
 *   clients that want to send text starting with `/` literally.
 *
 * Adding a command is one `register(spec)` plus a bot consuming its jobs; nothing else changes.
 */

/** A command name: a letter, then letters, digits, `_` or `-`. */
const NAME = /^[a-z][a-z0-9_-]*$/;

export type CommandErrorCode = "unknown_command" | "invalid_command";

/** A message that looks like a command but cannot be run; `message` is meant for the sender. */
export class CommandError extends Error {
  readonly code: CommandErrorCode;

  constructor(code: CommandErrorCode, message: string) {
    super(message);
    this.name = "CommandError";
    this.code = code;
  }
}

export interface CommandSpec {
  /** Lower-case name, e.g. `stock`. */
  name: string;
  /** How to type it, e.g. `/stock=CODE`. */
  usage: string;
  /** A short human description, e.g. `stock quote, e.g. /stock=AAPL.US`. */
  description: string;
  /** The bot's username: the author of the answer, e.g. `stockbot`. */
  bot: string;
  /** Returns the normalised arg or throws a `CommandError` (`invalid_command`) meant for the sender. */
  validate(arg: string): string;
}

/** Splits `/name=arg` into its raw name token and arg; null when `content` is not a command at all. */
function split(content: string): { token: string; arg: string } | null {
  const text = content.trim();
  if (!text.startsWith("/") || text.startsWith("//")) return null;
  const match = /^\/([^\s=]*)(?:(?:=|\s+)([\s\S]*))?$/.exec(text);
  // The pattern always matches a string starting with "/"; the fallback keeps the types honest.
  if (match === null) return { token: text.slice(1), arg: "" };
  return { token: match[1].toLowerCase(), arg: (match[2] ?? "").trim() };
}

/** Shortens user text quoted back in an error message. */
function quote(text: string, max = 40): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max).join("") + "…";
}

/**
 * Parses a command: `/stock=AAPL.US` -> `{name: "stock", arg: "AAPL.US"}`, `/help` -> `{name: "help", arg:
 * ""}`. Null when `content` is not a command (does not start with `/`, or starts with the `//` escape).
 * Throws `CommandError` (`unknown_command`) when it starts with `/` but the name is malformed (`/$$$`).
 */
export function parseCommand(content: string): { name: string; arg: string } | null {
  const parts = split(content);
  if (parts === null) return null;
  if (!NAME.test(parts.token)) {
    throw new CommandError(
      "unknown_command",
      `"/${quote(parts.token)}" is not a command: commands look like /name or /name=value`,
    );
  }
  return { name: parts.token, arg: parts.arg };
}

/** The text an ordinary message stands for: `//shrug` -> `/shrug`; anything else is returned as is. */
export function unescape(content: string): string {
  const start = content.search(/\S/);
  if (start === -1 || !content.startsWith("//", start)) return content;
  return content.slice(0, start) + content.slice(start + 1);
}

/** The content to send so that `text` is posted literally: `/shrug` -> `//shrug`; other text is unchanged. */
export function escape(text: string): string {
  const start = text.search(/\S/);
  if (start === -1 || text[start] !== "/") return text;
  return text.slice(0, start) + "/" + text.slice(start);
}

export class CommandRegistry {
  readonly #specs = new Map<string, CommandSpec>();

  /** Adds a command; throws when the name is malformed or already taken. */
  register(spec: CommandSpec): this {
    if (!NAME.test(spec.name)) throw new Error(`Invalid command name "${spec.name}"`);
    if (this.#specs.has(spec.name)) throw new Error(`Command "${spec.name}" is already registered`);
    this.#specs.set(spec.name, spec);
    return this;
  }

  get(name: string): CommandSpec | undefined {
    return this.#specs.get(name.toLowerCase());
  }

  /** The commands in registration order. */
  list(): CommandSpec[] {
    return [...this.#specs.values()];
  }

  /**
   * Null for an ordinary message (see the module doc for `//`); `{spec, arg}` with the validated arg for a
   * known command. Throws `CommandError`: `unknown_command` (listing the known commands) or
   * `invalid_command` (from the spec's `validate`).
   */
  resolve(content: string): { spec: CommandSpec; arg: string } | null {
    const parts = split(content);
    if (parts === null) return null;
    const spec = NAME.test(parts.token) ? this.#specs.get(parts.token) : undefined;
    if (spec === undefined) throw new CommandError("unknown_command", this.#unknown(parts.token));
    return { spec, arg: spec.validate(parts.arg) };
  }

  #unknown(token: string): string {
    const known = this.list().map((spec) => `${spec.usage} (${spec.description})`);
    const list = known.length === 0 ? "there are none" : known.join(", ");
    return `Unknown command "/${quote(token)}". Known commands: ${list}`;
  }
}

/** Stock codes as Stooq knows them: `AAPL.US`, `^SPX`, `BRK-B.US`; 1-20 characters, at least one alphanumeric. */
const STOCK_CODE = /^(?=.*[A-Z0-9])[A-Z0-9.^-]{1,20}$/;

export const STOCK_COMMAND: CommandSpec = {
  name: "stock",
  usage: "/stock=CODE",
  description: "stock quote, e.g. /stock=AAPL.US",
  bot: "stockbot",
  validate(arg: string): string {
    const code = arg.trim().toUpperCase();
    if (code === "") {
      throw new CommandError("invalid_command", "/stock= needs a stock code, e.g. /stock=AAPL.US");
    }
    if (!STOCK_CODE.test(code)) {
      throw new CommandError(
        "invalid_command",
        `"${quote(arg.trim())}" is not a stock code: use letters, digits and dots, e.g. AAPL.US`,
      );
    }
    return code;
  },
};

/** The registry the chat server uses: `/stock=CODE`. */
export function defaultRegistry(): CommandRegistry {
  return new CommandRegistry().register(STOCK_COMMAND);
}

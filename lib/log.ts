/** Structured logging: an injected handler receives level, message and fields; a disabled level costs nothing. */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type LogHandler = (level: LogLevel, message: string, fields: LogFields) => void;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(LEVELS, value);
}

export class Logger {
  readonly #level: LogLevel;
  readonly #min: number;
  readonly #handler: LogHandler;
  readonly #fields: LogFields;

  constructor(level: LogLevel, handler: LogHandler, fields: LogFields = {}) {
    this.#level = level;
    this.#min = LEVELS[level];
    this.#handler = handler;
    this.#fields = fields;
  }

  /** A logger whose every entry also carries `fields`. */
  with(fields: LogFields): Logger {
    return new Logger(this.#level, this.#handler, { ...this.#fields, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return LEVELS[level] >= this.#min;
  }

  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.#log("warn", message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  #log(level: LogLevel, message: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    this.#handler(level, message, fields ? { ...this.#fields, ...fields } : this.#fields);
  }
}

/** A logger that drops everything (for tests). */
export const nullLogger: Logger = new Logger("error", () => {});

/** The production sink: one JSON line per entry on stdout. Errors become `{name, message, stack, cause}`. */
export function jsonLineHandler(write: (line: string) => void = defaultWrite): LogHandler {
  return (level, message, fields) => {
    const time = new Date().toISOString();
    let line: string;
    try {
      line = JSON.stringify({ time, level, msg: message, ...fields }, errorReplacer);
    } catch (error) {
      // A field JSON cannot hold (a BigInt, a cycle) must not turn a log call into a crash.
      line = JSON.stringify({ time, level, msg: message, log_error: String(error) });
    }
    write(line + "\n");
  };
}

const encoder = new TextEncoder();
function defaultWrite(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line));
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack, cause: value.cause };
  }
  return value;
}

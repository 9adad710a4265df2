/** JSON that is safe inside `<script type="application/json">`, and the check that a value survives JSON. */

const UNSAFE: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

/**
 * Escapes `<`, `>`, `&`, U+2028 and U+2029 in JSON text as `\uXXXX`, so the text cannot close its
 * `<script>` element and still parses to the same value.
 *
 * ```ts
 * escapeJsonForScript(JSON.stringify({ text: "</script>" })); // '{"text":"\u003c/script\u003e"}'
 * ```
 */
export function escapeJsonForScript(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (char) => UNSAFE[char]);
}

/**
 * Throws a `TypeError` naming the first part of `value` that `JSON.parse(JSON.stringify(value))` would not give
 * back: functions, symbols, bigints, non-finite numbers, class instances (Date, Map, ...), JSX and cycles.
 * `undefined` object properties are allowed (they are simply absent on the other side).
 */
export function assertJsonSerialisable(value: unknown, path = "props"): void {
  check(value, path, new Set());
}

function check(value: unknown, path: string, ancestors: Set<object>): void {
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return;
    throw new TypeError(`${path} is ${value}, which JSON cannot represent`);
  }
  if (typeof value !== "object") {
    throw new TypeError(`${path} is a ${typeof value}, which JSON cannot represent`);
  }
  // Preact marks its elements with an own `constructor: undefined`.
  if (Object.hasOwn(value, "constructor") && value.constructor === undefined) {
    throw new TypeError(`${path} is a JSX element, which JSON cannot represent`);
  }
  if (ancestors.has(value)) throw new TypeError(`${path} is a circular reference`);
  const prototype = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
    throw new TypeError(`${path} is a ${name}, not a plain object`);
  }
  ancestors.add(value);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) throw new TypeError(`${path}[${i}] is undefined, which JSON turns into null`);
      check(item, `${path}[${i}]`, ancestors);
    });
  } else {
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) check(item, `${path}.${key}`, ancestors);
    }
  }
  ancestors.delete(value);
}

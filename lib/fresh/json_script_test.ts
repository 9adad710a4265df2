import assert from "node:assert/strict";
import { h } from "preact";
import { assertJsonSerialisable, escapeJsonForScript } from "./json_script.ts";

Deno.test("escapeJsonForScript() escapes <, >, &, U+2028 and U+2029 and keeps the value", () => {
  const value = { text: "</script><script>alert(1)</script> & \u2028\u2029 <!--" };
  const escaped = escapeJsonForScript(JSON.stringify(value));
  assert.equal(/[<>&\u2028\u2029]/.test(escaped), false);
  assert.match(escaped, /\\u003c\/script\\u003e/);
  assert.deepEqual(JSON.parse(escaped), value);
});

Deno.test("assertJsonSerialisable() accepts plain JSON values and undefined properties", () => {
  assertJsonSerialisable({ a: 1, b: "x", c: [true, null, { d: 2.5 }], e: undefined, f: Object.create(null) });
});

Deno.test("assertJsonSerialisable() names what JSON would lose", async (t) => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  for (
    const [name, value, message] of [
      ["function", { onClick: () => {} }, /props\.onClick is a function/],
      ["Date", { at: new Date(0) }, /props\.at is a Date, not a plain object/],
      ["Map", { m: new Map() }, /props\.m is a Map/],
      ["bigint", { n: 1n }, /props\.n is a bigint/],
      ["NaN", { n: [NaN] }, /props\.n\[0\] is NaN/],
      ["undefined in an array", { list: [undefined] }, /props\.list\[0\] is undefined/],
      ["JSX", { children: h("b", null) }, /props\.children is a JSX element/],
      ["cycle", circular, /props\.self is a circular reference/],
    ] as const
  ) {
    await t.step(
      name,
      () => assert.throws(() => assertJsonSerialisable(value), { name: "TypeError", message }),
    );
  }
});

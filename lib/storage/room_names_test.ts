import assert from "node:assert/strict";
import { renamesForDuplicates, roomNameKey } from "./room_names.ts";

Deno.test("`roomNameKey()` trims, normalises (NFKC) and lower-cases", async (t) => {
  const cases: [name: string, key: string][] = [
    ["General", "general"],
    ["  General \n", "general"],
    ["ＧＥＮＥＲＡＬ", "general"],
    ["Ǆemal", "d\u017eemal"],
    ["Caf\u0065\u0301", "caf\u00e9"],
    ["ﬁle", "file"],
  ];
  for (const [name, key] of cases) {
    await t.step(JSON.stringify(name), () => assert.equal(roomNameKey(name), key));
  }
});

Deno.test("`renamesForDuplicates()` keeps the oldest name and suffixes later ones with a free number", async (t) => {
  const rooms = (...names: string[]) => names.map((name, i) => ({ id: `r${i}`, name }));
  const cases: [title: string, names: string[], expected: [id: string, name: string][]][] = [
    ["no duplicates", ["a", "b"], []],
    ["one duplicate in another case", ["General", "general"], [["r1", "general (2)"]]],
    ["three of a kind", ["x", " X", "x"], [["r1", " X (2)"], ["r2", "x (3)"]]],
    ["a suffix that a later room already has", ["a", "a", "a (2)"], [["r1", "a (3)"]]],
    ["a suffix that an earlier room already has", ["a (2)", "a", "A"], [["r2", "A (3)"]]],
  ];
  for (const [title, names, expected] of cases) {
    await t.step(title, () => assert.deepEqual([...renamesForDuplicates(rooms(...names))], expected));
  }
});

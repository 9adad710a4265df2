import assert from "node:assert/strict";
import { ChatError } from "../errors.ts";
import {
  checkDisplayNameFree,
  DISPLAY_NAME_PATTERN,
  displayNameProblem,
  parseProfileUpdate,
  usernameLookalike,
} from "./profile.ts";

const OK = [
  "Ada Lovelace",
  "Zoë",
  "李小龍",
  "محمد",
  "עברית",
  "👩‍💻 dev", // a zero-width joiner inside an emoji sequence is fine
  " padded ",
  "a\u200bb", // a zero-width space beside visible text
];
const REFUSED = [
  "\u202Eevil", // right-to-left override
  "abc\u202Dx", // left-to-right override
  "\u202Bembed", // right-to-left embedding
  "\u2067isolate\u2069", // right-to-left isolate, pop isolate
  "mark\u200F", // right-to-left mark
  "mark\u200E", // left-to-right mark
  "mark\u061C", // Arabic letter mark
  "\u200B\u200C\u200D", // zero-width only
  "\u2060\uFEFF", // word joiner and zero-width no-break space only
  "\u3164\u115F", // Hangul fillers only
  "\u00AD", // a soft hyphen only
  "\uDB40\uDC41\uDB40\uDC42", // tag characters only (U+E0041, U+E0042)
  "line\nbreak", // a control character
  "tab\there",
  "\u0085next",
  "lone \uD800", // not well-formed
];

Deno.test("displayNameProblem() refuses bidirectional controls, controls and names that show nothing", () => {
  for (const name of OK) assert.equal(displayNameProblem(name), null, JSON.stringify(name));
  for (const name of REFUSED) assert.notEqual(displayNameProblem(name), null, JSON.stringify(name));
});

Deno.test("DISPLAY_NAME_PATTERN (the OpenAPI document's) agrees with displayNameProblem() in the BMP", () => {
  const pattern = new RegExp(DISPLAY_NAME_PATTERN, "u");
  const bmp = [...OK, ...REFUSED].filter((name) => !/[\uD800-\uDFFF]/.test(name));
  for (const name of bmp) {
    assert.equal(pattern.test(name), displayNameProblem(name) === null, JSON.stringify(name));
  }
  // Every BMP character alone, and beside a visible letter.
  for (let code = 0; code < 0x10000; code++) {
    if (code >= 0xD800 && code <= 0xDFFF) continue;
    const c = String.fromCharCode(code);
    for (const name of [c, `a${c}`]) {
      assert.equal(
        pattern.test(name),
        displayNameProblem(name) === null,
        `U+${code.toString(16)} in ${name}`,
      );
    }
  }
});

Deno.test("parseProfileUpdate() answers invalid_display_name with the rule that was broken", () => {
  const refused = (display_name: unknown) => {
    try {
      parseProfileUpdate({ display_name });
    } catch (error) {
      assert.ok(error instanceof ChatError);
      assert.equal(error.code, "invalid_display_name");
      return error.message;
    }
    assert.fail(`${JSON.stringify(display_name)} was accepted`);
  };
  assert.match(refused("\u202Eevil"), /overrides/);
  assert.match(refused("\u200B\u200B"), /not only spaces or invisible/);
  assert.match(refused("x".repeat(65)), /at most 64 characters/);
  assert.match(refused("   "), /blank/);
  assert.deepEqual(parseProfileUpdate({ display_name: "Ada" }), { display_name: "Ada" });
  assert.deepEqual(parseProfileUpdate({ display_name: null }), { display_name: null });
});

Deno.test("checkDisplayNameFree() refuses another user's username, by NFKC, case and a leading @", async () => {
  const users = {
    byUsername: (name: string) =>
      Promise.resolve(
        name === "bob" ? { id: "b0b" } as never : name === "ada" ? { id: "ada1" } as never : null,
      ),
  };
  assert.equal(usernameLookalike(" ＢＯＢ "), "bob");
  assert.equal(usernameLookalike("@Bob"), "bob");
  for (const name of ["bob", "BOB", "ｂｏｂ", " @bob ", "Bob"]) {
    await assert.rejects(
      checkDisplayNameFree(users, "me", { display_name: name }),
      (error: unknown) => error instanceof ChatError && error.code === "invalid_display_name",
      name,
    );
  }
  await checkDisplayNameFree(users, "ada1", { display_name: "Ada" }); // one's own username
  await checkDisplayNameFree(users, "me", { display_name: "Bobby" });
  await checkDisplayNameFree(users, "me", { display_name: null });
  await checkDisplayNameFree(users, "me", {});
});

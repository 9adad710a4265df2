import assert from "node:assert/strict";
import { ChatError } from "../errors.ts";
import { fieldOf, formError } from "./form_errors.ts";

Deno.test("`fieldOf()` finds the form field a refusal belongs to", async (t) => {
  const cases: [code: ConstructorParameters<typeof ChatError>[0], fields: string[], expected: string][] = [
    ["invalid_email", ["email", "password"], "email"],
    ["invalid_avatar_url", ["display_name", "avatar_url"], "avatar_url"],
    ["username_taken", ["username", "email"], "username"],
    ["email_taken", ["username", "email"], "email"],
    ["room_name_taken", ["name", "description"], "name"],
    ["room_name_taken", ["room_name", "name"], "room_name"],
    ["room_name_taken", ["description"], "_form"],
    ["invalid_name", ["name"], "name"],
    ["invalid_display_name", ["name"], "_form"],
    ["rate_limited", ["name"], "_form"],
    ["forbidden", ["name"], "_form"],
  ];
  for (const [code, fields, expected] of cases) {
    await t.step(
      `${code} in [${fields}]`,
      () => assert.equal(fieldOf(new ChatError(code), fields), expected),
    );
  }
});

Deno.test("`formError()` puts a taken room name's message on the name field with status 409", () => {
  const error = new ChatError("room_name_taken", 'A room named "General" already exists');
  assert.deepEqual(formError(error, ["name", "description"]), {
    errors: { name: 'A room named "General" already exists' },
    status: 409,
    headers: {},
  });
  assert.throws(() => formError(new Error("boom"), ["name"]), /boom/);
});

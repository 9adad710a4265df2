import assert from "node:assert/strict";
import { Passwords } from "./password.ts";

const passwords = new Passwords(4); // the lowest cost bcrypt allows keeps the tests fast

Deno.test("Passwords.hash() makes a salted bcrypt $2b$ hash at the configured cost", async () => {
  const first = await passwords.hash("correct horse battery staple");
  const second = await passwords.hash("correct horse battery staple");
  assert.match(first, /^\$2b\$04\$[./A-Za-z0-9]{53}$/);
  assert.match(second, /^\$2b\$04\$[./A-Za-z0-9]{53}$/);
  assert.notEqual(first, second);
  assert.notEqual(first.slice(7, 29), second.slice(7, 29)); // the 22-character salt differs
});

Deno.test("Passwords.verify() is true for the right password and false for a wrong one", async (t) => {
  const hash = await passwords.hash("correct horse battery staple");
  assert.equal(await passwords.verify("correct horse battery staple", hash), true);
  for (
    const wrong of [
      "Correct horse battery staple",
      "correct horse battery stapl",
      "correct horse battery staple ",
      "",
    ]
  ) {
    await t.step(JSON.stringify(wrong), async () => {
      assert.equal(await passwords.verify(wrong, hash), false);
    });
  }
});

Deno.test("Passwords.verify() checks against a hash made at another cost", async () => {
  const hash = await new Passwords(5).hash("s3cret-pass");
  assert.ok(hash.startsWith("$2b$05$"));
  assert.equal(await passwords.verify("s3cret-pass", hash), true);
  assert.equal(await passwords.verify("s3cret-pasS", hash), false);
});

Deno.test("Passwords.verifyDummy() always resolves to false", async () => {
  assert.equal(await passwords.verifyDummy("anything"), false);
  assert.equal(await passwords.verifyDummy(""), false);
  assert.equal(await passwords.verifyDummy("anything"), false); // second call reuses the cached dummy hash
});

Deno.test("Passwords round-trips unicode passwords", async (t) => {
  const cases: [password: string, nearMiss: string][] = [
    ["pässwörd-ÄÖÜß", "passwörd-ÄÖÜß"],
    ["пароль-секрет", "пароль-секреТ"],
    ["密码密码密码", "密码密码密吗"],
    ["🔑🦕🔒 emoji ✨", "🔑🦖🔒 emoji ✨"],
    // No normalisation: the hash covers UTF-8 bytes, so NFC "é" and NFD "e\u0301" differ.
    ["caf\u00e9-naïve", "cafe\u0301-naïve"],
  ];
  for (const [password, nearMiss] of cases) {
    await t.step(password, async () => {
      const hash = await passwords.hash(password);
      assert.equal(await passwords.verify(password, hash), true);
      assert.equal(await passwords.verify(nearMiss, hash), false);
    });
  }
});

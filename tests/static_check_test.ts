/** The tree stays formatted and lint-clean (types are checked by `deno test` itself). */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

for (const [name, args] of [["deno fmt --check", ["fmt", "--check"]], ["deno lint", ["lint"]]] as const) {
  Deno.test(`${name} finds nothing to fix`, async () => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [...args],
      cwd: root,
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, output);
  });
}

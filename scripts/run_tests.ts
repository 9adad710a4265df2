/**
 * `deno task test`: makes sure the services the tests need are there (scripts/services.sh), runs the whole
 * suite with `deno test`, and ends with the plain line `N passed, N failed` that CI reads. Extra arguments go to
 * `deno test` (e.g. a file to run alone). Exits non-zero when anything failed.
 */
// deno-lint-ignore-file no-console

const root = new URL("..", import.meta.url).pathname;

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const child = new Deno.Command(cmd, { args, cwd: root, env, stdout: "inherit", stderr: "inherit" }).spawn();
  return (await child.status).code;
}

const servicesCode = await run("bash", ["scripts/services.sh"]);
if (servicesCode !== 0) {
  console.log(`scripts/services.sh failed with exit code ${servicesCode}`);
  console.log("0 passed, 1 failed");
  Deno.exit(1);
}

const files = Deno.args.length > 0 ? Deno.args : ["lib/", "tests/"];
const child = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--unstable-bundle", ...files],
  cwd: root,
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "inherit",
}).spawn();

let tail = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
}
const { code } = await child.status;

// Deno's summary: "ok | 12 passed (3 steps) | 0 failed (1s)" or "FAILED | 10 passed | 2 failed (1s)".
const summary = [...tail.matchAll(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)]
  .pop();
if (summary === undefined) {
  console.log(`deno test ended with exit code ${code} and no summary`);
  console.log("0 passed, 1 failed");
  Deno.exit(code === 0 ? 1 : code);
}
const [, passed, failed] = summary;
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(code !== 0 ? code : Number(failed) > 0 ? 1 : 0);

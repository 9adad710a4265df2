/**
 * `deno task test`: makes sure the services the tests need are there (scripts/services.sh), runs the whole
 * suite with `deno test`, then runs the core integration suite a second time against MongoDB (a FerretDB server
 * started for it), and ends with the plain line `N passed, N failed` that CI reads (both passes added up).
 * Arguments, if any, are files for a single `deno test` pass. Exits non-zero when anything failed.
 */
// deno-lint-ignore-file no-console
import { startFerretDb } from "../tests/helpers/ferretdb.ts";

const root = new URL("..", import.meta.url).pathname;
/** The core issue's integration suite, which must also pass with DATABASE_URL on MongoDB. */
const MONGO_PASS = ["tests/api_test.ts", "tests/ws_test.ts", "tests/process_test.ts"];

interface PassResult {
  passed: number;
  failed: number;
  code: number;
}

async function run(cmd: string, args: string[]): Promise<number> {
  const child = new Deno.Command(cmd, { args, cwd: root, stdout: "inherit", stderr: "inherit" }).spawn();
  return (await child.status).code;
}

/** Runs `deno test` on `files`, streaming its output, and reads Deno's own summary line. */
async function denoTest(files: string[], env: Record<string, string> = {}): Promise<PassResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", "--unstable-bundle", ...files],
    cwd: root,
    env: { NO_COLOR: "1", ...env },
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
  // "ok | 12 passed (3 steps) | 0 failed (1s)" or "FAILED | 10 passed | 2 failed (1s)".
  const summary = [...tail.matchAll(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)]
    .pop();
  if (summary === undefined) {
    console.log(`deno test ended with exit code ${code} and no summary`);
    return { passed: 0, failed: 1, code: code === 0 ? 1 : code };
  }
  return { passed: Number(summary[1]), failed: Number(summary[2]), code };
}

async function mongoPass(): Promise<PassResult> {
  console.log("\n=== The core integration suite again, on MongoDB (FerretDB) ===\n");
  let ferret;
  try {
    ferret = await startFerretDb();
  } catch (error) {
    console.log(`Cannot start FerretDB: ${error instanceof Error ? error.message : error}`);
    return { passed: 0, failed: 1, code: 1 };
  }
  try {
    return await denoTest(MONGO_PASS, { TEST_MONGO_URL: ferret.url });
  } finally {
    await ferret.stop();
  }
}

const servicesCode = await run("bash", ["scripts/services.sh"]);
if (servicesCode !== 0) {
  console.log(`scripts/services.sh failed with exit code ${servicesCode}`);
  console.log("0 passed, 1 failed");
  Deno.exit(1);
}

const passes = Deno.args.length > 0
  ? [await denoTest(Deno.args)]
  : [await denoTest(["lib/", "tests/"]), await mongoPass()];
const passed = passes.reduce((n, p) => n + p.passed, 0);
const failed = passes.reduce((n, p) => n + p.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(passes.some((p) => p.code !== 0) ? passes.find((p) => p.code !== 0)!.code : failed > 0 ? 1 : 0);

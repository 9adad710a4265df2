/**
 * Fuzzes the REST API against its own OpenAPI document with Schemathesis (PyPI, in `.venv-schemathesis/`,
 * installed by scripts/services.sh at the version pinned there). A real server process is started with
 * generous rate limits; Schemathesis reads /api/openapi.json and runs its examples, coverage, fuzzing and
 * stateful (links) phases as two signed-in users (a Web Fuzzing Commons auth file: `first` and `second`),
 * with every check it has (no `--checks`, which would override the per-operation settings below): no 5xx, no
 * response the document does not describe (status, content type, headers, schema), every request that
 * violates the document refused and every one that keeps to it accepted, 405 with `Allow` for a method a path
 * does not answer, no answer without the token where one is required, nothing readable after a delete or
 * just after a create, and no user reading another's objects.
 *
 * Where a check cannot know a rule, it is told per operation, each for a reason no schema can say:
 * - `positive_data_acceptance` takes a 400 from `REFUSED_BY_STATE`: a rule of stored state or a secret, not of
 *   the request's shape: a wrong current password or reset token, a display name that is another user's
 *   username (Schemathesis registers `alice` from the document's example), a direct conversation with
 *   oneself, a password over 72 bytes of UTF-8 (JSON Schema counts characters), two history cursors at once
 *   (a schema constrains each query parameter alone), a message starting with `/` that is no known command, a
 *   rooms `cursor` this list did not give (it is opaque: any string of its alphabet fits the schema).
 *   The document states each rule in words.
 * - `ensure_resource_availability` is off for adding and removing members: a user named in the request who
 *   does not exist, or a creator who has left the room (the `LeaveRoom` link) and is then removed
 *   (`RemoveCreator`), is rightly 404 `user_not_found` or `member_not_found`, which the check reads as the new
 *   room missing.
 * - `object_level_authorization` is off for `SHARED_BY_DESIGN`: profiles and public rooms (their members and
 *   history) are readable by every signed-in user. Private rooms are 404 to non-members (tests/api_test.ts).
 *
 * Left out of the run, on purpose: the operations that end the session of the token every request carries
 * (`SESSION_ENDING`): `POST /api/auth/logout`, `POST /api/auth/logout-all`, and `DELETE /api/sessions/{id}`
 * (Schemathesis reuses ids from earlier answers, so it deletes the session `GET /api/sessions` lists).
 * tests/openapi_test.ts checks their answers against the document, and the run ends by checking that the
 * tokens still work. `POST /api/users/me/password` stays in: no answer holds the current password, which is
 * never generated.
 *
 * `SCHEMATHESIS_MAX_EXAMPLES` (default 50) and `SCHEMATHESIS_SEED` (default fixed; `random` for a new one)
 * tune a run, e.g. `SCHEMATHESIS_MAX_EXAMPLES=500 SCHEMATHESIS_SEED=random deno test -A tests/schemathesis_test.ts`.
 */
// deno-lint-ignore-file no-console
import assert from "node:assert/strict";
import { testDatabaseUrl } from "./helpers/database.ts";
import { spawnServer } from "./helpers/process.ts";
import { api, newUser } from "./helpers/server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const VENV = `${ROOT}.venv-schemathesis`;
const ST = `${VENV}/bin/st`;
/** The whole Schemathesis run is stopped after this long (it takes about 10 s at 50 examples). */
const RUN_TIMEOUT_MS = 150_000;

/** Operations that end the caller's session (see above), by operationId. */
const SESSION_ENDING = ["logout", "logoutAll", "endSession"];

/** Operations whose schema-valid requests may be refused (400) by a rule of stored state or a secret (above). */
const REFUSED_BY_STATE = [
  "register",
  "updateMe",
  "confirmPasswordReset",
  "changePassword",
  "twoFactorEnable",
  "twoFactorDisable",
  "openDirectRoom",
  "getMessages",
  "postMessage",
  "listRooms",
];

/** Operations that answer every signed-in user alike for public objects (see above). */
const SHARED_BY_DESIGN = ["getUser", "getRoom", "listMembers", "getMessages"];

/**
 * Statuses that count as refusing schema-violating data (413 and 415 included: the body limits), and the
 * statuses that count as accepting schema-valid data (Schemathesis' defaults, 400 too for `REFUSED_BY_STATE`).
 */
function config(dir: string): string {
  return `[auth.wfc]
path = "${dir}/auth.json"
peers = ["first", "second"]

[checks]
negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "409", "413", "415", "429"]

[[operations]]
include-operation-id-regex = "^(${REFUSED_BY_STATE.join("|")})$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-operation-id-regex = "^(addMember|removeMember)$"
checks.ensure_resource_availability.enabled = false

[[operations]]
include-operation-id-regex = "^(${SHARED_BY_DESIGN.join("|")})$"
checks.object_level_authorization.enabled = false
`;
}

/** The version scripts/services.sh installs: `SCHEMATHESIS_VERSION=…` there is the one pin. */
async function pinnedVersion(): Promise<string> {
  const script = await Deno.readTextFile(`${ROOT}scripts/services.sh`);
  const match = /^SCHEMATHESIS_VERSION=(\S+)$/m.exec(script);
  assert.ok(match, "scripts/services.sh pins SCHEMATHESIS_VERSION");
  return match[1];
}

async function output(cmd: string, args: string[], options: Deno.CommandOptions = {}) {
  const result = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...options }).output();
  const decoder = new TextDecoder();
  return { code: result.code, text: decoder.decode(result.stdout) + decoder.decode(result.stderr) };
}

async function installedVersion(): Promise<string | null> {
  try {
    const { code, text } = await output(ST, ["--version"]);
    return code === 0 ? /version (\S+)/.exec(text)?.[1] ?? null : null;
  } catch {
    return null;
  }
}

/**
 * The `st` executable at the pinned version. Under CI it must already be there (scripts/services.sh runs
 * first): the test fails otherwise, never skips. On a developer machine it is installed here when missing.
 */
async function schemathesis(): Promise<string> {
  const version = await pinnedVersion();
  const installed = await installedVersion();
  if (installed === version) return ST;
  const problem = installed === null ? "is not installed" : `is ${installed}, not ${version}`;
  if (Deno.env.get("CI") === "true") {
    assert.fail(`Schemathesis in .venv-schemathesis ${problem}; scripts/services.sh installs it`);
  }
  console.log(`Schemathesis ${problem}: installing ${version} into .venv-schemathesis (once)`);
  await Deno.remove(VENV, { recursive: true }).catch(() => {});
  for (
    const [cmd, args] of [
      ["python3", ["-m", "venv", VENV]],
      [`${VENV}/bin/pip`, ["install", "-q", "--disable-pip-version-check", `schemathesis==${version}`]],
    ] as const
  ) {
    const { code, text } = await output(cmd, [...args]);
    assert.equal(code, 0, `${cmd} ${args.join(" ")} failed:\n${text}`);
  }
  assert.equal(await installedVersion(), version);
  return ST;
}

Deno.test("Schemathesis, every check, two users: no 5xx and no answer that contradicts /api/openapi.json", async () => {
  const st = await schemathesis();
  const dir = await Deno.makeTempDir({ prefix: "chat-schemathesis-" });
  const server = await spawnServer({
    DATABASE_URL: testDatabaseUrl(dir),
    RATE_LIMIT_PER_SEC: "100000",
    RATE_LIMIT_BURST: "100000",
    AUTH_RATE_LIMIT_PER_MIN: "1000000",
    AUTH_RATE_LIMIT_BURST: "100000",
    BCRYPT_COST: "4",
    // The in-process stock bot answers commands (202) from a closed local port: nothing leaves the machine.
    QUOTE_URL: "http://127.0.0.1:9/q/l/",
    QUOTE_TIMEOUT_MS: "200",
  });
  try {
    // Two users, so that object_level_authorization can read one's objects as the other.
    const users = [await newUser(server.url, "fuzz"), await newUser(server.url, "peer")];
    const auth = ["first", "second"].map((name, i) => ({
      name,
      fixedHeaders: [{ name: "Authorization", value: `Bearer ${users[i].token}` }],
    }));
    await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify({ auth }));
    await Deno.writeTextFile(`${dir}/schemathesis.toml`, config(dir));
    const seed = Deno.env.get("SCHEMATHESIS_SEED") ?? "20261123";
    const args = [
      "--config-file",
      `${dir}/schemathesis.toml`,
      "run",
      `${server.url}/api/openapi.json`,
      // No --checks: every check runs, and the configuration's per-operation settings hold (a check named on
      // the command line would override them).
      ...SESSION_ENDING.flatMap((id) => ["--exclude-operation-id", id]),
      "--max-examples",
      Deno.env.get("SCHEMATHESIS_MAX_EXAMPLES") ?? "50",
      ...(seed === "random" ? [] : ["--seed", seed]),
      "--request-timeout",
      "10",
      "--generation-database",
      "none",
      "--generation-with-security-parameters",
      "false",
      "--output-truncate",
      "true",
      "--no-color",
    ];
    const started = performance.now();
    // Run in the temp folder: Schemathesis and Hypothesis write their caches and reports to the working folder.
    const { code, text } = await output(st, args, {
      cwd: dir,
      env: { NO_COLOR: "1", PYTHONDONTWRITEBYTECODE: "1" },
      signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (code !== 0) console.log(text);
    assert.equal(code, 0, `Schemathesis failed (exit ${code}) after ${seconds} s; its report is above`);
    const summary = /(\d+) generated, (\d+) passed/.exec(text);
    assert.ok(summary && Number(summary[1]) > 500, `Schemathesis ran too few cases:\n${text.slice(-2000)}`);
    console.log(`Schemathesis: ${summary[0]} in ${seconds} s`);
    for (const user of users) {
      const me = await api(server.url, "GET", "/api/users/me", { token: user.token });
      assert.equal(me.status, 200, "the run's tokens still work: no operation ended their sessions");
    }
    const errors = server.logs.filter((entry) => entry.level === "error");
    assert.deepEqual(errors, [], "the server logged no error while fuzzed");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

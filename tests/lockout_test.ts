/**
 * Account lockout against real servers: one server process on 127.0.0.1 attacked from many loopback source
 * addresses (so the per-IP limit is not what stops the attack), a real Mailpit for the password reset that lifts
 * the lock, and three instances behind Redis that share one lock.
 */
import assert from "node:assert/strict";
import { type Cluster, startCluster } from "../scripts/cluster_lib.ts";
import { loopbackAddress, type LoopbackResponse, postJsonFrom } from "./helpers/loopback.ts";
import { startMailpit } from "./helpers/mailpit.ts";
import { spawnServer } from "./helpers/process.ts";
import { api, waitUntil } from "./helpers/server.ts";

const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "a brand new passphrase";
const LOCK_LOG = "Account locked after failed sign-ins";
/** The per-IP limit out of the way: only the per-account lockout may stop these attempts. */
const UNLIMITED = { AUTH_RATE_LIMIT_PER_MIN: "60000", AUTH_RATE_LIMIT_BURST: "100000" };

interface Account {
  id: string;
  email: string;
}

async function register(base: string, name: string): Promise<Account> {
  const username = `${name}_${crypto.randomUUID().slice(0, 6)}`;
  const email = `${username}@example.com`;
  const res = await api(base, "POST", "/api/auth/register", {
    body: { username, email, password: PASSWORD },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, email };
}

/** The error code of a JSON error answer. */
function codeOf(res: LoopbackResponse): string | undefined {
  return (res.body as { error?: { code?: string } } | null)?.error?.code;
}

/** Asserts a 429 `account_locked` with a Retry-After of 1 to 60 seconds (the first lock lasts one minute). */
function assertLocked(res: { status: number; headers: Headers; body: unknown }, what: string): void {
  assert.equal(res.status, 429, `${what}: ${JSON.stringify(res.body)}`);
  assert.equal((res.body as { error: { code: string } }).error.code, "account_locked", what);
  const retryAfter = Number(res.headers.get("retry-after"));
  assert.ok(
    Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
    `${what}: Retry-After ${res.headers.get("retry-after")}`,
  );
}

Deno.test("lockout: 100 guesses from 50 addresses reach the password check 5 times; a reset lifts the lock", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-lockout-" });
  const mailpit = await startMailpit();
  const server = await spawnServer({
    DATABASE_URL: `sqlite:${dir}/chat.db`,
    SMTP_URL: mailpit.smtpUrl,
    MAIL_FROM: "Chat <chat@example.com>",
    ...UNLIMITED,
  });
  try {
    const login = `${server.url}/api/auth/login`;
    const victim = await register(server.url, "victim");
    const other = await register(server.url, "other");
    const sources = Array.from({ length: 50 }, (_, i) => loopbackAddress(i));

    // All at once: attempts in flight hold the account's budget, so parallel guesses cannot get past it.
    const answers = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => postJsonFrom(sources[i % 50], login, { email: victim.email, password: `wrong ${i}` }),
      ),
    );
    const checked = answers.filter((res) => res.status === 401);
    assert.equal(checked.length, 5, "exactly 5 guesses reached the password check");
    for (const res of checked) assert.equal(codeOf(res), "invalid_credentials");
    const refused = answers.filter((res) => res.status !== 401);
    assert.equal(refused.length, 95);
    refused.forEach((res, i) => assertLocked(res, `refused guess #${i}`));

    // Locked for everyone and every password, the right one too, from an address that never guessed.
    assertLocked(
      await postJsonFrom(loopbackAddress(60), login, { email: victim.email, password: PASSWORD }),
      "the right password while locked",
    );
    assertLocked(
      await postJsonFrom(sources[0], login, { login: victim.email, password: PASSWORD }),
      "by `login` while locked",
    );
    // Another account, from the same addresses, is untouched.
    const otherIn = await postJsonFrom(sources[0], login, { email: other.email, password: PASSWORD });
    assert.equal(otherIn.status, 200, JSON.stringify(otherIn.body));
    assert.equal((otherIn.body as { user: { id: string } }).user.id, other.id);
    assert.equal(Object.hasOwn(otherIn.body as object, "notice"), false);
    const otherWrong = await postJsonFrom(sources[1], login, { email: other.email, password: "nope nope" });
    assert.equal(otherWrong.status, 401);
    assert.equal(codeOf(otherWrong), "invalid_credentials");

    // A reset through the mailed link lifts the lock at once.
    const requested = await api(server.url, "POST", "/api/auth/password-reset", {
      body: { email: victim.email },
    });
    assert.equal(requested.status, 202);
    assert.deepEqual(requested.body, { status: "sent" });
    const mail = await mailpit.waitForMessage(victim.email);
    const token = mail.text.match(/\/reset-password\?token=([A-Za-z0-9_-]+)/)?.[1];
    assert.ok(token, `a reset link in:\n${mail.text}`);
    const confirmed = await api(server.url, "POST", "/api/auth/password-reset/confirm", {
      body: { token, new_password: NEW_PASSWORD },
    });
    assert.equal(confirmed.status, 204, JSON.stringify(confirmed.body));

    const back = await postJsonFrom(sources[2], login, { email: victim.email, password: NEW_PASSWORD });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    const { notice, user } = back.body as {
      user: { id: string };
      notice?: { failed_attempts: number; locks: number; last_failure_at: string };
    };
    assert.equal(user.id, victim.id);
    assert.ok(notice, "the first sign-in after the attack tells of it");
    assert.deepEqual([notice.failed_attempts, notice.locks], [5, 1]);
    assert.equal(new Date(notice.last_failure_at).toISOString(), notice.last_failure_at);
    const again = await postJsonFrom(sources[3], login, { email: victim.email, password: NEW_PASSWORD });
    assert.equal(again.status, 200);
    assert.equal(Object.hasOwn(again.body as object, "notice"), false, "told once");
    const old = await postJsonFrom(sources[4], login, { email: victim.email, password: PASSWORD });
    assert.equal(old.status, 401);
    assert.equal(codeOf(old), "invalid_credentials");

    // The log line of the reset comes after every line of the attack: by then the lock was logged once.
    await waitUntil(
      () => server.logs.some((l) => l.msg === "Password reset" && l.user_id === victim.id),
      "the reset's log line",
    );
    const locks = server.logs.filter((l) => l.msg === LOCK_LOG);
    assert.equal(locks.length, 1, JSON.stringify(locks));
    assert.equal(locks[0].level, "warn");
    assert.equal(locks[0].user_id, victim.id);
    assert.equal(locks[0].failed, "password");
    assert.equal(locks[0].retry_after_ms, 60_000);
    assert.ok(sources.includes(locks[0].ip as string), `logged from a guessing address: ${locks[0].ip}`);
  } finally {
    await server.stop();
    await mailpit.close();
    await Deno.remove(dir, { recursive: true });
  }
});

async function withCluster(fn: (cluster: Cluster) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-lockout-cluster-" });
  const cluster = await startCluster({ dir, instances: 3, env: { ...UNLIMITED, BCRYPT_COST: "4" } });
  try {
    await fn(cluster);
  } finally {
    await cluster.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("lockout: 3 instances behind Redis share the lock: 5 failures spread over them lock it on all", () =>
  withCluster(async (cluster) => {
    const victim = await register(cluster.url, "shared");
    const other = await register(cluster.url, "bystander");
    const direct = cluster.instances.map((i) => `http://127.0.0.1:${i.port}`);
    // 2, 2 and 1 failures: no instance alone saw 5.
    for (let i = 0; i < 5; i++) {
      const res = await api(direct[i % 3], "POST", "/api/auth/login", {
        body: { email: victim.email, password: `wrong ${i}` },
      });
      assert.equal(res.status, 401, `failure ${i + 1}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "invalid_credentials");
    }
    for (const [i, base] of direct.entries()) {
      const res = await api(base, "POST", "/api/auth/login", {
        body: { email: victim.email, password: PASSWORD },
      });
      assertLocked(res, `instance ${i + 1}`);
      const bystander = await api(base, "POST", "/api/auth/login", {
        body: { email: other.email, password: PASSWORD },
      });
      assert.equal(bystander.status, 200, `another account on instance ${i + 1}`);
    }
  }));

/**
 * Ending a session across a real cluster (scripts/cluster_lib.ts: Redis, three instances, nginx): whichever
 * instance a logout, logout everywhere, `DELETE /api/sessions/:id`, password change or reset reaches, every instance
 * refuses the ended sessions' access tokens (401 `session_revoked`) and closes their sockets with 4003 within
 * a second, while the sessions that stay keep their sockets and their messages.
 */
import assert from "node:assert/strict";
import { type Cluster, startCluster } from "../scripts/cluster_lib.ts";
import { api, type ApiResult } from "./helpers/server.ts";
import { TestSocket } from "./helpers/socket.ts";
import { startMailpit } from "./helpers/mailpit.ts";

const ENV = {
  RATE_LIMIT_PER_SEC: "1000",
  RATE_LIMIT_BURST: "1000",
  AUTH_RATE_LIMIT_PER_MIN: "60000",
  AUTH_RATE_LIMIT_BURST: "10000",
  BCRYPT_COST: "4",
};
const PASSWORD = "correct horse battery";
/** How soon after the ending request's answer every instance must know. */
const WITHIN_MS = 1_000;

interface Account {
  id: string;
  email: string;
  password: string;
}

interface SignIn {
  token: string;
  refresh_token: string;
  session_id: string;
}

let accounts = 0;

async function register(url: string, prefix: string): Promise<Account> {
  const username = `${prefix}${++accounts}_${crypto.randomUUID().slice(0, 6)}`;
  const body = { username, email: `${username}@example.com`, password: PASSWORD };
  const res = await api(url, "POST", "/api/auth/register", { body });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, email: body.email, password: PASSWORD };
}

async function signIn(url: string, account: Account): Promise<SignIn> {
  const res = await api(url, "POST", "/api/auth/login", {
    body: { email: account.email, password: account.password },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { token: res.body.token, refresh_token: res.body.refresh_token, session_id: res.body.session_id };
}

const urlOf = (cluster: Cluster, i: number) => `http://127.0.0.1:${cluster.instances[i].port}`;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One socket of a session on one instance, with the moment its close arrived. */
interface Placed {
  session: SignIn;
  instance: number;
  socket: TestSocket;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

/** What one case does: the sessions it ends and keeps, and the request that ends them. */
interface Case {
  ending: SignIn[];
  staying: SignIn[];
  end(): Promise<ApiResult>;
  /** The ending request's answer: status and body. */
  answer: [number, unknown];
}

/**
 * Runs a case: the sessions' tokens work on every instance (so each instance has them cached) and each has a
 * socket on every instance; then the ending request, and from its answer every instance is polled directly.
 */
async function run(cluster: Cluster, roomId: string, poster: SignIn, c: Case): Promise<void> {
  const instances = cluster.instances.map((_, i) => i);
  for (const session of [...c.ending, ...c.staying]) {
    for (const i of instances) {
      assert.equal((await api(urlOf(cluster, i), "GET", "/api/users/me", session)).status, 200);
    }
  }
  const placed: Placed[] = [];
  try {
    for (const session of [...c.ending, ...c.staying]) {
      for (const i of instances) {
        const socket = await TestSocket.open(
          `ws://127.0.0.1:${cluster.instances[i].port}/ws?token=${session.token}`,
        );
        const closed = socket.closed.then((e) => ({ ...e, at: performance.now() }));
        placed.push({ session, instance: i, socket, closed });
      }
    }
    // A pong comes after the socket's set-up (its rooms subscribed).
    await Promise.all(placed.map((p) => p.socket.sync()));

    const res = await c.end();
    const answeredAt = performance.now();
    assert.deepEqual([res.status, res.body], c.answer, "the ending request's answer");

    // Every instance refuses every ended session's token, polled directly.
    const refusedAfter = await Promise.all(
      c.ending.flatMap((session) =>
        instances.map(async (i) => {
          for (;;) {
            const check = await api(urlOf(cluster, i), "GET", "/api/users/me", session);
            const after = performance.now() - answeredAt;
            if (check.status === 401) {
              assert.equal(check.body.error.code, "session_revoked");
              return after;
            }
            assert.equal(check.status, 200);
            assert.ok(after < 5_000, `instance ${i} still accepts an ended session after 5 s`);
            await delay(5);
          }
        })
      ),
    );
    for (const [n, ms] of refusedAfter.entries()) {
      assert.ok(ms < WITHIN_MS, `check ${n}: refused ${ms.toFixed(0)} ms after the answer`);
    }

    // Every socket of an ended session, on every instance, is closed with 4003.
    for (const p of placed.filter((p) => c.ending.includes(p.session))) {
      const closed = await p.closed;
      assert.deepEqual(
        [closed.code, closed.reason],
        [4003, "Signed out"],
        `socket on instance ${p.instance}`,
      );
      const ms = closed.at - answeredAt;
      assert.ok(
        ms < WITHIN_MS,
        `socket on instance ${p.instance} closed ${ms.toFixed(0)} ms after the answer`,
      );
    }

    // The sessions that stay keep their tokens and their sockets, which still receive the room's messages.
    const staying = placed.filter((p) => c.staying.includes(p.session));
    const sent = await api(cluster.url, "POST", `/api/rooms/${roomId}/messages`, {
      token: poster.token,
      body: { content: `still here ${crypto.randomUUID()}` },
    });
    assert.equal(sent.status, 201);
    await Promise.all(staying.map((p) => p.socket.waitFor((f) => f.id === sent.body.id, "the message")));
    for (const p of staying) {
      await p.socket.sync();
      assert.equal((await api(urlOf(cluster, p.instance), "GET", "/api/users/me", p.session)).status, 200);
    }
    assert.equal(staying.length, c.staying.length * instances.length);
  } finally {
    await Promise.all(placed.map((p) => p.socket.close()));
  }
}

Deno.test("an ended session is refused on every instance and its sockets everywhere closed with 4003 within 1 s", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "chat-sessions-cluster-" });
  // A real SMTP server for the password reset's mail.
  const mailpit = await startMailpit();
  const cluster = await startCluster({
    dir,
    env: { ...ENV, SMTP_URL: mailpit.smtpUrl, MAIL_FROM: "Chat <chat@example.com>" },
  }).catch(async (error) => {
    await mailpit.close();
    throw error;
  });
  try {
    const host = await register(cluster.url, "host");
    const hosting = await signIn(cluster.url, host);
    const room = await api(cluster.url, "POST", "/api/rooms", {
      token: hosting.token,
      body: { name: "all" },
    });
    assert.equal(room.status, 201);
    const roomId = room.body.id as string;
    /** A new member of the room, signed in `count` times (round-robin over the instances by nginx). */
    const member = async (prefix: string, count: number) => {
      const account = await register(cluster.url, prefix);
      const sessions: SignIn[] = [];
      for (let i = 0; i < count; i++) sessions.push(await signIn(cluster.url, account));
      const joined = await api(cluster.url, "POST", `/api/rooms/${roomId}/join`, sessions[0]);
      assert.equal(joined.status, 200);
      return sessions;
    };

    await t.step("logout", async () => {
      const [a, b] = await member("logout", 2);
      await run(cluster, roomId, hosting, {
        ending: [a],
        staying: [b],
        end: () => api(cluster.url, "POST", "/api/auth/logout", a),
        answer: [204, null],
      });
    });

    await t.step("DELETE /api/sessions/:id", async () => {
      const [a, b] = await member("delete", 2);
      await run(cluster, roomId, hosting, {
        ending: [a],
        staying: [b],
        end: () => api(cluster.url, "DELETE", `/api/sessions/${a.session_id}`, b),
        answer: [204, null],
      });
    });

    await t.step("logout-all", async () => {
      const [a, b] = await member("everywhere", 2);
      const [other] = await member("bystander", 1);
      await run(cluster, roomId, hosting, {
        ending: [a, b],
        staying: [other],
        end: () => api(cluster.url, "POST", "/api/auth/logout-all", b),
        answer: [200, { ended: 2 }],
      });
    });

    await t.step("password change", async () => {
      const [a, b, c] = await member("password", 3);
      await run(cluster, roomId, hosting, {
        ending: [b, c],
        staying: [a],
        end: () =>
          api(cluster.url, "POST", "/api/users/me/password", {
            token: a.token,
            body: { current_password: PASSWORD, new_password: "a brand new passphrase" },
          }),
        answer: [200, { ended_sessions: 2 }],
      });
    });

    await t.step("password reset", async () => {
      const account = await register(cluster.url, "reset");
      const a = await signIn(cluster.url, account);
      const b = await signIn(cluster.url, account);
      assert.equal((await api(cluster.url, "POST", `/api/rooms/${roomId}/join`, a)).status, 200);
      const [other] = await member("watcher", 1);
      await run(cluster, roomId, hosting, {
        ending: [a, b],
        staying: [other],
        end: async () => {
          const asked = await api(cluster.url, "POST", "/api/auth/password-reset", {
            body: { email: account.email },
          });
          assert.equal(asked.status, 202);
          const mail = await mailpit.waitForMessage(account.email, 10_000);
          const token = /\/reset-password\?token=([\w-]+)/.exec(mail.text)?.[1];
          assert.ok(token, mail.text);
          return await api(cluster.url, "POST", "/api/auth/password-reset/confirm", {
            body: { token, new_password: "a reset passphrase" },
          });
        },
        answer: [204, null],
      });
    });
  } finally {
    await cluster.stop();
    await mailpit.close();
    await Deno.remove(dir, { recursive: true });
  }
});

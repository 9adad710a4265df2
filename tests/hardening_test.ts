/**
 * The small findings of the hardening review (issue 16), each reproduced against a real server process
 * (`main.ts`, as an operator starts it, no proxy in front): the subprotocol `chat,bearer.<jwt>` without a space,
 * an `Origin` with the right host and the wrong scheme or port, `next` values that leave the site, display
 * names that pass for someone else, a 64 MiB form body, API and page headers, unsupported methods, hostile
 * header values, and the link-ifier on pathological messages.
 */
import assert from "node:assert/strict";
import { testDatabaseUrl } from "./helpers/database.ts";
import { type ServerProcess, spawnServer } from "./helpers/process.ts";
import { api, createRoom, newUser, type TestUser } from "./helpers/server.ts";
import { rawUpgrade } from "./helpers/socket.ts";

/** A server process on a fresh SQLite file; `use` runs with it, then the process and the folder go. */
async function withServer(
  env: Record<string, string>,
  use: (server: ServerProcess) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat-hardening-" });
  const server = await spawnServer({ DATABASE_URL: testDatabaseUrl(dir), ...env });
  try {
    await use(server);
    const errors = server.logs.filter((entry) => entry.level === "error");
    assert.deepEqual(errors, [], "the server logged no error");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/**
 * Sends `head` (request line and headers, without the blank line) and `body` as bytes, with
 * `Connection: close`, and reads the answer to the end. For what `fetch` refuses to send: TRACE, bytes over
 * 0x7F in a header, any `Host`.
 */
async function rawRequest(
  port: number,
  head: string,
  body: Uint8Array = new Uint8Array(),
): Promise<RawAnswer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const start = latin1(`${head}\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`);
    await conn.write(start);
    if (body.length > 0) await conn.write(body);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65_536);
    for (let n; (n = await conn.read(buffer)) !== null;) chunks.push(buffer.slice(0, n));
    const text = new TextDecoder().decode(concat(chunks));
    const end = text.indexOf("\r\n\r\n");
    return { status: Number(text.split(" ")[1]), head: text.slice(0, end), body: text.slice(end + 4) };
  } finally {
    conn.close();
  }
}

/** Each character as one byte (header values may carry bytes 0x80-0xFF). */
function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** A header of a raw answer's head, lower-cased name; undefined when absent. */
function headerOf(head: string, name: string): string | undefined {
  const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

Deno.test("the socket takes `chat,bearer.<jwt>` without a space (Node's ws client), and any subprotocol list", async () => {
  await withServer({}, async (server) => {
    const user = await newUser(server.url, "proto");
    const t = user.token;
    for (
      const offer of [`chat,bearer.${t}`, `chat, bearer.${t}`, ` chat ,\tbearer.${t} `, `bearer.${t},chat`]
    ) {
      const answer = await rawUpgrade(server.port, "/ws", { "Sec-WebSocket-Protocol": offer });
      assert.equal(answer.status, 101, `${JSON.stringify(offer)}: ${answer.head}`);
      assert.equal(headerOf(answer.head, "sec-websocket-protocol"), "chat", offer);
      answer.conn.close();
    }
    // Only the token: it is the one offered, so it is the one chosen.
    const bearerOnly = await rawUpgrade(server.port, "/ws", { "Sec-WebSocket-Protocol": `bearer.${t}` });
    assert.equal(bearerOnly.status, 101);
    assert.equal(headerOf(bearerOnly.head, "sec-websocket-protocol"), `bearer.${t}`);
    bearerOnly.conn.close();
    // Malformed lists: never a 500, whatever they hold (the token in the query authenticates).
    for (
      const offer of [
        ",,,",
        "chat,,",
        "chat;bearer.x",
        '"chat"',
        "chat bearer.x",
        "c h a t",
        "x".repeat(4000),
      ]
    ) {
      const answer = await rawUpgrade(server.port, `/ws?token=${t}`, { "Sec-WebSocket-Protocol": offer });
      assert.ok(
        answer.status === 101 || (answer.status >= 400 && answer.status < 500),
        `${offer}: ${answer.status}`,
      );
      answer.conn.close();
    }
  });
});

Deno.test("Origin is compared as scheme, host and port: https://host on an http site is refused", async () => {
  await withServer({}, async (server) => {
    const user = await newUser(server.url, "origin");
    const host = `127.0.0.1:${server.port}`;
    const cookie = `chat_session=${user.token}`;
    const post = (origin: string) =>
      api(server.url, "POST", "/api/rooms", {
        headers: { origin, cookie },
        body: { name: `Room ${crypto.randomUUID().slice(0, 8)}` },
      });
    for (
      const origin of [
        `https://${host}`,
        `http://127.0.0.1:${server.port + 1}`,
        `http://localhost:${server.port}`,
      ]
    ) {
      const refused = await post(origin);
      assert.deepEqual([refused.status, refused.body.error?.code], [403, "origin_not_allowed"], origin);
      const socket = await rawUpgrade(server.port, "/ws", { Origin: origin, Cookie: cookie });
      assert.equal(socket.status, 403, `the socket from ${origin}`);
    }
    assert.equal((await post(`http://${host}`)).status, 201, "the page's own origin");
    const socket = await rawUpgrade(server.port, "/ws", { Origin: `http://${host}`, Cookie: cookie });
    assert.equal(socket.status, 101);
    socket.conn.close();
  });
});

Deno.test("`next` after a sign-in is followed only to a same-site path; a CRLF in it is no 500", async () => {
  await withServer({}, async (server) => {
    const user = await newUser(server.url, "next");
    /** Signs in with the home page's form, posted to `/?next=<raw>`; answers the redirect's Location. */
    const signIn = async (raw: string) => {
      const response = await fetch(`${server.url}/?next=${raw}`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          intent: "login",
          login: user.username,
          password: "correct horse battery",
        }),
      });
      await response.body?.cancel();
      assert.equal(response.status, 303, raw);
      return response.headers.get("location");
    };
    const refused = [
      "/%5Cevil.example", // "/\evil.example": a browser goes to evil.example
      "/%09/evil.example", // a tab, which browsers drop: "//evil.example"
      "/%0A/evil.example",
      "%2F%2Fevil.example",
      "/./%2Fevil.example",
      "https://evil.example/",
      "/rooms%0D%0ASet-Cookie:%20x=1", // CR LF: was a 500
      "/rooms%20x",
      "/%E2%80%A8x", // U+2028
    ];
    for (const raw of refused) assert.equal(await signIn(raw), "/rooms", raw);
    assert.equal(await signIn("%2Frooms%2Fabc%3Fx%3D1"), "/rooms/abc?x=1");
    assert.equal(await signIn("/profile"), "/profile");
    assert.equal(await signIn("/"), "/");
    // The renewal of an expired page session: the same rule; without a refresh cookie it goes to sign in.
    for (const [raw, location] of [["/%5Cevil.example", "/"], ["%2Fprofile", "/?next=%2Fprofile"]]) {
      const response = await fetch(`${server.url}/api/auth/refresh?next=${raw}`, { redirect: "manual" });
      await response.body?.cancel();
      assert.deepEqual([response.status, response.headers.get("location")], [303, location], raw);
    }
  });
});

Deno.test("display names cannot hold bidi overrides, be only invisible, or be another user's username; lists show @username", async () => {
  await withServer({}, async (server) => {
    const ada = await newUser(server.url, "ada");
    const mallory = await newUser(server.url, "mal");
    const rename = (user: TestUser, display_name: string) =>
      api(server.url, "PATCH", "/api/users/me", { token: user.token, body: { display_name } });
    const fullWidth = [...ada.username].map((c) =>
      /[a-z0-9]/.test(c) ? String.fromCodePoint(c.codePointAt(0)! + 0xFEE0) : c
    ).join("");
    const refused = [
      ["an override", `\u202E${ada.username}`],
      ["an isolate", `\u2067x\u2069`],
      ["a right-to-left mark", `Ada\u200F`],
      ["zero-width only", "\u200B\u200C\u200D\uFEFF"],
      ["Hangul fillers only", "\u3164\u3164"],
      ["another user's username", ada.username],
      ["it upper-cased", ada.username.toUpperCase()],
      ["it with @", `@${ada.username}`],
      ["it in full-width letters (NFKC)", fullWidth],
    ];
    for (const [what, name] of refused) {
      const answer = await rename(mallory, name);
      assert.deepEqual([answer.status, answer.body.error?.code], [400, "invalid_display_name"], what);
    }
    assert.equal((await rename(ada, ada.username.toUpperCase())).status, 200, "one's own username is fine");
    assert.equal((await rename(mallory, "Ada Lovelace")).status, 200);

    // The profile form says the same, by its field.
    const form = await fetch(`${server.url}/profile`, {
      method: "POST",
      headers: {
        cookie: `chat_session=${mallory.token}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ display_name: ada.username }),
    });
    assert.equal(form.status, 400);
    assert.match(await form.text(), /another user(&#x27;|&#39;|')s username/);

    // Where Mallory could pass for Ada, her username shows beside her chosen name.
    const room = await createRoom(server.url, ada);
    await api(server.url, "POST", `/api/rooms/${room.id}/join`, { token: mallory.token });
    await api(server.url, "POST", `/api/rooms/${room.id}/messages`, {
      token: mallory.token,
      body: { content: "Hello from Ada, honest" },
    });
    const page = await fetch(`${server.url}/rooms/${room.id}`, {
      headers: { cookie: `chat_session=${ada.token}` },
    });
    const html = await page.text();
    assert.equal(page.status, 200);
    const members = /<ul id="members"[\s\S]*?<\/ul>/.exec(html)?.[0] ?? "";
    assert.match(members, new RegExp(`Ada Lovelace</span><span class="muted">\\(@${mallory.username}\\)`));
    assert.ok(
      html.includes(`title="Ada Lovelace (@${mallory.username})"`),
      "the message author says who on hover",
    );
  });
});

Deno.test("one body limit for every route: a 64 MiB form gets 413 after reading at most a few MiB", async () => {
  await withServer({}, async (server) => {
    const total = 64 * 1024 * 1024;
    /** Posts `total` bytes (declared or chunked) and stops writing when the answer comes: status, bytes sent. */
    const flood = async (path: string, type: string, chunked: boolean) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const framing = chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${total}`;
      await conn.write(
        latin1(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\n${framing}\r\n\r\n`),
      );
      let sent = 0;
      let answer = "";
      let open = true;
      const closeOnce = () => {
        if (open) conn.close();
        open = false;
      };
      const reading = (async () => {
        const buffer = new Uint8Array(65_536);
        for (let n; (n = await conn.read(buffer).catch(() => null)) !== null;) {
          answer += new TextDecoder().decode(buffer.subarray(0, n));
          if (answer.includes("\r\n\r\n")) break;
        }
        closeOnce(); // also ends a write that waits for the server to read
      })();
      // Without a limit the server reads all 64 MiB and may take long over it: give up after 20 s.
      const timer = setTimeout(closeOnce, 20_000);
      const chunk = latin1("a=" + "b".repeat(65_534));
      const size = latin1(`${chunk.length.toString(16)}\r\n`);
      try {
        while (sent < total && answer === "") {
          if (chunked) await conn.write(size);
          await conn.write(chunk);
          if (chunked) await conn.write(latin1("\r\n"));
          sent += chunk.length;
        }
        if (chunked && answer === "") await conn.write(latin1("0\r\n\r\n"));
      } catch {
        // Closed once the answer came.
      }
      await reading;
      clearTimeout(timer);
      return { status: Number(answer.split(" ")[1]), sent };
    };
    const form = "application/x-www-form-urlencoded";
    for (const [path, type] of [["/", form], ["/rooms", form], ["/api/auth/login", "application/json"]]) {
      for (const chunked of [false, true]) {
        const { status, sent } = await flood(path, type, chunked);
        assert.equal(status, 413, `${path} ${chunked ? "chunked" : "with Content-Length"}`);
        // What is in flight in the sockets' buffers at most; the server stopped at 64 KiB of it.
        assert.ok(sent < total / 4, `${path}: ${sent} bytes went out before the answer`);
      }
    }
    // The avatar's form takes an image of up to 256 KB: its route has the larger limit.
    const user = await newUser(server.url, "avatar");
    const upload = (bytes: number) => {
      const body = new FormData();
      body.set("display_name", "");
      body.set("avatar_file", new File([new Uint8Array(bytes)], "me.png", { type: "image/png" }));
      return fetch(`${server.url}/profile`, {
        method: "POST",
        headers: { cookie: `chat_session=${user.token}` },
        body,
      });
    };
    const accepted = await upload(200 * 1024);
    await accepted.body?.cancel();
    assert.equal(accepted.status, 200, "a 200 KB avatar is taken");
    const me = await api(server.url, "GET", "/api/users/me", { token: user.token });
    assert.match(me.body.avatar_url, /^data:image\/png;base64,/);
    const tooLarge = await upload(1024 * 1024);
    await tooLarge.body?.cancel();
    assert.equal(tooLarge.status, 413);
  });
});

Deno.test("API answers are nosniff and no-store, every page has a Referrer-Policy, other methods get 405 with Allow", async () => {
  await withServer({}, async (server) => {
    const user = await newUser(server.url, "headers");
    const apiAnswers = [
      await fetch(`${server.url}/api/health`),
      await fetch(`${server.url}/api/users/me`, { headers: { authorization: `Bearer ${user.token}` } }),
      await fetch(`${server.url}/api/users/me`),
      await fetch(`${server.url}/api/nowhere`),
      await fetch(`${server.url}/api/rooms`, {
        method: "PUT",
        headers: { authorization: `Bearer ${user.token}` },
      }),
    ];
    for (const answer of apiAnswers) {
      await answer.body?.cancel();
      assert.equal(answer.headers.get("x-content-type-options"), "nosniff", answer.url);
      assert.equal(answer.headers.get("cache-control"), "no-store", `${answer.url} ${answer.status}`);
    }
    for (const path of ["/", "/rooms", "/nowhere", "/api/docs", "/forgot-password"]) {
      const answer = await fetch(server.url + path, { redirect: "manual" });
      await answer.body?.cancel();
      assert.equal(answer.headers.get("referrer-policy"), "same-origin", path);
    }
    // TRACE (which fetch cannot send) and others, on known paths: 405 with what the path answers.
    const cases: [string, string, string][] = [
      ["TRACE", "/api/health", "GET, HEAD, OPTIONS"],
      ["TRACE", "/api/auth/login", "POST, OPTIONS"],
      ["TRACE", "/api/docs", "GET, HEAD, OPTIONS"],
      ["DELETE", "/api/openapi.json", "GET, HEAD, OPTIONS"],
      ["TRACE", "/ws", "GET, HEAD"],
      ["POST", "/metrics", "GET, HEAD"],
      ["TRACE", "/", "GET, HEAD, POST"],
      ["PUT", "/forgot-password", "GET, HEAD, POST"],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await rawRequest(server.port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1`);
      assert.deepEqual([answer.status, headerOf(answer.head, "allow")], [405, allow], `${method} ${path}`);
    }
    const signedIn = await rawRequest(
      server.port,
      `TRACE /api/users/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${user.token}`,
    );
    assert.deepEqual([signedIn.status, headerOf(signedIn.head, "allow")], [405, "GET, HEAD, PATCH, OPTIONS"]);
    assert.equal(JSON.parse(signedIn.body).error.code, "method_not_allowed");
    const unknown = await rawRequest(server.port, "TRACE /api/nowhere HTTP/1.1\r\nHost: 127.0.0.1");
    assert.equal(unknown.status, 404, "an unknown path stays 404");
  });
});

Deno.test("no header value makes the server answer 500", async () => {
  await withServer({}, async (server) => {
    const user = await newUser(server.url, "hostile");
    const room = await createRoom(server.url, user);
    const values = [
      "",
      " ",
      "\xff\xfe\x80",
      "null",
      "http://[",
      "https://",
      "javascript:alert(1)",
      "%00",
      "a".repeat(6000),
      "=;=;=",
      "\t",
      "bearer.\xff",
      "Bearer \xc3\x28",
      "chat_session=\xff; chat_refresh=%ZZ",
      "x, , ,",
      "multipart/form-data; boundary=zz",
      "multipart/form-data",
      "application/x-www-form-urlencoded; charset=\xff",
    ];
    const headers = [
      "Origin",
      "Cookie",
      "Authorization",
      "Sec-WebSocket-Protocol",
      "X-Forwarded-For",
      "X-Forwarded-Proto",
      "Accept-Language",
      "Accept-Encoding",
      "If-None-Match",
      "Content-Type",
      "X-Request-Id",
      "User-Agent",
    ];
    const targets = [
      ["GET", "/"],
      ["GET", `/rooms/${room.id}`],
      ["POST", "/"],
      ["GET", "/api/users/me"],
      ["POST", "/api/rooms"],
      ["GET", "/api/auth/refresh?next=%0D%0A"],
      ["GET", "/ws"],
      ["GET", "/static/styles.css"],
    ];
    const problems: string[] = [];
    for (const [method, path] of targets) {
      for (const name of headers) {
        for (const value of values) {
          const upgrade = path === "/ws"
            ? "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
            : "";
          const answer = await rawRequest(
            server.port,
            `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}${upgrade}\r\n${name}: ${value}`,
            method === "POST" ? latin1("{}") : undefined,
          );
          if (!(answer.status >= 100 && answer.status < 500)) {
            problems.push(
              `${method} ${path} ${name}: ${JSON.stringify(value.slice(0, 40))} -> ${answer.status}`,
            );
          }
        }
      }
    }
    // Hosts, which fetch would not send.
    for (const host of ["", "\xff", "[::1", "a b", "127.0.0.1:99999", "evil.example"]) {
      const answer = await rawRequest(server.port, `GET / HTTP/1.1\r\nHost: ${host}`);
      if (!(answer.status >= 100 && answer.status < 500)) {
        problems.push(`Host ${JSON.stringify(host)} -> ${answer.status}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});

Deno.test("50 pathological link messages render the room page about as fast as 50 plain ones", async () => {
  await withServer({}, async (server) => {
    const user = await newUser(server.url, "links");
    // As long as MAX_MESSAGE_CHARS (4000 by default) allows: the old link-ifier backtracked quadratically.
    const pathological = "http://a" + ".".repeat(3991) + "x";
    const plain = "http://a.example/page ".repeat(200).slice(0, 4000);
    const rooms: Record<string, string> = {};
    for (const [kind, content] of [["pathological", pathological], ["plain", plain]]) {
      const room = await createRoom(server.url, user);
      rooms[kind] = room.id;
      for (let i = 0; i < 50; i++) {
        const sent = await api(server.url, "POST", `/api/rooms/${room.id}/messages`, {
          token: user.token,
          body: { content },
        });
        assert.equal(sent.status, 201);
      }
    }
    /** Milliseconds to render a room page, the median of several, alternating rooms so both see the same load. */
    const times: Record<string, number[]> = { pathological: [], plain: [] };
    for (let round = 0; round < 7; round++) {
      for (const kind of ["plain", "pathological"]) {
        const started = performance.now();
        const page = await fetch(`${server.url}/rooms/${rooms[kind]}`, {
          headers: { cookie: `chat_session=${user.token}` },
        });
        const html = await page.text();
        times[kind].push(performance.now() - started);
        assert.equal(page.status, 200);
        assert.ok(html.includes("http://a"), "the messages are on the page");
      }
    }
    const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
    const ratio = median(times.pathological) / median(times.plain);
    assert.ok(ratio < 3, `pathological ${median(times.pathological)} ms vs plain ${median(times.plain)} ms`);
  });
});

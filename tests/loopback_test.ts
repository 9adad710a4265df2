import assert from "node:assert/strict";
import { loopbackAddress, postJsonFrom } from "./helpers/loopback.ts";

/** A server on 127.0.0.1 that answers with the address it sees the request come from, and what it got. */
function echoServer() {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req, info) => {
    const headers = new Headers({ "content-type": "application/json; charset=utf-8" });
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    const body = {
      from: info.remoteAddr.hostname,
      method: req.method,
      path: new URL(req.url).pathname + new URL(req.url).search,
      contentType: req.headers.get("content-type"),
      token: req.headers.get("authorization"),
      forwarded: req.headers.get("x-forwarded-for"),
      got: await req.json(),
    };
    return Response.json(body, { status: body.got.status ?? 200, headers });
  });
}

Deno.test("`postJsonFrom` reaches a server on 127.0.0.1 from the loopback address it is given", async () => {
  const server = echoServer();
  const url = `http://127.0.0.1:${server.addr.port}/api/auth/login?x=1`;
  try {
    const sources = ["127.0.0.1", ...Array.from({ length: 50 }, (_, i) => loopbackAddress(i))];
    const responses = await Promise.all(sources.map((ip, i) => postJsonFrom(ip, url, { i })));
    assert.deepEqual(responses.map((r) => (r.body as { from: string }).from), sources);
    assert.deepEqual(responses.map((r) => (r.body as { got: unknown }).got), sources.map((_, i) => ({ i })));

    const res = await postJsonFrom("127.0.0.9", url, { status: 429 }, { authorization: "Bearer t" });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("set-cookie"), "a=1, b=2");
    assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
    assert.deepEqual(res.body, {
      from: "127.0.0.9",
      method: "POST",
      path: "/api/auth/login?x=1",
      contentType: "application/json",
      token: "Bearer t",
      forwarded: null,
      got: { status: 429 },
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("`postJsonFrom` rejects a source address this host does not have", async () => {
  const server = echoServer();
  try {
    // 192.0.2.0/24 is reserved for documentation: no host has it.
    await assert.rejects(postJsonFrom("192.0.2.1", `http://127.0.0.1:${server.addr.port}/`, {}), /bind/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("`loopbackAddress` counts up from 127.0.0.2 across octets", () => {
  assert.deepEqual([0, 1, 253, 254, 65_534, 0xfffffd].map(loopbackAddress), [
    "127.0.0.2",
    "127.0.0.3",
    "127.0.0.255",
    "127.0.1.0",
    "127.1.0.0",
    "127.255.255.255",
  ]);
  assert.throws(() => loopbackAddress(-1), RangeError);
  assert.throws(() => loopbackAddress(0xfffffe), RangeError);
});

import assert from "node:assert/strict";
import { loadConfig } from "../config.ts";
import { errorHandler } from "./error_handler.ts";
import { apiCors, originAllowed, sameOrigin } from "./origins.ts";
import { webTestApp } from "./testing/test_utils.ts";

Deno.test("originAllowed() lets through no Origin, the request's own host and CORS_ORIGINS only", async (t) => {
  const listed = loadConfig({ APP_ENV: "test", CORS_ORIGINS: "https://ok.example" });
  const any = loadConfig({ APP_ENV: "test", CORS_ORIGINS: "*" });
  const request = (origin?: string) =>
    new Request("http://chat.local/x", {
      headers: origin ? { origin, host: "chat.local" } : { host: "chat.local" },
    });
  const cases: [string, string | undefined, boolean, boolean][] = [
    ["no Origin (not a browser)", undefined, true, true],
    ["same host", "http://chat.local", true, true],
    ["same host, other scheme", "https://chat.local", false, true],
    ["same host, other port", "http://chat.local:8080", false, true],
    ["same host, default port spelt out", "http://chat.local:80", true, true],
    ["same host in other case", "http://CHAT.local", true, true],
    ["same host with credentials", "http://user@chat.local", false, true],
    ["listed", "https://ok.example", true, true],
    ["foreign", "https://evil.example", false, true],
    ["not a URL", "null", false, true],
  ];
  for (const [name, origin, withList, withStar] of cases) {
    await t.step(name, () => {
      assert.equal(originAllowed(request(origin), listed), withList);
      assert.equal(originAllowed(request(origin), any), withStar);
    });
  }
});

Deno.test("originAllowed() takes the scheme from TLS, X-Forwarded-Proto with TRUST_PROXY, or PUBLIC_URL", () => {
  const request = (url: string, origin: string, headers: Record<string, string> = {}) =>
    new Request(url, { headers: { origin, host: new URL(url).host, ...headers } });
  const plain = loadConfig({ APP_ENV: "test" });
  const proxied = loadConfig({ APP_ENV: "test", TRUST_PROXY: "true" });
  const published = loadConfig({ APP_ENV: "test", PUBLIC_URL: "https://chat.example.com" });
  const tls = "https://chat.example.com/x";
  const http = "http://chat.example.com/x";
  assert.equal(originAllowed(request(tls, "https://chat.example.com"), plain), true, "a TLS connection");
  assert.equal(originAllowed(request(tls, "http://chat.example.com"), plain), false, "http page, https site");
  const forwarded = { "x-forwarded-proto": "https" };
  assert.equal(originAllowed(request(http, "https://chat.example.com", forwarded), proxied), true);
  assert.equal(originAllowed(request(http, "http://chat.example.com", forwarded), proxied), false);
  assert.equal(
    originAllowed(request(http, "https://chat.example.com", forwarded), plain),
    false,
    "X-Forwarded-Proto is ignored without TRUST_PROXY",
  );
  assert.equal(originAllowed(request(http, "https://chat.example.com"), published), true, "PUBLIC_URL");
  assert.equal(originAllowed(request(http, "https://chat.example.com:8443"), published), false);
  assert.equal(originAllowed(request(http, "https://other.example"), published), false);
});

Deno.test("sameOrigin() refuses a state-changing request from a foreign origin unless it carries Authorization", async (t) => {
  const { app, services } = webTestApp({ CORS_ORIGINS: "https://ok.example" });
  app.use(sameOrigin());
  app.all("/x", (c) => c.text("done"));
  app.onError(errorHandler(services.log));
  const cases: [string, string, Record<string, string>, number][] = [
    ["GET from anywhere", "GET", { origin: "https://evil.example" }, 200],
    ["HEAD from anywhere", "HEAD", { origin: "https://evil.example" }, 200],
    ["OPTIONS from anywhere", "OPTIONS", { origin: "https://evil.example" }, 200],
    ["POST without Origin (curl)", "POST", {}, 200],
    ["POST from the same host", "POST", { origin: "http://chat.local", host: "chat.local" }, 200],
    ["POST from a listed origin", "POST", { origin: "https://ok.example" }, 200],
    ["POST with a Bearer token from anywhere", "POST", {
      origin: "https://evil.example",
      authorization: "Bearer t",
    }, 200],
    ["POST with the cookie from a foreign origin", "POST", {
      origin: "https://evil.example",
      cookie: "chat_session=t",
    }, 403],
    ["a form post from a foreign origin", "POST", {
      origin: "https://evil.example",
      "content-type": "application/x-www-form-urlencoded",
    }, 403],
    ["DELETE from a foreign origin", "DELETE", { origin: "https://evil.example" }, 403],
  ];
  for (const [name, method, headers, status] of cases) {
    await t.step(name, async () => {
      const response = await app.request("http://chat.local/x", { method, headers });
      assert.equal(response.status, status);
      if (status === 403) {
        assert.deepEqual(await response.json(), {
          error: { code: "origin_not_allowed", message: "Cross-origin request refused" },
        });
      } else await response.body?.cancel();
    });
  }
});

Deno.test("apiCors() answers preflights of CORS_ORIGINS only, with credentials unless it is *", async () => {
  const preflight = async (corsOrigins: string, origin: string) => {
    const { app, services } = webTestApp({ CORS_ORIGINS: corsOrigins });
    app.use(apiCors(services.config));
    app.post("/x", (c) => c.text("x"));
    const response = await app.request("/x", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST" },
    });
    return [
      response.headers.get("access-control-allow-origin"),
      response.headers.get("access-control-allow-credentials"),
    ];
  };
  assert.deepEqual(await preflight("https://ok.example", "https://ok.example"), [
    "https://ok.example",
    "true",
  ]);
  assert.deepEqual(await preflight("https://ok.example", "https://evil.example"), [null, "true"]);
  assert.deepEqual(await preflight("*", "https://any.example"), ["https://any.example", null]);
});

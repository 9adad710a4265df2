/**
 * HTTP requests from chosen loopback source addresses, so that one test can be many clients as a server sees
 * them (`info.remoteAddr`), without proxy headers. On Linux every address in 127.0.0.0/8 is local, so a socket
 * can be bound to 127.0.0.2, 127.0.0.3, … before it connects to a server on 127.0.0.1. `fetch` cannot choose its
 * source address; `node:http` can (`localAddress`).
 */

import { request } from "node:http";

/** A response as the helper read it. */
export interface LoopbackResponse {
  status: number;
  headers: Headers;
  /** Parsed when the response says it is JSON (`null` when such a body is empty); the text otherwise. */
  body: unknown;
}

/**
 * The `index`th loopback address other than 127.0.0.1: 0 → 127.0.0.2, 1 → 127.0.0.3, … 253 → 127.0.0.255,
 * 254 → 127.0.1.0, and so on (up to 16 million of them).
 */
export function loopbackAddress(index: number): string {
  const n = index + 2;
  if (!Number.isInteger(index) || index < 0 || n > 0xffffff) {
    throw new RangeError(`No loopback address #${index}`);
  }
  return `127.${n >> 16}.${(n >> 8) & 0xff}.${n & 0xff}`;
}

/**
 * POSTs `body` as JSON to `url` (plain http) from the local address `sourceIp`, on a connection of its own that
 * is closed afterwards. Rejects when `sourceIp` is not an address of this host or the request fails.
 *
 * @example
 * const res = await postJsonFrom("127.0.0.7", `${server.url}/api/auth/login`, { username, password });
 * assert.equal(res.status, 429);
 * assert.equal(res.headers.get("retry-after"), "60");
 */
export function postJsonFrom(
  sourceIp: string,
  url: string | URL,
  body: unknown,
  headers?: HeadersInit,
): Promise<LoopbackResponse> {
  const target = new URL(url);
  if (target.protocol !== "http:") {
    throw new TypeError(`postJsonFrom speaks plain http, not ${target.protocol}`);
  }
  const payload = new TextEncoder().encode(JSON.stringify(body));
  const outgoing: Record<string, string> = {};
  new Headers(headers).forEach((value, name) => outgoing[name] = value);
  outgoing["content-type"] ??= "application/json";
  outgoing["content-length"] = String(payload.length);

  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: "POST",
        hostname: target.hostname.replace(/^\[(.*)\]$/, "$1"),
        port: target.port || 80,
        path: target.pathname + target.search,
        localAddress: sourceIp,
        headers: outgoing,
        // No keep-alive agent: the connection ends with the response and nothing outlives the call.
        agent: false,
      },
      (res) => {
        const chunks: Uint8Array[] = [];
        res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const result = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
              result.append(name, v);
            }
          }
          const text = new TextDecoder().decode(concat(chunks));
          let parsed: unknown = text;
          if (/^application\/([\w.+-]+\+)?json\b/i.test(result.get("content-type") ?? "")) {
            try {
              parsed = text === "" ? null : JSON.parse(text);
            } catch (error) {
              reject(new Error(`Invalid JSON from ${url}: ${text.slice(0, 200)}`, { cause: error }));
              return;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: result, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

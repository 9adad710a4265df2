/**
 * Issue 17, a deaf bus: two real instances share a store (a SQLite file, or MongoDB on FerretDB) and one Redis; instance A reaches Redis through a
 * proxy that freezes its traffic for 40 s without closing anything (a link gone silent). A's clients still get
 * every message stored on instance B within `BUS_STALE_MAX_SECONDS` (default 10 s, the bound), in seq
 * order, once: A notices the silence with its bus probe and reads the store meanwhile. Health and metrics say so.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type ServerProcess, spawnServer } from "./helpers/process.ts";
import { type FerretDbServer, startFerretDb } from "./helpers/ferretdb.ts";
import { startMuteProxy, startRedis } from "./helpers/redis.ts";
import { api, newUser, type TestUser } from "./helpers/server.ts";

const FREEZE_MS = 40_000;
const STALE_MAX_MS = 10_000;
/** One message every this many ms from the publisher on B. */
const SEND_EVERY_MS = 200;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A socket that records, per stored frame of `room`, its seq and when it arrived. */
class Listener {
  readonly arrivals: { seq: number; at: number }[] = [];
  readonly ready: Promise<void>;
  readonly #ws: WebSocket;

  constructor(url: string, readonly room: string) {
    this.#ws = new WebSocket(url);
    // Ready at the first pong: the socket's set-up (its rooms subscribed) is done before any frame is handled.
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.ready = promise;
    this.#ws.onopen = () => this.#ws.send(JSON.stringify({ type: "ping" }));
    this.#ws.onerror = () => reject(new Error(`socket to ${url} failed`));
    this.#ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "pong") resolve();
      if ((frame.type === "text" || frame.type === "system") && frame.room_id === room) {
        this.arrivals.push({ seq: frame.seq, at: Date.now() });
      }
    };
  }

  seqs(): number[] {
    return this.arrivals.map((a) => a.seq);
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#ws.onclose = () => resolve());
    this.#ws.close();
    return closed;
  }
}

/** Sends a message on B every `SEND_EVERY_MS` and records when each seq was acked (stored). */
class Publisher {
  readonly ackedAt = new Map<number, number>();
  readonly ready: Promise<void>;
  readonly #ws: WebSocket;
  #sent = 0;

  constructor(url: string, readonly room: string) {
    this.#ws = new WebSocket(url);
    this.ready = new Promise((resolve) => this.#ws.onopen = () => resolve());
    this.#ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "ack") this.ackedAt.set(frame.seq, Date.now());
      if (frame.type === "error") throw new Error(`publisher got ${event.data}`);
    };
  }

  async run(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const n = this.#sent++;
      this.#ws.send(
        JSON.stringify({ type: "message", room_id: this.room, content: `m${n}`, client_id: `c${n}` }),
      );
      await delay(SEND_EVERY_MS);
    }
  }

  get sent(): number {
    return this.#sent;
  }

  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#ws.onclose = () => resolve());
    this.#ws.close();
    return closed;
  }
}

for (const kind of ["sqlite", "mongodb"] as const) {
  Deno.test(
    `[${kind}] a Redis link frozen ${FREEZE_MS / 1000} s: instance A's clients get B's messages within ` +
      `${STALE_MAX_MS / 1000} s, in order, once; health and metrics show the mode`,
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "chat-bus-deaf-" });
      const redis = await startRedis();
      const proxy = startMuteProxy(redis.port);
      const servers: ServerProcess[] = [];
      const sockets: { close(): Promise<void> }[] = [];
      let ferret: FerretDbServer | undefined;
      try {
        let databaseUrl = `sqlite:${join(dir, "chat.db")}`;
        if (kind === "mongodb") {
          ferret = await startFerretDb();
          databaseUrl = `${ferret.url.replace(/\/$/, "")}/deaf`;
        }
        const a = await spawnServer({
          DATABASE_URL: databaseUrl,
          REDIS_URL: proxy.url,
          INSTANCE_ID: "deaf-a",
        });
        servers.push(a);
        const b = await spawnServer({
          DATABASE_URL: databaseUrl,
          REDIS_URL: redis.url,
          INSTANCE_ID: "deaf-b",
        });
        servers.push(b);

        const owner = await newUser(b.url, "owner");
        const people: TestUser[] = [];
        for (let i = 0; i < 3; i++) people.push(await newUser(a.url, "listener"));
        const created = await api(b.url, "POST", "/api/rooms", {
          token: owner.token,
          body: { name: "deaf" },
        });
        assert.equal(created.status, 201);
        const room = created.body.id as string;
        for (const person of people) {
          assert.equal(
            (await api(a.url, "POST", `/api/rooms/${room}/join`, { token: person.token })).status,
            200,
          );
        }
        const listeners = people.map((p) =>
          new Listener(`ws://127.0.0.1:${a.port}/ws?token=${p.token}`, room)
        );
        sockets.push(...listeners);
        const publisher = new Publisher(`ws://127.0.0.1:${b.port}/ws?token=${owner.token}`, room);
        sockets.push(publisher);
        await Promise.all([...listeners.map((l) => l.ready), publisher.ready]);

        // Live over the bus first, then the link goes silent (A's publisher and subscriber connections both).
        await publisher.run(3_000);
        proxy.freeze();
        const frozenAt = Date.now();
        const during = publisher.run(FREEZE_MS);
        await delay(15_000);
        const health = await api(a.url, "GET", "/api/health");
        assert.equal(health.status, 200, "the store is fine");
        assert.equal(health.body.checks.bus, "degraded");
        const metrics = await (await fetch(`${a.url}/metrics`)).text();
        assert.match(metrics, /^chat_bus_catch_up 1$/m);
        assert.match(metrics, /^chat_bus_catch_up_messages_total [1-9]\d*$/m);
        await during;
        proxy.thaw();
        const thawedAt = Date.now();
        await publisher.run(5_000);

        // Every acked message reaches every listener on A.
        const deadline = Date.now() + 20_000;
        while (
          listeners.some((l) =>
            l.arrivals.length === 0 || l.seqs().at(-1)! < Math.max(...publisher.ackedAt.keys())
          )
        ) {
          if (Date.now() > deadline) break;
          await delay(100);
        }
        assert.equal(publisher.ackedAt.size, publisher.sent, "every message was stored");
        const acked = [...publisher.ackedAt.keys()].sort((x, y) => x - y);
        for (const listener of listeners) {
          const seqs = listener.seqs().filter((seq) => seq >= acked[0]);
          assert.deepEqual(seqs, acked, "every message, in seq order, once");
          let worst = 0;
          for (const { seq, at } of listener.arrivals) {
            const stored = publisher.ackedAt.get(seq);
            if (stored !== undefined) worst = Math.max(worst, at - stored);
          }
          assert.ok(
            worst <= STALE_MAX_MS,
            `a message waited ${worst} ms on A (frozen for ${thawedAt - frozenAt} ms)`,
          );
        }

        // Back to the bus alone.
        const after = Date.now() + 10_000;
        let text = "";
        while (Date.now() < after) {
          text = await (await fetch(`${a.url}/metrics`)).text();
          if (/^chat_bus_catch_up 0$/m.test(text)) break;
          await delay(200);
        }
        assert.match(text, /^chat_bus_catch_up 0$/m, "the catch-up stops once the bus delivers again");
      } finally {
        await Promise.allSettled(sockets.map((s) => s.close()));
        for (const server of servers.reverse()) await server.stop();
        await proxy.close();
        await redis.stop();
        await ferret?.stop();
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

/**
 * The contract every `Bus` adapter must pass. It sees only the interface in `bus.ts`, so the same suite runs
 * against `MemoryBus`, `RedisBus` and any later adapter.
 *
 * No case sleeps. A delivery is awaited through the handler (failing after `WAIT_MS`); that something was NOT
 * delivered is checked by publishing a later sentinel on the same channel to a subscribed bus and looking, once
 * the sentinel is there, at what came before it: a bus delivers each channel in publish order. This needs what
 * the hub needs anyway: `subscribe()` resolves once the subscription is in place, and `publish()` once the
 * broker has the payload.
 *
 * @example
 * // lib/bus/memory_test.ts
 * busContract("MemoryBus", async () => {
 *   const broker = new MemoryBroker();
 *   const a = new MemoryBus(broker);
 *   const b = new MemoryBus(broker);
 *   return { a, b, close: async () => { await a.close(); await b.close(); } };
 * });
 */

import assert from "node:assert/strict";
import type { Bus } from "../bus.ts";

/**
 * Two buses, not yet started, connected to the same broker (two instances of the server). `close()` closes both;
 * it runs after every case, also after a case that closed `b` itself, so it must tolerate a closed bus.
 */
export interface BusPair {
  a: Bus;
  b: Bus;
  close(): Promise<void>;
}

/** How long a case waits for a delivery before failing. */
const WAIT_MS = 2_000;

interface Delivery {
  channel: string;
  payload: string;
}

/** Records what one bus delivers and lets a case await a delivery. */
class Inbox {
  readonly received: Delivery[] = [];
  readonly #listeners = new Set<() => void>();

  constructor(readonly name: string) {}

  readonly handler = (channel: string, payload: string): void => {
    this.received.push({ channel, payload });
    for (const listener of [...this.#listeners]) listener();
  };

  /** The payloads delivered on `channel`, in delivery order. */
  payloads(channel: string): string[] {
    return this.received.filter((d) => d.channel === channel).map((d) => d.payload);
  }

  /** Resolves once `channel` has delivered `count` payloads in all; fails the case after `WAIT_MS`. */
  waitForCount(channel: string, count: number): Promise<void> {
    return this.#until(
      () => this.payloads(channel).length >= count,
      () => `${count} payload(s) on "${channel}" at bus ${this.name} (got ${this.payloads(channel).length})`,
    );
  }

  /** Resolves once `channel` has delivered `payload`; fails the case after `WAIT_MS`. */
  waitFor(channel: string, payload: string): Promise<void> {
    return this.#until(
      () => this.payloads(channel).includes(payload),
      () => `${JSON.stringify(payload.slice(0, 40))} on "${channel}" at bus ${this.name}`,
    );
  }

  #until(done: () => boolean, what: () => string): Promise<void> {
    if (done()) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const finish = () => {
      clearTimeout(timer);
      this.#listeners.delete(check);
    };
    const check = () => {
      if (!done()) return;
      finish();
      resolve();
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`Timed out after ${WAIT_MS} ms waiting for ${what()}`));
    }, WAIT_MS);
    this.#listeners.add(check);
    return promise;
  }
}

interface Context {
  a: Bus;
  b: Bus;
  inA: Inbox;
  inB: Inbox;
  /** A channel name unique to this case (adapters may share a broker between cases and runs). */
  channel(name: string): string;
}

/** Registers the contract suite as `Deno.test` cases named "`name` ...". Each case makes and closes a pair. */
export function busContract(name: string, makePair: () => Promise<BusPair>): void {
  function test(title: string, fn: (ctx: Context) => Promise<void>): void {
    Deno.test(`\`${name}\` ${title}`, async () => {
      const pair = await makePair();
      try {
        const inA = new Inbox("A");
        const inB = new Inbox("B");
        await pair.a.start(inA.handler);
        await pair.b.start(inB.handler);
        const prefix = `bus-contract:${crypto.randomUUID()}:`;
        await fn({ a: pair.a, b: pair.b, inA, inB, channel: (n) => prefix + n });
      } finally {
        await pair.close();
      }
    });
  }

  test("delivers a payload published on A to B exactly once, only while B is subscribed", async (ctx) => {
    const { a, b, inB } = ctx;
    const ch = ctx.channel("room");
    await a.publish(ch, "before subscribe");
    await b.subscribe(ch);
    await a.publish(ch, "after subscribe");
    await a.publish(ch, "twice");
    await a.publish(ch, "twice");
    await a.publish(ch, "sentinel");
    await inB.waitFor(ch, "sentinel");
    assert.deepEqual(inB.payloads(ch), ["after subscribe", "twice", "twice", "sentinel"]);
    assert.deepEqual(inB.received.map((d) => d.channel), [ch, ch, ch, ch]);
  });

  test("delivers the publisher's own payloads only while it is subscribed", async (ctx) => {
    const { a, inA } = ctx;
    const ch = ctx.channel("own");
    await a.publish(ch, "not subscribed yet");
    await a.subscribe(ch);
    await a.publish(ch, "own");
    await a.publish(ch, "sentinel");
    await inA.waitFor(ch, "sentinel");
    assert.deepEqual(inA.payloads(ch), ["own", "sentinel"]);
  });

  test("delivers to every subscribed bus, the publisher included", async (ctx) => {
    const { a, b, inA, inB } = ctx;
    const ch = ctx.channel("both");
    await a.subscribe(ch);
    await b.subscribe(ch);
    await b.publish(ch, "from B");
    await a.publish(ch, "from A");
    await inA.waitForCount(ch, 2);
    await inB.waitForCount(ch, 2);
    await a.publish(ch, "sentinel");
    await inA.waitFor(ch, "sentinel");
    await inB.waitFor(ch, "sentinel");
    // Publishes from two buses have no order between them; each bus gets each once.
    assert.deepEqual(inA.payloads(ch).toSorted(), ["from A", "from B", "sentinel"]);
    assert.deepEqual(inB.payloads(ch).toSorted(), ["from A", "from B", "sentinel"]);
    assert.equal(inA.payloads(ch)[2], "sentinel");
    assert.equal(inB.payloads(ch)[2], "sentinel");
  });

  test("unsubscribe() stops delivery", async (ctx) => {
    const { a, b, inB } = ctx;
    const ch = ctx.channel("unsub");
    await b.subscribe(ch);
    await a.publish(ch, "1");
    await inB.waitFor(ch, "1");
    await b.unsubscribe(ch);
    await a.publish(ch, "2 (unsubscribed)");
    await b.subscribe(ch);
    await a.publish(ch, "3");
    await inB.waitFor(ch, "3");
    assert.deepEqual(inB.payloads(ch), ["1", "3"]);
  });

  test("unsubscribe() of a channel never subscribed does nothing", async (ctx) => {
    const { a, b, inB } = ctx;
    const ch = ctx.channel("kept");
    await b.subscribe(ch);
    await b.unsubscribe(ctx.channel("never"));
    await a.publish(ch, "still here");
    await inB.waitFor(ch, "still here");
    assert.deepEqual(inB.payloads(ch), ["still here"]);
  });

  test("delivers 1,000 payloads in publish order", async (ctx) => {
    const { a, b, inB } = ctx;
    const ch = ctx.channel("order");
    await b.subscribe(ch);
    const sent = Array.from({ length: 1_000 }, (_, i) => `payload ${i}`);
    for (const payload of sent) await a.publish(ch, payload);
    await a.publish(ch, "sentinel");
    await inB.waitFor(ch, "sentinel");
    assert.deepEqual(inB.payloads(ch), [...sent, "sentinel"]);
  });

  test("keeps channels independent", async (ctx) => {
    const { a, b, inB } = ctx;
    const one = ctx.channel("one");
    const two = ctx.channel("two");
    await b.subscribe(one);
    await b.subscribe(two);
    await a.publish(one, "one: 1");
    await a.publish(two, "two: 1");
    await inB.waitFor(one, "one: 1");
    await inB.waitFor(two, "two: 1");

    await b.unsubscribe(one);
    await a.publish(one, "one: 2 (unsubscribed)");
    await a.publish(two, "two: 2");
    await inB.waitFor(two, "two: 2");
    await b.subscribe(one);
    await a.publish(one, "one: sentinel");
    await inB.waitFor(one, "one: sentinel");

    assert.deepEqual(inB.payloads(one), ["one: 1", "one: sentinel"]);
    assert.deepEqual(inB.payloads(two), ["two: 1", "two: 2"]);
    assert.equal(inB.received.length, 4);
  });

  test("delivers payload text byte for byte", async (ctx) => {
    const { a, b, inB } = ctx;
    const ch = ctx.channel("bytes");
    const samples = [
      "plain ascii",
      "",
      " \t leading and trailing whitespace \t ",
      "line 1\nline 2\r\nline 3\n",
      "\n",
      '{"x":"u1","p":["r1"]}\n{"type":"message","content":"quote \\" and backslash \\\\"}',
      "héllo wörld, ß, ÆØÅ",
      "日本語のテキスト、中文、한국어",
      "مرحبا بالعالم (rtl)",
      "emoji 🎉 family 👩‍👩‍👧 flag 🇩🇪 skin 👍🏽",
      "combining e\u0301 vs \u00e9",
      "zero width \u200b joiner \u200d and bom \ufeff",
      "x".repeat(65_536) + "€",
    ];
    await b.subscribe(ch);
    for (const payload of samples) await a.publish(ch, payload);
    await a.publish(ch, "sentinel");
    await inB.waitFor(ch, "sentinel");
    const got = inB.payloads(ch);
    assert.equal(got.length, samples.length + 1);
    for (const [i, payload] of samples.entries()) {
      assert.equal(got[i], payload, `sample ${i} changed on the way`);
    }
  });

  test("health() is ok while the broker is reachable", (ctx) => {
    assert.equal(ctx.a.health(), "ok");
    assert.equal(ctx.b.health(), "ok");
    return Promise.resolve();
  });

  test("close() stops delivery", async (ctx) => {
    const { a, b, inA, inB } = ctx;
    const ch = ctx.channel("close");
    await a.subscribe(ch);
    await b.subscribe(ch);
    await a.publish(ch, "before close");
    await inB.waitFor(ch, "before close");
    await b.close();
    await a.publish(ch, "after close");
    await a.publish(ch, "sentinel");
    // B can have no sentinel; A's copy marks when B would have had "after close" (it was published after
    // B's close() resolved, so no adapter may still be delivering it to B).
    await inA.waitFor(ch, "sentinel");
    assert.deepEqual(inA.payloads(ch), ["before close", "after close", "sentinel"]);
    assert.deepEqual(inB.payloads(ch), ["before close"]);
  });
}

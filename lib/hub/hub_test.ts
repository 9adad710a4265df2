import assert from "node:assert/strict";
import type { Bus, BusHandler } from "../bus/bus.ts";
import { MemoryBroker, MemoryBus } from "../bus/memory.ts";
import { nullLogger } from "../log.ts";
import type { Client, Identity } from "./client.ts";
import { FakeHistory } from "./testing/fake_history.ts";
import { FakeTransport } from "./testing/fake_transport.ts";
import { Watched, within } from "./testing/watched.ts";
import { Hub, type HubHandler, MAX_PENDING_FRAMES } from "./hub.ts";
import { NotSubscribedError } from "./recovery/mod.ts";
import type { ChatMessage, ClientFrame, MessageFrame, PingFrame } from "./protocol.ts";

// ------------------------------------------------------------------------------------------------ helpers

/** A `Bus` around a `MemoryBus` that records the hub's (un)subscribe calls and can hold or fail them. */
class SpyBus extends Watched implements Bus {
  /** `subscribe room:r1`, `unsubscribe room:r1`, ... in the order the hub called them. */
  readonly calls: string[] = [];
  /** Channels whose subscribe went through and that were not unsubscribed since. */
  readonly active = new Set<string>();
  /** Channels for which it returns true get a rejected subscribe(). */
  failSubscribe: ((channel: string) => boolean) | undefined;
  /** When set, subscribe() waits for it before reaching the bus. */
  holdSubscribe: Promise<void> | undefined;
  /** When set, unsubscribe() waits for it before reaching the bus. */
  holdUnsubscribe: Promise<void> | undefined;
  /** While true nothing published reaches the hub and `health()` says "degraded" (a link gone silent). */
  deaf = false;

  constructor(readonly inner: MemoryBus) {
    super();
  }

  start(handler: BusHandler): Promise<void> {
    return this.inner.start((channel, payload) => {
      if (!this.deaf) handler(channel, payload);
    });
  }

  async subscribe(channel: string): Promise<void> {
    this.calls.push(`subscribe ${channel}`);
    this.notify();
    await this.holdSubscribe;
    if (this.failSubscribe?.(channel)) throw new Error("Broker unavailable");
    await this.inner.subscribe(channel);
    this.active.add(channel);
    this.notify();
  }

  async unsubscribe(channel: string): Promise<void> {
    this.calls.push(`unsubscribe ${channel}`);
    this.notify();
    await this.holdUnsubscribe;
    await this.inner.unsubscribe(channel);
    this.active.delete(channel);
    this.notify();
  }

  publish(channel: string, payload: string): Promise<void> {
    return this.inner.publish(channel, payload);
  }

  health(): "ok" | "degraded" {
    return this.deaf ? "degraded" : this.inner.health();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The operations called for `channel`, in order. */
  callsFor(channel: string): string[] {
    return this.calls.filter((call) => call.endsWith(` ${channel}`)).map((call) => call.split(" ")[0]);
  }
}

type AppFrame = Exclude<ClientFrame, PingFrame>;

/** A `HubHandler` that records what the hub asks of it; `onFrame` lets a test control frame handling. */
class RecordingHandler extends Watched implements HubHandler {
  /** `connect c1`, `frame c1 {...}`, `disconnect c1`, plus whatever a test's `onFrame` adds, in order. */
  readonly events: string[] = [];
  onFrame: ((client: Client, frame: AppFrame) => Promise<void>) | undefined;

  connect(client: Client): Promise<void> {
    this.record(`connect ${client.id}`);
    return Promise.resolve();
  }

  async frame(client: Client, frame: AppFrame): Promise<void> {
    this.record(`frame ${client.id} ${JSON.stringify(frame)}`);
    await this.onFrame?.(client, frame);
  }

  disconnect(client: Client): Promise<void> {
    this.record(`disconnect ${client.id}`);
    return Promise.resolve();
  }

  record(event: string): void {
    this.events.push(event);
    this.notify();
  }

  /** The events that start with `prefix`. */
  only(prefix: string): string[] {
    return this.events.filter((event) => event.startsWith(prefix));
  }
}

interface Instance {
  broker: MemoryBroker;
  spy: SpyBus;
  hub: Hub;
  handler: RecordingHandler;
  history: FakeHistory;
}

/** A started hub on a spied `MemoryBus`; pass the same `broker` to run several "instances" of the server. */
async function instance(
  options: { broker?: MemoryBroker; maxBufferedBytes?: number; resumeMaxMessages?: number } = {},
): Promise<Instance> {
  const broker = options.broker ?? new MemoryBroker();
  const spy = new SpyBus(new MemoryBus(broker));
  const handler = new RecordingHandler();
  const history = new FakeHistory();
  const hub = new Hub({
    bus: spy,
    history,
    log: nullLogger,
    maxBufferedBytes: options.maxBufferedBytes,
    resumeMaxMessages: options.resumeMaxMessages,
  });
  await hub.start(handler);
  return { broker, spy, hub, handler, history };
}

interface Socket {
  client: Client;
  transport: FakeTransport;
}

/** Connects a socket of `userId`, waits until it is set up, then subscribes it to `rooms`. */
async function open(
  hub: Hub,
  userId: string,
  rooms: string[] = [],
  identity: Partial<Identity> = {},
): Promise<Socket> {
  const transport = new FakeTransport(`${userId}'s socket`);
  const client = hub.connect(transport, { userId, username: userId, ...identity });
  await client.idle();
  for (const roomId of rooms) await hub.subscribe(client, roomId);
  return { client, transport };
}

/**
 * Resolves once every payload published on `broker` before the call has been delivered. `MemoryBus` queues one
 * microtask per delivery at publish time and the hub sends to sockets synchronously, so a probe published now is
 * handled after all of them. Lets a test assert that a frame did NOT reach a socket.
 */
async function delivered(broker: MemoryBroker): Promise<void> {
  const probe = new MemoryBus(broker);
  const channel = `probe:${crypto.randomUUID()}`;
  const { promise, resolve } = Promise.withResolvers<void>();
  await probe.start(() => resolve());
  await probe.subscribe(channel);
  await probe.publish(channel, "probe");
  await within(promise, "the broker to deliver a probe");
  await probe.close();
}

/** Lets every pending promise reaction run (one macrotask turn); only used to show that something did NOT happen. */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The text of a stored chat message in `roomId`, as the chat service publishes it. */
function chat(roomId: string, content: string): string {
  const message: ChatMessage = {
    id: `m-${content}`,
    room_id: roomId,
    seq: 1,
    user_id: "author",
    username: "author",
    content,
    type: "text",
    timestamp: "2024-11-26T12:00:00.000Z",
  };
  return JSON.stringify(message);
}

function presence(userId: string): string {
  return JSON.stringify({ type: "presence", user_id: userId, username: userId, status: "online" });
}

const PING = '{"type":"ping"}';
const message = (content: string, roomId = "r1") =>
  JSON.stringify({ type: "message", room_id: roomId, content });
const ZERO = { clients: 0, users: 0, rooms: 0 };

/** A message frame of exactly `bytes` UTF-8 bytes whose content repeats `unit` (padded with ASCII). */
function messageOfBytes(bytes: number, unit: string): string {
  const encoder = new TextEncoder();
  const room = bytes - encoder.encode(message("")).length;
  const unitBytes = encoder.encode(unit).length;
  const count = Math.floor(room / unitBytes);
  const text = message(unit.repeat(count) + "x".repeat(room - count * unitBytes));
  assert.equal(encoder.encode(text).length, bytes);
  return text;
}

// ------------------------------------------------------------------------------------------------ delivery

Deno.test("`Hub.publishToRoom()` delivers once to each local member and never to non-members", async () => {
  const { broker, hub } = await instance();
  const alice = await open(hub, "alice", ["r1"]);
  const alice2 = await open(hub, "alice", ["r1"]);
  const bob = await open(hub, "bob", ["r1", "r2"]);
  const carol = await open(hub, "carol", ["r2"]);
  const dave = await open(hub, "dave");
  const frame = chat("r1", "hello");

  await hub.publishToRoom("r1", frame);
  await delivered(broker);

  assert.deepEqual(alice.transport.sent, [frame]);
  assert.deepEqual(alice2.transport.sent, [frame]);
  assert.deepEqual(bob.transport.sent, [frame]);
  assert.deepEqual(carol.transport.sent, []);
  assert.deepEqual(dave.transport.sent, []);
  await hub.shutdown();
});

Deno.test("`Hub.publishToRoom()` reaches a socket in two rooms with each room's frames", async () => {
  const { broker, hub } = await instance();
  const both = await open(hub, "alice", ["r1", "r2"]);
  const one = await open(hub, "bob", ["r1"]);
  const [f1, f2, f3] = [chat("r1", "one"), chat("r2", "two"), chat("r3", "three")];

  await hub.publishToRoom("r1", f1);
  await hub.publishToRoom("r2", f2);
  await hub.publishToRoom("r3", f3);
  await delivered(broker);

  assert.deepEqual(both.transport.sent, [f1, f2]);
  assert.deepEqual(one.transport.sent, [f1]);
  await hub.shutdown();
});

Deno.test("`Hub.publishToRoom()` delivers across hubs on one broker exactly once", async () => {
  const broker = new MemoryBroker();
  const one = await instance({ broker });
  const two = await instance({ broker });
  const a = await open(one.hub, "alice", ["r1"]);
  const b = await open(two.hub, "bob", ["r1"]);
  const c = await open(two.hub, "carol", ["r1"]);
  const outsider = await open(two.hub, "dave", ["r2"]);
  const [f1, f2] = [chat("r1", "from one"), chat("r1", "from two")];

  await one.hub.publishToRoom("r1", f1);
  await two.hub.publishToRoom("r1", f2);
  await delivered(broker);

  for (const socket of [a, b, c]) assert.deepEqual(socket.transport.sent, [f1, f2]);
  assert.deepEqual(outsider.transport.sent, []);
  assert.deepEqual(one.spy.callsFor("room:r1"), ["subscribe"]);
  assert.deepEqual(two.spy.callsFor("room:r1"), ["subscribe"]);
  await one.hub.shutdown();
  await two.hub.shutdown();
});

Deno.test("`Hub.publishToRoom()` with meta `x` skips every socket of that user", async () => {
  const broker = new MemoryBroker();
  const one = await instance({ broker });
  const two = await instance({ broker });
  const typist = await open(one.hub, "alice", ["r1"]);
  const typist2 = await open(two.hub, "alice", ["r1"]);
  const bob = await open(one.hub, "bob", ["r1"]);
  const carol = await open(two.hub, "carol", ["r1"]);
  const frame = JSON.stringify({ type: "typing", room_id: "r1", user_id: "alice", username: "alice" });

  await one.hub.publishToRoom("r1", frame, { x: "alice" });
  await delivered(broker);

  assert.deepEqual(typist.transport.sent, []);
  assert.deepEqual(typist2.transport.sent, []);
  assert.deepEqual(bob.transport.sent, [frame]);
  assert.deepEqual(carol.transport.sent, [frame]);
  await one.hub.shutdown();
  await two.hub.shutdown();
});

Deno.test("`Hub.publishToRoom()` with presence meta `p` delivers once per socket", async () => {
  const { broker, hub } = await instance();
  const rooms = ["r1", "r2", "r3", "r4"];
  const inThree = await open(hub, "bob", ["r2", "r3", "r4"]);
  const inFirst = await open(hub, "carol", ["r1"]);
  const inOne = await open(hub, "dave", ["r3"]);
  const inAll = await open(hub, "erin", [...rooms, "r5"]);
  const elsewhere = await open(hub, "frank", ["r5"]);
  const subject = await open(hub, "alice", rooms);
  const frame = presence("alice");

  // As the chat service sends presence: one publish per room of the user, each naming all of them.
  await Promise.all(rooms.map((roomId) => hub.publishToRoom(roomId, frame, { x: "alice", p: rooms })));
  await delivered(broker);

  assert.deepEqual(inThree.transport.sent, [frame]);
  assert.deepEqual(inFirst.transport.sent, [frame]);
  assert.deepEqual(inOne.transport.sent, [frame]);
  assert.deepEqual(inAll.transport.sent, [frame]);
  assert.deepEqual(elsewhere.transport.sent, []);
  assert.deepEqual(subject.transport.sent, []);
  await hub.shutdown();
});

// ------------------------------------------------------------------------------------------------ bus channels

Deno.test("`Hub.subscribe()` subscribes a room's channel for its first local member and unsubscribes after the last", async () => {
  const { broker, hub, spy } = await instance();
  const a = await open(hub, "alice");
  const b = await open(hub, "bob");

  await hub.subscribe(a.client, "r1");
  assert.deepEqual(spy.callsFor("room:r1"), ["subscribe"]);
  assert.deepEqual(hub.stats(), { clients: 2, users: 2, rooms: 1 });
  await hub.subscribe(b.client, "r1");
  await hub.subscribe(b.client, "r1");
  assert.deepEqual(spy.callsFor("room:r1"), ["subscribe"]);

  hub.unsubscribe(a.client, "r1");
  assert.deepEqual(hub.stats(), { clients: 2, users: 2, rooms: 1 });
  const frame = chat("r1", "only bob");
  await hub.publishToRoom("r1", frame);
  await delivered(broker);
  assert.deepEqual(a.transport.sent, []);
  assert.deepEqual(b.transport.sent, [frame]);

  hub.unsubscribe(b.client, "r1");
  hub.unsubscribe(b.client, "r1");
  assert.deepEqual(hub.stats(), { clients: 2, users: 2, rooms: 0 });
  await spy.until(() => spy.callsFor("room:r1").includes("unsubscribe"), "room:r1 to be unsubscribed");
  await spy.until(() => !spy.active.has("room:r1"), "room:r1 to be gone from the bus");
  // Per-channel bus ops run in order, so an extra unsubscribe (e.g. when alice left) would be listed by now.
  assert.deepEqual(spy.callsFor("room:r1"), ["subscribe", "unsubscribe"]);
  assert.deepEqual(a.client.rooms, new Set());
  assert.deepEqual(b.client.rooms, new Set());
  await hub.shutdown();
});

Deno.test("`Hub.subscribe()` of two clients to a new room makes one bus subscribe", async () => {
  const { broker, hub, spy } = await instance();
  const a = await open(hub, "alice");
  const b = await open(hub, "bob");
  const hold = Promise.withResolvers<void>();
  spy.holdSubscribe = hold.promise;

  const subscribing = [hub.subscribe(a.client, "r1"), hub.subscribe(b.client, "r1")];
  await spy.until(() => spy.callsFor("room:r1").length > 0, "the bus subscribe call");
  hold.resolve();
  await Promise.all(subscribing);

  assert.deepEqual(spy.callsFor("room:r1"), ["subscribe"]);
  const frame = chat("r1", "both");
  await hub.publishToRoom("r1", frame);
  await delivered(broker);
  assert.deepEqual(a.transport.sent, [frame]);
  assert.deepEqual(b.transport.sent, [frame]);
  await hub.shutdown();
});

Deno.test("`Hub.unsubscribe()` then `Hub.subscribe()` in quick succession leaves the channel subscribed", async () => {
  const { broker, hub, spy } = await instance();
  const a = await open(hub, "alice", ["r1"]);
  // A slow unsubscribe: a subscribe issued after it must still take effect after it.
  const hold = Promise.withResolvers<void>();
  spy.holdUnsubscribe = hold.promise;

  hub.unsubscribe(a.client, "r1");
  const resubscribed = hub.subscribe(a.client, "r1");
  await spy.until(() => spy.callsFor("room:r1").length === 2, "the bus unsubscribe call");
  hold.resolve();
  await resubscribed;

  assert.deepEqual(spy.callsFor("room:r1"), ["subscribe", "unsubscribe", "subscribe"]);
  assert.equal(spy.active.has("room:r1"), true);
  assert.deepEqual(hub.stats(), { clients: 1, users: 1, rooms: 1 });
  const frame = chat("r1", "still here");
  await hub.publishToRoom("r1", frame);
  await delivered(broker);
  assert.deepEqual(a.transport.sent, [frame]);
  await hub.shutdown();
});

Deno.test("`Hub.subscribe()` throws and rolls back when the bus cannot subscribe", async () => {
  const { broker, hub, spy } = await instance();
  const a = await open(hub, "alice", ["r0"]);
  const b = await open(hub, "bob");
  spy.failSubscribe = (channel) => channel === "room:r1";

  const results = await Promise.allSettled([hub.subscribe(a.client, "r1"), hub.subscribe(b.client, "r1")]);

  for (const result of results) {
    assert.equal(result.status, "rejected");
    const error = (result as PromiseRejectedResult).reason;
    assert.equal(error.message, 'Cannot subscribe to "room:r1"');
    assert.equal(error.cause.message, "Broker unavailable");
  }
  assert.deepEqual(spy.callsFor("room:r1"), ["subscribe"]);
  assert.deepEqual(hub.stats(), { clients: 2, users: 2, rooms: 1 });
  assert.deepEqual(a.client.rooms, new Set(["r0"]));
  assert.deepEqual(b.client.rooms, new Set());

  // Nothing stale is left: once the bus is back, the room subscribes again and delivers.
  spy.failSubscribe = undefined;
  await hub.subscribe(b.client, "r1");
  assert.deepEqual(spy.callsFor("room:r1"), ["subscribe", "subscribe"]);
  assert.deepEqual(b.client.rooms, new Set(["r1"]));
  const frame = chat("r1", "back");
  await hub.publishToRoom("r1", frame);
  await delivered(broker);
  assert.deepEqual(a.transport.sent, []);
  assert.deepEqual(b.transport.sent, [frame]);
  await hub.shutdown();
});

Deno.test("`Hub.connect()` closes the socket with 1013 when the user channel cannot be subscribed", async () => {
  const { hub, spy, handler } = await instance();
  spy.failSubscribe = (channel) => channel === "user:alice";

  const transport = new FakeTransport();
  const client = hub.connect(transport, { userId: "alice", username: "alice" });
  const close = await transport.waitForClose();
  await client.idle();

  assert.deepEqual(close, { code: 1013, reason: "Server busy, reconnect later" });
  assert.deepEqual(transport.closes.length, 1);
  assert.deepEqual(transport.sent, []);
  assert.equal(client.closed, true);
  assert.deepEqual(handler.only("connect"), []);
  assert.deepEqual(hub.stats(), ZERO);
  assert.equal(hub.hasLocalUser("alice"), false);

  const bob = await open(hub, "bob");
  assert.deepEqual(bob.transport.closes, []);
  assert.deepEqual(handler.only("connect"), [`connect ${bob.client.id}`]);
  assert.deepEqual(hub.stats(), { clients: 1, users: 1, rooms: 0 });
  await hub.shutdown();
});

Deno.test("`Hub.publishToUser()` controls `sub` and `unsub` change the rooms of every socket of the user", async () => {
  const broker = new MemoryBroker();
  const one = await instance({ broker });
  const two = await instance({ broker });
  const alice = [await open(one.hub, "alice"), await open(one.hub, "alice"), await open(two.hub, "alice")];
  const bob = await open(one.hub, "bob");

  await one.hub.publishToUser("alice", "", { c: "sub", r: "r9" });
  await one.spy.until(() => one.spy.active.has("room:r9"), "instance one to subscribe room:r9");
  await two.spy.until(() => two.spy.active.has("room:r9"), "instance two to subscribe room:r9");
  for (const socket of alice) assert.deepEqual(socket.client.rooms, new Set(["r9"]));
  assert.deepEqual(bob.client.rooms, new Set());
  assert.deepEqual(one.spy.callsFor("room:r9"), ["subscribe"]);
  assert.deepEqual(two.spy.callsFor("room:r9"), ["subscribe"]);

  const f1 = chat("r9", "welcome");
  await two.hub.publishToRoom("r9", f1);
  await delivered(broker);
  // The control itself carries no frame ("" is not sent).
  for (const socket of alice) assert.deepEqual(socket.transport.sent, [f1]);
  assert.deepEqual(bob.transport.sent, []);

  const f2 = JSON.stringify({ type: "joined", room_id: "r9", last_seq: 1 });
  await two.hub.publishToUser("alice", f2);
  await delivered(broker);
  for (const socket of alice) assert.deepEqual(socket.transport.sent, [f1, f2]);
  assert.deepEqual(bob.transport.sent, []);

  await one.hub.publishToUser("alice", "", { c: "unsub", r: "r9" });
  await one.spy.until(() => !one.spy.active.has("room:r9"), "instance one to unsubscribe room:r9");
  await two.spy.until(() => !two.spy.active.has("room:r9"), "instance two to unsubscribe room:r9");
  for (const socket of alice) assert.deepEqual(socket.client.rooms, new Set());
  assert.deepEqual(one.hub.stats(), { clients: 3, users: 2, rooms: 0 });
  assert.deepEqual(two.hub.stats(), { clients: 1, users: 1, rooms: 0 });

  await one.hub.publishToRoom("r9", chat("r9", "gone"));
  await delivered(broker);
  const left = JSON.stringify({ type: "left", room_id: "r9" });
  for (const socket of alice) assert.deepEqual(socket.transport.sent, [f1, f2, left]);
  await one.hub.shutdown();
  await two.hub.shutdown();
});

Deno.test("`Hub.changeMembership()` applies a change here at once and on other hubs through the bus, once each", async () => {
  const broker = new MemoryBroker();
  const one = await instance({ broker });
  const two = await instance({ broker });
  const here = await open(one.hub, "alice");
  const there = await open(two.hub, "alice");
  const applied: string[] = [];
  for (const [name, { hub }] of [["one", one], ["two", two]] as const) {
    const subscribe = hub.subscribe.bind(hub);
    hub.subscribe = (client, roomId) => {
      applied.push(`${name} ${roomId}`);
      return subscribe(client, roomId);
    };
  }

  await one.hub.changeMembership("alice", "r9", "sub");
  assert.deepEqual(here.client.rooms, new Set(["r9"]), "subscribed here before it returns");
  await two.spy.until(() => two.spy.active.has("room:r9"), "instance two to subscribe room:r9");
  await delivered(broker);
  assert.deepEqual(there.client.rooms, new Set(["r9"]));
  assert.deepEqual(applied, ["one r9", "two r9"], "this hub skips its own control");

  await two.hub.changeMembership("alice", "r9", "unsub");
  assert.deepEqual(there.client.rooms, new Set());
  await one.spy.until(() => !one.spy.active.has("room:r9"), "instance one to unsubscribe room:r9");
  assert.deepEqual(here.client.rooms, new Set());
  // Each socket that stopped is told so, once.
  const left = JSON.stringify({ type: "left", room_id: "r9" });
  for (const socket of [here, there]) {
    assert.deepEqual(socket.transport.sent.filter((f) => f.includes('"left"')), [left]);
  }
  await two.hub.changeMembership("alice", "r9", "unsub");
  await delivered(broker);
  for (const socket of [here, there]) {
    assert.deepEqual(socket.transport.sent.filter((f) => f.includes('"left"')), [left], "not again");
  }
  await one.hub.shutdown();
  await two.hub.shutdown();
});

Deno.test("`Hub` sends a socket's live room frames that arrive during its set-up after what the set-up sent", async () => {
  const broker = new MemoryBroker();
  const hub = new Hub({ bus: new MemoryBus(broker), history: new FakeHistory(), log: nullLogger });
  const handler = new RecordingHandler();
  // The set-up subscribes, reads the presence state, and a presence change arrives before it is sent.
  handler.connect = async (client) => {
    await hub.subscribe(client, "r1");
    if (client.userId !== "alice") return;
    await hub.publishToRoom("r1", presence("bob"));
    await delivered(broker);
    client.sendFrame({ type: "presence_state", room_id: "r1", online: [] });
  };
  await hub.start(handler);
  const a = await open(hub, "alice");
  assert.deepEqual(a.transport.frames.map((f) => f.type), ["presence_state", "presence"]);
  await hub.publishToRoom("r1", presence("carol"));
  await delivered(broker);
  assert.deepEqual(a.transport.frames.map((f) => f.type), ["presence_state", "presence", "presence"]);
  await hub.shutdown();
});

Deno.test("`Client.holdLive()` keeps live frames back past the set-up until the last hold is released", async () => {
  const broker = new MemoryBroker();
  const hub = new Hub({ bus: new MemoryBus(broker), history: new FakeHistory(), log: nullLogger });
  const handler = new RecordingHandler();
  const { promise: stateRead, resolve: readState } = Promise.withResolvers<void>();
  // The set-up ends at once; what it started (the presence state) is sent later, and holds live frames till then.
  handler.connect = async (client) => {
    await hub.subscribe(client, "r1");
    client.holdLive();
    stateRead.then(() => client.sendFrame({ type: "presence_state", room_id: "r1", online: [] }))
      .finally(() => client.releaseLive());
  };
  await hub.start(handler);
  const a = await open(hub, "alice");
  hub.receive(a.client, PING);
  await a.client.idle();
  await hub.publishToRoom("r1", presence("bob"));
  await delivered(broker);
  assert.deepEqual(a.transport.frames.map((f) => f.type), ["pong"], "the socket works; presence waits");
  readState();
  await nextMacrotask();
  assert.deepEqual(a.transport.frames.map((f) => f.type), ["pong", "presence_state", "presence"]);
  await hub.publishToRoom("r1", presence("carol"));
  await delivered(broker);
  assert.equal(a.transport.frames.length, 4, "no hold left");
  await hub.shutdown();
});

// ------------------------------------------------------------------------------------------------ receive

Deno.test("`Hub.receive()` answers ping with pong in turn, without calling the handler", async () => {
  const { hub, handler } = await instance();
  const a = await open(hub, "alice");
  const gate = Promise.withResolvers<void>();
  handler.onFrame = async (client, frame) => {
    await gate.promise;
    client.sendFrame({ type: "joined", room_id: (frame as { room_id: string }).room_id, last_seq: 0 });
  };

  hub.receive(a.client, '{"type":"join","room_id":"r1"}');
  hub.receive(a.client, PING);
  hub.receive(a.client, '{"type":"ping","room_id":"r1"}');
  await handler.until(() => handler.only("frame").length === 1, "the join frame to reach the handler");
  gate.resolve();
  await a.transport.waitForFrames(3);

  // The pongs come after the answer to the frame sent before them: the client's "all handled" marker.
  assert.deepEqual(a.transport.frames, [
    { type: "joined", room_id: "r1", last_seq: 0 },
    { type: "pong" },
    { type: "pong" },
  ]);
  assert.deepEqual(handler.only("frame"), [`frame ${a.client.id} {"type":"join","room_id":"r1"}`]);
  await hub.shutdown();
});

Deno.test("`Hub.receive()` refuses binary frames with `binary_not_supported`", async (t) => {
  const { hub, handler } = await instance();
  const a = await open(hub, "alice");
  const cases: Array<[string, ArrayBuffer | Uint8Array | Blob]> = [
    ["Uint8Array", new TextEncoder().encode(PING)],
    ["ArrayBuffer", new TextEncoder().encode(PING).buffer as ArrayBuffer],
    ["Blob", new Blob([PING])],
  ];
  for (const [name, data] of cases) {
    await t.step(name, () => {
      const before = a.transport.sent.length;
      hub.receive(a.client, data);
      assert.deepEqual(a.transport.frames.slice(before), [{
        type: "error",
        code: "binary_not_supported",
        message: "Binary frames are not supported; send JSON text frames",
        retryable: false,
      }]);
    });
  }
  assert.deepEqual(a.transport.closes, []);
  assert.deepEqual(handler.only("frame"), []);
  await hub.shutdown();
});

Deno.test("`Hub.receive()` answers an unparsable frame with an error frame and keeps the socket usable", async (t) => {
  const { hub, handler } = await instance();
  const a = await open(hub, "alice");
  const cases: Array<[string, string, { code: string; message: string }]> = [
    ["invalid JSON", "{not json", { code: "invalid_json", message: "Frame is not valid JSON" }],
    ["not an object", "[1]", { code: "invalid_frame", message: "Frame must be a JSON object" }],
    ["no room_id", '{"type":"join"}', { code: "invalid_frame", message: 'Frame needs "room_id"' }],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => {
      const before = a.transport.sent.length;
      hub.receive(a.client, text);
      assert.deepEqual(a.transport.frames.slice(before), [{ type: "error", ...expected, retryable: false }]);
    });
  }
  hub.receive(a.client, PING);
  await a.client.idle();
  assert.deepEqual(a.transport.frames.at(-1), { type: "pong" });
  hub.receive(a.client, '{"type":"join","room_id":"r1"}');
  await a.client.idle();
  assert.deepEqual(handler.only("frame"), [`frame ${a.client.id} {"type":"join","room_id":"r1"}`]);
  assert.deepEqual(a.transport.closes, []);
  await hub.shutdown();
});

Deno.test("`Hub.receive()` closes the socket with 1009 for a frame over 64 KiB of UTF-8", async (t) => {
  const { hub, handler } = await instance();
  const cases: Array<[string, string, boolean]> = [
    ["ASCII, 65,536 bytes", messageOfBytes(65_536, "x"), true],
    ["ASCII, 65,537 bytes", messageOfBytes(65_537, "x"), false],
    ["2-byte é, 65,536 bytes", messageOfBytes(65_536, "é"), true],
    ["2-byte é, 65,537 bytes", messageOfBytes(65_537, "é"), false],
    ["3-byte €, 65,536 bytes", messageOfBytes(65_536, "€"), true],
    ["3-byte €, 65,537 bytes", messageOfBytes(65_537, "€"), false],
    ["4-byte 😀 (surrogate pairs), 65,536 bytes", messageOfBytes(65_536, "😀"), true],
    ["4-byte 😀 (surrogate pairs), 65,537 bytes", messageOfBytes(65_537, "😀"), false],
    ["3-byte €, 90,000 bytes", messageOfBytes(90_000, "€"), false],
  ];
  for (const [name, text, accepted] of cases) {
    await t.step(name, async () => {
      const { client, transport } = await open(hub, "alice");
      const frames = handler.only("frame").length;
      hub.receive(client, text);
      await client.idle();
      if (accepted) {
        assert.deepEqual(transport.closes, []);
        assert.equal(handler.only("frame").length, frames + 1);
        hub.disconnect(client);
      } else {
        if (!name.startsWith("ASCII")) assert.ok(text.length < 65_536, "UTF-16 length is under the cap");
        assert.deepEqual(transport.closes, [{ code: 1009, reason: "Frame larger than 65536 bytes" }]);
        assert.equal(handler.only("frame").length, frames);
        assert.equal(client.closed, true);
      }
      assert.deepEqual(transport.sent, []);
      assert.deepEqual(hub.stats(), ZERO);
    });
  }
  await hub.shutdown();
});

Deno.test("`Hub.receive()` hands one client's frames to the handler one at a time, in order", async () => {
  const { hub, handler } = await instance();
  const a = await open(hub, "alice");
  const b = await open(hub, "bob");
  const gates = new Map(["1", "2", "3"].map((c) => [c, Promise.withResolvers<void>()]));
  handler.onFrame = async (client, frame) => {
    if (client !== a.client) return;
    const { content } = frame as MessageFrame;
    handler.record(`start ${content}`);
    await gates.get(content)!.promise;
    handler.record(`end ${content}`);
  };

  for (const content of ["1", "2", "3"]) hub.receive(a.client, message(content));
  await handler.until(() => handler.events.includes("start 1"), "frame 1 to start");
  // Another socket is not held up by alice's queue.
  hub.receive(b.client, message("bob"));
  await b.client.idle();
  assert.deepEqual(handler.only("frame"), [
    `frame ${a.client.id} ${message("1")}`,
    `frame ${b.client.id} ${message("bob")}`,
  ]);
  // Release in reverse: a handler running concurrently would finish 3 before 1.
  gates.get("3")!.resolve();
  gates.get("2")!.resolve();
  gates.get("1")!.resolve();
  await handler.until(() => handler.events.includes("end 3"), "frame 3 to end");

  assert.deepEqual(handler.events.filter((e) => e.startsWith("start") || e.startsWith("end")), [
    "start 1",
    "end 1",
    "start 2",
    "end 2",
    "start 3",
    "end 3",
  ]);
  await hub.shutdown();
});

Deno.test("`Hub.receive()` answers a failing handler with `internal_error` and goes on", async () => {
  const { hub, handler } = await instance();
  const a = await open(hub, "alice");
  handler.onFrame = (_client, frame) => {
    if ((frame as MessageFrame).content === "boom") return Promise.reject(new Error("Store down"));
    return Promise.resolve();
  };

  hub.receive(a.client, message("boom"));
  hub.receive(a.client, message("fine"));
  await a.client.idle();

  assert.deepEqual(a.transport.frames, [{
    type: "error",
    code: "internal_error",
    message: "Internal server error; try again",
    retryable: true,
  }]);
  assert.deepEqual(handler.only("frame"), [
    `frame ${a.client.id} ${message("boom")}`,
    `frame ${a.client.id} ${message("fine")}`,
  ]);
  assert.deepEqual(a.transport.closes, []);
  await hub.shutdown();
});

// ------------------------------------------------------------------------------------------------ lifecycle

Deno.test("`Hub` closes a slow consumer with 4008 and removes it", async () => {
  const { broker, hub, spy } = await instance({ maxBufferedBytes: 100 });
  const slow = await open(hub, "slow", ["r1", "r2"]);
  const atCap = await open(hub, "steady", ["r1"]);
  slow.transport.buffered = 101;
  atCap.transport.buffered = 100;
  const [f1, f2] = [chat("r1", "one"), chat("r1", "two")];

  await hub.publishToRoom("r1", f1);
  await delivered(broker);

  assert.deepEqual(slow.transport.sent, [f1]);
  assert.deepEqual(slow.transport.closes, [{ code: 4008, reason: "Slow consumer: too many unsent bytes" }]);
  assert.equal(slow.client.closed, true);
  assert.deepEqual(atCap.transport.sent, [f1]);
  assert.deepEqual(atCap.transport.closes, []);
  assert.deepEqual(hub.stats(), { clients: 1, users: 1, rooms: 1 });
  assert.equal(hub.hasLocalUser("slow"), false);
  await spy.until(
    () => !spy.active.has("room:r2") && !spy.active.has("user:slow"),
    "the slow consumer's channels to be unsubscribed",
  );
  assert.equal(spy.active.has("room:r1"), true);

  await hub.publishToRoom("r1", f2);
  await delivered(broker);
  assert.deepEqual(slow.transport.sent, [f1]);
  assert.deepEqual(atCap.transport.sent, [f1, f2]);
  await hub.shutdown();
});

Deno.test("`Hub` closes a socket once its growing backlog passes the cap", async () => {
  const frames = ["1", "2", "3", "4", "5"].map((c) => chat("r1", c));
  // Every frame has the same length; the backlog passes the cap with the third.
  const { broker, hub } = await instance({ maxBufferedBytes: frames[0].length * 2 + 1 });
  const a = await open(hub, "alice", ["r1"]);
  a.transport.onSend = (data) => a.transport.buffered += data.length;

  for (const frame of frames) await hub.publishToRoom("r1", frame);
  await delivered(broker);

  assert.deepEqual(a.transport.sent, frames.slice(0, 3));
  assert.deepEqual(a.transport.closes, [{ code: 4008, reason: "Slow consumer: too many unsent bytes" }]);
  assert.deepEqual(hub.stats(), ZERO);
  await hub.shutdown();
});

Deno.test("`Hub.stats()` returns to zero and every channel is unsubscribed after all clients disconnect", async () => {
  const { hub, spy, handler } = await instance();
  const sockets = [
    await open(hub, "alice", ["r1", "r2"]),
    await open(hub, "alice", ["r2"]),
    await open(hub, "bob", ["r2", "r3"]),
    await open(hub, "carol", ["r1"]),
  ];
  assert.deepEqual(hub.stats(), { clients: 4, users: 3, rooms: 3 });

  for (const { client } of sockets) hub.disconnect(client);
  assert.deepEqual(hub.stats(), ZERO);
  await Promise.all(sockets.map(({ client }) => client.idle()));
  await spy.until(() => spy.active.size === 0, "every channel to be unsubscribed");

  for (const channel of ["user:alice", "user:bob", "user:carol", "room:r1", "room:r2", "room:r3"]) {
    assert.deepEqual(spy.callsFor(channel), ["subscribe", "unsubscribe"], channel);
  }
  assert.equal(spy.calls.length, 12);
  assert.deepEqual(handler.only("disconnect"), sockets.map(({ client }) => `disconnect ${client.id}`));
  for (const { client } of sockets) assert.deepEqual(client.rooms, new Set());
  await hub.shutdown();
});

Deno.test("`Hub.disconnect()` is idempotent and runs `handler.disconnect()` once", async () => {
  const { hub, handler } = await instance();
  const a = await open(hub, "alice", ["r1"]);
  const b = await open(hub, "bob", ["r1"]);

  hub.disconnect(a.client);
  hub.disconnect(a.client);
  await a.client.idle();
  hub.disconnect(a.client);
  await a.client.idle();

  assert.deepEqual(handler.only("disconnect"), [`disconnect ${a.client.id}`]);
  assert.deepEqual(hub.stats(), { clients: 1, users: 1, rooms: 1 });
  assert.equal(a.client.closed, true);
  // The socket is already gone, so the hub does not close it; later frames from it are ignored.
  assert.deepEqual(a.transport.closes, []);
  hub.receive(a.client, PING);
  hub.receive(a.client, message("late"));
  await a.client.idle();
  assert.deepEqual(a.transport.sent, []);
  assert.deepEqual(handler.only("frame"), []);
  assert.deepEqual(b.transport.closes, []);
  await hub.shutdown();
});

Deno.test("`Hub.shutdown()` closes every transport with 1001 and waits for queued handler work", async () => {
  const { hub, handler, spy } = await instance();
  const a = await open(hub, "alice", ["r1"]);
  const b = await open(hub, "bob", ["r1", "r2"]);
  const gate = Promise.withResolvers<void>();
  handler.onFrame = async () => {
    handler.record("frame started");
    await gate.promise;
    handler.record("frame done");
  };
  hub.receive(a.client, message("slow"));
  await handler.until(() => handler.events.includes("frame started"), "the frame handler to start");

  const done = hub.shutdown().then(() => handler.record("shutdown resolved"));
  for (const { transport } of [a, b]) {
    assert.deepEqual(transport.closes, [{ code: 1001, reason: "Server shutting down" }]);
  }
  assert.deepEqual(hub.stats(), ZERO);
  await nextMacrotask();
  assert.equal(handler.events.includes("shutdown resolved"), false, "shutdown resolved before the frame");
  gate.resolve();
  await done;

  assert.deepEqual(handler.events, [
    `connect ${a.client.id}`,
    `connect ${b.client.id}`,
    `frame ${a.client.id} ${message("slow")}`,
    "frame started",
    `disconnect ${b.client.id}`,
    "frame done",
    `disconnect ${a.client.id}`,
    "shutdown resolved",
  ]);
  assert.deepEqual(spy.active, new Set());
});

Deno.test("`Hub.disconnect()` right after `Hub.connect()` leaves nothing behind", async () => {
  const { hub, spy, handler } = await instance();
  const transport = new FakeTransport();
  const client = hub.connect(transport, { userId: "alice", username: "alice" });
  hub.disconnect(client);
  await client.idle();

  assert.deepEqual(hub.stats(), ZERO);
  assert.equal(hub.hasLocalUser("alice"), false);
  assert.equal(spy.active.has("user:alice"), false);
  assert.deepEqual(handler.only("disconnect"), [`disconnect ${client.id}`]);
  await hub.shutdown();
});

Deno.test("`Hub.shutdown()` right after `Hub.connect()` leaves nothing behind", async () => {
  const { hub, spy } = await instance();
  const transport = new FakeTransport();
  hub.connect(transport, { userId: "alice", username: "alice" });
  await hub.shutdown();

  assert.deepEqual(transport.closes, [{ code: 1001, reason: "Server shutting down" }]);
  assert.deepEqual(hub.stats(), ZERO);
  assert.deepEqual(spy.active, new Set());
});

Deno.test("`Hub.receive()` closes a socket with 1008 once MAX_PENDING_FRAMES wait to be handled", async () => {
  const { hub, handler } = await instance();
  const flood = await open(hub, "flood");
  const calm = await open(hub, "calm");
  const gate = Promise.withResolvers<void>();
  handler.onFrame = (client) => client === flood.client ? gate.promise : Promise.resolve();

  for (let i = 0; i < MAX_PENDING_FRAMES; i++) hub.receive(flood.client, message(`m${i}`));
  assert.deepEqual(flood.transport.closes, [], "exactly the cap is still allowed");
  hub.receive(flood.client, message("one too many"));
  assert.deepEqual(flood.transport.closes, [{ code: 1008, reason: "Too many frames waiting to be handled" }]);
  assert.equal(hub.stats().clients, 1);

  hub.receive(calm.client, PING);
  await calm.client.idle();
  assert.deepEqual(calm.transport.frames, [{ type: "pong" }], "other sockets are unaffected");
  gate.resolve();
  await hub.shutdown();
});

/** The text of stored chat message `seq` of `roomId`. */
const stored = (seq: number, roomId = "r1") => chat(roomId, `s${seq}`).replace('"seq":1', `"seq":${seq}`);
const storedFrames = (...seqs: number[]) => seqs.map((seq) => ({ seq, frame: stored(seq) }));
/** The seqs of the stored frames a socket was sent, in order. */
const seqsOf = (s: Socket) =>
  s.transport.frames.filter((f) => f.type === "text").map((f) => (f as ChatMessage).seq);

/** Makes the handler answer `resume` frames as the chat's socket handler does: `hub.resume()`, then `resumed`. */
function answerResumes(hub: Hub, handler: RecordingHandler): void {
  handler.onFrame = async (client, frame) => {
    if (frame.type !== "resume") return;
    const { done, more } = await hub.resume(client, frame.rooms);
    const cut = Object.keys(more).length > 0;
    client.sendFrame(cut ? { type: "resumed", rooms: done, more } : { type: "resumed", rooms: done });
  };
}

/** Publishes stored frames `seqs` of r1, as an instance does after storing them. */
async function publishStored(hub: Hub, ...seqs: number[]): Promise<void> {
  for (const seq of seqs) await hub.publishToRoom("r1", stored(seq), { s: seq });
}

Deno.test("`Hub` delivers stored frames in seq order, once, and fills a gap from the store", async () => {
  const { hub, history } = await instance();
  const a = await open(hub, "alice", ["r1"]);

  await publishStored(hub, 1, 3); // 2 is still on its way from another instance
  await publishStored(hub, 2, 2); // and then a repeat
  await a.transport.waitForFrames(3);
  assert.deepEqual(seqsOf(a), [1, 2, 3]);

  // 4 and 5 never come over the bus (lost in an outage); 6 does. The store fills 4 and 5.
  history.store("r1", storedFrames(4, 5));
  await publishStored(hub, 6);
  await a.transport.waitForFrames(6);
  assert.deepEqual(seqsOf(a), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(history.only("after"), ["after r1 3"]);
  await hub.shutdown();
});

Deno.test("`Hub` treats a frame filled from the store like one off the bus: held during a resume, sent once", async () => {
  const { hub, history } = await instance();
  const a = await open(hub, "alice", ["r1"]);
  await publishStored(hub, 1);
  await a.transport.waitForFrames(1);

  // A resume from 1 begins; 2 never comes over the bus, 3 does, and the store fills 2 while the socket holds.
  a.client.stream.hold("r1", 1);
  history.store("r1", storedFrames(2));
  await publishStored(hub, 3);
  await history.until(() => history.only("after").length === 1, "a gap repair");
  await nextMacrotask(); // the repair's store read has answered and the frames have gone through
  assert.deepEqual(seqsOf(a), [1], "nothing is sent while the room is held");
  assert.deepEqual(hub.recentAfter("r1", 0)!.map((f) => f.seq), [1, 2, 3]);

  // The resume's backfill sent 2 itself: only 3 goes out at release, and 2 is never sent again.
  a.client.stream.backfilled("r1", 2, stored(2));
  a.client.stream.release("r1");
  await a.transport.waitForFrames(3);
  await nextMacrotask();
  assert.deepEqual(seqsOf(a), [1, 2, 3]);
  await hub.shutdown();
});

Deno.test("`Hub` keeps delivering when the bus fills a gap while the store is being read for it", async () => {
  const { hub, history } = await instance();
  const a = await open(hub, "alice", ["r1"]);
  // The store read for the gap answers only when the test says so, and finds nothing.
  const { promise: storeAnswered, resolve: answer } = Promise.withResolvers<void>();
  history.gate = storeAnswered;
  await publishStored(hub, 1, 3);
  await history.until(() => history.only("after").length === 1, "a gap repair");
  await publishStored(hub, 2); // the late frame arrives during the store read
  await a.transport.waitForFrames(3);
  answer();
  await nextMacrotask();
  await publishStored(hub, 4);
  await a.transport.waitForFrames(4);
  assert.deepEqual(seqsOf(a), [1, 2, 3, 4]);
  await hub.shutdown();
});

Deno.test("`Hub` with a resume grace holds a new socket's stored frames until its first frame", async () => {
  const broker = new MemoryBroker();
  const handler = new RecordingHandler();
  const history = new FakeHistory();
  const hub = new Hub({ bus: new MemoryBus(broker), history, log: nullLogger, resumeGraceMs: 60_000 });
  await hub.start(handler);
  answerResumes(hub, handler);

  // A client that already has 1 and 2 (from another instance) resumes: only 3 reaches it, once.
  const resumer = await open(hub, "alice", ["r1"]);
  const waiter = await open(hub, "bob", ["r1"]);
  history.store("r1", storedFrames(1, 2, 3));
  await publishStored(hub, 1, 2, 3);
  await delivered(broker);
  assert.deepEqual(seqsOf(resumer), [], "held until the first frame");
  hub.receive(resumer.client, JSON.stringify({ type: "resume", rooms: { r1: 2 } }));
  await resumer.client.idle();
  await nextMacrotask();
  assert.deepEqual(seqsOf(resumer), [3]);

  // Any other first frame lets the held frames go at once, in order.
  hub.receive(waiter.client, PING);
  await waiter.client.idle();
  assert.deepEqual(seqsOf(waiter), [1, 2, 3]);
  history.store("r1", storedFrames(4));
  await publishStored(hub, 4);
  await delivered(broker);
  assert.deepEqual(seqsOf(resumer), [3, 4]);
  assert.deepEqual(seqsOf(waiter), [1, 2, 3, 4]);
  await hub.shutdown();
});

Deno.test("`Hub` holds a socket that declared `resumeFirst` past the grace, until its resume", async () => {
  const broker = new MemoryBroker();
  const handler = new RecordingHandler();
  const history = new FakeHistory();
  const hub = new Hub({ bus: new MemoryBus(broker), history, log: nullLogger, resumeGraceMs: 5 });
  await hub.start(handler);
  answerResumes(hub, handler);

  const declared = await open(hub, "alice", ["r1"], { resumeFirst: true });
  const plain = await open(hub, "bob", ["r1"]);
  await new Promise((resolve) => setTimeout(resolve, 30)); // well past the 5 ms grace
  // This instance's stream is behind: the declared client already has 1..3 from another instance.
  history.store("r1", storedFrames(1, 2, 3, 4));
  await publishStored(hub, 1, 2, 3, 4);
  await delivered(broker);
  assert.deepEqual(seqsOf(plain), [1, 2, 3, 4], "the grace is over for a socket that declared nothing");
  assert.deepEqual(seqsOf(declared), [], "held until the resume");
  hub.receive(declared.client, JSON.stringify({ type: "resume", rooms: { r1: 3 } }));
  await declared.client.idle();
  await nextMacrotask();
  assert.deepEqual(seqsOf(declared), [4], "what it had is not sent again");
  await hub.shutdown();
});

Deno.test("`Hub` reads new stored frames from the store while its bus is deaf, in order, once, and stops after", async () => {
  const broker = new MemoryBroker();
  const bus = new SpyBus(new MemoryBus(broker));
  const history = new FakeHistory();
  const active: boolean[] = [];
  const metrics = {
    fannedOut() {},
    gapRepaired() {},
    resumed() {},
    busCatchUp: (on: boolean) => active.push(on),
  };
  const hub = new Hub({ bus, history, log: nullLogger, busCatchUpIntervalMs: 5, metrics });
  await hub.start(new RecordingHandler());
  const a = await open(hub, "alice", ["r1"]);
  history.store("r1", storedFrames(1, 2));
  await publishStored(hub, 1, 2);
  await a.transport.waitForFrames(2);
  assert.equal(hub.catchingUpFromStore, false);

  // The link goes silent: what other instances store (and publish) never arrives over the bus.
  bus.deaf = true;
  history.store("r1", storedFrames(3, 4, 5));
  await publishStored(hub, 3, 4, 5);
  await a.transport.waitForFrames(5);
  assert.deepEqual(seqsOf(a), [1, 2, 3, 4, 5]);
  assert.equal(hub.catchingUpFromStore, true);
  // A room that had no frame here yet starts at its last stored seq: what comes after it is delivered.
  const b = await open(hub, "bob", ["r2"]);
  history.store("r2", [{ seq: 7, frame: stored(7, "r2") }]);
  await history.until(() => history.only("lastSeqs").some((call) => call.includes("r2")), "r2 polled");
  history.store("r2", [{ seq: 8, frame: stored(8, "r2") }]);
  await b.transport.waitForFrames(1);
  assert.deepEqual(seqsOf(b), [8]);

  // Back: the bus's own frames and the store's do not repeat one another, and the reading stops.
  bus.deaf = false;
  history.store("r1", storedFrames(6));
  await publishStored(hub, 6);
  await a.transport.waitForFrames(6);
  for (let i = 0; i < 400 && hub.catchingUpFromStore; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(hub.catchingUpFromStore, false, "the catch-up stopped");
  await publishStored(hub, 6, 5);
  await delivered(broker);
  assert.deepEqual(seqsOf(a), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(active, [true, false]);
  await hub.shutdown();
});

Deno.test("`Hub` skips a gap the store cannot fill; clients see the jump and catch up", async () => {
  const { hub } = await instance();
  const a = await open(hub, "alice", ["r1"]);
  await publishStored(hub, 1, 9);
  await a.transport.waitForFrames(2);
  assert.deepEqual(seqsOf(a), [1, 9]);
  await hub.shutdown();
});

Deno.test("`Hub.recentAfter()` serves a resume from the recent window only when it covers the gap", async () => {
  const broker = new MemoryBroker();
  const bus = new SpyBus(new MemoryBus(broker));
  const hub = new Hub({ bus, history: new FakeHistory(), log: nullLogger, recentSize: 50 });
  await hub.start(new RecordingHandler());
  const a = await open(hub, "alice", ["r1"]);
  for (let seq = 1; seq <= 120; seq++) await publishStored(hub, seq);
  await a.transport.waitForFrames(120);
  assert.equal(hub.recentAfter("r1", 10), null, "the window holds 51..120 only");
  assert.deepEqual(
    hub.recentAfter("r1", 100)!.map((f) => f.seq),
    Array.from({ length: 20 }, (_, i) => 101 + i),
  );
  assert.deepEqual(hub.recentAfter("r1", 120), []);
  assert.equal(hub.recentAfter("elsewhere", 0), null);
  await hub.shutdown();
});

// ------------------------------------------------------------------------------------------------ resume

Deno.test("`Hub` resume on an open socket after the room's stream jumped fills the whole gap, once", async () => {
  // Issue 12: a client moves to this instance during a Redis outage and catches up to 5. Messages 6..9 are
  // stored and never published; when Redis is back this hub starts the room at 10, so the socket gets 10 live,
  // sees the jump and resumes from 5 on the same socket. It must get 6..9, then `resumed`, and 10 only once.
  const { hub, handler, history } = await instance();
  answerResumes(hub, handler);
  history.store("r1", storedFrames(1, 2, 3, 4, 5));
  const a = await open(hub, "alice", ["r1"]);
  hub.receive(a.client, JSON.stringify({ type: "resume", rooms: { r1: 3 } }));
  await a.transport.waitForFrames(3);
  assert.deepEqual(seqsOf(a), [4, 5]);
  assert.deepEqual(a.transport.frames.at(-1), { type: "resumed", rooms: { r1: 5 } });

  history.store("r1", storedFrames(6, 7, 8, 9, 10, 11));
  await publishStored(hub, 10); // the first frame this hub sees: its stream of r1 starts here
  await a.transport.waitForFrames(4);
  assert.deepEqual(seqsOf(a), [4, 5, 10], "the jump, as the client sees it");

  hub.receive(a.client, JSON.stringify({ type: "resume", rooms: { r1: 5 } }));
  await a.transport.waitForFrames(10);
  assert.deepEqual(seqsOf(a), [4, 5, 10, 6, 7, 8, 9, 11]);
  assert.deepEqual(a.transport.frames.at(-1), { type: "resumed", rooms: { r1: 11 } });

  // Live again, and the bus bringing 11 late repeats nothing.
  await publishStored(hub, 11, 12);
  await a.transport.waitForFrames(11);
  await nextMacrotask();
  assert.deepEqual(seqsOf(a), [4, 5, 10, 6, 7, 8, 9, 11, 12]);
  await hub.shutdown();
});

Deno.test("`Hub` resume sends exactly what this socket was not sent, whatever the resume point", async () => {
  const { hub, handler, history } = await instance();
  answerResumes(hub, handler);
  const a = await open(hub, "alice", ["r1"]);
  history.store("r1", storedFrames(1, 2, 3, 4, 5, 6, 7, 8));
  await publishStored(hub, 1, 2);
  await publishStored(hub, 6); // a gap the store fills: 3..5
  await a.transport.waitForFrames(6);
  assert.deepEqual(seqsOf(a), [1, 2, 3, 4, 5, 6]);

  // A resume from below what the socket has: nothing it was sent comes again; 7 and 8 (never published) do.
  hub.receive(a.client, JSON.stringify({ type: "resume", rooms: { r1: 2 } }));
  await a.transport.waitForFrames(9);
  assert.deepEqual(seqsOf(a), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(a.transport.frames.at(-1), { type: "resumed", rooms: { r1: 8 } });
  await hub.shutdown();
});

Deno.test("`Hub` answers a resume with at most `resumeMaxMessages`; the room's live frames wait for its last page", async () => {
  const { hub, handler, history } = await instance({ resumeMaxMessages: 3 });
  answerResumes(hub, handler);
  history.store("r1", storedFrames(1, 2, 3, 4, 5, 6, 7, 8));
  const a = await open(hub, "alice", ["r1"]);
  hub.receive(a.client, JSON.stringify({ type: "resume", rooms: { r1: 0 } }));
  await a.transport.waitForFrames(4);
  assert.deepEqual(a.transport.frames.at(-1), { type: "resumed", rooms: { r1: 3 }, more: { r1: 3 } });

  history.store("r1", storedFrames(9));
  await publishStored(hub, 9); // live while the client has not asked for the next page: not sent
  await nextMacrotask();
  assert.deepEqual(seqsOf(a), [1, 2, 3]);
  hub.receive(a.client, JSON.stringify({ type: "resume", rooms: { r1: 3 } }));
  await a.transport.waitForFrames(8);
  assert.deepEqual(a.transport.frames.at(-1), { type: "resumed", rooms: { r1: 6 }, more: { r1: 6 } });
  hub.receive(a.client, JSON.stringify({ type: "resume", rooms: { r1: 6 } }));
  await a.transport.waitForFrames(12);
  assert.deepEqual(a.transport.frames.at(-1), { type: "resumed", rooms: { r1: 9 } });

  await publishStored(hub, 10); // live again
  await a.transport.waitForFrames(13);
  assert.deepEqual(seqsOf(a), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await hub.shutdown();
});

Deno.test("`Hub.resume()` of a room the socket does not receive fails that room only", async () => {
  const { hub, history } = await instance();
  history.store("r1", storedFrames(1, 2));
  const a = await open(hub, "alice", ["r1"]);
  const result = await hub.resume(a.client, { other: 0, r1: 1 });
  assert.deepEqual(result.done, { r1: 2 });
  assert.deepEqual(result.failed.map((f) => [f.roomId, f.error instanceof NotSubscribedError]), [[
    "other",
    true,
  ]]);
  assert.deepEqual(seqsOf(a), [2]);
  await hub.shutdown();
});

// ------------------------------------------------------------------------------------------------ sessions

Deno.test("`Hub.closeSessions()` closes the user's sockets of those sessions with 4003, on every hub", async () => {
  const a = await instance();
  const b = await instance({ broker: a.broker });
  const connect = async (hub: Hub, userId: string, sessionId: string) => {
    const transport = new FakeTransport(`${userId}/${sessionId}`);
    const client = hub.connect(transport, { userId, username: userId, sessionId });
    await client.idle();
    return { client, transport };
  };
  const endedOnA = await connect(a.hub, "u1", "s1");
  const endedOnB = await connect(b.hub, "u1", "s1");
  const kept = await connect(a.hub, "u1", "s2");
  const otherUser = await connect(b.hub, "u2", "s1");
  // The application broadcasts the ended sessions; each hub closes its own sockets.
  const ended: string[] = [];
  for (const hub of [a.hub, b.hub]) {
    await hub.listen("sessions:ended", (payload) => {
      ended.push(payload);
      hub.closeSessions("u1", JSON.parse(payload));
    });
  }
  await a.hub.publish("sessions:ended", JSON.stringify(["s1"]));
  await endedOnA.transport.waitForClose();
  await endedOnB.transport.waitForClose();
  await delivered(a.broker);
  assert.deepEqual(ended, ['["s1"]', '["s1"]'], "each hub heard it once");
  assert.deepEqual(endedOnA.transport.closed, { code: 4003, reason: "Signed out" });
  assert.deepEqual(endedOnB.transport.closed, { code: 4003, reason: "Signed out" });
  assert.equal(kept.transport.closed, undefined);
  assert.equal(otherUser.transport.closed, undefined);
  assert.equal(a.hub.closeSessions("u1", ["s9"]), 0);
  await assert.rejects(a.hub.listen("room:r1", () => {}), /routes itself/);
  for (const { hub } of [a, b]) await hub.shutdown();
});

Deno.test("`Hub` closes a socket with 4001 when its access token expires, unless `renew()` moved it on", async () => {
  const { hub } = await instance();
  const short = new FakeTransport("short");
  const renewed = new FakeTransport("renewed");
  const shortClient = hub.connect(short, {
    userId: "u1",
    username: "u1",
    sessionId: "s1",
    expiresAt: Date.now() + 50,
  });
  const renewedClient = hub.connect(renewed, {
    userId: "u1",
    username: "u1",
    sessionId: "s1",
    expiresAt: Date.now() + 50,
  });
  await Promise.all([shortClient.idle(), renewedClient.idle()]);
  hub.renew(renewedClient, Date.now() + 60_000);
  await short.waitForClose();
  assert.deepEqual(short.closed, { code: 4001, reason: "Access token expired; renew it and reconnect" });
  assert.equal(hub.stats().clients, 1);
  assert.equal(renewed.closes.length, 0);
  await hub.shutdown();
  assert.deepEqual(
    renewed.closes.map((c) => c.code),
    [1001],
    "its timer went with it (no leak for the sanitizer)",
  );
});

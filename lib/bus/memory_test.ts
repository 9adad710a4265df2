import assert from "node:assert/strict";
import { busContract } from "./testing/bus_contract.ts";
import { MemoryBroker, MemoryBus } from "./memory.ts";

busContract("MemoryBus", () => {
  const broker = new MemoryBroker();
  const a = new MemoryBus(broker);
  const b = new MemoryBus(broker);
  const close = async () => {
    await a.close();
    await b.close();
  };
  return Promise.resolve({ a, b, close });
});

Deno.test("`MemoryBroker.channels` returns to 0 after every bus unsubscribes", async () => {
  const broker = new MemoryBroker();
  const a = new MemoryBus(broker);
  const b = new MemoryBus(broker);
  await a.start(() => {});
  await b.start(() => {});
  assert.equal(broker.channels, 0);

  await a.subscribe("room:1");
  await b.subscribe("room:1");
  await a.subscribe("room:2");
  await a.subscribe("room:2");
  assert.equal(broker.channels, 2);

  await a.unsubscribe("room:1");
  assert.equal(broker.channels, 2, "room:1 still has b");
  await b.unsubscribe("room:1");
  assert.equal(broker.channels, 1);
  await b.unsubscribe("room:2");
  assert.equal(broker.channels, 1, "b never subscribed room:2");
  await a.unsubscribe("room:2");
  assert.equal(broker.channels, 0);
  await a.unsubscribe("room:2");
  assert.equal(broker.channels, 0);
});

Deno.test("`MemoryBus.close()` removes all its channels from the broker", async () => {
  const broker = new MemoryBroker();
  const a = new MemoryBus(broker);
  const b = new MemoryBus(broker);
  await a.start(() => {});
  await b.start(() => {});
  await a.subscribe("room:1");
  await a.subscribe("user:1");
  await b.subscribe("room:1");
  assert.equal(broker.channels, 2);

  await a.close();
  assert.equal(broker.channels, 1);
  await b.close();
  assert.equal(broker.channels, 0);
});

Deno.test("`MemoryBus` refuses subscribe() and publish() after close()", async () => {
  const bus = new MemoryBus();
  await bus.start(() => {});
  await bus.close();
  await assert.rejects(async () => await bus.subscribe("room:1"), { message: "The bus is closed" });
  await assert.rejects(async () => await bus.publish("room:1", "x"), { message: "The bus is closed" });
});

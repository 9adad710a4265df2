import assert from "node:assert/strict";
import { type LogFields, Logger, type LogLevel } from "../log.ts";
import { ConnectionSlots } from "./connection_slots.ts";

function recorder() {
  const entries: { level: LogLevel; message: string; fields: LogFields }[] = [];
  const log = new Logger("debug", (level, message, fields) => entries.push({ level, message, fields }));
  return { log, entries };
}

Deno.test("ConnectionSlots hands out `max` slots; a released one can be taken again", () => {
  const { log } = recorder();
  const slots = new ConnectionSlots({ max: 3, log });
  const releases = [slots.tryAcquire(), slots.tryAcquire(), slots.tryAcquire()];
  assert.ok(releases.every((r) => r !== null));
  assert.equal(slots.open, 3);
  assert.equal(slots.full, true);
  assert.equal(slots.tryAcquire(), null);
  releases[1]!();
  releases[1]!(); // a second release gives nothing back
  assert.equal(slots.open, 2);
  assert.equal(slots.full, false);
  assert.notEqual(slots.tryAcquire(), null);
  assert.equal(slots.tryAcquire(), null);
  assert.equal(slots.open, 3);
});

Deno.test("ConnectionSlots logs refusals once per burst, counting the ones in between", () => {
  const { log, entries } = recorder();
  let now = 1_000_000;
  const slots = new ConnectionSlots({ max: 1, log, now: () => now });
  slots.tryAcquire();
  for (let i = 0; i < 500; i++) {
    assert.equal(slots.tryAcquire(), null);
    now += 10; // 500 refusals over 5 s
  }
  assert.equal(entries.length, 1, "one line for the whole burst");
  assert.equal(entries[0].level, "warn");
  assert.match(entries[0].message, /Server full/);
  assert.deepEqual(entries[0].fields, {
    max_connections: 1,
    open_connections: 1,
    refused: 1,
    log_every_s: 10,
  });
  now += 5_000; // 10 s after the first line
  slots.refused();
  assert.equal(entries.length, 2);
  assert.equal(entries[1].fields.refused, 500, "the 499 not logged, and this one");
  slots.refused();
  assert.equal(entries.length, 2);
});

import assert from "node:assert/strict";
import type { ChatMessage } from "../../lib/hub/protocol.ts";
import { fullTime, LOCAL, shortTime, timeline } from "./timeline.ts";

const NOW = Date.parse("2026-12-06T15:00:00Z");

function msg(
  seq: number,
  user_id: string,
  timestamp: string,
  type: ChatMessage["type"] = "text",
): ChatMessage {
  return {
    id: `m${seq}`,
    room_id: "r1",
    seq,
    user_id,
    username: user_id,
    content: `#${seq}`,
    type,
    timestamp,
  };
}

const shape = (items: ReturnType<typeof timeline>) =>
  items.map((i) =>
    i.kind === "message" ? `${i.message.seq}${i.continued ? "+" : ""}` : i.kind === "day" ? i.label : "---"
  );

Deno.test("timeline: day separators (Today, Yesterday, a date), groups of one author within 5 minutes", () => {
  const items = timeline([
    msg(1, "ann", "2026-12-01T09:00:00Z"),
    msg(2, "ann", "2026-12-05T23:59:00Z"),
    msg(3, "ann", "2026-12-06T00:01:00Z"),
    msg(4, "ann", "2026-12-06T00:05:59Z"),
    msg(5, "bob", "2026-12-06T00:06:00Z"),
    msg(6, "bob", "2026-12-06T00:20:00Z"),
    msg(7, "bob", "2026-12-06T00:21:00Z", "system"),
    msg(8, "bob", "2026-12-06T00:22:00Z"),
  ], { timeZone: "UTC", now: NOW, readSeq: null, meId: "me" });
  assert.deepEqual(shape(items), [
    "Tuesday, December 1, 2026",
    "1",
    "Yesterday",
    "2",
    "Today",
    "3",
    "4+",
    "5",
    "6",
    "7",
    "8",
  ]);
});

Deno.test("timeline: the days follow the zone", () => {
  // 01:00 on December 6 in Tokyo, still December 5 in UTC; now is 19:00 on December 6 in Tokyo.
  const messages = [msg(1, "ann", "2026-12-05T16:00:00Z")];
  const options = { now: Date.parse("2026-12-06T10:00:00Z"), readSeq: null, meId: "me" };
  assert.deepEqual(shape(timeline(messages, { ...options, timeZone: "Asia/Tokyo" })), ["Today", "1"]);
  assert.deepEqual(shape(timeline(messages, { ...options, timeZone: "UTC" })), ["Yesterday", "1"]);
});

Deno.test("timeline: the unread line goes before the first unread message of someone else, after own ones", () => {
  const at = (m: number) => `2026-12-06T10:0${m}:00Z`;
  const messages = [msg(1, "ann", at(0)), msg(2, "me", at(1)), msg(3, "ann", at(2)), msg(4, "ann", at(3))];
  const options = { timeZone: "UTC", now: NOW, meId: "me" };
  assert.deepEqual(shape(timeline(messages, { ...options, readSeq: 0 })), [
    "Today",
    "1",
    "2",
    "---",
    "3",
    "4+",
  ]);
  assert.deepEqual(shape(timeline(messages, { ...options, readSeq: 3 })), [
    "Today",
    "1",
    "2",
    "3",
    "---",
    "4",
  ]);
  assert.deepEqual(shape(timeline(messages, { ...options, readSeq: null })), ["Today", "1", "2", "3", "4+"]);
});

Deno.test("times: the browser's own zone with Date, a named zone with Intl, in the same format", () => {
  const iso = "2026-12-06T09:05:07Z";
  const d = new Date(iso);
  const hh = String(d.getHours()).padStart(2, "0");
  const mm = String(d.getMinutes()).padStart(2, "0");
  assert.equal(shortTime(iso, LOCAL), `${hh}:${mm}`);
  assert.equal(shortTime(iso, "UTC"), "09:05");
  assert.equal(fullTime(iso, "UTC"), "Sunday, December 6, 2026 at 09:05:07");
  assert.equal(fullTime(iso, "America/New_York"), "Sunday, December 6, 2026 at 04:05:07");
  if (new Date(0).getTimezoneOffset() === 0) assert.equal(fullTime(iso, LOCAL), fullTime(iso, "UTC"));
});

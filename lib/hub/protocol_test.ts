import assert from "node:assert/strict";
import {
  type AckFrame,
  type ChatMessage,
  type ClientFrame,
  type ErrorFrame,
  FrameError,
  isClientId,
  MAX_FRAME_BYTES,
  parseClientFrame,
  type ServerFrame,
} from "./protocol.ts";

/** What `parseClientFrame()` threw for `text`: its code and message (fails when it returned instead). */
function refusal(text: string): { code: string; message: string } {
  try {
    const frame = parseClientFrame(text);
    assert.fail(`Expected a FrameError for ${text.slice(0, 80)}, got ${JSON.stringify(frame)}`);
  } catch (error) {
    if (!(error instanceof FrameError)) throw error;
    assert.equal(error.name, "FrameError");
    return { code: error.code, message: error.message };
  }
}

const NOT_AN_OBJECT = { code: "invalid_frame", message: "Frame must be a JSON object" };
const NO_TYPE = { code: "invalid_frame", message: 'Frame needs a string "type"' };
const NO_ROOM = { code: "invalid_frame", message: 'Frame needs "room_id"' };
const ROOM_NOT_STRING = { code: "invalid_frame", message: '"room_id" must be a string' };
const NO_CONTENT = { code: "invalid_frame", message: 'Frame needs "content"' };
const CONTENT_NOT_STRING = { code: "invalid_frame", message: '"content" must be a string' };
const BAD_CLIENT_ID = {
  code: "invalid_frame",
  message: '"client_id" must be 1-64 characters of A-Z, a-z, 0-9, _ or -',
};
const unknownType = (type: string) => ({
  code: "unknown_type",
  message:
    `Unknown frame type "${type}"; expected one of message, join, leave, typing, ping, resume, refresh`,
});

Deno.test("`parseClientFrame()` returns every valid frame type", async (t) => {
  const cases: Array<[string, string, ClientFrame]> = [
    ["ping", '{"type":"ping"}', { type: "ping" }],
    ["join", '{"type":"join","room_id":"r1"}', { type: "join", room_id: "r1" }],
    ["leave", '{"type":"leave","room_id":"r1"}', { type: "leave", room_id: "r1" }],
    ["typing", '{"type":"typing","room_id":"r1"}', { type: "typing", room_id: "r1" }],
    [
      "message",
      '{"type":"message","room_id":"r1","content":"hi"}',
      { type: "message", room_id: "r1", content: "hi" },
    ],
    [
      "message with client_id",
      '{"type":"message","room_id":"r1","content":"hi","client_id":"c-1_A"}',
      { type: "message", room_id: "r1", content: "hi", client_id: "c-1_A" },
    ],
    [
      "message with client_id null (treated as absent)",
      '{"type":"message","room_id":"r1","content":"hi","client_id":null}',
      { type: "message", room_id: "r1", content: "hi" },
    ],
    [
      "message with empty content (content rules are the service's)",
      '{"type":"message","room_id":"r1","content":""}',
      { type: "message", room_id: "r1", content: "" },
    ],
    [
      "message with unicode and newlines",
      JSON.stringify({ type: "message", room_id: "r1", content: "héllo 🎉\nline two" }),
      { type: "message", room_id: "r1", content: "héllo 🎉\nline two" },
    ],
    ["empty room_id string", '{"type":"join","room_id":""}', { type: "join", room_id: "" }],
    ["whitespace around JSON", ' \n{"type":"ping"}\n ', { type: "ping" }],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => {
      assert.deepEqual(parseClientFrame(text), expected);
    });
  }
});

Deno.test("`parseClientFrame()` ignores extra fields", async (t) => {
  const cases: Array<[string, string, ClientFrame]> = [
    ["ping", '{"type":"ping","room_id":"r1","x":1}', { type: "ping" }],
    [
      "join with content and client_id",
      '{"type":"join","room_id":"r1","content":"hi","client_id":"c1","extra":{"a":1}}',
      { type: "join", room_id: "r1" },
    ],
    [
      "leave with a bad client_id (not checked for leave)",
      '{"type":"leave","room_id":"r1","client_id":"not valid!"}',
      { type: "leave", room_id: "r1" },
    ],
    [
      "message with seq and user_id (the server assigns those)",
      '{"type":"message","room_id":"r1","content":"hi","seq":5,"user_id":"admin","__proto__":{"x":1}}',
      { type: "message", room_id: "r1", content: "hi" },
    ],
  ];
  for (const [name, text, expected] of cases) {
    await t.step(name, () => {
      const frame = parseClientFrame(text);
      assert.deepEqual(frame, expected);
      assert.deepEqual(Object.keys(frame), Object.keys(expected));
    });
  }
});

Deno.test("`parseClientFrame()` refuses invalid JSON with `invalid_json`", async (t) => {
  const cases = [
    "",
    " ",
    "{",
    "not json",
    "{'type':'ping'}",
    '{"type":"ping",}',
    '{"type":"ping"} x',
    "undefined",
  ];
  for (const text of cases) {
    await t.step(JSON.stringify(text), () => {
      assert.deepEqual(refusal(text), { code: "invalid_json", message: "Frame is not valid JSON" });
    });
  }
});

Deno.test("`parseClientFrame()` refuses JSON that is not an object with `invalid_frame`", async (t) => {
  const cases = ["null", "[]", '[{"type":"ping"}]', "42", '"ping"', "true", "false"];
  for (const text of cases) {
    await t.step(text, () => {
      assert.deepEqual(refusal(text), NOT_AN_OBJECT);
    });
  }
});

Deno.test("`parseClientFrame()` refuses a missing or non-string type with `invalid_frame`", async (t) => {
  const cases = [
    "{}",
    '{"room_id":"r1"}',
    '{"type":null}',
    '{"type":1}',
    '{"type":true}',
    '{"type":["ping"]}',
    '{"type":{"name":"ping"}}',
  ];
  for (const text of cases) {
    await t.step(text, () => {
      assert.deepEqual(refusal(text), NO_TYPE);
    });
  }
});

Deno.test("`parseClientFrame()` refuses an unknown type with `unknown_type`", async (t) => {
  const long = "t".repeat(100);
  const cases: Array<[string, string]> = [
    ['{"type":"pong"}', "pong"],
    ['{"type":"ack","room_id":"r1"}', "ack"],
    ['{"type":"MESSAGE","room_id":"r1","content":"hi"}', "MESSAGE"],
    ['{"type":" ping"}', " ping"],
    ['{"type":""}', ""],
    ['{"type":"constructor"}', "constructor"],
    [`{"type":"${long}"}`, "t".repeat(40)],
  ];
  for (const [text, shown] of cases) {
    await t.step(text.slice(0, 60), () => {
      assert.deepEqual(refusal(text), unknownType(shown));
    });
  }
});

Deno.test("`parseClientFrame()` refuses a missing or non-string room_id with `invalid_frame`", async (t) => {
  for (const type of ["join", "leave", "typing", "message"]) {
    const base = type === "message" ? { type, content: "hi" } : { type };
    const cases: Array<[string, unknown, { code: string; message: string }]> = [
      ["missing", undefined, NO_ROOM],
      ["null", null, NO_ROOM],
      ["number", 42, ROOM_NOT_STRING],
      ["object", { $ne: "" }, ROOM_NOT_STRING],
      ["array", ["r1"], ROOM_NOT_STRING],
      ["boolean", true, ROOM_NOT_STRING],
    ];
    for (const [name, roomId, expected] of cases) {
      await t.step(`${type}: room_id ${name}`, () => {
        assert.deepEqual(refusal(JSON.stringify({ ...base, room_id: roomId })), expected);
      });
    }
  }
});

Deno.test("`parseClientFrame()` refuses a message without string content with `invalid_frame`", async (t) => {
  const cases: Array<[string, unknown, { code: string; message: string }]> = [
    ["missing", undefined, NO_CONTENT],
    ["null", null, NO_CONTENT],
    ["object", { text: "hi" }, CONTENT_NOT_STRING],
    ["array", ["hi"], CONTENT_NOT_STRING],
    ["number", 7, CONTENT_NOT_STRING],
  ];
  for (const [name, content, expected] of cases) {
    await t.step(`content ${name}`, () => {
      assert.deepEqual(refusal(JSON.stringify({ type: "message", room_id: "r1", content })), expected);
    });
  }
});

Deno.test("`parseClientFrame()` checks a message's client_id", async (t) => {
  const valid = ["a", "A", "0", "_", "-", "abc-DEF_123", "x".repeat(64)];
  for (const clientId of valid) {
    await t.step(`accepts ${JSON.stringify(clientId.slice(0, 20))} (${clientId.length} chars)`, () => {
      const frame = parseClientFrame(
        JSON.stringify({ type: "message", room_id: "r", content: "c", client_id: clientId }),
      );
      assert.deepEqual(frame, { type: "message", room_id: "r", content: "c", client_id: clientId });
    });
  }
  const invalid: Array<[string, unknown]> = [
    ["too long (65 chars)", "x".repeat(65)],
    ["empty", ""],
    ["space", "has space"],
    ["dot", "a.b"],
    ["slash", "a/b"],
    ["non-ASCII letter", "ünï"],
    ["emoji", "🎉"],
    ["trailing newline", "abc\n"],
    ["number", 5],
    ["boolean", true],
    ["object", { id: "c1" }],
    ["array", ["c1"]],
  ];
  for (const [name, clientId] of invalid) {
    await t.step(`refuses ${name}`, () => {
      const text = JSON.stringify({ type: "message", room_id: "r", content: "c", client_id: clientId });
      assert.deepEqual(refusal(text), BAD_CLIENT_ID);
    });
  }
});

Deno.test("`isClientId()` accepts 1-64 characters of A-Z, a-z, 0-9, _ and -", async (t) => {
  const cases: Array<[unknown, boolean]> = [
    ["a", true],
    ["Z9_-", true],
    ["x".repeat(64), true],
    ["x".repeat(65), false],
    ["", false],
    ["a b", false],
    ["a\nb", false],
    ["é", false],
    [undefined, false],
    [null, false],
    [1, false],
    [["a"], false],
    [{ toString: () => "a" }, false],
  ];
  for (const [value, expected] of cases) {
    const name = typeof value === "string" && value.length > 20
      ? `${JSON.stringify(value.slice(0, 8) + "…")} (${value.length} chars)`
      : Deno.inspect(value);
    await t.step(`${name} -> ${expected}`, () => {
      assert.equal(isClientId(value), expected);
    });
  }
});

Deno.test("`MAX_FRAME_BYTES` is 64 KiB", () => {
  assert.equal(MAX_FRAME_BYTES, 65_536);
});

Deno.test("client frames survive JSON serialisation and `parseClientFrame()` unchanged", async (t) => {
  const frames: ClientFrame[] = [
    { type: "ping" },
    { type: "join", room_id: "6745f0c2a1b2c3d4e5000001" },
    { type: "leave", room_id: "6745f0c2a1b2c3d4e5000001" },
    { type: "typing", room_id: "6745f0c2a1b2c3d4e5000001" },
    { type: "message", room_id: "r1", content: 'quote " backslash \\ newline \n emoji 🎉' },
    { type: "message", room_id: "r1", content: "hi", client_id: "c-42" },
  ];
  for (const frame of frames) {
    await t.step(frame.type + ("client_id" in frame ? " with client_id" : ""), () => {
      assert.deepEqual(parseClientFrame(JSON.stringify(frame)), frame);
    });
  }
});

Deno.test("server frames survive JSON serialisation unchanged", async (t) => {
  const message: ChatMessage = {
    id: "6745f0c2a1b2c3d4e5000009",
    room_id: "6745f0c2a1b2c3d4e5000001",
    seq: 42,
    user_id: "6745f0c2a1b2c3d4e5000002",
    username: "zoë",
    content: 'Hello\n"world" \\ 🎉 <script>alert(1)</script>',
    type: "text",
    timestamp: "2024-11-26T12:34:56.789Z",
    client_id: "c-1",
  };
  const ack: AckFrame = { type: "ack", client_id: null, id: message.id, seq: 42, room_id: message.room_id };
  const error: ErrorFrame = {
    type: "error",
    code: "rate_limited",
    message: "Too many messages; slow down",
    retryable: true,
    client_id: "c-1",
    room_id: "r1",
    retry_after_ms: 1_500,
  };
  const frames: Array<[string, ServerFrame]> = [
    ["ChatMessage", message],
    ["ChatMessage without client_id", { ...message, client_id: undefined, type: "system" }],
    ["AckFrame", ack],
    ["ErrorFrame", error],
    ["PresenceFrame", { type: "presence", user_id: "u1", username: "ann", status: "offline" }],
    ["TypingNotice", { type: "typing", room_id: "r1", user_id: "u1", username: "ann" }],
    ["JoinedFrame", { type: "joined", room_id: "r1", last_seq: 0 }],
    ["LeftFrame", { type: "left", room_id: "r1" }],
    ["PongFrame", { type: "pong" }],
  ];
  for (const [name, frame] of frames) {
    await t.step(name, () => {
      const parsed = JSON.parse(JSON.stringify(frame));
      // An undefined optional field is dropped by JSON, as it is on the wire.
      const expected = Object.fromEntries(Object.entries(frame).filter(([, v]) => v !== undefined));
      assert.deepEqual(parsed, expected);
    });
  }
});

Deno.test("parseClientFrame() reads a resume frame and refuses malformed ones", async (t) => {
  const ok = parseClientFrame('{"type":"resume","rooms":{"6745f0c2a1b2c3d4e5000001":12,"r2":0}}');
  assert.deepEqual(ok, { type: "resume", rooms: { "6745f0c2a1b2c3d4e5000001": 12, r2: 0 } });
  const bad: [string, string][] = [
    ["no rooms", '{"type":"resume"}'],
    ["rooms as an array", '{"type":"resume","rooms":[1]}'],
    ["a negative seq", '{"type":"resume","rooms":{"r":-1}}'],
    ["a fractional seq", '{"type":"resume","rooms":{"r":1.5}}'],
    ["a seq as a string", '{"type":"resume","rooms":{"r":"3"}}'],
    [
      "too many rooms",
      JSON.stringify({
        type: "resume",
        rooms: Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`r${i}`, 0])),
      }),
    ],
  ];
  for (const [name, text] of bad) {
    await t.step(name, () => {
      assert.throws(() => parseClientFrame(text), (e: FrameError) => e.code === "invalid_frame");
    });
  }
});

/**
 * A bounded resume against a real server process (`main.ts`), over raw sockets: one `resume` frame is answered
 * with at most `RESUME_MAX_MESSAGES` (1,000) messages, `resumed` names the rest in `more`, and the client asks
 * again. A 2,000-message gap of 2 KB messages reaches a client that reads slowly and one that reads at full
 * speed complete, in order, exactly once, with the live messages sent meanwhile after it, and neither is
 * closed as a slow consumer (4008): the backfill is written as the socket drains. A client that stops reading
 * instead is closed once the live messages held for it during its resume pass `WS_MAX_BUFFERED_BYTES`.
 */
import assert from "node:assert/strict";
import { openTestStore, seedMessages, testDatabaseUrl } from "./helpers/database.ts";
import { spawnServer } from "./helpers/process.ts";
import { api, createRoom, newUser, type TestUser, waitUntil } from "./helpers/server.ts";
import { type Frame, rawUpgrade } from "./helpers/socket.ts";
import { clientTextFrame, ServerFrameReader } from "./helpers/ws_frames.ts";

const GAP = 2_000;
const LIVE = 30;
const PAGE = 1_000; // the default RESUME_MAX_MESSAGES
const KB2 = "x".repeat(2_000);

/**
 * A room of a new user `alice` joined by new users named `readers`, then `count` messages of alice's stored
 * straight into the store (nothing published) while the readers are away.
 */
async function roomWithGap(
  base: string,
  databaseUrl: string,
  readers: string[],
  count: number,
  content: (i: number) => string,
): Promise<{ room: string; alice: TestUser; readers: TestUser[] }> {
  const [alice, ...people] = await Promise.all(["alice", ...readers].map((n) => newUser(base, n)));
  const room = (await createRoom(base, alice)).id;
  for (const user of people) {
    assert.equal((await api(base, "POST", `/api/rooms/${room}/join`, { token: user.token })).status, 200);
  }
  const store = await openTestStore(databaseUrl);
  try {
    await seedMessages(
      databaseUrl,
      store,
      { room_id: room, user_id: alice.id, username: alice.username },
      count,
      content,
    );
  } finally {
    await store.close();
  }
  return { room, alice, readers: people };
}

/** A socket over a raw TCP connection: it reads only when the test asks, so a test can read slowly. */
class RawSocket {
  readonly #reader: ServerFrameReader;

  private constructor(readonly conn: Deno.TcpConn) {
    this.#reader = new ServerFrameReader(conn);
  }

  static async open(port: number, user: TestUser): Promise<RawSocket> {
    const upgrade = await rawUpgrade(port, `/ws?token=${user.token}`);
    assert.equal(upgrade.status, 101, upgrade.body);
    return new RawSocket(upgrade.conn);
  }

  async send(frame: Frame): Promise<void> {
    await this.conn.write(clientTextFrame(JSON.stringify(frame)));
  }

  /** The next text frame, parsed; `{ closed: code }` at the close frame (EOF, or closed here: `closed: 0`). */
  async next(): Promise<Frame> {
    for (;;) {
      const frame = await this.#reader.next().catch(() => null);
      if (frame === null) return { closed: 0 };
      if (frame.opcode === 0x8) {
        const code = frame.payload.length >= 2 ? new DataView(frame.payload.buffer).getUint16(0) : 1005;
        return { closed: code };
      }
      if (frame.opcode === 0x1) return JSON.parse(new TextDecoder().decode(frame.payload));
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
  }
}

interface CatchUp {
  /** Seqs of the room's stored frames, in arrival order. */
  seqs: number[];
  /** Contents by seq. */
  contents: Map<number, string>;
  /** Every `resumed` frame, in order. */
  resumed: Frame[];
  /** Stored frames that arrived before each `resumed` (since the previous one). */
  pages: number[];
  /** Stored frames that arrived before the last `resumed`. */
  beforeEnd: number;
  /** The close code, when the server closed the socket. */
  closed?: number;
}

/**
 * Resumes `room` from `from` as the web client does (and asks again with each `resumed.more`) until a `resumed`
 * without `more` came and the last seq `posted` resolves to has arrived, then syncs with a ping so that any
 * repeat would show. `pace` runs after every frame read (a slow reader sleeps in it).
 */
async function catchUp(
  socket: RawSocket,
  room: string,
  from: number,
  posted: Promise<number>,
  pace: (read: number) => Promise<void> = () => Promise.resolve(),
): Promise<CatchUp> {
  const result: CatchUp = { seqs: [], contents: new Map(), resumed: [], pages: [], beforeEnd: 0 };
  await socket.send({ type: "resume", rooms: { [room]: from } });
  let page = 0, read = 0, done = false, pinged = false;
  for (;;) {
    const frame = await socket.next();
    await pace(++read);
    if (frame.closed !== undefined) {
      result.closed = frame.closed;
      return result;
    }
    if ((frame.type === "text" || frame.type === "system") && frame.room_id === room) {
      result.seqs.push(frame.seq);
      result.contents.set(frame.seq, frame.content);
      page++;
    } else if (frame.type === "resumed") {
      result.resumed.push(frame);
      result.pages.push(page);
      page = 0;
      if (frame.more !== undefined) await socket.send({ type: "resume", rooms: frame.more });
      else {
        done = true;
        result.beforeEnd = result.seqs.length;
      }
    } else if (frame.type === "pong") return result;
    if (done && !pinged && result.seqs.at(-1) === await posted) {
      pinged = true;
      await socket.send({ type: "ping" });
    }
  }
}

Deno.test(
  `a ${GAP.toLocaleString("en")}-message gap of 2 KB messages comes in pages of at most ${PAGE}, complete, ` +
    "in order, once, with the live messages after it, to a slow and a fast reader, and no 4008",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "chat-resume-bounds-" });
    const databaseUrl = testDatabaseUrl(dir);
    // Long heartbeats: the raw sockets never answer a ping.
    const server = await spawnServer({ DATABASE_URL: databaseUrl, HEARTBEAT_SECONDS: "300" });
    const sockets: RawSocket[] = [];
    try {
      // Seqs 1 and 2 are the join notices; the gap is stored while both readers are away.
      const { room, alice, readers: [fast, slow] } = await roomWithGap(
        server.url,
        databaseUrl,
        ["fast", "slow"],
        GAP,
        (i) => `away ${i} ${KB2}`,
      );
      const first = 3, lastStored = 2 + GAP;

      const fastSocket = await RawSocket.open(server.port, fast);
      const slowSocket = await RawSocket.open(server.port, slow);
      sockets.push(fastSocket, slowSocket);
      // Live messages, stored and published while both readers are still catching up.
      const posting = (async () => {
        let lastSeq = lastStored;
        for (let i = 1; i <= LIVE; i++) {
          const res = await api(server.url, "POST", `/api/rooms/${room}/messages`, {
            token: alice.token,
            body: { content: `live ${i}` },
          });
          assert.equal(res.status, 201);
          lastSeq = res.body.seq;
          await new Promise((r) => setTimeout(r, 20));
        }
        return lastSeq;
      })();
      posting.catch(() => {}); // awaited by the readers; a failure fails the test there
      // A reader the server left waiting would hang the test: its socket is closed after a minute instead.
      let stuck = false;
      const guard = setTimeout(() => {
        stuck = true;
        for (const socket of sockets) socket.close();
      }, 60_000);
      const [atFast, atSlow] = await Promise.all([
        catchUp(fastSocket, room, first - 1, posting),
        // 50 ms every 25 frames: about 1 MB/s, far slower than the server can write.
        catchUp(slowSocket, room, first - 1, posting, (read) => {
          return read % 25 === 0 ? new Promise((r) => setTimeout(r, 50)) : Promise.resolve();
        }),
      ]).finally(() => clearTimeout(guard));
      assert.equal(
        stuck,
        false,
        `caught up within a minute (fast: ${atFast?.seqs.length}, slow: ${atSlow?.seqs.length})`,
      );

      const expected = Array.from({ length: GAP + LIVE }, (_, i) => first + i);
      for (const [name, got] of [["fast", atFast], ["slow", atSlow]] as const) {
        assert.equal(got.closed, undefined, `the ${name} reader was not closed (got ${got.closed})`);
        assert.deepEqual(
          got.seqs,
          expected,
          `${name}: every seq once, in order, the live ones after the gap`,
        );
        assert.equal(got.contents.get(first), `away 1 ${KB2}`);
        assert.equal(got.contents.get(lastStored + LIVE), `live ${LIVE}`);
        assert.ok(got.resumed.length >= 2, `${name}: paged (${got.resumed.length} resumed frames)`);
        assert.deepEqual(
          got.resumed[0].more,
          { [room]: first - 1 + PAGE },
          `${name}: the first page stopped`,
        );
        assert.equal(got.pages[0], PAGE, `${name}: one small frame brought exactly ${PAGE}`);
        got.resumed.forEach((frame, i) => {
          const final = i === got.resumed.length - 1;
          assert.equal(frame.more === undefined, final, `${name}: only the last resumed has no more`);
          // The last one also carries the live messages held while its page was written.
          assert.ok(got.pages[i] <= PAGE + (final ? LIVE : 0), `${name}: page ${i} has ${got.pages[i]}`);
        });
      }
      // The slow reader took seconds: the live messages were stored while it was being paged, and came in
      // their place, right after the gap.
      assert.ok(
        atSlow.beforeEnd > GAP,
        `live messages came during the slow reader's resume (${atSlow.beforeEnd})`,
      );
      assert.ok(
        !server.logs.some((entry) => entry.msg === "Closing slow consumer"),
        "no socket was closed as slow",
      );
    } finally {
      for (const socket of sockets) socket.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("a client that stops reading during a resume is closed as slow once the live messages held for it pass the cap", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-resume-bounds-" });
  const databaseUrl = testDatabaseUrl(dir);
  const server = await spawnServer({
    DATABASE_URL: databaseUrl,
    HEARTBEAT_SECONDS: "300",
    MAX_MESSAGE_CHARS: "16000",
  });
  let socket: RawSocket | undefined;
  try {
    // A page of 1,000 messages of 16 KB: more than the kernel's socket buffers take from a peer that never
    // reads, so the backfill stops, waiting for the socket to drain.
    const { room, alice, readers: [bob] } = await roomWithGap(
      server.url,
      databaseUrl,
      ["bob"],
      1_000,
      (i) => `${i} ${"y".repeat(16_000 - 6)}`,
    );
    socket = await RawSocket.open(server.port, bob);
    await socket.send({ type: "resume", rooms: { [room]: 1 } });
    const closed = () =>
      server.logs.some((entry) => entry.msg === "Closing slow consumer" && entry.user_id === bob.id);
    // The live messages of the room are held for bob meanwhile: 1 MiB of them (WS_MAX_BUFFERED_BYTES) is the
    // most the server keeps for him.
    let posted = 0;
    while (!closed() && posted < 400) {
      const res = await api(server.url, "POST", `/api/rooms/${room}/messages`, {
        token: alice.token,
        body: { content: `live ${++posted} ${"z".repeat(16_000 - 20)}` },
      });
      assert.equal(res.status, 201);
    }
    await waitUntil(closed, "bob closed as a slow consumer");
    assert.ok(
      posted >= 60,
      `closed for about 1 MiB held (64 x 16 KB), not for the backfill (after ${posted} live messages)`,
    );
  } finally {
    socket?.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

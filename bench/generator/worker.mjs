// One load-generator process (Node + ws). It holds up to a few thousand WebSocket connections to the server
// under test, publishes open-loop at a given rate, and records publish->deliver latency in an HDR histogram.
// bench/run.ts starts several of these (each process may hold at most 20,000 open files here) and drives them
// with one JSON command per line on stdin; each answer is one JSON line on stdout with the command's `id`.
//
// Every published message carries `<sender>|<n>|<t>` in its content: the sending connection, that sender's
// own sequence number and the intended send time (ms since the epoch, shared by every process of the machine).
// Open loop: the send time is when the message was due, not when the event loop got to it, so a server that
// falls behind shows as latency instead of slowing the generator down (no coordinated omission).
//
// Protocols: "ours" (this project's /ws: ping/pong to be ready, `message` frames, `resume` after a reconnect),
// "plain" (bench/peers: `{room, content}` in, `{type:"text", room_id, content}` out) and "socketio" (Engine.IO
// v4 over a raw WebSocket, Socket.IO packets `40` and `42["msg",...]`, answering the server's pings).
import { createInterface } from "node:readline";
import * as hdr from "hdr-histogram-js";
import { WebSocket } from "ws";
import { newHistogram } from "./histogram.mjs";

const WORKER = process.env.WORKER_ID ?? "0";
/** Source address of every connection (127.0.0.x), so that no source address needs more than ~28k ports. */
const LOCAL_ADDRESS = process.env.LOCAL_ADDRESS || undefined;

const now = () => performance.timeOrigin + performance.now();

const state = {
  /** @type {Conn[]} */
  conns: [],
  /** Connections ever created: each one's sender name is unique. */
  created: 0,
  histogram: newHistogram(),
  received: 0,
  gaps: 0,
  dups: 0,
  sent: 0,
  unexpectedCloses: 0,
  closeCodes: {},
  /** Error frames by code (ours: a refused send is one). */
  errors: {},
  /** Per message (`sender|n`): recipients reached and the slowest latency, when tracking is on (S4). */
  perMessage: null,
  recording: true,
};

class Conn {
  constructor(index, protocol, spec) {
    this.index = index;
    this.sender = `${WORKER}.${index}`;
    this.protocol = protocol;
    this.url = spec.url;
    this.rooms = spec.rooms ?? [];
    this.ws = null;
    this.ready = false;
    this.dropping = false;
    this.published = 0;
    /** Peers: the last number seen per sender. */
    this.last = new Map();
    /**
     * Ours, per room: `last`, the seq up to which every stored frame (text or system) has arrived, and `ahead`,
     * seqs that came early during a resume (live frames may precede the backfill until `resumed`).
     */
    this.seqs = new Map();
    this.resuming = false;
    this.onReady = null;
  }

  /** Opens the socket; resolves when the protocol says it is ready, rejects with a short reason. */
  open(resume) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, {
        perMessageDeflate: false,
        localAddress: LOCAL_ADDRESS,
      });
      this.ws = ws;
      this.ready = false;
      let settled = false;
      const fail = (reason) => {
        if (settled) return;
        settled = true;
        reject(new Error(reason));
      };
      this.onReady = () => {
        if (settled) return;
        settled = true;
        this.ready = true;
        resolve();
      };
      ws.on("unexpected-response", (_req, res) => {
        fail(`http_${res.statusCode}`);
        res.resume();
        ws.terminate();
      });
      ws.on("error", (error) => fail(error.code ?? "error"));
      ws.on("open", () => {
        if (this.protocol === "ours") {
          if (resume && this.rooms.length > 0) {
            this.resuming = true;
            const rooms = Object.fromEntries(
              this.rooms.map((room) => [room, this.seqs.get(room)?.last ?? 0]),
            );
            ws.send(JSON.stringify({ type: "resume", rooms }));
          } else ws.send('{"type":"ping"}');
        } else if (this.protocol === "plain") this.onReady();
      });
      ws.on("message", (data) => this.#frame(data.toString()));
      ws.on("close", (code) => {
        this.ready = false;
        if (!settled) fail(`closed_${code}`);
        else if (!this.dropping && ws === this.ws) {
          state.unexpectedCloses++;
          state.closeCodes[code] = (state.closeCodes[code] ?? 0) + 1;
        }
      });
    });
  }

  publish(content) {
    const room = this.rooms[0];
    if (this.protocol === "ours") {
      this.ws.send(
        `{"type":"message","room_id":"${room}","content":"${content}"}`,
      );
    } else if (this.protocol === "plain") {
      this.ws.send(`{"room":"${room}","content":"${content}"}`);
    } else {
      this.ws.send(`42["msg",{"room":"${room}","content":"${content}"}]`);
    }
  }

  #frame(text) {
    if (this.protocol === "socketio") {
      if (text === "2") return this.ws.send("3");
      if (text.startsWith("42")) {
        const [, payload] = JSON.parse(text.slice(2));
        return this.#delivered(payload.content);
      }
      if (text.startsWith("40")) return this.onReady?.();
      if (text.startsWith("0")) return this.ws.send("40");
      return;
    }
    const frame = JSON.parse(text);
    if (frame.type === "text" || frame.type === "system") {
      this.#stored(frame.room_id, frame.seq);
    }
    if (frame.type === "text") return this.#delivered(frame.content);
    // A resume longer than the server's page (RESUME_MAX_MESSAGES) goes on where `more` says.
    if (frame.type === "resumed" && frame.more) {
      this.ws?.send(JSON.stringify({ type: "resume", rooms: frame.more }));
      return;
    }
    if (frame.type === "resumed") this.#resumed();
    if (frame.type === "error") {
      state.errors[frame.code] = (state.errors[frame.code] ?? 0) + 1;
    }
    if (frame.type === "pong" || frame.type === "resumed") this.onReady?.();
  }

  /** Ours: checks a stored frame's seq against what this connection holds (gaps and repeats). */
  #stored(room, seq) {
    let r = this.seqs.get(room);
    if (r === undefined) {
      // A resume with nothing held asked for the room from seq 1; otherwise the first frame is the start.
      r = { last: this.resuming ? 0 : seq - 1, ahead: new Set() };
      this.seqs.set(room, r);
    }
    if (seq <= r.last || r.ahead.has(seq)) state.dups++;
    else if (seq === r.last + 1) {
      r.last = seq;
      while (r.ahead.delete(r.last + 1)) r.last++;
    } else if (this.resuming) r.ahead.add(seq);
    else {
      state.gaps += seq - r.last - 1;
      r.last = seq;
    }
  }

  /** Ours: the resume is complete, so anything still missing below an early frame is a gap. */
  #resumed() {
    this.resuming = false;
    for (const r of this.seqs.values()) {
      if (r.ahead.size === 0) continue;
      const top = Math.max(...r.ahead);
      state.gaps += top - r.last - r.ahead.size;
      r.last = top;
      r.ahead.clear();
    }
  }

  /** A delivered bench message: latency; for the peers, gaps and repeats per sender (ours: see #stored). */
  #delivered(content) {
    const [sender, n, t] = content.split("|");
    state.received++;
    if (state.recording) {
      state.histogram.recordValue(
        Math.max(1, Math.round((now() - Number(t)) * 1000)),
      );
    }
    if (this.protocol !== "ours") {
      const last = this.last.get(sender) ?? 0;
      const num = Number(n);
      if (num <= last) state.dups++;
      else if (num > last + 1) state.gaps += num - last - 1;
      if (num > last) this.last.set(sender, num);
    }
    if (state.perMessage !== null) {
      const key = `${sender}|${n}`;
      const ms = now() - Number(t);
      const entry = state.perMessage.get(key);
      if (entry === undefined) state.perMessage.set(key, [1, ms]);
      else {
        entry[0]++;
        if (ms > entry[1]) entry[1] = ms;
      }
    }
  }
}

/** Runs `task` over `items` with at most `limit` at a time. */
async function pool(items, limit, task) {
  let next = 0;
  const runners = Array.from(
    { length: Math.min(limit, items.length) },
    async () => {
      while (next < items.length) await task(items[next++]);
    },
  );
  await Promise.all(runners);
}

const commands = {
  /** Opens `specs` ({url, rooms}) with `concurrency` in flight; answers counts, refusals by reason and time. */
  async connect({ protocol, specs, concurrency = 200 }) {
    const start = performance.now();
    const conns = specs.map((spec) => new Conn(state.created++, protocol, spec));
    const errors = {};
    let opened = 0;
    await pool(conns, concurrency, async (conn) => {
      try {
        await conn.open(false);
        state.conns.push(conn);
        opened++;
      } catch (error) {
        errors[error.message] = (errors[error.message] ?? 0) + 1;
      }
    });
    return {
      opened,
      failed: specs.length - opened,
      errors,
      ms: performance.now() - start,
    };
  },

  /**
   * Publishes `rate` messages per second for `seconds`, open loop, round-robin over the ready connections
   * that have a room (or only `senders`, indexes into this worker's connections).
   */
  async publish({ rate, seconds, senders }) {
    const pool = (senders ?? state.conns.map((_, i) => i)).map((i) => state.conns[i]).filter((c) =>
      c.rooms.length > 0
    );
    if (pool.length === 0 || rate <= 0) return { sent: 0, skipped: 0 };
    const total = Math.round(rate * seconds);
    const start = now();
    let sent = 0, skipped = 0, next = 0;
    while (sent + skipped < total) {
      // Message k is due at start + k / rate.
      const due = Math.min(
        total,
        Math.floor((now() - start) * rate / 1000) + 1,
      );
      while (sent + skipped < due) {
        const conn = pool[next++ % pool.length];
        const at = start + (sent + skipped) * 1000 / rate;
        if (!conn.ready) {
          skipped++;
          continue;
        }
        conn.published++;
        conn.publish(`${conn.sender}|${conn.published}|${at.toFixed(3)}`);
        sent++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    state.sent += sent;
    return { sent, skipped };
  },

  /** Counters and the latency histogram; `reset` starts a new measurement. `track` turns per-message on. */
  stats({ reset = false, track, recording }) {
    const result = {
      conns: state.conns.length,
      ready: state.conns.filter((c) => c.ready).length,
      received: state.received,
      gaps: state.gaps,
      dups: state.dups,
      sent: state.sent,
      unexpectedCloses: state.unexpectedCloses,
      closeCodes: state.closeCodes,
      errors: state.errors,
      histogram: hdr.encodeIntoCompressedBase64(state.histogram),
      perMessage: state.perMessage === null ? null : [...state.perMessage],
    };
    if (reset) {
      state.histogram = newHistogram();
      state.received =
        state.gaps =
        state.dups =
        state.sent =
        state.unexpectedCloses =
          0;
      state.closeCodes = {};
      state.errors = {};
      if (state.perMessage !== null) state.perMessage = new Map();
    }
    if (track !== undefined) state.perMessage = track ? new Map() : null;
    if (recording !== undefined) state.recording = recording;
    return result;
  },

  /**
   * Drops every connection at once and reconnects each after a random delay of up to `jitterMs`, resuming from
   * the last seq it holds ("ours"); answers once all are ready again, with the time the last one took.
   */
  async storm({ jitterMs }) {
    const start = performance.now();
    for (const conn of state.conns) {
      conn.dropping = true;
      conn.ready = false;
      conn.ws.terminate();
    }
    let failures = 0;
    await Promise.all(state.conns.map(async (conn) => {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * jitterMs));
      for (let attempt = 0;; attempt++) {
        try {
          await conn.open(true);
          break;
        } catch {
          failures++;
          await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** attempt)));
        }
      }
      conn.dropping = false;
    }));
    return { ms: performance.now() - start, failures };
  },

  /** Closes every connection and waits until they are closed. */
  async close() {
    await Promise.all(state.conns.map((conn) =>
      new Promise((resolve) => {
        conn.dropping = true;
        if (conn.ws.readyState === WebSocket.CLOSED) return resolve();
        conn.ws.once("close", resolve);
        conn.ws.terminate();
      })
    ));
    state.conns = [];
    return {};
  },

  exit() {
    setTimeout(() => process.exit(0), 10);
    return {};
  },
};

createInterface({ input: process.stdin }).on("line", async (line) => {
  const { id, cmd, ...args } = JSON.parse(line);
  try {
    const result = await commands[cmd](args);
    process.stdout.write(JSON.stringify({ id, ok: true, ...result }) + "\n");
  } catch (error) {
    process.stdout.write(
      JSON.stringify({ id, ok: false, error: String(error?.stack ?? error) }) +
        "\n",
    );
  }
});
process.stdin.on("end", () => process.exit(0));

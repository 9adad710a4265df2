// deno-lint-ignore-file no-console
// Peer baseline: Node + ws, rooms as Map<string, Set<WebSocket>>.
import http from "node:http";
import { WebSocket, WebSocketServer } from "ws";

const PORT = Number(process.env.PORT);
const HOST = process.env.HOST || "127.0.0.1";
if (!process.env.PORT || !Number.isInteger(PORT)) {
  console.error("PORT is required");
  process.exit(1);
}

/** @type {Map<string, Set<WebSocket>>} */
const rooms = new Map();

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404);
  res.end();
});

const wss = new WebSocketServer({
  server,
  path: "/ws",
  perMessageDeflate: false,
});

wss.on("connection", (ws, req) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const param = url.searchParams.get("rooms") ?? "";
  const names = param.split(",").filter(Boolean);
  for (const name of names) {
    let members = rooms.get(name);
    if (!members) rooms.set(name, members = new Set());
    members.add(ws);
  }

  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (typeof msg?.room !== "string" || typeof msg.content !== "string") {
      return;
    }
    const members = rooms.get(msg.room);
    if (!members) return;
    const out = JSON.stringify({
      type: "text",
      room_id: msg.room,
      content: msg.content,
    });
    for (const peer of members) {
      if (peer.readyState === WebSocket.OPEN) peer.send(out);
    }
  });

  ws.on("close", () => {
    for (const name of names) {
      const members = rooms.get(name);
      if (!members) continue;
      members.delete(ws);
      if (members.size === 0) rooms.delete(name);
    }
  });

  ws.on("error", () => {}); // protocol errors close the socket; never crash
});

server.listen(PORT, HOST, () => {
  console.log(`listening ${server.address().port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}

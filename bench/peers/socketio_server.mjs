// deno-lint-ignore-file no-console
// Peer baseline: Socket.IO 4 on node:http, WebSocket transport only.
// With REDIS_URL set, @socket.io/redis-adapter joins instances into one.
import http from "node:http";
import { Server } from "socket.io";

const PORT = Number(process.env.PORT);
const HOST = process.env.HOST || "127.0.0.1";
if (!process.env.PORT || !Number.isInteger(PORT)) {
  console.error("PORT is required");
  process.exit(1);
}

const httpServer = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  serveClient: false,
  perMessageDeflate: false,
  transports: ["websocket"],
});

if (process.env.REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pubClient = createClient({ url: process.env.REDIS_URL });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on("error", (err) => console.error("redis:", err.message));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

io.on("connection", (socket) => {
  const param = String(socket.handshake.query.rooms ?? "");
  socket.join(param.split(",").filter(Boolean));
  socket.on("msg", (payload) => {
    const { room, content } = payload ?? {};
    if (typeof room !== "string" || typeof content !== "string") return;
    // One emit = one encode, reused for every socket in the room.
    io.to(room).emit("msg", { type: "text", room_id: room, content });
  });
});

httpServer.listen(PORT, HOST, () => {
  console.log(`listening ${httpServer.address().port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}

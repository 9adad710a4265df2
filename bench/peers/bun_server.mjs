// deno-lint-ignore-file no-console
// Peer baseline: Bun.serve with built-in pub/sub (uWebSockets topics).

const port = Number(process.env.PORT);
const hostname = process.env.HOST || "127.0.0.1";
if (!process.env.PORT || !Number.isInteger(port)) {
  console.error("PORT is required");
  process.exit(1);
}

const server = Bun.serve({
  port,
  hostname,
  fetch(req, server) {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/health") {
      return new Response("ok");
    }
    if (url.pathname !== "/ws") {
      return new Response("not found", { status: 404 });
    }
    const param = url.searchParams.get("rooms") ?? "";
    const rooms = param.split(",").filter(Boolean);
    if (server.upgrade(req, { data: { rooms } })) return;
    return new Response("expected a websocket upgrade", { status: 400 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws) {
      for (const room of ws.data.rooms) ws.subscribe(room);
    },
    message(_ws, message) {
      if (typeof message !== "string") return;
      let msg;
      try {
        msg = JSON.parse(message);
      } catch {
        return;
      }
      if (typeof msg?.room !== "string" || typeof msg.content !== "string") {
        return;
      }
      // server.publish reaches every subscriber, the sender included.
      server.publish(
        msg.room,
        JSON.stringify({
          type: "text",
          room_id: msg.room,
          content: msg.content,
        }),
      );
    },
    // Bun unsubscribes closed sockets from their topics itself.
  },
});

console.log(`listening ${server.port}`);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}

// deno-lint-ignore-file no-console
// Peer baseline: naive Deno, Deno.serve + upgradeWebSocket, Map-of-Sets hub.

const port = Number(Deno.env.get("PORT"));
const hostname = Deno.env.get("HOST") ?? "127.0.0.1";
if (!Deno.env.get("PORT") || !Number.isInteger(port)) {
  console.error("PORT is required");
  Deno.exit(1);
}

const rooms = new Map<string, Set<WebSocket>>();

function join(socket: WebSocket, names: string[]): void {
  for (const name of names) {
    let members = rooms.get(name);
    if (!members) rooms.set(name, members = new Set());
    members.add(socket);
  }
}

function leave(socket: WebSocket, names: string[]): void {
  for (const name of names) {
    const members = rooms.get(name);
    if (!members) continue;
    members.delete(socket);
    if (members.size === 0) rooms.delete(name);
  }
}

function onMessage(event: MessageEvent): void {
  if (typeof event.data !== "string") return;
  let msg: { room?: unknown; content?: unknown };
  try {
    msg = JSON.parse(event.data);
  } catch {
    return;
  }
  if (typeof msg?.room !== "string" || typeof msg.content !== "string") return;
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
}

function handler(req: Request): Response {
  const url = new URL(req.url);
  if (req.method === "GET" && url.pathname === "/health") {
    return new Response("ok");
  }
  if (url.pathname !== "/ws") return new Response("not found", { status: 404 });
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("expected a websocket upgrade", { status: 400 });
  }

  const param = url.searchParams.get("rooms") ?? "";
  const names = param.split(",").filter(Boolean);
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onopen = () => join(socket, names);
  socket.onmessage = onMessage;
  socket.onclose = () => leave(socket, names);
  socket.onerror = () => {};
  return response;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => Deno.exit(0));
}

Deno.serve({
  port,
  hostname,
  onListen: (addr) => console.log(`listening ${addr.port}`),
}, handler);

# syntax=docker/dockerfile:1
# The chat server as one compiled binary (`deno task compile`: islands prebuilt and embedded) on a distroless
# base, running as a non-root user. Configured only by environment variables (see .env.example); JWT_SECRET
# has no default and must be given at run time.
#
#   docker build -t chat-server .
#   docker run -p 8080:8080 -e JWT_SECRET="$(openssl rand -hex 32)" -v chat-data:/app/data chat-server
#   docker run ... chat-server bot          # the stock bot (needs AMQP_URL)

ARG DENO_VERSION=2.9.6

FROM denoland/deno:${DENO_VERSION} AS build
WORKDIR /src
# The npm packages first, so that this layer stays cached while only the sources change.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
# Bundles the islands into _fresh/ (`deno task build`), then `deno compile`s main.ts with _fresh/, static/,
# routes/ and islands/ embedded into dist/chat. `deno compile` downloads its runtime (denort) here.
RUN deno task compile
# Smoke test of the binary itself: it starts on the embedded SQLite default, passes its own health check,
# and serves a page, a static file and the prebuilt island bundle.
RUN <<"EOF"
set -u
mkdir -p /tmp/smoke && cd /tmp/smoke
APP_ENV=development PORT=18080 LOG_LEVEL=warn /src/dist/chat &
pid=$!
ok=1
for i in $(seq 1 150); do
  if PORT=18080 /src/dist/chat healthcheck >/dev/null 2>&1; then ok=0; break; fi
  sleep 0.2
done
if [ $ok -eq 0 ]; then
  deno eval --quiet '
    const base = "http://127.0.0.1:18080";
    const { buildId } = JSON.parse(await Deno.readTextFile("/src/_fresh/manifest.json"));
    for (const path of ["/", "/styles.css", `/_fresh/js/${buildId}/client.js`]) {
      const res = await fetch(base + path);
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
    }' || ok=1
fi
kill $pid
wait $pid || true
exit $ok
EOF
RUN mkdir -p /out/data && cp dist/chat /out/chat

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /app
COPY --from=build /out/chat /app/chat
# The SQLite default (DATABASE_URL=sqlite:/app/data/chat.db) writes here; mount a volume to keep it.
COPY --from=build --chown=65532:65532 /out/data /app/data
ENV APP_ENV=production \
  HOST=0.0.0.0 \
  PORT=8080 \
  DATABASE_URL=sqlite:/app/data/chat.db
VOLUME ["/app/data"]
USER 65532:65532
EXPOSE 8080
# The binary checks its own server (GET http://127.0.0.1:$PORT/api/health): the image has no curl or shell.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/app/chat", "healthcheck"]
# SIGTERM drains: sockets are closed with 1001 (clients reconnect and resume elsewhere), then the process exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/chat"]

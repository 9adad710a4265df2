#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently: quick when all is there.
# RabbitMQ is the one service it also starts (the command queue tests share one broker, each run with its own
# queue prefix); the other servers are started and stopped by the tests themselves.
# Also taskset (util-linux) and Node's npm, which the benchmark harness uses.
set -euo pipefail

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Browser tests drive Debian's Chromium with playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need_apt+=(chromium fonts-dejavu-core)
# Emoji in messages and the picker render in screenshots as people see them, not as empty boxes.
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need_apt+=(fonts-noto-color-emoji)
# Scale-out tests run real Redis servers and nginx (the tests start and stop their own).
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
# The command queue tests (lib/commands/) use a running RabbitMQ on 127.0.0.1:5672 (started below).
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need_apt+=(rabbitmq-server)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "services.sh: missing ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "services.sh: installing ${need_apt[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# RabbitMQ: started once and left running (tests use TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672;
# guest may log in from loopback only). Quick when it already accepts connections on 5672.
RABBITMQ_TIMEOUT_SECONDS=90
amqp_port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! amqp_port_open; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "services.sh: RabbitMQ is not running on 127.0.0.1:5672; run as root or start it" >&2
    exit 1
  fi
  echo "services.sh: starting RabbitMQ" >&2
  # -detached forks the node and returns at once (as the rabbitmq user); await_startup then waits for it.
  PATH="$PATH:/usr/sbin" rabbitmq-server -detached >/dev/null 2>&1 || true
  deadline=$((SECONDS + RABBITMQ_TIMEOUT_SECONDS))
  until PATH="$PATH:/usr/sbin" timeout 30 rabbitmqctl await_startup >/dev/null 2>&1 && amqp_port_open; do
    if [ $SECONDS -ge $deadline ]; then
      echo "services.sh: RabbitMQ did not start within ${RABBITMQ_TIMEOUT_SECONDS} s;" \
        "see /var/log/rabbitmq/ (startup_err, rabbit@*.log)" >&2
      exit 1
    fi
    sleep 1
  done
fi

# FerretDB v1 (a MongoDB-wire server on SQLite) for the MongoDB store tests, built from its Go module.
# `go install …@v1.24.0` fails here (the module proxy refuses the version list it reads for deprecation notices),
# and FerretDB embeds a build/version/version.txt that its own build generates and the module lacks. So the
# module's source is copied into a throwaway module, given that file, and built through a `replace`.
FERRETDB_VERSION=v1.24.0
if ! command -v ferretdb >/dev/null 2>&1; then
  command -v go >/dev/null 2>&1 || { echo "services.sh: Go is needed to build FerretDB" >&2; exit 1; }
  echo "services.sh: building FerretDB $FERRETDB_VERSION (about a minute)" >&2
  work=$(mktemp -d)
  (
    cd "$work"
    go mod init ferretdb-build >/dev/null 2>&1
    GOFLAGS=-mod=mod go mod download "github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
    src=$(GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
      sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    cp -r "$src" ferretdb-src
    chmod -R u+w ferretdb-src
    echo "$FERRETDB_VERSION" > ferretdb-src/build/version/version.txt
    go mod edit -require "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" \
      -replace "github.com/FerretDB/FerretDB=./ferretdb-src"
    printf 'package main\n\nimport _ "github.com/FerretDB/FerretDB/cmd/ferretdb"\n' > tools.go
    GOFLAGS=-mod=mod go build -o /usr/local/bin/ferretdb github.com/FerretDB/FerretDB/cmd/ferretdb
  )
  rm -rf "$work"
fi

# Mailpit (an SMTP server that keeps what it receives and shows it over an HTTP API) for the mail tests, built
# from its Go module; the tests start and stop their own (tests/helpers/mailpit.ts). The version is stamped in
# with -ldflags so that a changed MAILPIT_VERSION rebuilds. Its web UI's scripts are built by npm for its
# releases and are not in the Go module, so this build's UI page stays blank: the tests need only the API.
MAILPIT_VERSION=v1.33.1
if [ "$(mailpit version --no-release-check 2>/dev/null | awk '{print $2}')" != "$MAILPIT_VERSION" ]; then
  command -v go >/dev/null 2>&1 || { echo "services.sh: Go is needed to build Mailpit" >&2; exit 1; }
  echo "services.sh: building Mailpit $MAILPIT_VERSION (about a minute)" >&2
  GOFLAGS=-mod=mod GOBIN=/usr/local/bin go install \
    -ldflags "-s -w -X github.com/axllent/mailpit/config.Version=$MAILPIT_VERSION" \
    "github.com/axllent/mailpit@$MAILPIT_VERSION"
fi

# The benchmark harness (bench/): the load generator and the peer servers are Node packages, pinned by
# bench/package-lock.json. tests/bench_test.ts runs the harness at a tiny size, so CI needs them too.
bench="$(dirname "$0")/../bench"
if [ ! -d "$bench/node_modules/ws" ] || [ ! -d "$bench/node_modules/socket.io" ]; then
  echo "services.sh: installing bench/node_modules (npm ci)" >&2
  (cd "$bench" && npm ci --no-audit --no-fund --loglevel=error)
fi

# Schemathesis (tests/schemathesis_test.ts fuzzes the REST API against /api/openapi.json), from PyPI into a
# git-ignored virtualenv in the repository root. Quick when that version is already there.
SCHEMATHESIS_VERSION=4.32.5
venv="$(dirname "$0")/../.venv-schemathesis"
if [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]; then
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "services.sh: python3 with venv is needed for Schemathesis; run as root or install python3-venv" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  echo "services.sh: installing Schemathesis $SCHEMATHESIS_VERSION into .venv-schemathesis" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

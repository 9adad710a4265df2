#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, idempotently: quick when all is there.
# Later services (RabbitMQ, FerretDB) are added here as the issues need them.
set -euo pipefail

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Browser tests drive Debian's Chromium with playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need_apt+=(chromium fonts-dejavu-core)
# Scale-out tests run real Redis servers and nginx (the tests start and stop their own).
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "services.sh: missing ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "services.sh: installing ${need_apt[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

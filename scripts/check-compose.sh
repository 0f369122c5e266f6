#!/usr/bin/env bash
# Validates docker-compose.yml with whichever Compose is at hand: the Docker
# CLI plugin, or Debian's docker-compose (installed when we are root; `config`
# needs no Docker engine). Without either, says so and moves on.
set -euo pipefail
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config -q
elif command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.yml config -q
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "compose: installing Debian's docker-compose to validate the file" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  }
  docker-compose -f docker-compose.yml config -q
else
  echo "compose: no Docker client here; docker-compose.yml not validated" >&2
  exit 0
fi
echo "compose: docker-compose.yml is valid"

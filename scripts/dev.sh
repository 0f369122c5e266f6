#!/usr/bin/env bash
# The quick start: brings up PostgreSQL and Redis, migrates, seeds the demo
# catalog and serves the API on BIND_ADDR (127.0.0.1:3000 by default) until
# Ctrl-C. Settings come from .env, made from .env.example the first time
# (make and edit it before to change them; see the README).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'dev: %s\n' "$*" >&2; }

if [ ! -f .env ]; then
  cp .env.example .env
  say "wrote .env from .env.example (edit it and rerun to change the port, the database, ...)"
fi
# The setting as the server will see it: the environment first, then .env.
setting() {
  local name=$1 default=$2
  if [ -n "${!name:-}" ]; then printf '%s' "${!name}"; return; fi
  local value
  value=$(sed -n "s/^$name=//p" .env | tail -n 1)
  printf '%s' "${value:-$default}"
}
bind_addr=$(setting BIND_ADDR 127.0.0.1:3000)
host=${bind_addr%:*}
port=${bind_addr##*:}
[ "$host" = 0.0.0.0 ] && host=127.0.0.1
# Before a build of several minutes: is the port free?
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  say "something already listens on $bind_addr (BIND_ADDR): stop it, or set another BIND_ADDR in .env"
  exit 1
fi

bash scripts/services.sh

if [ ! -x target/release/emporium ]; then
  say "building the release binary: the first build takes several minutes (cargo's progress follows)"
fi
cargo build --release --locked
./target/release/emporium seed

./target/release/emporium serve &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit 0' INT TERM
for _ in $(seq 1 300); do
  if ./target/release/emporium healthcheck 2>/dev/null; then
    admin=$(setting SEED_ADMIN_EMAIL '')
    customer=$(setting SEED_CUSTOMER_EMAIL '')
    cat >&2 <<MSG

dev: Emporium serves on http://$host:$port (Ctrl-C stops it)
dev:   API docs       http://$host:$port/docs/   (OpenAPI: /api/openapi.json)
dev:   errors         http://$host:$port/problems
dev:   health         http://$host:$port/health/ready
dev:   Catwalk        http://$host:$port/catwalk/products
dev:   demo admin     ${admin:-(none: SEED_ADMIN_EMAIL is unset)} / $(setting SEED_ADMIN_PASSWORD '')
dev:   demo customer  ${customer:-(none: SEED_CUSTOMER_EMAIL is unset)} / $(setting SEED_CUSTOMER_PASSWORD '')
dev:   try it         the README's "Try it" block

MSG
    break
  fi
  if ! kill -0 "$server" 2>/dev/null; then
    wait "$server" || exit $?
  fi
  sleep 0.2
done
wait "$server"

#!/usr/bin/env bash
# Two Emporium nodes behind NGINX (scripts/cluster.sh) on a fresh database
# and a Redis key prefix of their own, checked by tests/cluster/check.py;
# everything it started is stopped (by PID) and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
cargo build --locked --quiet
run_id="$(date +%s)_$$"
database="emporium_cluster_$run_id"
dir=$(mktemp -d)
export EMPORIUM_BIN=$PWD/target/debug/emporium
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$database"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export CACHE_REDIS_URL="redis://127.0.0.1:${CACHE_REDIS_PORT:-6380}"
export REDIS_KEY_PREFIX="cluster:$run_id:"
export JWT_SECRET="cluster-run-secret-that-is-long-enough-for-hs256"
export SEED_ADMIN_EMAIL=admin@emporium.test SEED_ADMIN_PASSWORD=admin-password-123
export AUTH_RATE_LIMIT_PER_EMAIL=4
export LOG_FORMAT=json RUST_LOG=${RUST_LOG:-warn}

cleanup() {
  bash scripts/cluster.sh stop "$dir" || true
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  for redis_port in "$REDIS_PORT" "${CACHE_REDIS_PORT:-6380}"; do
    redis-cli -p "$redis_port" --scan --pattern "${REDIS_KEY_PREFIX}*" \
      | xargs -r -d '\n' redis-cli -p "$redis_port" DEL >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

"$EMPORIUM_BIN" seed >/dev/null
bash scripts/cluster.sh start 2 "$dir"
set -a
# shellcheck disable=SC1091
. "$dir/cluster.env"
set +a
python3 tests/cluster/check.py

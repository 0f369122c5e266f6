#!/usr/bin/env bash
# Two Emporium nodes behind NGINX (scripts/cluster.sh) on a fresh database
# and a Redis key prefix of their own, checked by tests/cluster/check.py;
# everything it started is stopped (by PID) and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --quiet
. scripts/throwaway.sh cluster
dir=$(mktemp -d)
export EMPORIUM_BIN=$PWD/target/debug/emporium
export AUTH_RATE_LIMIT_PER_EMAIL=4

cleanup() {
  bash scripts/cluster.sh stop "$dir" || true
  throwaway_cleanup
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

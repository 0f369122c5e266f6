#!/usr/bin/env bash
# Everything CI checks, in the order a failure is cheapest to find:
# formatting, the compose file, lints, then every test against real
# PostgreSQL and Redis (started by scripts/services.sh when not running).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "services, and the tools the tests start on this host"
bash scripts/services.sh
bash scripts/services.sh --host-tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "docker-compose.yml"
bash scripts/check-compose.sh

step "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test"
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:${PG_PORT:-5432}/postgres}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-6379}}
cargo test --locked --all-targets

step "postman collection three times and the README examples twice (one freshly started server)"
bash scripts/postman.sh

step "two nodes behind NGINX (scripts/cluster.sh): sessions, sign-out, rate limits, stale reads, oversell"
bash scripts/cluster-test.sh

step "bench/run --smoke (a small catalog, a few seconds a case: fails only when a case errors)"
python3 bench/run --smoke

#!/usr/bin/env bash
# The quick start: brings up PostgreSQL and Redis, migrates, seeds the demo
# catalog and serves the API on BIND_ADDR (127.0.0.1:3000 by default).
# Settings come from .env, made from .env.example the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
if [ ! -f .env ]; then
  cp .env.example .env
  echo "dev: wrote .env from .env.example" >&2
fi
cargo build --release --locked --quiet
./target/release/emporium seed
exec ./target/release/emporium serve

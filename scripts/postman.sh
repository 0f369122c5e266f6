#!/usr/bin/env bash
# Runs postman_collection.json with newman (from the npm registry, installed
# under .tools/) twice, then the README's "Try it" block twice, against one
# freshly started server on a fresh database and a Redis key prefix of its
# own; fails if any assertion fails. Everything it
# made is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

NEWMAN_VERSION=6.2.2
TOOLS=.tools/newman

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "postman: installing Node.js and npm from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null
  else
    echo "postman: npm is missing; install Node.js (with npm) and rerun" >&2
    exit 1
  fi
fi
if [ ! -x "$TOOLS/node_modules/.bin/newman" ]; then
  echo "postman: installing newman $NEWMAN_VERSION into $TOOLS" >&2
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "newman@$NEWMAN_VERSION" >/dev/null
fi

cargo build --locked --quiet
binary=target/debug/emporium

. scripts/throwaway.sh postman
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export BIND_ADDR="127.0.0.1:$port"
log=.tools/postman-server.log

server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  throwaway_cleanup
}
trap cleanup EXIT

"$binary" seed
"$binary" serve >"$log" 2>&1 &
server=$!
# A minute at most (migrations on a busy machine), then the log.
for attempt in $(seq 1 600); do
  if "$binary" healthcheck 2>/dev/null; then break; fi
  if ! kill -0 "$server" 2>/dev/null || [ "$attempt" = 600 ]; then
    echo "postman: the server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

# A collection is run again and again on one server: twice here, and
# every assertion must hold both times.
for run in 1 2; do
  echo "postman: run $run of the collection"
  "$TOOLS/node_modules/.bin/newman" run postman_collection.json \
    --env-var "baseUrl=http://127.0.0.1:$port" \
    --color off --reporters cli
done

# So is the README's "Try it" block, on the same server.
bash scripts/readme-examples.sh "127.0.0.1:$port"

# The same running server serves the checks of the OpenAPI document: its
# validity, its rendering in a browser, and the fuzzer (last: as admin it
# changes the catalog).
bash scripts/openapi-validate.sh "http://127.0.0.1:$port"
bash scripts/browser.sh "http://127.0.0.1:$port"
bash scripts/schemathesis.sh "http://127.0.0.1:$port"

#!/usr/bin/env bash
# Runs postman_collection.json with newman (from the npm registry, installed
# under .tools/) three times (with other clients' writes between the first
# and the rest), then the README's "Try it" block twice, against one
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

# redis-cli counts the sessions the runs leave open.
if ! command -v redis-cli >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "postman: installing Debian's redis-tools (for redis-cli)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-tools >/dev/null
  else
    echo "postman: redis-cli is missing; install redis-tools and rerun" >&2
    exit 1
  fi
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

api="http://127.0.0.1:$port"
# Sessions a user holds in Redis: the collection and the README must leave
# none of their own behind (a user keeps at most 100; past that the oldest,
# perhaps a person's, would be ended for them).
live_sessions() {
  # (SCAN may return a key twice.)
  redis-cli -p "${REDIS_PORT:-6379}" --scan --pattern "${REDIS_KEY_PREFIX}user:token:*" | sort -u | wc -l
}
# The value at $1 (a Python subscript of the answer, `d`) of the JSON answer to a curl call
# given as the remaining words; a refusal shows its status and body.
field() {
  local path=$1 answer; shift
  answer=$(curl -sS --fail-with-body "$@") || { echo "postman: $* answered $answer" >&2; return 1; }
  python3 -c "import json, sys; d = json.load(sys.stdin); print(d$path)" <<<"$answer"
}
newman() {
  "$TOOLS/node_modules/.bin/newman" run postman_collection.json \
    --env-var "baseUrl=$api" --color off --reporters cli "$@"
}

# A collection is run again and again on one server, and every assertion
# must hold each time: once, then (after what other clients do meanwhile)
# twice in one newman process, as Postman's runner does with iterations.
sessions_before=$(live_sessions)
echo "postman: run 1 of the collection"
newman
# Meanwhile: a shopper holds an order of the demo shirt (an interrupted
# run's, or another tester's: the stock is not what was seeded), and an
# admin adds 25 products in stock (the seeded ones leave the first page of
# every list, newest first).
customer=$(field "['data']['token']" -X POST "$api/api/auth/signin" -H 'content-type: application/json' \
  -d "{\"email\": \"$SEED_CUSTOMER_EMAIL\", \"password\": \"$SEED_CUSTOMER_PASSWORD\"}")
shirt=$(field "['data'][[p['product_name'] for p in d['data']].index('Plain T-Shirt')]['id']" "$api/api/products?category=shirts")
field "['data']['id']" -X POST "$api/api/orders" -H "authorization: Bearer $customer" \
  -H 'content-type: application/json' -d "{\"items\": [{\"product_id\": $shirt, \"quantity\": 3}]}" >/dev/null
admin=$(field "['data']['token']" -X POST "$api/api/auth/signin" -H 'content-type: application/json' \
  -d "{\"email\": \"$SEED_ADMIN_EMAIL\", \"password\": \"$SEED_ADMIN_PASSWORD\"}")
for n in $(seq 1 25); do
  field "['data']['id']" -X POST "$api/api/products" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d "{\"product_name\": \"Meanwhile $n\", \"price\": \"3.50\", \"stock\": 5}" >/dev/null
done
for token in "$customer" "$admin"; do
  curl -sf -o /dev/null -X POST "$api/api/auth/signout" -H "authorization: Bearer $token"
done
echo "postman: runs 2 and 3 of the collection (one newman process, two iterations)"
newman --iteration-count 2

# So is the README's "Try it" block, on the same server.
bash scripts/readme-examples.sh "127.0.0.1:$port"
sessions_after=$(live_sessions)
if [ "$sessions_after" != "$sessions_before" ]; then
  echo "postman: the collection and the README left $((sessions_after - sessions_before)) sessions open" >&2
  exit 1
fi
echo "postman: the runs left no session open"

# The same running server serves the checks of the OpenAPI document: its
# validity, its rendering in a browser, and the fuzzer (last: as admin it
# changes the catalog).
bash scripts/openapi-validate.sh "http://127.0.0.1:$port"
bash scripts/browser.sh "http://127.0.0.1:$port"
bash scripts/schemathesis.sh "http://127.0.0.1:$port"

#!/usr/bin/env bash
# The Catwalk benchmark: generates the full-size SDC data set (1,000,011
# products), imports it, then loads /catwalk/products/:id/styles and
# /catwalk/products/:id for random ids in the last 10% of the id range, with
# the cache flushed (cold) and filled (warm), at 100 connections, with wrk on
# loopback. /health/live under the same load is the machine's ceiling; every
# figure is also printed as a fraction of it. Ends with the server's peak RSS.
#
#   bench/catwalk.sh            # everything (about 10 minutes on 2 cores)
#   PRODUCTS=100000 bench/catwalk.sh   # a smaller run
#
# Not a test: it prints numbers, it asserts nothing. docs/performance.md
# keeps the figures of a run and where the time goes.
set -euo pipefail
cd "$(dirname "$0")/.."

PRODUCTS=${PRODUCTS:-1000011}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-100}
THREADS=${THREADS:-2}
DATA=${BENCH_DATA:-target/bench-data/$PRODUCTS}
PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
# Redis database 3 holds the benchmark's cache only, so it can be flushed.
REDIS_DB=3
PORT=${BENCH_PORT:-3999}

say() { printf '\n== %s\n' "$*"; }

bash scripts/services.sh
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
  else
    echo "bench: wrk is missing (apt-get install wrk)" >&2
    exit 1
  fi
fi
cargo build --release --locked --quiet
bin=target/release/emporium

say "machine"
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /cpu: /'
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc 'select version()' | cut -d, -f1
redis-server --version | cut -d' ' -f1-3

say "generate $PRODUCTS products into $DATA"
if [ ! -f "$DATA/related.csv" ]; then
  "$bin" generate-catwalk --products "$PRODUCTS" --out "$DATA" --seed 1
else
  echo "(already there)"
fi
du -sh "$DATA"

export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/emporium_bench"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/$REDIS_DB"
export JWT_SECRET="bench-secret-that-is-long-enough-for-hs256-signing"
export BIND_ADDR="127.0.0.1:$PORT"
export REDIS_KEY_PREFIX=""
export LOG_FORMAT=json RUST_LOG=warn
export DATABASE_POOL_SIZE=${DATABASE_POOL_SIZE:-16}
redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" FLUSHDB >/dev/null
if [ "${SKIP_IMPORT:-0}" = 1 ]; then
  say "import skipped (SKIP_IMPORT=1): using the emporium_bench database as it is"
else
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS emporium_bench WITH (FORCE)"
  say "import"
  start=$(date +%s.%N)
  "$bin" import-catwalk "$DATA" 2>/dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "import, wall clock including migrations: %.1f s\n", e - s }'
fi

say "plans of /api/products at this size (no sequential scan of products)"
for query in \
  "ORDER BY created_at DESC, id DESC LIMIT 20" \
  "ORDER BY price ASC, id ASC LIMIT 20" \
  "ORDER BY product_name ASC, id ASC LIMIT 20" \
  "WHERE category_id = 3 ORDER BY created_at DESC, id DESC LIMIT 20" \
  "WHERE category_id = 3 AND price BETWEEN 20 AND 40 ORDER BY price DESC, id DESC LIMIT 20" \
  "WHERE stock > 0 ORDER BY created_at DESC, id DESC LIMIT 20" \
  "WHERE product_name ILIKE '%onesie%' ORDER BY created_at DESC, id DESC LIMIT 20"; do
  plan=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d emporium_bench -Atc "EXPLAIN SELECT id FROM products $query" | head -3 | tr '\n' ' ')
  printf '%-90s -> %s\n' "$query" "$(echo "$plan" | sed 's/  */ /g' | cut -c1-110)"
done

"$bin" serve >target/bench-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do "$bin" healthcheck 2>/dev/null && break; sleep 0.1; done

low=$(( PRODUCTS - PRODUCTS / 10 ))
script=target/bench-random.lua
cat >"$script" <<LUA
local counter = 0
setup = function(thread) thread:set("id", counter); counter = counter + 1 end
local path = os.getenv("BENCH_PATH")
init = function(args) math.randomseed(os.time() * 1000 + id) end
request = function()
  return wrk.format("GET", string.format(path, math.random($low, $PRODUCTS)))
end
LUA
# Each thread walks its own slice of the id range, so the warm-up covers it.
warm_script=target/bench-sequential.lua
cat >"$warm_script" <<LUA
local counter = 0
setup = function(thread) thread:set("id", counter); counter = counter + 1 end
local path = os.getenv("BENCH_PATH")
local next_id = $low
init = function(args) next_id = $low + id * math.floor(($PRODUCTS - $low) / $THREADS) end
request = function()
  next_id = next_id + 1
  if next_id > $PRODUCTS then next_id = $low end
  return wrk.format("GET", string.format(path, next_id))
end
LUA

# Runs wrk; prints "rps p50 p99" (ms).
measure() {
  local path=$1 lua=$2 seconds=$3
  BENCH_PATH="$path" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$seconds" --latency ${lua:+-s "$lua"} \
    "http://127.0.0.1:$PORT${path//%d/1}" >target/bench-wrk.txt 2>&1
  awk '
    /Requests\/sec/ { rps = $2 }
    / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
    /Non-2xx/ { bad = $NF }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "%.0f %.2f %.2f %s\n", rps, ms(p50), ms(p99), (bad == "" ? 0 : bad) }' target/bench-wrk.txt
}

say "load: wrk, $THREADS threads, $CONNECTIONS connections, $DURATION each, ids $low..$PRODUCTS"
read -r ceiling c50 c99 cbad < <(measure /health/live "" "$DURATION")
printf '%-34s %9s rps  p50 %7s ms  p99 %7s ms  (the ceiling)\n' "/health/live" "$ceiling" "$c50" "$c99"

report() {
  local name=$1 rps=$2 p50=$3 p99=$4 bad=$5
  awk -v n="$name" -v r="$rps" -v a="$p50" -v b="$p99" -v c="$ceiling" -v x="$bad" \
    'BEGIN { printf "%-34s %9d rps  p50 %7.2f ms  p99 %7.2f ms  %5.1f%% of the ceiling  non-2xx %s\n", n, r, a, b, 100 * r / c, x }'
}

for route in "/catwalk/products/%d/styles" "/catwalk/products/%d"; do
  redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" FLUSHDB >/dev/null
  read -r rps p50 p99 bad < <(measure "$route" "$script" "$DURATION")
  report "${route/\%d/:id} cold (cache flushed)" "$rps" "$p50" "$p99" "$bad"
  # Fill the cache for the whole id range before measuring warm: each wrk
  # thread walks its half of the range once, at about the cold rate.
  warm_seconds=$(awk -v n=$(( PRODUCTS - low )) -v r="$rps" 'BEGIN { printf "%d", 1.3 * n / (r > 0 ? r : 1) + 3 }')
  measure "$route" "$warm_script" "${warm_seconds}s" >/dev/null
  pattern='product:*'; [ "$route" = "/catwalk/products/%d/styles" ] && pattern='product:*:styles'
  cached=$(redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" --scan --pattern "$pattern" | grep -c -v ':styles$\|:related$' || true)
  [ "$pattern" = 'product:*:styles' ] && cached=$(redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" --scan --pattern "$pattern" | wc -l)
  echo "  (warm-up ${warm_seconds} s: $cached documents cached for $(( PRODUCTS - low + 1 )) ids)"
  read -r rps p50 p99 bad < <(measure "$route" "$script" "$DURATION")
  report "${route/\%d/:id} warm" "$rps" "$p50" "$p99" "$bad"
done

say "server memory"
awk '/VmHWM|VmRSS/ { printf "%s %.1f MiB\n", $1, $2 / 1024 }' "/proc/$server/status"
redis-cli -p "$REDIS_PORT" -n "$REDIS_DB" dbsize | sed 's/^/redis keys: /'
curl -s "http://127.0.0.1:$PORT/health/ready" 2>/dev/null || true
echo

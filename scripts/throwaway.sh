# Sourced by scripts that run the service against a database and a Redis
# key prefix of their own (postman.sh, cluster-test.sh):
#
#   . scripts/throwaway.sh NAME    # exports DATABASE_URL, REDIS_* (a 2 s timeout), JWT_SECRET, SEED_*, LOG_FORMAT
#   throwaway_cleanup              # drops the database and deletes the prefix's keys
PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
CACHE_REDIS_PORT=${CACHE_REDIS_PORT:-6380}
throwaway_run="${1:?a name for the throwaway}_$(date +%s)_$$"
throwaway_database="emporium_$throwaway_run"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$throwaway_database"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
# The cache in a Redis of its own, as scripts/services.sh starts it.
export CACHE_REDIS_URL="redis://127.0.0.1:$CACHE_REDIS_PORT"
export REDIS_KEY_PREFIX="$throwaway_run:"
export JWT_SECRET="throwaway-run-secret-that-is-long-enough-for-hs256"
export SEED_ADMIN_EMAIL=admin@emporium.test SEED_ADMIN_PASSWORD=admin-password-123
export SEED_CUSTOMER_EMAIL=customer@emporium.test SEED_CUSTOMER_PASSWORD=customer-password-123
export LOG_FORMAT=json RUST_LOG=${RUST_LOG:-warn}
# These runs fail on any 503, and a Redis reply later than the default
# 250 ms is one by design: CI's shared machine may be that busy.
export REDIS_TIMEOUT_MS=${REDIS_TIMEOUT_MS:-2000}

throwaway_cleanup() {
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS $throwaway_database WITH (FORCE)" >/dev/null 2>&1 || true
  for redis_port in "$REDIS_PORT" "$CACHE_REDIS_PORT"; do
    redis-cli -p "$redis_port" --scan --pattern "${REDIS_KEY_PREFIX}*" \
      | xargs -r -d '\n' redis-cli -p "$redis_port" DEL >/dev/null 2>&1 || true
  done
}

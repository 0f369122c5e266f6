#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and the cache's own Redis answer on loopback,
# then returns.
#
#   1. A server that already answers is used as it is.
#   2. Otherwise, where a Docker engine answers, `docker compose up` starts the
#      services of docker-compose.yml (postgres, redis, cache) that do not.
#   3. Otherwise the OS's own binaries are started on 127.0.0.1 with their data
#      under .data/ in the project (ignored by git); when the binaries are
#      missing and we are root on Debian/Ubuntu, their packages are installed.
#
# Ports: PG_PORT (5432), REDIS_PORT (6379) and CACHE_REDIS_PORT (6380). The
# cache's Redis is started with a memory bound and `volatile-lru` (cached
# documents are evicted, versions never; see docs/cache.md); it keeps
# nothing on disk.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/.data"
pg_port=${PG_PORT:-5432}
redis_port=${REDIS_PORT:-6379}
cache_port=${CACHE_REDIS_PORT:-6380}
cache_memory=${CACHE_REDIS_MAXMEMORY:-256mb}

say() { printf 'services: %s\n' "$*" >&2; }

pg_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p "$pg_port"
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null
  fi
}

redis_answers_on() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1"; printf 'PING\r\n' >&3; read -r -t 2 reply <&3; [[ "$reply" == +PONG* ]]) 2>/dev/null
  fi
}
redis_answers() { redis_answers_on "$redis_port"; }
cache_answers() { redis_answers_on "$cache_port"; }

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 60); do
    if $check; then return 0; fi
    sleep 0.5
  done
  say "$what did not answer within 30 s"
  return 1
}

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "cannot install $* (not root, or no apt-get): install them, or start the servers yourself"
    return 1
  fi
  say "installing $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

docker_engine() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1
}

# PostgreSQL's server binaries: where pg_config says (as the tests'
# harness looks first), else Debian's layout.
pg_bin() {
  local dir
  dir=$(pg_config --bindir 2>/dev/null || true)
  if [ -n "$dir" ] && [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
    return 0
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/postgres" ] && echo "$dir"
}

# Debian's postgresql package, its binaries only: no cluster of its own
# (one would take the port, ask for a password over TCP, and come back at
# every boot).
install_postgres_binaries() {
  apt_install postgresql-common
  sed -i 's/^#* *create_main_cluster *=.*/create_main_cluster = false/' \
    /etc/postgresql-common/createcluster.conf
  apt_install postgresql
}

# Whether the postgres role gets in over TCP with no password, as
# .env.example's DATABASE_URL does.
pg_trusts() {
  ! command -v psql >/dev/null 2>&1 ||
    psql -w "postgresql://postgres@127.0.0.1:$pg_port/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1
}

start_postgres_locally() {
  local bin
  bin=$(pg_bin) || true
  if [ -z "$bin" ]; then
    install_postgres_binaries
    bin=$(pg_bin)
  fi
  # PostgreSQL refuses to run as root: run it as the postgres user on a data
  # folder that user owns.
  local as=()
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$data" postgres
    as=(runuser -u postgres --)
  fi
  mkdir -p "$data/postgres"
  [ "$(id -u)" -eq 0 ] && chown postgres "$data" "$data/postgres"
  if [ ! -f "$data/postgres/PG_VERSION" ]; then
    say "initialising a PostgreSQL cluster in .data/postgres"
    "${as[@]}" "$bin/initdb" -D "$data/postgres" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  say "starting PostgreSQL on 127.0.0.1:$pg_port"
  "${as[@]}" "$bin/pg_ctl" -D "$data/postgres" -l "$data/postgres/server.log" -w \
    -o "-h 127.0.0.1 -p $pg_port -k $data/postgres" start >/dev/null
}

start_redis_locally() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if redis_answers; then return 0; fi
  mkdir -p "$data/redis"
  say "starting Redis on 127.0.0.1:$redis_port"
  # Sessions outlive a restart: deploy/redis-sessions.conf keeps an append-only file.
  redis-server "$root/deploy/redis-sessions.conf" --daemonize yes --bind 127.0.0.1 \
    --port "$redis_port" --dir "$data/redis" --logfile "$data/redis/server.log"
}

start_cache_redis_locally() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  mkdir -p "$data/cache-redis"
  say "starting the cache's Redis on 127.0.0.1:$cache_port (maxmemory $cache_memory, volatile-lru)"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$cache_port" \
    --dir "$data/cache-redis" --save "" --appendonly no \
    --maxmemory "$cache_memory" --maxmemory-policy volatile-lru \
    --logfile "$data/cache-redis/server.log"
}

# `services.sh --host-tools`: what the tests start or call on this host
# whatever runs the shared servers (Docker included): throwaway PostgreSQL
# and Redis servers (tests/api/harness.rs), redis-cli, pip.
if [ "${1:-}" = "--host-tools" ]; then
  pg_bin >/dev/null || install_postgres_binaries
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server
    # Its own service is not wanted: the shared Redis is set up above.
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
  fi
  command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  exit 0
fi

# Sessions live in this Redis: one that keeps no file (as the shared
# server on these machines) signs everyone out when it restarts.
if redis_answers && command -v redis-cli >/dev/null 2>&1 &&
   [ "$(redis-cli -p "$redis_port" CONFIG GET appendonly 2>/dev/null | sed -n 2p)" = no ] &&
   [ -z "$(redis-cli -p "$redis_port" CONFIG GET save 2>/dev/null | sed -n 2p)" ]; then
  say "note: the Redis on 127.0.0.1:$redis_port keeps no file (appendonly no, no save): sessions are lost when it restarts; deploy/redis-sessions.conf is the deployed setting"
fi

if pg_answers && ! pg_trusts; then
  say "warning: PostgreSQL on 127.0.0.1:$pg_port asks the postgres role for a password: DATABASE_URL (.env) and TEST_DATABASE_URL must carry it"
fi

if pg_answers && redis_answers && cache_answers; then
  say "PostgreSQL (:$pg_port), Redis (:$redis_port) and the cache's Redis (:$cache_port) already answer"
  exit 0
fi

if docker_engine; then
  # Only what does not answer: a server already on its port stays as it is.
  missing=()
  pg_answers || missing+=(postgres)
  redis_answers || missing+=(redis)
  cache_answers || missing+=(cache)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "starting ${missing[*]} with docker compose"
    (cd "$root" && docker compose up -d --wait "${missing[@]}")
  fi
else
  pg_answers || start_postgres_locally
  redis_answers || start_redis_locally
  cache_answers || start_cache_redis_locally
fi

wait_for PostgreSQL pg_answers
wait_for Redis redis_answers
wait_for "the cache's Redis" cache_answers
say "PostgreSQL (:$pg_port), Redis (:$redis_port) and the cache's Redis (:$cache_port) answer"

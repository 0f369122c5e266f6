#!/usr/bin/env bash
# Several Emporium nodes behind NGINX, on loopback only.
#
#   scripts/cluster.sh start N DIR   # N nodes on free ports behind NGINX; writes DIR/cluster.env
#   scripts/cluster.sh stop DIR      # stops every process it started, by PID
#
# The nodes share the settings of the environment (DATABASE_URL, REDIS_URL,
# CACHE_REDIS_URL, REDIS_KEY_PREFIX, JWT_SECRET, ...; .env as usual), each
# with its own BIND_ADDR, and trust NGINX (TRUSTED_PROXIES=127.0.0.1) to say
# who the client is. NGINX (Debian's package, installed when missing and we
# are root; its service is never started) runs with a config written to DIR
# and listens on 127.0.0.1 only. DIR/cluster.env names the URL of NGINX
# (CLUSTER_URL), of each node (NODE_URLS) and the PIDs (CLUSTER_PIDS).
# EMPORIUM_BIN picks the binary (default: target/release/emporium, built
# when missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

say() { printf 'cluster: %s\n' "$*" >&2; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ensure_nginx() {
  command -v nginx >/dev/null 2>&1 && return
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "nginx is missing: install Debian's nginx (or nginx-light) and rerun"
    exit 1
  fi
  say "installing Debian's nginx (its service is not started)"
  # No service may start during the install; a policy already there is kept.
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    # Ours goes whatever happens next.
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null; }
}

start() {
  local count=$1 dir=$2
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  ensure_nginx
  local binary=${EMPORIUM_BIN:-$root/target/release/emporium}
  if [ ! -x "$binary" ]; then
    (cd "$root" && cargo build --release --locked)
  fi
  local pids=() nodes=() upstream=""
  for n in $(seq 1 "$count"); do
    local port
    port=$(free_port)
    BIND_ADDR="127.0.0.1:$port" TRUSTED_PROXIES=127.0.0.1 \
      "$binary" serve >"$dir/node$n.log" 2>&1 &
    pids+=($!)
    nodes+=("http://127.0.0.1:$port")
    upstream+="        server 127.0.0.1:$port;"$'\n'
  done
  local proxy_port
  proxy_port=$(free_port)
  mkdir -p "$dir/nginx-temp" && chmod 1777 "$dir/nginx-temp"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
# Each proxied request holds two connections (the client's and a node's):
# room for as many clients as the nodes serve (MAX_CONNECTIONS).
worker_rlimit_nofile 16384;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $dir/nginx-temp/body;
    proxy_temp_path $dir/nginx-temp/proxy;
    fastcgi_temp_path $dir/nginx-temp/fastcgi;
    uwsgi_temp_path $dir/nginx-temp/uwsgi;
    scgi_temp_path $dir/nginx-temp/scgi;
    # The client's request id when it sent one, else NGINX's own: a request
    # retried on another node is logged under one id.
    map \$http_x_request_id \$emporium_request_id {
        default \$request_id;
        "~^[A-Za-z0-9._:-]{1,128}\$" \$http_x_request_id;
    }
    # As the nodes (HEADER_READ_TIMEOUT_MS): a client that never finishes
    # its request head (slowloris), or keeps a connection idle, is let go
    # after 5 s, not NGINX's 60 and 75.
    client_header_timeout 5s;
    keepalive_timeout 5s;
    # What the 503 below tells the client. NGINX cannot tell a node that
    # was never reached from one that died after the request was sent: for
    # a write, the request may have taken effect (an order placed in one
    # call commits even when its node dies meanwhile).
    map \$request_method \$emporium_unavailable {
        default "no instance answered in full: the request may have taken effect; retry an order with the same Idempotency-Key, and read before repeating another write";
        GET "no instance could answer; retry shortly";
        HEAD "no instance could answer; retry shortly";
        OPTIONS "no instance could answer; retry shortly";
    }
    upstream emporium {
$upstream        keepalive 32;
        # Idle connections are closed here before a node's own timeouts
        # (5 s) could: a POST sent on a connection the node is closing at
        # that moment would not be retried. (NGINX already drops a cached
        # connection a node closed; this leaves no moment for the race.)
        keepalive_timeout 4s;
    }
    server {
        listen 127.0.0.1:$proxy_port;
        # The nodes judge a body's size (BODY_LIMIT_BYTES, a problem+json
        # 413); NGINX stops only what no node would take.
        client_max_body_size $(( ${BODY_LIMIT_BYTES:-1048576} + 1048576 ));
        # What NGINX refuses by itself (a body too large even for that, a
        # request line or headers too long, a malformed request) is a
        # problem+json too, with the request id, never NGINX's HTML page.
        # (URIs, not named locations: a request line too long has no URI
        # to carry to one.)
        error_page 413 /__refused/413;
        error_page 414 /__refused/414;
        error_page 400 494 /__refused/400;
        location / {
            proxy_pass http://emporium;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Request-Id \$emporium_request_id;
            # A request that could not reach a node is tried on the next
            # one. NGINX never resends a POST or PATCH once sent; a GET, PUT
            # or DELETE that a node took and then died on is sent again (so
            # a DELETE done by the node that died may answer 404). A dead
            # host is given up on quickly.
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            # A node's own 502 or 504 goes to the client as it is; only
            # NGINX's (no node answered) becomes the 503 below.
            proxy_intercept_errors off;
            error_page 502 504 = @unavailable;
            # (A location's own error_page hides the server's.)
            error_page 413 /__refused/413;
        }
        location = /__refused/413 {
            internal;
            default_type application/problem+json;
            add_header X-Request-Id \$emporium_request_id always;
            return 413 '{"type":"/problems/payload-too-large","title":"Payload Too Large","status":413,"detail":"the request body is too large","request_id":"\$emporium_request_id"}';
        }
        location = /__refused/414 {
            internal;
            default_type application/problem+json;
            add_header X-Request-Id \$emporium_request_id always;
            return 414 '{"type":"/problems/bad-request","title":"URI Too Long","status":414,"detail":"the request line is too long","request_id":"\$emporium_request_id"}';
        }
        location = /__refused/400 {
            internal;
            default_type application/problem+json;
            add_header X-Request-Id \$emporium_request_id always;
            return 400 '{"type":"/problems/bad-request","title":"Bad Request","status":400,"detail":"the request is malformed or its headers too large","request_id":"\$emporium_request_id"}';
        }
        # No node could answer: the API's problem+json 503, not NGINX's page.
        location @unavailable {
            default_type application/problem+json;
            add_header Retry-After 1 always;
            add_header X-Request-Id \$emporium_request_id always;
            return 503 '{"type":"/problems/unavailable","title":"Service Unavailable","status":503,"detail":"\$emporium_unavailable","request_id":"\$emporium_request_id"}';
        }
    }
}
CONF
  nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/nginx.log" 2>&1 &
  pids+=($!)
  {
    echo "CLUSTER_URL=http://127.0.0.1:$proxy_port"
    echo "NODE_URLS=\"${nodes[*]}\""
    echo "CLUSTER_PIDS=\"${pids[*]}\""
  } >"$dir/cluster.env"
  for url in "${nodes[@]}" "http://127.0.0.1:$proxy_port"; do
    for _ in $(seq 1 150); do
      if curl -fs "$url/health/live" >/dev/null 2>&1; then continue 2; fi
      sleep 0.1
    done
    say "$url did not answer; logs in $dir"
    stop "$dir"
    exit 1
  done
  # A node that lost its port to another process (free_port is a guess
  # until it binds) has exited: then the cluster is not what was asked.
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "a process ($pid) exited at start; logs in $dir"
      stop "$dir"
      exit 1
    fi
  done
  say "$count nodes (${nodes[*]}) behind NGINX at http://127.0.0.1:$proxy_port"
}

stop() {
  local dir=$1
  [ -f "$dir/cluster.env" ] || return 0
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  for pid in $CLUSTER_PIDS; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $CLUSTER_PIDS; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
  rm -f "$dir/cluster.env"
  say "stopped"
}

case "${1:-}" in
  start) start "${2:?how many nodes}" "${3:?a folder for the files of the cluster}" ;;
  stop) stop "${2:?the folder of the cluster}" ;;
  *) echo "usage: scripts/cluster.sh start N DIR | stop DIR" >&2; exit 2 ;;
esac

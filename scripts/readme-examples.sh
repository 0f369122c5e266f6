#!/usr/bin/env bash
# Runs the README's "Try it" block, as a reader pastes it, twice in a row
# against the server at $1 (host:port), and fails when a run answers what
# its comments do not promise: every request must succeed but the two that
# show a problem on purpose (the 401 after sign-out and the 400 of a bad id).
# The block is run as written but for two lines: `API=` names the server
# under test and `PREFIX=` takes REDIS_KEY_PREFIX from the environment
# instead of .env.
set -euo pipefail
cd "$(dirname "$0")/.."

address=$1
for tool in jq redis-cli; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    package=$tool; [ "$tool" = redis-cli ] && package=redis-tools
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "readme: installing Debian's $package (the README's examples use $tool)" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >/dev/null
    else
      echo "readme: $tool is missing (the README's examples use it); install it and rerun" >&2
      exit 1
    fi
  fi
done
block=$(awk '/^## Try it$/ {in_section = 1; next}
             in_section && /^```sh$/ {in_block = 1; next}
             in_block && /^```$/ {exit}
             in_block {print}' README.md)
[ -n "$block" ] || { echo "readme: no \"Try it\" block in README.md" >&2; exit 1; }
grep -q '^API=localhost:3000 ' <<<"$block" || { echo "readme: the block no longer sets API=" >&2; exit 1; }
block=$(sed -e "s|^API=localhost:3000 |API=$address |" \
            -e "s|^PREFIX=\$(sed [^)]*)|PREFIX=\"\${REDIS_KEY_PREFIX-}\"|" <<<"$block")

for run in 1 2; do
  output=$(bash -euo pipefail -c "$block" 2>&1) || {
    printf '%s\n' "$output" >&2
    echo "readme: run $run of the \"Try it\" block failed" >&2
    exit 1
  }
  # Problems the block shows on purpose: one 401, one 400; nothing else.
  problems=$(grep -o '"status":[0-9][0-9]*' <<<"$output" | sort | uniq -c | tr -s ' ' | paste -sd, -)
  if [ "$problems" != " 1 \"status\":400, 1 \"status\":401" ]; then
    printf '%s\n' "$output" >&2
    echo "readme: run $run answered problems ${problems:-none}; expected exactly one 400 and one 401" >&2
    exit 1
  fi
  # The four status lines (the product's and the category's deletes, Ada's
  # sign-out everywhere, the admin's sign-out): each a 204, as the block's
  # comments say.
  no_content=$(grep -cx '204' <<<"$output" || true)
  if [ "$no_content" != 4 ]; then
    printf '%s\n' "$output" >&2
    echo "readme: run $run printed $no_content lines of 204; expected 4 (two deletes and two sign-outs)" >&2
    exit 1
  fi
  for expected in '"source":"postgres"' 'X-Data-Source: postgres' '"status":"cancelled"' 'user:token:'; do
    grep -qi -- "$expected" <<<"$output" || {
      printf '%s\n' "$output" >&2
      echo "readme: run $run never showed $expected" >&2
      exit 1
    }
  done
  echo "readme: run $run of the \"Try it\" block answered as its comments say"
done

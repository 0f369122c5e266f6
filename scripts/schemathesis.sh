#!/usr/bin/env bash
# Fuzzes a running server against its own OpenAPI document with
# schemathesis (from PyPI, installed under .tools/): every operation, every
# check schemathesis has, once without a token, once as the demo customer and
# once as the demo admin (the seed's SEED_* accounts). Fails on any failure.
#
#   scripts/schemathesis.sh http://127.0.0.1:PORT
#
# EXAMPLES (test cases per operation and phase, default 25) bounds it for
# CI, where each run takes well under a minute and SEED (default 1) makes it
# the same every time; a run is stopped after 10 minutes whatever happens.
# For a longer, new exploration locally:
#
#   EXAMPLES=1000 SEED=$RANDOM scripts/schemathesis.sh http://127.0.0.1:3000
#
# The admin run changes the catalog (creates, renames, deletes): use a
# throwaway server and database, as scripts/postman.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/schemathesis.sh BASE_URL}
examples=${EXAMPLES:-25}
seed=${SEED:-1}
version=4.32.5
target=.tools/schemathesis
if [ ! -f "$target/schemathesis/__init__.py" ] \
  || ! grep -qs "^Version: $version$" "$target"/schemathesis-*.dist-info/METADATA; then
  echo "schemathesis: installing schemathesis $version into $target" >&2
  rm -rf "$target"
  python3 -m pip install --quiet --disable-pip-version-check --target "$target" "schemathesis==$version"
fi

token() {
  curl -fsS -X POST "$base/api/auth/signin" -H 'content-type: application/json' \
    -d "{\"email\": \"$1\", \"password\": \"$2\"}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["token"])'
}

# Operations that end the session they are called with run last, alone.
# (schemathesis learns a session's id from GET /api/auth/sessions and then
# ends that session with DELETE /api/auth/sessions/{id}: the run's own.)
# A password change with a fifth wrong current password ends its session
# too.
session_enders=(--exclude-path /api/auth/signout --exclude-path /api/auth/signout-all
  --exclude-path "/api/auth/sessions/{id}" --exclude-path /api/auth/password)

# One worker: with two threads, Python 3.11's ast module can fail at random
# inside hypothesis ("AST constructor recursion depth mismatch", CPython
# gh-106905), a failure of the tool, not of the server.
run() {
  local who=$1
  shift
  echo "schemathesis: $who" >&2
  PYTHONPATH="$target" timeout 600 python3 -m schemathesis.cli \
    --config-file tests/schemathesis/schemathesis.toml --no-color \
    run "$base/api/openapi.json" --url "$base" \
    --checks all --max-examples "$examples" --seed "$seed" \
    --phases examples,coverage,fuzzing --generation-database none \
    --suppress-health-check all --workers 1 "$@"
}

# Every token is taken before the fuzzing starts: the fuzzer's own sign-ins
# soon use up this address's attempts (429), and an assignment stops the
# script (set -e) where a token could not be had, instead of a run going on
# unauthenticated.
customer=("${SEED_CUSTOMER_EMAIL:-customer@emporium.test}" "${SEED_CUSTOMER_PASSWORD:-customer-password-123}")
admin=("${SEED_ADMIN_EMAIL:-admin@emporium.test}" "${SEED_ADMIN_PASSWORD:-admin-password-123}")
customer_token=$(token "${customer[@]}")
admin_token=$(token "${admin[@]}")
signout_token=$(token "${customer[@]}")
# The admin's: the fuzzer may end every session of the account it lists.
revoke_token=$(token "${admin[@]}")
signout_all_token=$(token "${customer[@]}")
password_token=$(token "${customer[@]}")

# A run with a token fuzzes what that account may do only while the token
# lives: checked after the run.
still_signed_in() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/auth/me" -H "Authorization: Bearer $2")
  if [ "$status" != 200 ]; then
    echo "schemathesis: $1's token died during its run (GET /api/auth/me: $status)" >&2
    exit 1
  fi
}

run "no token"
run "the demo customer" "${session_enders[@]}" -H "Authorization: Bearer $customer_token"
still_signed_in "the demo customer" "$customer_token"
run "the demo admin" "${session_enders[@]}" -H "Authorization: Bearer $admin_token"
still_signed_in "the demo admin" "$admin_token"
# Each of these runs starts signed in (else it would pass on 401s alone).
still_signed_in "the sign-out run" "$signout_token"
run "/api/auth/signout, which ends the session it is called with" \
  --include-path /api/auth/signout -H "Authorization: Bearer $signout_token"
# With the list, whose ids the fuzzer then ends (its own session among them:
# the admin's, whose run is over, so that the customer's tokens live on).
still_signed_in "the session-ending run" "$revoke_token"
run "/api/auth/sessions/{id}, which may end the session it is called with" \
  --include-path /api/auth/sessions --include-path "/api/auth/sessions/{id}" \
  -H "Authorization: Bearer $revoke_token"
still_signed_in "the password run" "$password_token"
run "/api/auth/password, which ends its session after five wrong current passwords" \
  --include-path /api/auth/password -H "Authorization: Bearer $password_token"
still_signed_in "the sign-out-everywhere run" "$signout_all_token"
run "/api/auth/signout-all, which ends every session of its user" \
  --include-path /api/auth/signout-all -H "Authorization: Bearer $signout_all_token"
echo "schemathesis: no failure"

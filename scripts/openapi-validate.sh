#!/usr/bin/env bash
# Validates the served OpenAPI document against the OpenAPI 3.1 schema with
# openapi-spec-validator (from PyPI, installed under .tools/).
#
#   scripts/openapi-validate.sh http://127.0.0.1:PORT
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/openapi-validate.sh BASE_URL}
target=.tools/python
version=0.9.0
if ! grep -qs "^Version: $version$" "$target"/openapi_spec_validator-*.dist-info/METADATA; then
  echo "openapi: installing openapi-spec-validator $version into $target" >&2
  rm -rf "$target"
  python3 -m pip install --quiet --disable-pip-version-check --target "$target" "openapi-spec-validator==$version"
fi
mkdir -p target
python3 - "$base/api/openapi.json" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as response:
    document = json.load(response)
open("target/openapi.json", "w").write(json.dumps(document, indent=2))
PY
PYTHONPATH="$target" python3 -m openapi_spec_validator --schema 3.1.0 target/openapi.json

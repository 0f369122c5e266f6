#!/usr/bin/env bash
# The real-browser check of /docs: headless Chromium (Debian's package,
# installed when missing and we are root) renders the page of a running
# server with every host but the server's unreachable, and with a network
# log; the check passes when the rendered DOM lists the API's operations
# and the log shows no request to any other host. A screenshot is saved to
# target/docs.png. Skipped, with the reason, only where Chromium cannot be
# installed.
#
#   scripts/browser.sh http://127.0.0.1:PORT
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: scripts/browser.sh BASE_URL}
host_port=${base#http://}

browser=""
for candidate in chromium chromium-browser; do
  command -v "$candidate" >/dev/null 2>&1 && browser=$candidate && break
done
if [ -z "$browser" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser: installing Debian's chromium" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
      || true
    command -v chromium >/dev/null 2>&1 && browser=chromium
  fi
fi
if [ -z "$browser" ]; then
  echo "browser: SKIPPED: Chromium is not installed and cannot be installed here (not root, or no apt-get)"
  exit 0
fi

mkdir -p target
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(
  --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --disable-default-apps --disable-extensions
  --user-data-dir="$profile"
  # Every host but the server resolves to nothing: an asset from a CDN
  # would fail to load and the page would not render.
  --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
  --virtual-time-budget=15000
  --window-size=1280,2400
)
"$browser" "${flags[@]}" --log-net-log=target/docs-netlog.json --dump-dom "$base/docs/" \
  >target/docs-dom.html 2>target/docs-browser.log
"$browser" "${flags[@]}" --screenshot=target/docs.png "$base/docs/" >/dev/null 2>>target/docs-browser.log

python3 - "$host_port" <<'PY'
import json, re, sys
host_port = sys.argv[1]
dom = open("target/docs-dom.html", encoding="utf-8", errors="replace").read()
operations = re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom)
expected = ["/api/products", "/api/auth/signin", "/api/orders", "/catwalk/products/{product_id}/styles", "/health/ready"]
missing = [path for path in expected if path not in operations]
if len(operations) < 20 or missing:
    print(f"browser: FAILED: {len(operations)} operations rendered; missing {missing}")
    sys.exit(1)
# Requests the page made (their initiator or isolation key is the server's
# origin) must all go to the server. Chromium's own service requests
# (initiator "not an origin": time sync, sign-in, autofill) are not the
# page's; the resolver rules above keep them from leaving anyway.
page_urls, outside, browser_own = set(), set(), set()
try:
    log = json.load(open("target/docs-netlog.json"))
except (OSError, ValueError) as error:
    print(f"browser: FAILED: no readable network log ({error})")
    sys.exit(1)
for event in log.get("events", []):
    params = event.get("params") or {}
    url = params.get("url")
    if not isinstance(url, str) or "initiator" not in params:
        continue
    from_page = host_port in str(params.get("initiator")) or host_port in str(params.get("network_isolation_key"))
    if url.startswith(("http://", "https://")) and f"//{host_port}" in url:
        page_urls.add(url)
    elif from_page:
        outside.add(url)
    else:
        browser_own.add(url)
if outside:
    print("browser: FAILED: the page made requests off the machine:")
    for url in sorted(outside):
        print("  " + url)
    sys.exit(1)
if not page_urls:
    print("browser: FAILED: the network log shows no request to the server")
    sys.exit(1)
urls = page_urls
print(f"browser: ignored {len(browser_own)} of Chromium's own service requests (blocked by the resolver rules)")
print(f"browser: /docs rendered {len(operations)} operations; {len(urls)} requests, all to {host_port}; screenshot target/docs.png")
PY

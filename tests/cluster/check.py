#!/usr/bin/env python3
"""Checks that several Emporium nodes behind NGINX keep every guarantee of
one (issue 16): run by scripts/cluster-test.sh against two nodes that share
one database and one Redis. Exits non-zero on the first broken guarantee.

- a session made on one node works on the other and through NGINX;
- sign-out on one node kills the token on every node at once;
- rate limits are shared: attempts counted on any node add up;
- a write acknowledged by one node is never read stale through the other
  (readers on the other node and through NGINX, while a writer writes);
- checkouts racing across the nodes never oversell;
- NGINX passes the client's request id on (or makes one), and answers the
  API's problem+json 503 when no node can answer, saying of a write that it
  may have taken effect (a node can die after the order it was placing
  committed).
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

PROXY = os.environ["CLUSTER_URL"]
NODES = os.environ["NODE_URLS"].split()
ADMIN = (os.environ["SEED_ADMIN_EMAIL"], os.environ["SEED_ADMIN_PASSWORD"])
PER_EMAIL = int(os.environ["AUTH_RATE_LIMIT_PER_EMAIL"])


def exchange(base, method, path, body=None, token=None, headers=None):
    """The status, the headers and the body (JSON) of one request."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    sent = dict(headers or {})
    if body is not None:
        sent["Content-Type"] = "application/json"
    if token:
        sent["Authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, sent)
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return response.status, response.headers, parsed


def call(base, method, path, body=None, token=None, headers=None):
    status, _, parsed = exchange(base, method, path, body, token, headers)
    return status, parsed


def check(condition, message):
    if not condition:
        print(f"cluster: FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def sign_in(base, email, password):
    status, body = call(base, "POST", "/api/auth/signin", {"email": email, "password": password})
    check(status == 200, f"sign-in of {email} on {base}: {status} {body}")
    return body["data"]["token"]


def sessions_cross_nodes(a, b):
    status, body = call(a, "POST", "/api/auth/signup",
                        {"email": "roamer@example.com", "password": "long enough", "name": "Roamer"})
    check(status == 201, f"sign-up on {a}: {status} {body}")
    token = body["data"]["token"]
    for base in (b, PROXY):
        status, _ = call(base, "GET", "/api/auth/me", token=token)
        check(status == 200, f"a session made on {a} is unknown on {base}: {status}")
    status, _ = call(b, "POST", "/api/auth/signout", token=token)
    check(status == 204, f"sign-out on {b}: {status}")
    for base in (a, b, PROXY):
        status, _ = call(base, "GET", "/api/auth/me", token=token)
        check(status == 401, f"a token signed out on {b} still works on {base}: {status}")
    print("cluster: a session made on one node works on the other; sign-out on one ends it on all")


def rate_limits_shared(a, b):
    bases = [a, b, PROXY]
    for n in range(PER_EMAIL):
        status, _ = call(bases[n % 3], "POST", "/api/auth/signin",
                         {"email": "target@example.com", "password": f"guess-{n}"})
        check(status == 401, f"attempt {n + 1} for one email: {status}")
    for base in bases:
        status, _ = call(base, "POST", "/api/auth/signin",
                         {"email": "target@example.com", "password": "one more"})
        check(status == 429, f"the attempts of both nodes do not add up on {base}: {status}")
    print(f"cluster: {PER_EMAIL} sign-in attempts spread over the nodes, then 429 on every node")


def no_stale_reads(a, b, admin):
    """A writer on node A sets product 1's price to 10.01, 10.02, ...; after
    each acknowledgement, no read started later may show an older price.
    The price starts at 10.00, cached on every node, so that an entry never
    retired would show the oldest price of all."""
    writes = 60
    status, body = call(a, "PUT", "/api/products/1", {"price": "10.00"}, token=admin)
    check(status == 200, f"the starting price on {a}: {status} {body}")
    for base in (a, b, PROXY, PROXY):
        call(base, "GET", "/api/products/1")
    acked = [0]
    lock = threading.Lock()
    stale = []
    reads = []
    read_through = {b: 0, PROXY: 0}
    done = threading.Event()

    def reader(base):
        # A reader that fails (a broken answer, a lost connection) says so:
        # the count of reads alone would not show that one path went unread.
        try:
            while not done.is_set():
                with lock:
                    floor = acked[0]
                status, body = call(base, "GET", "/api/products/1")
                if status != 200:
                    stale.append(f"{base}: {status}")
                    return
                seen = round((float(body["data"]["price"]) - 10) * 100)
                with lock:
                    reads.append(body.get("source"))
                    read_through[base] += 1
                if seen < floor:
                    stale.append(f"{base} served write {seen} after write {floor} was acknowledged "
                                 f"({body.get('source')})")
        except Exception as error:
            stale.append(f"{base}: a read failed: {type(error).__name__}: {error}")

    readers = [threading.Thread(target=reader, args=(base,)) for base in (b, b, PROXY, PROXY)]
    for thread in readers:
        thread.start()
    for n in range(1, writes + 1):
        status, body = call(a, "PUT", "/api/products/1", {"price": f"{10 + n / 100:.2f}"}, token=admin)
        check(status == 200, f"write {n} on {a}: {status} {body}")
        with lock:
            acked[0] = n
    done.set()
    for thread in readers:
        thread.join()
    check(not stale, f"stale reads across nodes: {stale[:5]}")
    check(len(reads) > writes, f"only {len(reads)} reads during {writes} writes")
    for base, count in read_through.items():
        check(count > 0, f"no read through {base} during the writes")
    print(f"cluster: {writes} writes on one node, {len(reads)} reads through the other and NGINX "
          f"meanwhile ({reads.count('redis')} from Redis): 0 stale reads")


def no_oversell(a, b, admin):
    status, body = call(a, "PUT", "/api/products/2", {"stock": 10}, token=admin)
    check(status == 200, f"setting the stock: {status} {body}")
    buyers = []
    for n in range(30):
        status, body = call(PROXY, "POST", "/api/auth/signup",
                            {"email": f"buyer{n}@example.com", "password": "long enough", "name": f"B{n}"})
        check(status == 201, f"sign-up of buyer {n}: {status} {body}")
        buyers.append(body["data"]["token"])
    outcomes = []

    def buy(n, token):
        base = (a, b, PROXY)[n % 3]
        status, _ = call(base, "POST", "/api/orders", {"items": [{"product_id": 2, "quantity": 1}]}, token=token)
        outcomes.append(status)

    threads = [threading.Thread(target=buy, args=(n, token)) for n, token in enumerate(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    placed, refused = outcomes.count(201), outcomes.count(409)
    status, body = call(a, "GET", "/api/products/2")
    check(placed == 10 and refused == 20, f"30 buyers for 10 units: {placed} placed, {refused} refused, {outcomes}")
    check(body["data"]["stock"] == 0, f"stock after the race: {body['data']['stock']}")
    print("cluster: 30 buyers racing over both nodes for 10 units: 10 orders, 20 refused, stock 0")


def request_ids_pass_through():
    _, headers, _ = exchange(PROXY, "GET", "/api/categories", headers={"X-Request-Id": "trace-42"})
    check(headers.get("X-Request-Id") == "trace-42",
          f"the client's request id through NGINX: {headers.get('X-Request-Id')}")
    # Without one, or with one no log should hold, NGINX makes its own (32 hex
    # digits; a node's own would be a UUID), so that a request retried on
    # another node keeps one id.
    for sent in ({}, {"X-Request-Id": 'x"y'}):
        _, headers, _ = exchange(PROXY, "GET", "/api/categories", headers=sent)
        made = headers.get("X-Request-Id") or ""
        check(re.fullmatch(r"[0-9a-f]{32}", made) is not None,
              f"NGINX made no request id for {sent}: {made!r}")
    print("cluster: request ids pass through NGINX (a sane one as sent, else NGINX's own)")


def nginx_refusals_are_problems():
    """What NGINX refuses by itself is a problem+json with the request id."""
    url = urllib.parse.urlsplit(PROXY)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    # A declared body far past every limit: refused from its headers alone.
    conn.putrequest("POST", "/api/auth/signin")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(64 * 1048576))
    conn.putheader("X-Request-Id", "big-1")
    conn.endheaders()
    response = conn.getresponse()
    body = json.loads(response.read().decode() or "null")
    conn.close()
    check(response.status == 413 and response.headers.get("Content-Type") == "application/problem+json"
          and isinstance(body, dict) and body.get("request_id") == "big-1",
          f"a body too large for NGINX: {response.status} {dict(response.headers)} {body}")
    # A request line too long: NGINX reads no header, so the id is its own.
    status, headers, body = exchange(PROXY, "GET", "/api/products?q=" + "a" * 20000)
    check(status == 414 and headers.get("Content-Type") == "application/problem+json"
          and isinstance(body, dict) and body.get("request_id")
          and body.get("request_id") == headers.get("X-Request-Id"),
          f"a request line too long for NGINX: {status} {dict(headers)} {body}")
    print("cluster: what NGINX refuses by itself (413, 414) is a problem+json with the request id")


def running(pid):
    """Whether process `pid` still runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def psql(sql):
    """One value that `sql` answers on the nodes' database."""
    return subprocess.run(["psql", "-X", "-A", "-t", "-q", os.environ["DATABASE_URL"], "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def until(condition, what):
    for _ in range(300):
        if condition():
            return
        time.sleep(0.05)
    check(False, f"15 s and still not: {what}")


def node_pids():
    return [int(pid) for pid in os.environ["CLUSTER_PIDS"].split()[:len(NODES)]]


def node_with_a_connection_from(port):
    """The node whose connection to PostgreSQL leaves from local `port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in node_pids():
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return pid
            except OSError:
                continue
    check(False, f"no node has the connection from port {port}")


def a_node_lost_during_an_order_may_have_placed_it():
    """The node placing an order is killed while the order waits for a
    product's lock: NGINX cannot resend a POST, and the order, one call that
    commits by itself in PostgreSQL, is placed all the same once the lock is
    free. NGINX's 503 must not tell the buyer to simply retry."""
    status, body = call(PROXY, "POST", "/api/auth/signup",
                        {"email": "lost@example.com", "password": "long enough", "name": "Lost"})
    check(status == 201, f"sign-up: {status} {body}")
    token = body["data"]["token"]
    before = int(psql("SELECT count(*) FROM orders"))
    holder = subprocess.Popen(["psql", "-X", "-q", os.environ["DATABASE_URL"], "-c",
                               "BEGIN; SELECT 1 FROM products WHERE id = 3 FOR UPDATE; "
                               "SELECT pg_sleep(4) AS held; COMMIT;"], stdout=subprocess.DEVNULL)
    active = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
    until(lambda: psql(active + "query LIKE '%pg_sleep(4) AS held%' AND pid <> pg_backend_pid()") == "1",
          "the product's lock is held")
    answers = []
    ordering = threading.Thread(target=lambda: answers.append(exchange(
        PROXY, "POST", "/api/orders", {"items": [{"product_id": 3, "quantity": 1}]}, token=token,
        headers={"X-Request-Id": "lost-1"})))
    ordering.start()
    waiting = active + "wait_event_type = 'Lock'"
    until(lambda: psql(waiting) == "1", "the order waits for the lock")
    placing = node_with_a_connection_from(int(psql(waiting.replace("count(*)", "client_port"))))
    os.kill(placing, signal.SIGKILL)
    ordering.join()
    status, headers, body = answers[0]
    check(status == 503 and headers.get("Content-Type") == "application/problem+json"
          and isinstance(body, dict) and "may have taken effect" in body.get("detail", "")
          and body.get("request_id") == "lost-1",
          f"an order whose node died: {status} {dict(headers)} {body}")
    holder.wait(timeout=30)
    until(lambda: int(psql("SELECT count(*) FROM orders")) == before + 1,
          "the order of the node that died is placed")
    print("cluster: an order whose node dies is placed all the same, and NGINX's 503 says it may have been")


def no_node_left_is_a_problem_503():
    pids = node_pids()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    # A node stops listening at once but finishes its open connections first,
    # NGINX's idle keep-alive ones among them: until its process is gone it
    # may still answer through NGINX (CI once saw a 200 here).
    for pid in pids:
        for _ in range(300):
            if not running(pid):
                break
            time.sleep(0.1)
        check(not running(pid), f"node {pid} still runs 30 s after SIGTERM")
    status, headers, body = exchange(PROXY, "GET", "/api/products", headers={"X-Request-Id": "down-1"})
    check(status == 503 and headers.get("Content-Type") == "application/problem+json"
          and headers.get("Retry-After") == "1" and isinstance(body, dict)
          and body.get("request_id") == "down-1",
          f"no node left: {status} {dict(headers)} {body}")
    print("cluster: with every node down, NGINX answers a problem+json 503 with Retry-After")


def main():
    a, b = NODES[0], NODES[1]
    admin = sign_in(a, *ADMIN)
    sessions_cross_nodes(a, b)
    rate_limits_shared(a, b)
    no_stale_reads(a, b, admin)
    no_oversell(a, b, admin)
    request_ids_pass_through()
    nginx_refusals_are_problems()
    a_node_lost_during_an_order_may_have_placed_it()
    no_node_left_is_a_problem_503()
    print("cluster: every guarantee held across the nodes")


if __name__ == "__main__":
    main()

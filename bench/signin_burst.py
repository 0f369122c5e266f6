#!/usr/bin/env python3
"""A burst of concurrent sign-ins against a running server, and the memory it
cost: the server's peak resident set (VmHWM) during the burst, and its
resident set once idle again. Part of bench/run; usable alone:

    bench/signin_burst.py --base http://127.0.0.1:3999 --pid PID \
        --email customer@emporium.test --password customer-password-123 --burst 400

Prints one JSON object. Not a test: it asserts nothing.
"""
import argparse
import collections
import http.client
import json
import threading
import time
import urllib.parse


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def sign_in(base, email, password, results, barrier):
    url = urllib.parse.urlsplit(base)
    body = json.dumps({"email": email, "password": password})
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    barrier.wait()
    started = time.monotonic()
    try:
        connection.request("POST", "/api/auth/signin", body, {"content-type": "application/json"})
        status = connection.getresponse().status
    except Exception as error:  # a refused or dropped connection is a result too
        status = f"error: {type(error).__name__}"
    results.append((status, time.monotonic() - started))
    connection.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()

    before = rss_kib(args.pid, "VmRSS")
    results, barrier = [], threading.Barrier(args.burst)
    threads = [
        threading.Thread(target=sign_in, args=(args.base, args.email, args.password, results, barrier))
        for _ in range(args.burst)
    ]
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(args.pid, "VmRSS"))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    time.sleep(args.idle_seconds)
    statuses = collections.Counter(str(status) for status, _ in results)
    accepted = statuses.get("200", 0)
    print(json.dumps({
        "burst": args.burst,
        "seconds": round(elapsed, 2),
        "statuses": dict(statuses),
        "sign_ins_per_second": round(accepted / elapsed, 1) if elapsed else None,
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(peak[0] / 1024, 1),
        "rss_idle_after_mib": round(rss_kib(args.pid, "VmRSS") / 1024, 1),
    }))


if __name__ == "__main__":
    main()

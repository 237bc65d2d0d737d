#!/usr/bin/env python3
"""Overload probes against a running server (loopback only): the RELIABILITY figures.

    scripts/load/overload.py URL SERVER_PID [--briefings 64] [--k 1000]
                             [--searches 32] [--seconds 20] [--header-timeout-s 15]

1. Memory under anonymous briefings: --briefings concurrent `GET /api/briefings?k=K` (each
   request a different date range, so none is cached), the server's RSS sampled every 50 ms
   (/proc/PID/status VmRSS) and its VmHWM read at the end; status codes counted.
2. Lookups beside expensive searches: --searches clients each running long uncached BM25 and
   hybrid searches (k=100, facets, distinct offsets) back to back, while one client looks papers
   up one at a time (`GET /api/papers/{id}`, ids from /api/latest); lookup p50/p99/max.
3. Slow clients: a connection that sends half a request header, one that sends nothing, and
   one that stays idle after a whole request (keep-alive); seconds until the server closes
   each (the header timeout is --header-timeout-s).

Prints a Markdown table. Standard library only.
"""

import argparse
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def get(url, timeout=120):
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
            return r.status, body, time.perf_counter() - t
    except urllib.error.HTTPError as e:
        return e.code, e.read(), time.perf_counter() - t
    except Exception:
        return None, b"", time.perf_counter() - t


def rss_kb(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else float("nan")


def briefings(url, pid, n, k):
    peak = [rss_kb(pid)]
    start_rss = peak[0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.05)

    codes = {}
    lock = threading.Lock()
    times = []

    def one(i):
        # A distinct date range each: no two requests share a cache entry or a plan.
        since = "2025-%02d-%02d" % (3 + i % 9, 1 + i % 27)
        s, body, dt = get("%s/api/briefings?k=%d&since=%s&llm=false" % (url, k, since))
        code = s
        if s and s != 200:
            try:
                code = "%s %s" % (s, json.loads(body)["error"]["code"])
            except Exception:
                pass
        with lock:
            codes[code] = codes.get(code, 0) + 1
            times.append(dt)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    done.set()
    sampler.join()
    return start_rss, peak[0], rss_kb(pid, "VmHWM"), codes, wall, times


def lookups_beside_searches(url, clients, seconds):
    s, body, _ = get("%s/api/latest?k=100" % url)
    ids = [h["id"] for h in json.loads(body)["hits"]]
    words = ["model", "learning", "network", "quantum", "language", "graph", "data", "neural",
             "optimization", "robust", "bayesian", "spectral", "diffusion", "transformer"]
    stop = threading.Event()
    searched = [0]
    codes = {}
    lock = threading.Lock()

    def searcher(i):
        rnd = random.Random(i)
        n = 0
        while not stop.is_set():
            n += 1
            q = " ".join(rnd.sample(words, 6))
            mode = "hybrid" if n % 2 else "bm25"
            s, _, _ = get("%s/api/search?q=%s&mode=%s&k=100&offset=%d" % (
                url, urllib.parse.quote(q), mode, (i * 7919 + n) % 5000), timeout=60)
            with lock:
                searched[0] += 1
                codes[s] = codes.get(s, 0) + 1

    threads = [threading.Thread(target=searcher, args=(i,), daemon=True) for i in range(clients)]
    for th in threads:
        th.start()
    time.sleep(2)  # let the searches pile up
    lat = []
    lookup_codes = {}
    t_end = time.time() + seconds
    while time.time() < t_end:
        pid_ = random.choice(ids)
        s, _, dt = get("%s/api/papers/%s" % (url, urllib.parse.quote(pid_, safe="")), timeout=30)
        lookup_codes[s] = lookup_codes.get(s, 0) + 1
        lat.append(dt * 1000)
    stop.set()
    return lat, lookup_codes, searched[0], codes


def slow_clients(url):
    host, port = urllib.parse.urlparse(url).hostname, urllib.parse.urlparse(url).port
    out = {}
    for name, payload in (("half-sent header", b"GET /api/latest HTTP/1.1\r\nHost: %s\r\nX-Slow: " % host.encode()),
                          ("silent connection", b""),
                          ("idle keep-alive connection after a request",
                           b"GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())):
        s = socket.create_connection((host, port))
        s.settimeout(120)
        if payload:
            s.sendall(payload)
        t = time.perf_counter()
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        out[name] = time.perf_counter() - t
        s.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("pid", type=int)
    ap.add_argument("--briefings", type=int, default=64)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--searches", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--header-timeout-s", type=float, default=15)
    a = ap.parse_args()
    url = a.url.rstrip("/")
    start, peak, hwm, codes, wall, times = briefings(url, a.pid, a.briefings, a.k)
    lat, lcodes, searched, scodes = lookups_beside_searches(url, a.searches, a.seconds)
    slow = slow_clients(url)
    print("| probe | figure |\n|---|---|")
    print("| RSS before %d concurrent briefings (k=%d) | %.0f MB |" % (a.briefings, a.k, start / 1024))
    print("| peak RSS during them (sampled / VmHWM) | %.0f MB / %.0f MB |" % (peak / 1024, hwm / 1024))
    print("| their answers | %s in %.1f s (slowest %.1f s) |" % (
        ", ".join("%s: %d" % (k, v) for k, v in sorted(codes.items(), key=str)), wall, max(times)))
    print("| paper lookups beside %d search clients | %d lookups: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%s) |" % (
        a.searches, len(lat), pct(lat, 50), pct(lat, 99), max(lat),
        ", ".join("%s: %d" % (k, v) for k, v in sorted(lcodes.items(), key=str))))
    print("| the searches meanwhile | %d (%s) |" % (
        searched, ", ".join("%s: %d" % (k, v) for k, v in sorted(scodes.items(), key=str))))
    for k, v in slow.items():
        print("| %s closed after (header timeout %.0f s) | %.1f s |" % (k, a.header_timeout_s, v))


if __name__ == "__main__":
    main()

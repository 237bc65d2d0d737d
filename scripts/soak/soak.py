#!/usr/bin/env python3
"""Soak test with faults: nothing acknowledged is ever lost.

    scripts/soak/soak.py [--bin PATH] [--cycles N] [--seconds-per-cycle S] [--work DIR]
                         [--tmpfs-mb MB] [--no-disk-full] [--keep]

Starts `academichub serve` with a write token on a copy of the committed 250-paper capture,
under mixed load from several threads:
  - anonymous reads: bm25 and hybrid searches, briefings, radar papers, paper lookups;
  - radar CRUD (create / update / delete through the API, acknowledged changes recorded);
  - POST /api/papers of new papers, each with a unique word in its title (batches of 1-20);
  - POST /api/ingest of a local arXiv-RSS feed server whose every response lists new papers.
It kills the server with SIGKILL at random moments (`--cycles` times), restarts it, and goes on.
One cycle fills the index's filesystem (a tmpfs of `--tmpfs-mb`, mounted here; needs root)
until writes fail, keeps the load on, then frees the space. At the end it restarts the server
cleanly and checks, through the API, that every acknowledged paper is there exactly once (its
unique title word finds exactly one paper), every paper of an acknowledged ingest is there,
the acknowledged radars are as last acknowledged, and that `academichub stats` opens the index.

Prints a summary table and exits non-zero when anything acknowledged is missing or doubled.
Only loopback addresses are used. Standard library only.
"""

import argparse
import http.server
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKEN = "soak-token-" + "%08x" % random.getrandbits(32)
FEED_TEMPLATE = os.path.join(ROOT, "tests/fixtures/feeds/arxiv-rss/cs.CL-2026-06-17.xml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ledger:
    """What the server acknowledged, and what it refused."""

    def __init__(self):
        self.lock = threading.Lock()
        self.papers = {}  # unique word -> id
        self.ingested = set()  # ids of papers in acknowledged ingests
        self.radars = {}  # id -> name as last acknowledged, None when deleted
        self.counts = {}

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n


def request(base, method, path, body=None, token=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, OSError):
        return None, None


# ------------------------------------------------------------------------------------------
# The local feed server: each response is the real cs.CL listing with every id replaced by a
# new one, so every acknowledged ingest adds papers we can look for.

class FeedState:
    def __init__(self):
        self.lock = threading.Lock()
        self.next = 0
        self.template = open(FEED_TEMPLATE, encoding="utf-8").read()
        self.ids = sorted(set(re.findall(r"oai:arXiv\.org:(\d{4}\.\d{5})v\d", self.template)))
        self.served = {}  # request number -> ids

    def render(self):
        with self.lock:
            n = self.next
            self.next += 1
        body = self.template
        new_ids = []
        for i, old in enumerate(self.ids):
            k = n * len(self.ids) + i
            new = "%d.%05d" % (2701 + k // 90000, 10000 + k % 90000)
            body = body.replace(old, new)
            new_ids.append(new)
        with self.lock:
            self.served[n] = new_ids
        return n, body.encode()


def start_feed_server(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            n, body = state.render()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Feed-Response", str(n))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, port


# ------------------------------------------------------------------------------------------

class Server:
    def __init__(self, binary, index, config, port, log):
        self.binary, self.index, self.config, self.port = binary, index, config, port
        self.base = "http://127.0.0.1:%d" % port
        self.log = log
        self.proc = None

    def start(self, timeout=60):
        env = dict(os.environ, ACADEMICHUB_TOKEN=TOKEN, RUST_LOG="warn")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--index", self.index, "--addr", "127.0.0.1:%d" % self.port,
             "--config", self.config],
            stdout=self.log, stderr=self.log, env=env)
        t = time.time()
        while time.time() - t < timeout:
            if self.proc.poll() is not None:
                raise SystemExit("serve exited with %s (see %s)" % (self.proc.returncode, self.log.name))
            s, _ = request(self.base, "GET", "/healthz", timeout=2)
            if s == 200:
                return time.time() - t
            time.sleep(0.1)
        raise SystemExit("serve did not answer /healthz within %ds" % timeout)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def count_refusal(ledger, what, status, body):
    """Counts an unacknowledged request by its status and error code (None: the kill cut it)."""
    if status is None:
        ledger.count("%s cut by a kill" % what)
        return
    code = body.get("error", {}).get("code") if isinstance(body, dict) else None
    ledger.count("%s answered %s%s" % (what, status, " (%s)" % code if code else ""))


NEXT_PAPER = itertools.count(1)  # ids and title words never repeat, across cycles too


def writer_papers(server, ledger, stop, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        batch = []
        for _ in range(rnd.randint(1, 20)):
            n = next(NEXT_PAPER)
            word = "soakw%dx%d" % (seed, n)
            pid = "soak-%d-%d" % (seed, n)
            batch.append({"id": pid, "title": "Fault tolerant %s sourdough" % word,
                          "abstract": "A paper written by the soak test (%s)." % word,
                          "published": "2026-07-%02d" % rnd.randint(1, 28), "categories": ["cs.DB"]})
        s, r = request(server.base, "POST", "/api/papers", batch, token=TOKEN, timeout=60)
        if s == 200 and isinstance(r, dict) and r.get("upserted") == len(batch):
            with ledger.lock:
                for p in batch:
                    ledger.papers[p["title"].split()[2]] = p["id"]
            ledger.count("papers acknowledged", len(batch))
        else:
            count_refusal(ledger, "writes", s, r)
        time.sleep(rnd.uniform(0.0, 0.2))


def ingester(server, ledger, feed, stop):
    while not stop.is_set():
        before = feed.next
        s, r = request(server.base, "POST", "/api/ingest", {"source": "soak-feed"}, token=TOKEN, timeout=120)
        after = feed.next
        if s == 200 and isinstance(r, dict):
            reports = r.get("sources", [])
            if reports and all(x.get("ok") for x in reports) and after - before == 1:
                with ledger.lock:
                    ledger.ingested.update(feed.served[before])
                ledger.count("ingests acknowledged")
            else:
                ledger.count("ingests answered 200 with a failed source")
        else:
            count_refusal(ledger, "ingests", s, r)
        time.sleep(random.uniform(0.5, 2.0))


def radar_crud(server, ledger, stop, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        n = next(NEXT_PAPER)
        action = rnd.random()
        with ledger.lock:
            live = [k for k, v in ledger.radars.items() if v is not None]
        if action < 0.5 or not live:
            name = "soak radar %d %d" % (seed, n)
            s, r = request(server.base, "POST", "/api/radars",
                           {"name": name, "queries": ["sourdough", "fault tolerance"]}, token=TOKEN)
            if s in (200, 201) and isinstance(r, dict):
                with ledger.lock:
                    ledger.radars[r["id"]] = name
                ledger.count("radar changes acknowledged")
        elif action < 0.8:
            rid = rnd.choice(live)
            name = "renamed %d %d" % (seed, n)
            s, r = request(server.base, "PUT", "/api/radars/" + rid,
                           {"name": name, "queries": ["sourdough"]}, token=TOKEN)
            if s == 200:
                with ledger.lock:
                    ledger.radars[rid] = name
                ledger.count("radar changes acknowledged")
        else:
            rid = rnd.choice(live)
            s, r = request(server.base, "DELETE", "/api/radars/" + rid, token=TOKEN)
            if s in (200, 204):
                with ledger.lock:
                    ledger.radars[rid] = None
                ledger.count("radar changes acknowledged")
        time.sleep(rnd.uniform(0.1, 0.5))


def reader(server, ledger, stop, seed):
    rnd = random.Random(seed)
    queries = ["large language models", "graph neural network", "强化学习", "speech tokens",
               "sourdough", "diffusion model", "扩散模型"]
    while not stop.is_set():
        r = rnd.random()
        q = urllib.parse.quote(rnd.choice(queries))
        if r < 0.4:
            path = "/api/search?q=%s&mode=bm25&k=20" % q
        elif r < 0.7:
            path = "/api/search?q=%s&mode=hybrid&k=20" % q
        elif r < 0.8:
            path = "/api/briefings?k=%d" % rnd.choice([20, 200, 1000])
        elif r < 0.9:
            path = "/api/latest?k=10"
        else:
            with ledger.lock:
                live = [k for k, v in ledger.radars.items() if v is not None]
            path = ("/api/radars/%s/papers" % rnd.choice(live)) if live else "/api/radars"
        s, _ = request(server.base, "GET", path, timeout=30)
        ledger.count("reads %s" % ("cut by a kill" if s is None else "answered %d" % s))


def fill_disk(path):
    """Fills the filesystem of `path` with a file until writing fails; returns the file."""
    filler = os.path.join(path, "filler.bin")
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    return filler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/academichub"))
    ap.add_argument("--cycles", type=int, default=20, help="kill -9 cycles (default 20)")
    ap.add_argument("--seconds-per-cycle", type=float, default=6.0,
                    help="mean load time between kills (uniform 0.3x..1.7x)")
    ap.add_argument("--work", help="working directory (default: a new temporary one)")
    ap.add_argument("--tmpfs-mb", type=int, default=256)
    ap.add_argument("--no-disk-full", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise SystemExit("%s not found: build it first (cargo build --release)" % args.bin)

    work = args.work or tempfile.mkdtemp(prefix="academichub-soak-")
    os.makedirs(work, exist_ok=True)
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    mounted = False
    if not args.no_disk_full:
        if os.geteuid() != 0:
            raise SystemExit("the disk-full episode mounts a tmpfs and needs root (or pass --no-disk-full)")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % args.tmpfs_mb, "tmpfs", data], check=True)
        mounted = True
    index = os.path.join(data, "idx")
    log = open(os.path.join(work, "serve.log"), "ab")
    rc = 1
    try:
        subprocess.run([args.bin, "import", "--format", "arxiv-jsonl",
                        os.path.join(ROOT, "tests/fixtures/arxiv-mini.jsonl"), "--index", index],
                       check=True, stdout=log, stderr=log)
        feed = FeedState()
        feed_srv, feed_port = start_feed_server(feed)
        config = os.path.join(work, "academichub.toml")
        with open(config, "w") as f:
            f.write("[[sources]]\nname = \"soak-feed\"\nkind = \"arxiv-rss\"\n"
                    "url = \"http://127.0.0.1:%d/rss/cs.CL\"\ninterval = \"30d\"\n" % feed_port)
        server = Server(args.bin, index, config, free_port(), log)
        ledger = Ledger()
        starts = [server.start()]
        disk_cycle = -1 if args.no_disk_full else args.cycles // 2
        kills = 0
        for cycle in range(args.cycles + 1):
            stop = threading.Event()
            threads = [threading.Thread(target=writer_papers, args=(server, ledger, stop, s)) for s in (1, 2)]
            threads.append(threading.Thread(target=ingester, args=(server, ledger, feed, stop)))
            threads.append(threading.Thread(target=radar_crud, args=(server, ledger, stop, 3)))
            threads += [threading.Thread(target=reader, args=(server, ledger, stop, s)) for s in (4, 5, 6)]
            for t in threads:
                t.daemon = True
                t.start()
            if cycle == disk_cycle:
                filler = fill_disk(data)
                ledger.count("disk-full episodes")
                time.sleep(args.seconds_per_cycle)
                os.remove(filler)
                time.sleep(args.seconds_per_cycle / 2)
            else:
                time.sleep(random.uniform(0.3, 1.7) * args.seconds_per_cycle)
            last = cycle == args.cycles
            if not last:
                server.kill9()
                kills += 1
            stop.set()
            for t in threads:
                t.join(timeout=180)
            if not last:
                starts.append(server.start())
            print("cycle %d/%d: %d papers, %d ingested, %d radars acknowledged so far" % (
                cycle + 1, args.cycles + 1, len(ledger.papers), len(ledger.ingested),
                sum(1 for v in ledger.radars.values() if v is not None)), flush=True)

        # A clean restart, then the checks.
        server.stop()
        stats = subprocess.run([args.bin, "stats", "--index", index, "--json"], capture_output=True, text=True)
        starts.append(server.start())
        missing, doubled = [], []
        for word, pid in sorted(ledger.papers.items()):
            s, r = request(server.base, "GET", "/api/search?q=%s&mode=bm25&k=5" % word)
            total = r.get("total") if isinstance(r, dict) else None
            if total == 0:
                missing.append(pid)
            elif total != 1:
                doubled.append((pid, total))
        missing_ingested = []
        for pid in sorted(ledger.ingested):
            s, _ = request(server.base, "GET", "/api/papers/" + pid)
            if s != 200:
                missing_ingested.append(pid)
        s, r = request(server.base, "GET", "/api/radars")
        have = {x["id"]: x["name"] for x in (r.get("radars", []) if isinstance(r, dict) else [])}
        radar_wrong = [rid for rid, name in ledger.radars.items() if have.get(rid) != name]
        server.stop()
        papers_total = json.loads(stats.stdout).get("papers") if stats.returncode == 0 else None

        rows = [
            ("kill -9 cycles", kills),
            ("disk-full episodes", ledger.counts.get("disk-full episodes", 0)),
            ("papers acknowledged", len(ledger.papers)),
            ("ingested papers acknowledged", len(ledger.ingested)),
            ("radar changes acknowledged", ledger.counts.get("radar changes acknowledged", 0)),
            ("acknowledged papers missing", len(missing)),
            ("acknowledged papers stored twice", len(doubled)),
            ("acknowledged ingested papers missing", len(missing_ingested)),
            ("radars not as last acknowledged", len(radar_wrong)),
            ("index opens cleanly (stats)", "yes (%s papers)" % papers_total if stats.returncode == 0 else "NO: " + stats.stderr.strip()[-300:]),
            ("restart to /healthz, median s", "%.2f" % sorted(starts)[len(starts) // 2]),
        ]
        for k in sorted(ledger.counts):
            if k.startswith(("writes", "reads", "ingests")):
                rows.append((k, ledger.counts[k]))
        print("\n| soak | value |\n|---|---|")
        for k, v in rows:
            print("| %s | %s |" % (k, v))
        for pid in missing[:10]:
            print("missing:", pid)
        for pid, n in doubled[:10]:
            print("stored %s times: %s" % (n, pid))
        for pid in missing_ingested[:10]:
            print("missing ingested:", pid)
        ok = not missing and not doubled and not missing_ingested and not radar_wrong and stats.returncode == 0
        rc = 0 if ok else 1
        print("\nsoak: %s" % ("PASS: nothing acknowledged was lost" if ok else "FAIL"))
        feed_srv.shutdown()
    finally:
        log.close()
        if mounted:
            subprocess.run(["umount", "-l", data])
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            print("working directory kept:", work)
    return rc


if __name__ == "__main__":
    sys.exit(main())

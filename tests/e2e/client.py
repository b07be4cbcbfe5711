#!/usr/bin/env python3
"""Load loop for arca's end-to-end tests (Python 3 standard library only).

  client.py run --url URL --repo KEY --user admin --password PW --out DIR [--threads N]
                [--min-requests N] [--max-seconds S] [--stop-file F] [--prefix P]
      Each thread loops: PUT a fresh random artifact (with X-Checksum-Sha256), then GET it back and
      compare the SHA-256 of the body (and the deploy's reported checksum). Every HTTP request is one
      request; a failure is a connection error, a timeout, a non-2xx status or a checksum mismatch.
      Runs until the stop file exists (or SIGTERM/SIGINT) *and* at least --min-requests were made, or
      until --max-seconds. Writes DIR/requests.csv (one line per request), DIR/progress (live
      "requests failed" counts, updated every 0.2 s) and DIR/summary.json.

  client.py analyze --out DIR [--from T] [--to T] [--allow-from T --allow-to T]
      Prints JSON with requests, failed, max_gap (longest time without a successful completion),
      max_latency and the failures, for requests that completed in [from, to] (epoch seconds).
      With --allow-from/--allow-to: "failed_outside" counts failures outside that window.

  client.py deploy --url URL --repo KEY --password PW --count N --manifest FILE [--threads N]
                   [--prefix P] [--min-size B] [--max-size B]
      Deploys N fresh random artifacts (with X-Checksum-Sha256); each must be answered 201 with that
      sha256. Appends "path sha256 size node" per acknowledged artifact to FILE. Prints JSON
      (deployed, failed, by_node, failures); exit 1 if any deploy failed.

  client.py verify --url URL [--url URL]... --password PW --manifest FILE [--manifest FILE]...
      GETs every artifact of the manifests from every URL (e.g. each node directly) and compares the
      body's SHA-256 and X-Checksum-Sha256 with the manifest. Prints JSON; exit 1 on any mismatch.

  client.py objects --dir DIR --manifest FILE [--manifest FILE]... [--quiet]
      The object files under DIR (an S3 server's bucket directory; files named by their SHA-256): prints
      JSON with expected, present (right content), missing, wrong (content does not hash to the name);
      exit 0 only when every sha256 of the manifests is present with the right content.
"""

import argparse
import base64
import csv
import hashlib
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.parse


class Stop:
    def __init__(self, stop_file):
        self.stop_file = stop_file
        self.flag = threading.Event()

    def requested(self):
        if self.flag.is_set():
            return True
        if self.stop_file and os.path.exists(self.stop_file):
            self.flag.set()
        return self.flag.is_set()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []  # (t_start, t_end, thread, op, status, ok, node, error)
        self.requests = 0
        self.failed = 0

    def add(self, rec):
        with self.lock:
            self.records.append(rec)
            self.requests += 1
            if not rec[5]:
                self.failed += 1


class Conn:
    def __init__(self, url, auth, timeout):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.c = None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers dict, body bytes); raises on transport errors."""
        h = {"Authorization": self.auth, "Connection": "keep-alive"}
        if headers:
            h.update(headers)
        if self.c is None:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.c.request(method, self.base + path, body=body, headers=h)
            r = self.c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get("connection", "").lower() == "close":
                self.close()
            return r.status, hdrs, data
        except Exception:
            self.close()
            raise

    def close(self):
        if self.c is not None:
            try:
                self.c.close()
            except Exception:
                pass
            self.c = None


def worker(idx, args, stats, stop, auth):
    conn = Conn(args.url, auth, args.timeout)
    rnd = random.Random(os.urandom(8))
    i = 0
    while not stop.requested():
        i += 1
        size = rnd.randint(1, args.max_size)
        body = rnd.randbytes(size)
        sha = hashlib.sha256(body).hexdigest()
        path = f"/{args.repo}/{args.prefix}/t{idx}/{i}-{rnd.getrandbits(32):08x}.bin"

        # deploy
        t0 = time.time()
        ok, status, node, err = False, 0, "", ""
        try:
            status, hdrs, data = conn.request(
                "PUT", path, body=body,
                headers={"Content-Type": "application/octet-stream", "X-Checksum-Sha256": sha},
            )
            node = hdrs.get("x-arca-node-id", "")
            if status in (200, 201):
                try:
                    got = json.loads(data).get("checksums", {}).get("sha256", sha)
                except ValueError:
                    got = sha
                if got == sha:
                    ok = True
                else:
                    err = f"deploy reported sha256 {got}, sent {sha}"
            else:
                err = f"HTTP {status}: {data[:200]!r}"
        except Exception as e:  # noqa: BLE001 - every transport error is a failed request
            err = f"{type(e).__name__}: {e}"
        stats.add((t0, time.time(), idx, "PUT", status, ok, node, err))
        if not ok:
            continue

        # resolve
        t0 = time.time()
        ok, status, node, err = False, 0, "", ""
        try:
            status, hdrs, data = conn.request("GET", path)
            node = hdrs.get("x-arca-node-id", "")
            if status == 200:
                got = hashlib.sha256(data).hexdigest()
                hdr = hdrs.get("x-checksum-sha256", got)
                if got == sha and hdr == sha:
                    ok = True
                else:
                    err = f"sha256 mismatch: body {got}, header {hdr}, deployed {sha} ({len(data)} of {size} bytes)"
            else:
                err = f"HTTP {status}: {data[:200]!r}"
        except Exception as e:  # noqa: BLE001
            err = f"{type(e).__name__}: {e}"
        stats.add((t0, time.time(), idx, "GET", status, ok, node, err))
    conn.close()


def cmd_run(args):
    os.makedirs(args.out, exist_ok=True)
    stop = Stop(args.stop_file)
    stats = Stats()
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()

    def on_signal(_sig, _frm):
        stop.flag.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started = time.time()
    threads = []
    # Workers stop only when asked *and* the minimum is reached (a controlling event makes both true).
    work_stop = Stop(None)
    for idx in range(args.threads):
        t = threading.Thread(target=worker, args=(idx, args, stats, work_stop, auth), daemon=True)
        t.start()
        threads.append(t)
    progress = os.path.join(args.out, "progress")
    while True:
        with stats.lock:
            n, f = stats.requests, stats.failed
        tmp = progress + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{n} {f}\n")
        os.replace(tmp, progress)
        elapsed = time.time() - started
        if (stop.requested() and n >= args.min_requests) or elapsed >= args.max_seconds:
            break
        if not any(t.is_alive() for t in threads):
            break
        time.sleep(0.2)
    work_stop.flag.set()
    for t in threads:
        t.join(args.timeout + 5)
    ended = time.time()

    with stats.lock:
        records = sorted(stats.records, key=lambda r: r[1])
    with open(os.path.join(args.out, "requests.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_start", "t_end", "thread", "op", "status", "ok", "node", "error"])
        for r in records:
            w.writerow([f"{r[0]:.6f}", f"{r[1]:.6f}", r[2], r[3], r[4], int(r[5]), r[6], r[7]])
    summary = summarize(records, started, ended)
    summary["started"] = started
    summary["ended"] = ended
    with open(os.path.join(args.out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    with open(progress, "w") as fh:
        fh.write(f"{summary['requests']} {summary['failed']}\n")
    print(json.dumps({k: summary[k] for k in ("requests", "failed", "max_gap", "max_latency", "by_node")}))
    return 0


def summarize(records, t_from, t_to):
    """records sorted by t_end, already restricted to the window."""
    fails = [r for r in records if not r[5]]
    # longest time without a successful completion, measured from the window start
    last_ok = t_from
    max_gap, gap_at = 0.0, None
    for r in records:
        if r[5]:
            if r[1] - last_ok > max_gap:
                max_gap, gap_at = r[1] - last_ok, last_ok
            last_ok = r[1]
    by_node = {}
    for r in records:
        by_node[r[6] or "?"] = by_node.get(r[6] or "?", 0) + 1
    return {
        "requests": len(records),
        "failed": len(fails),
        "max_gap": round(max_gap, 3),
        "max_gap_at": gap_at,
        "max_latency": round(max((r[1] - r[0] for r in records), default=0.0), 3),
        "by_node": by_node,
        "failures": [
            {"t_end": r[1], "op": r[3], "status": r[4], "node": r[6], "error": r[7]} for r in fails[:50]
        ],
    }


def cmd_analyze(args):
    records = []
    with open(os.path.join(args.out, "requests.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            records.append((float(row["t_start"]), float(row["t_end"]), int(row["thread"]), row["op"],
                            int(row["status"]), row["ok"] == "1", row["node"], row["error"]))
    records.sort(key=lambda r: r[1])
    t_from = args.t_from if args.t_from is not None else (records[0][0] if records else 0.0)
    t_to = args.t_to if args.t_to is not None else float("inf")
    window = [r for r in records if t_from <= r[1] <= t_to]
    s = summarize(window, t_from, t_to)
    if args.allow_from is not None:
        s["failed_outside"] = sum(
            1 for r in window if not r[5] and not (args.allow_from <= r[1] <= args.allow_to))
        s["last_failure_after_allow_from"] = round(max(
            (r[1] - args.allow_from for r in window if not r[5]), default=0.0), 3)
    print(json.dumps(s))
    return 0


def basic_auth(args):
    return "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()


def run_parallel(items, threads, fn):
    """fn(conn_slot, item) for every item on `threads` threads; returns the results in item order."""
    results = [None] * len(items)
    lock = threading.Lock()
    nxt = [0]

    def loop():
        slot = {}
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(items):
                break
            results[i] = fn(slot, items[i])
        for c in slot.values():
            c.close()

    ts = [threading.Thread(target=loop, daemon=True) for _ in range(max(1, threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


def read_manifests(paths):
    entries = []
    for p in paths:
        with open(p) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3:
                    entries.append((parts[0], parts[1], int(parts[2])))
    return entries


def cmd_deploy(args):
    auth = basic_auth(args)
    rnd = random.Random(os.urandom(8))
    tag = f"{rnd.getrandbits(32):08x}"
    items = [(i, rnd.randint(args.min_size, args.max_size)) for i in range(args.count)]

    def deploy(slot, item):
        i, size = item
        conn = slot.setdefault("c", Conn(args.url, auth, args.timeout))
        body = os.urandom(size)
        sha = hashlib.sha256(body).hexdigest()
        path = f"/{args.repo}/{args.prefix}/{tag}/{i:04d}.bin"
        try:
            status, hdrs, data = conn.request(
                "PUT", path, body=body,
                headers={"Content-Type": "application/octet-stream", "X-Checksum-Sha256": sha},
            )
        except Exception as e:  # noqa: BLE001 - every transport error is a failed deploy
            return (path, sha, size, "", f"{type(e).__name__}: {e}")
        node = hdrs.get("x-arca-node-id", "")
        if status != 201:
            return (path, sha, size, node, f"HTTP {status}: {data[:200]!r}")
        try:
            got = json.loads(data).get("checksums", {}).get("sha256")
        except ValueError:
            got = None
        if got != sha:
            return (path, sha, size, node, f"deploy reported sha256 {got}, sent {sha}")
        return (path, sha, size, node, "")

    results = run_parallel(items, args.threads, deploy)
    by_node = {}
    with open(args.manifest, "a") as fh:
        for path, sha, size, node, err in results:
            if not err:
                fh.write(f"{path} {sha} {size} {node or '?'}\n")
                by_node[node or "?"] = by_node.get(node or "?", 0) + 1
    failures = [{"path": r[0], "node": r[3], "error": r[4]} for r in results if r[4]]
    print(json.dumps({"deployed": len(results) - len(failures), "failed": len(failures),
                      "bytes": sum(r[2] for r in results), "by_node": by_node, "failures": failures[:10]}))
    return 1 if failures else 0


def cmd_verify(args):
    auth = basic_auth(args)
    entries = read_manifests(args.manifest)
    items = [(url, e) for url in args.url for e in entries]

    def get(slot, item):
        url, (path, sha, size) = item
        conn = slot.get(url)
        if conn is None:
            conn = slot[url] = Conn(url, auth, args.timeout)
        try:
            status, hdrs, data = conn.request("GET", path)
        except Exception as e:  # noqa: BLE001
            return f"{url}{path}: {type(e).__name__}: {e}"
        if status != 200:
            return f"{url}{path}: HTTP {status}: {data[:200]!r}"
        got = hashlib.sha256(data).hexdigest()
        hdr = hdrs.get("x-checksum-sha256", "")
        if got != sha or hdr != sha:
            return f"{url}{path}: sha256 of the body {got}, header {hdr}, deployed {sha} ({len(data)} of {size} bytes)"
        return ""

    errors = [e for e in run_parallel(items, args.threads, get) if e]
    print(json.dumps({"artifacts": len(entries), "urls": len(args.url), "checked": len(items),
                      "failed": len(errors), "failures": errors[:10]}))
    return 1 if errors or not entries else 0


def cmd_objects(args):
    expected = {sha for _path, sha, _size in read_manifests(args.manifest)}
    found = {}
    for root, _dirs, files in os.walk(args.dir):
        for name in files:
            if len(name) == 64 and all(c in "0123456789abcdef" for c in name) and name in expected:
                h = hashlib.sha256()
                try:
                    with open(os.path.join(root, name), "rb") as fh:
                        for chunk in iter(lambda: fh.read(1 << 20), b""):
                            h.update(chunk)
                except OSError:
                    continue
                if found.get(name) != name:
                    found[name] = h.hexdigest()
    present = sorted(k for k, v in found.items() if k == v)
    wrong = sorted(k for k, v in found.items() if k != v)
    missing = sorted(expected - set(found))
    if not args.quiet:
        print(json.dumps({"expected": len(expected), "present": len(present), "missing": len(missing),
                          "wrong": len(wrong), "missing_examples": missing[:5], "wrong_examples": wrong[:5]}))
    return 0 if not missing and not wrong else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--url", required=True, help="…/artifactory of the load balancer")
    r.add_argument("--repo", required=True)
    r.add_argument("--user", default="admin")
    r.add_argument("--password", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--threads", type=int, default=4)
    r.add_argument("--min-requests", type=int, default=0)
    r.add_argument("--max-seconds", type=float, default=600)
    r.add_argument("--stop-file")
    r.add_argument("--prefix", default="e2e")
    r.add_argument("--max-size", type=int, default=64 * 1024)
    r.add_argument("--timeout", type=float, default=30)
    a = sub.add_parser("analyze")
    a.add_argument("--out", required=True)
    a.add_argument("--from", dest="t_from", type=float)
    a.add_argument("--to", dest="t_to", type=float)
    a.add_argument("--allow-from", type=float)
    a.add_argument("--allow-to", type=float)
    d = sub.add_parser("deploy")
    d.add_argument("--url", required=True, help="…/artifactory (the load balancer)")
    d.add_argument("--repo", required=True)
    d.add_argument("--user", default="admin")
    d.add_argument("--password", required=True)
    d.add_argument("--count", type=int, required=True)
    d.add_argument("--manifest", required=True)
    d.add_argument("--threads", type=int, default=4)
    d.add_argument("--prefix", default="e2e")
    d.add_argument("--min-size", type=int, default=1)
    d.add_argument("--max-size", type=int, default=256 * 1024)
    d.add_argument("--timeout", type=float, default=30)
    v = sub.add_parser("verify")
    v.add_argument("--url", action="append", required=True)
    v.add_argument("--user", default="admin")
    v.add_argument("--password", required=True)
    v.add_argument("--manifest", action="append", required=True)
    v.add_argument("--threads", type=int, default=6)
    v.add_argument("--timeout", type=float, default=30)
    o = sub.add_parser("objects")
    o.add_argument("--dir", required=True)
    o.add_argument("--manifest", action="append", required=True)
    o.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    cmds = {"run": cmd_run, "analyze": cmd_analyze, "deploy": cmd_deploy, "verify": cmd_verify,
            "objects": cmd_objects}
    return cmds[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

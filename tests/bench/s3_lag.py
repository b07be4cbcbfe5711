#!/usr/bin/env python3
"""Measurements of tests/bench/s3-lag.sh (stdlib only). See tests/bench/README.md.

Subcommands (each prints `name value` lines on stdout, one metric a line, for the bash script;
progress goes to stderr):

  mkbucket   create the bucket on the S3 server (SigV4 PUT /<bucket>)
  s3base     the baseline: raw S3 PUT latency (sequential) and throughput (N threads) of the
             same S3 server, same object size, same client code as the deploys
  lag        deploy N random files at a fixed rate (open loop) and time each one from the
             deploy's 201 to the moment its object file appears in the S3 server's directory
  flood      deploy N random files as fast as possible (the mover is stopped)
  drain      time from the mover's start (--t0, epoch seconds) until the eventual `_add`
             directory is empty and every object of `flood` is in S3

Secrets come from the environment: ARCA_ADMIN_PW (arca's admin password), S3_ACCESS_KEY and
S3_SECRET_KEY (the S3 server's keys).
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import struct
import threading
import time
import urllib.parse

from benchlib import Tickets, emit, emit_stats, log, run_command, run_threads, set_name

set_name("s3-lag.py")

SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def split_url(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise SystemExit("only http://HOST:PORT URLs are supported: %s" % url)
    return u.hostname, u.port or 80, u.path.rstrip("/")


# ------------------------------------------------------------------------------------------------
# S3: SigV4 over http.client


class S3:
    def __init__(self, endpoint, bucket, region="us-east-1"):
        self.host, self.port, _ = split_url(endpoint)
        self.hostport = "%s:%d" % (self.host, self.port)
        self.bucket = bucket
        self.region = region
        self.ak = os.environ["S3_ACCESS_KEY"]
        self.sk = os.environ["S3_SECRET_KEY"]

    def headers(self, method, path, body):
        now = datetime.datetime.now(datetime.timezone.utc)
        amzdate = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        payload = hashlib.sha256(body).hexdigest()
        h = {"host": self.hostport, "x-amz-content-sha256": payload, "x-amz-date": amzdate}
        signed = ";".join(sorted(h))
        canonical = "\n".join(
            [
                method,
                urllib.parse.quote(path, safe="/-_.~"),
                "",
                "".join("%s:%s\n" % (k, h[k]) for k in sorted(h)),
                signed,
                payload,
            ]
        )
        scope = "%s/%s/s3/aws4_request" % (day, self.region)
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amzdate, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self.sk).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out = {k: v for k, v in h.items() if k != "host"}
        out["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            self.ak,
            scope,
            signed,
            sig,
        )
        out["Content-Length"] = str(len(body))
        return out

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def request(self, conn, method, path, body=b""):
        conn.request(method, path, body=body, headers=self.headers(method, path, body))
        r = conn.getresponse()
        data = r.read()
        return r.status, data

    def put(self, conn, key, body):
        return self.request(conn, "PUT", "/%s/%s" % (self.bucket, key), body)


def cmd_mkbucket(a):
    s3 = S3(a.endpoint, a.bucket)
    conn = s3.connect()
    status, data = s3.request(conn, "PUT", "/" + a.bucket)
    if status not in (200, 409) and b"BucketAlready" not in data:
        raise SystemExit("PUT /%s -> %d %s" % (a.bucket, status, data[:300].decode(errors="replace")))
    emit("bucket_status", status)


def cmd_s3base(a):
    s3 = S3(a.endpoint, a.bucket)
    # sequential PUTs on one keep-alive connection: the latency of one PUT
    conn = s3.connect()
    lat = []
    for i in range(a.count):
        body = os.urandom(a.size)
        t = time.monotonic()
        status, data = s3.put(conn, "%s/seq/%d" % (a.prefix, i), body)
        lat.append(time.monotonic() - t)
        if status != 200:
            raise SystemExit("baseline PUT -> %d %s" % (status, data[:300].decode(errors="replace")))
    conn.close()
    emit_stats("s3put", lat)
    # parallel PUTs with the mover's thread count: the throughput of the store itself
    bodies = [os.urandom(a.size) for _ in range(a.par_count)]
    tickets = Tickets(a.par_count)
    errors = []

    def worker():
        c = s3.connect()
        for i in tickets:
            try:
                status, data = s3.put(c, "%s/par/%d" % (a.prefix, i), bodies[i])
                if status != 200:
                    errors.append(status)
            except (OSError, http.client.HTTPException) as e:
                errors.append(str(e))
                c.close()
                c = s3.connect()
        c.close()

    dt = run_threads(worker, a.threads)
    if errors:
        raise SystemExit("baseline parallel PUTs: %d errors, e.g. %s" % (len(errors), errors[0]))
    emit("s3par_objects", a.par_count)
    emit("s3par_seconds", dt)
    emit("s3par_obj_s", a.par_count / dt)
    emit("s3par_mb_s", a.par_count * a.size / dt / 1e6)


# ------------------------------------------------------------------------------------------------
# arca deploys


class Arca:
    def __init__(self, url, repo):
        self.host, self.port, self.base = split_url(url)
        self.repo = repo
        pw = os.environ["ARCA_ADMIN_PW"]
        self.auth = "Basic " + base64.b64encode(("admin:" + pw).encode()).decode()

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def deploy(self, conn, path, body):
        conn.request(
            "PUT",
            "%s/%s/%s" % (self.base, self.repo, path),
            body=body,
            headers={"Authorization": self.auth, "Content-Type": "application/octet-stream"},
        )
        r = conn.getresponse()
        r.read()
        return r.status

    def deploy_or_reconnect(self, conn, path, body):
        """(status, connection): the status, or the error's text with a fresh connection."""
        try:
            return self.deploy(conn, path, body), conn
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            return str(e), self.connect()


def make_payloads(n, size):
    bodies = [os.urandom(size) for _ in range(n)]
    return bodies, [hashlib.sha256(b).hexdigest() for b in bodies]


class Layout:
    """Where an object lands: s3s-fs keeps `<root>/<bucket>/<key>`; arca's key is
    `<path>/<sha[:folder_len]>/<sha>` (daemons/lib/arca-storage/src/s3.rs, object_key)."""

    def __init__(self, a):
        self.bucket_dir = os.path.join(a.s3_root, a.bucket)
        self.base = self.bucket_dir
        if a.prefix:
            self.base = os.path.join(self.base, a.prefix)
        self.folder_len = a.folder_len
        self.add_dir = a.add_dir

    def s3_path(self, sha):
        if self.folder_len:
            return os.path.join(self.base, sha[: self.folder_len], sha)
        return os.path.join(self.base, sha)

    def add_path(self, sha):
        return os.path.join(self.add_dir, sha)


class Inotify:
    """Linux inotify through ctypes: the time of each file event, to well under a millisecond,
    without polling. `events(timeout)` returns [(monotonic time, wd, mask, name)]."""

    IN_MOVED_TO = 0x00000080
    IN_CREATE = 0x00000100
    IN_DELETE = 0x00000200
    IN_Q_OVERFLOW = 0x00004000
    IN_ISDIR = 0x40000000

    def __init__(self):
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.paths = {}  # wd -> directory
        self.overflowed = False

    def watch(self, path, mask):
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            return None
        self.paths[wd] = path
        return wd

    def events(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        try:
            buf = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        now = time.monotonic()
        out = []
        off = 0
        while off + 16 <= len(buf):
            wd, mask, _cookie, length = struct.unpack_from("iIII", buf, off)
            name = buf[off + 16 : off + 16 + length].split(b"\0", 1)[0].decode(errors="replace")
            off += 16 + length
            if mask & self.IN_Q_OVERFLOW:
                self.overflowed = True
            out.append((now, wd, mask, name))
        return out

    def close(self):
        os.close(self.fd)


class Watcher(threading.Thread):
    """For each watched object: the time its file appears in the S3 server's directory (s3s-fs
    writes a temp file and renames it into place, so a name there means a complete object), then
    the time its `_add/<sha>` queue entry is deleted (the mover verified the upload and dropped
    the local copy). Event times come from inotify on the bucket's directories (watched
    recursively as s3s-fs creates them) and on `_add`; a poll every `interval` s (stat of each
    pending path) is the safety net, and the only source when inotify is not available."""

    def __init__(self, layout, interval):
        super().__init__(daemon=True)
        self.layout = layout
        self.interval = interval
        self.lock = threading.Lock()
        self.watch = {}  # sha -> [s3 path, add path]
        self.s3_seen = {}
        self.add_gone = {}
        self.by_poll = 0  # times taken by the poll, not by an event
        self.stop = threading.Event()
        self.sweeps = 0
        try:
            self.ino = Inotify()
        except (OSError, AttributeError) as e:
            log("inotify unavailable (%s): polling every %g s" % (e, interval))
            self.ino = None
        self.s3_dirs = set()
        if self.ino:
            self.ino.watch(layout.add_dir, Inotify.IN_DELETE)
            self._watch_tree(layout.bucket_dir)

    def _watch_tree(self, top):
        """Watch `top` and its subdirectories; names already there count as seen now."""
        stack = [top]
        while stack:
            d = stack.pop()
            if d in self.s3_dirs:
                continue
            if self.ino.watch(d, Inotify.IN_CREATE | Inotify.IN_MOVED_TO) is None:
                continue
            self.s3_dirs.add(d)
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            now = time.monotonic()
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif SHA_RE.match(e.name):
                    self.s3_seen.setdefault(e.name, now)

    def add(self, sha):
        with self.lock:
            self.watch[sha] = [self.layout.s3_path(sha), self.layout.add_path(sha)]

    def pending(self):
        with self.lock:
            return len(self.watch)

    def _poll(self):
        exists = os.path.exists
        with self.lock:
            items = list(self.watch.items())
        done = []
        for sha, (s3_path, add_path) in items:
            if sha not in self.s3_seen:
                if not exists(s3_path):
                    continue
                self.s3_seen[sha] = time.monotonic()
                self.by_poll += 1
            if sha not in self.add_gone:
                if exists(add_path):
                    continue
                self.add_gone[sha] = time.monotonic()
                self.by_poll += 1
            done.append(sha)
        if done:
            with self.lock:
                for sha in done:
                    del self.watch[sha]
        self.sweeps += 1

    def run(self):
        add_wd = None
        if self.ino:
            add_wd = next((wd for wd, p in self.ino.paths.items() if p == self.layout.add_dir), None)
        next_poll = time.monotonic()
        while not self.stop.is_set():
            if self.ino:
                timeout = max(0.0, next_poll - time.monotonic())
                for now, wd, mask, name in self.ino.events(timeout):
                    if wd == add_wd:
                        # an entry deleted after its upload (only counts once the object is in S3)
                        if mask & Inotify.IN_DELETE and name in self.s3_seen:
                            self.add_gone.setdefault(name, now)
                    elif mask & Inotify.IN_ISDIR:
                        self._watch_tree(os.path.join(self.ino.paths.get(wd, ""), name))
                    elif SHA_RE.match(name):
                        self.s3_seen.setdefault(name, now)
            else:
                time.sleep(max(0.0, next_poll - time.monotonic()))
            if time.monotonic() >= next_poll:
                self._poll()
                next_poll = time.monotonic() + self.interval
        self._poll()
        if self.ino:
            if self.ino.overflowed:
                log("inotify queue overflowed: some times come from the poll")
            self.ino.close()


def cmd_lag(a):
    arca = Arca(a.url, a.repo)
    layout = Layout(a)
    log("generating %d random files of %d bytes" % (a.count, a.size))
    bodies, shas = make_payloads(a.count, a.size)
    if len(set(shas)) != len(shas):
        raise SystemExit("duplicate random content?")
    watcher = Watcher(layout, a.poll)
    watcher.start()
    sched_start = time.monotonic() + 0.5
    tickets = Tickets(a.count)
    sent = [None] * a.count
    acked = [None] * a.count
    sched = [sched_start + i / a.rate for i in range(a.count)]
    errors = []

    def worker():
        conn = arca.connect()
        for i in tickets:
            delay = sched[i] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            watcher.add(shas[i])
            sent[i] = time.monotonic()
            status, conn = arca.deploy_or_reconnect(conn, "%s/%05d.bin" % (a.dir, i), bodies[i])
            acked[i] = time.monotonic()
            if status != 201:
                errors.append((i, status))
        conn.close()

    log("deploying %d files at %g/s (open loop, %d client threads)" % (a.count, a.rate, a.threads))
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    last_ack = max(x for x in acked if x is not None)
    if errors:
        log("%d deploys failed, e.g. #%d -> %s" % (len(errors), errors[0][0], errors[0][1]))
    failed = {i for i, _ in errors}
    ok = [i for i in range(a.count) if i not in failed]
    # wait for every acknowledged object (and its queue entry) up to the timeout
    deadline = last_ack + a.timeout
    while time.monotonic() < deadline:
        if all(shas[i] in watcher.add_gone for i in ok):
            break
        time.sleep(0.05)
    watcher.stop.set()
    watcher.join()
    lags, before_ack, queue_lags, missing = [], 0, [], 0
    for i in ok:
        seen = watcher.s3_seen.get(shas[i])
        if seen is None:
            missing += 1
            continue
        if seen < acked[i]:
            before_ack += 1
        lags.append(max(0.0, seen - acked[i]))
        gone = watcher.add_gone.get(shas[i])
        if gone is not None:
            queue_lags.append(max(0.0, gone - acked[i]))
    ack_lat = [acked[i] - sent[i] for i in ok]
    late = [sent[i] - sched[i] for i in range(a.count) if sent[i] is not None]
    span = max(sent) - min(sent) if a.count > 1 else 0.0
    emit("deploys", a.count)
    emit("deploy_errors", len(errors))
    emit("deploy_rate", (a.count - 1) / span if span > 0 else 0.0)
    emit("deploy_late_max", max(late) if late else 0.0)
    emit("deploy_late_100ms", sum(1 for x in late if x > 0.1))
    emit_stats("ack", ack_lat)
    emit_stats("lag", lags)
    emit_stats("qlag", queue_lags)
    emit("lag_before_ack", before_ack)
    emit("lag_missing", missing)
    emit("queue_not_empty", sum(1 for i in ok if shas[i] not in watcher.add_gone))
    emit("watch_mode", "inotify" if watcher.ino else "poll")
    emit("watch_by_poll", watcher.by_poll)
    emit("poll_interval", a.poll)
    emit("poll_sweeps", watcher.sweeps)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(
                [
                    {
                        "i": i,
                        "sha256": shas[i],
                        "scheduled": sched[i] - sched_start,
                        "sent": sent[i] - sched_start if sent[i] else None,
                        "acked": acked[i] - sched_start if acked[i] else None,
                        "s3": watcher.s3_seen[shas[i]] - sched_start if shas[i] in watcher.s3_seen else None,
                        "queue_gone": watcher.add_gone[shas[i]] - sched_start
                        if shas[i] in watcher.add_gone
                        else None,
                    }
                    for i in range(a.count)
                ],
                f,
            )


def cmd_flood(a):
    arca = Arca(a.url, a.repo)
    log("generating %d random files of %d bytes" % (a.count, a.size))
    bodies, shas = make_payloads(a.count, a.size)
    tickets = Tickets(a.count)
    errors = []
    lat = []

    def worker():
        conn = arca.connect()
        for i in tickets:
            t = time.monotonic()
            status, conn = arca.deploy_or_reconnect(conn, "%s/%05d.bin" % (a.dir, i), bodies[i])
            lat.append(time.monotonic() - t)
            if status != 201:
                errors.append((i, status))
        conn.close()

    dt = run_threads(worker, a.threads)
    if errors:
        log("%d deploys failed, e.g. #%d -> %s" % (len(errors), errors[0][0], errors[0][1]))
    failed = {i for i, _ in errors}
    with open(a.shas, "w") as f:
        for i, sha in enumerate(shas):
            if i not in failed:
                f.write(sha + "\n")
    emit("flood_deploys", a.count)
    emit("flood_errors", len(errors))
    emit("flood_seconds", dt)
    emit("flood_rate", a.count / dt)
    emit_stats("flood_ack", lat)


def add_entries(d):
    try:
        return sum(1 for n in os.listdir(d) if SHA_RE.match(n))
    except FileNotFoundError:
        return 0


def cmd_drain(a):
    """The mover was started at --t0 (time.time()). Waits until no entry of `flood` is left in
    `_add` (the time of the inotify IN_DELETE that removed the last one; a listing every --poll s
    is the safety net), then checks every object in S3 (objects still missing are polled until
    the timeout)."""
    layout = Layout(a)
    with open(a.shas) as f:
        shas = [line.strip() for line in f if line.strip()]
    try:
        ino = Inotify()
        ino.watch(layout.add_dir, Inotify.IN_DELETE)
    except (OSError, AttributeError) as e:
        log("inotify unavailable (%s): polling every %g s" % (e, a.poll))
        ino = None
    # wall clock minus monotonic: event times are monotonic, t0 is epoch
    offset = time.time() - time.monotonic()
    listed = set(n for n in os.listdir(layout.add_dir) if SHA_RE.match(n))
    start_entries = len(listed)
    remaining = listed & set(shas)
    # entries the mover finished before this listing
    first_gone = time.time() if len(remaining) < len(shas) else None
    empty_at = None
    deadline = a.t0 + a.timeout
    next_list = time.monotonic() + a.poll
    while remaining and time.time() < deadline:
        if ino:
            for now, _wd, mask, name in ino.events(max(0.0, next_list - time.monotonic())):
                if mask & Inotify.IN_DELETE and name in remaining:
                    remaining.discard(name)
                    first_gone = first_gone or now + offset
                    if not remaining:
                        empty_at = now + offset
        else:
            time.sleep(a.poll)
        if remaining and time.monotonic() >= next_list:
            there = set(n for n in os.listdir(layout.add_dir) if SHA_RE.match(n))
            now = time.time()
            if remaining - there:
                first_gone = first_gone or now
            remaining &= there
            if not remaining:
                empty_at = now
            next_list = time.monotonic() + a.poll
    if not remaining and empty_at is None:
        empty_at = time.time()
    if ino:
        ino.close()
    # the mover drops an entry only after the upload was verified, so normally nothing is missing
    missing = [s for s in shas if not os.path.exists(layout.s3_path(s))]
    end = empty_at
    while missing and time.time() < deadline:
        time.sleep(a.poll)
        missing = [s for s in missing if not os.path.exists(layout.s3_path(s))]
        end = time.time()
    ok = empty_at is not None and not missing
    emit("drain_ok", 1 if ok else 0)
    dt = (end if ok else time.time()) - a.t0
    emit("drain_entries_at_start", start_entries)
    emit("drain_objects", len(shas))
    emit("drain_missing", len(missing))
    emit("drain_left_in_queue", add_entries(layout.add_dir))
    emit("drain_seconds", dt)
    emit("drain_first_s", (first_gone - a.t0) if first_gone else "-")
    emit("drain_obj_s", len(shas) / dt if dt > 0 else 0.0)
    emit("drain_mb_s", len(shas) * a.size / dt / 1e6 if dt > 0 else 0.0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def s3_args(sp):
        sp.add_argument("--endpoint", required=True)
        sp.add_argument("--bucket", required=True)

    def layout_args(sp):
        sp.add_argument("--s3-root", required=True, help="the directory s3s-fs serves")
        sp.add_argument("--bucket", required=True)
        sp.add_argument("--prefix", default="filestore", help="the s3-storage-v3 `path`")
        sp.add_argument("--folder-len", type=int, default=2, help="rootFoldersNameLength")
        sp.add_argument("--add-dir", required=True, help="<data>/eventual/_add")
        sp.add_argument("--poll", type=float, default=0.1, help="safety poll interval, seconds")

    def arca_args(sp):
        sp.add_argument("--url", required=True, help="http://127.0.0.1:PORT/artifactory")
        sp.add_argument("--repo", required=True)
        sp.add_argument("--dir", required=True, help="folder in the repository")
        sp.add_argument("--count", type=int, required=True)
        sp.add_argument("--size", type=int, required=True)

    sp = sub.add_parser("mkbucket")
    s3_args(sp)
    sp.set_defaults(fn=cmd_mkbucket)

    sp = sub.add_parser("s3base")
    s3_args(sp)
    sp.add_argument("--prefix", default="baseline")
    sp.add_argument("--count", type=int, default=200)
    sp.add_argument("--par-count", type=int, default=1000)
    sp.add_argument("--threads", type=int, default=5)
    sp.add_argument("--size", type=int, required=True)
    sp.set_defaults(fn=cmd_s3base)

    sp = sub.add_parser("lag")
    arca_args(sp)
    layout_args(sp)
    sp.add_argument("--rate", type=float, default=50.0)
    sp.add_argument("--threads", type=int, default=32)
    sp.add_argument("--timeout", type=float, default=60.0, help="after the last acknowledgement")
    sp.add_argument("--json", help="write the per-object timeline here")
    sp.set_defaults(fn=cmd_lag)

    sp = sub.add_parser("flood")
    arca_args(sp)
    sp.add_argument("--threads", type=int, default=8)
    sp.add_argument("--shas", required=True, help="write the SHA-256 of each deployed file here")
    sp.set_defaults(fn=cmd_flood)

    sp = sub.add_parser("drain")
    layout_args(sp)
    sp.add_argument("--shas", required=True)
    sp.add_argument("--size", type=int, required=True)
    sp.add_argument("--t0", type=float, required=True, help="when the mover was started (epoch s)")
    sp.add_argument("--timeout", type=float, default=300.0)
    sp.set_defaults(fn=cmd_drain)

    run_command(p.parse_args())


if __name__ == "__main__":
    main()

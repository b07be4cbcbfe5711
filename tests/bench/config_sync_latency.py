#!/usr/bin/env python3
"""Measurements of tests/bench/config-sync-latency.sh. See tests/bench/README.md.

Subcommands (each prints `name value` lines on stdout, one metric a line, for the bash script;
progress goes to stderr):

  edits      rewrite <primary>/etc/binarystore.xml N times at a fixed rate (open loop; each edit
             is the base content plus `<!-- edit i -->`, written to a temp file and renamed into
             place, like an editor) and time, for each edit, the moment each member's
             binarystore.xml has exactly those bytes (inotify on the members' etc/ directories)
  idle       with nobody editing, for S seconds: how often each node's binarystore.xml is opened
             (inotify IN_OPEN; every pass of a node's sync opens it) and the CPU the given
             processes used (/proc/PID/stat)
  notify     the baseline: the raw PostgreSQL NOTIFY round trip — `NOTIFY` on one connection to
             its receipt on a LISTENing one — N times, on the same database

Needs `inotify_simple` and `psycopg2` (the bash script installs them into a cache directory and
sets PYTHONPATH). The database URL comes from the environment: BENCH_PG_URL.
"""

import argparse
import hashlib
import os
import select
import threading
import time

from benchlib import emit, emit_stats, log, run_command, set_name

set_name("config-sync-latency.py")

NAME = "binarystore.xml"


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------------------------------------------
# members: when does each one have which bytes


class Watcher(threading.Thread):
    """Records, per member etc/ directory, the first time each SHA-256 of binarystore.xml was
    there. inotify (IN_MOVED_TO, IN_CLOSE_WRITE, IN_CREATE) on each directory, the file read on
    every event that names it; with --poll-ms (or without inotify) a stat/read poll instead."""

    def __init__(self, dirs, poll_ms):
        super().__init__(daemon=True)
        self.dirs = dirs
        self.seen = {d: {} for d in dirs}  # dir -> sha -> monotonic time first seen
        self.stop = threading.Event()
        self.events = 0
        self.reads = 0
        self.ino = None
        self.poll = poll_ms / 1000.0 if poll_ms else None
        self.mode = "poll every %g ms" % poll_ms if poll_ms else "inotify"
        if not self.poll:
            try:
                import inotify_simple

                self.flags = inotify_simple.flags
                self.ino = inotify_simple.INotify()
                self.wd = {}
                mask = self.flags.MOVED_TO | self.flags.CLOSE_WRITE | self.flags.CREATE
                for d in dirs:
                    self.wd[self.ino.add_watch(d, mask)] = d
                self.mode = "inotify (inotify_simple)"
            except (ImportError, OSError) as e:
                log("inotify unavailable (%s): polling every 1 ms" % e)
                self.ino = None
                self.poll = 0.001
                self.mode = "poll every 1 ms"
        # what is there now
        for d in dirs:
            self.look(d, time.monotonic())

    def look(self, d, now):
        try:
            with open(os.path.join(d, NAME), "rb") as f:
                b = f.read()
        except OSError:
            return
        self.reads += 1
        self.seen[d].setdefault(sha256(b), now)

    def run(self):
        if self.ino:
            while not self.stop.is_set():
                evs = self.ino.read(timeout=100)
                now = time.monotonic()
                hit = set()
                for ev in evs:
                    self.events += 1
                    if ev.name == NAME and ev.wd in self.wd:
                        hit.add(self.wd[ev.wd])
                    elif ev.mask & self.flags.Q_OVERFLOW:
                        hit.update(self.dirs)
                for d in hit:
                    self.look(d, now)
            self.ino.close()
        else:
            # a cheap stat first, the read only when the file changed
            last = {d: None for d in self.dirs}
            while not self.stop.is_set():
                now = time.monotonic()
                for d in self.dirs:
                    try:
                        st = os.stat(os.path.join(d, NAME))
                        key = (st.st_ino, st.st_mtime_ns, st.st_size)
                    except OSError:
                        key = None
                    if key != last[d]:
                        last[d] = key
                        self.look(d, now)
                time.sleep(self.poll)


def write_atomically(path, data):
    """Temp file in the same directory, fsync, rename (like an editor); returns the monotonic
    time just before the rename: the edit counts from then."""
    tmp = os.path.join(os.path.dirname(path), ".%s.bench-tmp" % os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    t = time.monotonic()
    os.rename(tmp, path)
    return t


def cmd_edits(a):
    primary = os.path.join(a.primary_etc, NAME)
    with open(primary, "rb") as f:
        base = f.read()
    text = base.decode()
    # the content every node starts from (a previous edit comment of ours is dropped)
    if "<!-- edit " in text:
        text = text[: text.index("<!-- edit ")]
    text = text.rstrip("\n") + "\n"
    bodies = [("%s<!-- edit %d -->\n" % (text, i)).encode() for i in range(a.edits)]
    shas = [sha256(b) for b in bodies]
    members = a.member_etc
    w = Watcher(members, a.poll_ms)
    w.start()
    log("%d edits of %s at %g/s; watching %s with %s" % (a.edits, primary, a.rate, ", ".join(members), w.mode))
    start = time.monotonic() + 0.2
    sched = [start + i / a.rate for i in range(a.edits)]
    written = [None] * a.edits
    for i in range(a.edits):
        delay = sched[i] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        written[i] = write_atomically(primary, bodies[i])
    deadline = written[-1] + a.timeout
    want = set(shas)
    while time.monotonic() < deadline:
        if all(want <= set(w.seen[d]) for d in members):
            break
        time.sleep(0.02)
    w.stop.set()
    w.join()
    first, both, per = [], [], {d: [] for d in members}
    lost_any, lost_both, superseded, never = 0, 0, 0, 0
    for i, sha in enumerate(shas):
        t = []
        for d in members:
            s = w.seen[d].get(sha)
            # seen before the edit was written cannot happen (unique content); clamp anyway
            if s is not None and s - written[i] <= a.timeout:
                t.append(max(0.0, s - written[i]))
                per[d].append(max(0.0, s - written[i]))
            else:
                t.append(None)
        got = [x for x in t if x is not None]
        if got:
            first.append(min(got))
        if len(got) == len(members):
            both.append(max(got))
        else:
            lost_both += 1
            if not got:
                lost_any += 1
            # a later edit reached the member instead (the owner coalesced both in one pass)?
            for d, x in zip(members, t):
                if x is None:
                    if any(shas[j] in w.seen[d] for j in range(i + 1, a.edits)):
                        superseded += 1
                    else:
                        never += 1
    final_ok = all(
        open(os.path.join(d, NAME), "rb").read() == bodies[-1] for d in members
    )
    span = written[-1] - written[0] if a.edits > 1 else 0.0
    late = [written[i] - sched[i] for i in range(a.edits)]
    emit("edits", a.edits)
    emit("edit_rate", (a.edits - 1) / span if span > 0 else 0.0)
    emit("edit_late_100ms", sum(1 for x in late if x > 0.1))
    emit_stats("first", first)
    emit_stats("both", both)
    for k, d in enumerate(members):
        emit_stats("m%d" % (k + 1), per[d])
    emit("lost", lost_both)
    emit("lost_all_members", lost_any)
    emit("lost_member_superseded", superseded)
    emit("lost_member_never", never)
    emit("final_identical", 1 if final_ok else 0)
    emit("watch_mode", "inotify" if w.ino else "poll:%g" % (w.poll * 1000))
    emit("watch_events", w.events)
    emit("watch_reads", w.reads)
    if a.keep_file:
        with open(a.keep_file, "w") as f:
            f.write("i written_s " + " ".join("member%d_s" % (k + 1) for k in range(len(members))) + "\n")
            for i, sha in enumerate(shas):
                cols = []
                for d in members:
                    s = w.seen[d].get(sha)
                    cols.append("-" if s is None else "%.4f" % (s - written[i]))
                f.write("%d %.4f %s\n" % (i, written[i] - written[0], " ".join(cols)))


# ------------------------------------------------------------------------------------------------
# idle: passes (opens of binarystore.xml) and CPU with nobody editing


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cmd_idle(a):
    import inotify_simple

    ino = inotify_simple.INotify()
    wd = {}
    for d in a.etc:
        wd[ino.add_watch(d, inotify_simple.flags.OPEN)] = d
    opens = {d: 0 for d in a.etc}
    t0 = time.monotonic()
    c0 = [cpu_ticks(p) for p in a.pid]
    while time.monotonic() - t0 < a.seconds:
        for ev in ino.read(timeout=100):
            if ev.name == NAME and ev.wd in wd:
                opens[wd[ev.wd]] += 1
    dt = time.monotonic() - t0
    c1 = [cpu_ticks(p) for p in a.pid]
    ino.close()
    hz = os.sysconf("SC_CLK_TCK")
    emit("idle_seconds", dt)
    for k, d in enumerate(a.etc):
        emit("idle_opens_%d" % k, opens[d] / dt)
    for k in range(len(a.pid)):
        emit("idle_cpu_%d" % k, 100.0 * (c1[k] - c0[k]) / hz / dt)


# ------------------------------------------------------------------------------------------------
# the baseline: NOTIFY -> LISTEN on the same PostgreSQL database


def cmd_notify(a):
    import psycopg2
    import psycopg2.extensions

    url = os.environ["BENCH_PG_URL"]
    listener = psycopg2.connect(url, application_name="config-sync-latency-listen")
    listener.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    sender = psycopg2.connect(url, application_name="config-sync-latency-notify")
    sender.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    channel = "arca_bench_notify"
    listener.cursor().execute("LISTEN " + channel)
    cur = sender.cursor()
    lat, lost = [], 0
    log("%d NOTIFY round trips, one every %g ms" % (a.count, a.gap_ms))
    for i in range(a.count):
        payload = str(i)
        t0 = time.monotonic()
        cur.execute("NOTIFY %s, '%s'" % (channel, payload))
        deadline = t0 + a.timeout
        got = None
        while got is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if select.select([listener], [], [], left)[0]:
                listener.poll()
                now = time.monotonic()
                while listener.notifies:
                    n = listener.notifies.pop(0)
                    if n.payload == payload:
                        got = now
        if got is None:
            lost += 1
        else:
            lat.append(got - t0)
        time.sleep(a.gap_ms / 1000.0)
    listener.close()
    sender.close()
    emit_stats("notify", lat)
    emit("notify_lost", lost)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    sp = sub.add_parser("edits")
    sp.add_argument("--primary-etc", required=True)
    sp.add_argument("--member-etc", action="append", required=True)
    sp.add_argument("--edits", type=int, default=200)
    sp.add_argument("--rate", type=float, default=4.0)
    sp.add_argument("--timeout", type=float, default=10.0, help="an edit not seen this long after it is a loss")
    sp.add_argument("--poll-ms", type=float, default=0, help="poll instead of inotify")
    sp.add_argument("--keep-file", help="write the per-edit timeline here")
    sp.set_defaults(fn=cmd_edits)

    sp = sub.add_parser("idle")
    sp.add_argument("--etc", action="append", required=True)
    sp.add_argument("--pid", action="append", type=int, default=[])
    sp.add_argument("--seconds", type=float, default=5.0)
    sp.set_defaults(fn=cmd_idle)

    sp = sub.add_parser("notify")
    sp.add_argument("--count", type=int, default=200)
    sp.add_argument("--gap-ms", type=float, default=20.0)
    sp.add_argument("--timeout", type=float, default=10.0)
    sp.set_defaults(fn=cmd_notify)

    run_command(p.parse_args())


if __name__ == "__main__":
    main()

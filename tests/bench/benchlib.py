"""What the benchmarks' Python helpers share: their stderr log, the "name value" lines the
shell scripts collect, nearest-rank percentiles, and the index dispenser of their worker
threads. Imported by s3_lag.py and config_sync_latency.py (same directory)."""

import sys
import threading
import time

_NAME = ["bench"]


def set_name(name):
    """The prefix of log lines: the script's name."""
    _NAME[0] = name


def log(msg):
    print("[%s] %s" % (_NAME[0], msg), file=sys.stderr, flush=True)


def emit(name, value):
    if isinstance(value, float):
        value = "%.4f" % value
    print("%s %s" % (name, value), flush=True)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a list; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def emit_stats(prefix, values):
    emit(prefix + "_n", len(values))
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        v = percentile(values, p)
        emit("%s_%s" % (prefix, name), "-" if v is None else v)


class Tickets:
    """Hands the indexes 0..count-1 out to worker threads, each once."""

    def __init__(self, count):
        self._count = count
        self._next = 0
        self._lock = threading.Lock()

    def take(self):
        """The next index, or None when all are taken."""
        with self._lock:
            i = self._next
            self._next += 1
        return i if i < self._count else None

    def __iter__(self):
        """The indexes still to take, until all are taken (each worker loops over this)."""
        while True:
            i = self.take()
            if i is None:
                return
            yield i


def run_threads(worker, count):
    """Runs worker() on count threads until all return; the seconds that took."""
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(count)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def run_command(args):
    """Runs the subcommand argparse chose (args.fn); Ctrl-C exits 130."""
    try:
        args.fn(args)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)

#!/usr/bin/env python3
"""Times arca-server from exec() to READY=1, the way systemd's Type=notify sees it.

Binds a unix datagram socket, starts arca-server with NOTIFY_SOCKET pointing at it, and records:
  ready_s  seconds from just before exec to the arrival of the datagram that contains READY=1
  ping_s   seconds from just before exec to the first `GET /artifactory/api/system/ping` that answers OK
           (polled every 2 ms from a second thread; a fallback when READY=1 never comes)
  stop_s   seconds from SIGTERM (sent right after READY/ping) to the process' exit
Each run uses a free loopback port. With --fresh every run gets a new, empty home (first start: DB creation,
admin password, …); otherwise all runs share --home (a restart of an existing installation).

Prints one JSON object per run, then a summary line {"median_ready_s":…, "median_ping_s":…, …}.
Exit status 1 when a run failed (process died, nothing within --timeout).
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(binary: str, home: str, timeout: float, log_path: str) -> dict:
    port = free_port()
    sockdir = tempfile.mkdtemp(prefix="arca-notify.")
    sockpath = os.path.join(sockdir, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sockpath)
    env = dict(os.environ, NOTIFY_SOCKET=sockpath)
    env.pop("WATCHDOG_USEC", None)
    env.pop("WATCHDOG_PID", None)
    url = f"http://127.0.0.1:{port}/artifactory/api/system/ping"
    result = {"home": home, "port": port, "ready_s": None, "ping_s": None, "stop_s": None, "messages": []}
    stop_polling = threading.Event()

    with open(log_path, "ab") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [binary, "--home", home, "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )

        def poll_ping() -> None:
            while not stop_polling.is_set() and proc.poll() is None:
                try:
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if r.status == 200 and r.read().strip() == b"OK":
                            result["ping_s"] = time.monotonic() - t0
                            return
                except Exception:
                    pass
                time.sleep(0.002)

        poller = threading.Thread(target=poll_ping, daemon=True)
        poller.start()
        deadline = t0 + timeout
        try:
            while time.monotonic() < deadline and result["ready_s"] is None:
                sock.settimeout(0.01)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    if proc.poll() is not None:
                        break
                    if result["ping_s"] is not None and time.monotonic() - t0 > result["ping_s"] + 2.0:
                        break  # answers pings for 2 s but never said READY=1: give up on READY
                    continue
                now = time.monotonic()
                result["messages"].append(data.decode(errors="replace"))
                if "READY=1" in data.decode(errors="replace").split("\n"):
                    result["ready_s"] = now - t0
            poller.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            stop_polling.set()
            rc = proc.poll()
            if rc is None:
                t_stop = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                    result["stop_s"] = time.monotonic() - t_stop
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    result["error"] = "did not stop within 15 s of SIGTERM (killed)"
            else:
                result["error"] = f"arca-server exited with status {rc} during start-up"
            result["exit_status"] = proc.returncode
            sock.close()
            try:
                os.unlink(sockpath)
                os.rmdir(sockdir)
            except OSError:
                pass
    if result["ready_s"] is None and result["ping_s"] is None and "error" not in result:
        result["error"] = f"neither READY=1 nor ping within {timeout} s"
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="path of arca-server")
    ap.add_argument("--home", required=True, help="home dir (with --fresh: parent of the per-run homes)")
    ap.add_argument("--fresh", action="store_true", help="a new empty home for every run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--log", default=None, help="file for the server's output (default: HOME/ready-bench.log)")
    a = ap.parse_args()

    os.makedirs(a.home, exist_ok=True)
    log = a.log or os.path.join(a.home, "ready-bench.log")
    runs = []
    failed = False
    for i in range(a.runs):
        home = tempfile.mkdtemp(prefix=f"fresh-{i}.", dir=a.home) if a.fresh else a.home
        r = one_run(a.bin, home, a.timeout, log)
        r["run"] = i + 1
        print(json.dumps(r), flush=True)
        runs.append(r)
        failed = failed or "error" in r

    def med(key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    print(json.dumps({
        "summary": True,
        "runs": len(runs),
        "ready_runs": sum(1 for r in runs if r.get("ready_s") is not None),
        "median_ready_s": med("ready_s"),
        "median_ping_s": med("ping_s"),
        "median_stop_s": med("stop_s"),
    }), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# PyPI indexes side by side (issue 22; docs/benchmarks.md, "PyPI repositories, arca vs pypiserver and devpi"):
# pypiserver 2.4.2 (tests/lib/pypi.sh: Paste's threaded server and its cached-dir backend), devpi-server 6.20.3 (offline,
# no mirror; left out when it does not install or start) and arca (release build, SQLite, local filestore) on the same
# machine and disk, in one run, loopback only:
#  - `pip install --require-hashes --no-cache-dir` (pip 26.3, a fresh venv each time) of the PyPI fixture's
#    requirements file (14 real packages: requests and its dependencies, attrs, six, python-dateutil, …, wheels built
#    here): straight from pypiserver and from devpi; from arca's local repository `py-local` holding the same wheels;
#    through arca's virtual repository `py` (py-local + `py-remote`, a remote of that pypiserver; py-local wins);
#    through `py-cold`, a virtual of the remote alone created anew with the remote before each run: the remote's
#    fetches. The median (the goal) and the best of --pip-runs rounds, the order rotated each round; and, from
#    pip's own log, the time from its first GET to its last: the index's share of the run (the rest is pip
#    starting, resolving and installing).
#  - simple-page GETs per second (wrk): the project page of `bench-many` (--versions wheels, uploaded with twine into
#    all three) in HTML (PEP 503) and JSON (PEP 691; pypiserver answers HTML whatever the Accept), the root page
#    (/simple/: the 18 projects; not the remote's, which lists what it has cached), and one wheel. The baselines next
#    to arca's local, virtual and remote repositories, anonymous, in interleaved rounds, best round. Every answer is
#    checked first (200, the number of files or projects, the wheel's bytes), and wrk's totals after (no non-2xx
#    answer, the bytes per answer of the checked one).
#  - RSS of all three (VmRSS and the peak VmHWM from /proc/PID/status) after the load.
# A benchmark, not a test: tests/run-all.sh does not run it; the exit status only says whether it could measure (a
# slower arca is a MISS in the table, not a failure).
#
# Usage: tests/bench/pypi.sh [--quick] [--runs N] [--pip-runs N] [--versions N] [--duration S] [--connections N] [--no-build]
#                            [--no-devpi] [--keep]
#   --quick          1 pip install of each kind, 10 versions, wrk 2 s, 1 round (checks that the script works)
#   --runs N         wrk rounds, best of N (default 3)
#   --pip-runs N     pip install rounds (one install of each kind per round), median of N (default 9)
#   --versions N     versions (one wheel each) of the project page's project (default 50)
#   --duration S     seconds of one wrk run (default 5)
#   --connections N  wrk's connections (default 8, one wrk thread)
#   --no-build       use the existing target/release/arca-server
#   --no-devpi       pypiserver only
#   --keep           keep the work dir (logs, the indexes' files)
# Env: ARCA_SKIP_INSTALL=1 (do not apt-get what is missing), ARCA_PYPI_CACHE (tests/lib/pypi.sh).
set -euo pipefail

export ARCA_TEST_NAME=bench-pypi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/pypi.sh
. "$HERE/../lib/pypi.sh"

RUNS=3
PIP_RUNS=9
VERSIONS=50
DURATION=5
CONNECTIONS=8
BUILD=1
WITH_DEVPI=1
while (($#)); do
    case "$1" in
        --quick)
            RUNS=1
            PIP_RUNS=1
            VERSIONS=10
            DURATION=2
            ;;
        --runs) RUNS=$2; shift ;;
        --pip-runs) PIP_RUNS=$2; shift ;;
        --versions) VERSIONS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --no-build) BUILD=0 ;;
        --no-devpi) WITH_DEVPI=0 ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
for v in "$RUNS" "$PIP_RUNS" "$VERSIONS" "$DURATION" "$CONNECTIONS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || arca_die "--runs, --versions, --duration and --connections take positive integers"
done

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl wrk
    python3 -c 'import ensurepip' >/dev/null 2>&1 || arca_apt_ensure python3-venv
fi
for c in curl wrk python3 awk; do
    command -v "$c" >/dev/null 2>&1 || arca_die "$c is not installed"
done
if ((BUILD)); then
    arca_log "cargo build --release -p arca-server"
    (cd "$ARCA_ROOT" && cargo build --release -p arca-server) || arca_die "release build failed"
fi
[[ -x "$ARCA_BIN" ]] || arca_die "$ARCA_BIN does not exist (build it, or drop --no-build)"
# on the repository's disk, not on a tmpfs: both indexes keep their files there
export ARCA_TEST_TMP="$ARCA_ROOT/target"
WORK=""
arca_tmpdir WORK bench-pypi

# ---------------------------------------------------------------------------------------------------------------
# the two indexes

pypi_tools
pypi_fixture
pypi_peer_start "$WORK/pypiserver"
P=$PYPI_PEER_URL
# devpi-server, the second baseline, when it installs and starts (a column of "-" otherwise)
DEVPI=0
if ((WITH_DEVPI)) && pypi_devpi_start "$WORK/devpi"; then
    DEVPI=1
fi
N_FIXTURE=$(grep -c '==' "$PYPI_FIXTURE_REQS")

arca_start "$WORK/arca-home"
A="$ARCA_URL/api/pypi"
REMOTE_JSON="{\"rclass\":\"remote\",\"packageType\":\"pypi\",\"url\":\"$P\",\"anonymousRead\":true}"
VIRTUAL_JSON='{"rclass":"virtual","packageType":"pypi","repositories":["py-local","py-remote"],
    "defaultDeploymentRepo":"py-local","anonymousRead":true}'
COLD_JSON='{"rclass":"virtual","packageType":"pypi","repositories":["py-remote"],"anonymousRead":true}'
arca_create_repo py-local '{"rclass":"local","packageType":"pypi","anonymousRead":true}' >/dev/null 2>&1 ||
    arca_die "py-local"
arca_create_repo py-remote "$REMOTE_JSON" >/dev/null 2>&1 || arca_die "py-remote"
arca_create_repo py "$VIRTUAL_JSON" >/dev/null 2>&1 || arca_die "py (virtual)"

# upload URL USER PASSWORD LOG FILE... — twine upload
upload() {
    local url=$1 user=$2 pw=$3 log=$4
    shift 4
    pypi_twine upload --repository-url "$url" -u "$user" -p "$pw" --non-interactive --disable-progress-bar "$@" \
        >>"$log" 2>&1 || arca_die "twine upload to $url failed: $(tail -n 20 "$log")"
}

# the fixture's wheels into py-local (pypiserver has them already)
mapfile -t FIXTURE_WHEELS < <(awk -v d="$PYPI_FIXTURE" '{print d "/" $3}' "$PYPI_FIXTURE_LIST")
arca_log "uploading the ${#FIXTURE_WHEELS[@]} fixture wheels into arca's py-local"
upload "$A/py-local" admin "$ARCA_ADMIN_PW" "$WORK/upload-fixture.log" "${FIXTURE_WHEELS[@]}"

# the project of the page rows: VERSIONS wheels of bench-many (METADATA with a summary, a dependency and
# Requires-Python, a module), uploaded with twine into both
PKG=bench-many
mkdir -p "$WORK/many"
"$PYPI_PY" - "$WORK/many" "$VERSIONS" <<'PY'
import base64, hashlib, os, sys, zipfile

out, count = sys.argv[1], int(sys.argv[2])
def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"
for i in range(count):
    version = f"1.{i}.0"
    info = f"bench_many-{version}.dist-info"
    files = {
        "bench_many/__init__.py": f'"""PyPI page benchmark."""\n__version__ = "{version}"\n'.encode(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: bench-many\nVersion: {version}\n"
                             "Summary: a project with many versions, for the simple-page benchmark\n"
                             "Requires-Python: >=3.8,<4\nRequires-Dist: six>=1.16\n\n").encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: arca-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(os.path.join(out, f"bench_many-{version}-py3-none-any.whl"), "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
PY
mapfile -t MANY < <(find "$WORK/many" -name '*.whl' | sort -V)
arca_log "uploading $VERSIONS versions of $PKG into pypiserver and arca's py-local (twine)"
upload "$P/" "$PYPI_PEER_USER" "$PYPI_PEER_PW" "$WORK/upload-many-pypiserver.log" "${MANY[@]}"
((!DEVPI)) || upload "$DEVPI_URL/" peer "$DEVPI_PW" "$WORK/upload-many-devpi.log" "${MANY[@]}"
upload "$A/py-local" admin "$ARCA_ADMIN_PW" "$WORK/upload-many-arca.log" "${MANY[@]}"

# ---------------------------------------------------------------------------------------------------------------
# row 1: pip install

declare -A INDEX=([pypiserver]="$P/simple" [devpi]="$DEVPI_URL/+simple" [local]="$A/py-local/simple"
    [virtual]="$A/py/simple" [cold]="$A/py-cold/simple")

# pip_install KIND NAME — one pip install of the requirements file from KIND's index, fresh venv, no cache; prints
# its wall time (s). The time from pip's first GET to its last (pip's --log, ms: the index's share of the run, pages
# and files, without pip's start and the installation) goes to WORK/span-KIND-NAME.
pip_install() {
    local v="$WORK/venv" log="$WORK/pip-$2.log" t0 t1
    pypi_venv "$v"
    rm -f "$log.debug"
    t0=$(date +%s.%N)
    pypi_pip "$v" install -q --no-cache-dir --require-hashes --index-url "${INDEX[$1]}" -r "$PYPI_FIXTURE_REQS" \
        --log "$log.debug" >"$log" 2>&1 || arca_die "pip install ($2) failed: $(tail -n 20 "$log")"
    t1=$(date +%s.%N)
    "$v/bin/python" -c 'import requests, dateutil, attrs, six, packaging, pluggy' 2>>"$log" ||
        arca_die "pip install ($2): the packages do not import"
    python3 - "$log.debug" "$N_FIXTURE" >"$WORK/span-$1-$2" <<'PY' || arca_die "pip install ($2): pip's log (above)"
import datetime, sys
stamps = [datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S,%f")
          for line in open(sys.argv[1]) if '"GET ' in line]
if len(stamps) < 2 * int(sys.argv[2]):
    sys.exit(f"{len(stamps)} GETs in pip's log, expected a page and a file for each of the {sys.argv[2]} packages")
print(round((stamps[-1] - stamps[0]).total_seconds() * 1000))
PY
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
# span KIND — the shortest first-to-last-GET time of KIND's runs (ms), "-" when there was none
span() { cat "$WORK"/span-"$1"-* 2>/dev/null | sort -n | head -n1 | grep . || echo -; }

# a cold remote: py-remote created anew (its cached pages and files are gone) and py-cold over it alone (deleting a
# repository takes it out of the virtual repositories: py gets it back too)
recreate_remote() {
    local r
    for r in py py-cold py-remote; do
        arca_curl -o /dev/null -X DELETE "$ARCA_URL/api/repositories/$r" || true
    done
    arca_create_repo py-remote "$REMOTE_JSON" >/dev/null 2>&1 || arca_die "py-remote"
    arca_create_repo py "$VIRTUAL_JSON" >/dev/null 2>&1 || arca_die "py (virtual)"
    arca_create_repo py-cold "$COLD_JSON" >/dev/null 2>&1 || arca_die "py-cold (virtual)"
}
upstream_gets() { pypi_peer_file_gets | awk '{n += $1} END {print n + 0}'; }
best() { tr ' ' '\n' | grep . | sort -n | head -n1 | grep . || echo -; }
CLK_TCK=$(getconf CLK_TCK)
cpu_ms() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$CLK_TCK" '{ printf "%d", ($12 + $13) * 1000 / hz }'; }

pip_install pypiserver warmup >/dev/null # python, pip and the page cache
rm -f "$WORK/span-pypiserver-warmup"
if ((DEVPI)); then
    pip_install devpi warmup >/dev/null
    rm -f "$WORK/span-devpi-warmup"
fi
# One install of each kind per round, the order rotated from round to round: pip's own time (~1 s of CPU, the
# index's share is ~0.1 s) drifts with whatever else the machine does, and a fixed order would hand the drift to
# whoever always goes last. The goal is judged on the median; the best is printed beside it.
declare -A PIP=() CPU=([pypiserver]=0 [devpi]=0 [local]=0)
declare -A PID_OF=([pypiserver]="$PYPI_PEER_PID" [devpi]="${DEVPI_PID:-}" [local]="$ARCA_PID")
KINDS=(pypiserver local virtual)
((!DEVPI)) || KINDS=(pypiserver devpi local virtual)
cold_gets=""
for ((r = 1; r <= PIP_RUNS; r++)); do
    for ((i = 0; i < ${#KINDS[@]}; i++)); do
        kind=${KINDS[$(((i + r) % ${#KINDS[@]}))]}
        [[ -z "${CPU[$kind]:-}" ]] || c0=$(cpu_ms "${PID_OF[$kind]}")
        PIP[$kind]+=" $(pip_install "$kind" "$kind-$r")"
        [[ -z "${CPU[$kind]:-}" ]] || CPU[$kind]=$((CPU[$kind] + $(cpu_ms "${PID_OF[$kind]}") - c0))
    done
    recreate_remote
    g0=$(upstream_gets)
    PIP[cold]+=" $(pip_install cold "cold-$r")"
    cold_gets=$(($(upstream_gets) - g0))
    last() { local v=${PIP[$1]:-" -"}; printf '%s' "${v##* }"; }
    arca_log "pip install run $r: pypiserver $(last pypiserver)s, devpi $(last devpi)s, arca local $(last local)s," \
        "virtual $(last virtual)s, remote cold $(last cold)s (upstream file GETs: $cold_gets)"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
declare -A PIP_MEDIAN=() PIP_BEST=()
for kind in pypiserver devpi local virtual cold; do
    PIP_MEDIAN[$kind]=$(median <<<"${PIP[$kind]:-}")
    PIP_BEST[$kind]=$(best <<<"${PIP[$kind]:-}")
done
CPU_P=$((CPU[pypiserver] / PIP_RUNS)) CPU_D=$((CPU[devpi] / PIP_RUNS)) CPU_A=$((CPU[local] / PIP_RUNS))
((DEVPI)) || CPU_D="-"

# ---------------------------------------------------------------------------------------------------------------
# row 2: simple pages (and one wheel) per second

HTML='text/html'
JSON='application/vnd.pypi.simple.v1+json'
cat >"$WORK/summary.lua" <<'LUA'
-- no request or response hook (they would cost wrk time per request): only the totals
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("requests %d\nbytes %d\nseconds %.6f\nstatus_errors %d\nsocket_errors %d\n",
        summary.requests, summary.bytes, summary.duration / 1e6, e.status, e.connect + e.write + e.timeout))
end
LUA
# (read errors are not counted: pypiserver's Paste server answers HTTP/1.0 and closes every connection, which wrk
# sees as a read error before it reconnects)

WHEEL_NAME=$(basename "${MANY[-1]}")
WHEEL_VERSION=1.$((VERSIONS - 1)).0
# devpi's file URLs are its own (+f/{hash}/…): the wheel's is read from its JSON page
DEVPI_WHEEL=""
if ((DEVPI)); then
    DEVPI_WHEEL=$(curl -sSf -H "Accept: application/vnd.pypi.simple.v1+json" "$DEVPI_URL/+simple/$PKG/" |
        python3 -c 'import json, sys, urllib.parse
page, name = sys.argv[1], sys.argv[2]
print(next(urllib.parse.urljoin(page, f["url"]) for f in json.load(sys.stdin)["files"] if f["filename"] == name))' \
            "$DEVPI_URL/+simple/$PKG/" "$WHEEL_NAME") || arca_die "devpi: no $WHEEL_NAME on its page of $PKG"
fi
# url KIND TARGET — what is fetched
url() {
    local base
    case "$2" in
        pypiserver) base=$P/simple ;;
        devpi) base=$DEVPI_URL/+simple ;;
        local) base=$A/py-local/simple ;;
        virtual) base=$A/py/simple ;;
        remote) base=$A/py-remote/simple ;;
    esac
    case "$1" in
        html | json) echo "$base/$PKG/" ;;
        root) echo "$base/" ;;
        wheel)
            case "$2" in
                pypiserver) echo "$P/packages/$WHEEL_NAME" ;;
                devpi) echo "$DEVPI_WHEEL" ;;
                # arca's file URLs: packages/{project}/{version}/{file}
                *) echo "${base%/simple}/packages/$PKG/$WHEEL_VERSION/$WHEEL_NAME" ;;
            esac
            ;;
    esac
}
kind_headers() {
    H=()
    case "$1" in
        json) H=(-H "Accept: $JSON") ;;
        *) H=(-H "Accept: $HTML") ;;
    esac
}

# check_answer URL KIND LABEL — one GET: 200 and what was asked for (VERSIONS files, the projects, the wheel's bytes);
# prints the bytes of the answer, headers included, for the check of wrk's totals
check_answer() {
    local url=$1 kind=$2 label=$3 out code hsize bsize H=()
    kind_headers "$kind"
    out=$(curl -sS -o "$WORK/answer.raw" -D "$WORK/answer.headers" -w '%{http_code} %{size_header} %{size_download}' \
        "${H[@]}" "$url") || arca_die "$label: GET $url failed"
    read -r code hsize bsize <<<"$out"
    [[ "$code" == 200 ]] || arca_die "$label: GET $url -> $code: $(head -c 300 "$WORK/answer.raw")"
    if [[ "$kind" == wheel ]]; then
        cmp -s "$WORK/answer.raw" "${MANY[-1]}" || arca_die "$label: GET $url: not the bytes of $WHEEL_NAME"
    else
        python3 - "$WORK/answer.raw" "$kind" "$label" "$VERSIONS" "$WORK/answer.headers" <<'PY' ||
import json, re, sys
body, kind, label, want = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctype = re.search(r"(?im)^content-type:\s*([^;\r\n]+)", open(sys.argv[5]).read())
ctype = ctype.group(1).strip() if ctype else ""
if kind == "json" and ctype == "application/vnd.pypi.simple.v1+json":
    n = len(json.loads(body)["files"])
elif kind == "root":
    n = len(re.findall(r"<a ", body))
    want = 18  # the fixture's 17 projects and bench-many
else:
    n = len(re.findall(r"<a [^>]*href=\"[^\"]*bench_many-", body))
if n != want:
    sys.exit(f"{label}: {n} entries ({ctype}), expected {want}")
PY
            arca_die "$label: GET $url: not the page expected"
    fi
    echo $((hsize + bsize))
}

# wrk_rate URL KIND SIZE LABEL — GETs/s of wrk -t1 -cCONNECTIONS -dDURATION; ERR(...) when an answer was not 2xx, a
# connection failed, or the bytes per answer are not those of the checked answer (±10 %)
wrk_rate() {
    local url=$1 kind=$2 size=$3 label=$4 out H=()
    kind_headers "$kind"
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${H[@]}" -s "$WORK/summary.lua" "$url" 2>&1) || {
        arca_warn "$label: wrk failed: $out"
        echo "ERR(wrk)"
        return 0
    }
    printf '== %s\n%s\n' "$label" "$out" >>"$WORK/wrk.log"
    awk -v size="$size" '
        /^requests / {n = $2} /^bytes / {b = $2} /^seconds / {s = $2} /^status_errors / {e = $2}
        /^socket_errors / {x = $2}
        END {
            if (n == 0 || s == 0) { print "ERR(none)"; exit }
            if (e > 0) { printf "ERR(%d non-2xx)\n", e; exit }
            if (x > 0) { printf "ERR(%d socket errors)\n", x; exit }
            per = b / n
            if (per < 0.9 * size || per > 1.1 * size) { printf "ERR(%.0f B/answer, not %d)\n", per, size; exit }
            printf "%.0f\n", n / s
        }' <<<"$out"
}

TARGETS=(pypiserver local virtual remote)
((!DEVPI)) || TARGETS=(pypiserver devpi local virtual remote)
KINDS=(html json root wheel)
declare -A SIZE=() RATE=() BYTES=() URL=()
# measured: KIND-TARGET (a remote's root page lists only the projects it has cached: not the same page)
measured() { [[ "$1-$2" != root-remote ]]; }
for kind in "${KINDS[@]}"; do
    kind_headers "$kind"
    for t in "${TARGETS[@]}"; do
        measured "$kind" "$t" || continue
        u=$(url "$kind" "$t")
        URL[$kind-$t]=$u
        # once first: a remote's first answer is the upstream's, fetched (other headers than the cached ones)
        curl -s -o /dev/null "${H[@]}" "$u" || true
        SIZE[$kind-$t]=$(check_answer "$u" "$kind" "$kind, $t")
        BYTES[$kind-$t]=$(wc -c <"$WORK/answer.raw")
        cp "$WORK/answer.raw" "$WORK/answer-$kind-$t" # (--keep)
        wrk -t1 -c"$CONNECTIONS" -d1s "${H[@]}" "$u" >/dev/null 2>&1 || true # warm-up
    done
done
for ((r = 1; r <= RUNS; r++)); do
    for kind in "${KINDS[@]}"; do
        line=""
        for t in "${TARGETS[@]}"; do
            measured "$kind" "$t" || continue
            rate=$(wrk_rate "${URL[$kind-$t]}" "$kind" "${SIZE[$kind-$t]}" "$kind, $t, round $r")
            line+=" $t $rate"
            # the best round: the highest rate; an error in any round is the value
            prev=${RATE[$kind-$t]:-0}
            if [[ "$prev" != ERR* ]] && { [[ "$rate" == ERR* ]] || ((rate > prev)); }; then
                RATE[$kind-$t]=$rate
            fi
        done
        arca_log "$kind GETs/s, round $r:$line"
    done
done

# ---------------------------------------------------------------------------------------------------------------
# row 3: memory after the load

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ARCA_RSS=$(mib "$(status_kib "$ARCA_PID" VmRSS)")
ARCA_HWM=$(mib "$(status_kib "$ARCA_PID" VmHWM)")
P_RSS=$(mib "$(status_kib "$PYPI_PEER_PID" VmRSS)")
P_HWM=$(mib "$(status_kib "$PYPI_PEER_PID" VmHWM)")
D_RSS="-" D_HWM="-"
if ((DEVPI)); then
    D_RSS=$(mib "$(status_kib "$DEVPI_PID" VmRSS)")
    D_HWM=$(mib "$(status_kib "$DEVPI_PID" VmHWM)")
fi

# ---------------------------------------------------------------------------------------------------------------
# the table: arca, pypiserver, devpi, and how many times faster (or smaller) arca is than each; the goal of issue 22
# is arca faster than both on the pip install and the simple-page rows

MISSES=0
# factor A B lower|higher — how many times better A is than B ("-" when one is not a number)
factor() {
    if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]]; then
        awk -v a="$1" -v v="$2" -v b="$3" \
            'BEGIN { f = (b == "higher" ? (v > 0 ? a / v : 0) : (a > 0 ? v / a : 0)); printf "%.2fx", f }'
    else
        echo "-"
    fi
}
# row METRIC ARCA PYPISERVER DEVPI lower|higher goal|info — "lower": smaller is better (seconds, MiB), the factor is
# baseline/arca; "higher": larger is better (GETs/s), arca/baseline; a goal row is a PASS when arca's factor is above
# 1 against pypiserver and, when it ran, devpi
row() {
    local metric=$1 a=$2 p=$3 d=$4 better=$5 res="(info)" fp fd
    fp=$(factor "$a" "$p" "$better")
    fd=$(factor "$a" "$d" "$better")
    if [[ "$6" == goal ]]; then
        res=PASS
        for f in "$fp" $( ((DEVPI)) && echo "$fd"); do
            if [[ "$f" == - ]] || ! awk -v f="${f%x}" 'BEGIN { exit !(f > 1) }'; then res=MISS; fi
        done
        [[ "$res" == PASS ]] || MISSES=$((MISSES + 1))
    fi
    printf '%-54s %9s %10s %9s %8s %8s  %s\n' "$metric" "$a" "$p" "$d" "$fp" "$fd" "$res"
}
printf '\n%-54s %9s %10s %9s %8s %8s  %s\n' "PyPI: arca vs pypiserver 2.4.2, devpi-server 6.20.3" arca pypiserver devpi \
    "× pypis." "× devpi" goal
r() { printf '%s' "${RATE[$1]:--}"; }
pm() { printf '%s' "${PIP_MEDIAN[$1]:--}"; }
pb() { printf '%s' "${PIP_BEST[$1]:--}"; }
row "pip install, $N_FIXTURE packages, local (s, median of $PIP_RUNS)" "$(pm local)" "$(pm pypiserver)" "$(pm devpi)" lower goal
row "pip install, virtual (local first) (s, median)" "$(pm virtual)" "$(pm pypiserver)" "$(pm devpi)" lower goal
row "pip install, remote cold, from pypiserver (s, median)" "$(pm cold)" "$(pm pypiserver)" "$(pm devpi)" lower info
row "  pip install, local (s, best)" "$(pb local)" "$(pb pypiserver)" "$(pb devpi)" lower info
row "  pip install, virtual (s, best)" "$(pb virtual)" "$(pb pypiserver)" "$(pb devpi)" lower info
row "  pip's first to last GET, local (ms, best)" "$(span local)" "$(span pypiserver)" "$(span devpi)" lower info
row "  pip's first to last GET, virtual (ms, best)" "$(span virtual)" "$(span pypiserver)" "$(span devpi)" lower info
row "  pip's first to last GET, remote cold (ms, best)" "$(span cold)" "$(span pypiserver)" "$(span devpi)" lower info
row "  server CPU during a pip install, local (ms, mean)" "$CPU_A" "$CPU_P" "$CPU_D" lower info
printf '%-54s %9s\n' "  upstream file GETs, last cold run" "$cold_gets"
row "project page, $VERSIONS wheels, HTML, local (GET/s)" "$(r html-local)" "$(r html-pypiserver)" "$(r html-devpi)" higher goal
row "project page, HTML, virtual (GET/s)" "$(r html-virtual)" "$(r html-pypiserver)" "$(r html-devpi)" higher goal
row "project page, HTML, remote (GET/s)" "$(r html-remote)" "$(r html-pypiserver)" "$(r html-devpi)" higher info
row "project page, JSON, local (GET/s)" "$(r json-local)" "$(r json-pypiserver)" "$(r json-devpi)" higher goal
row "project page, JSON, virtual (GET/s)" "$(r json-virtual)" "$(r json-pypiserver)" "$(r json-devpi)" higher info
row "project page, JSON, remote (GET/s)" "$(r json-remote)" "$(r json-pypiserver)" "$(r json-devpi)" higher info
row "root page /simple/, 18 projects, local (GET/s)" "$(r root-local)" "$(r root-pypiserver)" "$(r root-devpi)" higher goal
row "root page, virtual (GET/s)" "$(r root-virtual)" "$(r root-pypiserver)" "$(r root-devpi)" higher info
row "wheel $WHEEL_NAME, local (GET/s)" "$(r wheel-local)" "$(r wheel-pypiserver)" "$(r wheel-devpi)" higher info
row "wheel, virtual (GET/s)" "$(r wheel-virtual)" "$(r wheel-pypiserver)" "$(r wheel-devpi)" higher info
row "  answer bytes: project page, HTML (local)" "${BYTES[html-local]}" "${BYTES[html-pypiserver]}" "${BYTES[html-devpi]:--}" lower info
row "  answer bytes: project page, JSON (local)" "${BYTES[json-local]}" "${BYTES[json-pypiserver]}" "${BYTES[json-devpi]:--}" lower info
row "  answer bytes: root page (local)" "${BYTES[root-local]}" "${BYTES[root-pypiserver]}" "${BYTES[root-devpi]:--}" lower info
row "RSS after the load (MiB, VmRSS)" "$ARCA_RSS" "$P_RSS" "$D_RSS" lower info
row "peak RSS over the run (MiB, VmHWM)" "$ARCA_HWM" "$P_HWM" "$D_HWM" lower info
printf '\npip install: pip 26.3, --require-hashes --no-cache-dir, a fresh venv each run, anonymous, %s rounds\n' "$PIP_RUNS"
printf '(one install of each kind per round, the order rotated).\n'
printf 'Pages and wheels: anonymous, wrk -t1 -c%s -d%ss, best of %s rounds. pypiserver answers HTML whatever the\n' \
    "$CONNECTIONS" "$DURATION" "$RUNS"
printf 'Accept (its JSON row is HTML) and, behind Paste, HTTP/1.0: it closes every connection.\n'
printf '× pypis., × devpi: baseline/arca for times and memory, arca/baseline for rates (above 1: arca better).\n'
printf '%s of the goal rows missed (arca not faster than every baseline).\n' "$MISSES"

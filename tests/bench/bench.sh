#!/usr/bin/env bash
# arca vs nginx on this machine, in one run, on loopback only. A benchmark, not a test: it is not run by
# tests/run-all.sh and its exit status only says whether it could measure (0) or not (1), not whether the
# targets were met. See tests/bench/README.md for what each number means.
#
# Usage: tests/bench/bench.sh [--quick] [--size MIB] [--duration SECONDS] [--runs N] [--small N] [--no-pg]
#                             [--dir DIR] [--keep] [--no-build]
#   --quick          256 MiB files, wrk 3 s, 1000 small files (to check that the script works; numbers are not the real ones)
#   --size MIB       size of the big file (default 1024 = 1 GiB)
#   --duration S     wrk duration of one round of the 1 KiB GETs (default 5; best of --runs rounds)
#   --runs N         best of N for the 1 GiB transfers and rounds of the 1 KiB GETs (default 3)
#   --small N        number of 4 KiB PUTs of the "many small files" rows (default 10000)
#   --no-pg          skip the PostgreSQL rows (also skipped, with a note, when PostgreSQL is not available)
#   --dir DIR        parent of the work dir (default: <repo>/target, i.e. on the repo's disk, not tmpfs)
#   --keep           keep the work dir (files, logs, nginx config)
#   --no-build       use the existing release binaries (target/release/arca-server and the other daemons)
# Env: ARCA_SKIP_INSTALL=1 (do not apt-get nginx/wrk); ARCA_TEST_PG_URL (PostgreSQL admin URL; when unset and
# PostgreSQL is installed, tests/lib/postgres.sh provides it).
set -euo pipefail

export ARCA_TEST_NAME=bench
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

SIZE_MIB=1024
DURATION=5
RUNS=3
SMALL_COUNT=10000
WITH_PG=1
PARENT="$ARCA_ROOT/target"
while (($#)); do
    case "$1" in
        --quick)
            SIZE_MIB=256
            DURATION=3
            SMALL_COUNT=1000
            ;;
        --size) SIZE_MIB=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --small) SMALL_COUNT=$2; shift ;;
        --no-pg) WITH_PG=0 ;;
        --dir) PARENT=$2; shift ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        --no-build) export ARCA_SKIP_BUILD=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
[[ "$SIZE_MIB" =~ ^[0-9]+$ && "$DURATION" =~ ^[0-9]+$ && "$RUNS" =~ ^[1-9][0-9]*$ && "$SMALL_COUNT" =~ ^[1-9][0-9]*$ ]] ||
    arca_die "--size, --duration, --runs and --small take positive integers"

# ---------------------------------------------------------------------------------------------------------------
# tools, build, work dir

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    pkgs=(curl wrk)
    command -v nginx >/dev/null 2>&1 || pkgs+=("$(arca_apt_pick nginx-light nginx)")
    arca_apt_ensure "${pkgs[@]}"
fi
for c in curl wrk nginx python3 awk; do
    command -v "$c" >/dev/null 2>&1 || arca_die "$c is not installed"
done
arca_ensure_built
# the daemons beside the server (built by arca_ensure_built with it); each row is skipped when its binary is missing
SIDECARS=(arca-config-sync arca-license-agent arca-storage-mover)
CLEANUP_BIN="$ARCA_TARGET_DIR/release/arca-session-cleanup"

# PostgreSQL for the PostgreSQL rows: ARCA_TEST_PG_URL, or the local cluster of tests/lib/postgres.sh when installed
PG_NOTE=""
if ((WITH_PG)) && [[ -z "${ARCA_TEST_PG_URL:-}" ]]; then
    if command -v pg_lsclusters >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
        eval "$("$ARCA_ROOT/tests/lib/postgres.sh" --export)" || true
    fi
fi
if ((!WITH_PG)); then
    PG_NOTE="--no-pg"
elif [[ -z "${ARCA_TEST_PG_URL:-}" ]] || ! command -v psql >/dev/null 2>&1; then
    PG_NOTE="no PostgreSQL (set ARCA_TEST_PG_URL, see tests/lib/postgres.sh)"
elif ! psql -qAt "$ARCA_TEST_PG_URL" -c 'SELECT 1' >/dev/null 2>&1; then
    PG_NOTE="PostgreSQL at ARCA_TEST_PG_URL does not answer"
fi
WITH_PG=$([[ -z "$PG_NOTE" ]] && echo 1 || echo 0)
((WITH_PG)) || arca_warn "PostgreSQL rows skipped: $PG_NOTE"

mkdir -p "$PARENT"
export ARCA_TEST_TMP=$PARENT
arca_tmpdir W arca-bench
fstype=$(stat -f -c %T "$W")
[[ "$fstype" != tmpfs && "$fstype" != ramfs ]] || arca_warn "$W is on $fstype: disk numbers will be optimistic"
# the big files (7x), and the small files: 3 runs (SQLite, PostgreSQL, nginx) of 4 KiB plus the metadata
need_kib=$(((SIZE_MIB * 7 + 512) * 1024 + SMALL_COUNT * 24))
avail_kib=$(df -Pk "$W" | awk 'NR == 2 {print $4}')
((avail_kib > need_kib)) ||
    arca_die "not enough space in $W: $((avail_kib / 1024)) MiB free, need about $((need_kib / 1024)) MiB"
arca_log "work dir $W ($fstype, $((avail_kib / 1024 / 1024)) GiB free)"

BIG="$W/big.bin"
SMALL="$W/small.bin"
arca_log "creating a ${SIZE_MIB} MiB random file"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$BIG"
head -c 1024 /dev/urandom >"$SMALL"
BIG_BYTES=$(stat -c %s "$BIG")
sync

# ---------------------------------------------------------------------------------------------------------------
# helpers

# VmRSS (or another /proc status field) in KiB; 0 when the process is gone
proc_kib() { awk -v k="$2:" '$1 == k {print $2; f = 1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

# sum of a field over a process and its children (nginx master + workers)
tree_kib() {
    local pid=$1 field=$2 total c
    total=$(proc_kib "$pid" "$field")
    for c in $(pgrep -P "$pid" || true); do
        total=$((total + $(proc_kib "$c" "$field")))
    done
    echo "$total"
}

# curl_time ARGS... — prints "SECONDS HTTP_CODE" of one transfer
curl_time() {
    curl -s --max-time 600 -H 'Expect:' -o /dev/null -w '%{time_total} %{http_code}\n' "$@" || echo "0 000"
}

# one_mbps LABEL RUN OKCODES CURL_ARGS... — MB/s of one transfer of BIG_BYTES, or ERR(code)
one_mbps() {
    local label=$1 run=$2 okcodes=$3 t code mbps
    shift 3
    sync # start every run with no dirty pages from the previous one
    read -r t code < <(curl_time "$@")
    case " $okcodes " in
        *" $code "*) ;;
        *)
            arca_warn "$label run $run: HTTP $code"
            echo "ERR($code)"
            return 0
            ;;
    esac
    mbps=$(awk -v b="$BIG_BYTES" -v t="$t" 'BEGIN {printf "%.1f", (t > 0 ? b / t / 1e6 : 0)}')
    arca_log "$label run $run: ${t}s, $mbps MB/s"
    echo "$mbps"
}

# best_of A B — the larger number; an ERR(...) sticks
best_of() {
    if [[ "$1" == ERR* ]]; then
        echo "$1"
    elif [[ "$2" == ERR* ]]; then
        echo "$2"
    else
        awk -v a="$1" -v b="$2" 'BEGIN {print (b > a ? b : a)}'
    fi
}

# min_of A B — the smaller number; ERR when one is not a number
min_of() {
    if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN {print (b < a ? b : a)}'
    else
        echo "ERR"
    fi
}

# wrk_rps LABEL URL [HEADER] — requests/s of wrk -t2 -c32 -d${DURATION}s; ERR(...) on non-2xx or socket errors
wrk_rps() {
    local label=$1 url=$2 hdr=${3:-} out rps non2xx errs code
    local hargs=()
    [[ -z "$hdr" ]] || hargs=(-H "$hdr")
    code=$(arca_http_code "${hargs[@]}" "$url")
    if [[ "$code" != 200 ]]; then
        arca_warn "$label: GET $url -> $code before the load"
        echo "ERR($code)"
        return 0
    fi
    out=$(wrk -t2 -c32 -d"${DURATION}s" "${hargs[@]}" "$url" 2>&1) || {
        arca_warn "$label: wrk failed: $out"
        echo "ERR(wrk)"
        return 0
    }
    printf '%s\n' "$out" >>"$W/wrk.log"
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' <<<"$out")
    errs=$(awk '/Socket errors/' <<<"$out")
    arca_log "$label: ${rps:-?} req/s${non2xx:+, $non2xx non-2xx}${errs:+, $errs}"
    if [[ -z "$rps" ]]; then
        echo "ERR(parse)"
    elif [[ -n "$non2xx" && "$non2xx" != 0 ]]; then
        echo "ERR(${non2xx}x non-2xx)"
    else
        awk -v r="$rps" 'BEGIN {printf "%.0f", r}'
    fi
}

# digest_mbps ALG SECONDS — single-core rate of digest ALG (md5, sha256, sha1) on this CPU (MB/s): `openssl speed` on
# 1 MiB blocks, or Python's hashlib (OpenSSL's code too) when openssl is missing. arca computes MD5 on one core, so it
# bounds its PUT rate; the three together are the CPU a PUT needs besides the copies.
digest_mbps() {
    local alg=$1 secs=$2 out=""
    if command -v openssl >/dev/null 2>&1; then
        out=$(openssl speed -evp "$alg" -bytes 1048576 -seconds "$secs" -mr 2>/dev/null |
            awk -F: -v alg="$alg" '$1 == "+F" && $3 == alg {printf "%.1f", $4 / 1e6}') || out=""
    fi
    if [[ -z "$out" ]]; then
        out=$(python3 - "$alg" "$secs" <<'PY'
import hashlib, sys, time
buf, n = bytes(1 << 20), 0
t0 = time.monotonic()
while time.monotonic() - t0 < float(sys.argv[2]):
    hashlib.new(sys.argv[1], buf).digest()
    n += 1
print("%.1f" % (n * len(buf) / (time.monotonic() - t0) / 1e6))
PY
        ) || out="ERR($alg)"
    fi
    echo "$out"
}

# busy_ticks — CPU time spent by the whole machine so far, all cores, in clock ticks (/proc/stat: user, nice,
# system, irq, softirq; not idle, iowait or steal)
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }

# small_puts SLUG BASE_URL PATH_PREFIX [AUTHORIZATION_VALUE] — requests/s of SMALL_COUNT PUTs of 4 KiB, every file with other
# bytes, to unique paths under PATH_PREFIX, from 16 keep-alive connections: wrk -t2 -c16 with put-unique.lua, which
# times the PUTs itself and marks each thread done; wrk is then interrupted (it only knows durations).
# ERR(...) when a PUT failed or the run did not finish within 15 minutes.
SMALL_WRK_PID=""
stop_small_wrk() {
    [[ -z "$SMALL_WRK_PID" ]] || kill -TERM "$SMALL_WRK_PID" 2>/dev/null || true
}
arca_on_exit stop_small_wrk
small_puts() {
    local slug=$1 base=$2 prefix=$3 auth=${4:-} marker out puts errs secs deadline
    marker="$W/small-$slug.done"
    out="$W/small-$slug.out"
    rm -f "$marker".*
    wrk -t2 -c16 -d3600s --timeout 60s -s "$HERE/put-unique.lua" "$base" -- \
        "$prefix" "$((SMALL_COUNT / 2))" 4096 "$marker" "$auth" >"$out" 2>&1 &
    SMALL_WRK_PID=$!
    deadline=$((SECONDS + 900))
    while ! [[ -f "$marker.0" && -f "$marker.1" ]]; do
        kill -0 "$SMALL_WRK_PID" 2>/dev/null || break
        ((SECONDS < deadline)) || break
        sleep 0.1
    done
    kill -INT "$SMALL_WRK_PID" 2>/dev/null || true
    wait "$SMALL_WRK_PID" 2>/dev/null || true
    SMALL_WRK_PID=""
    puts=$(awk '$1 == "puts" {print $2}' "$out")
    errs=$(awk '$1 == "errors" {print $2}' "$out")
    secs=$(awk '$1 == "seconds" {print $2}' "$out")
    if ! [[ -f "$marker.0" && -f "$marker.1" ]]; then
        arca_warn "$slug: the PUTs did not finish (see $out)"
        echo "ERR(unfinished)"
    elif [[ -z "$puts" || -z "$secs" ]]; then
        echo "ERR(parse)"
    elif [[ "$errs" != 0 ]]; then
        arca_warn "$slug: $errs of $puts PUTs failed"
        echo "ERR(${errs}x failed)"
    else
        arca_log "$slug: $puts PUTs of 4 KiB in ${secs}s"
        awk -v n="$puts" -v t="$secs" 'BEGIN {printf "%.0f", (t > 0 ? n / t : 0)}'
    fi
}

# sidecar_idle_kib NAME HOME — starts the daemon NAME against HOME as its unit does (ARCA_HOME, no arguments), waits
# for its start-up line ("NAME <version> (rev …): …" or "… ready in …", at most 15 s), 1 s more, prints its VmRSS
# in KiB and stops it; "-" when the binary is missing, ERR(exit) when it exited
SIDECAR_PID=""
stop_sidecar() {
    local pid=$SIDECAR_PID
    [[ -n "$pid" ]] || return 0
    SIDECAR_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
arca_on_exit stop_sidecar
sidecar_idle_kib() {
    local name=$1 home=$2 bin="$ARCA_TARGET_DIR/release/$1" log kib deadline
    if [[ ! -x "$bin" ]]; then
        arca_warn "$bin not found: its idle RSS row is skipped"
        echo "-"
        return 0
    fi
    log="$W/$name.log"
    ARCA_HOME="$home" "$bin" </dev/null >"$log" 2>&1 &
    SIDECAR_PID=$!
    deadline=$((SECONDS + 15))
    until grep -qE "$name [^ ]+ \(rev [^)]*\)(:| ready in)" "$log"; do
        if ! kill -0 "$SIDECAR_PID" 2>/dev/null; then
            arca_warn "$name exited: $(tail -n 3 "$log")"
            SIDECAR_PID=""
            echo "ERR(exit)"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            arca_warn "$name: no start-up line in 15 s, measuring anyway (see $log)"
            break
        fi
        sleep 0.05
    done
    sleep 1
    kib=$(proc_kib "$SIDECAR_PID" VmRSS)
    arca_log "$name idle VmRSS: $kib KiB"
    stop_sidecar
    echo "$kib"
}

# cleanup_peak_kib HOME — one run of arca-session-cleanup against HOME (as its timer's unit does: ARCA_HOME, no
# arguments) and its peak RSS (ru_maxrss of the child, KiB); ERR(rc) when it failed, "-" when the binary is missing
cleanup_peak_kib() {
    local home=$1
    if [[ ! -x "$CLEANUP_BIN" ]]; then
        arca_warn "$CLEANUP_BIN not found: its row is skipped"
        echo "-"
        return 0
    fi
    ARCA_HOME="$home" python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "ab") as log:
    rc = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else "ERR(%d)" % rc)
' "$W/arca-session-cleanup.log" "$CLEANUP_BIN" || echo "ERR(python)"
}

# sum_kib KIB... — the sum, or ERR when one of them is not a number
sum_kib() {
    local total=0 k
    for k in "$@"; do
        [[ "$k" =~ ^[0-9]+$ ]] || {
            echo "ERR"
            return 0
        }
        total=$((total + k))
    done
    echo "$total"
}

# wrk_warm_up URL — one second of the 1 KiB load, not counted (opens the pool's connections, fills the caches)
wrk_warm_up() {
    wrk -t2 -c32 -d1s "$1" >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------------------------------------------------------
# (e) start -> READY, before anything else runs (fresh home: first start; then restarts of one home)

arca_log "start -> READY=1 (NOTIFY_SOCKET harness, $RUNS fresh homes, then $RUNS restarts)"
ready_fresh=$(python3 "$HERE/ready.py" --bin "$ARCA_BIN" --home "$W/ready" --fresh --runs "$RUNS" | tee -a "$W/ready.log" | tail -n1) ||
    arca_warn "the READY harness reported a failure (see $W/ready.log)"
ready_warm=$(python3 "$HERE/ready.py" --bin "$ARCA_BIN" --home "$W/ready/warm" --runs "$((RUNS + 1))" | tee -a "$W/ready.log" | tail -n1) ||
    arca_warn "the READY harness reported a failure (see $W/ready.log)"
# the first of the warm runs created the home; the median of RUNS+1 is dominated by the restarts
# json_field JSON KEY — a number with 3 decimals, or nothing
json_field() {
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else "%.3f" % v)' \
        "$1" "$2" 2>/dev/null || true
}
READY_FRESH=$(json_field "$ready_fresh" median_ready_s)
READY_WARM=$(json_field "$ready_warm" median_ready_s)
PING_FRESH=$(json_field "$ready_fresh" median_ping_s)
PING_WARM=$(json_field "$ready_warm" median_ping_s)
STOP_WARM=$(json_field "$ready_warm" median_stop_s)

# ---------------------------------------------------------------------------------------------------------------
# servers

arca_start "$W/arca-home"
sleep 1
ARCA_IDLE_KIB=$(proc_kib "$ARCA_PID" VmRSS)
arca_log "arca idle VmRSS: $ARCA_IDLE_KIB KiB"
# the daemons that run beside it on a single node, one after the other against the same home, while it idles
declare -A SIDECAR_KIB=()
for d in "${SIDECARS[@]}"; do
    SIDECAR_KIB[$d]=$(sidecar_idle_kib "$d" "$W/arca-home")
done
arca_create_repo bench '{"rclass":"local","packageType":"generic","anonymousRead":true}' ||
    arca_die "could not create the generic repository 'bench' (anonymousRead)"
AUTH_BASIC="Authorization: Basic $(printf 'admin:%s' "$ARCA_ADMIN_PW" | base64 -w0)"
TOKEN=$(arca_token 2>/dev/null) || TOKEN=""
[[ -n "$TOKEN" ]] || arca_warn "POST /api/security/token gave no access_token: the Bearer line is skipped"

NGX="$W/nginx"
mkdir -p "$NGX/www/dav" "$NGX/tmp/body" "$NGX/tmp/proxy" "$NGX/tmp/fastcgi" "$NGX/logs"
NGX_PORT=$(arca_free_port)
{
    nginx_conf_head tests/bench/bench.sh "$NGX"
    cat <<EOF
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $NGX/www;
        location / {
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
            dav_access user:rw group:r all:r;
        }
    }
}
EOF
} >"$NGX/nginx.conf"
ln "$BIG" "$NGX/www/big.bin"
cp "$SMALL" "$NGX/www/small.bin"
start_nginx "$NGX"
NGX_URL="http://127.0.0.1:$NGX_PORT"
arca_wait_for 10 "nginx on $NGX_URL" curl -sf -o /dev/null "$NGX_URL/small.bin" || arca_die "nginx did not start (see $NGX/logs/error.log)"
sleep 1
NGX_IDLE_KIB=$(tree_kib "$NGX_PID" VmRSS)
arca_log "nginx idle VmRSS (master + $(pgrep -c -P "$NGX_PID") workers): $NGX_IDLE_KIB KiB"

# ---------------------------------------------------------------------------------------------------------------
# (b) PUT 1 GiB, then (a) GET 1 GiB

# the physical limit of arca's PUT: MD5 runs on one core (SHA-256 and SHA-1 beside it on others)
MD5_SECONDS=3
((SIZE_MIB >= 1024)) || MD5_SECONDS=1
MD5_MBPS=$(digest_mbps md5 "$MD5_SECONDS")
SHA256_MBPS=$(digest_mbps sha256 "$MD5_SECONDS")
SHA1_MBPS=$(digest_mbps sha1 "$MD5_SECONDS")
arca_log "on one core: MD5 $MD5_MBPS, SHA-256 $SHA256_MBPS, SHA-1 $SHA1_MBPS MB/s"

# arca and nginx alternate (arca 1, nginx 1, arca 2, …) so that a drift of the disk's state hits both alike
arca_log "PUT ${SIZE_MIB} MiB, best of $RUNS"
PUT_ARCA=0
PUT_NGX=0
for ((i = 1; i <= RUNS; i++)); do
    PUT_ARCA=$(best_of "$PUT_ARCA" "$(one_mbps "arca PUT" "$i" "200 201" \
        -u "admin:$ARCA_ADMIN_PW" -T "$BIG" "$ARCA_URL/bench/big/put-$i.bin")")
    PUT_NGX=$(best_of "$PUT_NGX" "$(one_mbps "nginx PUT" "$i" "201 204" -T "$BIG" "$NGX_URL/dav/put-$i.bin")")
    rm -f "$NGX/www/dav/put-$i.bin"
done
# arca answers a PUT only once the data is fsynced; nginx answers with the data still in the page cache.
# For an apples-to-apples figure (info only): nginx PUT + fsync of the written file (coreutils `sync FILE`).
# The machine's CPU time over each such run (client, nginx, kernel: the copies and the writeback arca needs too) gives
# the PUT bound on this many cores: what is left of them once the copies and the three digests are paid.
PUT_NGX_DURABLE=0
NGX_PUT_CPU_S=""
for ((i = 1; i <= RUNS; i++)); do
    sync
    c0=$(busy_ticks)
    t0=$(date +%s.%N)
    code=$(arca_http_code -H 'Expect:' -T "$BIG" "$NGX_URL/dav/durable-$i.bin")
    sync "$NGX/www/dav/durable-$i.bin"
    t1=$(date +%s.%N)
    c1=$(busy_ticks)
    mbps=$(awk -v b="$(stat -c %s "$BIG")" -v a="$t0" -v z="$t1" 'BEGIN {printf "%.1f", b / (z - a) / 1e6}')
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')
    arca_log "nginx PUT+fsync run $i: HTTP $code, $mbps MB/s, $cpu CPU-s on the whole machine"
    PUT_NGX_DURABLE=$(best_of "$PUT_NGX_DURABLE" "$mbps")
    NGX_PUT_CPU_S=$(min_of "${NGX_PUT_CPU_S:-$cpu}" "$cpu")
    rm -f "$NGX/www/dav/durable-$i.bin"
done
# the object that the GETs read
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" -H 'Expect:' -T "$BIG" "$ARCA_URL/bench/big/big.bin")
[[ "$code" == 200 || "$code" == 201 ]] || arca_die "PUT bench/big/big.bin -> $code"
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" -H 'Expect:' -T "$SMALL" "$ARCA_URL/bench/small.bin")
[[ "$code" == 200 || "$code" == 201 ]] || arca_die "PUT bench/small.bin -> $code"
sync

arca_log "GET ${SIZE_MIB} MiB, best of $RUNS"
GET_ARCA=0
GET_NGX=0
for ((i = 1; i <= RUNS; i++)); do
    GET_ARCA=$(best_of "$GET_ARCA" "$(one_mbps "arca GET" "$i" 200 "$ARCA_URL/bench/big/big.bin")")
    GET_NGX=$(best_of "$GET_NGX" "$(one_mbps "nginx GET" "$i" 200 "$NGX_URL/big.bin")")
done

# ---------------------------------------------------------------------------------------------------------------
# (c) GET 1 KiB, wrk -t2 -c32

arca_log "GET 1 KiB, wrk -t2 -c32 -d${DURATION}s, best of $RUNS rounds (nginx, anonymous, Basic, Bearer in turn)"
# warm-up (not counted): the first load also fills arca's connection pool and caches
wrk_warm_up "$ARCA_URL/bench/small.bin"
# Interleaved rounds, best of each: on 2 shared cores one wrk run swings by ±15 % (the VM's neighbours), so a single
# run per row made the ratios between rows mostly noise.
RPS_NGX=0 RPS_ARCA=0 RPS_ARCA_BASIC=0 RPS_ARCA_BEARER="n/a"
[[ -z "$TOKEN" ]] || RPS_ARCA_BEARER=0
for ((i = 1; i <= RUNS; i++)); do
    RPS_NGX=$(best_of "$RPS_NGX" "$(wrk_rps "nginx 1 KiB GET" "$NGX_URL/small.bin")")
    RPS_ARCA=$(best_of "$RPS_ARCA" "$(wrk_rps "arca 1 KiB GET (anonymous)" "$ARCA_URL/bench/small.bin")")
    RPS_ARCA_BASIC=$(best_of "$RPS_ARCA_BASIC" "$(wrk_rps "arca 1 KiB GET (Basic)" "$ARCA_URL/bench/small.bin" "$AUTH_BASIC")")
    [[ -z "$TOKEN" ]] || RPS_ARCA_BEARER=$(best_of "$RPS_ARCA_BEARER" \
        "$(wrk_rps "arca 1 KiB GET (Bearer)" "$ARCA_URL/bench/small.bin" "Authorization: Bearer $TOKEN")")
done

# ---------------------------------------------------------------------------------------------------------------
# (f) many small files: SMALL_COUNT PUTs of 4 KiB, 16 connections

arca_log "many small files: $SMALL_COUNT PUTs of 4 KiB, wrk -t2 -c16"
SMALL_NGX=$(small_puts nginx "$NGX_URL" /dav/many/)
SMALL_ARCA=$(small_puts arca-sqlite "$ARCA_BASE" /artifactory/bench/many/ "${AUTH_BASIC#Authorization: }")

ARCA_AFTER_KIB=$(proc_kib "$ARCA_PID" VmRSS)
ARCA_HWM_KIB=$(proc_kib "$ARCA_PID" VmHWM)
NGX_HWM_KIB=$(tree_kib "$NGX_PID" VmHWM)
# a quick sanity check that arca served the bytes it stored
arca_curl -f "$ARCA_URL/bench/small.bin" | cmp -s - "$SMALL" || arca_warn "arca returned different bytes for bench/small.bin"
CLEANUP_PEAK_KIB=$(cleanup_peak_kib "$W/arca-home")
arca_log "arca-session-cleanup peak RSS: $CLEANUP_PEAK_KIB KiB"
arca_stop

# ---------------------------------------------------------------------------------------------------------------
# (g) the same 1 KiB GETs and small files with PostgreSQL as the metadata database (a second home, a fresh database)

RPS_PG="n/a" RPS_PG_BASIC="n/a" RPS_PG_BEARER="n/a" SMALL_PG="n/a" PG_HWM_KIB=""
PG_DB=""
drop_pg_db() {
    [[ -n "$PG_DB" ]] || return 0
    arca_stop
    psql -qAt "$ARCA_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
        arca_warn "could not drop the database $PG_DB"
    PG_DB=""
}
if ((WITH_PG)); then
    arca_log "PostgreSQL: a second home with etc/db.properties on a new database"
    ARCA_TEST_BACKEND=postgresql arca_start "$W/arca-pg"
    PG_DB=$(awk -F/ '/^url=/ {print $NF}' "$W/arca-pg/etc/db.properties")
    arca_on_exit drop_pg_db
    arca_create_repo bench '{"rclass":"local","packageType":"generic","anonymousRead":true}' ||
        arca_die "could not create the generic repository 'bench' on the PostgreSQL home"
    code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" -H 'Expect:' -T "$SMALL" "$ARCA_URL/bench/small.bin")
    [[ "$code" == 200 || "$code" == 201 ]] || arca_die "PUT bench/small.bin (PostgreSQL) -> $code"
    PG_AUTH_BASIC="Authorization: Basic $(printf 'admin:%s' "$ARCA_ADMIN_PW" | base64 -w0)"
    PG_TOKEN=$(arca_token 2>/dev/null) || PG_TOKEN=""
    arca_log "GET 1 KiB (PostgreSQL), wrk -t2 -c32 -d${DURATION}s"
    wrk_warm_up "$ARCA_URL/bench/small.bin"
    RPS_PG=0 RPS_PG_BASIC=0
    [[ -z "$PG_TOKEN" ]] || RPS_PG_BEARER=0
    for ((i = 1; i <= RUNS; i++)); do
        RPS_PG=$(best_of "$RPS_PG" "$(wrk_rps "arca/pg 1 KiB GET (anonymous)" "$ARCA_URL/bench/small.bin")")
        RPS_PG_BASIC=$(best_of "$RPS_PG_BASIC" \
            "$(wrk_rps "arca/pg 1 KiB GET (Basic)" "$ARCA_URL/bench/small.bin" "$PG_AUTH_BASIC")")
        [[ -z "$PG_TOKEN" ]] || RPS_PG_BEARER=$(best_of "$RPS_PG_BEARER" \
            "$(wrk_rps "arca/pg 1 KiB GET (Bearer)" "$ARCA_URL/bench/small.bin" "Authorization: Bearer $PG_TOKEN")")
    done
    SMALL_PG=$(small_puts arca-pg "$ARCA_BASE" /artifactory/bench/many/ "${PG_AUTH_BASIC#Authorization: }")
    PG_HWM_KIB=$(proc_kib "$ARCA_PID" VmHWM)
    drop_pg_db
fi

# ---------------------------------------------------------------------------------------------------------------
# the table

ROWS=()
# row METRIC ARCA NGINX KIND TARGET — KIND: ratio (arca/nginx >= TARGET), max (arca <= TARGET), info
row() { ROWS+=("$1|$2|$3|$4|$5"); }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# mib_or KIB — MiB with one decimal, or the value itself when it is not a number (ERR(...), -)
mib_or() { if [[ "$1" =~ ^[0-9]+$ ]]; then mib "$1"; else echo "${1:--}"; fi; }
PUT_CEILING=$(min_of "$MD5_MBPS" "$PUT_NGX_DURABLE")
# The most a PUT can reach on this machine, whatever the code: the cores' time over one PUT must cover nginx's CPU
# for the same bytes (client, socket, page cache, writeback) plus the three digests at OpenSSL's single-core rates;
# and no faster than MD5 on one core or the disk with fsync.
PUT_BOUND=$(awk -v cores="$(nproc)" -v mb="$(awk -v b="$BIG_BYTES" 'BEGIN {print b / 1e6}')" -v cpu="$NGX_PUT_CPU_S" \
    -v md5="$MD5_MBPS" -v sha256="$SHA256_MBPS" -v sha1="$SHA1_MBPS" -v ceiling="$PUT_CEILING" '
    BEGIN {
        if (cpu !~ /^[0-9.]+$/ || md5 + 0 <= 0 || sha256 + 0 <= 0 || sha1 + 0 <= 0 || ceiling !~ /^[0-9.]+$/) {
            print "ERR"; exit
        }
        need = cpu + mb / md5 + mb / sha256 + mb / sha1
        bound = cores * mb / need
        printf "%.1f", (bound < ceiling ? bound : ceiling)
    }')
SIDECAR_SUM_KIB=$(sum_kib "$ARCA_IDLE_KIB" "${SIDECAR_KIB[@]}")
PG_SKIP=${PG_NOTE:+ (skipped: $PG_NOTE)}

FORMAT='%-46s %12s %12s %8s  %-18s %s\n'
TOTAL_MISSES=0
# print_rows BASELINE — the rows collected so far, their targets against BASELINE; then a new group starts
print_rows() {
    BENCH_BASELINE=$1
    ((${#ROWS[@]})) || return 0
    bench_print_rows --ratio "$FORMAT"
    TOTAL_MISSES=$((TOTAL_MISSES + MISSES))
    ROWS=()
}

printf '\n'
printf 'arca vs nginx on %s (%s cores), %s, loopback; arca %s\n' "$(hostname)" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)" \
    "$("$ARCA_BIN" --version 2>/dev/null | head -n1 || echo '?')"
# shellcheck disable=SC2059 # one format for the whole table
printf "$FORMAT" "metric" "arca" "nginx" "ratio" "target" "result"
# shellcheck disable=SC2059
printf "$FORMAT" "------" "----" "-----" "-----" "------" "------"
row "GET ${SIZE_MIB} MiB (MB/s, best of $RUNS)" "$GET_ARCA" "$GET_NGX" ratio 0.9
row "PUT ${SIZE_MIB} MiB (MB/s, best of $RUNS, info)" "$PUT_ARCA" "$PUT_NGX" info ""
row "PUT ${SIZE_MIB} MiB, nginx + fsync (MB/s, info)" "$PUT_ARCA" "$PUT_NGX_DURABLE" info ""
row "MD5 single core (MB/s, info)" "-" "$MD5_MBPS" info ""
row "SHA-256 / SHA-1 single core (MB/s, info)" "-" "$SHA256_MBPS / $SHA1_MBPS" info ""
row "nginx PUT + fsync, machine CPU (s, info)" "-" "$NGX_PUT_CPU_S" info ""
print_rows nginx
row "PUT ceiling = min(MD5, nginx + fsync) (MB/s)" "$PUT_ARCA" "$PUT_CEILING" ratio 0.85
print_rows ceiling
row "PUT bound on $(nproc) cores (MB/s, info)" "$PUT_ARCA" "$PUT_BOUND" info ""
print_rows bound
row "GET 1 KiB anonymous (req/s)" "$RPS_ARCA" "$RPS_NGX" ratio 0.6
row "GET 1 KiB Basic auth (req/s)" "$RPS_ARCA_BASIC" "$RPS_NGX" ratio 0.55
row "GET 1 KiB Bearer token (req/s)" "$RPS_ARCA_BEARER" "$RPS_NGX" ratio 0.55
if ((WITH_PG)); then
    row "GET 1 KiB anonymous, PostgreSQL (req/s)" "$RPS_PG" "$RPS_NGX" ratio 0.45
    row "GET 1 KiB Basic auth, PostgreSQL (req/s)" "$RPS_PG_BASIC" "$RPS_NGX" ratio 0.45
    row "GET 1 KiB Bearer token, PostgreSQL (req/s)" "$RPS_PG_BEARER" "$RPS_NGX" ratio 0.45
else
    row "GET 1 KiB, PostgreSQL (skipped, see below)" "-" "-" info ""
fi
row "$SMALL_COUNT PUTs of 4 KiB, 16 clients (req/s, info)" "$SMALL_ARCA" "$SMALL_NGX" info ""
row "  the same, PostgreSQL (req/s, info)" "$SMALL_PG" "$SMALL_NGX" info ""
print_rows nginx
row "idle RSS (MiB; nginx: master+workers)" "$(mib "$ARCA_IDLE_KIB")" "$(mib "$NGX_IDLE_KIB")" max 10
row "RSS after the load (MiB, info)" "$(mib "$ARCA_AFTER_KIB")" "-" info ""
row "peak RSS, VmHWM (MiB)" "$(mib "$ARCA_HWM_KIB")" "$(mib "$NGX_HWM_KIB")" max 64
row "  peak RSS, PostgreSQL run (MiB, info)" "$(mib_or "$PG_HWM_KIB")" "-" info ""
for d in "${SIDECARS[@]}"; do
    row "idle RSS, $d (MiB, info)" "$(mib_or "${SIDECAR_KIB[$d]}")" "-" info ""
done
row "idle RSS, server + these three (MiB)" "$(mib_or "$SIDECAR_SUM_KIB")" "-" max 40
row "peak RSS, arca-session-cleanup run (MiB, info)" "$(mib_or "$CLEANUP_PEAK_KIB")" "-" info ""
row "start -> READY=1, first start (s, median)" "${READY_FRESH:-none}" "-" max 0.5
row "start -> READY=1, restart (s, median)" "${READY_WARM:-none}" "-" max 0.5
row "start -> first ping OK, first start (s)" "${PING_FRESH:-none}" "-" info ""
row "start -> first ping OK, restart (s)" "${PING_WARM:-none}" "-" info ""
row "SIGTERM -> exit (s, median)" "${STOP_WARM:-none}" "-" info ""
print_rows nginx
if [[ "$PUT_BOUND" =~ ^[0-9.]+$ && "$PUT_CEILING" =~ ^[0-9.]+$ ]] &&
    awk -v b="$PUT_BOUND" -v c="$PUT_CEILING" 'BEGIN {exit !(b < 0.85 * c)}'; then
    printf '\nThe PUT target, 0.85 x ceiling = %s MB/s, is above this machine'"'"'s PUT bound (%s MB/s): the copies and\n' \
        "$(awk -v c="$PUT_CEILING" 'BEGIN {printf "%.1f", 0.85 * c}')" "$PUT_BOUND"
    printf 'the three digests need more CPU than %s cores give in that time, whatever the code (arca: %s MB/s, %sx of the bound).\n' \
        "$(nproc)" "$PUT_ARCA" "$(awk -v a="$PUT_ARCA" -v b="$PUT_BOUND" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
fi
printf '\n%d target(s) missed.%s Work dir: %s%s\n' "$TOTAL_MISSES" "$PG_SKIP" "$W" \
    "$([[ "${ARCA_KEEP_TMP:-0}" == 1 ]] && echo ' (kept)' || echo ' (removed)')"

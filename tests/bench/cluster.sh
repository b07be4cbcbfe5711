#!/usr/bin/env bash
# One arca node vs three behind HAProxy, on loopback, in one run: 1 KiB GETs and 1 MiB PUTs, and the CPU each
# request costs on the nodes (utime + stime from /proc/PID/stat, before and after each load). On one machine the
# nodes share its cores, so the cluster rows show the cost of the cluster, not a scale-out; the CPU per request is
# what lets the scale-out on bigger machines be computed (docs/benchmarks.md). A benchmark, not a test: exit status 0
# when it could measure, 1 when it could not. See tests/bench/README.md.
#
# Usage: tests/bench/cluster.sh [--quick] [--duration S] [--puts N] [--dir DIR] [--keep] [--no-build]
#   --quick          wrk 3 s, 100 PUTs (to check that the script works)
#   --duration S     wrk duration of the 1 KiB GETs (default 10)
#   --puts N         number of 1 MiB PUTs per run (default 500)
#   --dir DIR        parent of the work dir (default: <repo>/target)
#   --keep           keep the work dir (homes, logs, HAProxy config)
#   --no-build       use the existing release binaries
# Env: ARCA_TEST_PG_URL (PostgreSQL admin URL; when unset, tests/lib/postgres.sh provides it), ARCA_SKIP_INSTALL=1.
set -euo pipefail

export ARCA_TEST_NAME=cluster
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$HERE/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

DURATION=10
PUTS=500
PARENT="$ARCA_ROOT/target"
while (($#)); do
    case "$1" in
        --quick)
            DURATION=3
            PUTS=100
            ;;
        --duration) DURATION=$2; shift ;;
        --puts) PUTS=$2; shift ;;
        --dir) PARENT=$2; shift ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        --no-build) export ARCA_SKIP_BUILD=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ && "$PUTS" =~ ^[1-9][0-9]*$ ]] || arca_die "--duration and --puts take positive integers"

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl wrk haproxy
fi
for c in curl wrk haproxy python3 psql awk; do
    command -v "$c" >/dev/null 2>&1 || arca_die "$c is not installed"
done
arca_ensure_built

mkdir -p "$PARENT"
export ARCA_TEST_TMP=$PARENT
arca_tmpdir W arca-cluster-bench
arca_log "work dir $W"
TICKS=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------------------------
# three licensed nodes on one fresh PostgreSQL database behind HAProxy (tests/lib/cluster.sh: round robin,
# readiness checks), a 1 KiB file on them

cluster_init "$W"
cluster_start
AUTH="Basic $(printf 'admin:%s' "$CLUSTER_ADMIN_PW" | base64 -w0)"
code=$(arca_http_code -u "admin:$CLUSTER_ADMIN_PW" -X PUT -H 'Content-Type: application/json' \
    --data '{"rclass":"local","packageType":"generic","anonymousRead":true}' "$(cluster_node_url 0)/api/repositories/bench")
[[ "$code" == 200 || "$code" == 201 ]] || arca_die "PUT /api/repositories/bench -> $code"
head -c 1024 /dev/urandom >"$W/small.bin"
code=$(arca_http_code -u "admin:$CLUSTER_ADMIN_PW" -H 'Expect:' -T "$W/small.bin" "$(cluster_node_url 0)/bench/small.bin")
[[ "$code" == 200 || "$code" == 201 ]] || arca_die "PUT bench/small.bin -> $code"
for i in 1 2; do
    arca_wait_for 10 "bench/small.bin on ${CLUSTER_IDS[i]}" curl -sf -o /dev/null "$(cluster_node_url "$i")/bench/small.bin" ||
        arca_die "${CLUSTER_IDS[i]} does not serve bench/small.bin"
done
cluster_haproxy_start
LB_URL=$CLUSTER_LB_URL

# ---------------------------------------------------------------------------------------------------------------
# measurements

# cpu_ticks PID... — utime + stime of the processes, in clock ticks
cpu_ticks() {
    local total=0 pid t
    for pid in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}
# ms_per LABEL TICKS REQUESTS — CPU milliseconds per request
ms_per() { awk -v t="$1" -v n="$2" -v hz="$TICKS" 'BEGIN {printf (n > 0 ? "%.3f" : "-"), t * 1000 / hz / n}'; }

# load KIND URL — runs the load (get: wrk -t2 -c32 1 KiB GETs for DURATION s; put: PUTS PUTs of 1 MiB, 16 connections)
# and sets REQS (answered), RATE (req/s), NODE_TICKS (CPU of the three servers), LB_TICKS (of HAProxy)
load() {
    local kind=$1 url=$2 n0 h0 out marker
    n0=$(cpu_ticks "${CLUSTER_SERVER_PIDS[@]}")
    h0=$(cpu_ticks "$CLUSTER_HAPROXY_PID")
    if [[ "$kind" == get ]]; then
        out=$(wrk -t2 -c32 -d"${DURATION}s" "$url/bench/small.bin" 2>&1) || arca_die "wrk failed: $out"
        printf '%s\n' "$out" >>"$W/wrk.log"
        ! grep -q "Non-2xx" <<<"$out" || arca_die "non-2xx answers: $out"
        REQS=$(awk '/requests in/ {print $1}' <<<"$out")
        RATE=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    else
        marker="$W/put.$RANDOM"
        wrk -t2 -c16 -d3600s --timeout 60s -s "$HERE/put-unique.lua" "${url%/artifactory}" -- \
            "/artifactory/bench/put-$RANDOM/" "$((PUTS / 2))" 1048576 "$marker" "$AUTH" >"$marker.out" 2>&1 &
        local pid=$! deadline=$((SECONDS + 900))
        while ! [[ -f "$marker.0" && -f "$marker.1" ]] && kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill -INT "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        [[ -f "$marker.0" && -f "$marker.1" ]] || arca_die "the PUTs did not finish (see $marker.out)"
        [[ "$(awk '$1 == "errors" {print $2}' "$marker.out")" == 0 ]] || arca_die "PUTs failed (see $marker.out)"
        REQS=$(awk '$1 == "puts" {print $2}' "$marker.out")
        RATE=$(awk '$1 == "puts" {n = $2} $1 == "seconds" {s = $2} END {printf "%.1f", (s > 0 ? n / s : 0)}' "$marker.out")
    fi
    NODE_TICKS=$(($(cpu_ticks "${CLUSTER_SERVER_PIDS[@]}") - n0))
    LB_TICKS=$(($(cpu_ticks "$CLUSTER_HAPROXY_PID") - h0))
    arca_log "$kind $url: $REQS requests, $RATE req/s, nodes $NODE_TICKS ticks, HAProxy $LB_TICKS ticks"
}

wrk -t2 -c32 -d1s "$(cluster_node_url 0)/bench/small.bin" >/dev/null 2>&1 || true
wrk -t2 -c32 -d1s "$LB_URL/bench/small.bin" >/dev/null 2>&1 || true

arca_log "1 KiB GET: one node directly, then the three through HAProxy (wrk -t2 -c32 -d${DURATION}s)"
load get "$(cluster_node_url 0)"
GET1_RATE=$RATE GET1_CPU=$(ms_per "$NODE_TICKS" "$REQS")
load get "$LB_URL"
GET3_RATE=$RATE GET3_CPU=$(ms_per "$NODE_TICKS" "$REQS") GET3_LB=$(ms_per "$LB_TICKS" "$REQS")

arca_log "1 MiB PUT: $PUTS PUTs, 16 connections, one node directly, then through HAProxy"
load put "$(cluster_node_url 0)"
PUT1_RATE=$RATE PUT1_CPU=$(ms_per "$NODE_TICKS" "$REQS")
load put "$LB_URL"
PUT3_RATE=$RATE PUT3_CPU=$(ms_per "$NODE_TICKS" "$REQS") PUT3_LB=$(ms_per "$LB_TICKS" "$REQS")

# ---------------------------------------------------------------------------------------------------------------
# the table

# line METRIC CLUSTER ONE — one row, with CLUSTER / ONE when both are numbers
line() {
    local ratio
    ratio=$(awk -v a="$2" -v b="$3" 'BEGIN {if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else print "-"}')
    printf '%-42s %14s %12s %8s\n' "$1" "$2" "$3" "$ratio"
}
printf '\n'
printf 'arca: 3 nodes behind HAProxy vs 1 node on %s (%s cores), %s, loopback, PostgreSQL; arca %s\n' "$(hostname)" \
    "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)" "$("$ARCA_BIN" --version 2>/dev/null | head -n1 || echo '?')"
printf '%-42s %14s %12s %8s\n' "metric" "3 nodes + LB" "1 node" "ratio"
printf '%-42s %14s %12s %8s\n' "------" "------------" "------" "-----"
line "1 KiB GET (req/s)" "$GET3_RATE" "$GET1_RATE"
line "1 KiB GET: node CPU per request (ms)" "$GET3_CPU" "$GET1_CPU"
line "1 KiB GET: HAProxy CPU per request (ms)" "$GET3_LB" "-"
line "1 MiB PUT, 16 clients (req/s)" "$PUT3_RATE" "$PUT1_RATE"
line "1 MiB PUT: node CPU per request (ms)" "$PUT3_CPU" "$PUT1_CPU"
line "1 MiB PUT: HAProxy CPU per request (ms)" "$PUT3_LB" "-"
printf '\nCPU per request: utime + stime of the three servers (all three in both runs; in the 1-node runs two idle) /\n'
printf 'requests answered. A machine with C cores serves about C x 1000 / (node + HAProxy CPU ms) requests/s.\n'
printf 'Work dir: %s%s\n' "$W" "$([[ "${ARCA_KEEP_TMP:-0}" == 1 ]] && echo ' (kept)' || echo ' (removed)')"

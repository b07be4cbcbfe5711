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
LICENSE_BIN="$ARCA_TARGET_DIR/release/arca-license-agent"
ARCACTL="$ARCA_TARGET_DIR/release/arcactl"
[[ -x "$LICENSE_BIN" && -x "$ARCACTL" ]] || arca_die "arca-license-agent and arcactl must be built (release)"
[[ -n "${ARCA_TEST_PG_URL:-}" ]] || eval "$("$ARCA_ROOT/tests/lib/postgres.sh" --export)"

mkdir -p "$PARENT"
export ARCA_TEST_TMP=$PARENT
arca_tmpdir W arca-cluster-bench
arca_log "work dir $W"
TICKS=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------------------------
# the database (dropped at exit), licenses, three homes as tests/bench/config-sync-latency.sh makes them

DB="arca_b_$$_$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
psql -qAt -v ON_ERROR_STOP=1 "$ARCA_TEST_PG_URL" -c "CREATE DATABASE $DB" >/dev/null || arca_die "could not create database $DB"
drop_db() {
    psql -qAt "$ARCA_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 ||
        arca_warn "could not drop database $DB"
}
arca_on_exit drop_db
pg_url=${ARCA_TEST_PG_URL%%\?*}
pg_rest=${pg_url#postgresql://}
PG_CREDS=${pg_rest%%@*}
PG_HOSTPORT=${pg_rest#*@}
PG_HOSTPORT=${PG_HOSTPORT%%/*}

# every cluster node needs a license (docs/licenses.md): a throwaway issuer, one key per node
LIC="$W/licenses"
mkdir -p "$LIC"
"$ARCACTL" license issuer-new --out "$LIC/issuer.key" >"$LIC/issuer-new.out" 2>&1 ||
    arca_die "arcactl license issuer-new failed: $(cat "$LIC/issuer-new.out")"
"$ARCACTL" license issue --issuer-key "$LIC/issuer.key" --to "arca bench" \
    --valid-through "$(date -u -d '+1 year' +%F)" --count 3 >"$LIC/cluster.license" 2>"$LIC/issue.err" ||
    arca_die "arcactl license issue failed: $(cat "$LIC/issue.err")"

SHARED="$W/shared"
mkdir -p "$SHARED"
IDS=(node-a node-b node-c)
IPS=(127.0.0.11 127.0.0.12 127.0.0.13)
PRIMARY=(true false false)
HOMES=() PORTS=() SERVER_PIDS=() AGENT_PIDS=()

make_home() {
    local i=$1 h="$W/${IDS[$1]}" port
    port=$(free_port_on "${IPS[i]}")
    mkdir -p "$h/etc/security/license-issuers"
    chmod 0700 "$h/etc/security"
    cp "$LIC/issuer.key.pub" "$h/etc/security/license-issuers/bench.pub"
    printf 'type=postgresql\nurl=postgresql://%s/%s\nusername=%s\npassword=%s\npool.max.active=16\npool.max.idle=2\n' \
        "$PG_HOSTPORT" "$DB" "${PG_CREDS%%:*}" "${PG_CREDS#*:}" >"$h/etc/db.properties"
    printf 'node.id=%s\ncontext.url=http://%s:%s/artifactory/\nmembership.port=0\nprimary=%s\narca.ha.data.dir=%s\n' \
        "${IDS[i]}" "${IPS[i]}" "$port" "${PRIMARY[i]}" "$SHARED" >"$h/etc/ha-node.properties"
    [[ "${PRIMARY[i]}" != true ]] || cp "$LIC/cluster.license" "$h/etc/cluster.license"
    HOMES[i]=$h
    PORTS[i]=$port
}
stop_pid() {
    local pid=$1
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
HAPROXY_PID=""
stop_all() {
    local i
    stop_pid "$HAPROXY_PID"
    for i in 2 1 0; do stop_pid "${AGENT_PIDS[i]:-}"; done
    for i in 2 1 0; do stop_pid "${SERVER_PIDS[i]:-}"; done
}
arca_on_exit stop_all

node_url() { echo "http://${IPS[$1]}:${PORTS[$1]}/artifactory"; }
ping_ok() { [[ "$(arca_http_code --max-time 2 "$(node_url "$1")/api/system/ping")" == 200 ]]; }
ready_ok() { [[ "$(arca_http_code --max-time 2 "$(node_url "$1")/api/v1/system/readiness")" == 200 ]]; }

start_node() {
    local i=$1 h=${HOMES[$1]}
    unset NOTIFY_SOCKET JOURNAL_STREAM
    ARCA_HOME="$h" "$ARCA_BIN" --home "$h" --listen "${IPS[i]}:${PORTS[i]}" </dev/null >>"$h/arca-server.log" 2>&1 &
    SERVER_PIDS[i]=$!
    arca_wait_for 30 "arca-server ${IDS[i]}" ping_ok "$i" || {
        tail -n 30 "$h/arca-server.log" >&2
        arca_die "arca-server ${IDS[i]} did not answer its ping"
    }
    ARCA_HOME="$h" "$LICENSE_BIN" </dev/null >>"$h/arca-license-agent.log" 2>&1 &
    AGENT_PIDS[i]=$!
}

for i in 0 1 2; do make_home "$i"; done
start_node 0
[[ -s "${HOMES[0]}/etc/security/master.key" ]] || arca_die "the primary created no etc/security/master.key"
for i in 1 2; do
    cp "${HOMES[0]}/etc/security/master.key" "${HOMES[i]}/etc/security/master.key"
    start_node "$i"
done
for i in 0 1 2; do
    arca_wait_for 60 "${IDS[i]} licensed and ready" ready_ok "$i" || {
        tail -n 20 "${HOMES[i]}/arca-server.log" "${HOMES[i]}/arca-license-agent.log" >&2
        arca_die "${IDS[i]} is not ready"
    }
done
ADMIN_PW=$(tr -d '\r\n' <"${HOMES[0]}/etc/security/initial-admin-password")
AUTH="Basic $(printf 'admin:%s' "$ADMIN_PW" | base64 -w0)"
code=$(arca_http_code -u "admin:$ADMIN_PW" -X PUT -H 'Content-Type: application/json' \
    --data '{"rclass":"local","packageType":"generic","anonymousRead":true}' "$(node_url 0)/api/repositories/bench")
[[ "$code" == 200 || "$code" == 201 ]] || arca_die "PUT /api/repositories/bench -> $code"
head -c 1024 /dev/urandom >"$W/small.bin"
code=$(arca_http_code -u "admin:$ADMIN_PW" -H 'Expect:' -T "$W/small.bin" "$(node_url 0)/bench/small.bin")
[[ "$code" == 200 || "$code" == 201 ]] || arca_die "PUT bench/small.bin -> $code"
for i in 1 2; do
    arca_wait_for 10 "bench/small.bin on ${IDS[i]}" curl -sf -o /dev/null "$(node_url "$i")/bench/small.bin" ||
        arca_die "${IDS[i]} does not serve bench/small.bin"
done

# ---------------------------------------------------------------------------------------------------------------
# HAProxy in front of the three (the configuration of tests/e2e/lib.sh: round robin, readiness checks)

LB_PORT=$(arca_free_port)
cat >"$W/haproxy.cfg" <<EOF
global
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 30s
    timeout queue 30s
    retries 3
    retry-on conn-failure
    option redispatch 1
frontend arca
    bind 127.0.0.1:$LB_PORT
    default_backend arca_nodes
backend arca_nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /artifactory/api/v1/system/readiness
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
    server ${IDS[0]} ${IPS[0]}:${PORTS[0]} check
    server ${IDS[1]} ${IPS[1]}:${PORTS[1]} check
    server ${IDS[2]} ${IPS[2]}:${PORTS[2]} check
EOF
haproxy -c -q -f "$W/haproxy.cfg" || arca_die "invalid HAProxy config $W/haproxy.cfg"
haproxy -db -f "$W/haproxy.cfg" </dev/null >>"$W/haproxy.log" 2>&1 &
HAPROXY_PID=$!
LB_URL="http://127.0.0.1:$LB_PORT/artifactory"
# all three in the rotation: three GETs in a row answered by three nodes
lb_spread() {
    local n
    n=$(for _ in 1 2 3 4 5 6; do curl -s -D - -o /dev/null "$LB_URL/bench/small.bin"; done |
        awk 'tolower($1) == "x-arca-node-id:" {print $2}' | sort -u | wc -l)
    ((n == 3))
}
arca_wait_for 20 "HAProxy sending to all three nodes" lb_spread || arca_die "HAProxy does not spread over the nodes (see $W/haproxy.log)"

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
    n0=$(cpu_ticks "${SERVER_PIDS[@]}")
    h0=$(cpu_ticks "$HAPROXY_PID")
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
    NODE_TICKS=$(($(cpu_ticks "${SERVER_PIDS[@]}") - n0))
    LB_TICKS=$(($(cpu_ticks "$HAPROXY_PID") - h0))
    arca_log "$kind $url: $REQS requests, $RATE req/s, nodes $NODE_TICKS ticks, HAProxy $LB_TICKS ticks"
}

wrk -t2 -c32 -d1s "$(node_url 0)/bench/small.bin" >/dev/null 2>&1 || true
wrk -t2 -c32 -d1s "$LB_URL/bench/small.bin" >/dev/null 2>&1 || true

arca_log "1 KiB GET: one node directly, then the three through HAProxy (wrk -t2 -c32 -d${DURATION}s)"
load get "$(node_url 0)"
GET1_RATE=$RATE GET1_CPU=$(ms_per "$NODE_TICKS" "$REQS")
load get "$LB_URL"
GET3_RATE=$RATE GET3_CPU=$(ms_per "$NODE_TICKS" "$REQS") GET3_LB=$(ms_per "$LB_TICKS" "$REQS")

arca_log "1 MiB PUT: $PUTS PUTs, 16 connections, one node directly, then through HAProxy"
load put "$(node_url 0)"
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

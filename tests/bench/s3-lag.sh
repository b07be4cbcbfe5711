#!/usr/bin/env bash
# S3 lag of the eventual chain (template s3-storage-v3: cache-fs -> eventual -> retry -> s3-storage-v3): how long
# after arca acknowledged a deploy its object is in S3, at a steady 50 uploads/s; and the storage mover's throughput
# on a backlog. Side by side with the raw PUT latency and throughput of the same S3 server (s3s-fs), in one run, on
# loopback only. A benchmark, not a test: its exit status only says whether it could measure (0) or not (1), not
# whether the target (lag p99 <= 2 s) was met. See tests/bench/README.md for what each number means.
#
# Usage: tests/bench/s3-lag.sh [--quick] [--count N] [--rate R] [--size BYTES] [--flood M] [--keep] [--no-build] ...
#   --quick                150 deploys at 50/s, 200 for the mover, 50 baseline PUTs: checks that the script works
#   --count N              deploys of the lag phase (default 1500, i.e. 30 s at 50/s)
#   --rate R               deploys per second, open loop (default 50)
#   --size BYTES           size of every file (default 65536)
#   --flood M              deploys queued while the mover is stopped, then drained (default 1000)
#   --baseline N           sequential raw S3 PUTs of the baseline (default 200)
#   --clients N            client threads of the flood (default 8)
#   --timeout S            how long to wait for the objects after the last acknowledgement (default 60)
#   --mover-threads N      eventual numberOfThreads (default: not set, arca's default 5)
#   --dispatcher-interval MS  eventual dispatcherInterval (default: not set, arca's default 5000)
#   --mover-log FILTER     ARCA_LOG of the mover (default info; e.g. info,arca_storage_mover=debug)
#   --no-wake              hide the mover's control socket from the server during the lag phase, so that uploads
#                          wait for the mover's own scan (every dispatcherInterval): the lag without the wake-up
#   --dir DIR              parent of the work dir (default: <repo>/target, i.e. on the repo's disk, not tmpfs)
#   --keep                 keep the work dir (homes, logs, S3 data, per-object timeline lag.json)
#   --no-build             use the existing target/release/arca-server and arca-storage-mover
set -euo pipefail

export ARCA_TEST_NAME=s3-lag
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

COUNT=1500
RATE=50
SIZE=65536
FLOOD=1000
BASELINE=200
CLIENTS=8
TIMEOUT=60
MOVER_THREADS=""
DISPATCH_MS=""
MOVER_LOG=info
PARENT="$ARCA_ROOT/target"
SKIP_BUILD=0
NO_WAKE=0
while (($#)); do
    case "$1" in
        --quick)
            COUNT=150
            FLOOD=200
            BASELINE=50
            ;;
        --count) COUNT=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --flood) FLOOD=$2; shift ;;
        --baseline) BASELINE=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --timeout) TIMEOUT=$2; shift ;;
        --mover-threads) MOVER_THREADS=$2; shift ;;
        --dispatcher-interval) DISPATCH_MS=$2; shift ;;
        --mover-log) MOVER_LOG=$2; shift ;;
        --dir) PARENT=$2; shift ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        --no-build) SKIP_BUILD=1 ;;
        --no-wake) NO_WAKE=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
for v in COUNT SIZE FLOOD BASELINE CLIENTS TIMEOUT; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || arca_die "--${v,,} takes a positive integer (got '${!v}')"
done
if ! [[ "$RATE" =~ ^[0-9]+(\.[0-9]+)?$ ]] || ! awk -v r="$RATE" 'BEGIN {exit !(r > 0)}'; then
    arca_die "--rate takes a positive number"
fi
[[ -z "$MOVER_THREADS" || "$MOVER_THREADS" =~ ^[1-9][0-9]*$ ]] || arca_die "--mover-threads takes a positive integer"
[[ -z "$DISPATCH_MS" || "$DISPATCH_MS" =~ ^[1-9][0-9]*$ ]] || arca_die "--dispatcher-interval takes a positive integer"
# what the mover runs with (for the baseline's thread count and the table's notes)
EFFECTIVE_THREADS=${MOVER_THREADS:-5}
EFFECTIVE_DISPATCH=${DISPATCH_MS:-5000}

# ---------------------------------------------------------------------------------------------------------------
# tools, build, s3s-fs, work dir

for c in curl python3 awk; do
    command -v "$c" >/dev/null 2>&1 || arca_die "$c is not installed"
done
MOVER_BIN="$ARCA_TARGET_DIR/release/arca-storage-mover"
if ((SKIP_BUILD)); then
    [[ -x "$ARCA_BIN" && -x "$MOVER_BIN" ]] || arca_die "--no-build but $ARCA_BIN or $MOVER_BIN is missing"
else
    command -v cargo >/dev/null 2>&1 || arca_die "cargo not found (expected in ~/.cargo/bin)"
    arca_log "cargo build --release -p arca-server -p arca-storage-mover"
    (cd "$ARCA_ROOT" && cargo build --release -p arca-server -p arca-storage-mover) || arca_die "release build failed"
    [[ -x "$ARCA_BIN" && -x "$MOVER_BIN" ]] || arca_die "build succeeded but $ARCA_BIN or $MOVER_BIN is missing"
fi
s3_export=$("$ARCA_ROOT/tests/lib/s3.sh" --export) || arca_die "tests/lib/s3.sh could not provide s3s-fs"
eval "$s3_export"
[[ -x "${ARCA_TEST_S3S_FS:-}" ]] || arca_die "s3s-fs not found (ARCA_TEST_S3S_FS='${ARCA_TEST_S3S_FS:-}')"

mkdir -p "$PARENT"
export ARCA_TEST_TMP=$PARENT
arca_tmpdir W arca-s3-lag
fstype=$(stat -f -c %T "$W")
[[ "$fstype" != tmpfs && "$fstype" != ramfs ]] || arca_warn "$W is on $fstype: disk numbers will be optimistic"
# every file lives up to 3 times (arca's cache, the S3 directory; the queue's copy is dropped once uploaded)
need_kib=$((((COUNT + FLOOD) * 3 + BASELINE + FLOOD) * SIZE / 1024 + 512 * 1024))
avail_kib=$(df -Pk "$W" | awk 'NR == 2 {print $4}')
((avail_kib > need_kib)) ||
    arca_die "not enough space in $W: $((avail_kib / 1024)) MiB free, need about $((need_kib / 1024)) MiB"
arca_log "work dir $W ($fstype, $((avail_kib / 1024 / 1024)) GiB free)"
bench_python s3_lag.py

# ---------------------------------------------------------------------------------------------------------------
# s3s-fs

S3_ROOT="$W/s3"
BUCKET=arca-bench
S3_LOGFILE="$W/s3s-fs.log"
mkdir -p "$S3_ROOT"
S3_ACCESS_KEY="AK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)"
S3_SECRET_KEY="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export S3_ACCESS_KEY S3_SECRET_KEY
S3_PID=""
stop_s3() {
    if [[ -n "$S3_PID" ]] && kill -0 "$S3_PID" 2>/dev/null; then
        kill -TERM "$S3_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$S3_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$S3_PID" 2>/dev/null || true
    fi
    [[ -z "$S3_PID" ]] || wait "$S3_PID" 2>/dev/null || true
    S3_PID=""
}
arca_on_exit stop_s3
s3_answers() {
    local code
    code=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$S3_URL/" 2>/dev/null) || true
    [[ "$code" =~ ^[1-5][0-9][0-9]$ ]]
}
for attempt in 1 2 3; do
    S3_PORT=$(arca_free_port)
    S3_URL="http://127.0.0.1:$S3_PORT"
    arca_log "starting s3s-fs on $S3_URL over $S3_ROOT (attempt $attempt)"
    "$ARCA_TEST_S3S_FS" --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" \
        --secret-key "$S3_SECRET_KEY" "$S3_ROOT" </dev/null >>"$S3_LOGFILE" 2>&1 &
    S3_PID=$!
    if arca_wait_for 20 "s3s-fs on $S3_URL" s3_answers; then
        break
    fi
    stop_s3
    ((attempt < 3)) || { tail -n 20 "$S3_LOGFILE" >&2; arca_die "s3s-fs did not start"; }
done
py /dev/null mkbucket --endpoint "$S3_URL" --bucket "$BUCKET" || arca_die "could not create the bucket $BUCKET"
[[ -d "$S3_ROOT/$BUCKET" ]] || arca_die "s3s-fs created no directory for the bucket ($S3_ROOT/$BUCKET)"

# ---------------------------------------------------------------------------------------------------------------
# arca-server with the s3-storage-v3 chain, then the storage mover

HOME_DIR="$W/home"
ADD_DIR="$HOME_DIR/data/eventual/_add"
S3_PREFIX=filestore
FOLDER_LEN=2
mkdir -p "$HOME_DIR/etc"
eventual_block=""
if [[ -n "$MOVER_THREADS$DISPATCH_MS" ]]; then
    eventual_block="  <provider id=\"eventual\" type=\"eventual\">"$'\n'
    [[ -z "$MOVER_THREADS" ]] || eventual_block+="    <numberOfThreads>$MOVER_THREADS</numberOfThreads>"$'\n'
    [[ -z "$DISPATCH_MS" ]] || eventual_block+="    <dispatcherInterval>$DISPATCH_MS</dispatcherInterval>"$'\n'
    eventual_block+="  </provider>"$'\n'
fi
cat >"$HOME_DIR/etc/binarystore.xml" <<EOF
<config version="2">
  <!-- generated by tests/bench/s3-lag.sh: cache-fs -> eventual -> retry -> s3-storage-v3 -->
  <chain template="s3-storage-v3"/>
  <provider id="s3-storage-v3" type="s3-storage-v3">
    <endpoint>$S3_URL</endpoint>
    <region>us-east-1</region>
    <bucketName>$BUCKET</bucketName>
    <path>$S3_PREFIX</path>
    <rootFoldersNameLength>$FOLDER_LEN</rootFoldersNameLength>
    <identity>$S3_ACCESS_KEY</identity>
    <credential>$S3_SECRET_KEY</credential>
    <enablePathStyleAccess>true</enablePathStyleAccess>
  </provider>
$eventual_block</config>
EOF
unset NOTIFY_SOCKET JOURNAL_STREAM
arca_start "$HOME_DIR"
grep -q 'enc:v1:' "$HOME_DIR/etc/binarystore.xml" || arca_warn "the server did not seal the S3 credentials in binarystore.xml"
arca_create_repo bench '{"rclass":"local","packageType":"generic"}' || arca_die "could not create the generic repository 'bench'"

MOVER_PID=""
MOVER_LOGFILE="$W/mover.log"
MOVER_SOCK="$HOME_DIR/run/arca-storage-mover.sock"
# start_mover — prints nothing; sets MOVER_PID; waits for the control socket (bound once config, DB and the S3
# probe are done) unless NOWAIT=1
start_mover() {
    printf -- '---- start %s\n' "$(date -u +%FT%T.%NZ)" >>"$MOVER_LOGFILE"
    ARCA_LOG=$MOVER_LOG ARCA_HOME="$HOME_DIR" "$MOVER_BIN" --home "$HOME_DIR" </dev/null >>"$MOVER_LOGFILE" 2>&1 &
    MOVER_PID=$!
    [[ "${NOWAIT:-0}" == 1 ]] && return 0
    arca_wait_for 30 "the mover's socket $MOVER_SOCK" test -S "$MOVER_SOCK" || {
        tail -n 30 "$MOVER_LOGFILE" >&2
        arca_die "arca-storage-mover did not start"
    }
}
stop_mover() {
    local pid=$MOVER_PID
    [[ -n "$pid" ]] || return 0
    MOVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            arca_warn "arca-storage-mover (pid $pid) ignored SIGTERM for 30 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}
arca_on_exit stop_mover
arca_log "starting arca-storage-mover --home $HOME_DIR"
start_mover
arca_log "mover up (pid $MOVER_PID): $(grep -m1 -o 'moving .*' "$MOVER_LOGFILE" || echo '?')"
if ((NO_WAKE)); then
    # The mover keeps listening on the renamed socket; the server's wake-up after each deploy finds no socket
    # (a debug message in its log) and the mover only sees new entries at its periodic scan.
    mv "$MOVER_SOCK" "$MOVER_SOCK.hidden"
    arca_on_exit rm -f "$MOVER_SOCK.hidden"
    arca_log "--no-wake: the mover's socket is hidden from the server"
fi

# ---------------------------------------------------------------------------------------------------------------
# the baseline: the same S3 server, without arca

arca_log "baseline: $BASELINE sequential S3 PUTs of $SIZE bytes, then $FLOOD with $EFFECTIVE_THREADS threads"
py "$W/s3base.out" s3base --endpoint "$S3_URL" --bucket "$BUCKET" --size "$SIZE" --count "$BASELINE" \
    --par-count "$FLOOD" --threads "$EFFECTIVE_THREADS" || arca_die "the S3 baseline failed"
collect "$W/s3base.out"
arca_log "raw S3 PUT p50 $(get s3put_p50) s, p99 $(get s3put_p99) s; $(get s3par_obj_s) objects/s with $EFFECTIVE_THREADS threads"

# ---------------------------------------------------------------------------------------------------------------
# the lag at a steady rate

layout_args=(--s3-root "$S3_ROOT" --bucket "$BUCKET" --prefix "$S3_PREFIX" --folder-len "$FOLDER_LEN" --add-dir "$ADD_DIR")
arca_log "lag: $COUNT deploys of $SIZE bytes at $RATE/s, then up to ${TIMEOUT}s for the objects"
py "$W/lag.out" lag --url "$ARCA_URL" --repo bench --dir lag --count "$COUNT" --size "$SIZE" \
    --rate "$RATE" --timeout "$TIMEOUT" --json "$W/lag.json" "${layout_args[@]}" ||
    arca_die "the lag measurement failed"
collect "$W/lag.out"
arca_log "lag p50 $(get lag_p50) s, p99 $(get lag_p99) s, max $(get lag_max) s; missing $(get lag_missing)"

# ---------------------------------------------------------------------------------------------------------------
# mover throughput: a backlog queued while the mover is stopped, then drained

arca_log "stopping the mover; $FLOOD deploys with $CLIENTS client threads"
stop_mover
rm -f "$MOVER_SOCK.hidden"
py "$W/flood.out" flood --url "$ARCA_URL" --repo bench --dir flood --count "$FLOOD" --size "$SIZE" \
    --threads "$CLIENTS" --shas "$W/flood.sha256" || arca_die "the flood failed"
collect "$W/flood.out"
queued=$(find "$ADD_DIR" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' | wc -l)
arca_log "flood: $(get flood_rate) deploys/s; $queued entries in $ADD_DIR"
sync
arca_log "starting the mover and timing the drain"
t0=$(date +%s.%N)
NOWAIT=1 start_mover
py "$W/drain.out" drain --t0 "$t0" --shas "$W/flood.sha256" --size "$SIZE" --timeout 600 \
    "${layout_args[@]}" || arca_die "the drain measurement failed"
collect "$W/drain.out"
arca_log "drain: $(get drain_seconds) s, $(get drain_obj_s) objects/s"
stop_mover

# a spot check that arca serves the bytes it stored (the object is in S3 by now, and in arca's cache)
first_sha=$(sed -n 1p "$W/flood.sha256")
got_sha=$(arca_curl -f "$ARCA_URL/bench/flood/00000.bin" | sha256sum | cut -d' ' -f1) || got_sha=""

# ---------------------------------------------------------------------------------------------------------------
# the table

FAIL=0
[[ "$(get lag_missing)" == 0 ]] || { arca_warn "$(get lag_missing) object(s) not in S3 ${TIMEOUT}s after the last ack"; FAIL=1; }
[[ "$(get deploy_errors)" == 0 && "$(get flood_errors)" == 0 ]] ||
    { arca_warn "failed deploys: $(get deploy_errors) (lag), $(get flood_errors) (flood)"; FAIL=1; }
[[ "$(get drain_ok)" == 1 ]] ||
    { arca_warn "the mover did not drain the backlog: $(get drain_missing) missing in S3, $(get drain_left_in_queue) left in _add"; FAIL=1; }
[[ "$(get lag_n)" != 0 && "$(get lag_n)" != - ]] || { arca_warn "no lag measured"; FAIL=1; }
[[ "$queued" == "$(get drain_objects)" ]] || arca_warn "$queued entries were queued for $(get drain_objects) flood deploys"
[[ -n "$first_sha" && "$got_sha" == "$first_sha" ]] || arca_warn "GET bench/flood/00000.bin did not return the deployed bytes"

ROWS=()
# row METRIC ARCA BASELINE KIND TARGET — KIND: max (arca <= TARGET), info
row() { ROWS+=("$1|$2|$3|$4|$5"); }
kib=$(awk -v s="$SIZE" 'BEGIN {printf (s % 1024 ? "%d B" : "%d KiB"), (s % 1024 ? s : s / 1024)}')
row "S3 lag p50 (s)" "$(get lag_p50)" "$(get s3put_p50)" info ""
row "S3 lag p90 (s)" "$(get lag_p90)" "$(get s3put_p90)" info ""
row "S3 lag p99 (s)" "$(get lag_p99)" "$(get s3put_p99)" max 2
row "S3 lag max (s)" "$(get lag_max)" "$(get s3put_max)" info ""
row "queue entry dropped p50 (s after ack)" "$(get qlag_p50)" "-" info ""
row "queue entry dropped p99 (s after ack)" "$(get qlag_p99)" "-" info ""
row "objects in S3 before their ack" "$(get lag_before_ack)" "-" info ""
row "objects missing ${TIMEOUT}s after last ack" "$(get lag_missing)" "-" max 0
row "deploy ack p50 (s)" "$(get ack_p50)" "$(get s3put_p50)" info ""
row "deploy ack p99 (s)" "$(get ack_p99)" "$(get s3put_p99)" info ""
row "deploy rate achieved (/s; late >100ms)" "$(awk -v r="$(get deploy_rate)" 'BEGIN {printf "%.1f", r}') ($(get deploy_late_100ms))" "$RATE" info ""
row "mover drain, $FLOOD objects (objects/s)" "$(get drain_obj_s)" "$(get s3par_obj_s)" info ""
row "mover drain (MB/s)" "$(get drain_mb_s)" "$(get s3par_mb_s)" info ""
row "mover start -> all in S3 (s)" "$(get drain_seconds)" "$(get s3par_seconds)" info ""
row "mover start -> first entry done (s)" "$(get drain_first_s)" "-" info ""
row "flood deploys/s ($CLIENTS clients, mover off)" "$(get flood_rate)" "-" info ""

# fmt VALUE — numbers with 3 decimals (2 for big ones), anything else as is
fmt() { awk -v v="$1" 'BEGIN {if (v ~ /^[0-9]+\.[0-9]+$/) printf (v >= 100 ? "%.1f" : "%.3f"), v; else printf "%s", v}'; }

printf '\n'
printf 'S3 lag of the eventual chain on %s (%s cores), %s, loopback; %s; %s files, mover numberOfThreads %s, dispatcherInterval %s ms%s\n' \
    "$(hostname)" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)" \
    "$("$ARCA_BIN" --version 2>/dev/null | head -n1 || echo 'arca ?')" "$kib" "$EFFECTIVE_THREADS" "$EFFECTIVE_DISPATCH" \
    "$(if ((NO_WAKE)); then echo '; --no-wake: the server does not wake the mover'; fi)"
printf '%-42s %14s %12s  %-10s %s\n' "metric" "arca" "raw S3" "target" "result"
printf '%-42s %14s %12s  %-10s %s\n' "------" "----" "------" "------" "------"
bench_print_rows '%-42s %14s %12s  %-10s %s\n'
printf '\nraw S3: the same s3s-fs, PUTs of %s from the same client code (%s sequential; throughput: %s PUTs on %s threads).\n' \
    "$kib" "$BASELINE" "$FLOOD" "$EFFECTIVE_THREADS"
printf '%d target(s) missed. Work dir: %s%s\n' "$MISSES" "$W" "$([[ "${ARCA_KEEP_TMP:-0}" == 1 ]] && echo ' (kept)' || echo ' (removed)')"
if ((FAIL)); then
    arca_warn "the measurement is incomplete (see the warnings above; logs: $ARCA_LOG_FILE, $MOVER_LOGFILE)"
    exit 1
fi

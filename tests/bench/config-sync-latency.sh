#!/usr/bin/env bash
# Config sync propagation latency: three arca-server nodes on one PostgreSQL database, arca-config-sync beside each;
# N edits of binarystore.xml on the primary (the config owner) at a fixed pace, each timed until both members have
# exactly those bytes. Side by side with the raw PostgreSQL NOTIFY -> LISTEN round trip on the same database, in one
# run, on loopback only. A benchmark, not a test: its exit status only says whether it could measure (0) or not (1),
# not whether the target (p99 <= 1 s, both members) was met. See tests/bench/README.md for what each number means.
#
# Usage: tests/bench/config-sync-latency.sh [--quick] [--edits N] [--rate R] [--keep] [--no-build] ...
#   --quick           40 edits: checks that the script works
#   --edits N         edits of binarystore.xml on the primary (default 200)
#   --rate R          edits per second, open loop (default 4)
#   --baseline N      NOTIFY round trips of the baseline (default: as many as edits)
#   --idle S          before the edits, S seconds with nobody editing: opens of binarystore.xml (the passes of each
#                     node's sync) and the syncs' CPU (default 5; 0 skips it)
#   --timeout S       an edit not on a member this long after it is a loss (default 10)
#   --poll-ms MS      poll the members' files every MS ms instead of inotify
#   --sync-log FILTER ARCA_LOG of arca-config-sync (default info)
#   --dir DIR         parent of the work dir (default: <repo>/target, i.e. on the repo's disk, not tmpfs)
#   --keep            keep the work dir (homes, logs, per-edit timeline edits.txt) — the database is dropped anyway
#   --no-build        use the existing target/release/arca-server and arca-config-sync
set -euo pipefail

export ARCA_TEST_NAME=config-sync-latency
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$HERE/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

EDITS=200
RATE=4
BASELINE=""
TIMEOUT=10
IDLE=5
POLL_MS=0
SYNC_LOG=info
PARENT="$ARCA_ROOT/target"
SKIP_BUILD=0
while (($#)); do
    case "$1" in
        --quick) EDITS=40 ;;
        --edits) EDITS=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --baseline) BASELINE=$2; shift ;;
        --timeout) TIMEOUT=$2; shift ;;
        --idle) IDLE=$2; shift ;;
        --poll-ms) POLL_MS=$2; shift ;;
        --sync-log) SYNC_LOG=$2; shift ;;
        --dir) PARENT=$2; shift ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        --no-build) SKIP_BUILD=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
BASELINE=${BASELINE:-$EDITS}
for v in EDITS BASELINE TIMEOUT; do
    [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || arca_die "--${v,,} takes a positive integer (got '${!v}')"
done
if ! [[ "$RATE" =~ ^[0-9]+(\.[0-9]+)?$ ]] || ! awk -v r="$RATE" 'BEGIN {exit !(r > 0)}'; then
    arca_die "--rate takes a positive number"
fi
[[ "$IDLE" =~ ^[0-9]+$ ]] || arca_die "--idle takes a whole number of seconds"
[[ "$POLL_MS" =~ ^[0-9]+(\.[0-9]+)?$ ]] || arca_die "--poll-ms takes a number"

# the owner's debounce of file events (DEBOUNCE in daemons/arca-config-sync/src/app.rs): the floor of every edit
DEBOUNCE_MS=$(sed -n 's/^pub const DEBOUNCE: Duration = Duration::from_millis(\([0-9]*\));/\1/p' \
    "$ARCA_ROOT/daemons/arca-config-sync/src/app.rs")
DEBOUNCE_MS=${DEBOUNCE_MS:-?}

# ---------------------------------------------------------------------------------------------------------------
# tools, build, PostgreSQL, Python modules, work dir

for c in curl python3 awk psql sha256sum; do
    command -v "$c" >/dev/null 2>&1 || arca_die "$c is not installed"
done
SYNC_BIN="$ARCA_TARGET_DIR/release/arca-config-sync"
if ((SKIP_BUILD)); then
    [[ -x "$ARCA_BIN" && -x "$SYNC_BIN" ]] || arca_die "--no-build but $ARCA_BIN or $SYNC_BIN is missing"
else
    command -v cargo >/dev/null 2>&1 || arca_die "cargo not found (expected in ~/.cargo/bin)"
    arca_log "cargo build --release -p arca-server -p arca-config-sync -p arca-license-agent"
    (cd "$ARCA_ROOT" && cargo build --release -p arca-server -p arca-config-sync -p arca-license-agent) ||
        arca_die "release build failed"
    [[ -x "$ARCA_BIN" && -x "$SYNC_BIN" ]] || arca_die "build succeeded but $ARCA_BIN or $SYNC_BIN is missing"
fi

# inotify_simple and psycopg2 (binary wheel), installed once with pip into a cache dir, not into the system's Python
PYDEPS=/var/cache/arca-test/python
export PYTHONPATH="$PYDEPS${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c 'import inotify_simple, psycopg2' 2>/dev/null; then
    arca_log "installing inotify_simple and psycopg2-binary into $PYDEPS (pip)"
    mkdir -p "$PYDEPS"
    python3 -m pip install --quiet --disable-pip-version-check --target "$PYDEPS" inotify_simple psycopg2-binary >&2 ||
        arca_die "pip install inotify_simple psycopg2-binary failed"
    python3 -c 'import inotify_simple, psycopg2' || arca_die "inotify_simple or psycopg2 does not import after pip install"
fi

mkdir -p "$PARENT"
export ARCA_TEST_TMP=$PARENT
arca_tmpdir W arca-config-sync-latency
arca_log "work dir $W"

bench_python config_sync_latency.py

# ---------------------------------------------------------------------------------------------------------------
# three nodes on a throwaway database arca_b_<random> (tests/lib/cluster.sh), as the Rust harness makes them
# (daemons/arca-server/tests/server/ha.rs, Cluster::home): no licenses (no load balancer needs them ready), fast
# heartbeats

CLUSTER_LICENSE=0
CLUSTER_DB_POOL=$'pool.max.active=8\npool.max.idle=1\npool.lock.max=2'
CLUSTER_SYSTEM_PROPS=$'arca.ha.heartbeat.interval.secs=1\narca.ha.node.stale.secs=4\narca.config.sync.poll.secs=10'
cluster_init "$W"
export BENCH_PG_URL=$CLUSTER_DB_URL
SYNC_PIDS=()
# the syncs stop before the servers (the cleanup runs in reverse order)
stop_syncs() {
    local i
    for i in 2 1 0; do
        [[ -z "${SYNC_PIDS[i]:-}" ]] || cluster_stop_pid "${SYNC_PIDS[i]}" "arca-config-sync ${CLUSTER_IDS[i]}"
    done
}
arca_on_exit stop_syncs
cluster_start
[[ -f "${CLUSTER_HOMES[0]}/etc/binarystore.xml" ]] || arca_die "the primary has no etc/binarystore.xml"

# xacts — transactions committed or rolled back in the benchmark's database so far (pg_stat_database; PostgreSQL
# publishes a session's counters at most once a second, hence the sleeps around the windows)
xacts() { psql -qAt "$ARCA_TEST_PG_URL" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$CLUSTER_DB'"; }
# xact_rate X0 T0 — transactions/s since X0 at T0 (date +%s.%N)
xact_rate() {
    local x1 t1
    x1=$(xacts) t1=$(date +%s.%N)
    awk -v a="$1" -v b="$x1" -v s="$2" -v e="$t1" 'BEGIN {if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/) printf "%.0f", (b - a) / (e - s); else print "-"}'
}
if ((IDLE > 0)); then
    # the servers alone, for comparison with the idle window below (syncs running)
    sleep 1
    x0=$(xacts) t0=$(date +%s.%N)
    sleep "$IDLE"
    sleep 1
    R[servers_xacts]=$(xact_rate "$x0" "$t0")
fi

for i in 0 1 2; do
    h=${CLUSTER_HOMES[i]}
    arca_log "starting arca-config-sync --home $h"
    ARCA_LOG=$SYNC_LOG ARCA_HOME="$h" "$SYNC_BIN" --home "$h" </dev/null >>"$h/arca-config-sync.log" 2>&1 &
    SYNC_PIDS[i]=$!
done
sha_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
synced() {
    local want i
    grep -q "this node owns the cluster's config" "${CLUSTER_HOMES[0]}/arca-config-sync.log" || return 1
    want=$(sha_of "${CLUSTER_HOMES[0]}/etc/binarystore.xml")
    for i in 1 2; do
        grep -q "this node mirrors the cluster's config files" "${CLUSTER_HOMES[i]}/arca-config-sync.log" || return 1
        [[ "$(sha_of "${CLUSTER_HOMES[i]}/etc/binarystore.xml")" == "$want" ]] || return 1
    done
}
if ! arca_wait_for 60 "the owner's publication and binarystore.xml on both members" synced; then
    for i in 0 1 2; do
        kill -0 "${SYNC_PIDS[i]}" 2>/dev/null || arca_warn "arca-config-sync ${CLUSTER_IDS[i]} has exited"
        tail -n 15 "${CLUSTER_HOMES[i]}/arca-config-sync.log" >&2
    done
    arca_die "the config sync did not converge"
fi
arca_log "config sync up: ${CLUSTER_IDS[0]} owns the config, ${CLUSTER_IDS[1]} and ${CLUSTER_IDS[2]} mirror it"

# ---------------------------------------------------------------------------------------------------------------
# idle: nobody edits; every pass of a node's sync opens its binarystore.xml

if ((IDLE > 0)); then
    sleep 1
    arca_log "idle for ${IDLE}s: opens of binarystore.xml and CPU of the three syncs"
    x0=$(xacts) t0=$(date +%s.%N)
    py "$W/idle.out" idle --seconds "$IDLE" --etc "${CLUSTER_HOMES[0]}/etc" --etc "${CLUSTER_HOMES[1]}/etc" --etc "${CLUSTER_HOMES[2]}/etc" \
        --pid "${SYNC_PIDS[0]}" --pid "${SYNC_PIDS[1]}" --pid "${SYNC_PIDS[2]}" || arca_die "the idle measurement failed"
    collect "$W/idle.out"
    sleep 1
    R[idle_xacts]=$(xact_rate "$x0" "$t0")
fi

# ---------------------------------------------------------------------------------------------------------------
# the edits, then the baseline on the same database while the cluster runs

keep_args=()
[[ "${ARCA_KEEP_TMP:-0}" != 1 ]] || keep_args=(--keep-file "$W/edits.txt")
arca_log "$EDITS edits of binarystore.xml on ${CLUSTER_IDS[0]} at $RATE/s"
py "$W/edits.out" edits --primary-etc "${CLUSTER_HOMES[0]}/etc" --member-etc "${CLUSTER_HOMES[1]}/etc" --member-etc "${CLUSTER_HOMES[2]}/etc" \
    --edits "$EDITS" --rate "$RATE" --timeout "$TIMEOUT" --poll-ms "$POLL_MS" "${keep_args[@]}" ||
    arca_die "the edit measurement failed"
collect "$W/edits.out"
arca_log "both members: p50 $(get both_p50) s, p99 $(get both_p99) s, max $(get both_max) s; lost $(get lost)"

arca_log "baseline: $BASELINE NOTIFY round trips on $CLUSTER_DB"
py "$W/notify.out" notify --count "$BASELINE" --timeout "$TIMEOUT" || arca_die "the NOTIFY baseline failed"
collect "$W/notify.out"

# what the logs say: passes of the owner, files applied on the members, warnings and errors
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }
PUBLISHED=$(count "published binarystore.xml" "${CLUSTER_HOMES[0]}/arca-config-sync.log")
APPLIED1=$(count "synced binarystore.xml" "${CLUSTER_HOMES[1]}/arca-config-sync.log")
APPLIED2=$(count "synced binarystore.xml" "${CLUSTER_HOMES[2]}/arca-config-sync.log")
LOG_PROBLEMS=0
for i in 0 1 2; do
    n=$(grep -cE ' (WARN|ERROR) ' "${CLUSTER_HOMES[i]}/arca-config-sync.log" || true)
    if ((n > 0)); then
        LOG_PROBLEMS=$((LOG_PROBLEMS + n))
        arca_warn "arca-config-sync ${CLUSTER_IDS[i]}: $n WARN/ERROR line(s), e.g.: $(grep -m1 -E ' (WARN|ERROR) ' "${CLUSTER_HOMES[i]}/arca-config-sync.log")"
    fi
done
for i in 0 1 2; do
    kill -0 "${SYNC_PIDS[i]}" 2>/dev/null || arca_warn "arca-config-sync ${CLUSTER_IDS[i]} exited during the run"
    kill -0 "${CLUSTER_SERVER_PIDS[i]}" 2>/dev/null || arca_warn "arca-server ${CLUSTER_IDS[i]} exited during the run"
done

# ---------------------------------------------------------------------------------------------------------------
# the table

FAIL=0
[[ "$(get both_n)" != 0 && "$(get both_n)" != - ]] || { arca_warn "no edit reached both members"; FAIL=1; }
[[ "$(get notify_n)" != 0 && "$(get notify_n)" != - ]] || { arca_warn "no NOTIFY round trip measured"; FAIL=1; }
[[ "$(get final_identical)" == 1 ]] || arca_warn "the members' binarystore.xml is not the last edit's at the end"

ROWS=()
row() { ROWS+=("$1|$2|$3|$4|$5"); }
for p in p50 p90 p99 max; do
    kind=info target=""
    [[ "$p" != p99 ]] || { kind=max target=1; }
    row "edit -> first member, $p (s)" "$(get "first_$p")" "$(get "notify_$p")" info ""
    row "edit -> both members, $p (s)" "$(get "both_$p")" "$(get "notify_$p")" "$kind" "$target"
done
row "edits (achieved /s; late >100ms)" "$(get edits) ($(awk -v r="$(get edit_rate)" 'BEGIN {printf "%.2f", r}')/s; $(get edit_late_100ms))" "$(get notify_n)" info ""
# The sync mirrors the latest state: an edit overtaken by the next one before a member's pass is
# skipped there (not a loss). A member left behind (never updated after an edit) is.
row "edits not seen on both members in ${TIMEOUT}s" "$(get lost)" "$(get notify_lost)" info ""
row "  member copies skipped for a later edit" "$(get lost_member_superseded)" "-" info ""
row "  member copies left behind (never updated after it)" "$(get lost_member_never)" "-" max 0
row "members differing from the last edit at the end" "$((1 - $(get final_identical)))" "-" max 0
row "owner passes that published (log)" "$PUBLISHED" "-" info ""
row "member applies (log: node-b, node-c)" "$APPLIED1, $APPLIED2" "-" info ""
if ((IDLE > 0)); then
    f1() { awk -v v="$1" 'BEGIN {if (v ~ /^[0-9.]+$/) printf "%.1f", v; else printf "%s", v}'; }
    row "idle: binarystore.xml opens/s (a, b, c)" "$(f1 "$(get idle_opens_0)"), $(f1 "$(get idle_opens_1)"), $(f1 "$(get idle_opens_2)")" "-" info ""
    row "idle: DB transactions/s, servers only" "$(get servers_xacts)" "-" info ""
    row "idle: DB transactions/s, servers + syncs" "$(get idle_xacts)" "-" info ""
    row "idle: sync CPU, % of a core (a, b, c)" "$(f1 "$(get idle_cpu_0)"), $(f1 "$(get idle_cpu_1)"), $(f1 "$(get idle_cpu_2)")" "-" info ""
fi
row "WARN/ERROR lines in the sync logs" "$LOG_PROBLEMS" "-" info ""

fmt() { awk -v v="$1" 'BEGIN {if (v ~ /^[0-9]+\.[0-9]+$/) printf "%.3f", v; else printf "%s", v}'; }

printf '\n'
printf 'Config sync propagation on %s (%s cores), %s, loopback; %s; 3 nodes on PostgreSQL %s; %s edits at %s/s\n' \
    "$(hostname)" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%MZ)" \
    "$("$ARCA_BIN" --version 2>/dev/null | head -n1 || echo 'arca ?')" \
    "$(psql -qAt "$ARCA_TEST_PG_URL" -c 'SHOW server_version' 2>/dev/null | cut -d' ' -f1 || echo '?')" "$EDITS" "$RATE"
printf '%-46s %20s %10s  %-8s %s\n' "metric" "config sync" "NOTIFY" "target" "result"
printf '%-46s %20s %10s  %-8s %s\n' "------" "-----------" "------" "------" "------"
bench_print_rows '%-46s %20s %10s  %-8s %s\n'
printf '\nmembers watched with %s. The owner waits %s ms after a file event before its pass (DEBOUNCE in\n' \
    "$(case "$(get watch_mode)" in inotify) echo 'inotify (inotify_simple)' ;; poll:*) echo "a poll every $(get watch_mode | cut -d: -f2) ms" ;; *) get watch_mode ;; esac)" "$DEBOUNCE_MS"
printf 'daemons/arca-config-sync/src/app.rs): the floor of an edit that finds the owner idle. NOTIFY: the same database,\n'
printf 'NOTIFY on one connection -> receipt on a LISTENing one (psycopg2), %s round trips, one every 20 ms.\n' "$(get notify_n)"
printf '%d target(s) missed. Work dir: %s%s\n' "$MISSES" "$W" "$([[ "${ARCA_KEEP_TMP:-0}" == 1 ]] && echo ' (kept)' || echo ' (removed)')"
if ((FAIL)); then
    arca_warn "the measurement is incomplete (see the warnings above; logs under $W with --keep)"
    exit 1
fi

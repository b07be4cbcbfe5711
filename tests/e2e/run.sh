#!/usr/bin/env bash
# arca end-to-end appliance tests: the real .deb packages installed with apt in Debian 12 containers that run
# systemd as PID 1 (systemd-nspawn), HAProxy on the host in front of three HA nodes, PostgreSQL on the host.
#
# Scenarios (all by default, in this order):
#   single    fresh container, apt-get install of the seven local .debs; the server is active after install
#             (and arca-license-agent and arca-config-sync, idle: a single node needs no license and shares nothing)
#             (single node, SQLite), deploy + resolve with curl, sha256 equal, `HA Node ID` in the journal
#   ha        three nodes configured as docs/ha.md says (db.properties, ha-node.properties, master key copy,
#             arca.url.base = the HAProxy URL; a throwaway license issuer trusted on every node and 3 keys in n1's
#             cluster.license, arca-license-agent and arca-config-sync on every node); /api/system/ha/nodes: three
#             RUNNING, one PRIMARY;
#             the banner in every journal; deploy through HAProxy, resolve from every node directly, same sha256;
#             /api/system/licenses: the 3 keys held by n1 n2 n3; `systemctl stop arca-license-agent` on n3: its
#             license "Not in use" within 5 s, n3's readiness and a direct GET 503 "no license available in the
#             cluster pool", GETs through HAProxy all 200, the release in the agent's journal; started again:
#             licensed and ready within 5 s
#   config-sync three nodes, arca-config-sync on each (docs/config-sync.md): an XML comment appended to n1's
#             binarystore.xml has the same sha256 on n2 and n3 within 5 s; n2's copy given other content with an mtime
#             in the future while its sync is stopped is replaced by n1's when the sync starts; a local edit on n3
#             is put back (kept as .conflict, reported); invalid XML on n1 is not propagated (members keep the last good copy, "NOT PROPAGATED"
#             in n1's journal, `arcactl config status` on n2 exits 1 with REJECTED); every sync in the members'
#             journals; owner and mode of the rewritten files as packaged / as before; `arcactl config status` exits
#             0 in sync; /api/system/ha/nodes: "restartRequired":["binarystore.xml"], empty for n3 after
#             `systemctl restart arca-server` there; the Custom URL Base PUT on n2 written by n1's config sync
#             into its system.properties (owner and mode kept), mirrored, applied live without a restart; n1's
#             server and sync stopped: a member owns the config ("this node owns the cluster's config") and its
#             edit of system.properties reaches the other member
#   failover  client loop through HAProxy; `systemctl stop arca-server` on one node (drain): 0 failed requests;
#             `kill -9` of another node's arca-server: failures only within 3 s of the kill, longest outage
#   upgrade   packages of the next patch version; rolling upgrade (arcactl node drain, wait for HAProxy to mark
#             the node down, apt-get install /debs2/*.deb, wait for readiness and the new --version; the license
#             agent upgraded and restarted too, the config sync active) under a continuous deploy/resolve/verify client (>= 5000
#             requests): 0 failed; the 3 licenses held by n1 n2 n3 afterwards
#   s3-shared s3s-fs on the host; three nodes with binarystore.xml = s3-storage-v3 (plain-text keys, sealed in
#             place at the first start) and the eventual queue in the shared data dir, arca-storage-mover
#             enabled on each; 50 deploys through HAProxy resolve on every node and reach S3 (object files' sha256)
#             while the shared _add dir drains; /api/system/storage and the movers' journals; S3 stopped during
#             20 deploys (all 201, served from the queue, drained once S3 is back); n1's mover stopped: n2's and
#             n3's movers upload the next 30 deploys (those through n1 too)
#   cluster-s3 s3s-fs on the host; three nodes without any shared mount (no arca.ha.data.dir), binarystore.xml =
#             cluster-s3-storage-v3 (redundancy 2), each node's own eventual queue, its mover enabled;
#             /api/system/storage and the journals show the sharding chain and "redundancy":2; S3 stopped: 20
#             deploys through HAProxy all 201, each waiting in exactly two nodes' _add dirs, resolved on every
#             node; n2 crashes (SIGKILL of its four units): n1's and n3's movers restore the second copies; S3 back:
#             every object in S3 (sha256), the live queues empty; n2 back: its mover drops its copies without
#             uploading them again (already_stored=true, S3's object files unchanged); every node resolves all
#   session-cleanup one node (single, SQLite; docs/session-cleanup.md): arca-session-cleanup.timer enabled with a
#             next run in list-timers; expired UI sessions written into the node's SQLite database (from the host,
#             through /proc/<pid>/root), `systemctl start arca-session-cleanup.service` deletes exactly them ("deleted N
#             expired UI sessions" in its journal, found by ARCA_NODE_ID), the live ones stay;
#             arca.db.session.cleanup.cron=0 23 * * * ? + daemon-reload: the generator's drop-in, the timer's
#             calendar *-*-* *:23:00; an untranslatable value (L): check-config exit 1, no drop-in, hourly again
#
# Usage: tests/e2e/run.sh [--only NAME]... [--debs DIR] [--no-build] [--keep]
#   --only NAME   run only this scenario (repeatable)
#   --debs DIR    use the arca_*.deb / arca-common_*.deb / arca-server_*.deb / arca-storage-mover_*.deb /
#                 arca-license-agent_*.deb / arca-config-sync_*.deb / arca-session-cleanup_*.deb already in DIR instead of building them (the upgrade scenario still packages the next version from the target/release binaries)
#   --no-build    do not run cargo: package the release binaries already in target/release (ARCA_SKIP_BUILD=1
#                 does the same)
#   --keep        keep the work dir (containers' overlays, logs, client records): same as ARCA_KEEP_TMP=1
# Packages: by default `cargo build --release` of packaging/binaries.sh, then packaging/build-deb.sh --no-build
# (and --version <patch+1> for the upgrade) on a private copy of the binaries (CARGO_TARGET_DIR in the work dir).
# Env: E2E_DEV=1 installs target/release binaries + units/ instead of .debs (harness development only; the
#      upgrade scenario needs packages), E2E_SCENARIO_TIMEOUT (s, default 420), E2E_TOTAL_TIMEOUT (s, default
#      1500: scenarios are cut short or skipped to stay within it), E2E_NODE_PORT (default 8081),
#      E2E_VERSION_CHECK=warn (upgrade: only warn when the upgraded `arca-server --version` still prints the old
#      version, i.e. when build-deb.sh --version --no-build repackaged binaries built as another version),
#      ARCA_TEST_S3S_FS (s3s-fs for s3-shared and cluster-s3; default: tests/lib/s3.sh, which builds it once
#      into the cache).
# Prints a summary table; exit 0 only if every selected scenario passed. Everything started (containers, HAProxy,
# client loops, databases, s3s-fs) is stopped and removed at exit, also on failure and Ctrl-C.
set -euo pipefail

E2E_DIR_="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ARCA_TEST_NAME=e2e
# shellcheck source=lib.sh
. "$E2E_DIR_/lib.sh"
# shellcheck source=../lib/central.sh
. "$ARCA_ROOT/tests/lib/central.sh"

ALL_SCENARIOS=(single ha config-sync failover upgrade s3-shared cluster-s3 session-cleanup)
ONLY=()
DEBS_SRC=""
NO_BUILD=0
E2E_SCENARIO_TIMEOUT=${E2E_SCENARIO_TIMEOUT:-420}
E2E_VERSION_CHECK=${E2E_VERSION_CHECK:-strict}
E2E_TOTAL_TIMEOUT=${E2E_TOTAL_TIMEOUT:-1500}
NODE_PORT=${E2E_NODE_PORT:-8081}

while (($#)); do
    case "$1" in
        --only)
            [[ $# -ge 2 ]] || arca_die "--only needs a scenario name"
            [[ " ${ALL_SCENARIOS[*]} " == *" $2 "* ]] || arca_die "unknown scenario '$2' (${ALL_SCENARIOS[*]})"
            ONLY+=("$2")
            shift
            ;;
        --debs)
            [[ $# -ge 2 ]] || arca_die "--debs needs a directory"
            DEBS_SRC=$(cd "$2" && pwd)
            shift
            ;;
        --no-build) NO_BUILD=1 ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
((${#ONLY[@]})) || ONLY=("${ALL_SCENARIOS[@]}")

RUN_START=$SECONDS
RESULTS_DIR=""
ARCA_VERSION=""  # Debian version of the packages under test
NEXT_VERSION=""  # the upgrade target

# ---------------------------------------------------------------------------------------------------------------
# helpers shared by the scenarios

# result KEY VALUE — a key number of the running scenario (shown in the summary)
result() {
    printf '%s=%s\n' "$1" "$2" >>"$RESULTS_DIR/$SCENARIO.kv"
    arca_log "$SCENARIO: $1=$2"
}

check() {
    local desc=$1
    shift
    if "$@" >/dev/null; then
        arca_log "$SCENARIO: ok: $desc"
    else
        arca_die "$SCENARIO: FAILED: $desc"
    fi
}

not_active() { ! e2e_node_exec "$1" systemctl is-active --quiet "${2:-arca-server}"; }
journal_has() { e2e_node_journal "$1" | grep -qF -- "$2"; }
# calc EXPR — floating point arithmetic (no bc on a minimal host)
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

node_addr() { printf '127.0.0.%s:%s\n' "$((10 + ${1#n}))" "$NODE_PORT"; }

host_port_free() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}

# lcurl ARGS… — curl as admin (ADMIN_PW)
lcurl() { curl -sS --max-time 60 -u "admin:$ADMIN_PW" "$@"; }

create_repo() {
    local base=$1 key=$2 code
    code=$(lcurl -o "$E2E_WORK/logs/repo-$key.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        --data '{"rclass":"local","packageType":"generic"}' "$base/api/repositories/$key") || true
    [[ "$code" == 200 || "$code" == 201 ]] ||
        arca_die "PUT $base/api/repositories/$key -> HTTP $code: $(cat "$E2E_WORK/logs/repo-$key.out" 2>/dev/null)"
}

# The HA cluster of docs/ha.md: three nodes n1 (primary), n2, n3 on 127.0.0.1{1,2,3}, one PostgreSQL database,
# /mnt/shared/data as the shared data dir, HAProxy in front. Every node needs a license (docs/licenses.md): before
# the primary's first start a throwaway issuer's .pub goes into every node's /etc/arca/security/license-issuers/ and
# one key per node into n1's /etc/arca/cluster.license (license_setup); arca-license-agent and arca-config-sync are
# enabled and started with arca-server on every node (start_node). Sets ADMIN_PW, LB (…/artifactory), NODES, LICENSE_HASHES.
# cluster_up [--binarystore FILE] [--no-shared] [--props TEXT] [--mover-log FILTER]:
#   --binarystore FILE  FILE becomes every node's /etc/arca/binarystore.xml before the servers' first start (as an
#                       operator writes it: secrets in plain text), and arca-storage-mover is enabled and started on
#                       every node once its server is up (docs/storage-mover.md)
#   --no-shared         no shared mount at all (the sharding templates, docs/ha.md §8a): no /mnt/shared in the
#                       containers, no arca.ha.data.dir (each node's data stays in /var/lib/arca/data), no drop-ins
#   --props TEXT        more lines for every node's system.properties
#   --mover-log FILTER  ARCA_LOG for arca-storage-mover (a drop-in, as docs/storage-mover.md says)
NODES=(n1 n2 n3)
LB=""
ADMIN_PW=""
CLUSTER_SHARED=1

cluster_up() {
    local db n addr specs=() pids=() key t0=$SECONDS binarystore="" unit props="" mover_log=""
    CLUSTER_SHARED=1
    while (($#)); do
        case "$1" in
            --binarystore)
                binarystore=$2
                [[ -s "$binarystore" ]] || arca_die "cluster_up: no binarystore.xml at $binarystore"
                shift
                ;;
            --no-shared) CLUSTER_SHARED=0 ;;
            --props)
                props=$2
                shift
                ;;
            --mover-log)
                mover_log=$2
                shift
                ;;
            *) arca_die "cluster_up: unknown option $1" ;;
        esac
        shift
    done
    for n in "${NODES[@]}"; do
        host_port_free "$(node_addr "$n" | cut -d: -f1)" "$NODE_PORT" ||
            arca_die "$(node_addr "$n") is taken on the host (a leftover node? something on 0.0.0.0:$NODE_PORT?)"
        specs+=("$n=$(node_addr "$n")")
    done
    e2e_pg_create_db db
    e2e_haproxy_start "${specs[@]}"
    LB=$E2E_LB_URL
    for n in "${NODES[@]}"; do
        if ((CLUSTER_SHARED)); then e2e_node_boot "$n"; else e2e_node_boot "$n" --no-shared; fi
    done
    # Before the install: the listen address, write access to the shared dir, and ha-node.properties, whose
    # presence tells the packages not to start a standalone node.
    for n in "${NODES[@]}"; do
        addr=$(node_addr "$n")
        printf '[Service]\nEnvironment=ARCA_LISTEN=%s\n' "$addr" |
            e2e_node_write "$n" /etc/systemd/system/arca-server.service.d/listen.conf 0644 root:root
        # Both services work in the shared data dir (the mover: an eventual queue there).
        if ((CLUSTER_SHARED)); then
            for unit in arca-server arca-storage-mover; do
                printf '[Unit]\nRequiresMountsFor=/mnt/shared\n[Service]\nReadWritePaths=/mnt/shared\n' |
                    e2e_node_write "$n" "/etc/systemd/system/$unit.service.d/shared.conf" 0644 root:root
            done
        fi
        if [[ -n "$mover_log" ]]; then
            printf '[Service]\nEnvironment=ARCA_LOG=%s\n' "$mover_log" |
                e2e_node_write "$n" /etc/systemd/system/arca-storage-mover.service.d/log.conf 0644 root:root
        fi
        ha_node_props "$n" | e2e_node_write "$n" /etc/arca/ha-node.properties 0644 root:root
    done
    for n in "${NODES[@]}"; do
        e2e_arca_install "$n" &
        pids+=($!)
    done
    for key in "${pids[@]}"; do
        wait "$key" || arca_die "installing the packages failed (see the messages above)"
    done
    for n in "${NODES[@]}"; do
        check "$n: arca-server not started by the install (ha-node.properties present)" not_active "$n"
        check "$n: arca-storage-mover not started by the install (ha-node.properties present)" \
            not_active "$n" arca-storage-mover
        check "$n: arca-config-sync not started by the install (ha-node.properties present)" \
            not_active "$n" arca-config-sync
        if [[ -n "$binarystore" ]]; then
            # Over the packaged conffile, group-readable by the services (the server seals the secrets in place).
            e2e_node_write "$n" /etc/arca/binarystore.xml 0640 root:arca <"$binarystore"
        fi
        ha_node_props "$n" | e2e_node_write "$n" /etc/arca/ha-node.properties 0640 arca:arca
        printf 'type=postgresql\nurl=postgresql://%s/%s\nusername=%s\npassword=%s\npool.max.active=20\npool.max.idle=4\npool.lock.max=4\n' \
            "$E2E_PG_HOSTPORT" "$db" "$E2E_PG_USER" "$E2E_PG_PASSWORD" |
            e2e_node_write "$n" /etc/arca/db.properties 0640 arca:arca
        # The shipped system.properties plus the cluster keys (identical on every node).
        {
            e2e_node_exec "$n" cat /etc/arca/system.properties 2>/dev/null || true
            printf '\n# e2e cluster settings\narca.url.base=%s\narca.shutdown.drain.delay.secs=3\n' "$LB"
            [[ -z "$props" ]] || printf '%s\n' "$props"
        } | e2e_node_write "$n" /etc/arca/system.properties 0640 root:arca
    done
    if ((CLUSTER_SHARED)); then
        # The shared dir is owned by arca: the same uid on every node (as with NFS, where uids must agree).
        key=$(for n in "${NODES[@]}"; do e2e_node_exec "$n" id -u arca; done | sort -u | paste -sd' ')
        [[ "$key" =~ ^[0-9]+$ ]] || arca_die "the arca user has different uids on the nodes ($key): /mnt/shared/data cannot be shared"
        e2e_node_exec n1 install -d -o arca -g arca -m 0750 /mnt/shared/data
    fi
    license_setup
    # The primary first; it creates the master key, which the others get a copy of.
    start_node n1
    key=$(e2e_node_exec n1 cat /etc/arca/security/master.key)
    [[ ${#key} -ge 32 ]] || arca_die "n1 has no master key at /etc/arca/security/master.key"
    for n in n2 n3; do
        e2e_node_exec "$n" install -d -o arca -g arca -m 0700 /etc/arca/security
        printf '%s\n' "$key" | e2e_node_write "$n" /etc/arca/security/master.key 0600 arca:arca
        start_node "$n"
    done
    if [[ -n "$binarystore" ]]; then
        for n in "${NODES[@]}"; do
            start_mover "$n"
        done
    fi
    ADMIN_PW=$(e2e_arca_admin_pw n1)
    for n in "${NODES[@]}"; do
        arca_wait_for 15 "HAProxy to see $n UP" lb_is_up "$n" || arca_die "HAProxy does not see $n UP"
    done
    arca_log "cluster up in $((SECONDS - t0)) s: $LB"
}

# (arca.ha.data.dir only with the shared mount: without it the data dir is the node's own <home>/data)
ha_node_props() {
    local n=$1 primary=false
    [[ "$n" == n1 ]] && primary=true
    printf 'node.id=%s\ncontext.url=http://%s/artifactory\nmembership.port=0\nprimary=%s\n' \
        "$n" "$(node_addr "$n")" "$primary"
    if ((CLUSTER_SHARED)); then printf 'arca.ha.data.dir=/mnt/shared/data\n'; fi
}

# A throwaway license issuer for this cluster (arcactl license issuer-new|issue, docs/licenses.md): its public key is
# trusted on every node (root:arca 0640 in /etc/arca/security/license-issuers/), one key per node goes into the
# primary's /etc/arca/cluster.license (root:arca 0640), which its first start puts into the empty pool. Only the
# public key goes onto the nodes. Sets LICENSE_HASHES (the keys' license hashes, sorted, space-separated).
LICENSE_HASHES=""
license_setup() {
    local dir=$E2E_WORK/licenses-${SCENARIO:-cluster} arcactl n
    arcactl=$(e2e_arcactl)
    rm -rf -- "$dir"
    mkdir -p "$dir"
    "$arcactl" license issuer-new --out "$dir/issuer.key" >"$dir/issuer-new.out" 2>&1 ||
        arca_die "arcactl license issuer-new failed: $(cat "$dir/issuer-new.out")"
    "$arcactl" license issue --issuer-key "$dir/issuer.key" --to "arca e2e" \
        --valid-through "$(date -u -d '+1 year' +%F)" --count "${#NODES[@]}" >"$dir/cluster.license" 2>"$dir/issue.err" ||
        arca_die "arcactl license issue failed: $(cat "$dir/issue.err")"
    [[ "$(grep -c '^arca-lic-v1\.' "$dir/cluster.license")" == "${#NODES[@]}" ]] ||
        arca_die "arcactl license issue did not print ${#NODES[@]} keys ($dir/cluster.license)"
    # The license hash: SHA-256 (hex) of the key as given.
    LICENSE_HASHES=$(while read -r key; do printf '%s' "$key" | sha256sum | cut -d' ' -f1; done <"$dir/cluster.license" |
        sort | paste -sd' ')
    for n in "${NODES[@]}"; do
        # security/ as the server creates it (arca, 0700), so that n1's first start can write its master key there
        e2e_node_exec "$n" install -d -o arca -g arca -m 0700 /etc/arca/security
        e2e_node_exec "$n" install -d -o root -g arca -m 0750 /etc/arca/security/license-issuers
        e2e_node_write "$n" /etc/arca/security/license-issuers/e2e.pub 0640 root:arca <"$dir/issuer.key.pub"
    done
    e2e_node_write n1 /etc/arca/cluster.license 0640 root:arca <"$dir/cluster.license"
    arca_log "licenses: issuer $(sed -n 's/^issuer //p' "$dir/issuer-new.out" | head -1) trusted on ${NODES[*]}; ${#NODES[@]} keys in n1:/etc/arca/cluster.license"
}

# start_node NODE — arca-server, arca-license-agent and arca-config-sync enabled and started (the agent claims the
# node's license once the server has registered it; an unlicensed cluster node is not ready; the config sync mirrors
# the cluster's shared config files, docs/config-sync.md), then readiness 200
start_node() {
    local n=$1
    e2e_node_exec "$n" systemctl enable --now arca-server arca-license-agent arca-config-sync >/dev/null 2>&1 || {
        e2e_arca_diag "$n"
        arca_die "systemctl enable --now arca-server arca-license-agent arca-config-sync failed on $n"
    }
    e2e_arca_wait_ready "$(node_addr "$n")" 60 || {
        e2e_arca_diag "$n"
        arca_die "$n is not ready"
    }
}

start_mover() {
    local n=$1
    e2e_node_exec "$n" systemctl enable --now arca-storage-mover >/dev/null 2>&1 || {
        e2e_node_exec "$n" systemctl status --no-pager -n 0 arca-storage-mover >&2 || true
        e2e_node_journal "$n" arca-storage-mover | tail -30 >&2 || true
        arca_die "systemctl enable --now arca-storage-mover failed on $n"
    }
}

lb_is_up() { [[ "$(e2e_haproxy_status "$1")" == UP ]]; }
lb_is_down() { [[ "$(e2e_haproxy_status "$1")" == DOWN* ]]; }

# client_start NAME ARGS… — the load loop in the background; CLIENT_DIR, CLIENT_PID, CLIENT_STOP
client_start() {
    local name=$1
    shift
    CLIENT_DIR=$E2E_WORK/client-$name
    CLIENT_STOP=$CLIENT_DIR/stop
    mkdir -p "$CLIENT_DIR"
    setsid python3 "$E2E_DIR_/client.py" run --url "$LB" --repo "$1" --password "$ADMIN_PW" --out "$CLIENT_DIR" \
        --stop-file "$CLIENT_STOP" "${@:2}" </dev/null >"$CLIENT_DIR/stdout" 2>"$CLIENT_DIR/stderr" &
    CLIENT_PID=$!
    e2e_track_pid "$CLIENT_PID" 40
    arca_wait_for 10 "the client's first requests" client_has_requests 10 || arca_die "the client loop makes no requests"
}

client_progress() { cat "$CLIENT_DIR/progress" 2>/dev/null || echo "0 0"; }
client_has_requests() { local n _f; read -r n _f < <(client_progress); ((n >= $1)); }

client_stop() {
    touch "$CLIENT_STOP"
    wait "$CLIENT_PID" || arca_die "the client loop failed: $(tail -5 "$CLIENT_DIR/stderr")"
}

# analyze [ARGS…] — client.py analyze on CLIENT_DIR (JSON)
analyze() { python3 "$E2E_DIR_/client.py" analyze --out "$CLIENT_DIR" "$@"; }

show_failures() {
    python3 -c '
import json, sys
s = json.load(sys.stdin)
for f in s.get("failures", [])[:10]:
    print("   failed %(op)s on %(node)s at %(t_end).3f: %(error)s" % f)' >&2
}

# ---------------------------------------------------------------------------------------------------------------
# scenarios

scenario_single() {
    local addr url sha_in sha_out code f t0
    e2e_node_boot s1
    addr=127.0.0.1:$NODE_PORT
    if ! host_port_free 0.0.0.0 "$NODE_PORT"; then
        # Something on the host already uses the port (the containers share its network): use a drop-in.
        addr=127.0.0.10:$NODE_PORT
        arca_warn "port $NODE_PORT is taken on the host; s1 listens on $addr (listen drop-in)"
        printf '[Service]\nEnvironment=ARCA_LISTEN=%s\n' "$addr" |
            e2e_node_write s1 /etc/systemd/system/arca-server.service.d/listen.conf 0644 root:root
    fi
    url=http://$addr/artifactory
    t0=$SECONDS
    e2e_arca_install s1
    result install_s "$((SECONDS - t0))"
    check "arca-server is active right after the install" e2e_node_exec s1 systemctl is-active --quiet arca-server
    check "arca-server is enabled" e2e_node_exec s1 systemctl is-enabled --quiet arca-server
    check "arca-license-agent is enabled" e2e_node_exec s1 systemctl is-enabled --quiet arca-license-agent
    check "arca-license-agent is active (a single node needs no license: it idles)" \
        e2e_node_exec s1 systemctl is-active --quiet arca-license-agent
    check "arca-config-sync is enabled" e2e_node_exec s1 systemctl is-enabled --quiet arca-config-sync
    check "arca-config-sync is active (a single node shares nothing: it idles)" \
        e2e_node_exec s1 systemctl is-active --quiet arca-config-sync
    e2e_arca_wait_ready "$addr" 30 || {
        e2e_arca_diag s1
        arca_die "s1 is not ready at $url"
    }
    check "arca user exists" e2e_node_exec s1 id arca
    check "/var/lib/arca/etc -> /etc/arca" test "$(e2e_node_exec s1 readlink /var/lib/arca/etc)" = /etc/arca
    check "arcactl on PATH" e2e_node_exec s1 arcactl --version
    ADMIN_PW=$(e2e_arca_admin_pw s1)
    create_repo "$url" generic-local
    f=$E2E_WORK/single-artifact.bin
    head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$f"
    sha_in=$(sha256sum "$f" | cut -d' ' -f1)
    code=$(lcurl -o "$E2E_WORK/logs/single-deploy.out" -w '%{http_code}' -T "$f" \
        "$url/generic-local/e2e/single/artifact.bin") || true
    check "deploy answers 201 (got $code)" test "$code" = 201
    sha_out=$(lcurl -f "$url/generic-local/e2e/single/artifact.bin" | sha256sum | cut -d' ' -f1)
    check "resolved sha256 equals the deployed one" test "$sha_in" = "$sha_out"
    check "journalctl -u arca-server shows 'HA Node ID'" journal_has s1 "HA Node ID"
    result banner "$(e2e_node_journal s1 | grep -o "HA Node ID: [^;]*" | head -1)"
    e2e_node_stop s1
}

scenario_ha() {
    local n nodes sha_in sha_out f code hdr
    cluster_up
    nodes=$(lcurl -f "$LB/api/system/ha/nodes") || arca_die "GET $LB/api/system/ha/nodes failed"
    printf '%s\n' "$nodes" >"$E2E_WORK/logs/ha-nodes.json"
    python3 - "$nodes" <<'EOF' || arca_die "ha: the node table is not three RUNNING nodes with one PRIMARY: $nodes"
import json, sys
d = json.loads(sys.argv[1])
nodes = d if isinstance(d, list) else d.get("nodes", d)
ids = sorted(n["id"] for n in nodes)
running = [n for n in nodes if n["state"] == "RUNNING"]
primaries = [n for n in nodes if n["role"] == "PRIMARY"]
print(f"[e2e] nodes: " + ", ".join(f'{n["id"]} {n["state"]} {n["role"]} {n["url"]}' for n in nodes), file=sys.stderr)
assert ids == ["n1", "n2", "n3"], ids
assert len(running) == 3, running
assert [p["id"] for p in primaries] == ["n1"], primaries
EOF
    arca_log "ha: ok: /api/system/ha/nodes lists n1 n2 n3 RUNNING, n1 the only PRIMARY"
    result nodes "3 RUNNING/1 PRIMARY"
    for n in "${NODES[@]}"; do
        check "$n: journal has HA Node ID: '$n'" journal_has "$n" "HA Node ID: '$n'"
        # structured fields: the banner is found by the node id field alone
        check "$n: journalctl ARCA_NODE_ID=$n finds the banner" \
            e2e_node_exec "$n" sh -c "journalctl ARCA_NODE_ID=$n -o cat --no-pager | grep -qF \"HA Node ID: '$n'\""
        check "$n: db.properties password encrypted on first start (by prepare-config)" \
            e2e_node_exec "$n" grep -q '^password=enc:v1:' /etc/arca/db.properties
        # The running server sees /etc/arca read-only but for security/ (issue 14).
        check "$n: arca-server cannot write /etc/arca, only /etc/arca/security" \
            e2e_node_exec "$n" sh -ec 'p=$(systemctl show -P MainPID arca-server); test "$p" -gt 0
                nsenter -t "$p" -m sh -ec "if touch /etc/arca/.probe 2>/dev/null; then exit 1; fi
                    touch /etc/arca/security/.probe; rm /etc/arca/security/.probe"'
    done
    # The guide's "Testing Your HA Configuration", as the operator runs it (as root, like the docs).
    if e2e_node_exec n2 arcactl ha check --home "$E2E_HOME" --lb "$LB" >"$E2E_WORK/logs/ha-check.out" 2>&1; then
        arca_log "ha: ok: arcactl ha check --lb $LB: $(grep -c '^OK' "$E2E_WORK/logs/ha-check.out") items OK"
        result ha_check "$(grep -c '^OK' "$E2E_WORK/logs/ha-check.out") OK"
    else
        cat "$E2E_WORK/logs/ha-check.out" >&2
        arca_die "ha: arcactl ha check on n2 failed (output above)"
    fi
    create_repo "$LB" ha-local
    f=$E2E_WORK/ha-artifact.bin
    head -c $((1024 * 1024 + 3)) /dev/urandom >"$f"
    sha_in=$(sha256sum "$f" | cut -d' ' -f1)
    code=$(lcurl -o "$E2E_WORK/logs/ha-deploy.out" -w '%{http_code}' -T "$f" "$LB/ha-local/e2e/ha/artifact.bin") || true
    check "deploy through HAProxy answers 201 (got $code)" test "$code" = 201
    check "deploy's downloadUri uses arca.url.base" grep -q "$LB/ha-local/e2e/ha/artifact.bin" "$E2E_WORK/logs/ha-deploy.out"
    for n in "${NODES[@]}"; do
        hdr=$E2E_WORK/logs/ha-resolve-$n.hdr
        sha_out=$(lcurl -f -D "$hdr" "http://$(node_addr "$n")/artifactory/ha-local/e2e/ha/artifact.bin" |
            sha256sum | cut -d' ' -f1)
        check "$n resolves the artifact with the same sha256" test "$sha_in" = "$sha_out"
        check "$n answers with X-Arca-Node-Id: $n" grep -qi "^x-arca-node-id: $n"$'\r'"\?$" "$hdr"
    done
    result sha256 "${sha_in:0:12}… on 3 nodes"
    # UI sessions (docs/sessions.md, default provider db): logged in once through HAProxy, the cookie works on
    # whichever node round-robin picks (no sticky sessions needed).
    local jar=$E2E_WORK/ha-session.jar i sess_nodes=() distinct sid
    code=$(curl -sS --max-time 60 -c "$jar" -o "$E2E_WORK/logs/ha-login.out" -w '%{http_code}' \
        --data-urlencode user=admin --data-urlencode "password=$ADMIN_PW" "$LB/ui/auth/login") || true
    check "login through HAProxy answers 200 (got $code)" test "$code" = 200
    check "the login set the ARCA_SESSION cookie" grep -q ARCA_SESSION "$jar"
    sid=$(awk '$6 == "ARCA_SESSION" {print $7}' "$jar")
    for i in 1 2 3 4 5 6 7 8 9; do
        hdr=$E2E_WORK/logs/ha-session-$i.hdr
        code=$(curl -sS --max-time 60 -b "$jar" -D "$hdr" -o "$E2E_WORK/logs/ha-session-$i.out" -w '%{http_code}' \
            "$LB/ui/auth/current") || true
        check "session request $i through HAProxy answers 200 (got $code)" test "$code" = 200
        sess_nodes+=("$(tr -d '\r' <"$hdr" | awk 'tolower($1) == "x-arca-node-id:" {print $2}')")
    done
    distinct=$(printf '%s\n' "${sess_nodes[@]}" | sort -u | grep -c .)
    arca_log "ha: session requests served by: ${sess_nodes[*]}"
    check "the session works on at least 2 nodes (got $distinct: ${sess_nodes[*]})" test "$distinct" -ge 2
    code=$(curl -sS --max-time 60 -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' -X POST "$LB/ui/auth/logout") || true
    check "logout through HAProxy answers 200 (got $code)" test "$code" = 200
    code=$(curl -sS --max-time 60 -b "ARCA_SESSION=$sid" -o /dev/null -w '%{http_code}' "$LB/ui/auth/current") || true
    check "the session ended by the logout is refused (401, got $code)" test "$code" = 401
    result session "9/9 x 200 on $distinct nodes"
    ha_licenses "$f"
    ha_ui
}

# The web UI on the cluster (docs/ui.md), in headless Chromium on the host (tests/ui/cluster_test.py): the HA
# guide's "Testing Your HA Configuration" (each node's own UI: "HA Node ID" in System Logs, the Enterprise license at
# the bottom, no error banner; through HAProxy: the High Availability table of the three nodes, the Custom URL Base
# = HAProxy's URL), a batch of two new keys added on the Licenses page and one deleted, then the node that made the
# browser's session killed (SIGKILL, not restarted): shown Unavailable within the stale period while the session
# keeps working through the other nodes; the node is started again afterwards.
ha_ui() {
    local dir=$E2E_WORK/ui n nodes="" out
    # shellcheck source-path=SCRIPTDIR source=../lib/ui.sh
    . "$ARCA_ROOT/tests/lib/ui.sh"
    arca_ui_prepare || arca_die "ha: the browser test's tools could not be installed (tests/lib/ui.sh)"
    mkdir -p "$dir/shots"
    "$(e2e_arcactl)" license issue --issuer-key "$E2E_WORK/licenses-${SCENARIO:-cluster}/issuer.key" --to "arca e2e batch" \
        --valid-through "$(date -u -d '+2 years' +%F)" --count 2 >"$dir/new.license" 2>"$dir/issue.err" ||
        arca_die "arcactl license issue failed: $(cat "$dir/issue.err")"
    for n in "${NODES[@]}"; do
        nodes+="$n=$(node_url "$n") "
        printf '%s\n' "${E2E_INIT_PID[$n]}" >"$dir/$n.pid"
    done
    # a node killed for good: SIGKILL, then stop before the unit's RestartSec=2 brings it back
    out=$(LB_URL="$LB" NODES="$nodes" ARCA_ADMIN_PW="$ADMIN_PW" NEW_LICENSES="$dir/new.license" \
        KILL_CMD="nsenter -t \$(cat $dir/{node}.pid) -a -- env -i PATH=$E2E_CONTAINER_PATH sh -c 'systemctl kill -s KILL arca-server; systemctl stop arca-server'" \
        START_CMD="nsenter -t \$(cat $dir/{node}.pid) -a -- env -i PATH=$E2E_CONTAINER_PATH sh -c 'systemctl reset-failed arca-server; systemctl start arca-server'" \
        STALE_SECS=30 SHOTS="${ARCA_UI_SCREENSHOTS:-$dir/shots}" AXE_JS="$ARCA_UI_AXE_JS" \
        timeout 300 "$ARCA_UI_PYTHON" "$ARCA_ROOT/tests/ui/cluster_test.py" 2>&1) || {
        # the steps that passed and the error, without the browser's native stack frames
        printf '%s\n' "$out" | grep -vE '^#[0-9]+ 0x' | tail -n 60 >&2
        arca_die "ha: the browser test on the cluster failed (output above)"
    }
    printf '%s\n' "$out" | sed 's/^/[e2e] ui: /' >&2
    result ui "$(grep -c '^ok' <<<"$out") browser checks"
    for n in "${NODES[@]}"; do
        e2e_arca_wait_ready "$(node_addr "$n")" 60 || arca_die "ha: $n is not ready again after the browser test"
    done
}

# --- license helpers (docs/licenses.md) ---

# license_table — "hash nodeId" lines of GET /api/system/licenses through HAProxy (admin), sorted by hash; "Not in use"
# as Not_in_use
license_table() {
    lcurl -f "$LB/api/system/licenses" | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d if isinstance(d, list) else d.get("licenses", [])
for x in sorted(rows, key=lambda x: x["licenseHash"]):
    print(x["licenseHash"], str(x["nodeId"]).replace(" ", "_"))'
}
# licenses_are HOLDERS — the pool holds exactly the cluster.license keys, and their holders (sorted, C order) are HOLDERS
licenses_are() {
    local t
    t=$(license_table) || return 1
    [[ "$(awk '{print $1}' <<<"$t" | paste -sd' ')" == "$LICENSE_HASHES" ]] &&
        [[ "$(awk '{print $2}' <<<"$t" | LC_ALL=C sort | paste -sd' ')" == "$1" ]]
}
license_of() { license_table | awk -v n="$1" '$2 == n {print $1}'; }
license_free() { license_table | grep -qx "$1 Not_in_use"; }
# http_code_body URL FILE — curl as admin; the body into FILE, the status on stdout
http_code_body() { lcurl -o "$2" -w '%{http_code}' "$1" 2>/dev/null || true; }
readiness_is() { [[ "$(http_code_body "$(node_url "$1")/api/v1/system/readiness" "$E2E_WORK/logs/readiness-$1.out")" == "$2" ]]; }
unlicensed_readiness() { readiness_is "$1" 503 && grep -qiE 'unlicensed|no license' "$E2E_WORK/logs/readiness-$1.out"; }
agent_status() { e2e_node_exec "$1" systemctl show -p StatusText --value arca-license-agent; }
status_shows() { [[ "$(agent_status "$1")" == *"${2:0:8}"* ]]; }
# journal_release NODE HASH — the agent's journal has a line about releasing (giving back) the license HASH (by its
# first 8 hex digits, however much of it the line shows)
journal_release() {
    e2e_node_journal "$1" arca-license-agent | grep -iE 'releas|gave back|returned' | grep -F -- "${2:0:8}" >/dev/null
}

# The cluster's licenses (after the ha checks above; ARTIFACT was deployed as ha-local/e2e/ha/artifact.bin):
# (a) the three keys of n1's cluster.license are in the pool and held by n1, n2, n3; (b) `systemctl stop
# arca-license-agent` on n3 gives its license back: within 5 s it is "Not in use", n3's readiness and a direct request
# to n3 answer 503 (no license), requests through HAProxy keep succeeding, the agent's journal shows the release;
# (c) `systemctl start arca-license-agent`: n3 is licensed and ready again within 5 s.
ha_licenses() {
    local artifact=$1 sha_in n h t0 code i ok=0 loop_pid codes=$E2E_WORK/logs/ha-license-lb-codes.txt
    local url=ha-local/e2e/ha/artifact.bin victim=n3
    sha_in=$(sha256sum "$artifact" | cut -d' ' -f1)
    # (a)
    poll 10 "the pool to hold the 3 keys of cluster.license, held by n1 n2 n3" licenses_are "n1 n2 n3" || {
        license_table >&2 || true
        arca_die "ha: the licenses of cluster.license are not held by n1, n2 and n3 (expected hashes $LICENSE_HASHES)"
    }
    license_table >"$E2E_WORK/logs/ha-licenses.txt"
    arca_log "ha: ok: /api/system/licenses: the 3 keys of cluster.license held by n1, n2, n3"
    result licenses "3 held(n1,n2,n3)"
    for n in "${NODES[@]}"; do
        check "$n: arca-license-agent enabled" e2e_node_exec "$n" systemctl is-enabled --quiet arca-license-agent
        check "$n: arca-license-agent active" e2e_node_exec "$n" systemctl is-active --quiet arca-license-agent
        h=$(license_of "$n")
        check "$n: the agent's STATUS= shows its license ${h:0:8}… ('$(agent_status "$n")')" status_shows "$n" "$h"
    done

    # (b) the agent of n3 stopped: its license goes back to the pool
    h=$(license_of "$victim")
    [[ -n "$h" ]] || arca_die "ha: $victim holds no license"
    # a request loop through HAProxy while this happens (its 503s, if any, are counted, not failed: until HAProxy's
    # health check takes the node out, a request routed there meets the unlicensed node)
    : >"$codes"
    (
        while [[ ! -e "$codes.stop" ]]; do
            curl -s --max-time 10 -u "admin:$ADMIN_PW" -o /dev/null -w '%{http_code}\n' "$LB/$url" >>"$codes" || echo 000 >>"$codes"
            sleep 0.05
        done
    ) &
    loop_pid=$!
    e2e_track_pid "$loop_pid" 5
    sleep 1
    t0=$(e2e_now)
    e2e_node_exec "$victim" systemctl stop arca-license-agent
    result agent_stop_s "$(calc "$(e2e_now) - $t0")"
    poll 5 "$victim's license ${h:0:12}… to be Not in use" license_free "$h" || {
        license_table >&2 || true
        arca_die "ha: $victim's license ${h:0:12}… is not 'Not in use' within 5 s of systemctl stop arca-license-agent"
    }
    check "the other two licenses are still held by n1 and n2" licenses_are "Not_in_use n1 n2"
    poll 5 "$victim's readiness to answer 503 (unlicensed)" unlicensed_readiness "$victim" || {
        cat "$E2E_WORK/logs/readiness-$victim.out" >&2 || true
        arca_die "ha: $victim's readiness is not 503 'unlicensed/no license' within 5 s of stopping its agent"
    }
    result unlicensed_after_s "$(calc "$(e2e_now) - $t0")"
    arca_log "ha: ok: $victim's readiness: 503 $(head -c 200 "$E2E_WORK/logs/readiness-$victim.out")"
    code=$(http_code_body "$(node_url "$victim")/$url" "$E2E_WORK/logs/ha-unlicensed-get.out")
    check "a GET on $victim directly answers 503 (got $code)" test "$code" = 503
    check "... with 'no license available in the cluster pool'" \
        grep -qF "no license available in the cluster pool" "$E2E_WORK/logs/ha-unlicensed-get.out"
    arca_wait_for 10 "HAProxy to mark $victim DOWN" lb_is_down "$victim" || arca_die "ha: HAProxy did not take unlicensed $victim out"
    for ((i = 0; i < 20; i++)); do
        [[ "$(lcurl -f "$LB/$url" | sha256sum | cut -d' ' -f1)" == "$sha_in" ]] && ok=$((ok + 1))
    done
    check "20 GETs through HAProxy with $victim unlicensed: $ok answered 200 with the right sha256" test "$ok" = 20
    journal_release "$victim" "$h" || {
        e2e_node_journal "$victim" arca-license-agent | tail -20 >&2
        arca_die "ha: journalctl -u arca-license-agent on $victim does not show the release of its license"
    }
    arca_log "ha: ok: journalctl -u arca-license-agent on $victim: $(e2e_node_journal "$victim" arca-license-agent | grep -iE 'releas|gave back|returned' | tail -1)"
    check "$victim: the agent stopped cleanly (inactive, not failed)" \
        test "$(e2e_node_exec "$victim" systemctl is-active arca-license-agent || true)" = inactive

    # (c) started again: licensed and ready within 5 s
    t0=$(e2e_now)
    e2e_node_exec "$victim" systemctl start arca-license-agent
    poll 5 "$victim's readiness to answer 200 again" readiness_is "$victim" 200 || {
        e2e_node_journal "$victim" arca-license-agent | tail -20 >&2
        arca_die "ha: $victim is not ready within 5 s of systemctl start arca-license-agent"
    }
    result relicensed_s "$(calc "$(e2e_now) - $t0")"
    check "the 3 licenses are held by n1 n2 n3 again" licenses_are "n1 n2 n3"
    arca_wait_for 10 "HAProxy to see $victim UP again" lb_is_up "$victim" || arca_die "ha: HAProxy does not see $victim UP again"
    touch "$codes.stop"
    wait "$loop_pid" 2>/dev/null || true
    result lb_requests_during_stop "$(wc -l <"$codes") ($(sort "$codes" | uniq -c | awk '{printf "%s%s:%s", sep, $2, $1; sep=","}'))"

    # (d) remote and virtual repositories on the cluster (docs/repositories.md)
    ha_remote_repositories
}

# One upstream fetch for the whole cluster: 100 concurrent cold GETs of a 64 MiB artifact of a remote repository
# (nginx on the host as its upstream), spread over the three nodes directly, make exactly one GET in nginx's
# access log and 100 identical sha256; then tests/clients/maven-proxy.sh through HAProxy (Maven mirrors * to a
# virtual repository of a local one and a remote of nginx's maven-repo; a fresh build and deploy, then a build from
# the cluster's cache with nginx stopped).
ha_remote_repositories() {
    local big=extra/big/1.0/big-1.0.jar want i n out code hits same pass getters
    central_start "$E2E_WORK/central"
    mkdir -p "$CENTRAL_EXTRA/big/1.0"
    head -c $((64 * 1024 * 1024)) /dev/urandom >"$CENTRAL_EXTRA/big/1.0/big-1.0.jar"
    want=$(sha256sum "$CENTRAL_EXTRA/big/1.0/big-1.0.jar" | cut -d' ' -f1)
    code=$(lcurl -o "$E2E_WORK/logs/repo-central-ha.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        --data "{\"rclass\":\"remote\",\"packageType\":\"maven\",\"url\":\"$CENTRAL_URL\"}" \
        "$LB/api/repositories/central-ha") || true
    check "the remote repository central-ha is created through HAProxy (HTTP $code)" test "$code" = 200
    out=$E2E_WORK/logs/cold-gets
    mkdir -p "$out"
    getters=()
    for ((i = 0; i < 100; i++)); do
        n=${NODES[i % 3]}
        (curl -sS --max-time 300 -u "admin:$ADMIN_PW" "$(node_url "$n")/central-ha/$big" | sha256sum |
            cut -d' ' -f1 >"$out/$i.sha256") &
        getters+=($!)
    done
    # (not a bare `wait`: nginx is a background job of this shell too)
    wait "${getters[@]}"
    same=$(cat "$out"/*.sha256 | grep -cx "$want" || true)
    hits=$(central_hits "$big")
    result cold_gets_same_sha256 "$same/100"
    result cold_gets_upstream_requests "$hits"
    check "100 concurrent cold GETs over n1 n2 n3: $same answered the upstream's sha256" test "$same" = 100
    check "... and nginx served the artifact once ($hits GETs in its access log)" test "$hits" = 1
    central_stop
    pass=$(ARCA_EXTERNAL_URL=$LB ARCA_EXTERNAL_ADMIN_PW=$ADMIN_PW ARCA_TEST_TMP=$E2E_WORK \
        bash "$ARCA_ROOT/tests/clients/maven-proxy.sh" 2>"$E2E_WORK/logs/maven-proxy.err") || {
        tail -n 30 "$E2E_WORK/logs/maven-proxy.err" >&2
        arca_die "ha: Maven through HAProxy: $pass"
    }
    arca_log "ha: ok: Maven through HAProxy: $pass"
    result maven_through_haproxy "${pass#PASS maven-proxy }"
}

# --- config-sync helpers (docs/config-sync.md) ---

CS_ETC=/etc/arca
# node_sha NODE FILE — sha256 of NODE's /etc/arca/FILE
node_sha() { e2e_node_exec "$1" sha256sum "$CS_ETC/$2" | cut -d' ' -f1; }
# shas_are FILE SHA NODE… — FILE has SHA on every NODE
shas_are() {
    local f=$1 want=$2 n
    shift 2
    for n in "$@"; do [[ "$(node_sha "$n" "$f" 2>/dev/null)" == "$want" ]] || return 1; done
}
# node_stat NODE FILE — "mode owner group" as ls shows them (-rw-r--r-- root root)
node_stat() { e2e_node_exec "$1" stat -c '%A %U %G' "$CS_ETC/$2"; }
sync_journal_has() { unit_journal_has "$1" arca-config-sync "$2"; }
# config_status NODE — arcactl config status on NODE (as root, the packaged home); output in the logs, its exit status
config_status() {
    e2e_node_exec "$1" arcactl config status --home "$E2E_HOME" >"$E2E_WORK/logs/config-status-$1.out" 2>&1
}
config_status_ok() { config_status "$1"; }
config_status_rejected() {
    ! config_status "$1" && grep -q REJECTED "$E2E_WORK/logs/config-status-$1.out"
}
config_status_lost() {
    ! config_status "$1" && grep -q "LOCAL EDIT LOST" "$E2E_WORK/logs/config-status-$1.out"
}
# restart_required NODE — the restartRequired list of NODE in GET /api/system/ha/nodes (comma-separated)
restart_required() {
    lcurl -f "$LB/api/system/ha/nodes" | python3 -c '
import json, sys
d = json.load(sys.stdin)
nodes = d if isinstance(d, list) else d.get("nodes", d)
print(",".join(next(n for n in nodes if n["id"] == sys.argv[1])["restartRequired"]))' "$1"
}
restart_required_is() { [[ "$(restart_required "$1")" == "$2" ]]; }
# url_base_applied NODE URL — NODE's server uses URL as arca.url.base (GET /api/system/configuration/baseUrl)
url_base_applied() {
    lcurl -f "http://$(node_addr "$1")/artifactory/api/system/configuration/baseUrl" |
        python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["appliedUrlBase"] != sys.argv[1])' "$2"
}
# cs_wait LIMIT DESC CMD… — CMD within LIMIT seconds (0.1 s period); the time it took in CS_ELAPSED; dies otherwise
CS_ELAPSED=""
cs_wait() {
    local limit=$1 desc=$2 t0
    shift 2
    t0=$(e2e_now)
    arca_wait_for "$limit" "$desc" "$@" || arca_die "$SCENARIO: FAILED: $desc (not within $limit s)"
    CS_ELAPSED=$(calc "$(e2e_now) - $t0")
    arca_log "$SCENARIO: ok: $desc (${CS_ELAPSED} s)"
}

# The shared config files of a cluster (docs/config-sync.md), arca-config-sync on every node (start_node):
# binarystore.xml keeps the packaged owner and mode (root:root 0644), system.properties is root:arca 0640 (cluster_up).
scenario_config_sync() {
    local n sha good bad pkg_mode sp_mode owner other t0 code xml=binarystore.xml sp=system.properties
    local ub=http://url-base.e2e.example/artifactory ub_out=$E2E_WORK/logs/url-base-put.out
    cluster_up
    for n in "${NODES[@]}"; do
        check "$n: arca-config-sync active" e2e_node_exec "$n" systemctl is-active --quiet arca-config-sync
    done
    check "n1's arca-config-sync owns the config (journal)" sync_journal_has n1 "this node owns the cluster's config"
    # The packaged owner and mode of binarystore.xml (the conffile in arca-common), as ls shows them.
    pkg_mode=$(dpkg-deb -c "$(find "$E2E_DEBS" -maxdepth 1 -name 'arca-common_*_amd64.deb' | head -n 1)" |
        awk '$6 == "./etc/arca/binarystore.xml" {sub("/", " ", $2); print $1, $2}')
    [[ -n "$pkg_mode" ]] || arca_die "$SCENARIO: no etc/arca/binarystore.xml in the arca-common package"
    sp_mode=$(node_stat n2 "$sp")
    result packaged_mode "'$pkg_mode'"
    cs_wait 20 "arcactl config status on n2 exits 0 (the cluster starts in sync)" config_status_ok n2

    # 1. an XML comment appended on the primary reaches both members within 5 s, byte for byte
    t0=$(e2e_now)
    e2e_node_exec n1 sh -c "printf '<!-- e2e config-sync: edited on the primary -->\n' >>$CS_ETC/$xml"
    sha=$(node_sha n1 "$xml")
    cs_wait 5 "n1's edited $xml (sha256 ${sha:0:12}) on n2 and n3" shas_are "$xml" "$sha" n2 n3
    result propagate_s "$(calc "$(e2e_now) - $t0")"
    good=$sha
    e2e_node_exec n1 cat "$CS_ETC/$xml" >"$E2E_WORK/logs/config-sync-good.xml"

    # 2. a member's copy with other content and an mtime in the future, written while its sync is stopped, is
    #    replaced by the cluster's copy when the sync starts (timestamps are ignored)
    e2e_node_exec n2 systemctl stop arca-config-sync
    e2e_node_exec n2 sh -c "printf '<!-- e2e: local change on n2 -->\n' >>$CS_ETC/$xml &&
        touch -d @\$((\$(date +%s) + 3600)) $CS_ETC/$xml"
    check "n2's $xml differs from n1's" test "$(node_sha n2 "$xml")" != "$good"
    check "n2's $xml is dated in the future (mtime > now + 30 min)" \
        test "$(e2e_node_exec n2 find "$CS_ETC/$xml" -newermt '+30 min')" = "$CS_ETC/$xml"
    result n2_mtime "$(e2e_node_exec n2 date -r "$CS_ETC/$xml" +%FT%TZ -u)"
    e2e_node_exec n2 systemctl start arca-config-sync
    cs_wait 10 "n2's future-dated $xml replaced by n1's when arca-config-sync starts" shas_are "$xml" "$good" n2
    result future_mtime_replaced_s "$CS_ELAPSED"
    # ...and the change, a local edit on a node that does not own the config, is never dropped silently: kept
    # as .conflict, in the journal and in arcactl config status (exit 1) until the operator removes it
    check "n2 kept its local change as $xml.conflict" \
        e2e_node_exec n2 grep -qF "local change on n2" "$CS_ETC/$xml.conflict"
    check "n2: journalctl -u arca-config-sync shows LOCAL EDIT LOST" sync_journal_has n2 "LOCAL EDIT LOST: $xml"
    cs_wait 10 "arcactl config status on n2 exits 1 and shows LOCAL EDIT LOST" config_status_lost n2
    e2e_node_exec n2 rm "$CS_ETC/$xml.conflict"

    # 3. a local edit on a member while its sync runs is put back (and kept as .conflict)
    e2e_node_exec n3 sh -c "printf '<!-- e2e: local edit on n3 -->\n' >>$CS_ETC/$xml"
    cs_wait 5 "n3's local edit of $xml put back" shas_are "$xml" "$good" n3
    result local_edit_reverted_s "$CS_ELAPSED"
    check "n3 kept its local edit as $xml.conflict" \
        e2e_node_exec n3 grep -qF "local edit on n3" "$CS_ETC/$xml.conflict"
    e2e_node_exec n3 rm "$CS_ETC/$xml.conflict"

    # 4. invalid XML on the primary is not propagated; the members keep the last good copy
    e2e_node_exec n1 sh -c "printf '<config version=\"2\">\n  <chain template=\"file-system\">\n' >$CS_ETC/$xml"
    bad=$(node_sha n1 "$xml")
    cs_wait 10 "journalctl -u arca-config-sync on n1 shows NOT PROPAGATED" \
        sync_journal_has n1 "NOT PROPAGATED: $xml is invalid"
    result rejected "'$(e2e_node_journal n1 arca-config-sync | grep -F "NOT PROPAGATED" | tail -n 1 | cut -c1-120)'"
    cs_wait 10 "arcactl config status on n2 exits 1 and shows REJECTED" config_status_rejected n2
    sleep 2
    check "the members keep the last good $xml (not the invalid ${bad:0:12})" shas_are "$xml" "$good" n2 n3
    # back to the good copy on the primary
    e2e_node_exec n1 sh -c "cat >$CS_ETC/$xml" <"$E2E_WORK/logs/config-sync-good.xml"
    check "n1's $xml is the good copy again" shas_are "$xml" "$good" n1
    cs_wait 15 "arcactl config status on n2 exits 0 again (all in sync, nothing refused)" config_status_ok n2

    # 5. the members' journals show each sync; owner and mode as packaged
    for n in n2 n3; do
        check "$n: journalctl -u arca-config-sync shows 'synced $xml from the cluster'" \
            sync_journal_has "$n" "synced $xml from the cluster"
        check "$n: $xml owner and mode as packaged ($pkg_mode)" test "$(node_stat "$n" "$xml")" = "$pkg_mode"
    done
    result n2_syncs "$(e2e_node_journal n2 arca-config-sync | grep -cF "synced $xml from the cluster")"

    # 6. restart required: every node's binarystore.xml changed after its server started
    for n in "${NODES[@]}"; do
        cs_wait 10 "/api/system/ha/nodes: $n restartRequired [\"$xml\"]" restart_required_is "$n" "$xml"
    done
    check "arcactl config status on n2 shows RESTART REQUIRED" grep -q "RESTART REQUIRED" "$E2E_WORK/logs/config-status-n2.out"
    e2e_node_exec n3 systemctl restart arca-server
    e2e_arca_wait_ready "$(node_addr n3)" 60 || {
        e2e_arca_diag n3
        arca_die "$SCENARIO: n3 is not ready after systemctl restart arca-server"
    }
    cs_wait 10 "/api/system/ha/nodes: n3 restartRequired [] after systemctl restart arca-server" restart_required_is n3 ""
    check "n2 still restartRequired [\"$xml\"]" restart_required_is n2 "$xml"

    # 6b. the Custom URL Base set with the REST API on a member (docs/api.md): forwarded to n1, the config owner,
    #     whose arca-config-sync writes it into /etc/arca/system.properties for the server (whose sandbox keeps
    #     /etc/arca read-only), owner and mode kept; every node mirrors it and applies it live: no restart required
    code=$(lcurl -o "$ub_out" -w '%{http_code}' -X PUT -H 'Content-Type: text/plain' --data "$ub" \
        "http://$(node_addr n2)/artifactory/api/system/configuration/baseUrl") || true
    [[ "$code" == 200 ]] || arca_die "$SCENARIO: PUT /api/system/configuration/baseUrl on n2 -> HTTP $code: $(cat "$ub_out")"
    result url_base_answer "'$(cut -c1-120 "$ub_out")'"
    check "the answer names n1, the config owner, as the writer" grep -qF "node 'n1'" "$ub_out"
    check "n1's $sp has arca.url.base=$ub" e2e_node_exec n1 grep -qxF "arca.url.base=$ub" "$CS_ETC/$sp"
    check "n1: arca-config-sync wrote it for the server (journal)" sync_journal_has n1 "arca-server set arca.url.base"
    sha=$(node_sha n1 "$sp")
    cs_wait 10 "n1's $sp with the new URL base on n2 and n3" shas_are "$sp" "$sha" n2 n3
    result url_base_propagate_s "$CS_ELAPSED"
    cs_wait 10 "n3 uses the new URL base (appliedUrlBase)" url_base_applied n3 "$ub"
    check "n3 still restartRequired [] (a change of arca.url.base alone applies live)" restart_required_is n3 ""
    for n in "${NODES[@]}"; do
        check "$n: $sp owner and mode kept ($sp_mode)" test "$(node_stat "$n" "$sp")" = "$sp_mode"
    done

    # 7. the primary's server and sync stopped: a member takes the cluster duties and with them the config
    t0=$(e2e_now)
    e2e_node_exec n1 systemctl stop arca-server arca-config-sync
    owner=""
    poll 60 "a member to own the cluster's config" cs_find_owner || {
        for n in n2 n3; do e2e_node_journal "$n" arca-config-sync | tail -n 5 >&2; done
        arca_die "$SCENARIO: FAILED: no member logged \"this node owns the cluster's config\" within 60 s of n1's stop"
    }
    owner=$(cs_find_owner)
    other=n2
    [[ "$owner" == n2 ]] && other=n3
    result takeover_s "$(calc "$(e2e_now) - $t0")"
    arca_log "$SCENARIO: ok: $owner owns the cluster's config after n1 stopped"
    e2e_node_exec "$owner" sh -c "printf '# e2e config-sync: edited on %s, the config owner\n' $owner >>$CS_ETC/$sp"
    sha=$(node_sha "$owner" "$sp")
    cs_wait 10 "$owner's edit of $sp on $other" shas_are "$sp" "$sha" "$other"
    result owner_edit_s "$CS_ELAPSED"
    check "$other: journalctl -u arca-config-sync shows 'synced $sp from the cluster'" \
        sync_journal_has "$other" "synced $sp from the cluster"
    check "$owner: journal shows 'published $sp'" sync_journal_has "$owner" "published $sp"
    check "$other: $sp owner and mode kept ($sp_mode)" test "$(node_stat "$other" "$sp")" = "$sp_mode"
}
# cs_find_owner — the member (n2 or n3) whose arca-config-sync logged that it owns the cluster's config
cs_find_owner() {
    local n
    for n in n2 n3; do
        if sync_journal_has "$n" "this node owns the cluster's config"; then
            printf '%s\n' "$n"
            return 0
        fi
    done
    return 1
}

scenario_failover() {
    local t_stop0 t_stop1 t_kill pid s failed gap req n t0 unit
    cluster_up
    create_repo "$LB" failover-local
    client_start failover failover-local --threads 4
    sleep 4
    read -r req failed < <(client_progress)
    ((failed == 0)) || arca_die "failover: $failed failed requests before anything was stopped"

    # 1. graceful stop of n2: readiness 503 for 3 s (HAProxy takes it out), then the listener closes
    local log=$E2E_WORK/logs/haproxy.log lines
    lines=$(wc -l <"$log")
    t_stop0=$(e2e_now)
    e2e_node_exec n2 systemctl stop arca-server
    t_stop1=$(e2e_now)
    result stop_s "$(calc "$t_stop1 - $t_stop0")"
    check "HAProxy marks n2 DOWN" lb_is_down n2
    # Taken out by the health check's 503 while still listening (drain), not by a refused connection.
    check "n2 left the rotation because readiness answered 503 (drain delay)" \
        bash -c "tail -n +$((lines + 1)) '$log' | grep -q 'arca_nodes/n2 is DOWN, reason: Layer7 wrong status, code: 503'"
    sleep 3

    # 2. kill -9 of the primary n1
    pid=$(e2e_node_exec n1 systemctl show -p MainPID --value arca-server)
    [[ "$pid" =~ ^[0-9]+$ && "$pid" != 0 ]] || arca_die "no MainPID for arca-server on n1"
    t_kill=$(e2e_now)
    e2e_node_exec n1 kill -9 "$pid"
    sleep 8
    client_stop

    s=$(analyze --from "$t_stop0" --to "$t_kill")
    printf '%s\n' "$s" >"$E2E_WORK/logs/failover-stop.json"
    failed=$(json 'd["failed"]' <<<"$s")
    result stop_requests "$(json 'd["requests"]' <<<"$s")"
    result stop_failed "$failed"
    result stop_max_gap_s "$(json 'd["max_gap"]' <<<"$s")"
    ((failed == 0)) || {
        show_failures <<<"$s"
        arca_die "failover: $failed requests failed while n2 was stopped gracefully (expected 0)"
    }
    arca_log "failover: ok: 0 failed requests during the graceful stop of n2"

    s=$(analyze --from "$t_kill" --allow-from "$t_kill" --allow-to "$(calc "$t_kill + 3")")
    printf '%s\n' "$s" >"$E2E_WORK/logs/failover-kill.json"
    result kill_requests "$(json 'd["requests"]' <<<"$s")"
    result kill_failed "$(json 'd["failed"]' <<<"$s")"
    result kill_outage_s "$(json 'd["max_gap"]' <<<"$s")"
    result kill_max_latency_s "$(json 'd["max_latency"]' <<<"$s")"
    [[ "$(json 'd["failed"]' <<<"$s")" == 0 ]] || show_failures <<<"$s"
    n=$(json 'd["failed_outside"]' <<<"$s")
    ((n == 0)) || arca_die "failover: $n requests failed later than 3 s after the kill -9"
    gap=$(json 'd["max_gap"]' <<<"$s")
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 3.0 else 1)" "$gap" ||
        arca_die "failover: no request succeeded for $gap s after the kill -9 (limit 3 s)"
    arca_log "failover: ok: after kill -9 of n1 the clients recovered (longest gap ${gap} s)"

    s=$(analyze)
    result requests "$(json 'd["requests"]' <<<"$s")"
    result failed "$(json 'd["failed"]' <<<"$s")"
    # systemd restarts the killed node (Restart=on-failure); it takes its own row back.
    e2e_arca_wait_ready "$(node_addr n1)" 60 || arca_die "n1 did not come back after kill -9 (Restart=on-failure)"
    result n1_restarts "$(e2e_node_exec n1 systemctl show -p NRestarts --value arca-server)"

    # 3. Nothing lingers after a daemon logs "stopped" (issue 15): the server's stop above took its drain delay
    #    (3 s) plus at most 0.5 s; each of n2's sidecars (its server is stopped: the agent has no server to drain
    #    first) stops within 1 s.
    check "systemctl stop arca-server took the 3 s drain delay + < 0.5 s (took ${t_stop1:+$(calc "$t_stop1 - $t_stop0")} s)" \
        awk "BEGIN { exit !($t_stop1 - $t_stop0 < 3.5) }"
    for unit in arca-license-agent arca-config-sync arca-storage-mover; do
        t0=$(e2e_now)
        e2e_node_exec n2 systemctl stop "$unit"
        s=$(calc "$(e2e_now) - $t0")
        result "${unit#arca-}_stop_s" "$s"
        check "systemctl stop $unit on n2 took $s s (< 1 s)" awk "BEGIN { exit !($s < 1) }"
    done
}

scenario_upgrade() {
    local n v s req failed t0 addr want pid0 pid1 apid0 apid1 pkgv problems=()
    [[ -n "$NEXT_VERSION" ]] || arca_die "upgrade: no second package set (needs packaging/build-deb.sh)"
    want=$(e2e_upstream_version "$NEXT_VERSION")
    cluster_up
    create_repo "$LB" upgrade-local
    client_start upgrade upgrade-local --threads 4 --min-requests 5000 --max-seconds 400
    sleep 2
    for n in "${NODES[@]}"; do
        addr=$(node_addr "$n")
        t0=$SECONDS
        pid0=$(e2e_node_exec "$n" systemctl show -p MainPID --value arca-server)
        apid0=$(e2e_node_exec "$n" systemctl show -p MainPID --value arca-license-agent)
        e2e_node_exec "$n" arcactl node drain --home "$E2E_HOME" >/dev/null
        arca_wait_for 15 "HAProxy to mark $n DOWN" lb_is_down "$n" || arca_die "HAProxy did not take drained $n out"
        e2e_arca_install "$n" /debs2
        # shellcheck disable=SC2016 # a dpkg-query format
        pkgv=$(e2e_node_exec "$n" dpkg-query -W -f '${Version}' arca-server)
        [[ "$pkgv" == "$NEXT_VERSION" ]] || arca_die "upgrade: $n: arca-server package is $pkgv after the install, not $NEXT_VERSION"
        # shellcheck disable=SC2016 # a dpkg-query format
        v=$(e2e_node_exec "$n" dpkg-query -W -f '${Version}' arca-license-agent)
        [[ "$v" == "$NEXT_VERSION" ]] || arca_die "upgrade: $n: arca-license-agent package is $v after the install, not $NEXT_VERSION"
        e2e_arca_wait_ready "$addr" 90 || {
            e2e_arca_diag "$n"
            arca_die "upgrade: $n is not ready after the upgrade"
        }
        check "$n: arca-server active after the upgrade" e2e_node_exec "$n" systemctl is-active --quiet arca-server
        pid1=$(e2e_node_exec "$n" systemctl show -p MainPID --value arca-server)
        [[ "$pid1" != "$pid0" ]] || arca_die "upgrade: $n: arca-server was not restarted by the upgrade (MainPID $pid0)"
        check "$n: arca-license-agent active after the upgrade" e2e_node_exec "$n" systemctl is-active --quiet arca-license-agent
        apid1=$(e2e_node_exec "$n" systemctl show -p MainPID --value arca-license-agent)
        [[ "$apid1" != "$apid0" ]] ||
            arca_die "upgrade: $n: arca-license-agent was not restarted by the upgrade (MainPID $apid0)"
        # shellcheck disable=SC2016 # a dpkg-query format
        v=$(e2e_node_exec "$n" dpkg-query -W -f '${Version}' arca-config-sync)
        [[ "$v" == "$NEXT_VERSION" ]] || arca_die "upgrade: $n: arca-config-sync package is $v after the install, not $NEXT_VERSION"
        check "$n: arca-config-sync active after the upgrade" e2e_node_exec "$n" systemctl is-active --quiet arca-config-sync
        v=$(e2e_node_exec "$n" arca-server --version)
        if [[ "$v" != *" $want" && "$v" != *" $want "* ]]; then
            problems+=("$n: package $pkgv installed and the server restarted, but 'arca-server --version' prints '$v' (expected $want)")
            arca_warn "upgrade: ${problems[-1]}"
        fi
        arca_wait_for 15 "HAProxy to mark $n UP" lb_is_up "$n" || arca_die "HAProxy does not see upgraded $n UP"
        read -r req failed < <(client_progress)
        arca_log "upgrade: $n upgraded to $pkgv ('$v') in $((SECONDS - t0)) s; client so far: $req requests, $failed failed"
        result "${n}_upgrade_s" "$((SECONDS - t0))"
    done
    read -r req failed < <(client_progress)
    ((req >= 5000)) || arca_log "upgrade: all nodes upgraded after $req requests; the client goes on until 5000"
    client_stop
    s=$(analyze)
    printf '%s\n' "$s" >"$E2E_WORK/logs/upgrade.json"
    req=$(json 'd["requests"]' <<<"$s")
    failed=$(json 'd["failed"]' <<<"$s")
    result requests "$req"
    result failed "$failed"
    result max_latency_s "$(json 'd["max_latency"]' <<<"$s")"
    lcurl -f "$LB/api/system/ha/nodes" >"$E2E_WORK/logs/upgrade-nodes.json" || true
    check "after the rolling upgrade the 3 licenses are held by n1 n2 n3" licenses_are "n1 n2 n3"
    result ha_versions "$(json '",".join(sorted(set(n["version"] for n in (d if isinstance(d, list) else d["nodes"]))))' \
        <"$E2E_WORK/logs/upgrade-nodes.json" 2>/dev/null || echo '?')"
    ((failed == 0)) || {
        show_failures <<<"$s"
        arca_die "upgrade: $failed of $req requests failed during the rolling upgrade (expected 0)"
    }
    ((req >= 5000)) || arca_die "upgrade: only $req requests (expected >= 5000)"
    if ((${#problems[@]})); then
        if [[ "$E2E_VERSION_CHECK" == warn ]]; then
            result version_check "WARN(binary says $(e2e_node_exec n1 arca-server --version | awk '{print $2}'))"
            arca_warn "upgrade: E2E_VERSION_CHECK=warn: ignoring that the new binaries do not report $want"
        else
            result version_check FAIL
            arca_die "upgrade: the new binaries do not report the new version: ${problems[*]}"
        fi
    else
        result version_check "ok($want)"
    fi
}

# --- s3-shared helpers ---

node_url() { printf 'http://%s/artifactory\n' "$(node_addr "$1")"; }
storage_json() { lcurl -f "$(node_url "$1")/api/system/storage"; }
node_file_lacks() { ! e2e_node_exec "$1" grep -qF -- "$3" "$2"; }
node_cached() {
    e2e_node_exec "$1" find /var/lib/arca/data/cache -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' |
        wc -l
}
node_cached_is() { [[ "$(node_cached "$1")" == "$2" ]]; }
node_lacks_path() { ! e2e_node_exec "$1" test -e "$2"; }
movers_journal_has() {
    local n
    # (not grep -q: with pipefail, its early exit would fail the writer with SIGPIPE)
    for n in "${NODES[@]}"; do e2e_node_journal "$n" arca-storage-mover; done | grep -F -- "$1" >/dev/null
}
# The eventual queue's committed uploads (_add/<sha256>) in the shared data dir, seen from the host.
S3_ADD_DIR=""
queue_adds() {
    find "$S3_ADD_DIR" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' 2>/dev/null | wc -l
}
queue_empty() { [[ -d "$S3_ADD_DIR" ]] && (($(queue_adds) == 0)); }
# s3_has [--quiet] MANIFEST… — every artifact of the manifests is an object file in s3s-fs's bucket whose SHA-256
# is its name
s3_has() {
    local a=() m
    [[ "$1" == --quiet ]] && a+=(--quiet) && shift
    for m in "$@"; do a+=(--manifest "$m"); done
    python3 "$E2E_DIR_/client.py" objects --dir "$E2E_S3_OBJECTS" "${a[@]}"
}
s3_drained() { queue_empty && s3_has --quiet "$@"; }
# poll TIMEOUT DESC CMD… — arca_wait_for with a 0.5 s period (the checks hash files)
poll() { ARCA_WAIT_PERIOD=0.5 arca_wait_for "$@"; }
# deploy_batch NAME COUNT — COUNT random artifacts through HAProxy into s3-local; every one must be acknowledged
# 201 with its sha256. Manifest ("path sha256 size node" lines): $E2E_WORK/s3-NAME.manifest
deploy_batch() {
    local name=$1 count=$2 out
    out=$(python3 "$E2E_DIR_/client.py" deploy --url "$LB" --repo s3-local --password "$ADMIN_PW" --count "$count" \
        --prefix "$name" --manifest "$E2E_WORK/s3-$name.manifest" --threads 4) ||
        arca_die "$SCENARIO: $name: not every deploy was acknowledged 201: $out"
    printf '%s\n' "$out" >"$E2E_WORK/logs/s3-deploy-$name.json"
    check "$name: $count deploys through HAProxy answered 201 with the right sha256" \
        test "$(json 'd["deployed"]' <<<"$out")" = "$count"
    result "${name}_deploys" "$count($(json '",".join(f"{k}:{v}" for k, v in sorted(d["by_node"].items()))' <<<"$out"))"
}
# resolve_everywhere DESC MANIFEST… — every node, asked directly, serves every artifact with the right sha256
resolve_everywhere() { resolve_on "${NODES[*]}" "$@"; }
# resolve_on "NODE…" DESC MANIFEST… — the same on the nodes listed (space-separated)
resolve_on() {
    local nodes desc=$2 a=() m n out
    read -r -a nodes <<<"$1"
    shift 2
    for n in "${nodes[@]}"; do a+=(--url "$(node_url "$n")"); done
    for m in "$@"; do a+=(--manifest "$m"); done
    out=$(python3 "$E2E_DIR_/client.py" verify --password "$ADMIN_PW" "${a[@]}") ||
        arca_die "$SCENARIO: FAILED: $desc: $out"
    arca_log "$SCENARIO: ok: $desc: $(json 'd["artifacts"]' <<<"$out") artifacts on ${#nodes[@]} nodes, right sha256"
}
# The uploads the movers' journals report ("…; since the last report N uploaded, …"), all nodes together.
journal_uploaded() {
    local n
    for n in "${NODES[@]}"; do e2e_node_journal "$n" arca-storage-mover; done |
        grep -o 'since the last report [0-9]* uploaded' | awk '{s += $5} END {print s + 0}'
}
# uploads_sum NODE… — the sum of the movers' "uploaded" counters (since each mover started), from
# /api/system/storage of each node
uploads_sum() {
    local n sum=0 v
    for n in "$@"; do
        v=$(storage_json "$n" | json 'd["mover"]["uploaded"]') || return 1
        sum=$((sum + v))
    done
    printf '%s\n' "$sum"
}
uploads_by_node() {
    local n
    for n in "${NODES[@]}"; do
        printf '%s:%s\n' "$n" "$(storage_json "$n" | json 'd["mover"]["uploaded"] if d["mover"] else "-"')"
    done | paste -sd,
}
journal_uploaded_ge() { (($(journal_uploaded) >= $1)); }
mover_unreachable_seen() {
    local n
    for n in "${NODES[@]}"; do
        [[ "$(storage_json "$n" | json 'd["mover"]["objectStoreReachable"]')" == False ]] && return 0
    done
    return 1
}

# s3-storage-v3 on s3s-fs (on the host), three HA nodes whose eventual queue is in the shared data dir: every node's
# storage mover drains the one queue (issue 5).
scenario_s3_shared() {
    local n f s t0 up0 up1 b1 b2 b3 extra before
    e2e_s3_setup "$SCENARIO"
    # Short queue and retry periods, so that outages and drains show within seconds (docs/storage-mover.md).
    extra='    <provider id="eventual" type="eventual">
        <dispatcherInterval>1000</dispatcherInterval>
    </provider>
    <provider id="retry" type="retry">
        <interval>500</interval>
        <maxTrys>2</maxTrys>
    </provider>
'
    f=$E2E_WORK/s3-shared-binarystore.xml
    e2e_s3_binarystore s3-storage-v3 "$extra" >"$f"
    cluster_up --binarystore "$f"
    t0=$SECONDS
    S3_ADD_DIR=$E2E_SHARED/data/eventual/_add
    b1=$E2E_WORK/s3-batch.manifest b2=$E2E_WORK/s3-outage.manifest b3=$E2E_WORK/s3-n1mover.manifest

    # 1. configuration as the operator wrote it, as the nodes run it
    for n in "${NODES[@]}"; do
        check "$n: binarystore.xml has no plain-text secret key left after the first start" \
            node_file_lacks "$n" /etc/arca/binarystore.xml "$E2E_S3_SECRET_KEY"
        check "$n: credential sealed in place (enc:v1:)" \
            e2e_node_exec "$n" grep -qF '<credential>enc:v1:' /etc/arca/binarystore.xml
        check "$n: identity sealed in place (enc:v1:)" \
            e2e_node_exec "$n" grep -qF '<identity>enc:v1:' /etc/arca/binarystore.xml
        check "$n: journal shows the chain cache-fs -> eventual -> retry -> s3-storage-v3" \
            journal_has "$n" "cache-fs -> eventual -> retry -> s3-storage-v3"
        check "$n: systemctl is-active arca-storage-mover" e2e_node_exec "$n" systemctl is-active --quiet arca-storage-mover
        check "$n: no node-local eventual queue (/var/lib/arca/data/eventual absent)" \
            node_lacks_path "$n" /var/lib/arca/data/eventual
    done
    check "the eventual queue is in the shared data dir (/mnt/shared/data/eventual/_add)" test -d "$S3_ADD_DIR"
    create_repo "$LB" s3-local

    # 2. deploys through HAProxy; every node resolves them; the movers put them all in S3
    deploy_batch batch 50
    resolve_everywhere "every node resolves the batch (before or while it moves)" "$b1"
    before=$SECONDS
    poll 60 "the batch in S3 and the shared _add dir empty" s3_drained "$b1" || {
        s3_has "$b1" >&2 || true
        arca_die "$SCENARIO: the batch did not reach S3 within 60 s ($(queue_adds) entries left in _add)"
    }
    result batch_drain_s "$((SECONDS - before))"
    s=$(s3_has "$b1") || true
    check "every batch object is in S3 with its sha256 ($s)" test "$(json 'd["present"]' <<<"$s")" = 50
    up0=$(uploads_sum "${NODES[@]}") || arca_die "$SCENARIO: no mover report in /api/system/storage of every node"
    result batch_uploads "$up0($(uploads_by_node))"
    check "the three movers uploaded each object exactly once (sum of their 'uploaded': $up0)" test "$up0" = 50
    # Each mover logs what it moved when the queue drains (and every minute while it is not empty).
    poll 10 "the movers' journals to report all 50 uploads" journal_uploaded_ge 50 || true
    check "journalctl -u arca-storage-mover reports uploads ($(journal_uploaded) on all nodes)" journal_uploaded_ge 1
    result journal_uploaded "$(journal_uploaded)"
    s=$(storage_json n2) || arca_die "GET /api/system/storage on n2 failed"
    printf '%s\n' "$s" >"$E2E_WORK/logs/s3-storage-n2.json"
    check "n2: /api/system/storage shows the chain" \
        test "$(json 'd["chain"]' <<<"$s")" = "cache-fs -> eventual -> retry -> s3-storage-v3"
    check "n2: /api/system/storage: backlog 0" test "$(json 'd["backlog"]["adds"]' <<<"$s")" = 0
    check "n2: /api/system/storage: the mover's report (eventual, object store reachable)" \
        test "$(json 'd["mover"]["eventual"], d["mover"]["objectStoreReachable"]' <<<"$s")" = "(True, True)"
    resolve_everywhere "every node resolves the batch once it is only in S3 (or a cache)" "$b1"
    # n3's cache emptied: nothing local is left there (the queue is drained), so n3 serves the batch from S3.
    e2e_node_exec n3 find /var/lib/arca/data/cache -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}' -delete
    check "n3's cache is empty" test "$(node_cached n3)" = 0
    s=$(python3 "$E2E_DIR_/client.py" verify --password "$ADMIN_PW" --url "$(node_url n3)" --manifest "$b1") ||
        arca_die "$SCENARIO: FAILED: n3 does not serve the batch from S3 with an empty cache: $s"
    arca_log "$SCENARIO: ok: n3 serves the batch with an empty cache (from S3)"
    poll 10 "n3 to cache what it fetched from S3" node_cached_is n3 50 || true
    check "n3 cached the 50 binaries it fetched from S3 ($(node_cached n3))" node_cached_is n3 50

    # 3. S3 down while deploying: every deploy acknowledged, served from the shared queue, uploaded once S3 is back
    e2e_s3_stop
    before=$SECONDS
    deploy_batch outage 20
    resolve_everywhere "every node resolves what was deployed during the outage" "$b2"
    check "the 20 uploads wait in the shared _add dir ($(queue_adds))" test "$(queue_adds)" = 20
    poll 20 "a mover to report the object store unreachable" mover_unreachable_seen ||
        arca_die "$SCENARIO: no mover reports objectStoreReachable=false while s3s-fs is down"
    s=$(storage_json n3) || arca_die "GET /api/system/storage on n3 failed"
    check "n3: /api/system/storage: backlog 20 during the outage" test "$(json 'd["backlog"]["adds"]' <<<"$s")" = 20
    check "journalctl -u arca-storage-mover says OBJECT STORE UNREACHABLE" movers_journal_has "OBJECT STORE UNREACHABLE"
    # a few seconds more of outage: the movers back off
    while ((SECONDS - before < 8)); do sleep 0.5; done
    e2e_s3_start
    result outage_s "$((SECONDS - before))"
    before=$SECONDS
    poll 90 "the backlog to drain into S3 after the outage" s3_drained "$b1" "$b2" || {
        s3_has "$b1" "$b2" >&2 || true
        arca_die "$SCENARIO: the backlog did not drain within 90 s after S3 came back ($(queue_adds) entries left)"
    }
    result outage_drain_s "$((SECONDS - before))"
    up1=$(uploads_sum "${NODES[@]}") || arca_die "$SCENARIO: no mover report in /api/system/storage of every node"
    result outage_uploads "$((up1 - up0))(counters $(uploads_by_node))"
    check "the backlog was uploaded once (uploaded $up0 -> $up1)" test "$((up1 - up0))" = 20

    # 4. n1's mover stopped: the other nodes' movers drain the shared queue, including n1's deploys
    e2e_node_exec n1 systemctl stop arca-storage-mover
    check "n1: arca-storage-mover stopped" not_active n1 arca-storage-mover
    s=$(storage_json n1) || arca_die "GET /api/system/storage on n1 failed"
    check "n1: /api/system/storage reports that its mover does not answer" \
        test "$(json 'd["mover"] is None and bool(d.get("moverError"))' <<<"$s")" = True
    up0=$(uploads_sum n2 n3) || arca_die "$SCENARIO: no mover report in /api/system/storage of n2 and n3"
    before=$SECONDS
    deploy_batch n1mover 30
    check "some of them were deployed through n1" grep -q ' n1$' "$b3"
    poll 60 "n2's and n3's movers to drain the queue" s3_drained "$b1" "$b2" "$b3" || {
        s3_has "$b3" >&2 || true
        arca_die "$SCENARIO: with n1's mover stopped the queue did not drain within 60 s ($(queue_adds) entries left)"
    }
    result n1mover_drain_s "$((SECONDS - before))"
    up1=$(uploads_sum n2 n3) || arca_die "$SCENARIO: no mover report in /api/system/storage of n2 and n3"
    check "n2 and n3 uploaded all 30 (uploaded $up0 -> $up1)" test "$((up1 - up0))" = 30
    check "n1's mover is still stopped" not_active n1 arca-storage-mover
    resolve_everywhere "every node resolves all 100 artifacts" "$b1" "$b2" "$b3"
    s=$(s3_has "$b1" "$b2" "$b3") || true
    result s3_objects "$(json 'd["present"]' <<<"$s")/$(json 'd["expected"]' <<<"$s")"
    result checks_s "$((SECONDS - t0))"
}

# --- cluster-s3 helpers ---

# Each node's own eventual-cluster queue (<home>/data/eventual; the scenario checks it against /api/system/storage).
CS3_QUEUE=/var/lib/arca/data/eventual
# node_adds NODE — the sha256s waiting in NODE's _add dir, one a line (looked up inside the container)
node_adds() {
    e2e_node_exec "$1" find "$CS3_QUEUE/_add" -maxdepth 1 -type f -regextype posix-extended \
        -regex '.*/[0-9a-f]{64}' -printf '%f\n' 2>/dev/null || true
}
# queues_hold MANIFEST WANT NODE… — every artifact of MANIFEST waits in exactly WANT of these nodes' _add dirs, and
# nothing else waits there; prints what differs
queues_hold() {
    local manifest=$1 want=$2 n
    shift 2
    for n in "$@"; do node_adds "$n" | sed "s/\$/ $n/"; done |
        awk -v want="$want" '
            NR == FNR { if (NF >= 2) expect[$2] = 1; next }
            { c[$1]++; h[$1] = h[$1] (h[$1] == "" ? "" : ",") $2 }
            END {
                bad = 0; total = 0
                for (s in expect) {
                    total++
                    if (c[s] != want) { bad++; if (bad <= 5) printf "%s… in %d queue(s) (%s)\n", substr(s, 1, 12), c[s], h[s] }
                }
                for (s in c) if (!(s in expect)) { bad++; if (bad <= 5) printf "%s… queued, not deployed (%s)\n", substr(s, 1, 12), h[s] }
                printf "%d of %d artifacts in exactly %d queue(s), %d problem(s)\n", total - bad, total, want, bad
                exit bad > 0
            }' "$manifest" -
}
queues_empty() {
    local n
    for n in "$@"; do [[ -z "$(node_adds "$n")" ]] || return 1; done
}
queue_counts() {
    local n
    for n in "$@"; do printf '%s:%s\n' "$n" "$(node_adds "$n" | wc -l)"; done | paste -sd,
}
# cs3_drained MANIFEST NODE… — every artifact is in S3 with its sha256 and these nodes' queues are empty
cs3_drained() {
    local m=$1
    shift
    queues_empty "$@" && s3_has --quiet "$m"
}
# unit_journal_has NODE UNIT TEXT (not grep -q: with pipefail, its early exit would fail the writer with SIGPIPE)
unit_journal_has() { e2e_node_journal "$1" "$2" | grep -F -- "$3" >/dev/null; }
mover_journal_has() { unit_journal_has "$1" arca-storage-mover "$2"; }
mover_redundancy_is() { [[ "$(storage_json "$1" | json 'd["mover"]["redundancy"]')" == "$2" ]]; }
# mover_journal_sum NODE SINCE MESSAGE FIELD… — the sums of the journal fields FIELD… over the mover's entries with
# MESSAGE since the epoch second SINCE (space-separated)
mover_journal_sum() {
    e2e_node_exec "$1" journalctl -u arca-storage-mover -o json --no-pager --since "@$2" "MESSAGE=$3" |
        python3 -c 'import json, sys
entries = [json.loads(l) for l in sys.stdin if l.strip()]
print(" ".join(str(sum(int(e.get(f, 0)) for e in entries)) for f in sys.argv[1:]))' "${@:4}"
}
# mover_journal_count NODE SINCE MATCH… — the mover's journal entries since the epoch second SINCE matching MATCH…
mover_journal_count() {
    local n=$1 since=$2
    shift 2
    e2e_node_exec "$n" journalctl -u arca-storage-mover -o cat --no-pager --since "@$since" "$@" | wc -l
}
# mover_uploads NODE — "P put + A already stored (api uploaded=U)": the mover's debug lines 'uploaded' with
# already_stored=false / true, and the "uploaded" counter of /api/system/storage
mover_uploads() {
    local u
    u=$(storage_json "$1" | json '"%d/%d" % (d["mover"]["uploaded"], d["mover"]["alreadyStored"])' 2>/dev/null) || u=-
    printf '%s put + %s already stored (api uploaded/alreadyStored=%s)\n' \
        "$(mover_journal_count "$1" 0 MESSAGE=uploaded ALREADY_STORED=false)" \
        "$(mover_journal_count "$1" 0 MESSAGE=uploaded ALREADY_STORED=true)" "$u"
}
# The S3 objects as files (name, inode, mtime): an object uploaded again gets a new file.
s3_snapshot() {
    find "$E2E_S3_OBJECTS" -type f -printf '%f %i %T@\n' | awk 'length($1) == 64' | sort
}
units_down() {
    not_active "$1" arca-server && not_active "$1" arca-storage-mover && not_active "$1" arca-license-agent &&
        not_active "$1" arca-config-sync
}
# node_kill NODE — kill -9 of arca-server's, arca-storage-mover's, arca-license-agent's and arca-config-sync's main
# processes (a crash: no drain, no deregistration, no license given back; as failover does it, since `systemctl kill`
# cannot signal through the containers' cgroup v1 tree), with a runtime drop-in Restart=no so that systemd does not
# restart them (Restart=on-failure would)
CRASH_UNITS=(arca-server arca-storage-mover arca-license-agent arca-config-sync)
node_kill() {
    local n=$1 u pid
    for u in "${CRASH_UNITS[@]}"; do
        printf '[Service]\nRestart=no\n' |
            e2e_node_write "$n" "/run/systemd/system/$u.service.d/e2e-crashed.conf" 0644 root:root
    done
    e2e_node_exec "$n" systemctl daemon-reload
    for u in "${CRASH_UNITS[@]}"; do
        pid=$(e2e_node_exec "$n" systemctl show -p MainPID --value "$u")
        [[ "$pid" =~ ^[0-9]+$ && "$pid" != 0 ]] || arca_die "$SCENARIO: no MainPID for $u on $n"
        e2e_node_exec "$n" kill -9 "$pid"
    done
    poll 10 "$n's units to be dead" units_down "$n" || arca_die "$SCENARIO: $n's units survived SIGKILL"
}
# node_revive NODE — drop-ins removed, the units started again
node_revive() {
    local n=$1 u
    for u in "${CRASH_UNITS[@]}"; do
        e2e_node_exec "$n" rm -f "/run/systemd/system/$u.service.d/e2e-crashed.conf"
    done
    e2e_node_exec "$n" systemctl daemon-reload
    e2e_node_exec "$n" systemctl reset-failed "${CRASH_UNITS[@]}"
    start_node "$n"
    start_mover "$n"
}

# cluster-s3-storage-v3 on s3s-fs, three HA nodes WITHOUT a shared mount: each node's eventual queue is its own,
# every deploy waits in two nodes' queues until a mover uploads it (issue 5: HA without NFS).
scenario_cluster_s3() {
    local n f s t0 before outage0 extra b chain held killed=n2 live=(n1 n3) copies snap0 snap1 since v
    e2e_s3_setup "$SCENARIO"
    # redundancy 2; short periods so that restores, outages and drains show within seconds
    extra='    <provider id="sharding-cluster" type="sharding-cluster">
        <redundancy>2</redundancy>
    </provider>
    <provider id="eventual-cluster" type="eventual-cluster">
        <dispatcherInterval>500</dispatcherInterval>
    </provider>
    <provider id="retry" type="retry">
        <interval>500</interval>
        <maxTrys>2</maxTrys>
    </provider>
    <provider id="remote" type="remote">
        <checkPeriod>2000</checkPeriod>
    </provider>
'
    f=$E2E_WORK/cluster-s3-binarystore.xml
    e2e_s3_binarystore cluster-s3-storage-v3 "$extra" >"$f"
    # A dead node counts as gone after 5 s (default 30), the movers log every upload (debug).
    cluster_up --no-shared --binarystore "$f" --mover-log info,arca_storage_mover=debug \
        --props $'arca.ha.heartbeat.interval.secs=1\narca.ha.node.stale.secs=5'
    t0=$SECONDS
    b=$E2E_WORK/s3-held.manifest

    # 1. every node: both services, no shared mount, its own queue, the sharding chain, the mover's redundancy
    for n in "${NODES[@]}"; do
        check "$n: arca-server active" e2e_node_exec "$n" systemctl is-active --quiet arca-server
        check "$n: arca-storage-mover active" e2e_node_exec "$n" systemctl is-active --quiet arca-storage-mover
        check "$n: no shared mount (/mnt/shared absent)" node_lacks_path "$n" /mnt/shared
        check "$n: ha-node.properties has no arca.ha.data.dir" \
            node_file_lacks "$n" /etc/arca/ha-node.properties arca.ha.data.dir
        poll 20 "$n's mover to report redundancy 2" mover_redundancy_is "$n" 2 || true
        s=$(storage_json "$n") || arca_die "GET /api/system/storage on $n failed"
        printf '%s\n' "$s" >"$E2E_WORK/logs/cluster-s3-storage-$n.json"
        chain=$(json 'd["chain"]' <<<"$s")
        check "$n: /api/system/storage: backend sharding-cluster" test "$(json 'd["backend"]' <<<"$s")" = sharding-cluster
        check "$n: /api/system/storage: chain '$chain'" \
            test "$(json '"sharding-cluster" in d["chain"] and "eventual-cluster" in d["chain"] and "s3-storage-v3" in d["chain"]' <<<"$s")" = True
        check "$n: /api/system/storage: the node's own queue $CS3_QUEUE" test "$(json 'd["eventualDir"]' <<<"$s")" = "$CS3_QUEUE"
        check "$n: /api/system/storage: mover status with \"redundancy\":2" \
            test "$(json 'd["mover"]["redundancy"]' <<<"$s")" = 2
        check "$n: journalctl -u arca-server: the node-local data dir" \
            unit_journal_has "$n" arca-server "data dir /var/lib/arca/data;"
        check "$n: journalctl -u arca-server: the chain" unit_journal_has "$n" arca-server "storage $chain"
        check "$n: journalctl -u arca-storage-mover: 'restoring redundancy 2 every 2000 ms'" \
            mover_journal_has "$n" "restoring redundancy 2 every 2000 ms"
    done
    result chain "'$chain'"
    create_repo "$LB" s3-local

    # 2. S3 down: every deploy acknowledged once it waits in two nodes' queues; every node serves everything
    e2e_s3_stop
    outage0=$SECONDS
    deploy_batch held 20
    s=$(queues_hold "$b" 2 "${NODES[@]}") || arca_die "$SCENARIO: FAILED: every artifact in exactly two nodes' _add: $s"
    arca_log "$SCENARIO: ok: every artifact waits in exactly two nodes' $CS3_QUEUE/_add ($s)"
    result queued "$(queue_counts "${NODES[@]}")"
    s=$(s3_has "$b") || true
    check "nothing reached S3 ($s)" test "$(json 'd["present"]' <<<"$s")" = 0
    resolve_everywhere "every node resolves every artifact while S3 is down" "$b"
    held=$(node_adds "$killed" | wc -l)
    check "$killed holds some of them ($held)" test "$held" -gt 0

    # 3. a holder crashes while S3 is still down: the live nodes' movers restore the second copies
    node_kill "$killed"
    arca_log "$SCENARIO: $killed killed (SIGKILL of ${CRASH_UNITS[*]}) holding $held artifacts"
    before=$SECONDS
    poll 60 "the live movers to restore two copies of everything (both live queues hold all)" \
        queues_hold "$b" 2 "${live[@]}" || {
        queues_hold "$b" 2 "${live[@]}" >&2 || true
        arca_die "$SCENARIO: the redundancy was not restored on ${live[*]} within 60 s of $killed's crash"
    }
    result restore_s "$((SECONDS - before))"
    copies=0
    for n in "${live[@]}"; do copies=$((copies + $(mover_journal_sum "$n" 0 "redundancy restore" COPIES_ADDED))); done
    result copies_added "$copies"
    check "the movers' journals report $held copies added ('redundancy restore', copies_added=$copies)" \
        test "$copies" = "$held"
    resolve_on "${live[*]}" "the live nodes resolve every artifact ($killed dead, S3 down)" "$b"
    check "journalctl -u arca-storage-mover says OBJECT STORE UNREACHABLE" movers_journal_has "OBJECT STORE UNREACHABLE"
    result outage_s "$((SECONDS - outage0))"

    # 4. S3 back: everything uploaded, the live queues empty
    e2e_s3_start
    before=$SECONDS
    poll 90 "every object in S3 and the live queues empty" cs3_drained "$b" "${live[@]}" || {
        s3_has "$b" >&2 || true
        arca_die "$SCENARIO: not drained within 90 s after S3 came back (queues $(queue_counts "${live[@]}"))"
    }
    result s3_drain_s "$((SECONDS - before))"
    s=$(s3_has "$b") || true
    check "every object is in S3 with its sha256 ($s)" test "$(json 'd["present"]' <<<"$s")" = 20
    check "$killed's queue still holds its $held copies" test "$(node_adds "$killed" | wc -l)" = "$held"
    resolve_on "${live[*]}" "the live nodes resolve every artifact (from S3)" "$b"
    for n in "${live[@]}"; do
        check "$n: journalctl -u arca-storage-mover: 'object store reachable again'" \
            mover_journal_has "$n" "object store reachable again"
        poll 10 "$n's mover to log its drain" mover_journal_has "$n" "eventual queue drained" || {
            e2e_node_exec "$n" systemctl status --no-pager -n 5 arca-storage-mover >&2 || true
            storage_json "$n" >&2 || true
            e2e_node_exec "$n" ls -la "$CS3_QUEUE/_add" >&2 || true
        }
        check "$n: journalctl -u arca-storage-mover: 'eventual queue drained'" \
            mover_journal_has "$n" "eventual queue drained"
    done
    for n in "${live[@]}"; do result "${n}_uploads" "'$(mover_uploads "$n")'"; done

    # 5. the crashed node returns: its mover finds its copies in S3 and drops them without uploading them again
    snap0=$(s3_snapshot)
    since=$(date +%s)
    node_revive "$killed"
    before=$SECONDS
    poll 30 "$killed's queue to drain" queues_empty "$killed" || {
        e2e_node_journal "$killed" arca-storage-mover | tail -20 >&2
        arca_die "$SCENARIO: $killed's queue still holds $(node_adds "$killed" | wc -l) entries 30 s after its return"
    }
    result "${killed}_drain_s" "$((SECONDS - before))"
    snap1=$(s3_snapshot)
    check "no object was uploaded again (S3's object files unchanged)" test "$snap0" = "$snap1"
    poll 10 "$killed's mover to log its drain" mover_journal_has "$killed" "eventual queue drained" || true
    check "$killed: journalctl -u arca-storage-mover: 'eventual queue drained'" \
        mover_journal_has "$killed" "eventual queue drained"
    v=$(mover_journal_count "$killed" "$since" MESSAGE=uploaded ALREADY_STORED=true)
    result "${killed}_already_stored" "$v"
    check "$killed: its $held copies logged 'uploaded' with already_stored=true (debug)" test "$v" = "$held"
    check "$killed: no 'upload started' since its return" \
        test "$(mover_journal_count "$killed" "$since" 'MESSAGE=upload started')" = 0
    result "${killed}_uploads" "'$(mover_uploads "$killed")'"
    v=$(storage_json "$killed" | json '(d["mover"]["uploaded"], d["mover"]["alreadyStored"])') || v=-
    check "$killed: /api/system/storage mover counters: 0 uploaded, $held already stored (got $v)" \
        test "$v" = "(0, $held)"
    read -r copies v < <(mover_journal_sum "$killed" "$since" "redundancy restore" COPIES_ADDED BAD_LOCAL_COPIES)
    result "${killed}_restore" "copies_added=$copies,bad_local_copies=$v"
    check "$killed: pushed no copies of binaries already in S3 (copies_added=$copies since its return)" test "$copies" = 0
    resolve_everywhere "every node resolves every artifact" "$b"
    arca_wait_for 15 "HAProxy to see $killed UP again" lb_is_up "$killed" || arca_die "HAProxy does not see $killed UP"
    for n in "${NODES[@]}"; do
        s=$(storage_json "$n") || arca_die "GET /api/system/storage on $n failed"
        check "$n: /api/system/storage: backlog 0" test "$(json 'd["backlog"]["adds"]' <<<"$s")" = 0
    done
    result checks_s "$((SECONDS - t0))"
}

# session_db NODE SQL — run SQL (python3's sqlite3 on the host: the container has no sqlite3) on NODE's single-node
# database, through the node's overlay upper dir, where the container's /var/lib/arca lives. Only while nothing in
# the container has the database open (arca-server stopped, no cleanup running): the host's file locks on the upper
# file do not meet the container's on the overlay file (and /proc/<pid>/root does not work: SQLite resolves the
# magic symlink to the host's /). Prints the rows of a query, one per line.
session_db() {
    python3 - "${E2E_NODE_DIR[$1]}/upper$E2E_HOME/data/arca.db" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
rows = c.execute(sys.argv[2]).fetchall()
c.commit()
for r in rows:
    print(*r)
EOF
}

# timer_calendar NODE — the timer's calendar (systemctl show -p TimersCalendar)
timer_calendar() {
    e2e_node_exec "$1" systemctl show -p TimersCalendar --value arca-session-cleanup.timer
}

scenario_session_cleanup() {
    local n=sc1 addr next now n_expired=5 n_live=2 line calendar out i idle abs rows="" id
    e2e_node_boot "$n"
    addr=127.0.0.1:$NODE_PORT
    if ! host_port_free 0.0.0.0 "$NODE_PORT"; then
        addr=127.0.0.10:$NODE_PORT
        printf '[Service]\nEnvironment=ARCA_LISTEN=%s\n' "$addr" |
            e2e_node_write "$n" /etc/systemd/system/arca-server.service.d/listen.conf 0644 root:root
    fi
    e2e_arca_install "$n"
    e2e_arca_wait_ready "$addr" 30 || {
        e2e_arca_diag "$n"
        arca_die "$n is not ready at http://$addr/artifactory"
    }
    check "arca-session-cleanup.timer is enabled" \
        test "$(e2e_node_exec "$n" systemctl is-enabled arca-session-cleanup.timer)" = enabled
    check "arca-session-cleanup.timer is active" e2e_node_exec "$n" systemctl is-active --quiet arca-session-cleanup.timer
    next=$(e2e_node_exec "$n" systemctl list-timers --no-legend --no-pager arca-session-cleanup.timer)
    arca_log "$SCENARIO: systemctl list-timers: $next"
    check "systemctl list-timers shows the next run of arca-session-cleanup.timer" \
        grep -qE '^[A-Z][a-z]{2} [0-9-]{10} [0-9:]{8} .*arca-session-cleanup\.timer +arca-session-cleanup\.service' <<<"$next"
    result next_run "'$(awk '{print $2, $3}' <<<"$next")'"
    calendar=$(timer_calendar "$n")
    # (systemd shows hourly normalized; the fixed random delay is in list-timers' NEXT, not here)
    check "the default calendar is hourly (got: $calendar)" grep -qF 'OnCalendar=*-*-* *:00:00 ;' <<<"$calendar"

    # No timer run in the middle of the count (the host's fixed random minute could be this one), and nothing in
    # the container holding the database while the host writes it (session_db).
    e2e_node_exec "$n" systemctl stop arca-session-cleanup.timer arca-server
    now=$(date +%s%3N)
    for ((i = 1; i <= n_expired + n_live; i++)); do
        idle=$((now + 3600000))
        abs=$((now + 7200000))
        if ((i <= n_expired)); then
            # half past their idle expiry, half past their absolute one
            if ((i % 2)); then idle=$((now - 1000)); else abs=$((now - 1)); fi
        fi
        rows+="('$(printf 'e2e%061d' "$i")', 'admin', '$n', $((now - 60000)), $((now - 60000)), $idle, $abs),"
    done
    session_db "$n" "INSERT INTO sessions (id_hash, user_name, node_id, created, last_access, idle_expires,
        absolute_expires) VALUES ${rows%,}" >/dev/null || {
        ls -la "${E2E_NODE_DIR[$n]}/upper$E2E_HOME/data/" >&2 || true
        arca_die "$SCENARIO: cannot write sessions into $n's database"
    }
    check "$((n_expired + n_live)) sessions in $n's database" \
        test "$(session_db "$n" 'SELECT COUNT(*) FROM sessions')" = $((n_expired + n_live))
    e2e_node_exec "$n" systemctl start arca-session-cleanup.service || {
        e2e_node_exec "$n" journalctl -u arca-session-cleanup -o cat --no-pager -n 20 >&2 || true
        arca_die "$SCENARIO: systemctl start arca-session-cleanup.service failed"
    }
    line=$(e2e_node_journal "$n" arca-session-cleanup | grep 'expired UI sessions' | tail -1)
    result journal "'$line'"
    check "journalctl -u arca-session-cleanup: 'deleted $n_expired expired UI sessions ($n_live remain)'" \
        grep -qF "deleted $n_expired expired UI sessions ($n_live remain)" <<<"$line"
    # The node id field is the server's (its banner "HA Node ID: '…'"). (Not with -u: journalctl would bind the
    # field to the last of the unit's alternatives only.)
    id=$(e2e_node_journal "$n" | grep -o "HA Node ID: '[^']*'" | head -1 | cut -d"'" -f2)
    [[ -n "$id" ]] || arca_die "$SCENARIO: no 'HA Node ID' banner in arca-server's journal"
    e2e_node_sh "$n" "journalctl SYSLOG_IDENTIFIER=arca-session-cleanup ARCA_NODE_ID=$id -o cat --no-pager |
        grep -qF 'deleted $n_expired expired'" || {
        e2e_node_exec "$n" journalctl -u arca-session-cleanup -o verbose --no-pager -n 3 >&2 || true
        arca_die "$SCENARIO: journalctl SYSLOG_IDENTIFIER=arca-session-cleanup ARCA_NODE_ID=$id does not find the run"
    }
    arca_log "$SCENARIO: ok: journalctl SYSLOG_IDENTIFIER=arca-session-cleanup ARCA_NODE_ID=$id (the server's node id) finds the run"
    check "the $n_live live sessions remain" test "$(session_db "$n" 'SELECT COUNT(*) FROM sessions')" = "$n_live"
    e2e_node_exec "$n" systemctl start arca-server
    e2e_arca_wait_ready "$addr" 30 || {
        e2e_arca_diag "$n"
        arca_die "$n is not ready again at http://$addr/artifactory"
    }
    out="$(e2e_node_exec "$n" systemctl show -p ActiveState --value arca-session-cleanup.service) $(
        e2e_node_exec "$n" systemctl show -p Result --value arca-session-cleanup.service)"
    check "the service is a finished oneshot (got: $out)" test "$out" = "inactive success"
    e2e_node_exec "$n" systemctl start arca-session-cleanup.timer

    # The operator's cron expression, translated by the generator at daemon-reload.
    printf '\narca.db.session.cleanup.cron=0 23 * * * ?\n' | e2e_node_exec "$n" sh -c 'cat >>/etc/arca/system.properties'
    e2e_node_exec "$n" systemctl daemon-reload
    calendar=$(timer_calendar "$n")
    result cron_calendar "'$calendar'"
    check "TimersCalendar is OnCalendar=*-*-* *:23:00 alone (got: $calendar)" \
        test "$(grep -o 'OnCalendar=[^;]*;' <<<"$calendar")" = 'OnCalendar=*-*-* *:23:00 ;'
    check "the generator's drop-in sets RandomizedDelaySec=0" e2e_node_exec "$n" grep -qx 'RandomizedDelaySec=0' \
        /run/systemd/generator/arca-session-cleanup.timer.d/50-cron.conf
    next=$(e2e_node_exec "$n" systemctl list-timers --no-legend --no-pager arca-session-cleanup.timer)
    arca_log "$SCENARIO: systemctl list-timers with the cron: $next"
    check "list-timers: the next run at :23:00" grep -qE '^[A-Z][a-z]{2} [0-9-]{10} [0-9]{2}:23:00 ' <<<"$next"
    check "arca-session-cleanup print-calendar prints *-*-* *:23:00" \
        test "$(e2e_node_exec "$n" arca-session-cleanup print-calendar 2>/dev/null)" = '*-*-* *:23:00'

    # Untranslatable (Quartz's L): check-config exits 1 naming file:line:key, the generator writes nothing.
    e2e_node_exec "$n" sed -i 's/^arca.db.session.cleanup.cron=.*/arca.db.session.cleanup.cron=0 0 12 L * ?/' \
        /etc/arca/system.properties
    out=$(e2e_node_exec "$n" arca-session-cleanup check-config 2>&1) && arca_die "$SCENARIO: check-config accepted 'L': $out"
    check "check-config names file:line:key" \
        grep -qE 'system\.properties:[0-9]+: arca\.db\.session\.cleanup\.cron: .0 0 12 L \* \?. cannot be translated' <<<"$out"
    e2e_node_exec "$n" systemctl daemon-reload
    check "no drop-in for an untranslatable value" \
        e2e_node_exec "$n" test ! -e /run/systemd/generator/arca-session-cleanup.timer.d/50-cron.conf
    calendar=$(timer_calendar "$n")
    check "the timer is hourly again (got: $calendar)" grep -qF 'OnCalendar=*-*-* *:00:00 ;' <<<"$calendar"
    e2e_node_stop "$n"
}

# ---------------------------------------------------------------------------------------------------------------
# packages

# build_debs OUT [VERSION] — packaging/build-deb.sh --no-build on a private copy of the release binaries, so that
# its staging dir (<target>/packaging/deb, removed at every build) is not shared with other builds on this machine.
# With VERSION: another version of the same code; build-deb.sh stamps it into the packaged binaries, which then
# report it (arca-server --version, the banner, the node registry) without a second cargo build.
build_debs() {
    local out=$1 version=${2:-} priv=$E2E_WORK/target log
    log=$E2E_WORK/logs/build-deb-$(basename "$out").log
    if [[ ! -x "$priv/release/arca-server" ]]; then
        mkdir -p "$priv/release"
        local bin
        for bin in "${ARCA_BINARIES[@]}"; do cp "$ARCA_TARGET_DIR/release/$bin" "$priv/release/"; done
    fi
    arca_log "packaging/build-deb.sh --no-build ${version:+--version $version }--out $out"
    CARGO_TARGET_DIR=$priv "$E2E_ROOT/packaging/build-deb.sh" --no-build ${version:+--version "$version"} --out "$out" \
        >"$log" 2>&1 || {
        tail -30 "$log" >&2
        arca_die "packaging/build-deb.sh ${version:+--version $version }failed (log above)"
    }
}

prepare_packages() {
    local src base next
    if [[ "$E2E_DEV" == 1 ]]; then
        arca_warn "E2E_DEV=1: installing $ARCA_TARGET_DIR/release binaries and units/ (no packages)"
        ARCA_VERSION=$("$ARCA_TARGET_DIR/release/arca-server" --version | awk '{print $2}')
        return 0
    fi
    if [[ -n "$DEBS_SRC" ]]; then
        src=$DEBS_SRC
    else
        [[ -x "$E2E_ROOT/packaging/build-deb.sh" ]] || arca_die "packaging/build-deb.sh is missing (or use --debs DIR)"
        ((NO_BUILD)) || arca_ensure_built
        src=$E2E_WORK/build1
        build_debs "$src"
    fi
    ARCA_VERSION=$(e2e_debs_find "$src") ||
        arca_die "no complete arca / arca-common / arca-server / arca-storage-mover / arca-license-agent / arca-config-sync / arca-session-cleanup .deb set in $src"
    e2e_debs_copy "$src" "$E2E_DEBS" "$ARCA_VERSION"
    arca_log "packages under test: version $ARCA_VERSION ($src)"
    if [[ " ${ONLY[*]} " == *" upgrade "* ]]; then
        [[ -x "$E2E_ROOT/packaging/build-deb.sh" ]] || arca_die "the upgrade scenario needs packaging/build-deb.sh"
        base=$(e2e_upstream_version "$ARCA_VERSION")
        next="${base%.*}.$((${base##*.} + 1))"
        if [[ -n "$DEBS_SRC" && ! -x "$ARCA_TARGET_DIR/release/arca-server" ]]; then
            arca_die "the upgrade scenario builds version $next from $ARCA_TARGET_DIR/release, which is missing"
        fi
        build_debs "$E2E_WORK/build2" "$next"
        NEXT_VERSION=$(e2e_debs_find "$E2E_WORK/build2") || arca_die "no .deb set in $E2E_WORK/build2"
        dpkg --compare-versions "$NEXT_VERSION" gt "$ARCA_VERSION" ||
            arca_die "the upgrade packages ($NEXT_VERSION) are not newer than $ARCA_VERSION"
        e2e_debs_copy "$E2E_WORK/build2" "$E2E_DEBS2" "$NEXT_VERSION"
        arca_log "upgrade packages: version $NEXT_VERSION"
    fi
}

# ---------------------------------------------------------------------------------------------------------------
# runner: every scenario in its own subshell (own cleanup list), with a time limit

run_scenario() {
    local name=$1 t0=$SECONDS rc=0 timed_out=0 limit
    # Each scenario gets E2E_SCENARIO_TIMEOUT, but the whole run stays within E2E_TOTAL_TIMEOUT (60 s kept for
    # the last cleanup).
    limit=$((E2E_TOTAL_TIMEOUT - 60 - (SECONDS - RUN_START)))
    if ((limit < 30)); then
        arca_warn "scenario $name skipped: the run's time limit (${E2E_TOTAL_TIMEOUT}s) is used up"
        echo "skipped: no time left of E2E_TOTAL_TIMEOUT=${E2E_TOTAL_TIMEOUT}s" >"$RESULTS_DIR/$name.reason"
        printf '%s FAIL 0\n' "$name" >>"$RESULTS_DIR/summary"
        return 0
    fi
    ((limit <= E2E_SCENARIO_TIMEOUT)) || limit=$E2E_SCENARIO_TIMEOUT
    (
        _ARCA_CLEANUP=()
        _ARCA_CLEANED=0
        trap e2e_protected_exit EXIT
        trap '_arca_on_signal TERM' TERM
        trap '_arca_on_signal INT' INT
        SCENARIO=$name
        E2E_SCOPE=$name
        # The first fatal message is the scenario's reason in the summary.
        # shellcheck disable=SC2317 # called by arca_die
        arca_die_hook() {
            [[ -e "$RESULTS_DIR/$SCENARIO.reason" ]] || printf '%s\n' "$1" >"$RESULTS_DIR/$SCENARIO.reason"
        }
        arca_log "==== scenario $name ===="
        "scenario_${name//-/_}"
        arca_log "==== scenario $name: PASS ===="
    ) &
    SCEN_PID=$!
    while kill -0 "$SCEN_PID" 2>/dev/null; do
        if ((SECONDS - t0 >= limit)); then
            arca_warn "scenario $name timed out after $limit s; stopping it"
            echo "timeout=${limit}s" >>"$RESULTS_DIR/$name.kv"
            [[ -e "$RESULTS_DIR/$name.reason" ]] || echo "timed out after ${limit}s" >"$RESULTS_DIR/$name.reason"
            timed_out=1
            e2e_kill_pid "$SCEN_PID" 60
            break
        fi
        sleep 1
    done
    wait "$SCEN_PID" || rc=$?
    ((!timed_out)) || rc=124
    SCEN_PID=""
    e2e_reap_recorded
    printf '%s %s %s\n' "$name" "$([[ $rc == 0 ]] && echo PASS || echo FAIL)" "$((SECONDS - t0))" >>"$RESULTS_DIR/summary"
}

SCEN_PID=""
stop_scenario() {
    [[ -n "$SCEN_PID" ]] || return 0
    e2e_kill_pid "$SCEN_PID" 60
}

print_summary() {
    local name status secs kv
    [[ -f "$RESULTS_DIR/summary" ]] || return 0
    printf '\n%-10s %-6s %6s  %s\n' scenario result secs "key numbers"
    printf '%-10s %-6s %6s  %s\n' ---------- ------ ------ -----------
    while read -r name status secs; do
        kv=$(paste -sd' ' "$RESULTS_DIR/$name.kv" 2>/dev/null || true)
        printf '%-10s %-6s %6s  %s\n' "$name" "$status" "$secs" "$kv"
        if [[ "$status" == FAIL && -s "$RESULTS_DIR/$name.reason" ]]; then
            printf '%-10s %-6s %6s  reason: %s\n' "" "" "" "$(head -c 400 "$RESULTS_DIR/$name.reason")"
        fi
    done <"$RESULTS_DIR/summary"
    printf '\ntotal %s s; packages %s%s\n' "$((SECONDS - RUN_START))" "${ARCA_VERSION:-?}" \
        "${NEXT_VERSION:+ -> $NEXT_VERSION}"
}

# After a failure: the logs (HAProxy, client records, every node's console/apt/journal) outlive the work dir.
keep_logs() {
    local keep
    if [[ "${ARCA_KEEP_TMP:-0}" == 1 ]]; then
        arca_log "some scenarios FAILED; everything is in $E2E_WORK"
        return 0
    fi
    keep=$(mktemp -d "${ARCA_TEST_TMP:-${TMPDIR:-/tmp}}/arca-e2e-logs.XXXXXX")
    (cd "$E2E_WORK" && tar cf - --exclude='./nodes/*/upper' --exclude='./nodes/*/.#*' --exclude=./target \
        --exclude=./build1 --exclude=./build2 --exclude=./debs --exclude=./debs2 --exclude=./shared \
        --exclude='./s3-*/root' . 2>/dev/null) |
        (cd "$keep" && tar xf -) || true
    arca_log "some scenarios FAILED; logs kept in $keep (logs/, results/, client-*/, nodes/<scenario>-<node>/)"
}

main() {
    trap e2e_protected_exit EXIT
    e2e_host_setup
    e2e_workdir
    arca_on_exit e2e_pg_drop_run_dbs
    arca_on_exit e2e_reap_recorded
    arca_on_exit stop_scenario
    RESULTS_DIR=$E2E_WORK/results
    mkdir -p "$RESULTS_DIR"
    local name failed=0
    # Every scenario but single and session-cleanup runs a cluster on PostgreSQL.
    for name in "${ONLY[@]}"; do
        if [[ "$name" != single && "$name" != session-cleanup ]]; then
            e2e_pg_setup
            break
        fi
    done
    e2e_rootfs
    prepare_packages
    for name in "${ONLY[@]}"; do
        run_scenario "$name"
    done
    print_summary
    grep -q ' FAIL ' "$RESULTS_DIR/summary" && failed=1
    if ((failed)); then
        keep_logs
        exit 1
    fi
    arca_log "all scenarios passed"
}

main

# shellcheck shell=bash
# A cluster of arca-server nodes on loopback, on one fresh PostgreSQL database, behind HAProxy: what
# tests/bench/cluster.sh, tests/bench/config-sync-latency.sh and tests/clients/npm-cluster.sh share. Source it
# after tests/lib/arca.sh (it uses arca_log, arca_die, arca_on_exit, arca_wait_for, arca_free_port).
#
#   cluster_init DIR          a database of its own (dropped at exit), the licenses (CLUSTER_LICENSE=1) and
#                             CLUSTER_SIZE node homes under DIR; chooses the HAProxy port (CLUSTER_LB_URL is known
#                             from here on, so that arca.url.base can name it); registers the cleanup
#   cluster_start             starts every node: the primary first, its master key copied to the others; waits
#                             for each node's ping, then (CLUSTER_LICENSE=1) for each to be licensed and ready;
#                             sets CLUSTER_ADMIN_PW
#   cluster_start_node I      starts node I (0-based) again after cluster_stop_node and waits for its ping (and
#                             its readiness when licensed)
#   cluster_stop_node I       SIGTERM to node I's server, then to its license agent (SIGKILL after 10 s)
#   cluster_stop_pid PID NAME SIGTERM to PID, SIGKILL (with a warning naming NAME) when it still runs after 10 s
#   cluster_node_url I        http://IP:PORT/artifactory of node I
#   cluster_haproxy_start     HAProxy on CLUSTER_LB_PORT in front of all nodes (round robin over the nodes whose
#                             readiness answers 200, a request that could not connect is sent to another node);
#                             waits until requests reach every node
#   cluster_haproxy_status I  UP, DOWN, MAINT, "UP 1/2", … of node I as HAProxy sees it
#   cluster_wait_haproxy I STATUS [TIMEOUT]   waits until HAProxy sees node I as STATUS (UP, DOWN)
#
# Nodes: ids node-a, node-b, … (the primary is node-a), each listening on its own address 127.0.0.11, .12, …,
# membership.port=0, arca.ha.data.dir = DIR/shared (one data dir shared by all, as NFS would be).
#
# Settings (before cluster_init):
#   CLUSTER_SIZE=3            number of nodes (1 to 9)
#   CLUSTER_LICENSE=1         1: a throwaway license issuer trusted by every node, a key per node in the primary's
#                             etc/cluster.license, arca-license-agent beside every server; 0: none (nodes answer
#                             their ping but are not ready: enough without HAProxy)
#   CLUSTER_DB_PREFIX=arca_b_ the database is PREFIX<pid>_<random> (tests/run-all.sh drops leftover arca_c_ ones)
#   CLUSTER_DB_POOL           the pool lines of etc/db.properties (default: pool.max.active=16, pool.max.idle=2)
#   CLUSTER_SYSTEM_PROPS      lines of every node's etc/system.properties (default: none)
#   CLUSTER_URL_BASE=0        1: arca.url.base=CLUSTER_LB_URL in every etc/system.properties
#   CLUSTER_HAPROXY_PIN=0     1: a request whose User-Agent contains "arca-pin/NODE_ID" (curl -A, npm's
#                             user-agent setting) is sent to that node while it is up: a request through the load
#                             balancer to a chosen node
#   ARCA_TEST_PG_URL          PostgreSQL admin URL; when unset, tests/lib/postgres.sh provides it
#
# Results: CLUSTER_IDS CLUSTER_IPS CLUSTER_PORTS CLUSTER_HOMES CLUSTER_SERVER_PIDS CLUSTER_AGENT_PIDS (arrays,
# index = node), CLUSTER_DIR, CLUSTER_DB (the database's name), CLUSTER_DB_URL (postgresql://user:pw@host:port/db),
# CLUSTER_LB_PORT, CLUSTER_LB_URL (http://127.0.0.1:PORT/artifactory), CLUSTER_ADMIN_PW, CLUSTER_HAPROXY_PID.
# Logs: each home's arca-server.log and arca-license-agent.log, DIR/haproxy.log; DIR/haproxy.cfg.

if [[ -n "${_ARCA_CLUSTER_LIB_LOADED:-}" ]]; then
    return 0
fi
_ARCA_CLUSTER_LIB_LOADED=1

CLUSTER_SIZE=${CLUSTER_SIZE:-3}
CLUSTER_LICENSE=${CLUSTER_LICENSE:-1}
CLUSTER_DB_PREFIX=${CLUSTER_DB_PREFIX:-arca_b_}
CLUSTER_DB_POOL=${CLUSTER_DB_POOL:-$'pool.max.active=16\npool.max.idle=2'}
CLUSTER_SYSTEM_PROPS=${CLUSTER_SYSTEM_PROPS:-}
CLUSTER_URL_BASE=${CLUSTER_URL_BASE:-0}
CLUSTER_HAPROXY_PIN=${CLUSTER_HAPROXY_PIN:-0}

CLUSTER_IDS=() CLUSTER_IPS=() CLUSTER_PORTS=() CLUSTER_HOMES=() CLUSTER_SERVER_PIDS=() CLUSTER_AGENT_PIDS=()
CLUSTER_DIR="" CLUSTER_DB="" CLUSTER_DB_URL="" CLUSTER_LB_PORT="" CLUSTER_LB_URL="" CLUSTER_ADMIN_PW=""
CLUSTER_HAPROXY_PID="" _CLUSTER_STATS_URL=""

# cluster_free_port_on IP — a free TCP port on IP
cluster_free_port_on() {
    python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1]); s.close()' "$1"
}

cluster_init() {
    local dir=$1 i h pg_url pg_rest creds hostport letters=abcdefghi lic
    [[ "$CLUSTER_SIZE" =~ ^[1-9]$ ]] || arca_die "CLUSTER_SIZE must be 1 to 9 (got '$CLUSTER_SIZE')"
    command -v psql >/dev/null 2>&1 || arca_die "psql is not installed"
    if [[ -z "${ARCA_TEST_PG_URL:-}" ]]; then
        local pg_export
        pg_export=$("$ARCA_ROOT/tests/lib/postgres.sh" --export) || arca_die "tests/lib/postgres.sh could not provide PostgreSQL"
        eval "$pg_export"
        [[ -n "${ARCA_TEST_PG_URL:-}" ]] || arca_die "tests/lib/postgres.sh set no ARCA_TEST_PG_URL"
    fi
    CLUSTER_DIR=$dir
    mkdir -p "$dir/shared"

    # the database, dropped at exit (WITH (FORCE): the cleanup runs in reverse order, the servers are gone by then)
    CLUSTER_DB="${CLUSTER_DB_PREFIX}$$_$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
    psql -qAt -v ON_ERROR_STOP=1 "$ARCA_TEST_PG_URL" -c "CREATE DATABASE $CLUSTER_DB" >/dev/null ||
        arca_die "could not create database $CLUSTER_DB"
    arca_on_exit _cluster_drop_db
    pg_url=${ARCA_TEST_PG_URL%%\?*}
    pg_rest=${pg_url#postgresql://}
    creds=${pg_rest%%@*}
    hostport=${pg_rest#*@}
    hostport=${hostport%%/*}
    # shellcheck disable=SC2034 # for the scripts that source this file
    CLUSTER_DB_URL="postgresql://$creds@$hostport/$CLUSTER_DB"

    CLUSTER_LB_PORT=$(arca_free_port)
    CLUSTER_LB_URL="http://127.0.0.1:$CLUSTER_LB_PORT/artifactory"

    # every cluster node needs a license (docs/licenses.md): a throwaway issuer, one key per node
    lic="$dir/licenses"
    if ((CLUSTER_LICENSE)); then
        local arcactl="$ARCA_TARGET_DIR/release/arcactl"
        [[ -x "$ARCA_TARGET_DIR/release/arca-license-agent" && -x "$arcactl" ]] ||
            arca_die "arca-license-agent and arcactl must be built (release)"
        mkdir -p "$lic"
        "$arcactl" license issuer-new --out "$lic/issuer.key" >"$lic/issuer-new.out" 2>&1 ||
            arca_die "arcactl license issuer-new failed: $(cat "$lic/issuer-new.out")"
        "$arcactl" license issue --issuer-key "$lic/issuer.key" --to "arca test cluster" \
            --valid-through "$(date -u -d '+1 year' +%F)" --count "$CLUSTER_SIZE" >"$lic/cluster.license" 2>"$lic/issue.err" ||
            arca_die "arcactl license issue failed: $(cat "$lic/issue.err")"
    fi

    arca_on_exit _cluster_stop_all
    for ((i = 0; i < CLUSTER_SIZE; i++)); do
        CLUSTER_IDS[i]="node-${letters:i:1}"
        CLUSTER_IPS[i]="127.0.0.$((11 + i))"
        CLUSTER_PORTS[i]=$(cluster_free_port_on "${CLUSTER_IPS[i]}")
        h="$dir/${CLUSTER_IDS[i]}"
        CLUSTER_HOMES[i]=$h
        mkdir -p "$h/etc/security"
        chmod 0700 "$h/etc/security"
        printf 'type=postgresql\nurl=postgresql://%s/%s\nusername=%s\npassword=%s\n%s\n' \
            "$hostport" "$CLUSTER_DB" "${creds%%:*}" "${creds#*:}" "$CLUSTER_DB_POOL" >"$h/etc/db.properties"
        printf 'node.id=%s\ncontext.url=http://%s:%s/artifactory/\nmembership.port=0\nprimary=%s\narca.ha.data.dir=%s\n' \
            "${CLUSTER_IDS[i]}" "${CLUSTER_IPS[i]}" "${CLUSTER_PORTS[i]}" "$([[ $i == 0 ]] && echo true || echo false)" \
            "$dir/shared" >"$h/etc/ha-node.properties"
        if [[ -n "$CLUSTER_SYSTEM_PROPS" || "$CLUSTER_URL_BASE" == 1 ]]; then
            {
                [[ -z "$CLUSTER_SYSTEM_PROPS" ]] || printf '%s\n' "$CLUSTER_SYSTEM_PROPS"
                [[ "$CLUSTER_URL_BASE" != 1 ]] || printf 'arca.url.base=%s\n' "$CLUSTER_LB_URL"
            } >"$h/etc/system.properties"
        fi
        if ((CLUSTER_LICENSE)); then
            mkdir -p "$h/etc/security/license-issuers"
            cp "$lic/issuer.key.pub" "$h/etc/security/license-issuers/test.pub"
            ((i != 0)) || cp "$lic/cluster.license" "$h/etc/cluster.license"
        fi
    done
    arca_log "cluster of $CLUSTER_SIZE nodes in $dir, database $CLUSTER_DB on $hostport"
}

_cluster_drop_db() {
    [[ -n "$CLUSTER_DB" ]] || return 0
    psql -qAt "$ARCA_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $CLUSTER_DB WITH (FORCE)" >/dev/null 2>&1 ||
        arca_warn "could not drop database $CLUSTER_DB"
}

cluster_node_url() { echo "http://${CLUSTER_IPS[$1]}:${CLUSTER_PORTS[$1]}/artifactory"; }
_cluster_code() { curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$(cluster_node_url "$1")$2" 2>/dev/null || true; }
_cluster_ready() { [[ "$(_cluster_code "$1" /api/v1/system/readiness)" == 200 ]]; }

cluster_stop_pid() {
    local pid=$1 name=$2
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! arca_wait_exit "$pid" 100; then
            arca_warn "$name (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

_cluster_stop_all() {
    local i
    cluster_stop_pid "$CLUSTER_HAPROXY_PID" haproxy
    CLUSTER_HAPROXY_PID=""
    for ((i = CLUSTER_SIZE - 1; i >= 0; i--)); do
        cluster_stop_pid "${CLUSTER_AGENT_PIDS[i]:-}" "arca-license-agent ${CLUSTER_IDS[i]:-}"
        CLUSTER_AGENT_PIDS[i]=""
    done
    for ((i = CLUSTER_SIZE - 1; i >= 0; i--)); do
        cluster_stop_pid "${CLUSTER_SERVER_PIDS[i]:-}" "arca-server ${CLUSTER_IDS[i]:-}"
        CLUSTER_SERVER_PIDS[i]=""
    done
}

# _cluster_launch I — starts node I's server, waits for its ping (30 s), then starts its license agent
_cluster_launch() {
    local i=$1 h=${CLUSTER_HOMES[$1]} deadline
    unset NOTIFY_SOCKET JOURNAL_STREAM
    arca_log "starting arca-server ${CLUSTER_IDS[i]} --home $h --listen ${CLUSTER_IPS[i]}:${CLUSTER_PORTS[i]}"
    MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2} ARCA_HOME="$h" "$ARCA_BIN" --home "$h" --listen "${CLUSTER_IPS[i]}:${CLUSTER_PORTS[i]}" </dev/null \
        >>"$h/arca-server.log" 2>&1 &
    CLUSTER_SERVER_PIDS[i]=$!
    deadline=$((SECONDS + 30))
    until [[ "$(_cluster_code "$i" /api/system/ping)" == 200 ]]; do
        if ! kill -0 "${CLUSTER_SERVER_PIDS[i]}" 2>/dev/null || ((SECONDS >= deadline)); then
            tail -n 30 "$h/arca-server.log" >&2
            arca_die "arca-server ${CLUSTER_IDS[i]} did not answer its ping"
        fi
        sleep 0.05
    done
    if ((CLUSTER_LICENSE)); then
        ARCA_HOME="$h" "$ARCA_TARGET_DIR/release/arca-license-agent" </dev/null >>"$h/arca-license-agent.log" 2>&1 &
        CLUSTER_AGENT_PIDS[i]=$!
    fi
}

# _cluster_wait_ready I — licensed and ready (60 s)
_cluster_wait_ready() {
    local i=$1
    ((CLUSTER_LICENSE)) || return 0
    arca_wait_for 60 "${CLUSTER_IDS[i]} licensed and ready" _cluster_ready "$i" || {
        tail -n 20 "${CLUSTER_HOMES[i]}/arca-server.log" "${CLUSTER_HOMES[i]}/arca-license-agent.log" >&2
        arca_die "${CLUSTER_IDS[i]} is not ready"
    }
}

cluster_start() {
    local i pwfile="${CLUSTER_HOMES[0]}/etc/security/initial-admin-password"
    [[ -x "$ARCA_BIN" ]] || arca_die "$ARCA_BIN not found: build it first (cargo build --release -p arca-server)"
    _cluster_launch 0
    [[ -s "${CLUSTER_HOMES[0]}/etc/security/master.key" ]] || arca_die "the primary created no etc/security/master.key"
    for ((i = 1; i < CLUSTER_SIZE; i++)); do
        cp "${CLUSTER_HOMES[0]}/etc/security/master.key" "${CLUSTER_HOMES[i]}/etc/security/master.key"
        _cluster_launch "$i"
    done
    for ((i = 0; i < CLUSTER_SIZE; i++)); do _cluster_wait_ready "$i"; done
    [[ -s "$pwfile" ]] || arca_die "no admin password in $pwfile"
    # shellcheck disable=SC2034 # for the scripts that source this file
    CLUSTER_ADMIN_PW=$(tr -d '\r\n' <"$pwfile")
}

# the server first: without its agent, it would answer 503 (unlicensed) to what HAProxy still sends it
cluster_stop_node() {
    local i=$1
    arca_log "stopping ${CLUSTER_IDS[i]}"
    cluster_stop_pid "${CLUSTER_SERVER_PIDS[i]:-}" "arca-server ${CLUSTER_IDS[i]}"
    cluster_stop_pid "${CLUSTER_AGENT_PIDS[i]:-}" "arca-license-agent ${CLUSTER_IDS[i]}"
    CLUSTER_AGENT_PIDS[i]="" CLUSTER_SERVER_PIDS[i]=""
}

cluster_start_node() {
    _cluster_launch "$1"
    _cluster_wait_ready "$1"
}

# ---------------------------------------------------------------------------------------------------------------
# HAProxy (the configuration of tests/e2e/lib.sh, without its request log)

cluster_haproxy_start() {
    local cfg="$CLUSTER_DIR/haproxy.cfg" stats_port i
    command -v haproxy >/dev/null 2>&1 || arca_die "haproxy is not installed"
    stats_port=$(arca_free_port)
    {
        cat <<EOF
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
    # Retry only when the connection to a node could not be made: the request has not been sent yet, so this is
    # safe for PUTs too. A request that reached a node is never re-sent. "option redispatch 1" sends every retry
    # to another node.
    retries 3
    retry-on conn-failure
    option redispatch 1
frontend arca
    bind 127.0.0.1:$CLUSTER_LB_PORT
    default_backend arca_nodes
backend arca_nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /artifactory/api/v1/system/readiness
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
EOF
        for ((i = 0; i < CLUSTER_SIZE; i++)); do
            printf '    server %s %s:%s check\n' "${CLUSTER_IDS[i]}" "${CLUSTER_IPS[i]}" "${CLUSTER_PORTS[i]}"
        done
        if [[ "$CLUSTER_HAPROXY_PIN" == 1 ]]; then
            for ((i = 0; i < CLUSTER_SIZE; i++)); do
                printf '    use-server %s if { req.hdr(user-agent) -m sub arca-pin/%s }\n' "${CLUSTER_IDS[i]}" "${CLUSTER_IDS[i]}"
            done
        fi
        cat <<EOF
listen stats
    bind 127.0.0.1:$stats_port
    stats enable
    stats uri /stats
EOF
    } >"$cfg"
    haproxy -c -q -f "$cfg" || arca_die "invalid HAProxy config $cfg"
    haproxy -db -f "$cfg" </dev/null >>"$CLUSTER_DIR/haproxy.log" 2>&1 &
    CLUSTER_HAPROXY_PID=$!
    _CLUSTER_STATS_URL="http://127.0.0.1:$stats_port/stats;csv"
    arca_wait_for 20 "HAProxy sending to all $CLUSTER_SIZE nodes" _cluster_lb_spread ||
        arca_die "HAProxy does not spread over the nodes (see $CLUSTER_DIR/haproxy.log)"
}

# every node in the rotation: 2 x N pings in a row answered by N nodes
_cluster_lb_spread() {
    local n j
    n=$(for ((j = 0; j < 2 * CLUSTER_SIZE; j++)); do curl -s --max-time 2 -D - -o /dev/null "$CLUSTER_LB_URL/api/system/ping"; done |
        awk 'tolower($1) == "x-arca-node-id:" {print $2}' | tr -d '\r' | sort -u | wc -l)
    ((n == CLUSTER_SIZE))
}

cluster_haproxy_status() {
    curl -fsS --max-time 2 "$_CLUSTER_STATS_URL" 2>/dev/null |
        awk -F, -v s="${CLUSTER_IDS[$1]}" '$1 == "arca_nodes" && $2 == s {print $18}'
}

_cluster_haproxy_is() { [[ "$(cluster_haproxy_status "$1")" == "$2" ]]; }

cluster_wait_haproxy() {
    arca_wait_for "${3:-10}" "HAProxy to see ${CLUSTER_IDS[$1]} $2" _cluster_haproxy_is "$1" "$2"
}

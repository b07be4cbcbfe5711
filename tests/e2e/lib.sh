# shellcheck shell=bash
# Helpers for arca's end-to-end appliance tests (tests/e2e/run.sh): Debian 12 containers with systemd as
# PID 1 (systemd-nspawn, see /work/shared/notes/systemd-containers.md), the real .deb packages installed
# with apt, HAProxy on the host in front of the nodes, PostgreSQL on the host for HA.
#
# Source it from a bash script running with `set -euo pipefail` (it sources tests/lib/arca.sh, which
# installs the EXIT/INT/TERM/HUP cleanup traps):
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Host:
#   e2e_host_setup                       root check; installs debootstrap systemd-container haproxy curl
#                                        when missing (apt-get only then; PostgreSQL: e2e_pg_setup)
#   e2e_rootfs                           builds/reuses the cached base root fs; sets E2E_ROOTFS
#   e2e_workdir                          creates the run's work dir E2E_WORK (removed at exit)
#   e2e_protected_exit                   EXIT trap: arca.sh's cleanup list with INT/TERM/HUP ignored meanwhile
# Nodes (containers; all state in associative arrays keyed by node name):
#   e2e_node_boot NAME [--no-shared]     boots NAME from E2E_ROOTFS with an overlay in
#                                        $E2E_WORK/nodes/[$E2E_SCOPE-]NAME (upper/, console.log, journal.log),
#                                        /mnt/shared = $E2E_SHARED (not with --no-shared), /debs = $E2E_DEBS,
#                                        /debs2 = $E2E_DEBS2 (both read-only); waits until systemd is
#                                        running/degraded
#   e2e_node_exec NAME CMD...            runs CMD inside NAME (nsenter into its systemd), clean env
#   e2e_node_sh NAME SCRIPT              e2e_node_exec NAME sh -c SCRIPT
#   e2e_node_stop NAME                   poweroff inside, then TERM/KILL of the PIDs this script started
#   e2e_node_stop_all                    the same for every node, in parallel (registered as cleanup at boot)
#   e2e_node_write NAME PATH MODE OWNER  writes stdin to PATH inside NAME (atomic, mode, owner)
#   e2e_node_journal NAME [UNIT]         journalctl -u UNIT (default arca-server) -o cat
# HAProxy (health check GET /artifactory/api/v1/system/readiness inter 1s fall 2 rise 1; retries only on
# connection failures, redispatched to another node):
#   e2e_haproxy_start NAME=ADDR:PORT...  starts HAProxy on a free 127.0.0.1 port; sets E2E_LB_PORT, E2E_LB_URL
#                                        (…/artifactory), E2E_LB_STATS_URL (CSV stats)
#   e2e_haproxy_status SERVER            UP / DOWN / … of a backend server as HAProxy sees it
#   e2e_haproxy_stop
# PostgreSQL:
#   e2e_pg_setup                         tests/lib/postgres.sh; sets ARCA_TEST_PG_URL, E2E_PG_HOSTPORT, E2E_PG_USER,
#                                        E2E_PG_PASSWORD
#   e2e_pg_create_db VAR                 a fresh database (dropped at exit); its name in VAR
#   e2e_pg_drop_run_dbs                  drops every database of this run (safety net)
# S3 on the host (s3s-fs from tests/lib/s3.sh; the nodes share the host's network, so they reach it at 127.0.0.1,
# like PostgreSQL):
#   e2e_s3_setup NAME                    starts s3s-fs on a free port over $E2E_WORK/s3-NAME/root with one bucket and
#                                        random keys (stopped at exit); sets E2E_S3_ENDPOINT, E2E_S3_BUCKET,
#                                        E2E_S3_ACCESS_KEY, E2E_S3_SECRET_KEY, E2E_S3_PATH, E2E_S3_ROOT and
#                                        E2E_S3_OBJECTS (the dir holding the objects' files)
#   e2e_s3_stop / e2e_s3_start           kill it / start it again on the same port and root (an outage)
#   e2e_s3_binarystore TEMPLATE [XML]    binarystore.xml for TEMPLATE (s3-storage-v3, s3-storage-v3-direct,
#                                        cluster-s3-storage-v3) with an s3-storage-v3 block pointing at that server,
#                                        keys in plain text as an operator writes them; XML (more provider blocks)
#                                        goes before </config>
# Background processes (started with setsid, so a terminal Ctrl-C reaches only the scripts, which stop them):
#   e2e_track_pid PID [GRACE_S]          TERM (then KILL) PID at exit; also recorded in $E2E_WORK/pids
#   e2e_reap_recorded                    SIGKILL every recorded PID still alive (same start time) — the safety net
#                                        when a (sub)shell's own cleanup was cut short
# arca (see the section at the end): e2e_debs_find, e2e_debs_copy, e2e_arca_install, e2e_arca_wait_ready,
#   e2e_arca_admin_pw, e2e_arca_diag
#
# Env: E2E_MIRROR (default http://deb.debian.org/debian), E2E_SUITE (bookworm), E2E_CACHE (/var/cache/arca-test),
#      ARCA_KEEP_TMP=1 keeps the work dir, E2E_BOOT_TIMEOUT (60 s), E2E_SCOPE (prefix of the nodes' dirs, e.g.
#      the scenario, so that every node's console, install and journal logs survive until the end of the run).

if [[ -n "${_E2E_LIB_LOADED:-}" ]]; then
    return 0
fi
_E2E_LIB_LOADED=1

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export ARCA_TEST_NAME=${ARCA_TEST_NAME:-e2e}
# shellcheck source=../lib/arca.sh
. "$E2E_DIR/../lib/arca.sh"
E2E_ROOT=$ARCA_ROOT

E2E_SUITE=${E2E_SUITE:-bookworm}
E2E_MIRROR=${E2E_MIRROR:-http://deb.debian.org/debian}
E2E_CACHE=${E2E_CACHE:-/var/cache/arca-test}
E2E_INCLUDE=systemd,systemd-sysv,dbus,procps,ca-certificates,curl
# Bump when e2e_rootfs changes what it puts into the root fs (part of the cache key).
E2E_ROOTFS_RECIPE=2
E2E_BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-60}
E2E_CONTAINER_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

E2E_SCOPE=${E2E_SCOPE:-}
E2E_ROOTFS=""
E2E_WORK=""
E2E_SHARED=""
E2E_DEBS=""
E2E_DEBS2=""

declare -gA E2E_NSPAWN_PID=()  # node -> PID of the systemd-nspawn process started here
declare -gA E2E_INIT_PID=()    # node -> host PID of the container's PID 1 (systemd)
declare -gA E2E_NODE_DIR=()    # node -> its dir in the work dir (upper/, console.log)

e2e_now() { date +%s.%N; }

# ---------------------------------------------------------------------------------------------------------------
# host

e2e_apt_ensure() {
    local missing=() p made_policy=0 rc=0
    for p in "$@"; do
        [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" == installed ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    arca_log "installing host packages: ${missing[*]}"
    # Another engineer's apt may hold the lock: wait for it instead of failing.
    apt-get update -qq -o DPkg::Lock::Timeout=600 >&2 || arca_warn "apt-get update failed; trying the install anyway"
    # Installing a daemon (haproxy) must not start it system-wide.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
        "${missing[@]}" >&2 || rc=$?
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || arca_die "apt-get install ${missing[*]} failed (exit $rc)"
}

e2e_host_setup() {
    ((EUID == 0)) || arca_die "the e2e tests boot containers: run them as root"
    e2e_apt_ensure debootstrap systemd-container haproxy curl
    local t
    for t in systemd-nspawn nsenter haproxy debootstrap python3 curl; do
        command -v "$t" >/dev/null || arca_die "$t not found after installing the host packages"
    done
}

# ---------------------------------------------------------------------------------------------------------------
# base root file system (cached, keyed by suite, mirror, include list and recipe version)

e2e_rootfs() {
    local key dir tmp
    key=$(printf '%s\n' "$E2E_SUITE" "$E2E_MIRROR" "$E2E_INCLUDE" "$E2E_ROOTFS_RECIPE" | sha256sum | cut -c1-12)
    dir=$E2E_CACHE/rootfs-$key
    mkdir -p "$E2E_CACHE"
    exec {_e2e_lock_fd}>"$E2E_CACHE/.rootfs.lock"
    flock "$_e2e_lock_fd"
    if [[ ! -f "$dir/.e2e-complete" ]]; then
        tmp=$E2E_CACHE/.rootfs-$key.tmp.$$
        rm -rf -- "$tmp"
        arca_log "debootstrap $E2E_SUITE into $dir (one-time, cached; include $E2E_INCLUDE)"
        if ! debootstrap --variant=minbase --include="$E2E_INCLUDE" "$E2E_SUITE" "$tmp" "$E2E_MIRROR" \
            >"$E2E_CACHE/debootstrap-$key.log" 2>&1; then
            tail -20 "$E2E_CACHE/debootstrap-$key.log" >&2
            rm -rf -- "$tmp"
            exec {_e2e_lock_fd}>&-
            arca_die "debootstrap failed (log: $E2E_CACHE/debootstrap-$key.log)"
        fi
        _e2e_rootfs_customize "$tmp"
        touch "$tmp/.e2e-complete"
        rm -rf -- "$dir"
        mv -- "$tmp" "$dir"
    fi
    exec {_e2e_lock_fd}>&-
    E2E_ROOTFS=$dir
}

_e2e_rootfs_customize() {
    local r=$1
    # Every node gets its own machine-id and hostname in its overlay (e2e_node_boot).
    : >"$r/etc/machine-id"
    rm -f "$r/var/lib/dbus/machine-id"
    # Package lists, so that `apt-get install ./x.deb` can fetch dependencies the base lacks.
    cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
    if ! chroot "$r" apt-get update -qq >>"$E2E_CACHE/debootstrap.log" 2>&1; then
        arca_warn "apt-get update in the root fs failed: apt can only install the local .debs' dependencies that are already there"
    fi
    chroot "$r" apt-get clean >/dev/null 2>&1 || true
    # Nothing waits on a console inside the test containers.
    ln -sf /dev/null "$r/etc/systemd/system/console-getty.service"
    ln -sf /dev/null "$r/etc/systemd/system/getty@.service"
    # Quiet apt (no progress bars in the logs).
    printf 'Dpkg::Use-Pty "0";\nquiet "1";\n' >"$r/etc/apt/apt.conf.d/90e2e-quiet"
}

# ---------------------------------------------------------------------------------------------------------------
# work dir, background processes

e2e_workdir() {
    [[ -z "$E2E_WORK" ]] || return 0
    arca_tmpdir E2E_WORK arca-e2e
    E2E_SHARED=$E2E_WORK/shared
    E2E_DEBS=$E2E_WORK/debs
    E2E_DEBS2=$E2E_WORK/debs2
    mkdir -p "$E2E_SHARED" "$E2E_DEBS" "$E2E_DEBS2" "$E2E_WORK/nodes" "$E2E_WORK/logs"
    chmod 0755 "$E2E_WORK"
}

# e2e_protected_exit — an EXIT trap that runs arca.sh's cleanup list with INT/TERM/HUP ignored, so that a second
# Ctrl-C (or the runner's time limit) cannot cut the cleanup short. Install with: trap e2e_protected_exit EXIT
e2e_protected_exit() {
    trap '' INT TERM HUP
    set +e # (the shell's exit status is kept: an EXIT trap that does not call exit does not change it)
    _arca_run_cleanup
}

# e2e_kill_pid PID [GRACE_S] — TERM, wait, KILL. Only for PIDs this script started.
e2e_kill_pid() {
    local pid=$1 grace=${2:-5}
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        arca_wait_exit "$pid" $((grace * 10)) || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# e2e_track_pid PID [GRACE_S] — kill PID at exit (this shell's cleanup), and record it in $E2E_WORK/pids so
# that the top-level cleanup (e2e_reap_recorded) still finds it if this (sub)shell was killed itself.
e2e_track_pid() {
    arca_on_exit e2e_kill_pid "$1" "${2:-5}"
    _e2e_record_pid "$1"
}

_e2e_pid_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

_e2e_record_pid() {
    [[ -n "$E2E_WORK" ]] || return 0
    printf '%s %s\n' "$1" "$(_e2e_pid_start "$1")" >>"$E2E_WORK/pids"
}

# Kill every recorded PID that is still the same process (PID + start time), newest first.
e2e_reap_recorded() {
    local f=$E2E_WORK/pids pid start lines=() i
    [[ -n "$E2E_WORK" && -f "$f" ]] || return 0
    mapfile -t lines <"$f"
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        read -r pid start <<<"${lines[i]}"
        [[ -n "$pid" && -n "$start" && "$(_e2e_pid_start "$pid")" == "$start" ]] || continue
        arca_warn "killing leftover process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))"
        kill -KILL "$pid" 2>/dev/null || true
    done
    : >"$f"
}

# ---------------------------------------------------------------------------------------------------------------
# nodes

# Host PID of the container's PID 1: the descendant of the nspawn process whose innermost PID is 1.
_e2e_find_init() {
    local root=$1 queue=("$1") p c ns
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        if [[ "$p" != "$root" ]]; then
            ns=$(awk '/^NSpid:/ {print $NF; n=NF} END {}' "/proc/$p/status" 2>/dev/null || true)
            if [[ "$ns" == 1 ]] && [[ "$(awk '/^NSpid:/ {print NF}' "/proc/$p/status" 2>/dev/null)" -ge 3 ]]; then
                printf '%s\n' "$p"
                return 0
            fi
        fi
        # shellcheck disable=SC2013 # the children files are space-separated PIDs
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
            queue+=("$c")
        done
    done
    return 1
}

e2e_node_boot() {
    local name=$1 dir pid init deadline state shared=(--bind="$E2E_SHARED:/mnt/shared")
    [[ "${2:-}" != --no-shared ]] || shared=()
    [[ -n "$E2E_ROOTFS" && -n "$E2E_WORK" ]] || arca_die "e2e_node_boot: call e2e_rootfs and e2e_workdir first"
    [[ -z "${E2E_NSPAWN_PID[$name]:-}" ]] || arca_die "node $name is already running"
    dir=$E2E_WORK/nodes/${E2E_SCOPE:+$E2E_SCOPE-}$name
    rm -rf -- "$dir"
    mkdir -p "$dir/upper/etc"
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$dir/upper/etc/machine-id"
    echo >>"$dir/upper/etc/machine-id"
    printf '%s\n' "$name" >"$dir/upper/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$name" >"$dir/upper/etc/hosts"
    E2E_NODE_DIR[$name]=$dir
    # setsid: a Ctrl-C on the terminal reaches the scripts, which stop the nodes in order.
    setsid systemd-nspawn --register=no --keep-unit --quiet \
        -D "$E2E_ROOTFS" --overlay="$E2E_ROOTFS:$dir/upper:/" \
        --machine="$name" --hostname="$name" \
        "${shared[@]}" --bind-ro="$E2E_DEBS:/debs" --bind-ro="$E2E_DEBS2:/debs2" \
        -b </dev/null >"$dir/console.log" 2>&1 &
    pid=$!
    E2E_NSPAWN_PID[$name]=$pid
    # One cleanup entry per shell stops all its nodes together.
    if [[ "${_E2E_STOP_REGISTERED:-}" != "$BASHPID" ]]; then
        arca_on_exit e2e_node_stop_all
        _E2E_STOP_REGISTERED=$BASHPID
    fi
    _e2e_record_pid "$pid"
    deadline=$((SECONDS + E2E_BOOT_TIMEOUT))
    init=""
    while [[ -z "$init" ]]; do
        kill -0 "$pid" 2>/dev/null || {
            tail -20 "$dir/console.log" >&2
            arca_die "systemd-nspawn for $name exited during boot (console: $dir/console.log)"
        }
        ((SECONDS < deadline)) || arca_die "no systemd inside $name after ${E2E_BOOT_TIMEOUT}s"
        init=$(_e2e_find_init "$pid" || true)
        [[ -n "$init" ]] || sleep 0.1
    done
    E2E_INIT_PID[$name]=$init
    _e2e_record_pid "$init"
    # systemd's private socket appears a moment after exec; is-system-running --wait then blocks until boot ends.
    state=""
    while ((SECONDS < deadline)); do
        state=$(timeout 30 nsenter -t "$init" -a -- env -i PATH="$E2E_CONTAINER_PATH" \
            systemctl is-system-running --wait 2>/dev/null || true)
        [[ "$state" == running || "$state" == degraded ]] && break
        sleep 0.2
    done
    case "$state" in
        running) ;;
        degraded)
            arca_warn "$name booted degraded: $(e2e_node_exec "$name" systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
            ;;
        *) arca_die "$name did not finish booting within ${E2E_BOOT_TIMEOUT}s (state '$state', console: $dir/console.log)" ;;
    esac
    arca_log "node $name up (nspawn pid $pid, init pid $init, $state)"
}

e2e_node_exec() {
    local name=$1
    shift
    local init=${E2E_INIT_PID[$name]:-}
    [[ -n "$init" ]] || arca_die "e2e_node_exec: node $name is not running"
    nsenter -t "$init" -a -- env -i PATH="$E2E_CONTAINER_PATH" HOME=/root LANG=C.UTF-8 TERM=dumb \
        DEBIAN_FRONTEND=noninteractive "$@"
}

e2e_node_sh() {
    local name=$1
    shift
    e2e_node_exec "$name" sh -ec "$1"
}

# e2e_node_write NAME PATH MODE OWNER[:GROUP] < content
e2e_node_write() {
    local name=$1 path=$2 mode=$3 owner=$4
    # shellcheck disable=SC2016 # expanded inside the node
    e2e_node_exec "$name" sh -ec '
        p=$1; d=$(dirname "$p"); mkdir -p "$d"
        t=$(mktemp "$d/.e2e.XXXXXX"); cat >"$t"
        chmod "$2" "$t"; chown "$3" "$t"; mv -f "$t" "$p"' sh "$path" "$mode" "$owner"
}

e2e_node_running() {
    local pid=${E2E_NSPAWN_PID[$1]:-}
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# Phase 1 of a stop: keep a copy of the node's journal (volatile: /run inside the node), ask systemd to power off.
_e2e_node_poweroff() {
    local name=$1 pid init
    pid=${E2E_NSPAWN_PID[$name]:-}
    init=${E2E_INIT_PID[$name]:-}
    [[ -n "$pid" && -n "$init" ]] && kill -0 "$pid" 2>/dev/null || return 0
    timeout 10 nsenter -t "$init" -a -- env -i PATH="$E2E_CONTAINER_PATH" \
        journalctl --no-pager -o short-precise >"${E2E_NODE_DIR[$name]}/journal.log" 2>&1 || true
    timeout 10 nsenter -t "$init" -a -- env -i PATH="$E2E_CONTAINER_PATH" \
        systemctl poweroff --no-block >/dev/null 2>&1 || true
}

# Phase 2: wait for the nspawn process (30 s), then SIGTERM it, then SIGKILL it and the container's PID 1.
_e2e_node_reap() {
    local name=$1 pid init
    pid=${E2E_NSPAWN_PID[$name]:-}
    init=${E2E_INIT_PID[$name]:-}
    [[ -n "$pid" ]] || return 0
    if ! arca_wait_exit "$pid" 300; then
        arca_warn "node $name did not power off within 30 s; terminating its systemd-nspawn ($pid)"
        kill -TERM "$pid" 2>/dev/null || true
        arca_wait_exit "$pid" 50 || true
    fi
    if kill -0 "$pid" 2>/dev/null; then
        # Killing the container's PID 1 ends its whole PID namespace.
        if [[ -n "$init" ]]; then
            kill -KILL "$init" 2>/dev/null || true
        fi
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    unset "E2E_NSPAWN_PID[$name]" "E2E_INIT_PID[$name]"
}

e2e_node_stop() {
    _e2e_node_poweroff "$1"
    _e2e_node_reap "$1"
}

# Stops every node of this shell at once (the services drain in parallel).
e2e_node_stop_all() {
    local n
    for n in "${!E2E_NSPAWN_PID[@]}"; do
        _e2e_node_poweroff "$n"
    done
    for n in "${!E2E_NSPAWN_PID[@]}"; do
        _e2e_node_reap "$n"
    done
}

# e2e_node_journal NAME [UNIT] — the unit's journal (plain messages)
e2e_node_journal() {
    e2e_node_exec "$1" journalctl -u "${2:-arca-server}" -o cat --no-pager
}

# ---------------------------------------------------------------------------------------------------------------
# HAProxy on the host

E2E_HAPROXY_PID=""
E2E_LB_PORT=""
E2E_LB_URL=""
E2E_LB_STATS_URL=""

# e2e_haproxy_start NAME=ADDR:PORT... (e.g. n1=127.0.0.11:8081)
e2e_haproxy_start() {
    local cfg=$E2E_WORK/haproxy.cfg log=$E2E_WORK/logs/haproxy.log stats_port spec
    E2E_LB_PORT=$(arca_free_port)
    stats_port=$(arca_free_port)
    {
        cat <<EOF
global
    maxconn 4096
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 30s
    timeout queue 30s
    # Retry only when the connection to a node could not be made: the request has not been sent yet, so
    # this is safe for PUTs too. A request that reached a node is never re-sent. "option redispatch 1"
    # sends every retry to another node.
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend arca
    bind 127.0.0.1:$E2E_LB_PORT
    default_backend arca_nodes

backend arca_nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /artifactory/api/v1/system/readiness
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
EOF
        for spec in "$@"; do
            printf '    server %s %s check\n' "${spec%%=*}" "${spec#*=}"
        done
        cat <<EOF

listen stats
    bind 127.0.0.1:$stats_port
    stats enable
    stats uri /stats
EOF
    } >"$cfg"
    haproxy -c -q -f "$cfg" || arca_die "invalid HAProxy config $cfg"
    setsid haproxy -db -f "$cfg" </dev/null >>"$log" 2>&1 &
    E2E_HAPROXY_PID=$!
    arca_on_exit e2e_haproxy_stop
    _e2e_record_pid "$E2E_HAPROXY_PID"
    E2E_LB_URL="http://127.0.0.1:$E2E_LB_PORT/artifactory"
    E2E_LB_STATS_URL="http://127.0.0.1:$stats_port/stats;csv"
    arca_wait_for 10 "HAProxy stats on :$stats_port" curl -fsS -o /dev/null "$E2E_LB_STATS_URL" ||
        arca_die "HAProxy did not start (log: $log)"
    arca_log "HAProxy (pid $E2E_HAPROXY_PID) at $E2E_LB_URL -> $*"
}

# e2e_haproxy_status SERVER — UP, DOWN, "UP 1/2", MAINT, …
e2e_haproxy_status() {
    curl -fsS --max-time 2 "$E2E_LB_STATS_URL" 2>/dev/null |
        awk -F, -v s="$1" '$1 == "arca_nodes" && $2 == s {print $18}'
}

e2e_haproxy_stop() {
    [[ -n "$E2E_HAPROXY_PID" ]] || return 0
    e2e_kill_pid "$E2E_HAPROXY_PID" 5
    E2E_HAPROXY_PID=""
}

# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL on the host

# shellcheck disable=SC2034 # used by the scripts that source this file
E2E_PG_HOSTPORT="" E2E_PG_USER="" E2E_PG_PASSWORD=""

e2e_pg_setup() {
    [[ -z "$E2E_PG_HOSTPORT" ]] || return 0
    eval "$("$E2E_ROOT/tests/lib/postgres.sh" --export)"
    local rest=${ARCA_TEST_PG_URL#postgresql://} creds
    creds=${rest%%@*}
    rest=${rest#*@}
    E2E_PG_HOSTPORT=${rest%%/*}
    # shellcheck disable=SC2034 # used by the scripts that source this file
    E2E_PG_USER=${creds%%:*}
    # shellcheck disable=SC2034
    E2E_PG_PASSWORD=${creds#*:}
}

# e2e_pg_drop_run_dbs — drops every database of this run (arca_e2e_<pid of the top-level script>_*), also those of
# a scenario whose cleanup was cut short.
e2e_pg_drop_run_dbs() {
    local db
    [[ -n "${ARCA_TEST_PG_URL:-}" ]] || return 0
    for db in $(psql -qAt "$ARCA_TEST_PG_URL" -c "SELECT datname FROM pg_database WHERE datname LIKE 'arca\_e2e\_$$\_%'" 2>/dev/null); do
        _e2e_pg_drop_db "$db"
    done
}

_e2e_pg_drop_db() {
    psql -qAt "$ARCA_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true
}

e2e_pg_create_db() {
    local _var=$1 _db
    e2e_pg_setup
    _db="arca_e2e_$$_${RANDOM}"
    psql -qAt -v ON_ERROR_STOP=1 "$ARCA_TEST_PG_URL" -c "CREATE DATABASE $_db" >/dev/null ||
        arca_die "could not create database $_db"
    arca_on_exit _e2e_pg_drop_db "$_db"
    printf -v "$_var" '%s' "$_db"
}

# ---------------------------------------------------------------------------------------------------------------
# S3 on the host: s3s-fs

E2E_S3_BIN="" E2E_S3_PID="" E2E_S3_PORT="" E2E_S3_DIR=""
# shellcheck disable=SC2034 # used by the scripts that source this file
E2E_S3_ENDPOINT="" E2E_S3_BUCKET="" E2E_S3_ACCESS_KEY="" E2E_S3_SECRET_KEY="" E2E_S3_PATH="" E2E_S3_ROOT="" E2E_S3_OBJECTS=""

e2e_s3_setup() {
    local name=$1
    [[ -z "$E2E_S3_PORT" ]] || arca_die "e2e_s3_setup: this shell already has an S3 server"
    E2E_S3_BIN=${ARCA_TEST_S3S_FS:-}
    if [[ ! -x "$E2E_S3_BIN" ]]; then
        # Normally done by tests/run-all.sh before the e2e step; otherwise built once into the cache.
        E2E_S3_BIN=$("$E2E_ROOT/tests/lib/s3.sh") || arca_die "tests/lib/s3.sh could not provide s3s-fs"
    fi
    E2E_S3_DIR=$E2E_WORK/s3-$name
    E2E_S3_ROOT=$E2E_S3_DIR/root
    E2E_S3_BUCKET=arca-e2e
    E2E_S3_PATH=filestore
    # shellcheck disable=SC2034 # used by the scripts that source this file
    E2E_S3_OBJECTS=$E2E_S3_ROOT/$E2E_S3_BUCKET/$E2E_S3_PATH
    E2E_S3_ACCESS_KEY=AKIAE2E$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
    E2E_S3_SECRET_KEY=e2e-secret-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    E2E_S3_PORT=$(arca_free_port)
    E2E_S3_ENDPOINT=http://127.0.0.1:$E2E_S3_PORT
    # s3s-fs serves each directory under its root as a bucket.
    mkdir -p "$E2E_S3_ROOT/$E2E_S3_BUCKET"
    arca_on_exit e2e_s3_stop
    e2e_s3_start
}

_e2e_s3_answers() {
    # Any HTTP status (403 without credentials) means it is up.
    [[ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$E2E_S3_ENDPOINT/" 2>/dev/null)" =~ ^[1-5][0-9][0-9]$ ]]
}

e2e_s3_start() {
    local i
    [[ -n "$E2E_S3_PORT" ]] || arca_die "e2e_s3_start: call e2e_s3_setup first"
    [[ -z "$E2E_S3_PID" ]] || return 0
    setsid "$E2E_S3_BIN" --host 127.0.0.1 --port "$E2E_S3_PORT" --access-key "$E2E_S3_ACCESS_KEY" \
        --secret-key "$E2E_S3_SECRET_KEY" "$E2E_S3_ROOT" </dev/null >>"$E2E_S3_DIR/s3s-fs.log" 2>&1 &
    E2E_S3_PID=$!
    _e2e_record_pid "$E2E_S3_PID"
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "$E2E_S3_PID" 2>/dev/null; then
            tail -20 "$E2E_S3_DIR/s3s-fs.log" >&2
            E2E_S3_PID=""
            arca_die "s3s-fs exited at start (log above: $E2E_S3_DIR/s3s-fs.log)"
        fi
        _e2e_s3_answers && break
        sleep 0.1
    done
    _e2e_s3_answers || arca_die "s3s-fs does not answer at $E2E_S3_ENDPOINT (log: $E2E_S3_DIR/s3s-fs.log)"
    arca_log "s3s-fs (pid $E2E_S3_PID) at $E2E_S3_ENDPOINT, bucket $E2E_S3_BUCKET over $E2E_S3_ROOT"
}

# Stops the process this shell started (the current one only: a PID once stopped is never signalled again).
e2e_s3_stop() {
    [[ -n "$E2E_S3_PID" ]] || return 0
    e2e_kill_pid "$E2E_S3_PID" 5
    E2E_S3_PID=""
}

e2e_s3_binarystore() {
    local template=$1 extra=${2:-}
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- e2e: $template on s3s-fs at $E2E_S3_ENDPOINT -->
<config version="2">
    <chain template="$template"/>
    <provider id="s3-storage-v3" type="s3-storage-v3">
        <endpoint>$E2E_S3_ENDPOINT</endpoint>
        <region>us-east-1</region>
        <bucketName>$E2E_S3_BUCKET</bucketName>
        <path>$E2E_S3_PATH</path>
        <identity>$E2E_S3_ACCESS_KEY</identity>
        <credential>$E2E_S3_SECRET_KEY</credential>
        <enablePathStyleAccess>true</enablePathStyleAccess>
    </provider>
${extra}</config>
EOF
}

# ---------------------------------------------------------------------------------------------------------------
# arca on the nodes
#
#   e2e_debs_find DIR                    prints the version V of the arca_V_all.deb, arca-common_V_amd64.deb,
#                                        arca-server_V_amd64.deb, arca-storage-mover_V_amd64.deb,
#                                        arca-license-agent_V_amd64.deb, arca-config-sync_V_amd64.deb,
#                                        arca-session-cleanup_V_amd64.deb set in DIR (the newest when several)
#   e2e_debs_copy SRC DST V              copies that set to DST (what the nodes see as /debs or /debs2)
#   e2e_arca_install NAME [DIR]          apt-get install -y of that set in DIR inside NAME (DIR default /debs; the
#                                        meta package arca depends on the other six); E2E_DEV=1: binaries + units
#   e2e_arcactl                          prints the path of an arcactl on the host: the one of the arca-common .deb
#                                        under test (extracted once into the work dir), target/release with E2E_DEV=1
#   e2e_arca_wait_ready ADDR [TIMEOUT]   readiness 200 at http://ADDR/artifactory
#   e2e_arca_admin_pw NAME               the initial admin password of NAME's home

E2E_DEV=${E2E_DEV:-0}
E2E_HOME=/var/lib/arca

e2e_debs_find() {
    local dir=$1 f v best=""
    for f in "$dir"/arca-server_*_amd64.deb; do
        [[ -e "$f" ]] || continue
        v=${f##*/arca-server_}
        v=${v%_amd64.deb}
        [[ -e "$dir/arca-common_${v}_amd64.deb" && -e "$dir/arca_${v}_all.deb" &&
            -e "$dir/arca-storage-mover_${v}_amd64.deb" && -e "$dir/arca-license-agent_${v}_amd64.deb" &&
            -e "$dir/arca-config-sync_${v}_amd64.deb" && -e "$dir/arca-session-cleanup_${v}_amd64.deb" ]] || continue
        if [[ -z "$best" ]] || dpkg --compare-versions "$v" gt "$best"; then
            best=$v
        fi
    done
    [[ -n "$best" ]] || return 1
    printf '%s\n' "$best"
}

e2e_debs_copy() {
    local src=$1 dst=$2 v=$3
    mkdir -p "$dst"
    cp -- "$src/arca_${v}_all.deb" "$src/arca-common_${v}_amd64.deb" "$src/arca-server_${v}_amd64.deb" \
        "$src/arca-storage-mover_${v}_amd64.deb" "$src/arca-license-agent_${v}_amd64.deb" \
        "$src/arca-config-sync_${v}_amd64.deb" "$src/arca-session-cleanup_${v}_amd64.deb" "$dst/"
}

# The version `--version` prints for a Debian package version: the upstream part (no epoch, no revision).
e2e_upstream_version() {
    local v=${1#*:}
    printf '%s\n' "${v%-*}"
}

# E2E_DEV=1 (before the packages existed): the release binaries and units/ files, laid out as the packages do.
_e2e_dev_stage() {
    [[ -d "$E2E_DEBS/dev" ]] && return 0
    mkdir -p "$E2E_DEBS/dev"
    local bin
    for bin in "${ARCA_BINARIES[@]}"; do cp "$ARCA_TARGET_DIR/release/$bin" "$E2E_DEBS/dev/"; done
    cp -r "$E2E_ROOT/units/." "$E2E_DEBS/dev/units/" 2>/dev/null || cp -r "$E2E_ROOT/units" "$E2E_DEBS/dev/units"
    cp -r "$E2E_ROOT/etc" "$E2E_DEBS/dev/etc"
}

_e2e_dev_install() {
    local name=$1
    _e2e_dev_stage
    # shellcheck disable=SC2016 # expanded inside the node
    e2e_node_sh "$name" '
        d=/debs/dev
        install -m 0755 $d/arca-server $d/arcactl $d/arca-storage-mover $d/arca-license-agent \
            $d/arca-config-sync $d/arca-session-cleanup /usr/bin/
        install -m 0644 $d/units/arca-server.service $d/units/arca-storage-mover.service \
            $d/units/arca-license-agent.service $d/units/arca-config-sync.service $d/units/arca.target \
            $d/units/arca-session-cleanup.service $d/units/arca-session-cleanup.timer \
            /lib/systemd/system/
        mkdir -p /lib/systemd/system-generators
        ln -sfn /usr/bin/arca-session-cleanup /lib/systemd/system-generators/arca-session-cleanup-generator
        install -D -m 0644 $d/units/sysusers.d/arca.conf /usr/lib/sysusers.d/arca.conf
        install -D -m 0644 $d/units/tmpfiles.d/arca.conf /usr/lib/tmpfiles.d/arca.conf
        systemd-sysusers arca.conf
        systemd-tmpfiles --create arca.conf
        for f in system.properties binarystore.xml; do
            [ -e /etc/arca/$f ] || install -m 0640 -o root -g arca $d/etc/$f /etc/arca/$f
        done
        systemctl daemon-reload
        systemctl enable arca.target
        if [ ! -e /etc/arca/ha-node.properties ]; then
            systemctl enable --now arca-server arca-storage-mover arca-license-agent arca-config-sync \
                arca-session-cleanup.timer
        fi'
}

# e2e_arca_install NAME [DIR] — the operator's install from local files; output in the node's install log.
e2e_arca_install() {
    local name=$1 dir=${2:-/debs} log
    log=${E2E_NODE_DIR[$name]}/apt-$(basename "$dir").log
    if [[ "$E2E_DEV" == 1 && "$dir" == /debs ]]; then
        _e2e_dev_install "$name" >"$log" 2>&1 || {
            tail -30 "$log" >&2
            arca_die "dev install on $name failed (log $log)"
        }
        return 0
    fi
    # shellcheck disable=SC2016 # expanded inside the node
    if ! e2e_node_exec "$name" sh -c \
        'apt-get install -y $1/arca_*.deb $1/arca-common_*.deb $1/arca-server_*.deb $1/arca-storage-mover_*.deb $1/arca-license-agent_*.deb $1/arca-config-sync_*.deb $1/arca-session-cleanup_*.deb' \
        sh "$dir" </dev/null >"$log" 2>&1; then
        tail -30 "$log" >&2
        arca_die "apt-get install of $dir/*.deb on $name failed (log $log)"
    fi
}

e2e_arcactl() {
    local x=$E2E_WORK/arcactl-x deb
    if [[ "$E2E_DEV" == 1 ]]; then
        printf '%s\n' "$ARCA_TARGET_DIR/release/arcactl"
        return 0
    fi
    if [[ ! -x "$x/usr/bin/arcactl" ]]; then
        deb=$(find "$E2E_DEBS" -maxdepth 1 -name 'arca-common_*_amd64.deb' | head -n 1)
        [[ -n "$deb" ]] || arca_die "e2e_arcactl: no arca-common .deb in $E2E_DEBS"
        rm -rf -- "$x"
        dpkg-deb -x "$deb" "$x" || arca_die "e2e_arcactl: dpkg-deb -x $deb failed"
    fi
    printf '%s\n' "$x/usr/bin/arcactl"
}

_e2e_ready() {
    [[ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$1/artifactory/api/v1/system/readiness")" == 200 ]]
}

e2e_arca_wait_ready() {
    arca_wait_for "${2:-90}" "readiness of http://$1/artifactory" _e2e_ready "$1"
}

e2e_arca_admin_pw() {
    local pw
    pw=$(e2e_node_exec "$1" cat "$E2E_HOME/etc/security/initial-admin-password" 2>/dev/null | tr -d '\r\n') || true
    [[ -n "$pw" ]] || arca_die "no initial admin password in $1:$E2E_HOME/etc/security/initial-admin-password"
    printf '%s\n' "$pw"
}

# e2e_arca_diag NAME — the last lines of arca-server's, arca-license-agent's and arca-config-sync's status and
# journal (for failure messages)
e2e_arca_diag() {
    local name=$1
    {
        printf -- '---- %s: systemctl status arca-server ----\n' "$name"
        e2e_node_exec "$name" systemctl status --no-pager -n 0 arca-server 2>&1 || true
        printf -- '---- %s: journalctl -u arca-server (last 30) ----\n' "$name"
        e2e_node_exec "$name" journalctl -u arca-server -o cat --no-pager -n 30 2>&1 || true
        printf -- '---- %s: systemctl status arca-license-agent ----\n' "$name"
        e2e_node_exec "$name" systemctl status --no-pager -n 0 arca-license-agent 2>&1 || true
        printf -- '---- %s: journalctl -u arca-license-agent (last 15) ----\n' "$name"
        e2e_node_exec "$name" journalctl -u arca-license-agent -o cat --no-pager -n 15 2>&1 || true
        printf -- '---- %s: systemctl status arca-config-sync ----\n' "$name"
        e2e_node_exec "$name" systemctl status --no-pager -n 0 arca-config-sync 2>&1 || true
        printf -- '---- %s: journalctl -u arca-config-sync (last 15) ----\n' "$name"
        e2e_node_exec "$name" journalctl -u arca-config-sync -o cat --no-pager -n 15 2>&1 || true
    } >&2
}

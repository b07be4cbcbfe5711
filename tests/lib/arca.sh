# shellcheck shell=bash
# Shared helpers for arca's shell tests (tests/clients/*.sh) and the benchmark (tests/bench/bench.sh).
#
# Source it from a bash script that runs with `set -euo pipefail`:
#     . "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
#
# What it gives:
#   arca_log / arca_warn / arca_die          messages on stderr ("[name] ...")
#   arca_on_exit CMD...                      run CMD at exit (LIFO); EXIT/INT/TERM/HUP traps are installed here
#   arca_tmpdir VAR [PREFIX]                 new temp dir in VAR (removed at exit unless ARCA_KEEP_TMP=1)
#   arca_free_port                           a free TCP port on 127.0.0.1
#   arca_wait_for TIMEOUT_S DESC CMD...      poll CMD every 0.1 s until it succeeds, or fail
#   arca_apt_ensure PKG...                   apt-get install only the packages that are missing
#   arca_ensure_built                        cargo build --release the packaged binaries (packaging/binaries.sh; skipped if ARCA_SKIP_BUILD=1)
#   arca_start [HOME]                        start arca-server on a free port, wait for ping, read the admin password
#   arca_stop                                SIGTERM, wait (10 s), SIGKILL if needed
#   arca_create_repo NAME JSON               PUT /api/repositories/NAME
#   arca_curl ARGS...                        curl -sS with the admin credentials
#   arca_http_code ARGS...                   prints only the HTTP status code of a curl call
#   arca_dump_log [LINES]                    the tail of the server's log on stderr
#   phase NAME / secs_since T                a client test's phase timings (TIMINGS, T_START)
#
# Variables set by arca_start: ARCA_PID ARCA_PORT ARCA_BASE (http://127.0.0.1:PORT) ARCA_URL (…/artifactory)
# ARCA_HOME_DIR ARCA_LOG_FILE ARCA_ADMIN_PW.
# Inputs: ARCA_BIN (path of arca-server), CARGO_TARGET_DIR, ARCA_SKIP_BUILD, ARCA_KEEP_TMP, ARCA_TEST_TMP
# (parent dir for temp dirs, default $TMPDIR or /tmp), ARCA_START_TIMEOUT (default 30 s).

if [[ -n "${_ARCA_LIB_LOADED:-}" ]]; then
    return 0
fi
_ARCA_LIB_LOADED=1

ARCA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ARCA_TARGET_DIR="${CARGO_TARGET_DIR:-$ARCA_ROOT/target}"
# shellcheck source=../../packaging/binaries.sh
. "$ARCA_ROOT/packaging/binaries.sh"
ARCA_BIN="${ARCA_BIN:-$ARCA_TARGET_DIR/release/arca-server}"
ARCA_TEST_NAME="${ARCA_TEST_NAME:-$(basename "$0" .sh)}"
ARCA_START_TIMEOUT="${ARCA_START_TIMEOUT:-30}"

# cargo lives in ~/.cargo/bin on the dev/CI machines; make sure a non-login shell finds it.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
    PATH="${HOME:-/root}/.cargo/bin:$PATH"
fi
# Debian's own binaries (nginx, …) are in /usr/sbin, which is not always on a user's PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
export PATH

ARCA_PID=""
ARCA_PORT=""
ARCA_BASE=""
ARCA_URL=""
ARCA_HOME_DIR=""
ARCA_LOG_FILE=""
ARCA_ADMIN_PW=""

# ---------------------------------------------------------------------------------------------------------------
# messages

arca_log() { printf '[%s] %s\n' "$ARCA_TEST_NAME" "$*" >&2; }
arca_warn() { printf '[%s] WARNING: %s\n' "$ARCA_TEST_NAME" "$*" >&2; }
# A script may define arca_die_hook MESSAGE (e.g. to print its "FAIL name: reason" line); it is called before exit.
arca_die() {
    printf '[%s] ERROR: %s\n' "$ARCA_TEST_NAME" "$*" >&2
    if declare -F arca_die_hook >/dev/null; then
        arca_die_hook "$*"
    fi
    exit 1
}

# The last branch of every test script's option loop: --help prints the script's header
# comment (from line 2 to `set -euo`), anything else is an unknown option.
arca_help_or_die() {
    case "$1" in
        -h | --help)
            sed -n '2,/^set -E\{0,1\}euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) arca_die "unknown option: $1 (try --help)" ;;
    esac
}

# ---------------------------------------------------------------------------------------------------------------
# cleanup: a LIFO list of commands run once at exit, also on Ctrl-C / SIGTERM

_ARCA_CLEANUP=()
_ARCA_CLEANED=0

arca_on_exit() {
    local cmd
    printf -v cmd '%q ' "$@"
    _ARCA_CLEANUP+=("$cmd")
}

_arca_run_cleanup() {
    local rc=$? i
    if ((_ARCA_CLEANED)); then
        return "$rc"
    fi
    _ARCA_CLEANED=1
    set +e
    for ((i = ${#_ARCA_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${_ARCA_CLEANUP[i]}" || true
    done
    return "$rc"
}

_arca_on_signal() {
    local sig=$1
    trap - "$sig"
    arca_warn "interrupted by SIG$sig, cleaning up"
    case "$sig" in
        INT) exit 130 ;;
        TERM) exit 143 ;;
        *) exit 129 ;;
    esac
}

trap _arca_run_cleanup EXIT
trap '_arca_on_signal INT' INT
trap '_arca_on_signal TERM' TERM
trap '_arca_on_signal HUP' HUP

# ---------------------------------------------------------------------------------------------------------------
# temp dirs, ports, waiting

# arca_tmpdir VAR [PREFIX] — creates a temp dir and stores its path in VAR. It is removed at exit unless
# ARCA_KEEP_TMP=1. (It sets a variable instead of printing, because a $(…) subshell could not register the cleanup.)
arca_tmpdir() {
    local _var=$1 _prefix=${2:-arca-$ARCA_TEST_NAME} _parent=${ARCA_TEST_TMP:-${TMPDIR:-/tmp}} _dir
    mkdir -p "$_parent"
    _dir=$(mktemp -d "$_parent/$_prefix.XXXXXX")
    if [[ "${ARCA_KEEP_TMP:-0}" == 1 ]]; then
        arca_on_exit arca_log "kept temp dir $_dir"
    else
        arca_on_exit rm -rf -- "$_dir"
    fi
    printf -v "$_var" '%s' "$_dir"
}

arca_free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# arca_wait_for TIMEOUT_SECONDS DESCRIPTION CMD... — returns 1 (with a message) when the time is up; polls every
# ARCA_WAIT_PERIOD seconds (0.1)
arca_wait_for() {
    local timeout=$1 desc=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            arca_warn "timed out after ${timeout}s waiting for $desc"
            return 1
        fi
        sleep "${ARCA_WAIT_PERIOD:-0.1}"
    done
}

# arca_wait_exit PID TENTHS — waits up to TENTHS tenths of a second for PID to exit; fails when it still runs
arca_wait_exit() {
    local pid=$1 i
    for ((i = 0; i < $2; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------------------------
# packages

_arca_pkg_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

# The first installable package among the arguments (for "nginx-light or nginx").
arca_apt_pick() {
    local p
    for p in "$@"; do
        if _arca_pkg_installed "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    for p in "$@"; do
        if [[ -n "$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}')" ]]; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    printf '%s\n' "$1"
}

_ARCA_APT_UPDATED=0

# Install (with --no-install-recommends) the Debian packages that are not installed yet; no apt call when none is missing.
arca_apt_ensure() {
    local missing=() p sudo=() made_policy=0 rc=0
    for p in "$@"; do
        _arca_pkg_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 || arca_die "missing packages (${missing[*]}) and not root (no sudo either)"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 || arca_die "missing packages (${missing[*]}) and no apt-get on this machine"
    arca_log "installing: ${missing[*]}"
    if ((!_ARCA_APT_UPDATED)); then
        "${sudo[@]}" apt-get update -qq >&2 || arca_warn "apt-get update failed; trying the install anyway"
        _ARCA_APT_UPDATED=1
    fi
    # Installing a daemon (nginx) must not start it system-wide: a temporary policy-rc.d says "no".
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || rc=$?
    if ((made_policy)); then
        "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
    fi
    ((rc == 0)) || arca_die "apt-get install ${missing[*]} failed (exit $rc)"
}

# ---------------------------------------------------------------------------------------------------------------
# build

arca_ensure_built() {
    if [[ "${ARCA_SKIP_BUILD:-0}" == 1 ]]; then
        [[ -x "$ARCA_BIN" ]] || arca_die "ARCA_SKIP_BUILD=1 but $ARCA_BIN does not exist"
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || arca_die "cargo not found (expected in ~/.cargo/bin)"
    local packages=() bin
    for bin in "${ARCA_BINARIES[@]}"; do packages+=(-p "$bin"); done
    arca_log "cargo build --release ${packages[*]}"
    (cd "$ARCA_ROOT" && cargo build --release "${packages[@]}") || arca_die "release build failed"
    [[ -x "$ARCA_BIN" ]] || arca_die "build succeeded but $ARCA_BIN is missing"
}

# ---------------------------------------------------------------------------------------------------------------
# the server

arca_dump_log() {
    local lines=${1:-40}
    if [[ -n "$ARCA_LOG_FILE" && -s "$ARCA_LOG_FILE" ]]; then
        printf '[%s] ---- last %s lines of the arca log (%s) ----\n' "$ARCA_TEST_NAME" "$lines" "$ARCA_LOG_FILE" >&2
        tail -n "$lines" "$ARCA_LOG_FILE" >&2
        printf '[%s] ---- end of log ----\n' "$ARCA_TEST_NAME" >&2
    fi
}

_arca_ping() {
    [[ "$(curl -s --max-time 2 "$ARCA_URL/api/system/ping" 2>/dev/null)" == OK ]]
}

_arca_alive() {
    [[ -n "$ARCA_PID" ]] && kill -0 "$ARCA_PID" 2>/dev/null
}

# _arca_use_postgres HOME — with ARCA_TEST_BACKEND=postgresql: a fresh database for HOME (created through
# ARCA_TEST_PG_URL, see tests/lib/postgres.sh) and an etc/db.properties naming it. Kept across restarts.
_arca_use_postgres() {
    local home=$1 db url rest creds hostpart
    [[ ! -f "$home/etc/db.properties" ]] || return 0
    [[ -n "${ARCA_TEST_PG_URL:-}" ]] || arca_die "ARCA_TEST_BACKEND=postgresql needs ARCA_TEST_PG_URL (eval \"\$(tests/lib/postgres.sh --export)\")"
    db="arca_c_$$_${RANDOM}"
    psql -qAt -v ON_ERROR_STOP=1 "$ARCA_TEST_PG_URL" -c "CREATE DATABASE $db" >/dev/null
    url=${ARCA_TEST_PG_URL%%\?*}
    rest=${url#postgresql://}
    creds=${rest%%@*}
    hostpart=${rest#*@}
    hostpart=${hostpart%%/*}
    mkdir -p "$home/etc"
    printf 'type=postgresql\nurl=postgresql://%s/%s\nusername=%s\npassword=%s\npool.max.active=16\npool.max.idle=2\n' \
        "$hostpart" "$db" "${creds%%:*}" "${creds#*:}" >"$home/etc/db.properties"
    arca_log "using PostgreSQL database $db"
}

# arca_start [HOME_DIR] [extra server args...] — HOME_DIR defaults to a new temp dir.
# Retries on another port when the chosen one was taken in between (up to 3 attempts).
# shellcheck disable=SC2120  # the arguments are optional
# Phases of a client test: `phase NAME` ends the phase before (its "NAME Ns" goes into TIMINGS) and starts NAME
# (`phase ""` only ends it); `secs_since T` prints the seconds since the $EPOCHREALTIME value T; T_START is the time
# this library was loaded.
TIMINGS=()
PHASE=""
PHASE_T0=""
T_START=$EPOCHREALTIME
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
phase() {
    if [[ -n "$PHASE" ]]; then
        TIMINGS+=("$PHASE $(secs_since "$PHASE_T0")s")
    fi
    PHASE=$1
    PHASE_T0=$EPOCHREALTIME
    [[ -z "$PHASE" ]] || arca_log "--- $PHASE"
}

arca_start() {
    local home=${1:-}
    shift || true
    [[ -x "$ARCA_BIN" ]] || arca_die "$ARCA_BIN not found: build it first (cargo build --release -p arca-server)"
    if [[ -z "$home" ]]; then
        arca_tmpdir home "arca-home-$ARCA_TEST_NAME"
    fi
    mkdir -p "$home"
    ARCA_HOME_DIR=$home
    ARCA_LOG_FILE="$home/arca-server.log"
    [[ "${ARCA_TEST_BACKEND:-sqlite}" != postgresql ]] || _arca_use_postgres "$home"
    local attempt deadline
    for attempt in 1 2 3; do
        ARCA_PORT=$(arca_free_port)
        ARCA_BASE="http://127.0.0.1:$ARCA_PORT"
        ARCA_URL="$ARCA_BASE/artifactory"
        arca_log "starting arca-server --home $home --listen 127.0.0.1:$ARCA_PORT (attempt $attempt)"
        # the malloc arenas of the packaged unit (units/arca-server.service)
        MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2} ARCA_HOME="$home" "$ARCA_BIN" --home "$home" --listen "127.0.0.1:$ARCA_PORT" "$@" >>"$ARCA_LOG_FILE" 2>&1 &
        ARCA_PID=$!
        if ((attempt == 1)); then
            arca_on_exit arca_stop
        fi
        deadline=$((SECONDS + ARCA_START_TIMEOUT))
        while ! _arca_ping; do
            if ! _arca_alive; then
                break
            fi
            if ((SECONDS >= deadline)); then
                arca_dump_log 40
                arca_stop
                arca_die "arca did not answer $ARCA_URL/api/system/ping within ${ARCA_START_TIMEOUT}s"
            fi
            sleep 0.05
        done
        if _arca_alive; then
            break
        fi
        wait "$ARCA_PID" 2>/dev/null || true
        ARCA_PID=""
        if grep -qiE 'address (already )?in use|EADDRINUSE' "$ARCA_LOG_FILE" 2>/dev/null && ((attempt < 3)); then
            arca_warn "port $ARCA_PORT was taken, retrying on another port"
            continue
        fi
        arca_dump_log 40
        arca_die "arca-server exited during start-up (log: $ARCA_LOG_FILE)"
    done
    arca_log "arca is up at $ARCA_URL (pid $ARCA_PID)"
    local pwfile="$home/etc/security/initial-admin-password"
    arca_wait_for 10 "$pwfile" test -s "$pwfile" || {
        arca_dump_log 40
        arca_die "no admin password file at $pwfile"
    }
    ARCA_ADMIN_PW=$(tr -d '\r\n' <"$pwfile")
    [[ -n "$ARCA_ADMIN_PW" ]] || arca_die "empty admin password in $pwfile"
    export ARCA_PID ARCA_PORT ARCA_BASE ARCA_URL ARCA_HOME_DIR ARCA_LOG_FILE ARCA_ADMIN_PW
}

# SIGTERM (graceful stop), then SIGKILL after 10 s. Safe to call twice.
arca_stop() {
    local pid=$ARCA_PID
    [[ -n "$pid" ]] || return 0
    ARCA_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! arca_wait_exit "$pid" 100; then
            arca_warn "arca (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------------------------
# HTTP helpers

arca_curl() {
    curl -sS --max-time "${ARCA_CURL_TIMEOUT:-60}" -u "admin:$ARCA_ADMIN_PW" "$@"
}

# Prints the status code only; the body goes to /dev/null unless the caller passes -o.
arca_http_code() {
    curl -s --max-time "${ARCA_CURL_TIMEOUT:-60}" -o /dev/null -w '%{http_code}' "$@" || true
}

# arca_create_repo NAME JSON — fails (returns 1, with the server's answer) on anything but 200/201.
arca_create_repo() {
    local name=$1 json=$2 out code
    out=$(arca_curl -X PUT -H 'Content-Type: application/json' --data "$json" \
        -w '\n%{http_code}' "$ARCA_URL/api/repositories/$name") || {
        arca_warn "PUT /api/repositories/$name: curl failed"
        return 1
    }
    code=${out##*$'\n'}
    case "$code" in
        200 | 201) arca_log "created repository $name ($code)" ;;
        *)
            arca_warn "PUT /api/repositories/$name $json -> HTTP $code: ${out%$'\n'*}"
            return 1
            ;;
    esac
}

# arca_token — prints an access token for admin (POST /api/security/token).
arca_token() {
    local out
    out=$(arca_curl -X POST --data-urlencode username=admin "$ARCA_URL/api/security/token") || return 1
    printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# XML-escape a string (for passwords in Maven's settings.xml).
arca_xml_escape() {
    printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' -e "s/'/\\&apos;/g"
}

# JSON field from stdin, e.g. arca_json_get checksums.sha1
arca_json_get() {
    python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if not isinstance(v, (dict, list)) else json.dumps(v))
' "$1"
}

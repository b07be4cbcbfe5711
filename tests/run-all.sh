#!/usr/bin/env bash
# Runs the whole arca test suite on a fresh Debian 12 machine:
#   1. installs what the tests need (only the missing Debian packages; nothing when all are there) and the S3
#      server of the object-store tests (tests/lib/s3.sh: s3s-fs, built once into /var/cache/arca-test),
#   2. cargo build --release of the packaged binaries (packaging/binaries.sh),
#   3. starts PostgreSQL (Debian package, tests/lib/postgres.sh) for the HA tests and the second pass,
#   4. cargo clippy --workspace --all-targets -D warnings, then
#      cargo test --workspace (unit + integration tests; the integration tests start the real binary;
#      the cluster tests start three nodes on one PostgreSQL database), then the server's integration
#      suite again with PostgreSQL as the metadata database, and the fuzz harness (tests/fuzz/run.sh:
#      1,000,000 request front-end inputs, 200,000 per parser),
#   5. the real-client tests, tests/clients/*.sh (Maven, …), each against a fresh arca in a temp home,
#      once on SQLite and once on PostgreSQL,
#   6. the packaging checks (tests/packaging/check.sh: .deb/.rpm build, lintian, rpmlint,
#      systemd-analyze verify/security, installs in chroots),
#   7. the appliance end-to-end tests (tests/e2e/run.sh: the .debs installed with apt in Debian
#      containers running systemd, HAProxy, a 3-node cluster, failover, rolling upgrade).
#   6. and 7. run in the background, beside 4. and 5. (they need only the release binaries and mostly wait
#   on containers); their output is printed when they end, after the client tests.
# Prints a summary and ends with the line "N passed, M failed" (N, M count the client-test scripts).
# Exit status: 0 when everything passed, 1 otherwise.
#
# Usage: tests/run-all.sh [--quick] [--no-install] [--only NAME]...
#   --quick          skip the real-client tests (install, build and cargo test only)
#   --no-install     do not apt-get anything (fails later if something is missing)
#   --only NAME      run only tests/clients/NAME.sh (repeatable); cargo test still runs
#   --no-cargo-test  skip clippy and cargo test (for iterating on client tests)
#   --no-appliance   skip the packaging checks and the appliance end-to-end tests (systemd containers)
# Env: ARCA_CLIENT_TIMEOUT (seconds per client script, default 900), ARCA_KEEP_TMP=1 (keep temp dirs),
#      CARGO_TARGET_DIR (honoured).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ARCA_TEST_NAME=run-all
# shellcheck source-path=SCRIPTDIR source=lib/arca.sh
. "$ROOT/tests/lib/arca.sh"

QUICK=0
INSTALL=1
CARGO_TEST=1
APPLIANCE=1
ONLY=()
while (($#)); do
    case "$1" in
        --quick) QUICK=1 ;;
        --no-install) INSTALL=0 ;;
        --no-cargo-test) CARGO_TEST=0 ;;
        --no-appliance) APPLIANCE=0 ;;
        --only)
            [[ $# -ge 2 ]] || arca_die "--only needs a name"
            ONLY+=("$2")
            shift
            ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done

cd "$ROOT"
START=$SECONDS
STEPS=()      # "STATUS|name|seconds"
FAILED_STEPS=0

step_result() { # step_result STATUS NAME SECONDS
    STEPS+=("$1|$2|$3")
    [[ "$1" != FAIL ]] || FAILED_STEPS=$((FAILED_STEPS + 1))
}

banner() { printf '\n==== %s ====\n' "$*"; }

# run_step NAME CMD... — runs CMD, records PASS/FAIL and the time it took; never exits.
run_step() {
    local name=$1 t0=$SECONDS rc
    shift
    banner "$name"
    # a subshell with errexit of its own (errexit would be ignored on the left of "||")
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    if ((rc == 0)); then
        step_result PASS "$name" $((SECONDS - t0))
    else
        printf '**** %s failed (exit %s)\n' "$name" "$rc"
        step_result FAIL "$name" $((SECONDS - t0))
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------------------------------------------
# 1. packages

install_deps() {
    local pkgs=(curl ca-certificates python3 maven libmaven-deploy-plugin-java libmaven-install-plugin-java
        libmaven-jar-plugin-java libmaven-compiler-plugin-java libmaven-resources-plugin-java libsurefire-java
        junit4 wrk
        # the load balancer of tests/clients/npm-cluster.sh (tests/lib/cluster.sh) and of the appliance tests
        haproxy)
    # systemd-analyze: arca-session-cleanup's tests check every cron translation with it
    command -v systemd-analyze >/dev/null 2>&1 || pkgs+=(systemd)
    command -v javac >/dev/null 2>&1 || pkgs+=(default-jdk-headless)
    # openssl: the PostgreSQL-over-TLS tests make their CA and server certificate with it
    command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
    if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
        pkgs+=(build-essential)
    fi
    command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
    # the web UI's browser test (tests/clients/ui.sh): headless Chromium, its WebDriver, a venv for Selenium
    command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || pkgs+=(chromium-driver)
    python3 -c 'import ensurepip' >/dev/null 2>&1 || pkgs+=(python3-venv)
    # node and npm: tests/clients/jfrog-client-js.sh (JFrog's JavaScript client library)
    command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
    # tests/clients/npm.sh: Debian's node-* packages are the real npm packages its Verdaccio serves
    # (tests/lib/verdaccio.sh; Verdaccio itself is installed there, once, from the npm registry)
    local npm_debs
    mapfile -t npm_debs < <(. "$ROOT/tests/lib/verdaccio.sh" && printf '%s\n' "${VERDACCIO_FIXTURE_DEBS[@]}")
    pkgs+=("${npm_debs[@]}")
    # tests/clients/pypi*.sh: Debian's wheels (/usr/share/python-wheels) are part of the PyPI fixture (tests/lib/pypi.sh;
    # pip, twine, uv and pypiserver are installed there, once, from PyPI)
    pkgs+=(python3-pip-whl python3-setuptools-whl python3-wheel-whl)
    # tests/clients/oci.sh: the OCI clients and docker-registry, the upstream and benchmark baseline (tests/lib/oci.sh)
    pkgs+=(skopeo podman runc docker-registry busybox-static)
    # nginx: the Maven "central" of tests/clients/maven-proxy.sh (tests/lib/central.sh) and the benchmark baseline
    command -v nginx >/dev/null 2>&1 || pkgs+=("$(arca_apt_pick nginx-light nginx)")
    arca_apt_ensure "${pkgs[@]}"
    command -v cargo >/dev/null 2>&1 || arca_die "cargo is not installed (the Rust toolchain comes with the machine, via rustup)"
    printf 'all packages present; %s, %s\n' "$(cargo --version)" "$(mvn -v 2>/dev/null | head -n1)"
}

# The S3 server of the object-store tests (cargo install, once; not apt, so --no-install does not skip it).
install_s3s_fs() { "$ROOT/tests/lib/s3.sh"; }

# ---------------------------------------------------------------------------------------------------------------
# 2./3. cargo

cargo_build() { ARCA_SKIP_BUILD=0 arca_ensure_built; }

# PostgreSQL for the HA tests and the second pass of the suite (Debian's package, started here).
start_postgres() {
    eval "$("$ROOT/tests/lib/postgres.sh" --export)"
    # databases left by earlier runs that were killed (the tests drop their own)
    psql -qAt "$ARCA_TEST_PG_URL" -c "SELECT datname FROM pg_database WHERE datname LIKE 'arca\_t\_%' OR datname LIKE 'arca\_c\_%'" |
        while read -r db; do psql -qAt "$ARCA_TEST_PG_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; done
    printf 'ARCA_TEST_PG_URL=%s\n' "$ARCA_TEST_PG_URL"
}

# Every crate's tests (SQLite by default; the HA tests and arca-db's backend tests use PostgreSQL).
# (--no-fail-fast: a failing test binary does not hide the results of the ones after it.)
cargo_test() { cargo test --workspace --no-fail-fast; }
# The server's integration suite again with PostgreSQL as the metadata database (the cluster tests
# already run on it).
# (hardening::a_database_outage… starts a PostgreSQL of its own in both passes: run once.)
# (--workspace, not -p arca-server: the same feature set as the first pass, so nothing is rebuilt.)
cargo_test_postgres() { ARCA_TEST_BACKEND=postgresql cargo test --workspace --no-fail-fast --test server -- --skip ha:: --skip license_agent:: --skip hardening::a_database_outage; }

# ---------------------------------------------------------------------------------------------------------------
# 6./7. the appliance track, in the background

APPLIANCE_LOG=""
APPLIANCE_RESULTS=""

start_appliance_track() {
    APPLIANCE_LOG=$(mktemp "${TMPDIR:-/tmp}/arca-appliance.XXXXXX.log")
    APPLIANCE_RESULTS=$(mktemp "${TMPDIR:-/tmp}/arca-appliance.XXXXXX.steps")
    printf '\nappliance track (packaging checks, e2e) started in the background; its output: %s\n' "$APPLIANCE_LOG"
    (
        STEPS=()
        run_step "packaging checks" bash "$ROOT/tests/packaging/check.sh" --no-build || true
        run_step "appliance e2e (systemd containers)" bash "$ROOT/tests/e2e/run.sh" --no-build || true
        printf '%s\n' "${STEPS[@]}" >"$APPLIANCE_RESULTS"
    ) </dev/null >"$APPLIANCE_LOG" 2>&1 &
    APPLIANCE_PID=$!
}

# Waits for the track, prints its output and adds its steps to the summary.
finish_appliance_track() {
    local t0=$SECONDS line
    banner "waiting for the appliance track"
    wait "$APPLIANCE_PID" || true
    printf 'waited %ss\n' $((SECONDS - t0))
    banner "appliance track output ($APPLIANCE_LOG)"
    cat "$APPLIANCE_LOG"
    if [[ -s "$APPLIANCE_RESULTS" ]]; then
        while IFS= read -r line; do
            STEPS+=("$line")
            [[ "$line" != FAIL\|* ]] || FAILED_STEPS=$((FAILED_STEPS + 1))
        done <"$APPLIANCE_RESULTS"
    else
        step_result FAIL "appliance track (ended without results)" 0
    fi
    rm -f "$APPLIANCE_LOG" "$APPLIANCE_RESULTS"
    APPLIANCE_PID=""
}

# Interrupted: stop the track too, the whole process tree (a background job of a script ignores SIGINT, and
# TERM to the subshell alone would leave its scripts running; they clean up their containers on TERM).
process_tree() { # process_tree PID — PID and all its descendants
    local child
    printf '%s\n' "$1"
    for child in $(pgrep -P "$1" 2>/dev/null); do process_tree "$child"; done
}
stop_appliance_track() {
    [[ -n "$APPLIANCE_PID" ]] || return 0
    # shellcheck disable=SC2046 # one PID per word
    kill -TERM $(process_tree "$APPLIANCE_PID") 2>/dev/null || true
    wait "$APPLIANCE_PID" 2>/dev/null || true
}
trap stop_appliance_track EXIT

# ---------------------------------------------------------------------------------------------------------------
# 4. client tests

CLIENT_PASS=0
CLIENT_FAIL=0
CLIENT_RESULTS=()

# run_clients runs every tests/clients/*.sh (or the --only ones) against the backend of ARCA_TEST_BACKEND; it is
# called twice, SQLite then PostgreSQL. A script with the header line "# arca-client-test: once" (one that always
# needs PostgreSQL, e.g. a cluster of nodes) runs in the PostgreSQL pass only: the SQLite pass leaves it out (it
# is listed once in the summary, under the PostgreSQL pass).
run_clients() {
    local scripts=() s name rc t0 timeout=${ARCA_CLIENT_TIMEOUT:-900} last
    if ((${#ONLY[@]})); then
        for name in "${ONLY[@]}"; do
            [[ -f "$ROOT/tests/clients/$name.sh" ]] || arca_die "no such client test: tests/clients/$name.sh"
            scripts+=("$ROOT/tests/clients/$name.sh")
        done
    else
        shopt -s nullglob
        scripts=("$ROOT"/tests/clients/*.sh)
        shopt -u nullglob
    fi
    for s in "${scripts[@]}"; do
        name=$(basename "$s" .sh)
        if [[ "${ARCA_TEST_BACKEND:-sqlite}" != postgresql ]] && grep -qx '# arca-client-test: once' "$s"; then
            printf '\n(client test %s: "arca-client-test: once", it runs in the PostgreSQL pass)\n' "$name"
            continue
        fi
        banner "client test: $name${CLIENT_SUFFIX:-}"
        t0=$SECONDS
        rc=0
        local out
        out=$(mktemp)
        # the scripts reuse the binary built above; each starts (and stops) its own arca
        ARCA_SKIP_BUILD=1 ARCA_TEST_NAME="$name" ARCA_TEST_BACKEND="${ARCA_TEST_BACKEND:-sqlite}" timeout --kill-after=30 "$timeout" bash "$s" 2>&1 | tee "$out" || rc=$?
        last=$(grep -E "^(PASS|FAIL) $name" "$out" | tail -n1 || true)
        rm -f "$out"
        if ((rc == 124 || rc == 137)); then
            last="FAIL $name: timed out after ${timeout}s"
            printf '%s\n' "$last"
        fi
        if ((rc == 0)); then
            CLIENT_PASS=$((CLIENT_PASS + 1))
            CLIENT_RESULTS+=("PASS|$name${CLIENT_SUFFIX:-}|$((SECONDS - t0))|${last:-PASS $name}")
        else
            CLIENT_FAIL=$((CLIENT_FAIL + 1))
            CLIENT_RESULTS+=("FAIL|$name${CLIENT_SUFFIX:-}|$((SECONDS - t0))|${last:-FAIL $name: exit status $rc}")
        fi
    done
}

# ---------------------------------------------------------------------------------------------------------------

BUILD_OK=1
if ((INSTALL)); then
    run_step "install test dependencies" install_deps || true
else
    step_result SKIP "install test dependencies" 0
fi
S3_OK=1
run_step "install s3s-fs (S3 test server)" install_s3s_fs || S3_OK=0
# run_step runs in a subshell: export the binary here too, for cargo test, the client tests and e2e
if ((S3_OK)); then eval "$("$ROOT/tests/lib/s3.sh" --export)"; fi
run_step "cargo build --release" cargo_build || BUILD_OK=0
PG_OK=1
run_step "start PostgreSQL" start_postgres || PG_OK=0
# run_step runs in a subshell: export the URL here too
if ((PG_OK)); then eval "$("$ROOT/tests/lib/postgres.sh" --export)"; fi

# The appliance track (packaging checks, then the e2e scenarios) needs only the release binaries and
# spends most of its time waiting on containers, apt and systemd: it runs beside the cargo tests and the
# client tests instead of after them (started after PostgreSQL: start_postgres drops leftover databases).
APPLIANCE_PID=""
if ((APPLIANCE && BUILD_OK)); then
    start_appliance_track
elif ((APPLIANCE)); then
    step_result FAIL "appliance tests (not run: no release binary)" 0
else
    step_result SKIP "packaging checks and appliance e2e (--no-appliance)" 0
fi

if ((CARGO_TEST)); then
    # Lints first: a CPU-bound check build that fits while the appliance track waits on containers.
    run_step "cargo clippy --workspace --all-targets -- -D warnings" cargo clippy --workspace --all-targets -- -D warnings || true
    run_step "cargo test --workspace" cargo_test || true
    run_step "server tests on PostgreSQL" cargo_test_postgres || true
    run_step "fuzzing (front end 1M, parsers 200k)" bash "$ROOT/tests/fuzz/run.sh" --parser-iterations 200000 || true
else
    step_result SKIP "cargo test --workspace" 0
fi

if ((QUICK)); then
    step_result SKIP "client tests (--quick)" 0
elif ((!BUILD_OK)); then
    step_result FAIL "client tests (not run: no release binary)" 0
    for s in tests/clients/*.sh; do
        [[ -e "$s" ]] || continue
        CLIENT_FAIL=$((CLIENT_FAIL + 1))
        CLIENT_RESULTS+=("FAIL|$(basename "$s" .sh)|0|not run: the release build failed")
    done
else
    t0=$SECONDS
    run_clients
    step_result "$( ((CLIENT_FAIL == 0)) && echo PASS || echo FAIL)" "client tests (SQLite)" $((SECONDS - t0))
    t0=$SECONDS
    failed_before=$CLIENT_FAIL
    ARCA_TEST_BACKEND=postgresql CLIENT_SUFFIX=" (postgresql)" run_clients
    step_result "$( ((CLIENT_FAIL == failed_before)) && echo PASS || echo FAIL)" "client tests (PostgreSQL)" $((SECONDS - t0))
fi

[[ -z "$APPLIANCE_PID" ]] || finish_appliance_track

# ---------------------------------------------------------------------------------------------------------------
banner "summary"
for r in "${STEPS[@]}"; do
    IFS='|' read -r st name secs <<<"$r"
    printf '  %-4s  %-44s %5ss\n' "$st" "$name" "$secs"
done
if ((${#CLIENT_RESULTS[@]})); then
    printf '  client tests:\n'
    for r in "${CLIENT_RESULTS[@]}"; do
        IFS='|' read -r st name secs line <<<"$r"
        printf '    %-4s  %-42s %5ss   %s\n' "$st" "$name" "$secs" "$line"
    done
fi
printf '  total time: %ss\n' $((SECONDS - START))
if ((FAILED_STEPS == 0 && CLIENT_FAIL == 0)); then
    printf 'RESULT: OK\n'
else
    printf 'RESULT: FAILED\n'
fi
printf '%d passed, %d failed\n' "$CLIENT_PASS" "$CLIENT_FAIL"
((FAILED_STEPS == 0 && CLIENT_FAIL == 0))

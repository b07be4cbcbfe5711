#!/usr/bin/env bash
# Real-client test: pip, twine and uv through HAProxy in front of a 3-node arca cluster on PostgreSQL.
# arca-client-test: once
#
#  1. the upstream: pypiserver 2.4.2 with the PyPI fixture (tests/lib/pypi.sh: 14 real packages built here from
#     their sdists, and Debian's wheels);
#  2. three arca nodes on loopback on one fresh PostgreSQL database behind HAProxy (tests/lib/cluster.sh), with
#     arca.url.base = the HAProxy URL; through HAProxy: py-local (local), py-remote (remote of pypiserver), py
#     (virtual of both, deploying to py-local);
#  3. `twine upload` through HAProxy of arca-shout and arca-greet (wheels and sdists, tests/fixtures/pypi/projects);
#     every node's project page (asked of each node directly) lists them with the built files' sha256; `uv publish`
#     of arca-tally through the virtual repository lands in py-local;
#  4. `pip install --require-hashes` through the virtual repository on HAProxy, fresh venv, no cache, of a
#     requirements file with the fixture's 14 packages and the two uploaded projects (HAProxy spreads pip's
#     requests over the nodes): the code imports and runs, and pypiserver's log shows each file fetched once
#     for the whole cluster, by more than one node (their logs);
#  5. pypiserver and node-a (the primary) stopped: the same install (fresh venv, no cache) through HAProxy, and
#     `uv pip install` of the same file, from what the cluster keeps.
#
# Needs PostgreSQL (ARCA_TEST_PG_URL, or tests/lib/postgres.sh starts it), hence "arca-client-test: once" above:
# tests/run-all.sh runs it in its PostgreSQL pass only. Prints "PASS pypi-cluster (timings)" or
# "FAIL pypi-cluster: reason"; exit status 0 / 1.
#
# Env: ARCA_SKIP_BUILD=1 (use the existing release binaries), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages), ARCA_PYPI_CACHE (tests/lib/pypi.sh).
set -Eeuo pipefail

export ARCA_TEST_NAME=pypi-cluster
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/pypi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pypi.sh"

fail() {
    local i
    trap - ERR
    for ((i = 0; i < ${#CLUSTER_HOMES[@]}; i++)); do
        [[ -s "${CLUSTER_HOMES[i]}/arca-server.log" ]] || continue
        printf '[%s] ---- last 15 lines of %s ----\n' "$ARCA_TEST_NAME" "${CLUSTER_HOMES[i]}/arca-server.log" >&2
        tail -n 15 "${CLUSTER_HOMES[i]}/arca-server.log" >&2
    done
    [[ -z "${TIMINGS[*]:-}" ]] || arca_log "timings so far: ${TIMINGS[*]}"
    printf 'FAIL pypi-cluster: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl haproxy
    python3 -c 'import ensurepip' >/dev/null 2>&1 || arca_apt_ensure python3-venv
fi
for c in curl haproxy psql python3; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

# phase / TIMINGS / secs_since / T_START: tests/lib/arca.sh

phase setup
arca_ensure_built
WORK=""
arca_tmpdir WORK pypi-cluster
pypi_tools
pypi_fixture
pypi_peer_start "$WORK/peer"

CLUSTER_DB_PREFIX=arca_c_
CLUSTER_URL_BASE=1
cluster_init "$WORK/cluster"
cluster_start
cluster_haproxy_start
LB=$CLUSTER_LB_URL
arca_log "3 nodes behind HAProxy at $LB"

lb_put_repo() { # lb_put_repo KEY JSON
    local out
    out=$(curl -sS --max-time 30 -u "admin:$CLUSTER_ADMIN_PW" -X PUT -H 'Content-Type: application/json' \
        --data "$2" -w '\n%{http_code}' "$LB/api/repositories/$1") || fail "PUT $LB/api/repositories/$1: curl failed"
    [[ "${out##*$'\n'}" == 200 || "${out##*$'\n'}" == 201 ]] ||
        fail "PUT $LB/api/repositories/$1 $2 -> ${out##*$'\n'}: ${out%$'\n'*}"
}
lb_put_repo py-local '{"rclass":"local","packageType":"pypi"}'
lb_put_repo py-remote "{\"rclass\":\"remote\",\"packageType\":\"pypi\",\"url\":\"$PYPI_PEER_URL\",\"retrievalCachePeriodSecs\":3600}"
lb_put_repo py '{"rclass":"virtual","packageType":"pypi","repositories":["py-local","py-remote"],"defaultDeploymentRepo":"py-local"}'
# every node knows the three repositories: a project of the upstream through the virtual, asked of each node (this
# also caches six's page, from whichever node asks first)
for ((i = 0; i < CLUSTER_SIZE; i++)); do
    url="$(cluster_node_url "$i")/api/pypi/py/simple/six/"
    arca_wait_for 10 "the virtual py on ${CLUSTER_IDS[i]}" curl -sf -o /dev/null -u "admin:$CLUSTER_ADMIN_PW" "$url" ||
        fail "GET $url: $(curl -sS -i -u "admin:$CLUSTER_ADMIN_PW" "$url" 2>&1 | head -c 600)"
done
PWQ=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$CLUSTER_ADMIN_PW")
INDEX="http://admin:$PWQ@127.0.0.1:$CLUSTER_LB_PORT/artifactory/api/pypi/py/simple"

# the clients, without the machine's or the user's configuration (tests/lib/pypi.sh)
twine() { pypi_twine "$@"; }
uv() { PYPI_UV_CACHE="$WORK/uv-cache" pypi_uv "$@"; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
# logged LOG CMD... — CMD's output into LOG; on failure, its tail and a FAIL naming CMD
logged() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 </dev/null || {
        tail -n 25 "$log" >&2
        fail "$(basename "$log" .log) failed (log: $log)"
    }
}

# --- upload through HAProxy ------------------------------------------------------------------------------------------
phase upload
DIST="$WORK/dist"
pypi_build "$PYPI_SRC/projects/arca-shout" "$DIST"
pypi_build "$PYPI_SRC/projects/arca-greet" "$DIST"
pypi_build "$PYPI_SRC/projects/arca-tally" "$DIST/tally"
logged "$WORK/twine-upload.log" twine upload --repository-url "$LB/api/pypi/py-local" -u admin -p "$CLUSTER_ADMIN_PW" \
    --non-interactive --disable-progress-bar "$DIST"/*.whl "$DIST"/*.tar.gz
logged "$WORK/uv-publish.log" uv publish --publish-url "$LB/api/pypi/py/" --username admin \
    --password "$CLUSTER_ADMIN_PW" --trusted-publishing never "$DIST"/tally/*
# each node's own page of each project lists the uploaded files with their sha256
for ((i = 0; i < CLUSTER_SIZE; i++)); do
    for project in arca-shout arca-greet arca-tally; do
        page="$WORK/page-$i-$project.json"
        curl -sSf --max-time 30 -u "admin:$CLUSTER_ADMIN_PW" -H 'Accept: application/vnd.pypi.simple.v1+json' \
            -o "$page" "$(cluster_node_url "$i")/api/pypi/py-local/simple/$project/" ||
            fail "GET simple/$project/ of py-local on ${CLUSTER_IDS[i]} failed"
    done
done
python3 - "$WORK" "$CLUSTER_SIZE" "$DIST" <<'PY' || fail "a node's project pages do not list the uploaded files (above)"
import hashlib, json, os, sys
work, size, dist = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = {}
for d in (dist, os.path.join(dist, "tally")):
    for f in os.listdir(d):
        if f.endswith((".whl", ".tar.gz")):
            want[f] = hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
bad = []
for i in range(size):
    got = {}
    for project in ("arca-shout", "arca-greet", "arca-tally"):
        for f in json.load(open(f"{work}/page-{i}-{project}.json"))["files"]:
            got[f["filename"]] = f["hashes"]["sha256"]
    if got != want:
        bad.append(f"node {i}: {got}, expected {want}")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# --- pip install through HAProxy ---------------------------------------------------------------------------------
phase install
REQS="$WORK/requirements.txt"
{
    cat "$PYPI_FIXTURE_REQS"
    printf 'arca-greet==1.0.0 --hash=sha256:%s\narca-shout==1.0.0 --hash=sha256:%s\n' \
        "$(sha256 "$DIST/arca_greet-1.0.0-py3-none-any.whl")" "$(sha256 "$DIST/arca_shout-1.0.0-py3-none-any.whl")"
} >"$REQS"
CODE='import attrs, certifi, charset_normalizer, colorama, dateutil.parser, idna, iniconfig, packaging.version, pluggy, requests, six, tomli, typing_extensions, urllib3
from arca_greet import greet
print(requests.__version__, dateutil.parser.parse("2026-12-08").year, greet("cluster"))'
WANT="2.34.2 2026 HELLO CLUSTER! (arca-greet 1.0.0)"
# install LABEL — a fresh venv, pip with no cache through HAProxy, then the code runs
install() {
    local v="$WORK/venv-$1" out
    pypi_venv "$v"
    logged "$WORK/pip-$1.log" pypi_pip "$v" install --no-cache-dir --require-hashes --index-url "$INDEX" -r "$REQS"
    out=$("$v/bin/python" -c "$CODE" 2>&1) || fail "$1: the installed packages do not import: $out"
    [[ "$out" == "$WANT" ]] || fail "$1: the installed packages printed '$out', expected '$WANT'"
}
install cold
# each of the fixture's files that pip took was fetched once from pypiserver, for the whole cluster
pypi_peer_file_gets >"$WORK/peer-gets.txt"
n_fixture=$(grep -c '==' "$PYPI_FIXTURE_REQS")
if [[ "$(wc -l <"$WORK/peer-gets.txt")" != "$n_fixture" ]] || grep -qv '^1 ' "$WORK/peer-gets.txt"; then
    fail "pypiserver served these file GETs (count file), expected each of the $n_fixture files once: $(tr '\n' ';' <"$WORK/peer-gets.txt")"
fi
# ... by the nodes HAProxy sent pip's requests to: more than one ("cached from the upstream", each node's log)
fetchers=0 fetched=0
for ((i = 0; i < CLUSTER_SIZE; i++)); do
    n=$(grep -c 'cached from the upstream arca_repo=py-remote arca_path=[^.][^ ]*\.whl ' "${CLUSTER_HOMES[i]}/arca-server.log" || true)
    fetched=$((fetched + n))
    ((n == 0)) || fetchers=$((fetchers + 1))
done
((fetched == n_fixture && fetchers > 1)) ||
    fail "the nodes' logs show $fetched wheels cached from pypiserver by $fetchers nodes, expected $n_fixture by more than one"
arca_log "pip install through HAProxy: the $n_fixture files of the fixture fetched once each from pypiserver, by $fetchers nodes"

# --- the upstream and node-a stopped ---------------------------------------------------------------------------
phase offline
pypi_peer_stop
cluster_stop_node 0
cluster_wait_haproxy 0 DOWN 30 || fail "HAProxy still sends requests to the stopped node-a"
install offline
V="$WORK/venv-uv"
pypi_venv "$V"
logged "$WORK/uv-pip-install.log" uv pip install --python "$V/bin/python" --no-cache --index-url "$INDEX" -r "$REQS"
out=$("$V/bin/python" -c "$CODE" 2>&1) || fail "after uv pip install: $out"
[[ "$out" == "$WANT" ]] || fail "after uv pip install without the upstream and node-a, python printed '$out'"
phase ""

trap - ERR
printf 'PASS pypi-cluster (%s; total %ss)\n' "$(IFS=,; printf '%s' "${TIMINGS[*]}" | sed 's/,/, /g')" "$(secs_since "$T_START")"

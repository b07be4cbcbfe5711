#!/usr/bin/env bash
# Real-client test: npm through HAProxy in front of a 3-node arca cluster on PostgreSQL.
# arca-client-test: once
#
#  1. an upstream registry: a second, single arca (SQLite) with an npm local repository holding five small
#     packages (up-alpha -> up-beta -> up-gamma, two versions of up-beta, @up/scoped), published with curl;
#  2. three arca nodes on loopback on one fresh PostgreSQL database behind HAProxy (tests/lib/cluster.sh), with
#     arca.url.base = the HAProxy URL; through HAProxy: npm-local (local), npm-remote (remote of the upstream),
#     npm (virtual of both, deploying to npm-local);
#  3. two `npm publish` of arca-cluster-lib 1.0.0 and 1.1.0 (a new package) at the same time through HAProxy, one
#     sent to node-a and one to node-b (HAProxy pins them by User-Agent): both versions are in the packument,
#     whose dist.tarball URLs (asked of node-c directly) point at HAProxy, as do those of a remote package;
#  4. `npm install` through the virtual, with an empty cache, of a project that needs up-alpha ^1.0.0, @up/scoped,
#     arca-cluster-lib 1.1.0 and the roots of tests/clients/npm.sh's Verdaccio fixture (yargs, debug, semver, glob,
#     micromatch, readable-stream: real packages from Debian's node-* packages, served by Verdaccio 6.8.0 behind a
#     second remote, npm-verdaccio) — over 30 packages: the lockfile resolves each through HAProxy, and the
#     installed code reports the expected versions;
#  5. node-a (the primary), the upstream arca and Verdaccio are stopped; `npm ci` with an empty cache still
#     installs the same tree through HAProxy (packuments and tarballs come from what the cluster keeps).
#
# Needs PostgreSQL (ARCA_TEST_PG_URL, or tests/lib/postgres.sh starts it), hence "arca-client-test: once" above:
# tests/run-all.sh runs it in its PostgreSQL pass only. Prints "PASS npm-cluster" or "FAIL npm-cluster: reason";
# exit status 0 / 1.
#
# Env: ARCA_SKIP_BUILD=1 (use the existing release binaries), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages).
set -Eeuo pipefail

export ARCA_TEST_NAME=npm-cluster
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/verdaccio.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/verdaccio.sh"

fail() {
    local i
    trap - ERR
    arca_dump_log 15
    for ((i = 0; i < ${#CLUSTER_HOMES[@]}; i++)); do
        [[ -s "${CLUSTER_HOMES[i]}/arca-server.log" ]] || continue
        printf '[%s] ---- last 15 lines of %s ----\n' "$ARCA_TEST_NAME" "${CLUSTER_HOMES[i]}/arca-server.log" >&2
        tail -n 15 "${CLUSTER_HOMES[i]}/arca-server.log" >&2
    done
    printf 'FAIL npm-cluster: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl haproxy
fi
for c in npm node curl haproxy psql python3; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done
arca_ensure_built
arca_tmpdir WORK npm-cluster

# --- the upstream: a single arca and five packages ----------------------------------------------------------------
ARCA_TEST_BACKEND=sqlite arca_start "$WORK/upstream"
arca_create_repo up-npm '{"rclass":"local","packageType":"npm","anonymousRead":true}' ||
    fail "could not create the upstream's npm repository"
UP="$ARCA_URL/api/npm/up-npm"

# pkg DIR NAME VERSION DEPS_JSON BASE — writes DIR/package.json and DIR/index.js of a package whose code
# returns ["NAME@VERSION", …what its dependencies return]; with BASE, prints the body of its publish to BASE
# (as npm sends it) instead of writing the files
pkg() {
    python3 - "$@" <<'PY'
import base64, hashlib, io, json, os, sys, tarfile
d, name, version, deps, base = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
pj = {"name": name, "version": version, "main": "index.js", "license": "MIT", "dependencies": deps}
code = "module.exports = [%s].concat(%s);\n" % (
    json.dumps(f"{name}@{version}"), ", ".join(f"require({json.dumps(n)})" for n in deps))
files = {"package.json": json.dumps(pj, indent=2) + "\n", "index.js": code}
if not base:
    os.makedirs(d, exist_ok=True)
    for f, text in files.items():
        with open(os.path.join(d, f), "w") as out:
            out.write(text)
    sys.exit(0)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
    for f, text in files.items():
        data = text.encode()
        info = tarfile.TarInfo("package/" + f)
        info.size, info.mtime, info.mode = len(data), 499162500, 0o644
        tar.addfile(info, io.BytesIO(data))
tgz = buf.getvalue()
file = f"{name.split('/')[-1]}-{version}.tgz"
manifest = dict(pj, _id=f"{name}@{version}", dist={
    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode(),
    "shasum": hashlib.sha1(tgz).hexdigest(), "tarball": f"{base}/{name}/-/{file}"})
print(json.dumps({"_id": name, "name": name, "dist-tags": {"latest": version}, "versions": {version: manifest},
                  "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
                                   "data": base64.b64encode(tgz).decode(), "length": len(tgz)}}}))
PY
}
for spec in 'up-gamma 0.3.1 {}' 'up-beta 2.0.0 {"up-gamma":"~0.3.0"}' 'up-beta 2.1.0 {"up-gamma":"~0.3.0"}' \
    'up-alpha 1.2.0 {"up-beta":"^2.0.0"}' '@up/scoped 1.0.0 {}'; do
    read -r name version deps <<<"$spec"
    pkg "" "$name" "$version" "$deps" "$UP" >"$WORK/publish.json"
    code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" -X PUT -H 'Content-Type: application/json' \
        --data-binary "@$WORK/publish.json" "$UP/${name/\//%2f}")
    [[ "$code" == 201 || "$code" == 200 ]] || fail "upstream: PUT $UP/${name/\//%2f} ($name@$version) -> $code"
done

# --- Verdaccio with the real packages of the fixture ----------------------------------------------------------------
verdaccio_fixture
verdaccio_start "$WORK/verdaccio"
verdaccio_publish_fixture

# --- the cluster ------------------------------------------------------------------------------------------------
CLUSTER_DB_PREFIX=arca_c_
CLUSTER_URL_BASE=1
CLUSTER_HAPROXY_PIN=1
cluster_init "$WORK/cluster"
cluster_start
cluster_haproxy_start
LB=$CLUSTER_LB_URL
arca_log "3 nodes behind HAProxy at $LB"
for i in 0 1; do
    node=$(curl -sS --max-time 10 -A "curl arca-pin/${CLUSTER_IDS[i]}" -D - -o /dev/null "$LB/api/system/ping" |
        tr -d '\r' | awk 'tolower($1) == "x-arca-node-id:" {print $2}')
    [[ "$node" == "${CLUSTER_IDS[i]}" ]] ||
        fail "HAProxy sent a request pinned to ${CLUSTER_IDS[i]} (User-Agent) to '$node'"
done

lb_put_repo() { # lb_put_repo KEY JSON
    local out
    out=$(curl -sS --max-time 30 -u "admin:$CLUSTER_ADMIN_PW" -X PUT -H 'Content-Type: application/json' \
        --data "$2" -w '\n%{http_code}' "$LB/api/repositories/$1") || fail "PUT $LB/api/repositories/$1: curl failed"
    [[ "${out##*$'\n'}" == 200 || "${out##*$'\n'}" == 201 ]] ||
        fail "PUT $LB/api/repositories/$1 $2 -> ${out##*$'\n'}: ${out%$'\n'*}"
}
lb_put_repo npm-local '{"rclass":"local","packageType":"npm"}'
lb_put_repo npm-remote \
    "{\"rclass\":\"remote\",\"packageType\":\"npm\",\"url\":\"$UP\",\"retrievalCachePeriodSecs\":3600}"
lb_put_repo npm-verdaccio \
    "{\"rclass\":\"remote\",\"packageType\":\"npm\",\"url\":\"${VERDACCIO_URL%/}\",\"retrievalCachePeriodSecs\":3600}"
lb_put_repo npm '{"rclass":"virtual","packageType":"npm","repositories":["npm-local","npm-remote","npm-verdaccio"],
    "defaultDeploymentRepo":"npm-local"}'
TOKEN=$(curl -sS --max-time 30 -u "admin:$CLUSTER_ADMIN_PW" -X POST --data-urlencode username=admin \
    "$LB/api/security/token" | arca_json_get access_token) || fail "no access token from $LB/api/security/token"
REG="$LB/api/npm/npm"
# every node knows the three repositories: an upstream package through the virtual, asked of each node
for ((i = 0; i < CLUSTER_SIZE; i++)); do
    url="$(cluster_node_url "$i")/api/npm/npm/up-gamma"
    arca_wait_for 10 "the virtual npm on ${CLUSTER_IDS[i]}" curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$url" ||
        fail "GET $url: $(curl -sS -i -H "Authorization: Bearer $TOKEN" "$url" 2>&1 | head -c 600)"
done

# npmrc FILE [NODE_ID] — an npm user config for the virtual through HAProxy; with NODE_ID, HAProxy sends its
# requests to that node (tests/lib/cluster.sh, CLUSTER_HAPROXY_PIN)
npmrc() {
    {
        printf 'registry=%s/\n//%s/:_authToken=%s\n' "$REG" "${REG#http://}" "$TOKEN"
        printf 'update-notifier=false\nfund=false\naudit=false\nloglevel=warn\n'
        [[ -z "${2:-}" ]] || printf 'user-agent=npm/{npm-version} node/{node-version} arca-pin/%s\n' "$2"
    } >"$1"
}
# run_npm DIR LOG USERCONFIG ARGS... — npm in DIR with its own (empty) cache, output in LOG
run_npm() {
    local dir=$1 log=$2 userconfig=$3
    shift 3
    (cd "$dir" && NPM_CONFIG_USERCONFIG=$userconfig NPM_CONFIG_CACHE="$dir/.npm-cache" timeout 120 npm "$@") >"$log" 2>&1
}

# --- two versions published at the same time, through HAProxy to node-a and node-b --------------------------------
pids=()
for i in 0 1; do
    v="1.$i.0" d="$WORK/lib-$i"
    pkg "$d" arca-cluster-lib "$v" '{"up-gamma":"^0.3.0"}' ""
    npmrc "$d/.npmrc-user" "${CLUSTER_IDS[i]}"
    run_npm "$d" "$WORK/publish-$i.log" "$d/.npmrc-user" publish &
    pids+=($!)
done
for i in 0 1; do
    wait "${pids[i]}" || {
        cat "$WORK/publish-$i.log" >&2
        fail "npm publish of arca-cluster-lib@1.$i.0 through ${CLUSTER_IDS[i]} failed"
    }
done
for i in 0 1; do
    grep -q "npm publish arca_repo=npm-local package=arca-cluster-lib version=1.$i.0 " "${CLUSTER_HOMES[i]}/arca-server.log" ||
        fail "${CLUSTER_IDS[i]}'s log does not show the publish of arca-cluster-lib@1.$i.0"
done
arca_log "published arca-cluster-lib 1.0.0 (node-a) and 1.1.0 (node-b) at the same time"

# packument FILE URL — a packument, asked of one node directly
packument() {
    curl -sSf --max-time 30 -H "Authorization: Bearer $TOKEN" -o "$1" "$2" || fail "GET $2 failed"
}
packument "$WORK/lib.json" "$(cluster_node_url 2)/api/npm/npm/arca-cluster-lib"
packument "$WORK/alpha.json" "$(cluster_node_url 2)/api/npm/npm/up-alpha"
packument "$WORK/lib-local.json" "$(cluster_node_url 1)/api/npm/npm-local/arca-cluster-lib"
python3 - "$WORK" "$REG" <<'PY' || fail "the packuments are not as expected (above)"
import json, sys
work, reg = sys.argv[1], sys.argv[2]
errors = []
def load(f):
    with open(f"{work}/{f}") as fh:
        return json.load(fh)
lib, alpha, lib_b = load("lib.json"), load("alpha.json"), load("lib-local.json")
if sorted(lib.get("versions", {})) != ["1.0.0", "1.1.0"]:
    errors.append(f"arca-cluster-lib versions {sorted(lib.get('versions', {}))}, expected 1.0.0 and 1.1.0")
if lib.get("dist-tags", {}).get("latest") not in ("1.0.0", "1.1.0"):
    errors.append(f"arca-cluster-lib dist-tags {lib.get('dist-tags')}")
if sorted(lib_b.get("versions", {})) != sorted(lib.get("versions", {})):
    errors.append(f"npm-local (node-b) has the versions {sorted(lib_b.get('versions', {}))} of arca-cluster-lib")
for doc in (lib, alpha):
    for v, m in doc.get("versions", {}).items():
        want = f"{reg}/{doc['name']}/-/{doc['name']}-{v}.tgz"
        if m.get("dist", {}).get("tarball") != want:
            errors.append(f"{doc['name']}@{v}: dist.tarball {m.get('dist', {}).get('tarball')!r}, expected {want!r}")
if "1.2.0" not in alpha.get("versions", {}):
    errors.append("up-alpha has no 1.2.0 through the virtual")
for e in errors:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# --- npm install through HAProxy, empty cache -------------------------------------------------------------------
APP="$WORK/app"
mkdir -p "$APP"
python3 - "$VERDACCIO_FIXTURE_LIST" "${VERDACCIO_FIXTURE_ROOTS[@]}" >"$APP/package.json" <<'PY'
import json, sys
versions = dict(line.split() for line in open(sys.argv[1]) if line.strip())
deps = {name: "^" + versions[name] for name in sys.argv[2:]}
deps.update({"@up/scoped": "^1.0.0", "arca-cluster-lib": "1.1.0", "up-alpha": "^1.0.0"})
print(json.dumps({"name": "arca-cluster-app", "version": "1.0.0", "private": True, "dependencies": deps}, indent=2))
PY
npmrc "$WORK/npmrc-app"
WANT='[["up-alpha@1.2.0","up-beta@2.1.0","up-gamma@0.3.1"],["@up/scoped@1.0.0"],["arca-cluster-lib@1.1.0","up-gamma@0.3.1"]]'
# installed_ok — the installed code reports the expected tree
installed_ok() {
    local got
    got=$(cd "$APP" && node -e 'console.log(JSON.stringify(["up-alpha", "@up/scoped", "arca-cluster-lib"].map(require)))') ||
        fail "node could not load the installed packages"
    [[ "$got" == "$WANT" ]] || fail "the installed packages report $got, expected $WANT"
    got=$(cd "$APP" && node -e 'const s = require("semver"), y = require("yargs/yargs");
console.log(s.maxSatisfying(["1.2.3", "1.9.0", "2.0.0"], "^1"), y(["--n", "3"]).argv.n, require("micromatch")(["a.js", "b.md"], "*.js").join())') ||
        fail "node could not load the fixture's packages"
    [[ "$got" == "1.9.0 3 a.js" ]] || fail "the fixture's packages report '$got', expected '1.9.0 3 a.js'"
}
run_npm "$APP" "$WORK/install.log" "$WORK/npmrc-app" install || {
    cat "$WORK/install.log" >&2
    fail "npm install through $REG failed"
}
installed_ok
python3 - "$APP/package-lock.json" "$REG" <<'PY' || fail "package-lock.json does not resolve every package through HAProxy"
import json, sys
lock, reg = json.load(open(sys.argv[1])), sys.argv[2]
pkgs = {k: v for k, v in lock["packages"].items() if k}
bad = [f"{k}: {v.get('resolved')}" for k, v in pkgs.items() if not str(v.get("resolved", "")).startswith(reg + "/")]
for b in bad:
    print(b, file=sys.stderr)
print(f"{len(pkgs)} packages in the lockfile", file=sys.stderr)
sys.exit(1 if bad or len(pkgs) < 30 else 0)
PY
arca_log "npm install through HAProxy: $(python3 -c 'import json,sys; print(len([k for k in json.load(open(sys.argv[1]))["packages"] if k]))' "$APP/package-lock.json") packages, all resolved at $REG"

# --- node-a and the upstream stopped: npm ci, empty cache ---------------------------------------------------------
cluster_stop_node 0
arca_stop
verdaccio_stop
rm -rf "$APP/node_modules" "$APP/.npm-cache"
run_npm "$APP" "$WORK/ci.log" "$WORK/npmrc-app" ci || {
    cat "$WORK/ci.log" >&2
    fail "npm ci through $REG with node-a and the upstreams stopped failed"
}
installed_ok
arca_log "npm ci through HAProxy with node-a, the upstream arca and Verdaccio stopped: same tree"

trap - ERR
printf 'PASS npm-cluster\n'

#!/usr/bin/env bash
# Real-client test: the npm CLI (npm 11, node 20) against arca's npm registry API (docs/formats/npm.md), with
# Verdaccio 6.8.0 as the upstream of an npm remote repository (tests/lib/verdaccio.sh).
#
#  1. publish (admin token in .npmrc) to the local repository npm-local: `npm publish` of arca-greet 1.0.0,
#     `--access public` of the scoped @acme/shout, arca-greet 2.0.0 with `--tag beta`; publishing 1.0.0 again
#     fails (npm 11 refuses by itself when the packument has the version; the same PUT made here gets arca's 403
#     "You cannot publish over…"); a PUT whose tarball's package.json names another package is refused with 400
#     and nothing is stored; the stored tarball is the one npm packed;
#  2. `npm view` (fields, versions, dist-tags), `npm dist-tag add|ls|rm` (removing latest is refused),
#     `npm deprecate`, `npm unpublish pkg@ver` (that version and its tarball gone, the other stays) and
#     `npm unpublish pkg --force` (404 after), `npm whoami`, `npm ping`, `npm search`;
#  3. `npm install` into a project with an empty cache (prints the deprecation warning; the lockfile points at
#     arca), `npm audit` (an answer, no hang), `npm ci` from the lockfile with another empty cache, and node runs
#     code that requires the packages;
#  4. `npm login --auth-type=legacy` (through `script`, it needs a terminal) of a user the admin created:
#     `npm whoami` names it, a wrong password is E401; Basic auth (`_auth` in .npmrc) works too; that user has no
#     deploy permission: `npm publish` is E403 and nothing is stored;
#  5. remote + virtual: npm-remote proxies Verdaccio (37 real packages from Debian's node-* packages), npm is a
#     virtual repository of npm-local and npm-remote; a project with 39 packages in its tree (the Verdaccio
#     fixture and arca-greet from npm-local) is installed through the virtual repository with an empty cache
#     (every tarball byte-identical to the fixture's, each fetched once from Verdaccio); a publish through the
#     virtual repository lands in npm-local; Verdaccio is stopped: the packuments still come from arca's cache and
#     `npm ci` (empty cache) installs everything again, from arca's cache alone.
# Prints "PASS npm (timings)" or "FAIL npm: reason"; exit status 0 / 1.
#
# Env: ARCA_SKIP_BUILD=1 (use the existing release binary), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages), ARCA_VERDACCIO_CACHE (tests/lib/verdaccio.sh).
set -Eeuo pipefail

export ARCA_TEST_NAME=npm
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/verdaccio.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/verdaccio.sh"

fail() {
    trap - ERR
    arca_dump_log 30
    [[ -z "${TIMINGS[*]:-}" ]] || arca_log "timings so far: ${TIMINGS[*]}"
    printf 'FAIL npm: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl bsdutils
    # by command: a NodeSource node bundles npm and conflicts with Debian's npm package
    command -v npm >/dev/null 2>&1 || arca_apt_ensure nodejs npm
fi
for c in node npm curl python3 script; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

# phase / TIMINGS / secs_since / T_START: tests/lib/arca.sh

phase setup
arca_ensure_built
WORK="" # set by arca_tmpdir
arca_tmpdir WORK npm-work
verdaccio_fixture
verdaccio_start "$WORK/verdaccio"
verdaccio_publish_fixture
arca_start
U="$ARCA_URL"
arca_create_repo npm-local '{"rclass":"local","packageType":"npm"}' || fail "could not create npm-local"
ADMIN_TOKEN=$(arca_token) || fail "could not get an access token for admin"
LOCAL_REG="$U/api/npm/npm-local/"

# npmrc FILE REGISTRY [LINE...] — an npm userconfig
npmrc() {
    local file=$1 registry=$2
    shift 2
    {
        printf 'registry=%s\n' "$registry"
        printf '%s\n' "$@"
    } >"$file"
}
npmrc "$WORK/npmrc-admin" "$LOCAL_REG" "${LOCAL_REG#http:}:_authToken=$ADMIN_TOKEN"

# The npm of this test: the userconfig in NPMRC, a cache in NPM_CACHE, nothing from ~/.npmrc or the global config.
NPMRC="$WORK/npmrc-admin"
NPM_CACHE="$WORK/npm-cache"
NPM_N=0
OUT="" # the combined output of the last npm call
npm_run() { # npm_run DIR ARGS... — returns npm's status; its output is in $OUT
    local dir=$1 rc=0
    shift
    NPM_N=$((NPM_N + 1))
    OUT="$WORK/npm-$NPM_N.log"
    printf '$ npm %s\n' "$*" >"$OUT.cmd"
    (cd "$dir" && NPM_CONFIG_USERCONFIG=$NPMRC NPM_CONFIG_GLOBALCONFIG=/dev/null NPM_CONFIG_CACHE=$NPM_CACHE \
        NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_COLOR=false NPM_CONFIG_PROGRESS=false \
        NPM_CONFIG_LOGLEVEL=notice timeout "${NPM_TIMEOUT:-180}" npm "$@") >"$OUT" 2>&1 </dev/null || rc=$?
    return "$rc"
}
npm_ok() { # npm_ok DIR ARGS... — fails the test unless npm succeeds
    npm_run "$@" || {
        tail -n 25 "$OUT" >&2
        fail "npm ${*:2} failed (log: $OUT)"
    }
}
npm_fails() { # npm_fails DIR EXPECTED_REGEX ARGS... — npm must fail, its output matching the regex
    local dir=$1 re=$2
    shift 2
    if npm_run "$dir" "$@"; then
        tail -n 25 "$OUT" >&2
        fail "npm $* succeeded, expected a failure matching /$re/"
    fi
    grep -qE -- "$re" "$OUT" || {
        tail -n 25 "$OUT" >&2
        fail "npm $* failed, but its output does not match /$re/ (log: $OUT)"
    }
}
# json_py EXPR FILE — evaluates the python expression EXPR on d (the JSON document in FILE); prints the result
json_py() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); r=eval(sys.argv[1]); print(r if isinstance(r,str) else json.dumps(r, sort_keys=True))' "$1" "$2"
}

# write_pkg DIR NAME VERSION DEPS_JSON BODY — an npm package with index.js = BODY
write_pkg() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/package.json" <<EOF
{
  "name": "$2",
  "version": "$3",
  "description": "arca npm test package $2",
  "main": "index.js",
  "license": "MIT",
  "dependencies": $4
}
EOF
    printf '%s\n' "$5" >"$dir/index.js"
}

# --- 1. publish -------------------------------------------------------------------------------------------------------
phase publish
P="$WORK/pkgs"
write_pkg "$P/shout" @acme/shout 1.0.0 '{}' "module.exports = (s) => s.toUpperCase() + '!';"
write_pkg "$P/greet1" arca-greet 1.0.0 '{"@acme/shout": "^1.0.0"}' \
    "const shout = require('@acme/shout'); module.exports = (who) => shout('hello ' + who) + ' (arca-greet 1.0.0)';"
write_pkg "$P/greet2" arca-greet 2.0.0 '{"@acme/shout": "^1.0.0"}' \
    "const shout = require('@acme/shout'); module.exports = (who) => shout('hi ' + who) + ' (arca-greet 2.0.0)';"

npm_ok "$P/shout" publish --access public
grep -q '+ @acme/shout@1.0.0' "$OUT" || fail "npm publish @acme/shout: no '+ @acme/shout@1.0.0' in its output"
npm_ok "$P/greet1" publish
grep -q '+ arca-greet@1.0.0' "$OUT" || fail "npm publish arca-greet: no '+ arca-greet@1.0.0' in its output"
npm_ok "$P/greet2" publish --tag beta
# npm 11 sees 1.0.0 in the packument and refuses by itself (EPUBLISHCONFLICT, with the registry's wording) ...
npm_fails "$P/greet1" 'You cannot publish over the previously published versions: 1\.0\.0\.' publish

# The tarball stored is the one npm packed (npm pack gives the same bytes).
npm_ok "$P/greet1" pack
GREET1_TGZ="$P/greet1/arca-greet-1.0.0.tgz"
GREET1_SHA1=$(sha1sum "$GREET1_TGZ" | cut -d' ' -f1)
storage=$(arca_curl -f "$U/api/storage/npm-local/arca-greet/-/arca-greet-1.0.0.tgz") ||
    fail "GET /api/storage/npm-local/arca-greet/-/arca-greet-1.0.0.tgz failed"
[[ "$(printf '%s' "$storage" | arca_json_get checksums.sha1)" == "$GREET1_SHA1" ]] ||
    fail "the stored arca-greet-1.0.0.tgz is not the tarball npm packed: $storage"

# publish_doc NAME VERSION TGZ — the JSON document of `npm publish` for TGZ, claiming to be NAME@VERSION
publish_doc() {
    python3 - "$@" <<'PY'
import base64, hashlib, json, sys
name, version, tgz = sys.argv[1:4]
data = open(tgz, "rb").read()
print(json.dumps({
    "_id": name, "name": name, "dist-tags": {"latest": version},
    "versions": {version: {"name": name, "version": version, "_id": f"{name}@{version}",
        "dist": {"shasum": hashlib.sha1(data).hexdigest(),
                 "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()}}},
    "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
        "data": base64.b64encode(data).decode(), "length": len(data)}},
}))
PY
}
# put_publish NAME DOC_FILE — prints the status; the answer is in $WORK/put.out
put_publish() {
    curl -s --max-time 60 -o "$WORK/put.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" \
        -H 'Content-Type: application/json' --data-binary "@$2" "${LOCAL_REG}$1"
}
# ... and so does arca, when the same publish comes anyway
publish_doc arca-greet 1.0.0 "$GREET1_TGZ" >"$WORK/again.json"
code=$(put_publish arca-greet "$WORK/again.json")
[[ "$code" == 403 ]] || fail "PUT arca-greet 1.0.0 again -> $code, expected 403: $(cat "$WORK/put.out")"
grep -q 'You cannot publish over the previously published versions: 1.0.0.' "$WORK/put.out" ||
    fail "PUT arca-greet 1.0.0 again: $(cat "$WORK/put.out")"

# A publish of arca-evil 1.0.0 whose tarball is arca-greet's: refused, nothing stored.
publish_doc arca-evil 1.0.0 "$GREET1_TGZ" >"$WORK/evil.json"
code=$(put_publish arca-evil "$WORK/evil.json")
[[ "$code" == 400 ]] || fail "PUT arca-evil with arca-greet's tarball -> $code, expected 400: $(cat "$WORK/put.out")"
grep -q "package.json is arca-greet@1.0.0, not arca-evil@1.0.0" "$WORK/put.out" ||
    fail "PUT arca-evil with arca-greet's tarball: the error does not name the mismatch: $(cat "$WORK/put.out")"
for path in api/npm/npm-local/arca-evil api/storage/npm-local/arca-evil; do
    code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "$U/$path")
    [[ "$code" == 404 ]] || fail "after the refused publish, GET /$path -> $code, expected 404"
done

# --- 2. the registry commands -------------------------------------------------------------------------------------
# (each npm command once; what it did is checked through the registry API, which is much faster than npm)
phase commands
# get_json FILE URL — GET as admin into FILE; fails the test on an error status
get_json() {
    arca_curl -f -o "$1" "$2" || fail "GET $2 failed"
}
npm_ok "$WORK" view arca-greet --json
[[ "$(json_py '[d["name"], d["versions"], d["dist-tags"], d["dependencies"], d["description"]]' "$OUT")" == \
    '["arca-greet", ["1.0.0", "2.0.0"], {"beta": "2.0.0", "latest": "1.0.0"}, {"@acme/shout": "^1.0.0"}, "arca npm test package arca-greet"]' ]] ||
    fail "npm view arca-greet --json: unexpected $(head -c 600 "$OUT")"
[[ "$(json_py 'd["dist"]["shasum"]' "$OUT")" == "$GREET1_SHA1" ]] || fail "npm view arca-greet: dist.shasum is not 1.0.0's"
[[ "$(json_py 'd["dist"]["tarball"]' "$OUT")" == "${LOCAL_REG}arca-greet/-/arca-greet-1.0.0.tgz" ]] ||
    fail "npm view arca-greet: dist.tarball is $(json_py 'd["dist"]["tarball"]' "$OUT")"
get_json "$WORK/beta.json" "${LOCAL_REG}arca-greet/beta"
[[ "$(json_py 'd["version"]' "$WORK/beta.json")" == 2.0.0 ]] || fail "GET arca-greet/beta: $(cat "$WORK/beta.json")"

npm_ok "$WORK" dist-tag add arca-greet@2.0.0 next
npm_ok "$WORK" dist-tag ls arca-greet
[[ "$(sort "$OUT" | tr '\n' ' ')" == "beta: 2.0.0 latest: 1.0.0 next: 2.0.0 " ]] ||
    fail "npm dist-tag ls after add: $(cat "$OUT")"
npm_ok "$WORK" dist-tag rm arca-greet next
get_json "$WORK/tags.json" "${LOCAL_REG}-/package/arca-greet/dist-tags"
[[ "$(json_py d "$WORK/tags.json")" == '{"beta": "2.0.0", "latest": "1.0.0"}' ]] ||
    fail "the dist-tags after npm dist-tag rm: $(cat "$WORK/tags.json")"
npm_fails "$WORK" 'E400' dist-tag rm arca-greet latest

DEPRECATION="arca-greet 1 is old: use 2"
npm_ok "$WORK" deprecate arca-greet@1.0.0 "$DEPRECATION"
npm_ok "$WORK" view arca-greet@1.0.0 deprecated
[[ "$(tail -n1 "$OUT")" == "$DEPRECATION" ]] || fail "npm view arca-greet@1.0.0 deprecated: $(cat "$OUT")"
get_json "$WORK/greet.json" "${LOCAL_REG}arca-greet"
[[ "$(json_py '[d["versions"][v].get("deprecated") for v in ("1.0.0", "2.0.0")]' "$WORK/greet.json")" == \
    "[\"$DEPRECATION\", null]" ]] || fail "after npm deprecate arca-greet@1.0.0, the packument says $(head -c 600 "$WORK/greet.json")"

write_pkg "$P/tmp1" arca-tmp 1.0.0 '{}' "module.exports = 1;"
write_pkg "$P/tmp2" arca-tmp 1.1.0 '{}' "module.exports = 2;"
npm_ok "$P/tmp1" publish
npm_ok "$P/tmp2" publish
npm_ok "$WORK" unpublish arca-tmp@1.0.0
grep -q -- '- arca-tmp@1.0.0' "$OUT" || fail "npm unpublish arca-tmp@1.0.0: $(cat "$OUT")"
get_json "$WORK/tmp.json" "${LOCAL_REG}arca-tmp"
[[ "$(json_py '[sorted(d["versions"]), d["dist-tags"]]' "$WORK/tmp.json")" == '[["1.1.0"], {"latest": "1.1.0"}]' ]] ||
    fail "after npm unpublish arca-tmp@1.0.0, the packument: $(head -c 600 "$WORK/tmp.json")"
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "${LOCAL_REG}arca-tmp/-/arca-tmp-1.0.0.tgz")
[[ "$code" == 404 ]] || fail "after npm unpublish arca-tmp@1.0.0, its tarball -> $code, expected 404"
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "${LOCAL_REG}arca-tmp/-/arca-tmp-1.1.0.tgz")
[[ "$code" == 200 ]] || fail "after npm unpublish arca-tmp@1.0.0, the tarball of 1.1.0 -> $code, expected 200"
npm_ok "$WORK" unpublish arca-tmp --force
for path in api/npm/npm-local/arca-tmp api/storage/npm-local/arca-tmp/-/arca-tmp-1.1.0.tgz; do
    code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "$U/$path")
    [[ "$code" == 404 ]] || fail "after npm unpublish arca-tmp --force, GET /$path -> $code, expected 404"
done

npm_ok "$WORK" whoami
[[ "$(tail -n1 "$OUT")" == admin ]] || fail "npm whoami: $(cat "$OUT")"
npm_ok "$WORK" ping
grep -q 'PONG' "$OUT" || fail "npm ping: no PONG: $(cat "$OUT")"
npm_ok "$WORK" search arca --json
[[ "$(json_py '[(p["name"], p["version"]) for p in d]' "$OUT")" == '[["arca-greet", "1.0.0"]]' ]] ||
    fail "npm search arca: $(head -c 600 "$OUT")"
get_json "$WORK/search.json" "${LOCAL_REG}-/v1/search?text=acme&size=20"
[[ "$(json_py '[o["package"]["name"] for o in d["objects"]]' "$WORK/search.json")" == '["@acme/shout"]' ]] ||
    fail "GET -/v1/search?text=acme: $(head -c 600 "$WORK/search.json")"

# --- 3. install, audit, ci ------------------------------------------------------------------------------------------
phase install
APP="$WORK/app"
mkdir -p "$APP"
cat >"$APP/package.json" <<'EOF'
{ "name": "arca-npm-app", "version": "1.0.0", "private": true,
  "dependencies": { "arca-greet": "^1.0.0", "@acme/shout": "^1.0.0" } }
EOF
NPM_CACHE="$WORK/cache-install"
npm_ok "$APP" install
grep -qF "npm warn deprecated arca-greet@1.0.0: $DEPRECATION" "$OUT" ||
    fail "npm install did not print the deprecation of arca-greet@1.0.0 (log: $OUT)"
out=$(cd "$APP" && node -e 'console.log(require("arca-greet")("arca"))') || fail "node: require('arca-greet') failed: $out"
[[ "$out" == "HELLO ARCA! (arca-greet 1.0.0)" ]] || fail "the installed arca-greet printed '$out'"
resolved=$(json_py 'sorted({p["resolved"] for k, p in d["packages"].items() if k})' "$APP/package-lock.json")
[[ "$resolved" == "[\"${LOCAL_REG}@acme/shout/-/shout-1.0.0.tgz\", \"${LOCAL_REG}arca-greet/-/arca-greet-1.0.0.tgz\"]" ]] ||
    fail "package-lock.json: resolved URLs $resolved"

# (a hang would be the audit endpoints never answering: 60 s is plenty)
NPM_TIMEOUT=60 npm_ok "$APP" audit --json
[[ "$(json_py '[d["auditReportVersion"], d["vulnerabilities"], d["metadata"]["vulnerabilities"]["total"]]' "$OUT")" == \
    '[2, {}, 0]' ]] || fail "npm audit --json: $(head -c 600 "$OUT")"
NPM_TIMEOUT=60 npm_ok "$APP" audit
grep -q 'found 0 vulnerabilities' "$OUT" || fail "npm audit: $(cat "$OUT")"

rm -rf "$APP/node_modules"
NPM_CACHE="$WORK/cache-ci"
npm_ok "$APP" ci
out=$(cd "$APP" && node -e 'console.log(require("arca-greet")("ci"), require("@acme/shout")("x"))') ||
    fail "node after npm ci: $out"
[[ "$out" == "HELLO CI! (arca-greet 1.0.0) X!" ]] || fail "after npm ci, node printed '$out'"

# --- 4. login, Basic auth, permissions ------------------------------------------------------------------------------
phase login
DEV=npm-dev
DEV_PW="Dev-Passw0rd-$RANDOM"
code=$(arca_curl -o "$WORK/user.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data "{\"email\":\"npm-dev@example.com\",\"password\":\"$DEV_PW\"}" "$U/api/security/users/$DEV")
[[ "$code" == 201 ]] || fail "PUT /api/security/users/$DEV -> $code: $(cat "$WORK/user.out")"

# npm_login USER PASSWORD — `npm login --auth-type=legacy` in a pseudo-terminal (npm reads the prompts from a TTY
# only): the answers are typed when npm shows each prompt; returns npm's status, its output in $OUT
wait_out() { # wait_out REGEX — until $OUT matches REGEX (30 s at most)
    local i
    for ((i = 0; i < 600; i++)); do
        grep -qE "$1" "$OUT" && return 0
        sleep 0.05
    done
}
npm_login() {
    local user=$1 pw=$2 rc=0
    NPM_N=$((NPM_N + 1))
    OUT="$WORK/npm-$NPM_N.log"
    : >"$OUT"
    {
        wait_out 'Username:'
        printf '%s\n' "$user"
        wait_out 'Password:'
        printf '%s\n' "$pw"
        # keep the terminal open until npm is done (the end of this input would end the login)
        wait_out 'Logged in|npm error'
    } | (cd "$WORK" && NPM_CONFIG_USERCONFIG=$NPMRC NPM_CONFIG_GLOBALCONFIG=/dev/null NPM_CONFIG_CACHE=$NPM_CACHE \
        NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_COLOR=false \
        timeout 60 script -q -e -c "npm login --auth-type=legacy" /dev/null) >"$OUT" 2>&1 || rc=$?
    return "$rc"
}

npmrc "$WORK/npmrc-dev" "$LOCAL_REG"
NPMRC="$WORK/npmrc-dev"
if npm_login "$DEV" "wrong-$DEV_PW"; then
    fail "npm login with a wrong password succeeded: $(cat "$OUT")"
fi
grep -q 'E401' "$OUT" || fail "npm login with a wrong password: no E401 in: $(cat "$OUT")"
npm_login "$DEV" "$DEV_PW" || fail "npm login --auth-type=legacy as $DEV failed: $(tail -n 15 "$OUT")"
grep -q "Logged in on $LOCAL_REG" "$OUT" || fail "npm login: no 'Logged in on $LOCAL_REG' in: $(cat "$OUT")"
grep -q "^${LOCAL_REG#http:}:_authToken=" "$NPMRC" || fail "npm login wrote no token for $LOCAL_REG in .npmrc"
npm_ok "$WORK" whoami
[[ "$(tail -n1 "$OUT")" == "$DEV" ]] || fail "npm whoami after npm login: $(cat "$OUT")"

npmrc "$WORK/npmrc-basic" "$LOCAL_REG" "${LOCAL_REG#http:}:_auth=$(printf '%s:%s' "$DEV" "$DEV_PW" | base64 -w0)"
NPMRC="$WORK/npmrc-basic"
npm_ok "$WORK" whoami
[[ "$(tail -n1 "$OUT")" == "$DEV" ]] || fail "npm whoami with _auth (Basic): $(cat "$OUT")"
npm_ok "$WORK" view arca-greet version
[[ "$(tail -n1 "$OUT")" == 1.0.0 ]] || fail "npm view as $DEV (a reader): $(cat "$OUT")"

# no deploy permission (a new user is only in "readers"): E403, nothing stored
NPMRC="$WORK/npmrc-dev"
write_pkg "$P/dev" arca-dev-pkg 1.0.0 '{}' "module.exports = 'dev';"
npm_fails "$P/dev" "403 Forbidden - PUT ${LOCAL_REG}arca-dev-pkg" publish
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "${LOCAL_REG}arca-dev-pkg")
[[ "$code" == 404 ]] || fail "after $DEV's refused publish, GET arca-dev-pkg -> $code, expected 404"
NPMRC="$WORK/npmrc-admin"

# --- 5. remote (Verdaccio) + virtual --------------------------------------------------------------------------------
phase proxy-install
arca_create_repo npm-remote "{\"rclass\":\"remote\",\"packageType\":\"npm\",\"url\":\"${VERDACCIO_URL%/}\"}" ||
    fail "could not create the remote repository npm-remote"
arca_create_repo npm \
    '{"rclass":"virtual","packageType":"npm","repositories":["npm-local","npm-remote"],"defaultDeploymentRepo":"npm-local"}' ||
    fail "could not create the virtual repository npm"
VIRT_REG="$U/api/npm/npm/"
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "${VIRT_REG}-/ping")
[[ "$code" != 501 ]] || fail "GET ${VIRT_REG}-/ping -> 501: arca does not serve npm from virtual repositories"
npmrc "$WORK/npmrc-virtual" "$VIRT_REG" "${VIRT_REG#http:}:_authToken=$ADMIN_TOKEN"
NPMRC="$WORK/npmrc-virtual"

BIG="$WORK/big"
mkdir -p "$BIG"
python3 - "$VERDACCIO_FIXTURE_LIST" "${VERDACCIO_FIXTURE_ROOTS[@]}" >"$BIG/package.json" <<'PY'
import json, sys
versions = dict(line.split() for line in open(sys.argv[1]) if line.strip())
deps = {name: "^" + versions[name] for name in sys.argv[2:]}
deps["arca-greet"] = "^2.0.0"
print(json.dumps({"name": "arca-npm-big", "version": "1.0.0", "private": True, "dependencies": deps}, indent=2))
PY
# shellcheck disable=SC2016 # JavaScript, not shell
BIG_JS='
const yargs = require("yargs/yargs"), debug = require("debug"), semver = require("semver"), glob = require("glob");
const micromatch = require("micromatch"), { Readable } = require("readable-stream"), greet = require("arca-greet");
const argv = yargs(["--who", "virtual", "--n", "3"]).argv;
const chunks = [];
Readable.from(["a", "b"]).on("data", (c) => chunks.push(c)).on("end", () => console.log([
  greet(argv.who), argv.n, semver.maxSatisfying(["1.2.3", "1.9.0", "2.0.0"], "^1"),
  micromatch(["a.js", "b.md"], "*.js").join(), glob.sync("package*.json").sort().join(),
  typeof debug("arca"), chunks.join("")].join(" | ")));
'
BIG_EXPECTED="HI VIRTUAL! (arca-greet 2.0.0) | 3 | 1.9.0 | a.js | package-lock.json,package.json | function | ab"

NPM_CACHE="$WORK/cache-big"
npm_ok "$BIG" install
n=$(json_py 'len([k for k in d["packages"] if k])' "$BIG/package-lock.json")
((n >= 30)) || fail "the project through the virtual repository has $n packages, expected at least 30"
bad=$(json_py "[k for k, p in d['packages'].items() if k and not p.get('resolved', '').startswith('$VIRT_REG')]" \
    "$BIG/package-lock.json")
[[ "$bad" == "[]" ]] || fail "package-lock.json: packages not resolved through $VIRT_REG: $bad"
# every tarball from Verdaccio is the fixture's, byte for byte; each was fetched from Verdaccio once
python3 - "$BIG/package-lock.json" "$VERDACCIO_FIXTURE" "$VERDACCIO_LOG" <<'PY' || fail "the tarballs through arca differ from the fixture's, or were fetched more than once (above)"
import base64, collections, hashlib, json, os, re, sys
lock = json.load(open(sys.argv[1]))["packages"]
fixture = sys.argv[2]
want = dict(line.split() for line in open(os.path.join(fixture, "packages.txt")) if line.strip())
bad = []
for name, version in want.items():
    entry = lock.get("node_modules/" + name)
    if entry is None or entry.get("version") != version:
        bad.append(f"{name}: {entry and entry.get('version')} in the lockfile, {version} in the fixture")
        continue
    data = open(os.path.join(fixture, "tarballs", f"{name}-{version}.tgz"), "rb").read()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if entry.get("integrity") != integrity:
        bad.append(f"{name}@{version}: integrity {entry.get('integrity')}, the fixture's is {integrity}")
# Verdaccio logs "requested 'GET /x'" once per request (and the answer twice)
gets = collections.Counter(re.findall(r"requested 'GET (/[^' ]+\.tgz)'", open(sys.argv[3], errors="replace").read()))
if set(gets) != {f"/{n}/-/{n}-{v}.tgz" for n, v in want.items()} or any(c != 1 for c in gets.values()):
    bad.append(f"Verdaccio served these tarball GETs: {dict(gets)}")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
out=$(cd "$BIG" && node -e "$BIG_JS" 2>&1) || fail "node in the project installed through the virtual repository: $out"
[[ "$out" == "$BIG_EXPECTED" ]] || fail "the project installed through the virtual repository printed '$out'"

# a publish through the virtual repository goes to its default deployment repository
write_pkg "$P/virt" arca-virt-pkg 1.0.0 '{}' "module.exports = 'virt';"
npm_ok "$P/virt" publish
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "${LOCAL_REG}arca-virt-pkg/-/arca-virt-pkg-1.0.0.tgz")
[[ "$code" == 200 ]] || fail "after npm publish through the virtual repository, npm-local's tarball -> $code"

phase proxy-offline
verdaccio_stop
code=$(arca_http_code "${VERDACCIO_URL}-/ping")
[[ "$code" == 000 ]] || fail "Verdaccio still answers after it was stopped ($code)"
# (npm ci reads only tarballs: the packuments are asked for here, as npm install asks for them)
for pkg in yargs @acme%2fshout; do
    arca_curl -f -o "$WORK/offline.json" -H 'Accept: application/vnd.npm.install-v1+json' "$VIRT_REG$pkg" ||
        fail "GET $VIRT_REG$pkg without Verdaccio failed"
    [[ "$(json_py 'sorted(d["versions"])' "$WORK/offline.json")" == '["16.2.0"]' || "$pkg" != yargs ]] ||
        fail "GET ${VIRT_REG}yargs without Verdaccio: $(head -c 300 "$WORK/offline.json")"
done
rm -rf "$BIG/node_modules"
NPM_CACHE="$WORK/cache-big-offline"
npm_ok "$BIG" ci
out=$(cd "$BIG" && node -e "$BIG_JS" 2>&1) || fail "node after npm ci without Verdaccio: $out"
[[ "$out" == "$BIG_EXPECTED" ]] || fail "after npm ci without Verdaccio, the project printed '$out'"
phase ""

trap - ERR
printf 'PASS npm (%s; total %ss)\n' "$(IFS=,; printf '%s' "${TIMINGS[*]}" | sed 's/,/, /g')" "$(secs_since "$T_START")"

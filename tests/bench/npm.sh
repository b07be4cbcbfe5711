#!/usr/bin/env bash
# npm registries side by side (issue 21; docs/benchmarks.md, "npm registries, arca vs Verdaccio"): Verdaccio 6.8.0
# (tests/lib/verdaccio.sh, its storage on the same disk) and arca (release build, SQLite, local filestore) on the same
# machine, in one run, loopback only:
#  - `npm ci` of a project whose lockfile pulls the Verdaccio fixture's packages (37: yargs, glob, micromatch, semver,
#    debug, readable-stream and everything they depend on), an empty npm cache and no node_modules each time: straight
#    from Verdaccio; through arca's virtual repository `npm` (local `npm-local` + remote `npm-remote` of that
#    Verdaccio) with the remote's cache empty (cold: the remote repository created anew before each such run) and
#    full (warm); from arca's local repository `npm-fixture` holding the same tarballs. Best of --runs.
#  - packument GETs per second (wrk, keep-alive) of one package with --versions versions published into both with
#    npm: abbreviated (npm's own Accept header for application/vnd.npm.install-v1+json), full (application/json), and
#    abbreviated with npm's Accept-Encoding (gzip); then tarball GETs per second of the fixture's largest tarball (the
#    server's share of the npm ci row). Verdaccio next to arca's local, virtual and remote repositories, anonymous,
#    in interleaved rounds, best round. Every answer is checked first (200, the versions, abbreviated or full, the
#    tarball's bytes), and wrk's totals after (no non-2xx answer, the bytes per answer of the checked one).
#  - RSS of both (VmRSS and the peak VmHWM from /proc/PID/status) after the load.
# A benchmark, not a test: tests/run-all.sh does not run it; the exit status only says whether it could measure (a
# slower arca is a MISS in the table, not a failure).
#
# Usage: tests/bench/npm.sh [--quick] [--runs N] [--versions N] [--duration S] [--connections N] [--no-build] [--keep]
#   --quick          1 npm ci of each kind, 10 versions, wrk 2 s, 1 round (checks that the script works)
#   --runs N         npm ci runs of each kind and wrk rounds, best of N (default 3)
#   --versions N     versions of the packument package (default 50)
#   --duration S     seconds of one wrk run (default 5)
#   --connections N  wrk's keep-alive connections (default 8, one wrk thread)
#   --no-build       use the existing target/release/arca-server
#   --keep           keep the work dir (logs, lockfiles, both registries' storage)
# Env: ARCA_SKIP_INSTALL=1 (do not apt-get what is missing), ARCA_VERDACCIO_CACHE (tests/lib/verdaccio.sh).
set -euo pipefail

export ARCA_TEST_NAME=bench-npm
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/verdaccio.sh
. "$HERE/../lib/verdaccio.sh"

RUNS=3
VERSIONS=50
DURATION=5
CONNECTIONS=8
BUILD=1
while (($#)); do
    case "$1" in
        --quick)
            RUNS=1
            VERSIONS=10
            DURATION=2
            ;;
        --runs) RUNS=$2; shift ;;
        --versions) VERSIONS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --no-build) BUILD=0 ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
for v in "$RUNS" "$VERSIONS" "$DURATION" "$CONNECTIONS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || arca_die "--runs, --versions, --duration and --connections take positive integers"
done

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl wrk
fi
for c in curl wrk node npm python3 awk; do
    command -v "$c" >/dev/null 2>&1 || arca_die "$c is not installed"
done
# only the server: the other daemons play no part here
if ((BUILD)); then
    arca_log "cargo build --release -p arca-server"
    (cd "$ARCA_ROOT" && cargo build --release -p arca-server) || arca_die "release build failed"
fi
[[ -x "$ARCA_BIN" ]] || arca_die "$ARCA_BIN does not exist (build it, or drop --no-build)"
# on the repository's disk, not on a tmpfs: both registries keep their files there
export ARCA_TEST_TMP="$ARCA_ROOT/target"
WORK=""
arca_tmpdir WORK bench-npm

# ---------------------------------------------------------------------------------------------------------------
# the two registries

verdaccio_fixture
verdaccio_start "$WORK/verdaccio"
verdaccio_publish_fixture
V=${VERDACCIO_URL%/}
N_FIXTURE=$(wc -l <"$VERDACCIO_FIXTURE_LIST")

arca_start "$WORK/arca-home"
TOKEN=$(arca_token) || arca_die "no access token"
A="$ARCA_URL/api/npm"
REMOTE_JSON="{\"rclass\":\"remote\",\"packageType\":\"npm\",\"url\":\"$V\",\"anonymousRead\":true}"
arca_create_repo npm-local '{"rclass":"local","packageType":"npm","anonymousRead":true}' >/dev/null 2>&1 ||
    arca_die "npm-local"
arca_create_repo npm-remote "$REMOTE_JSON" >/dev/null 2>&1 || arca_die "npm-remote"
VIRTUAL_JSON='{"rclass":"virtual","packageType":"npm","repositories":["npm-local","npm-remote"],
    "defaultDeploymentRepo":"npm-local","anonymousRead":true}'
arca_create_repo npm "$VIRTUAL_JSON" >/dev/null 2>&1 || arca_die "npm (virtual)"
arca_create_repo npm-fixture '{"rclass":"local","packageType":"npm","anonymousRead":true}' >/dev/null 2>&1 ||
    arca_die "npm-fixture"

# npmrc FILE REGISTRY TOKEN — an npm userconfig for REGISTRY (ending in /) with TOKEN
npmrc() {
    printf 'registry=%s\n%s:_authToken=%s\n' "$2" "${2#http:}" "$3" >"$1"
}
npmrc "$WORK/npmrc-verdaccio" "$V/" "$VERDACCIO_TOKEN"
# Verdaccio's legacy token (its default) costs a bcrypt check of the password on every request (~0.1 s here): the
# fixture's packages are readable by anyone, so Verdaccio is also timed without a token
printf 'registry=%s/\n' "$V" >"$WORK/npmrc-verdaccio-anon"
npmrc "$WORK/npmrc-arca-virtual" "$A/npm/" "$TOKEN"
npmrc "$WORK/npmrc-arca-fixture" "$A/npm-fixture/" "$TOKEN"

# run_npm USERCONFIG CACHE ARGS... — the real npm with only USERCONFIG (no global or project config, no audit, no
# update check)
run_npm() {
    local userconfig=$1 cache=$2
    shift 2
    NPM_CONFIG_USERCONFIG=$userconfig NPM_CONFIG_GLOBALCONFIG=/dev/null NPM_CONFIG_CACHE=$cache \
        NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false npm "$@"
}

# publish_all USERCONFIG LOG TGZ... — npm publish of each tarball, in order, one at a time (the versions of one
# package: each PUT merges into the stored packument)
publish_all() {
    local userconfig=$1 log=$2 tgz
    shift 2
    for tgz in "$@"; do
        (cd "$(dirname "$tgz")" && run_npm "$userconfig" "$WORK/npm-cache-publish" publish --ignore-scripts \
            "./$(basename "$tgz")") >>"$log" 2>&1 || arca_die "npm publish $tgz failed: $(tail -n 20 "$log")"
    done
}

# the fixture's tarballs into npm-fixture (Verdaccio has them already), three npm processes at once
arca_log "publishing the $N_FIXTURE fixture packages into arca's npm-fixture"
(cd "$VERDACCIO_FIXTURE/tarballs" && find . -name '*.tgz' -print0 | sort -z |
    NPM_CONFIG_USERCONFIG=$WORK/npmrc-arca-fixture NPM_CONFIG_GLOBALCONFIG=/dev/null \
        NPM_CONFIG_CACHE=$WORK/npm-cache-publish NPM_CONFIG_UPDATE_NOTIFIER=false \
        xargs -0 -P 3 -n 1 npm publish --ignore-scripts) >>"$WORK/publish-fixture.log" 2>&1 ||
    arca_die "npm publish of the fixture into arca failed (log: $WORK/publish-fixture.log)"

# the package of the packument rows: VERSIONS versions of bench-many (package.json with a few dependencies, a README
# of 2 KiB, index.js), tarballs made like npm pack's (package/…, gzip), published with npm into Verdaccio and npm-local
PKG=bench-many
mkdir -p "$WORK/many"
python3 - "$WORK/many" "$PKG" "$VERSIONS" <<'PY'
import gzip, io, json, os, sys, tarfile

out, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
readme = "# %s\n\n" % name + "A package with many versions, for the packument benchmark. " * 35 + "\n"
for i in range(count):
    version = "1.%d.0" % i
    manifest = {
        "name": name, "version": version, "description": "packument benchmark, version %s" % version,
        "main": "index.js", "license": "MIT", "keywords": ["bench", "npm", "arca"],
        "repository": {"type": "git", "url": "https://example.invalid/%s.git" % name},
        "author": "arca bench <bench@example.invalid>",
        "engines": {"node": ">=14"},
        "dependencies": {"ms": "^2.1.3", "debug": "^4.3.4", "semver": "^7.3.5"},
        "scripts": {"test": "node index.js"},
    }
    files = {
        "package/package.json": json.dumps(manifest, indent=2).encode() + b"\n",
        "package/README.md": readme.encode(),
        "package/index.js": b"module.exports = %s;\n" % json.dumps(version).encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 499162500
            tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(out, "%s-%s.tgz" % (name, version)), "wb") as f:
        f.write(gzip.compress(raw.getvalue(), mtime=0))
PY
mapfile -t MANY < <(for ((i = 0; i < VERSIONS; i++)); do echo "$WORK/many/$PKG-1.$i.0.tgz"; done)
arca_log "publishing $VERSIONS versions of $PKG into Verdaccio and into arca's npm-local (npm publish, one at a time)"
publish_all "$WORK/npmrc-verdaccio" "$WORK/publish-many-verdaccio.log" "${MANY[@]}"
npmrc "$WORK/npmrc-arca-local" "$A/npm-local/" "$TOKEN"
publish_all "$WORK/npmrc-arca-local" "$WORK/publish-many-arca.log" "${MANY[@]}"

# ---------------------------------------------------------------------------------------------------------------
# row 1: npm ci

# the project: the fixture's roots at their versions; one lockfile per registry (npm install --package-lock-only
# against it, untimed: `resolved` names that registry's tarball URLs)
declare -A FIX_VERSION=()
while read -r name version; do FIX_VERSION[$name]=$version; done <"$VERDACCIO_FIXTURE_LIST"
deps=""
for name in "${VERDACCIO_FIXTURE_ROOTS[@]}"; do
    [[ -n "${FIX_VERSION[$name]:-}" ]] || arca_die "the fixture has no $name"
    deps+="${deps:+,}\"$name\": \"${FIX_VERSION[$name]}\""
done
for kind in verdaccio arca-virtual arca-fixture; do
    mkdir -p "$WORK/project-$kind"
    printf '{"name": "bench-project", "version": "1.0.0", "private": true, "dependencies": {%s}}\n' "$deps" \
        >"$WORK/project-$kind/package.json"
    (cd "$WORK/project-$kind" && run_npm "$WORK/npmrc-$kind" "$WORK/npm-cache-lock" install --package-lock-only \
        --ignore-scripts) >"$WORK/lock-$kind.log" 2>&1 ||
        arca_die "npm install --package-lock-only ($kind) failed: $(tail -n 20 "$WORK/lock-$kind.log")"
    registry=$(sed -n 's/^registry=//p' "$WORK/npmrc-$kind")
    python3 - "$WORK/project-$kind/package-lock.json" "$registry" "$N_FIXTURE" <<'PY' || arca_die "the $kind lockfile"
import json, sys
lock, registry, want = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
pkgs = {k: v for k, v in lock["packages"].items() if k}
bad = [k for k, v in pkgs.items() if not v.get("resolved", "").startswith(registry) or not v.get("integrity")]
if len(pkgs) != want or bad:
    sys.exit("%d packages (want %d), not from %s or without integrity: %s" % (len(pkgs), want, registry, bad[:5]))
PY
done
rm -rf "$WORK/npm-cache-lock"
mkdir -p "$WORK/project-verdaccio-anon"
cp "$WORK/project-verdaccio/package.json" "$WORK/project-verdaccio/package-lock.json" "$WORK/project-verdaccio-anon/"

# the tarballs arca's remote has fetched so far (arca's log: "cached from the upstream arca_repo=npm-remote
# arca_path={pkg}/-/{file}.tgz"; Verdaccio's own log is written late, in batches)
upstream_tgz_gets() {
    grep -c 'cached from the upstream arca_repo=npm-remote arca_path=[^ ]*/-/[^ ]*\.tgz' "$ARCA_LOG_FILE" || true
}

# npm_ci KIND NAME — one `npm ci` of project-KIND, no node_modules, an empty cache; prints its wall time (s)
npm_ci() {
    local dir="$WORK/project-$1" log="$WORK/npm-ci-$2.log" t0 t1
    rm -rf "$dir/node_modules" "$WORK/npm-cache"
    t0=$(date +%s.%N)
    (cd "$dir" && run_npm "$WORK/npmrc-$1" "$WORK/npm-cache" ci --ignore-scripts --no-audit --no-fund) >"$log" 2>&1 ||
        arca_die "npm ci ($2) failed: $(tail -n 20 "$log")"
    t1=$(date +%s.%N)
    # every package of the fixture is installed, at its version
    python3 - "$dir/node_modules" "$VERDACCIO_FIXTURE_LIST" <<'PY' || arca_die "npm ci ($2): not the fixture's packages"
import json, os, sys
for line in open(sys.argv[2]):
    name, version = line.split()
    try:
        got = json.load(open(os.path.join(sys.argv[1], name, "package.json"))).get("version")
    except OSError:
        got = None
    if got != version:
        sys.exit("%s: %s installed, not %s" % (name, got, version))
PY
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

# a cold arca: the remote repository created anew (its cached packuments and tarballs are gone), and the virtual
# repository too (deleting a repository takes it out of the virtual repositories)
recreate_remote() {
    local r
    for r in npm npm-remote; do
        arca_curl -f -o /dev/null -X DELETE "$ARCA_URL/api/repositories/$r" || arca_die "DELETE $r"
    done
    arca_create_repo npm-remote "$REMOTE_JSON" >/dev/null 2>&1 || arca_die "npm-remote"
    arca_create_repo npm "$VIRTUAL_JSON" >/dev/null 2>&1 || arca_die "npm (virtual)"
}

best() { tr ' ' '\n' | grep . | sort -n | head -n1; }

# cpu_ms PID — the CPU time (user + system, ms) PID has used so far: the server's share of an npm ci
CLK_TCK=$(getconf CLK_TCK)
cpu_ms() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$CLK_TCK" '{ printf "%d", ($12 + $13) * 1000 / hz }'; }

npm_ci verdaccio warmup >/dev/null # node, npm and the page cache
ci_verdaccio="" ci_anon="" ci_cold="" ci_warm="" ci_local="" cold_gets="" warm_gets="" cpu_anon=0 cpu_warm=0
for ((r = 1; r <= RUNS; r++)); do
    ci_verdaccio+=" $(npm_ci verdaccio "verdaccio-$r")"
    c0=$(cpu_ms "$VERDACCIO_PID")
    ci_anon+=" $(npm_ci verdaccio-anon "verdaccio-anon-$r")"
    cpu_anon=$((cpu_anon + $(cpu_ms "$VERDACCIO_PID") - c0))
    recreate_remote
    g0=$(upstream_tgz_gets)
    ci_cold+=" $(npm_ci arca-virtual "arca-cold-$r")"
    g1=$(upstream_tgz_gets)
    c0=$(cpu_ms "$ARCA_PID")
    ci_warm+=" $(npm_ci arca-virtual "arca-warm-$r")"
    cpu_warm=$((cpu_warm + $(cpu_ms "$ARCA_PID") - c0))
    g2=$(upstream_tgz_gets)
    ci_local+=" $(npm_ci arca-fixture "arca-local-$r")"
    cold_gets=$((g1 - g0)) warm_gets=$((g2 - g1))
    arca_log "npm ci run $r: Verdaccio${ci_verdaccio##* }s (token),${ci_anon##* }s (anonymous), arca virtual" \
        "cold${ci_cold##* }s (upstream tarball GETs: $cold_gets), warm${ci_warm##* }s ($warm_gets), local${ci_local##* }s"
done
CI_VERDACCIO=$(best <<<"$ci_verdaccio")
CI_ANON=$(best <<<"$ci_anon")
CI_COLD=$(best <<<"$ci_cold")
CI_WARM=$(best <<<"$ci_warm")
CI_LOCAL=$(best <<<"$ci_local")
CPU_ANON=$((cpu_anon / RUNS)) CPU_WARM=$((cpu_warm / RUNS))

# ---------------------------------------------------------------------------------------------------------------
# row 2: packument GETs per second (and, to explain the npm ci row, tarball GETs per second)

ABBREVIATED='application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*' # what npm sends
FULL='application/json'
cat >"$WORK/summary.lua" <<'LUA'
-- no request or response hook (they would cost wrk time per request): only the totals
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("requests %d\nbytes %d\nseconds %.6f\nstatus_errors %d\nsocket_errors %d\n",
        summary.requests, summary.bytes, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

# the request headers of each kind of GET (in H)
kind_headers() {
    H=()
    case "$1" in
        abbreviated) H=(-H "Accept: $ABBREVIATED") ;;
        full) H=(-H "Accept: $FULL") ;;
        # as npm asks: it also accepts gzip (Verdaccio then compresses each answer; arca answers uncompressed)
        abbreviated-gzip) H=(-H "Accept: $ABBREVIATED" -H "Accept-Encoding: gzip,deflate") ;;
    esac
}

# the fixture's largest tarball, for the tarball rows (its bytes are checked against the fixture's file)
TGZ_FILE=$(find "$VERDACCIO_FIXTURE/tarballs" -name '*.tgz' -printf '%s %p\n' | sort -n | tail -n1 | cut -d' ' -f2-)
TGZ_NAME=$(basename "$TGZ_FILE")
TGZ_PKG=""
while read -r name version; do
    [[ "$TGZ_NAME" != "$name-$version.tgz" ]] || TGZ_PKG=$name
done <"$VERDACCIO_FIXTURE_LIST"
[[ -n "$TGZ_PKG" ]] || arca_die "no fixture package for $TGZ_NAME"
# url KIND TARGET — what is fetched: the packument of PKG, or the tarball (arca's `local` is npm-fixture for it)
url() {
    local key=$2
    if [[ "$1" == tarball ]]; then
        [[ "$key" != local ]] || key=fixture
        case "$key" in
            verdaccio) echo "$V/$TGZ_PKG/-/$TGZ_NAME" ;;
            virtual) echo "$A/npm/$TGZ_PKG/-/$TGZ_NAME" ;;
            *) echo "$A/npm-$key/$TGZ_PKG/-/$TGZ_NAME" ;;
        esac
    else
        case "$key" in
            verdaccio) echo "$V/$PKG" ;;
            virtual) echo "$A/npm/$PKG" ;;
            *) echo "$A/npm-$key/$PKG" ;;
        esac
    fi
}

# check_answer URL KIND LABEL — one GET: 200, and the packument with VERSIONS versions, abbreviated or full as asked,
# or the fixture's tarball; prints the bytes of the answer (headers included, as sent: compressed when it was) for
# the check of wrk's totals
check_answer() {
    local url=$1 kind=$2 label=$3 out code hsize bsize H=()
    kind_headers "$kind"
    out=$(curl -sS -o "$WORK/answer.raw" -D "$WORK/answer.headers" -w '%{http_code} %{size_header} %{size_download}' \
        "${H[@]}" "$url") || arca_die "$label: GET $url failed"
    read -r code hsize bsize <<<"$out"
    [[ "$code" == 200 ]] || arca_die "$label: GET $url -> $code: $(head -c 300 "$WORK/answer.raw")"
    if grep -qi '^content-encoding: *gzip' "$WORK/answer.headers"; then
        gzip -dc <"$WORK/answer.raw" >"$WORK/answer.json"
    else
        cp "$WORK/answer.raw" "$WORK/answer.json"
    fi
    if [[ "$kind" == tarball ]]; then
        cmp -s "$WORK/answer.raw" "$TGZ_FILE" || arca_die "$label: GET $url: not the bytes of $TGZ_FILE"
        echo $((hsize + bsize))
        return 0
    fi
    python3 - "$WORK/answer.json" "$VERSIONS" "$kind" "$label" <<'PY' || arca_die "$label: GET $url: not the packument"
import json, sys
doc, want, kind, label = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3], sys.argv[4]
versions = doc.get("versions", {})
if len(versions) != want:
    sys.exit("%s: %d versions, not %d" % (label, len(versions), want))
one = next(iter(versions.values()))
if kind.startswith("abbreviated"):
    # abbreviated: the install fields only (Verdaccio keeps the description, arca does not)
    extra = [k for k in ("readme", "author", "keywords", "repository", "scripts") if k in one or k in doc]
    if extra:
        sys.exit("%s: asked for the abbreviated packument, got %s" % (label, extra))
elif "keywords" not in one or "scripts" not in one:
    sys.exit("%s: asked for the full packument, got no keywords or scripts" % label)
PY
    echo $((hsize + bsize))
}

# wrk_rate URL KIND SIZE LABEL — GETs/s of wrk -t1 -cCONNECTIONS -dDURATION; ERR(...) when an answer was not 2xx,
# a socket failed, or the bytes per answer are not those of the checked answer (±10 %)
wrk_rate() {
    local url=$1 kind=$2 size=$3 label=$4 out H=()
    kind_headers "$kind"
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${H[@]}" -s "$WORK/summary.lua" "$url" 2>&1) || {
        arca_warn "$label: wrk failed: $out"
        echo "ERR(wrk)"
        return 0
    }
    printf '== %s\n%s\n' "$label" "$out" >>"$WORK/wrk.log"
    awk -v label="$label" -v size="$size" '
        /^requests / {n = $2} /^bytes / {b = $2} /^seconds / {s = $2} /^status_errors / {e = $2}
        /^socket_errors / {x = $2}
        END {
            if (n == 0 || s == 0) { print "ERR(none)"; exit }
            if (e > 0) { printf "ERR(%d non-2xx)\n", e; exit }
            if (x > 0) { printf "ERR(%d socket errors)\n", x; exit }
            per = b / n
            if (per < 0.9 * size || per > 1.1 * size) { printf "ERR(%.0f B/answer, not %d)\n", per, size; exit }
            printf "%.0f\n", n / s
        }' <<<"$out"
}

TARGETS=(verdaccio local virtual remote)
KINDS=(abbreviated full abbreviated-gzip tarball)
declare -A SIZE=() RATE=() BYTES=()
for kind in "${KINDS[@]}"; do
    kind_headers "$kind"
    for t in "${TARGETS[@]}"; do
        SIZE[$kind-$t]=$(check_answer "$(url "$kind" "$t")" "$kind" "$kind, $t")
        BYTES[$kind-$t]=$(wc -c <"$WORK/answer.raw")
        cp "$WORK/answer.json" "$WORK/answer-$kind-$t" # (--keep)
        wrk -t1 -c"$CONNECTIONS" -d1s "${H[@]}" "$(url "$kind" "$t")" >/dev/null 2>&1 || true # warm-up
    done
done
for ((r = 1; r <= RUNS; r++)); do
    for kind in "${KINDS[@]}"; do
        line=""
        for t in "${TARGETS[@]}"; do
            rate=$(wrk_rate "$(url "$kind" "$t")" "$kind" "${SIZE[$kind-$t]}" "$kind, $t, round $r")
            line+=" $t $rate"
            # the best round: the highest rate; an error in any round is the value
            prev=${RATE[$kind-$t]:-0}
            if [[ "$prev" != ERR* ]] && { [[ "$rate" == ERR* ]] || ((rate > prev)); }; then
                RATE[$kind-$t]=$rate
            fi
        done
        arca_log "$kind GETs/s, round $r:$line"
    done
done

# ---------------------------------------------------------------------------------------------------------------
# row 3: memory after the load

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ARCA_RSS=$(mib "$(status_kib "$ARCA_PID" VmRSS)")
ARCA_HWM=$(mib "$(status_kib "$ARCA_PID" VmHWM)")
VERDACCIO_RSS=$(mib "$(status_kib "$VERDACCIO_PID" VmRSS)")
VERDACCIO_HWM=$(mib "$(status_kib "$VERDACCIO_PID" VmHWM)")

# ---------------------------------------------------------------------------------------------------------------
# the table: arca, Verdaccio, and how many times faster (or smaller) arca is; the goal of issue 21 is arca faster on
# the npm ci and the packument rows

MISSES=0
# row METRIC ARCA VERDACCIO lower|higher goal|info — "lower": smaller is better (seconds, MiB), the factor is
# Verdaccio/arca; "higher": larger is better (GETs/s), arca/Verdaccio; a goal row is a PASS when the factor is above 1
row() {
    local metric=$1 a=$2 v=$3 better=$4 res="(info)" factor="-"
    if [[ "$a" =~ ^[0-9.]+$ && "$v" =~ ^[0-9.]+$ ]]; then
        factor=$(awk -v a="$a" -v v="$v" -v b="$better" \
            'BEGIN { f = (b == "higher" ? (v > 0 ? a / v : 0) : (a > 0 ? v / a : 0)); printf "%.2fx", f }')
    fi
    if [[ "$5" == goal ]]; then
        res=MISS
        if [[ "$factor" != - ]] && awk -v f="${factor%x}" 'BEGIN { exit !(f > 1) }'; then res=PASS; fi
        [[ "$res" == PASS ]] || MISSES=$((MISSES + 1))
    fi
    printf '%-54s %10s %10s %8s  %s\n' "$metric" "$a" "$v" "$factor" "$res"
}
ab=abbreviated
printf '\n%-54s %10s %10s %8s  %s\n' "npm: arca vs Verdaccio $VERDACCIO_VERSION" arca Verdaccio "arca ×" goal
row "npm ci, $N_FIXTURE packages, virtual warm (s, best of $RUNS)" "$CI_WARM" "$CI_ANON" lower goal
row "npm ci, virtual cold: the remote fetches (s)" "$CI_COLD" "$CI_ANON" lower info
row "npm ci, local repository (s)" "$CI_LOCAL" "$CI_ANON" lower info
row "npm ci, virtual warm; Verdaccio with its token (s)" "$CI_WARM" "$CI_VERDACCIO" lower info
row "  server CPU during an npm ci, warm (ms, mean)" "$CPU_WARM" "$CPU_ANON" lower info
printf '%-54s %10s\n' "  upstream tarball GETs, last cold / warm run" "$cold_gets / $warm_gets"
row "abbreviated packument, $VERSIONS versions, local (GET/s)" "${RATE[$ab-local]}" "${RATE[$ab-verdaccio]}" higher goal
row "abbreviated packument, virtual (GET/s)" "${RATE[$ab-virtual]}" "${RATE[$ab-verdaccio]}" higher goal
row "abbreviated packument, remote (GET/s)" "${RATE[$ab-remote]}" "${RATE[$ab-verdaccio]}" higher info
row "full packument, local (GET/s)" "${RATE[full-local]}" "${RATE[full-verdaccio]}" higher goal
row "full packument, virtual (GET/s)" "${RATE[full-virtual]}" "${RATE[full-verdaccio]}" higher goal
row "full packument, remote (GET/s)" "${RATE[full-remote]}" "${RATE[full-verdaccio]}" higher info
row "abbreviated, Accept-Encoding: gzip (npm's), local" "${RATE[$ab-gzip-local]}" "${RATE[$ab-gzip-verdaccio]}" higher info
row "abbreviated, Accept-Encoding: gzip (npm's), virtual" "${RATE[$ab-gzip-virtual]}" "${RATE[$ab-gzip-verdaccio]}" \
    higher info
row "tarball $TGZ_NAME, npm-fixture (GET/s)" "${RATE[tarball-local]}" "${RATE[tarball-verdaccio]}" higher info
row "tarball, virtual (GET/s)" "${RATE[tarball-virtual]}" "${RATE[tarball-verdaccio]}" higher info
row "  answer bytes: abbreviated (local)" "${BYTES[$ab-local]}" "${BYTES[$ab-verdaccio]}" lower info
row "  answer bytes: full (local)" "${BYTES[full-local]}" "${BYTES[full-verdaccio]}" lower info
row "  answer bytes: abbreviated with gzip (local)" "${BYTES[$ab-gzip-local]}" "${BYTES[$ab-gzip-verdaccio]}" lower info
row "RSS after the load (MiB, VmRSS)" "$ARCA_RSS" "$VERDACCIO_RSS" lower info
row "peak RSS over the run (MiB, VmHWM)" "$ARCA_HWM" "$VERDACCIO_HWM" lower info
printf '\nnpm ci: arca with an access token, Verdaccio anonymous (its token costs a bcrypt check a request) unless said.\n'
printf 'Packuments and tarballs: anonymous, wrk -t1 -c%s -d%ss, keep-alive, best of %s rounds.\n' "$CONNECTIONS" \
    "$DURATION" "$RUNS"
printf 'arca ×: Verdaccio/arca for times and memory, arca/Verdaccio for rates (above 1: arca better).\n'
printf '%s of the goal rows missed (arca not faster than Verdaccio).\n' "$MISSES"

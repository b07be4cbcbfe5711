#!/usr/bin/env bash
# Real-client test: pip 26.3, twine 7.0.0, build 1.6.1 and uv against arca's PyPI API (docs/formats/pypi.md), with
# pypiserver 2.4.2 as the upstream of a pypi remote repository (tests/lib/pypi.sh).
#
#  1. upload to the local repository py-local: `python -m build` of the projects in tests/fixtures/pypi/projects,
#     `twine upload` (user and password) of the wheels and sdists of arca-shout 1.0.0 and arca-greet 1.0.0 (admin)
#     and 1.1.0 (a user with deploy permission); the stored files are the built ones; the same file again by that
#     user (who may not delete) fails (twine shows 409), a reader's upload fails (403), the admin's replaces it; a
#     wheel renamed to another version, posted as that version, is refused 400 naming the version and nothing is
#     stored; `uv publish` of arca-tally works;
#  2. `pip install --no-cache-dir --index-url …/api/pypi/py-local/simple` into a fresh venv (arca-greet 1.1.0 and
#     its dependency arca-shout; pip takes the dependency information from the PEP 658 `.metadata` file, which is
#     the wheel's METADATA byte for byte), import and call; `pip download` of a wheel and of an sdist (the built
#     files); `pip index versions`; the project page in HTML and JSON (requires-python, HTML-escaped);
#  3. arca-greet 1.1.0 yanked through arca's API: `pip install arca-greet` takes 1.0.0, `pip index versions` lists
#     only 1.0.0, `pip install arca-greet==1.1.0` still installs it with pip's yanked warning and the reason;
#  4. `pip install --require-hashes -r requirements.txt` (the built files' sha256); a wrong hash is refused by pip;
#  5. remote + virtual: py-remote proxies pypiserver (the fixture: 14 real packages built here from their sdists and
#     Debian's wheels), py is a virtual repository of py-local and py-remote; the fixture's requirements file (with
#     hashes) installed through py into a fresh venv with no cache; every file byte-identical to the peer's, each
#     fetched once from pypiserver; `uv pip install` through py of the fixture and arca-greet; pypiserver stopped:
#     the same installs again (fresh venvs, no cache) from arca's cache alone;
#  6. anonymous read: with "anonymousRead" on py-local, pip installs without credentials; from a local repository
#     without it, pip gets 401.
# Prints "PASS pypi (timings)" or "FAIL pypi: reason"; exit status 0 / 1.
#
# Env: ARCA_SKIP_BUILD=1 (use the existing release binary), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages), ARCA_PYPI_CACHE (tests/lib/pypi.sh).
set -Eeuo pipefail

export ARCA_TEST_NAME=pypi
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/pypi.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/pypi.sh"

fail() {
    trap - ERR
    arca_dump_log 30
    [[ -z "${TIMINGS[*]:-}" ]] || arca_log "timings so far: ${TIMINGS[*]}"
    printf 'FAIL pypi: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl
    python3 -c 'import ensurepip' >/dev/null 2>&1 || arca_apt_ensure python3-venv
fi
for c in curl python3 cmp; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

# phase / TIMINGS / secs_since / T_START: tests/lib/arca.sh

phase setup
arca_ensure_built
WORK="" # set by arca_tmpdir
arca_tmpdir WORK pypi-work
pypi_tools
pypi_fixture
pypi_peer_start "$WORK/peer"
arca_start
U="$ARCA_URL"
arca_create_repo py-local '{"rclass":"local","packageType":"pypi"}' || fail "could not create py-local"
# the index URL with the admin's credentials, as pip and uv take them
PWQ=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$ARCA_ADMIN_PW")
AUTH_URL="http://admin:$PWQ@127.0.0.1:$ARCA_PORT/artifactory"
LOCAL_INDEX="$AUTH_URL/api/pypi/py-local/simple"

# Every client's output goes to its own log; OUT is the last one.
N=0
OUT=""
# run LABEL CMD... — returns the command's status; its output is in $OUT
run() {
    local rc=0
    N=$((N + 1))
    OUT="$WORK/out-$N-$1.log"
    shift
    printf '$ %s\n' "$*" >"$OUT.cmd"
    "$@" >"$OUT" 2>&1 </dev/null || rc=$?
    return "$rc"
}
ok() { # ok LABEL CMD... — the command must succeed
    run "$@" || {
        tail -n 25 "$OUT" >&2
        fail "$1 failed (log: $OUT)"
    }
}
fails() { # fails LABEL REGEX CMD... — the command must fail, its output matching REGEX
    local label=$1 re=$2
    shift 2
    if run "$label" "$@"; then
        tail -n 25 "$OUT" >&2
        fail "$label succeeded, expected a failure matching /$re/"
    fi
    grep -qE -- "$re" "$OUT" || {
        tail -n 25 "$OUT" >&2
        fail "$label failed, but its output does not match /$re/ (log: $OUT)"
    }
}
# the clients, without the machine's or the user's configuration (tests/lib/pypi.sh)
twine() { pypi_twine "$@"; }
uv() { PYPI_UV_CACHE="$WORK/uv-cache" pypi_uv "$@"; }
# venv_py VENV CODE — runs CODE in VENV's python, prints its output
venv_py() { "$1/bin/python" -c "$2"; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
# storage_sha256 REPO PATH — the sha256 arca stores for an item (empty when there is none)
storage_sha256() {
    arca_curl "$U/api/storage/$1/$2" | python3 -c 'import json, sys
try:
    print(json.load(sys.stdin)["checksums"]["sha256"])
except Exception:
    print("")'
}

# --- 1. upload ------------------------------------------------------------------------------------------------------
phase upload
PROJECTS="$PYPI_SRC/projects"
DIST="$WORK/dist"
pypi_build "$PROJECTS/arca-shout" "$DIST/shout"
pypi_build "$PROJECTS/arca-greet" "$DIST/greet-1.0.0"
# 1.1.0: the same project with another version (and another greeting, to see which one pip installed)
cp -r "$PROJECTS/arca-greet" "$WORK/greet-1.1.0"
sed -i 's/^version = "1.0.0"/version = "1.1.0"/' "$WORK/greet-1.1.0/pyproject.toml"
sed -i 's/^__version__ = "1.0.0"/__version__ = "1.1.0"/' "$WORK/greet-1.1.0/arca_greet/__init__.py"
pypi_build "$WORK/greet-1.1.0" "$DIST/greet-1.1.0"
pypi_build "$PROJECTS/arca-tally" "$DIST/tally"
SHOUT_WHL="$DIST/shout/arca_shout-1.0.0-py3-none-any.whl"
SHOUT_SDIST="$DIST/shout/arca_shout-1.0.0.tar.gz"
GREET_WHL="$DIST/greet-1.0.0/arca_greet-1.0.0-py3-none-any.whl"
GREET_SDIST="$DIST/greet-1.0.0/arca_greet-1.0.0.tar.gz"
GREET11_WHL="$DIST/greet-1.1.0/arca_greet-1.1.0-py3-none-any.whl"
for f in "$SHOUT_WHL" "$SHOUT_SDIST" "$GREET_WHL" "$GREET_SDIST" "$GREET11_WHL" "$DIST/tally/arca_tally-0.3.0.tar.gz"; do
    [[ -f "$f" ]] || fail "python -m build made no $f"
done

# users: py-dev may deploy to py-local (read, write: no delete), py-reader only reads (a new user's "readers" group)
user_pw() { printf 'Passw0rd-%s-%s' "$1" "$RANDOM$RANDOM"; }
DEV_PW=$(user_pw dev)
READER_PW=$(user_pw reader)
for u in "py-dev:$DEV_PW" "py-reader:$READER_PW"; do
    code=$(arca_curl -o "$WORK/user.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        --data "{\"email\":\"${u%%:*}@example.com\",\"password\":\"${u#*:}\"}" "$U/api/security/users/${u%%:*}")
    [[ "$code" == 201 ]] || fail "PUT /api/security/users/${u%%:*} -> $code: $(cat "$WORK/user.out")"
done
code=$(arca_curl -o "$WORK/perm.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data '{"repo":{"repositories":["py-local"],"actions":{"users":{"py-dev":["read","write"]}}}}' \
    "$U/api/v2/security/permissions/py-dev-deploy")
[[ "$code" == 200 || "$code" == 201 ]] || fail "PUT permission py-dev-deploy -> $code: $(cat "$WORK/perm.out")"
# twine_up USER PASSWORD FILE... — twine upload to py-local
twine_up() {
    twine upload --repository-url "$U/api/pypi/py-local" -u "$1" -p "$2" --non-interactive --disable-progress-bar "${@:3}"
}

ok "twine-upload" twine_up admin "$ARCA_ADMIN_PW" "$SHOUT_WHL" "$SHOUT_SDIST" "$GREET_WHL" "$GREET_SDIST"
ok "twine-upload-deployer" twine_up py-dev "$DEV_PW" "$DIST"/greet-1.1.0/*
# the stored files are the ones built, at {project}/{version}/{file}
for f in "$SHOUT_WHL" "$SHOUT_SDIST" "$GREET_WHL" "$GREET_SDIST" "$GREET11_WHL"; do
    name=$(basename "$f")
    case "$name" in
        arca_shout-*) path="arca-shout/1.0.0/$name" ;;
        arca_greet-1.0.0*) path="arca-greet/1.0.0/$name" ;;
        *) path="arca-greet/1.1.0/$name" ;;
    esac
    [[ "$(storage_sha256 py-local "$path")" == "$(sha256 "$f")" ]] ||
        fail "after twine upload, py-local/$path is not the file built: $(arca_curl "$U/api/storage/py-local/$path" | head -c 400)"
done

# the same file again by a deployer who may not delete it: arca answers 409, twine says so and fails; a reader may
# not upload at all (403); the admin (who may delete there) replaces it, as any deploy over a file
fails "twine-upload-again" '409 Conflict' twine_up py-dev "$DEV_PW" "$SHOUT_WHL"
fails "twine-upload-reader" '403 Forbidden' twine_up py-reader "$READER_PW" "$DIST"/tally/*.whl
code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "$U/api/storage/py-local/arca-tally")
[[ "$code" == 404 ]] || fail "after the reader's refused upload, GET /api/storage/py-local/arca-tally -> $code, expected 404"
ok "twine-upload-replace" twine_up admin "$ARCA_ADMIN_PW" "$SHOUT_WHL"
[[ "$(storage_sha256 py-local "arca-shout/1.0.0/$(basename "$SHOUT_WHL")")" == "$(sha256 "$SHOUT_WHL")" ]] ||
    fail "after the admin's second upload, py-local/arca-shout/1.0.0/$(basename "$SHOUT_WHL") is not the file built"

# a wheel renamed to another version, posted (as twine does) with that version: 400 naming the version, nothing stored
RENAMED="$WORK/arca_shout-1.0.1-py3-none-any.whl"
cp "$SHOUT_WHL" "$RENAMED"
code=$(curl -s --max-time 60 -o "$WORK/renamed.out" -w '%{http_code}' -u "admin:$ARCA_ADMIN_PW" \
    -F ':action=file_upload' -F protocol_version=1 -F name=arca-shout -F version=1.0.1 -F filetype=bdist_wheel \
    -F pyversion=py3 -F metadata_version=2.4 -F "sha256_digest=$(sha256 "$RENAMED")" \
    -F "content=@$RENAMED;type=application/octet-stream" "$U/api/pypi/py-local/")
[[ "$code" == 400 ]] || fail "POST of a wheel renamed to 1.0.1 (its METADATA says 1.0.0) -> $code, expected 400: $(cat "$WORK/renamed.out")"
grep -qi 'version' "$WORK/renamed.out" || fail "the refusal of the renamed wheel does not name the version: $(cat "$WORK/renamed.out")"
for path in api/storage/py-local/arca-shout/1.0.1 "api/storage/py-local/arca-shout/1.0.1/$(basename "$RENAMED")"; do
    code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "$U/$path")
    [[ "$code" == 404 ]] || fail "after the refused upload, GET /$path -> $code, expected 404"
done
arca_curl -f -o "$WORK/shout-page.html" "$U/api/pypi/py-local/simple/arca-shout/" ||
    fail "GET simple/arca-shout/ failed"
! grep -q '1\.0\.1' "$WORK/shout-page.html" || fail "the refused 1.0.1 is on arca-shout's page: $(cat "$WORK/shout-page.html")"

# uv publish of another project
ok "uv-publish" uv publish --publish-url "$U/api/pypi/py-local/" --username admin --password "$ARCA_ADMIN_PW" \
    --trusted-publishing never "$DIST"/tally/*
for f in "$DIST"/tally/*; do
    [[ "$(storage_sha256 py-local "arca-tally/0.3.0/$(basename "$f")")" == "$(sha256 "$f")" ]] ||
        fail "after uv publish, py-local/arca-tally/0.3.0/$(basename "$f") is not the file built"
done

# --- 2. pip install, download, index versions, the .metadata file -------------------------------------------------
phase install
V="$WORK/venv-install"
pypi_venv "$V"
ok "pip-install" pypi_pip "$V" install -v --no-cache-dir --index-url "$LOCAL_INDEX" arca-greet arca-tally
out=$(venv_py "$V" 'from arca_greet import greet; from arca_tally import tally; print(greet("arca"), tally("a b c"))') ||
    fail "python could not import what pip installed: $out"
[[ "$out" == "HELLO ARCA! (arca-greet 1.1.0) 3" ]] || fail "the installed arca-greet printed '$out'"
# pip read the dependencies from the .metadata file (PEP 658), not from the wheel
grep -q 'Obtaining dependency information for arca-greet.* from .*arca_greet-1\.1\.0-py3-none-any\.whl\.metadata' "$OUT" ||
    fail "pip did not use arca-greet's .metadata file (log: $OUT)"
arca_curl -f -o "$WORK/greet.metadata" "$U/api/pypi/py-local/packages/arca-greet/1.1.0/$(basename "$GREET11_WHL").metadata" ||
    fail "GET the .metadata of $(basename "$GREET11_WHL") failed"
python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$GREET11_WHL" arca_greet-1.1.0.dist-info/METADATA >"$WORK/greet.METADATA"
cmp -s "$WORK/greet.metadata" "$WORK/greet.METADATA" || fail "the .metadata file is not the wheel's METADATA"

ok "pip-download" pypi_pip "$V" download --no-cache-dir --no-deps --index-url "$LOCAL_INDEX" -d "$WORK/dl" \
    arca-greet==1.0.0
cmp -s "$WORK/dl/$(basename "$GREET_WHL")" "$GREET_WHL" || fail "pip download arca-greet==1.0.0: not the wheel uploaded"
# (an sdist's metadata is built: by the tools' pip, whose venv has the build backend)
ok "pip-download-sdist" pypi_tools_pip download --no-cache-dir --no-deps --no-binary :all: --no-build-isolation \
    --index-url "$LOCAL_INDEX" -d "$WORK/dl" arca-shout==1.0.0
cmp -s "$WORK/dl/$(basename "$SHOUT_SDIST")" "$SHOUT_SDIST" || fail "pip download of the sdist: not the sdist uploaded"

ok "pip-index-versions" pypi_pip "$V" index versions --index-url "$LOCAL_INDEX" arca-greet
grep -qx 'Available versions: 1.1.0, 1.0.0' "$OUT" || fail "pip index versions arca-greet: $(cat "$OUT")"

# the project page: requires-python as built (<4,>=3.8), HTML-escaped in the HTML page
arca_curl -f -o "$WORK/greet.html" -H 'Accept: text/html' "$U/api/pypi/py-local/simple/arca-greet/" ||
    fail "GET simple/arca-greet/ (HTML) failed"
grep -q 'data-requires-python="&lt;4,&gt;=3.8"' "$WORK/greet.html" ||
    fail "arca-greet's HTML page has no escaped data-requires-python: $(cat "$WORK/greet.html")"
arca_curl -f -o "$WORK/greet.json" -H 'Accept: application/vnd.pypi.simple.v1+json' \
    "$U/api/pypi/py-local/simple/arca-greet/" || fail "GET simple/arca-greet/ (JSON) failed"
python3 - "$WORK/greet.json" "$(sha256 "$GREET11_WHL")" <<'PY' || fail "arca-greet's JSON page (above)"
import json, sys
d, want = json.load(open(sys.argv[1])), sys.argv[2]
files = {f["filename"]: f for f in d["files"]}
whl = files.get("arca_greet-1.1.0-py3-none-any.whl", {})
problems = []
if d.get("versions") != ["1.0.0", "1.1.0"]:
    problems.append(f"versions {d.get('versions')}")
if len(files) != 4:
    problems.append(f"files {sorted(files)}")
if whl.get("hashes", {}).get("sha256") != want or whl.get("requires-python") != "<4,>=3.8":
    problems.append(f"the 1.1.0 wheel: {whl}")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# --- 3. yank ------------------------------------------------------------------------------------------------------
phase yank
code=$(arca_curl -o "$WORK/yank.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data '{"reason":"greets too loudly"}' "$U/api/pypi/py-local/yank/arca-greet/1.1.0")
[[ "$code" == 200 ]] || fail "PUT yank/arca-greet/1.1.0 -> $code: $(cat "$WORK/yank.out")"
[[ "$(python3 -c 'import json, sys; print(sorted(json.load(open(sys.argv[1]))["yanked"]))' "$WORK/yank.out")" == \
    "['arca_greet-1.1.0-py3-none-any.whl', 'arca_greet-1.1.0.tar.gz']" ]] || fail "yank answered $(cat "$WORK/yank.out")"
V="$WORK/venv-yank"
pypi_venv "$V"
ok "pip-install-after-yank" pypi_pip "$V" install --no-cache-dir --index-url "$LOCAL_INDEX" arca-greet
out=$(venv_py "$V" 'from arca_greet import greet; print(greet("yank"))') || fail "import after the yank: $out"
[[ "$out" == "HELLO YANK! (arca-greet 1.0.0)" ]] || fail "with 1.1.0 yanked, pip installed the arca-greet that prints '$out'"
ok "pip-index-versions-yanked" pypi_pip "$V" index versions --index-url "$LOCAL_INDEX" arca-greet
grep -qx 'Available versions: 1.0.0' "$OUT" || fail "pip index versions after the yank: $(cat "$OUT")"
pypi_venv "$V"
ok "pip-install-yanked-pinned" pypi_pip "$V" install --no-cache-dir --index-url "$LOCAL_INDEX" arca-greet==1.1.0
grep -q "The candidate selected for download or install is a yanked version: 'arca-greet' candidate (version 1.1.0" "$OUT" ||
    fail "pip install arca-greet==1.1.0 did not warn that it is yanked (log: $OUT)"
grep -q 'Reason for being yanked: greets too loudly' "$OUT" || fail "pip did not print the reason of the yank (log: $OUT)"
out=$(venv_py "$V" 'from arca_greet import greet; print(greet("pinned"))') || fail "import of the pinned yanked version: $out"
[[ "$out" == "HELLO PINNED! (arca-greet 1.1.0)" ]] || fail "pip install arca-greet==1.1.0 installed the one printing '$out'"

# --- 4. --require-hashes -----------------------------------------------------------------------------------------
phase hashes
printf 'arca-greet==1.0.0 --hash=sha256:%s --hash=sha256:%s\narca-shout==1.0.0 --hash=sha256:%s --hash=sha256:%s\n' \
    "$(sha256 "$GREET_WHL")" "$(sha256 "$GREET_SDIST")" "$(sha256 "$SHOUT_WHL")" "$(sha256 "$SHOUT_SDIST")" \
    >"$WORK/requirements-local.txt"
V="$WORK/venv-hashes"
pypi_venv "$V"
ok "pip-require-hashes" pypi_pip "$V" install --no-cache-dir --require-hashes --index-url "$LOCAL_INDEX" \
    -r "$WORK/requirements-local.txt"
out=$(venv_py "$V" 'from arca_greet import greet; print(greet("hashes"))') || fail "import after --require-hashes: $out"
[[ "$out" == "HELLO HASHES! (arca-greet 1.0.0)" ]] || fail "after --require-hashes, arca-greet printed '$out'"
# arca-shout pinned to arca-greet's hashes: pip must refuse what arca sends
printf 'arca-shout==1.0.0 --hash=sha256:%s\n' "$(sha256 "$GREET_WHL")" >"$WORK/requirements-wrong.txt"
pypi_venv "$V"
fails "pip-require-hashes-wrong" 'DO NOT MATCH THE HASHES' pypi_pip "$V" install --no-cache-dir --require-hashes \
    --index-url "$LOCAL_INDEX" -r "$WORK/requirements-wrong.txt"

# --- 5. remote (pypiserver) + virtual -------------------------------------------------------------------------------
phase proxy-install
arca_create_repo py-remote "{\"rclass\":\"remote\",\"packageType\":\"pypi\",\"url\":\"$PYPI_PEER_URL\"}" ||
    fail "could not create the remote repository py-remote"
arca_create_repo py '{"rclass":"virtual","packageType":"pypi","repositories":["py-local","py-remote"],"defaultDeploymentRepo":"py-local"}' ||
    fail "could not create the virtual repository py"
VIRT_INDEX="$AUTH_URL/api/pypi/py/simple"
N_REQS=$(grep -c '==' "$PYPI_FIXTURE_REQS")
((N_REQS >= 10)) || fail "the fixture's requirements file pins only $N_REQS packages"
# the fixture's modules, imported and used (dateutil brings six, requests its four dependencies)
FIXTURE_CODE='import attrs, certifi, charset_normalizer, colorama, dateutil.parser, idna, iniconfig, packaging.version, pluggy, requests, six, tomli, typing_extensions, urllib3
print(requests.__version__, dateutil.parser.parse("2026-12-08T01:02:03").year, packaging.version.Version("1.0rc1").is_prerelease, idna.encode("bücher.example").decode(), tomli.loads("a = 1")["a"])'
FIXTURE_OUT="2.34.2 2026 True xn--bcher-kva.example 1"
V="$WORK/venv-proxy"
pypi_venv "$V"
ok "pip-install-virtual" pypi_pip "$V" install --no-cache-dir --require-hashes --index-url "$VIRT_INDEX" -r "$PYPI_FIXTURE_REQS"
out=$(venv_py "$V" "$FIXTURE_CODE") || fail "the fixture's packages installed through py do not import: $out"
[[ "$out" == "$FIXTURE_OUT" ]] || fail "the fixture's packages installed through py printed '$out'"
# every file byte-identical to the peer's (Debian's wheels too)
ok "pip-download-virtual" pypi_pip "$V" download --no-cache-dir --require-hashes --no-deps --index-url "$VIRT_INDEX" \
    -d "$WORK/dl-virtual" -r "$PYPI_FIXTURE_REQS"
debian_pins=()
while read -r name version file; do
    [[ "$file" != debian/* ]] || debian_pins+=("$name==$version")
done <"$PYPI_FIXTURE_LIST"
if ((${#debian_pins[@]})); then
    ok "pip-download-debian-wheels" pypi_pip "$V" download --no-cache-dir --no-deps --index-url "$VIRT_INDEX" \
        -d "$WORK/dl-virtual" "${debian_pins[@]}"
fi
while read -r name version file; do
    cmp -s "$WORK/dl-virtual/$(basename "$file")" "$PYPI_FIXTURE/$file" ||
        fail "$name $version through py: $(basename "$file") is not the peer's file"
done <"$PYPI_FIXTURE_LIST"
# each file was fetched once from pypiserver
pypi_peer_file_gets >"$WORK/peer-gets.txt"
if [[ "$(wc -l <"$WORK/peer-gets.txt")" != "$(wc -l <"$PYPI_FIXTURE_LIST")" ]] || grep -qv '^1 ' "$WORK/peer-gets.txt"; then
    fail "pypiserver served these file GETs (count file), expected each of the $(wc -l <"$PYPI_FIXTURE_LIST") files once: $(tr '\n' ';' <"$WORK/peer-gets.txt")"
fi

# uv through the virtual: the fixture (unpinned hashes: uv checks the ones in the file) and a project of py-local
V="$WORK/venv-uv"
pypi_venv "$V"
ok "uv-pip-install" uv pip install --python "$V/bin/python" --no-cache --index-url "$VIRT_INDEX" \
    -r "$PYPI_FIXTURE_REQS"
ok "uv-pip-install-local" uv pip install --python "$V/bin/python" --no-cache --index-url "$VIRT_INDEX" arca-greet==1.0.0
out=$(venv_py "$V" "$FIXTURE_CODE; from arca_greet import greet; print(greet('uv'))") || fail "after uv pip install: $out"
[[ "$out" == "$FIXTURE_OUT"$'\n'"HELLO UV! (arca-greet 1.0.0)" ]] || fail "after uv pip install, python printed '$out'"

phase proxy-offline
pypi_peer_stop
code=$(arca_http_code "$PYPI_PEER_URL/health")
[[ "$code" == 000 ]] || fail "pypiserver still answers after it was stopped ($code)"
V="$WORK/venv-offline"
pypi_venv "$V"
ok "pip-install-virtual-offline" pypi_pip "$V" install --no-cache-dir --require-hashes --index-url "$VIRT_INDEX" \
    -r "$PYPI_FIXTURE_REQS"
out=$(venv_py "$V" "$FIXTURE_CODE") || fail "without pypiserver, the fixture's packages do not import: $out"
[[ "$out" == "$FIXTURE_OUT" ]] || fail "without pypiserver, the fixture's packages printed '$out'"
V="$WORK/venv-uv-offline"
pypi_venv "$V"
ok "uv-pip-install-offline" uv pip install --python "$V/bin/python" --no-cache --index-url "$VIRT_INDEX" \
    -r "$PYPI_FIXTURE_REQS"
out=$(venv_py "$V" "$FIXTURE_CODE") || fail "after uv pip install without pypiserver: $out"
[[ "$out" == "$FIXTURE_OUT" ]] || fail "after uv pip install without pypiserver, python printed '$out'"

# --- 6. anonymous read --------------------------------------------------------------------------------------------
phase anonymous
ANON_INDEX="$U/api/pypi/py-local/simple"
code=$(arca_http_code "$ANON_INDEX/arca-shout/")
[[ "$code" == 401 ]] || fail "anonymous GET py-local/simple/arca-shout/ without anonymousRead -> $code, expected 401"
code=$(arca_curl -o "$WORK/anon.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data '{"anonymousRead":true}' "$U/api/repositories/py-local")
[[ "$code" == 200 ]] || fail "POST /api/repositories/py-local {anonymousRead: true} -> $code: $(cat "$WORK/anon.out")"
V="$WORK/venv-anon"
pypi_venv "$V"
ok "pip-install-anonymous" pypi_pip "$V" install --no-cache-dir --index-url "$ANON_INDEX" arca-greet==1.0.0
out=$(venv_py "$V" 'from arca_greet import greet; print(greet("anonymous"))') || fail "import after the anonymous install: $out"
[[ "$out" == "HELLO ANONYMOUS! (arca-greet 1.0.0)" ]] || fail "after the anonymous install, arca-greet printed '$out'"
arca_create_repo py-private '{"rclass":"local","packageType":"pypi"}' || fail "could not create py-private"
ok "twine-upload-private" twine upload --repository-url "$U/api/pypi/py-private" -u admin -p "$ARCA_ADMIN_PW" \
    --non-interactive --disable-progress-bar "$SHOUT_WHL"
pypi_venv "$V"
# (pip says "from versions: none"; -vv shows why)
fails "pip-install-anonymous-private" 'GET /artifactory/api/pypi/py-private/simple/arca-shout/ HTTP/1.1" 401' \
    pypi_pip "$V" install -vv --no-cache-dir --index-url "$U/api/pypi/py-private/simple" arca-shout
phase ""

trap - ERR
printf 'PASS pypi (%s; total %ss)\n' "$(IFS=,; printf '%s' "${TIMINGS[*]}" | sed 's/,/, /g')" "$(secs_since "$T_START")"

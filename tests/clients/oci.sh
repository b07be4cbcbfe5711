#!/usr/bin/env bash
# Real-client test: skopeo 1.9.3, podman 4.3.1 (Debian's, no daemon) and oras-py 0.2.43 (the OCI Registry As
# Storage Python SDK) against arca's OCI Distribution API at /v2/ on the node's root (docs/formats/oci.md), with
# Debian's docker-registry (distribution 2.8) as the upstream of a docker remote repository (tests/lib/oci.sh).
#
# Repositories: docker-local (local), docker-remote (remote of docker-registry, filled by skopeo with an image and a
# multi-arch index), docker (virtual of both, deploying to docker-local). Users: oci-deployer (read, write, delete on
# docker-local), oci-reader (reads everything, as every new user). Image names: 127.0.0.1:PORT/{repoKey}/{image}.
#
#  1. login: GET /v2/ asks for a Bearer token (realm …/v2/token, service arca), the token endpoint gives one for the
#     deployer's credentials and none for a wrong password; `podman login` and `skopeo login` as the deployer (the
#     token flow); the reader's `podman push` is refused (DENIED, also for a plain POST of an upload) and nothing
#     is stored;
#  2. push and pull: a 3-layer image built with podman from host files (FROM scratch, a COPY a layer) pushed with
#     `podman push`, and again with `skopeo copy` from an OCI layout of it and under another name (the blobs are
#     there: skopeo may mount them); `skopeo inspect`, `skopeo list-tags`; `podman pull` into a fresh storage gets
#     the same image ID (config digest); `skopeo copy docker://… dir:` gets every blob of the layout byte for byte;
#  3. multi-arch: an index of linux/amd64 + linux/arm64 images (podman manifest push --all); `skopeo inspect --raw`
#     shows the index, its arm64 manifest names the arm64 image's config, `podman pull --arch arm64` gets it;
#  4. oras-py: an artifact pushed (monolithic upload) and pulled back identical, another pushed in 64 KiB chunks
#     (POST, PATCH…, PUT), the tags listed; an SBOM attached to the image of 2 (an OCI 1.1 manifest with
#     artifactType and `subject`: the OCI-Subject header answers) and a signature pushed with oras-py's own
#     `subject`; GET /v2/…/referrers/{digest} (curl with a token from the token endpoint) lists both with their
#     artifactType (the signature's from its config media type), `?artifactType=` filters (OCI-Filters-Applied),
#     an image without referrers gets an empty index;
#  5. proxy: through the virtual `docker`, `podman pull` (fresh storage) of an image only the upstream has, a
#     `skopeo copy … dir:` of it byte-identical to the layout it was made from, each blob fetched once from
#     docker-registry; the arm64 image of the upstream's index; a push through the virtual lands in docker-local;
#     docker-registry stopped: the same pulls again (fresh storage) from arca's cache;
#  6. anonymous: without "anonymousRead" a pull without credentials gets 401; with it on docker-local, `podman pull`
#     and `skopeo inspect` work without login, a push does not; docker-remote (without it) still answers 401;
#  7. delete: the reader may not delete; a tag deleted (DELETE …/manifests/TAG) is gone from the tags while its
#     manifest stays; `skopeo delete` of the manifest by digest and of another by tag: gone, the pulls fail.
# Prints "PASS oci (timings)" or "FAIL oci: reason"; exit status 0 / 1.
#
# Env: ARCA_SKIP_BUILD=1 (use the existing release binary), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages), ARCA_OCI_CACHE (tests/lib/oci.sh).
set -Eeuo pipefail

export ARCA_TEST_NAME=oci
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/oci.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/oci.sh"

while (($#)); do
    arca_help_or_die "$1"
done

fail() {
    trap - ERR
    arca_dump_log 30
    [[ -z "${TIMINGS[*]:-}" ]] || arca_log "timings so far: ${TIMINGS[*]}"
    printf 'FAIL oci: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl
fi
for c in curl python3 cmp; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

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
# json_py EXPR FILE — EXPR on the JSON document d of FILE (strings as they are, the rest as JSON)
json_py() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); r=eval(sys.argv[1]); print(r if isinstance(r,str) else json.dumps(r, sort_keys=True))' "$1" "$2"
}
# layout_digest LAYOUT — the digest of the manifest of an OCI layout's only image
layout_digest() { json_py 'd["manifests"][0]["digest"]' "$1/index.json"; }
# image_id IMAGE — podman's image ID (the config's digest, without sha256:) of an image of the current storage
image_id() { oci_podman image inspect --format '{{.Id}}' "$1"; }
# v2 USER PASSWORD SCOPE CURL-ARGS... — curl on arca's /v2/ API with a token for SCOPE; prints the status code, the
# body goes to $WORK/v2.body and the headers to $WORK/v2.headers
v2() {
    local token
    token=$(oci_token "$A" "$1" "$2" "$3") || fail "no token for $1 ($3)"
    shift 3
    curl -sS --max-time 60 -o "$WORK/v2.body" -D "$WORK/v2.headers" -w '%{http_code}' \
        -H "Authorization: Bearer $token" "$@"
}
header() { tr -d '\r' <"$WORK/v2.headers" | sed -n "s/^$1: *//Ip" | tail -n1; }

phase setup
arca_ensure_built
WORK="" # set by arca_tmpdir
arca_tmpdir WORK oci-work
oci_tools
oci_clients "$WORK/clients"
oci_registry_start "$WORK/registry"
UP=$OCI_REGISTRY_HOST
oci_insecure "$UP"
arca_start
U=$ARCA_URL
A=127.0.0.1:$ARCA_PORT
oci_insecure "$A"

# the upstream: an image (two layers of host files) and a multi-arch index, copied in by skopeo and podman
oci_build_image localhost/upstream/tools:1.0 /usr/share/doc/bash /usr/lib/os-release
TOOLS_ID=$(image_id localhost/upstream/tools:1.0)
oci_export_layout localhost/upstream/tools:1.0 "$WORK/layout-tools"
ok "fill-upstream" oci_skopeo copy --dest-tls-verify=false "oci:$WORK/layout-tools:latest" "docker://$UP/library/tools:1.0"
oci_build_index localhost/upstream/multi:2.0
UP_ARM64_CONFIG=${OCI_INDEX_CONFIG[arm64]}
ok "fill-upstream-index" oci_podman manifest push --all --tls-verify=false localhost/upstream/multi:2.0 \
    "docker://$UP/library/multi:2.0"

arca_create_repo docker-local '{"rclass":"local","packageType":"docker"}' || fail "could not create docker-local"
arca_create_repo docker-remote "{\"rclass\":\"remote\",\"packageType\":\"docker\",\"url\":\"http://$UP\"}" ||
    fail "could not create docker-remote"
arca_create_repo docker '{"rclass":"virtual","packageType":"docker","repositories":["docker-local","docker-remote"],"defaultDeploymentRepo":"docker-local"}' ||
    fail "could not create the virtual repository docker"

# users: oci-deployer may deploy to and delete in docker-local, oci-reader only reads (a new user's "readers" group)
user_pw() { printf 'Passw0rd-%s-%s' "$1" "$RANDOM$RANDOM"; }
DEPLOYER=oci-deployer
DEPLOYER_PW=$(user_pw deployer)
READER=oci-reader
READER_PW=$(user_pw reader)
for u in "$DEPLOYER:$DEPLOYER_PW" "$READER:$READER_PW"; do
    code=$(arca_curl -o "$WORK/user.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        --data "{\"email\":\"${u%%:*}@example.com\",\"password\":\"${u#*:}\"}" "$U/api/security/users/${u%%:*}")
    [[ "$code" == 201 ]] || fail "PUT /api/security/users/${u%%:*} -> $code: $(cat "$WORK/user.out")"
done
code=$(arca_curl -o "$WORK/perm.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data "{\"repo\":{\"repositories\":[\"docker-local\"],\"actions\":{\"users\":{\"$DEPLOYER\":[\"read\",\"write\",\"delete\"]}}}}" \
    "$U/api/v2/security/permissions/oci-deployer")
[[ "$code" == 200 || "$code" == 201 ]] || fail "PUT permission oci-deployer -> $code: $(cat "$WORK/perm.out")"
DEPLOYER_CREDS="$DEPLOYER:$DEPLOYER_PW"
READER_CREDS="$READER:$READER_PW"

# --- 1. login -------------------------------------------------------------------------------------------------------
phase login
code=$(curl -sS --max-time 30 -o "$WORK/v2.body" -D "$WORK/v2.headers" -w '%{http_code}' "http://$A/v2/")
[[ "$code" == 401 ]] || fail "anonymous GET /v2/ -> $code, expected 401"
challenge=$(header 'WWW-Authenticate')
[[ "$challenge" == Bearer* && "$challenge" == *"realm=\"http://$A/v2/token\""* && "$challenge" == *'service="arca"'* ]] ||
    fail "GET /v2/: WWW-Authenticate is '$challenge', expected Bearer realm=\"http://$A/v2/token\",service=\"arca\""
grep -q '"UNAUTHORIZED"' "$WORK/v2.body" || fail "GET /v2/ 401 body is not an OCI error: $(cat "$WORK/v2.body")"
code=$(v2 "$DEPLOYER" "$DEPLOYER_PW" "repository:docker-local/demo/three:pull,push" "http://$A/v2/")
[[ "$code" == 200 ]] || fail "GET /v2/ with the deployer's token -> $code: $(cat "$WORK/v2.body")"
code=$(curl -sS --max-time 30 -o "$WORK/token.out" -w '%{http_code}' -u "$DEPLOYER:wrong-$DEPLOYER_PW" \
    "http://$A/v2/token?service=arca&scope=repository:docker-local/demo/three:pull")
[[ "$code" == 401 ]] || fail "GET /v2/token with a wrong password -> $code, expected 401: $(cat "$WORK/token.out")"

fails "podman-login-wrong" '401|[Uu]nauthorized|invalid username/password' oci_podman login --tls-verify=false \
    -u "$DEPLOYER" -p "wrong-$DEPLOYER_PW" "$A"
ok "podman-login" oci_podman login --tls-verify=false -u "$DEPLOYER" -p "$DEPLOYER_PW" "$A"
grep -q 'Login Succeeded' "$OUT" || fail "podman login: $(cat "$OUT")"
ok "skopeo-login" oci_skopeo login --tls-verify=false -u "$DEPLOYER" -p "$DEPLOYER_PW" "$A"
grep -q 'Login Succeeded' "$OUT" || fail "skopeo login: $(cat "$OUT")"
[[ "$(json_py "sorted(d['auths'])" "$OCI_DIR/auth.json")" == "[\"$A\"]" ]] ||
    fail "after podman/skopeo login, the auth file has $(json_py "sorted(d['auths'])" "$OCI_DIR/auth.json")"

# the reader's push: refused, nothing stored
oci_build_image localhost/arca/denied:v1 /usr/lib/os-release
fails "podman-push-reader" 'denied|DENIED' oci_podman push --tls-verify=false --creds "$READER_CREDS" \
    localhost/arca/denied:v1 "docker://$A/docker-local/demo/denied:v1"
code=$(v2 "$READER" "$READER_PW" "repository:docker-local/demo/denied:pull,push" -X POST \
    "http://$A/v2/docker-local/demo/denied/blobs/uploads/")
if [[ "$code" != 403 ]] || ! grep -q '"DENIED"' "$WORK/v2.body"; then
    fail "POST of an upload with the reader's token -> $code, expected 403 DENIED: $(cat "$WORK/v2.body")"
fi
code=$(v2 "$DEPLOYER" "$DEPLOYER_PW" "repository:docker-local/demo/denied:pull" \
    "http://$A/v2/docker-local/demo/denied/manifests/v1")
[[ "$code" == 404 ]] || fail "after the reader's refused push, GET docker-local/demo/denied/manifests/v1 -> $code, expected 404"

# --- 2. push and pull -----------------------------------------------------------------------------------------------
phase push-pull
oci_build_image localhost/arca/three:v1 /usr/lib/os-release /usr/share/doc/bash random:1
THREE_ID=$(image_id localhost/arca/three:v1)
ok "podman-push" oci_podman push --tls-verify=false localhost/arca/three:v1 "docker://$A/docker-local/demo/three:v1"
oci_export_layout localhost/arca/three:v1 "$WORK/layout-three"
LAYOUT_DIGEST=$(layout_digest "$WORK/layout-three")
ok "skopeo-copy-layout" oci_skopeo copy --dest-tls-verify=false "oci:$WORK/layout-three:latest" \
    "docker://$A/docker-local/demo/three:layout"
# the same blobs under another name: skopeo knows where they are (its blob-info cache) and may mount them
ok "skopeo-copy-other-name" oci_skopeo copy --dest-tls-verify=false "oci:$WORK/layout-three:latest" \
    "docker://$A/docker-local/copies/three:v1"
ok "skopeo-inspect" oci_skopeo inspect --tls-verify=false "docker://$A/docker-local/demo/three:layout"
[[ "$(json_py '[d["Digest"], len(d["Layers"])]' "$OUT")" == "[\"$LAYOUT_DIGEST\", 3]" ]] ||
    fail "skopeo inspect three:layout: $(json_py '[d["Digest"], d["Layers"]]' "$OUT"), expected $LAYOUT_DIGEST and 3 layers"
ok "skopeo-list-tags" oci_skopeo list-tags --tls-verify=false "docker://$A/docker-local/demo/three"
[[ "$(json_py 'sorted(d["Tags"])' "$OUT")" == '["layout", "v1"]' ]] || fail "skopeo list-tags demo/three: $(cat "$OUT")"
ok "skopeo-inspect-copy" oci_skopeo inspect --tls-verify=false "docker://$A/docker-local/copies/three:v1"
[[ "$(json_py 'd["Digest"]' "$OUT")" == "$LAYOUT_DIGEST" ]] || fail "skopeo inspect copies/three:v1: $(cat "$OUT")"

ok "skopeo-copy-dir" oci_skopeo copy --src-tls-verify=false "docker://$A/docker-local/demo/three:layout" \
    "dir:$WORK/pulled-three"
ok "same-blobs" oci_same_blobs "$WORK/layout-three" "$WORK/pulled-three"

# podman pull into a fresh storage (same login): the same image
ok "podman-rmi" oci_podman rmi localhost/arca/three:v1
ok "podman-pull" oci_podman pull --tls-verify=false "$A/docker-local/demo/three:v1"
[[ "$(image_id "$A/docker-local/demo/three:v1")" == "$THREE_ID" ]] ||
    fail "podman pull docker-local/demo/three:v1 got image $(image_id "$A/docker-local/demo/three:v1"), pushed $THREE_ID"

# --- 3. multi-arch index --------------------------------------------------------------------------------------------
phase index
oci_build_index localhost/arca/multi:v1
ARM64_CONFIG=${OCI_INDEX_CONFIG[arm64]}
ok "podman-manifest-push" oci_podman manifest push --all --tls-verify=false localhost/arca/multi:v1 \
    "docker://$A/docker-local/demo/multi:v1"
ok "skopeo-inspect-raw" oci_skopeo inspect --raw --tls-verify=false "docker://$A/docker-local/demo/multi:v1"
cp "$OUT" "$WORK/multi-index.json"
[[ "$(json_py '[d["mediaType"], sorted(m["platform"]["architecture"] for m in d["manifests"])]' "$WORK/multi-index.json")" == \
    '["application/vnd.oci.image.index.v1+json", ["amd64", "arm64"]]' ]] ||
    fail "skopeo inspect --raw multi:v1 is not the index of amd64 and arm64: $(cat "$WORK/multi-index.json")"
ARM64_DIGEST=$(json_py '[m["digest"] for m in d["manifests"] if m["platform"]["architecture"] == "arm64"][0]' \
    "$WORK/multi-index.json")
# (skopeo inspect's Digest is the index's; Architecture is the image's it chose)
ok "skopeo-inspect-arm64" oci_skopeo --override-arch arm64 inspect --tls-verify=false \
    "docker://$A/docker-local/demo/multi:v1"
[[ "$(json_py '[d["Digest"], d["Architecture"]]' "$OUT")" == "[\"sha256:$(sha256sum <"$WORK/multi-index.json" | cut -d' ' -f1)\", \"arm64\"]" ]] ||
    fail "skopeo --override-arch arm64 inspect multi:v1: $(json_py '[d["Digest"], d["Architecture"]]' "$OUT")"
ok "skopeo-inspect-arm64-raw" oci_skopeo inspect --raw --tls-verify=false "docker://$A/docker-local/demo/multi@$ARM64_DIGEST"
[[ "$(json_py 'd["config"]["digest"]' "$OUT")" == "$ARM64_CONFIG" ]] ||
    fail "the arm64 manifest of multi:v1 names the config $(json_py 'd["config"]["digest"]' "$OUT"), built $ARM64_CONFIG"
oci_clients "$WORK/clients-arm64"
oci_insecure "$A"
ok "podman-pull-arm64" oci_podman pull --tls-verify=false --creds "$DEPLOYER_CREDS" --arch arm64 \
    "$A/docker-local/demo/multi:v1"
[[ "$(oci_podman image inspect --format '{{.Id}} {{.Architecture}}' "$A/docker-local/demo/multi:v1")" == \
    "${ARM64_CONFIG#sha256:} arm64" ]] || fail "podman pull --arch arm64 multi:v1 got $(oci_podman image inspect \
    --format '{{.Id}} {{.Architecture}}' "$A/docker-local/demo/multi:v1"), expected the arm64 image ${ARM64_CONFIG#sha256:}"
oci_clients "$WORK/clients"

# --- 4. oras-py: artifacts and referrers --------------------------------------------------------------------------
phase oras
ART="$WORK/artifacts"
mkdir -p "$ART"
printf 'arca OCI artifact %s\n' "$RANDOM" >"$ART/notes.txt"
head -c 300000 /dev/urandom >"$ART/chunked.bin"
ok "oras-push" oci_oras push --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/artifact:v1" "$ART/notes.txt:text/plain" \
    --artifact-type application/vnd.example.notes
ok "oras-pull" oci_oras pull --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/artifact:v1" "$WORK/oras-pulled"
cmp -s "$WORK/oras-pulled/notes.txt" "$ART/notes.txt" || fail "oras pull artifact:v1: notes.txt is not the file pushed"
ok "oras-push-chunked" oci_oras push --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/artifact:chunked" \
    "$ART/chunked.bin" --chunked --chunk-size 65536
ok "oras-pull-chunked" oci_oras pull --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/artifact:chunked" \
    "$WORK/oras-pulled"
cmp -s "$WORK/oras-pulled/chunked.bin" "$ART/chunked.bin" || fail "oras pull artifact:chunked: not the file pushed in chunks"
ok "oras-tags" oci_oras tags --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/artifact"
[[ "$(sort "$OUT" | tr '\n' ' ')" == "chunked v1 " ]] || fail "oras tags demo/artifact: $(cat "$OUT")"

# referrers of the image of 2
ok "oras-descriptor" oci_oras descriptor --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/three:v1"
SUBJECT=$(json_py 'd["digest"]' "$OUT")
printf '{"spdxVersion":"SPDX-2.3","name":"three","packages":[{"name":"bash","SPDXID":"SPDXRef-bash"}]}\n' >"$ART/sbom.spdx.json"
printf 'signed %s\n' "$SUBJECT" >"$ART/signature.txt"
ok "oras-attach-sbom" oci_oras attach --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/three" v1 "$ART/sbom.spdx.json" \
    --artifact-type application/spdx+json --media-type application/spdx+json
SBOM=$(json_py 'd["digest"]' "$OUT")
[[ "$(json_py 'd["ociSubject"]' "$OUT")" == "$SUBJECT" ]] ||
    fail "the PUT of the SBOM manifest answered OCI-Subject '$(json_py 'd["ociSubject"]' "$OUT")', expected $SUBJECT"
ok "oras-push-signature" oci_oras push --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/three:signature" \
    "$ART/signature.txt:text/plain" --artifact-type application/vnd.example.signature --subject v1
SIGNATURE=$(tail -n1 "$OUT")
code=$(v2 "$DEPLOYER" "$DEPLOYER_PW" "repository:docker-local/demo/three:pull" \
    "http://$A/v2/docker-local/demo/three/referrers/$SUBJECT")
[[ "$code" == 200 ]] || fail "GET referrers/$SUBJECT -> $code: $(cat "$WORK/v2.body")"
[[ "$(header Content-Type)" == application/vnd.oci.image.index.v1+json* ]] ||
    fail "GET referrers: Content-Type $(header Content-Type)"
python3 - "$WORK/v2.body" "$SBOM" "$SIGNATURE" <<'PY' || fail "GET referrers/$SUBJECT: $(cat "$WORK/v2.body")"
import json, sys
d, sbom, signature = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
manifest = "application/vnd.oci.image.manifest.v1+json"
got = sorted((m.get("digest"), m.get("artifactType"), m.get("mediaType")) for m in d.get("manifests", []))
want = sorted([(sbom, "application/spdx+json", manifest), (signature, "application/vnd.example.signature", manifest)])
if d.get("mediaType") != "application/vnd.oci.image.index.v1+json" or got != want:
    sys.exit(f"expected an image index of the SBOM and the signature {want}")
PY
code=$(v2 "$DEPLOYER" "$DEPLOYER_PW" "repository:docker-local/demo/three:pull" -G \
    --data-urlencode artifactType=application/spdx+json "http://$A/v2/docker-local/demo/three/referrers/$SUBJECT")
[[ "$code" == 200 && "$(json_py '[m["digest"] for m in d["manifests"]]' "$WORK/v2.body")" == "[\"$SBOM\"]" ]] ||
    fail "GET referrers/$SUBJECT?artifactType=application/spdx+json -> $code: $(cat "$WORK/v2.body")"
[[ "$(header OCI-Filters-Applied)" == artifactType ]] ||
    fail "GET referrers?artifactType=: OCI-Filters-Applied is '$(header OCI-Filters-Applied)'"
ok "oras-referrers" oci_oras referrers --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/three" "$SUBJECT" \
    --artifact-type application/vnd.example.signature
[[ "$(json_py '[m["digest"] for m in d["manifests"]]' "$OUT")" == "[\"$SIGNATURE\"]" ]] ||
    fail "oras referrers ?artifactType=application/vnd.example.signature: $(cat "$OUT")"
code=$(v2 "$DEPLOYER" "$DEPLOYER_PW" "repository:docker-local/demo/multi:pull" \
    "http://$A/v2/docker-local/demo/multi/referrers/$ARM64_DIGEST")
[[ "$code" == 200 && "$(json_py 'd["manifests"]' "$WORK/v2.body")" == "[]" ]] ||
    fail "GET referrers of an image without any -> $code: $(cat "$WORK/v2.body"), expected 200 and no manifests"
ok "oras-pull-sbom" oci_oras pull --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/three@$SBOM" "$WORK/sbom-pulled"
cmp -s "$WORK/sbom-pulled/sbom.spdx.json" "$ART/sbom.spdx.json" || fail "oras pull of the SBOM: not the file attached"

# --- 5. remote + virtual ------------------------------------------------------------------------------------------
phase proxy
oci_clients "$WORK/clients-proxy"
oci_insecure "$A"
ok "podman-pull-virtual" oci_podman pull --tls-verify=false --creds "$DEPLOYER_CREDS" "$A/docker/library/tools:1.0"
[[ "$(image_id "$A/docker/library/tools:1.0")" == "$TOOLS_ID" ]] ||
    fail "podman pull docker/library/tools:1.0 got image $(image_id "$A/docker/library/tools:1.0"), the upstream has $TOOLS_ID"
ok "skopeo-copy-virtual" oci_skopeo copy --src-tls-verify=false --src-creds "$DEPLOYER_CREDS" \
    "docker://$A/docker/library/tools:1.0" "dir:$WORK/pulled-tools"
ok "same-blobs-virtual" oci_same_blobs "$WORK/layout-tools" "$WORK/pulled-tools"
ok "skopeo-inspect-remote" oci_skopeo inspect --tls-verify=false --creds "$DEPLOYER_CREDS" \
    "docker://$A/docker-remote/library/tools:1.0"
[[ "$(json_py 'd["Digest"]' "$OUT")" == "$(layout_digest "$WORK/layout-tools")" ]] ||
    fail "skopeo inspect docker-remote/library/tools:1.0: $(json_py 'd["Digest"]' "$OUT"), the upstream has $(layout_digest "$WORK/layout-tools")"
# each blob was fetched once from docker-registry (its access log: "GET /v2/…/blobs/sha256:… HTTP/1.1" 200)
python3 - "$OCI_REGISTRY_LOG" "$WORK/layout-tools" <<'PY' || fail "docker-registry's blob GETs (above)"
import json, os, re, sys
log, layout = sys.argv[1], sys.argv[2]
index = json.load(open(os.path.join(layout, "index.json")))
manifest = json.load(open(os.path.join(layout, "blobs", *index["manifests"][0]["digest"].split(":"))))
want = [d["digest"] for d in [manifest["config"]] + manifest["layers"]]
gets = {}
for line in open(log, errors="replace"):
    m = re.search(r'"GET /v2/library/tools/blobs/(sha256:[0-9a-f]{64}) HTTP/[0-9.]+" 200 ', line)
    if m:
        gets[m.group(1)] = gets.get(m.group(1), 0) + 1
bad = {d: gets.get(d, 0) for d in want if gets.get(d, 0) != 1}
if bad:
    sys.exit(f"docker-registry served these blobs of library/tools this many times (expected once each): {bad}")
PY
ok "podman-pull-virtual-arm64" oci_podman pull --tls-verify=false --creds "$DEPLOYER_CREDS" --arch arm64 \
    "$A/docker/library/multi:2.0"
[[ "$(image_id "$A/docker/library/multi:2.0")" == "${UP_ARM64_CONFIG#sha256:}" ]] ||
    fail "podman pull --arch arm64 docker/library/multi:2.0 got $(image_id "$A/docker/library/multi:2.0"), expected ${UP_ARM64_CONFIG#sha256:}"
# a push through the virtual goes to its default deployment repository
ok "skopeo-copy-to-virtual" oci_skopeo copy --dest-tls-verify=false --dest-creds "$DEPLOYER_CREDS" \
    "oci:$WORK/layout-three:latest" "docker://$A/docker/demo/via-virtual:v1"
ok "skopeo-inspect-pushed-via-virtual" oci_skopeo inspect --tls-verify=false --creds "$DEPLOYER_CREDS" \
    "docker://$A/docker-local/demo/via-virtual:v1"
[[ "$(json_py 'd["Digest"]' "$OUT")" == "$LAYOUT_DIGEST" ]] || fail "docker-local/demo/via-virtual:v1: $(cat "$OUT")"

phase proxy-offline
oci_registry_stop
code=$(arca_http_code "http://$UP/v2/")
[[ "$code" == 000 ]] || fail "docker-registry still answers after it was stopped ($code)"
oci_clients "$WORK/clients-offline"
oci_insecure "$A"
ok "podman-pull-virtual-offline" oci_podman pull --tls-verify=false --creds "$DEPLOYER_CREDS" "$A/docker/library/tools:1.0"
[[ "$(image_id "$A/docker/library/tools:1.0")" == "$TOOLS_ID" ]] ||
    fail "without docker-registry, podman pull docker/library/tools:1.0 got image $(image_id "$A/docker/library/tools:1.0")"
ok "podman-pull-remote-offline-arm64" oci_podman pull --tls-verify=false --creds "$DEPLOYER_CREDS" --arch arm64 \
    "$A/docker-remote/library/multi:2.0"
[[ "$(image_id "$A/docker-remote/library/multi:2.0")" == "${UP_ARM64_CONFIG#sha256:}" ]] ||
    fail "without docker-registry, podman pull --arch arm64 docker-remote/library/multi:2.0 got $(image_id "$A/docker-remote/library/multi:2.0")"
ok "skopeo-copy-virtual-offline" oci_skopeo copy --src-tls-verify=false --src-creds "$DEPLOYER_CREDS" \
    "docker://$A/docker/library/tools@$(layout_digest "$WORK/layout-tools")" "dir:$WORK/pulled-tools-offline"
ok "same-blobs-offline" oci_same_blobs "$WORK/layout-tools" "$WORK/pulled-tools-offline"

# --- 6. anonymous ---------------------------------------------------------------------------------------------------
phase anonymous
oci_clients "$WORK/clients-anonymous"
oci_insecure "$A"
code=$(arca_http_code "http://$A/v2/docker-local/demo/three/manifests/v1")
[[ "$code" == 401 ]] || fail "anonymous GET docker-local/demo/three/manifests/v1 without anonymousRead -> $code, expected 401"
fails "podman-pull-anonymous-refused" '401|[Uu]nauthorized|authentication required|denied' oci_podman pull \
    --tls-verify=false "$A/docker-local/demo/three:v1"
code=$(arca_curl -o "$WORK/anon.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data '{"anonymousRead":true}' "$U/api/repositories/docker-local")
[[ "$code" == 200 ]] || fail "POST /api/repositories/docker-local {anonymousRead: true} -> $code: $(cat "$WORK/anon.out")"
ok "podman-pull-anonymous" oci_podman pull --tls-verify=false "$A/docker-local/demo/three:v1"
[[ "$(image_id "$A/docker-local/demo/three:v1")" == "$THREE_ID" ]] ||
    fail "the anonymous podman pull got image $(image_id "$A/docker-local/demo/three:v1"), pushed $THREE_ID"
ok "skopeo-inspect-anonymous" oci_skopeo inspect --tls-verify=false --no-creds "docker://$A/docker-local/demo/three:v1"
fails "skopeo-copy-anonymous" '401|[Uu]nauthorized|authentication required|denied' oci_skopeo copy \
    --dest-tls-verify=false --dest-no-creds "oci:$WORK/layout-three:latest" "docker://$A/docker-local/demo/anonymous:v1"
fails "skopeo-inspect-anonymous-remote" '401|[Uu]nauthorized|authentication required|denied' oci_skopeo inspect \
    --tls-verify=false --no-creds "docker://$A/docker-remote/library/tools:1.0"
oci_clients "$WORK/clients"

# --- 7. delete ------------------------------------------------------------------------------------------------------
phase delete
printf 'gone 1\n' >"$WORK/gone-1.txt"
printf 'gone 2\n' >"$WORK/gone-2.txt"
oci_build_image localhost/arca/gone:v1 "$WORK/gone-1.txt"
oci_build_image localhost/arca/gone:v2 "$WORK/gone-2.txt"
for t in v1 v2; do
    ok "podman-push-gone-$t" oci_podman push --tls-verify=false "localhost/arca/gone:$t" "docker://$A/docker-local/demo/gone:$t"
done
ok "skopeo-inspect-gone" oci_skopeo inspect --tls-verify=false "docker://$A/docker-local/demo/gone:v1"
GONE1=$(json_py 'd["Digest"]' "$OUT")
fails "skopeo-delete-reader" 'denied|DENIED|403' oci_skopeo delete --tls-verify=false --creds "$READER_CREDS" \
    "docker://$A/docker-local/demo/gone:v1"
# the tag alone (OCI 1.1): the manifest stays, by digest
code=$(v2 "$DEPLOYER" "$DEPLOYER_PW" "repository:docker-local/demo/gone:pull,push,delete" -X DELETE \
    "http://$A/v2/docker-local/demo/gone/manifests/v1")
[[ "$code" == 202 ]] || fail "DELETE docker-local/demo/gone/manifests/v1 (a tag) -> $code, expected 202: $(cat "$WORK/v2.body")"
ok "skopeo-list-tags-gone" oci_skopeo list-tags --tls-verify=false "docker://$A/docker-local/demo/gone"
[[ "$(json_py 'sorted(d["Tags"])' "$OUT")" == '["v2"]' ]] || fail "list-tags after the tag v1 was deleted: $(cat "$OUT")"
ok "skopeo-inspect-untagged" oci_skopeo inspect --raw --tls-verify=false "docker://$A/docker-local/demo/gone@$GONE1"
# the manifest, by digest
ok "skopeo-delete-digest" oci_skopeo delete --tls-verify=false "docker://$A/docker-local/demo/gone@$GONE1"
fails "skopeo-inspect-deleted" 'manifest unknown|MANIFEST_UNKNOWN|not found' oci_skopeo inspect --raw --tls-verify=false \
    "docker://$A/docker-local/demo/gone@$GONE1"
# the other one by tag: skopeo deletes the manifest the tag names
ok "skopeo-delete-tag" oci_skopeo delete --tls-verify=false "docker://$A/docker-local/demo/gone:v2"
oci_clients "$WORK/clients-deleted"
oci_insecure "$A"
fails "podman-pull-deleted" 'manifest unknown|MANIFEST_UNKNOWN|not found' oci_podman pull --tls-verify=false \
    --creds "$DEPLOYER_CREDS" "$A/docker-local/demo/gone:v2"
code=$(v2 "$DEPLOYER" "$DEPLOYER_PW" "repository:docker-local/demo/gone:pull" "http://$A/v2/docker-local/demo/gone/tags/list")
[[ "$code" == 404 ]] || [[ "$code" == 200 && "$(json_py 'd.get("tags") or []' "$WORK/v2.body")" == "[]" ]] ||
    fail "tags/list of demo/gone after both were deleted -> $code: $(cat "$WORK/v2.body")"
# the rest is still there
ok "skopeo-inspect-after-delete" oci_skopeo inspect --tls-verify=false --creds "$DEPLOYER_CREDS" \
    "docker://$A/docker-local/demo/three:v1"
phase ""

trap - ERR
printf 'PASS oci (%s; total %ss)\n' "$(IFS=,; printf '%s' "${TIMINGS[*]}" | sed 's/,/, /g')" "$(secs_since "$T_START")"

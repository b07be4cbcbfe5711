#!/usr/bin/env bash
# Real-client test: skopeo 1.9.3 pushing and pulling OCI images through HAProxy in front of a 3-node arca cluster on
# PostgreSQL (issue 23: an upload session started on one node continues on another).
# arca-client-test: once
#
#  1. three arca nodes on loopback on one fresh PostgreSQL database behind HAProxy round robin, no stickiness
#     (tests/lib/cluster.sh), with arca.url.base = the HAProxy URL: GET /v2/ through HAProxy answers a Bearer
#     challenge whose realm is HAProxy's /v2/token; a local docker repository docker-local, known to every node;
#  2. a chunked upload with curl through HAProxy (POST, three PATCHes with Content-Range, PUT ?digest=): its five
#     requests are answered by more than one node (X-Arca-Node-Id), and the blob reads back identical;
#  3. OCI_CLUSTER_PUSHES (20) `skopeo copy` pushes at once of distinct single-layer images of OCI_CLUSTER_MIB MiB
#     (200) through HAProxy (each a POST, a PATCH with the whole layer and a PUT, spread over the nodes by round
#     robin; every node stores a share of the bytes), while two loops pull another image through HAProxy and
#     check it; then every pushed image is in the catalog, pulled through HAProxy and compared blob by blob
#     (sha256) with the layout it was pushed from;
#  4. a push killed mid-way: while one node receives the PATCH of a push (the bytes it writes to files grow), that
#     node's server gets SIGKILL; the push is retried: `skopeo copy --retry-times 3` when its own retries cover
#     the error, else (skopeo 1.9.3 does not retry the failed write of its PATCH body, broken pipe or closed
#     connection, when HAProxy ends the dead node's request with a 502) the same command run again, as a CI job's
#     retry would, through the two nodes left. Meanwhile the image stays invisible through HAProxy (manifest 404
#     and no tag until the push completed, never a tag without its manifest); afterwards the pulled image is
#     identical, and the killed node, restarted, serves it too;
#  5. an upload session whose node dies between its requests: POST through HAProxy, SIGKILL to the node that
#     answered it, then the PATCHes and the PUT through HAProxy are answered by the others, and the blob reads
#     back identical.
# The images are OCI layouts written beforehand (a tar in gzip stored blocks: sent as they are, nothing to
# compress; each variant's layer ends with an entry of its own, so every blob is new, see oci_layout_variants in tests/lib/oci.sh).
#
# Needs PostgreSQL (ARCA_TEST_PG_URL, or tests/lib/postgres.sh starts it), hence "arca-client-test: once" above:
# tests/run-all.sh runs it in its PostgreSQL pass only. Prints "PASS oci-cluster (timings)" or
# "FAIL oci-cluster: reason"; exit status 0 / 1.
#
# Env: OCI_CLUSTER_MIB (200) and OCI_CLUSTER_PUSHES (20): the images' size and how many are pushed at once;
#      ARCA_SKIP_BUILD=1 (use the existing release binaries), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages), ARCA_OCI_CACHE (tests/lib/oci.sh).
set -Eeuo pipefail

export ARCA_TEST_NAME=oci-cluster
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/cluster.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/oci.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/oci.sh"

while (($#)); do
    arca_help_or_die "$1"
done

MIB=${OCI_CLUSTER_MIB:-200}
PUSHES=${OCI_CLUSTER_PUSHES:-20}

fail() {
    local i
    trap - ERR
    for ((i = 0; i < ${#CLUSTER_HOMES[@]}; i++)); do
        [[ -s "${CLUSTER_HOMES[i]}/arca-server.log" ]] || continue
        printf '[%s] ---- last 15 lines of %s ----\n' "$ARCA_TEST_NAME" "${CLUSTER_HOMES[i]}/arca-server.log" >&2
        tail -n 15 "${CLUSTER_HOMES[i]}/arca-server.log" >&2
    done
    [[ -z "${TIMINGS[*]:-}" ]] || arca_log "timings so far: ${TIMINGS[*]}"
    printf 'FAIL oci-cluster: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

[[ "$MIB" =~ ^[1-9][0-9]*$ && "$PUSHES" =~ ^[1-9][0-9]*$ ]] ||
    fail "OCI_CLUSTER_MIB and OCI_CLUSTER_PUSHES take positive integers (got '$MIB', '$PUSHES')"
if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl haproxy
fi
oci_tools
for c in curl haproxy psql python3 sha256sum; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

# the bytes a process wrote to files (pages it dirtied: a node's staged uploads; not what it sends to sockets)
stored_bytes() { awk '$1 == "write_bytes:" {print $2}' "/proc/$1/io" 2>/dev/null || echo 0; }
header() { tr -d '\r' <"$1" | sed -n "s/^$2: *//Ip" | tail -n1; }

phase setup
arca_ensure_built
WORK=""
arca_tmpdir WORK oci-cluster
oci_clients "$WORK/clients"
# the layouts: PUSHES images for the parallel pushes, then the one the pull loops read, then the killed push's
SEED=$((PUSHES + 1))
KILLED=$((PUSHES + 2))
mkdir -p "$WORK/layouts"
t0=$EPOCHREALTIME
oci_layout_variants "$WORK/layouts/img" "$KILLED" "$((MIB * 1048576))"
arca_log "$KILLED OCI layouts of a $MIB MiB layer written in $(secs_since "$t0")s"

CLUSTER_DB_PREFIX=arca_c_
CLUSTER_URL_BASE=1
cluster_init "$WORK/cluster"
cluster_start
cluster_haproxy_start
LB=$CLUSTER_LB_URL
REG=127.0.0.1:$CLUSTER_LB_PORT
oci_insecure "$REG"
CREDS="admin:$CLUSTER_ADMIN_PW"
arca_log "3 nodes behind HAProxy at $LB, the registry at http://$REG/v2/"

out=$(curl -sS --max-time 30 -u "$CREDS" -X PUT -H 'Content-Type: application/json' \
    --data '{"rclass":"local","packageType":"docker"}' -w '\n%{http_code}' "$LB/api/repositories/docker-local") ||
    fail "PUT $LB/api/repositories/docker-local: curl failed"
[[ "${out##*$'\n'}" == 200 || "${out##*$'\n'}" == 201 ]] ||
    fail "PUT $LB/api/repositories/docker-local -> ${out##*$'\n'}: ${out%$'\n'*}"
# every node knows it (asked of each node directly)
for ((i = 0; i < CLUSTER_SIZE; i++)); do
    url="$(cluster_node_url "$i")/api/repositories/docker-local"
    arca_wait_for 10 "docker-local on ${CLUSTER_IDS[i]}" curl -sf -o /dev/null -u "$CREDS" "$url" ||
        fail "GET $url: $(curl -sS -i -u "$CREDS" "$url" 2>&1 | head -c 600)"
done
# the challenge through HAProxy names HAProxy's token endpoint (arca.url.base)
code=$(curl -sS --max-time 30 -o /dev/null -D "$WORK/v2.headers" -w '%{http_code}' "http://$REG/v2/")
challenge=$(header "$WORK/v2.headers" WWW-Authenticate)
[[ "$code" == 401 && "$challenge" == *"realm=\"http://$REG/v2/token\""* ]] ||
    fail "GET http://$REG/v2/ -> $code, WWW-Authenticate '$challenge': expected 401 and the realm http://$REG/v2/token"

# --- 2. one chunked upload, request by request ---------------------------------------------------------------------
phase session
TOKEN=$(oci_token "$REG" admin "$CLUSTER_ADMIN_PW" "repository:docker-local/cluster/chunks:pull,push") ||
    fail "no token from http://$REG/v2/token"
[[ -n "$TOKEN" ]] || fail "GET http://$REG/v2/ asked for no Bearer token"
head -c $((3 * 1048576)) /dev/urandom >"$WORK/chunks.bin"
split -b 1048576 -d "$WORK/chunks.bin" "$WORK/chunk-"
CHUNK_DIGEST=sha256:$(sha256sum "$WORK/chunks.bin" | cut -d' ' -f1)
# v2 METHOD URL CURL-ARGS... — one request through HAProxy with the token: its status in CODE, the body in
# WORK/v2.body, the headers in WORK/v2.headers, the node that answered appended to NODES
NODES=()
CODE=""
v2() {
    local method=$1 url=$2
    shift 2
    CODE=$(curl -sS --max-time 60 -X "$method" -o "$WORK/v2.body" -D "$WORK/v2.headers" -w '%{http_code}' \
        -H "Authorization: Bearer $TOKEN" "$@" "$url") || fail "$method $url: curl failed"
    NODES+=("$(header "$WORK/v2.headers" X-Arca-Node-Id)")
}
# finish_session IMAGE WHAT — the rest of the upload session at $location: the chunks of WORK/chunks.bin PATCHed in
# order with their Content-Range (following each Location), PUT ?digest=, and the blob read back through HAProxy and
# compared; WHAT says which session in the failures
finish_session() {
    local image=$1 what=$2 start=0 part size next sep
    for part in "$WORK"/chunk-*; do
        size=$(stat -c %s "$part")
        v2 PATCH "$location" -H 'Content-Type: application/octet-stream' \
            -H "Content-Range: $start-$((start + size - 1))" --data-binary "@$part"
        [[ "$CODE" == 202 ]] || fail "PATCH of bytes $start- $what -> $CODE: $(cat "$WORK/v2.body")"
        start=$((start + size))
        next=$(header "$WORK/v2.headers" Location)
        [[ -z "$next" ]] || location=$next
        [[ "$location" == http* ]] || location="http://$REG$location"
    done
    sep='?'
    [[ "$location" != *\?* ]] || sep='&'
    v2 PUT "$location${sep}digest=$CHUNK_DIGEST"
    [[ "$CODE" == 201 ]] || fail "PUT ?digest=$CHUNK_DIGEST $what -> $CODE: $(cat "$WORK/v2.body")"
    v2 GET "http://$REG/v2/docker-local/cluster/$image/blobs/$CHUNK_DIGEST"
    if [[ "$CODE" != 200 ]] || ! cmp -s "$WORK/chunks.bin" "$WORK/v2.body"; then
        fail "GET of the blob $what -> $CODE, not the bytes sent"
    fi
}
v2 POST "http://$REG/v2/docker-local/cluster/chunks/blobs/uploads/"
[[ "$CODE" == 202 ]] || fail "POST …/blobs/uploads/ through HAProxy -> $CODE: $(cat "$WORK/v2.body")"
location=$(header "$WORK/v2.headers" Location)
[[ "$location" == /v2/* || "$location" == "http://$REG/v2/"* ]] || fail "POST …/blobs/uploads/: Location '$location'"
[[ "$location" == http* ]] || location="http://$REG$location"
finish_session chunks "of the upload through HAProxy"
n_nodes=$(printf '%s\n' "${NODES[@]}" | grep . | sort -u | wc -l)
((n_nodes > 1)) || fail "the upload's requests were all answered by '${NODES[*]}', expected more than one node"
arca_log "a chunked upload through HAProxy: POST, 3 PATCHes, PUT and GET answered by ${NODES[*]}"

# --- 3. parallel pushes, pulls at the same time ------------------------------------------------------------------
# push_image I [SKOPEO-ARGS...] — layout I to docker-local/cluster/img-I:latest through HAProxy
push_image() {
    local i=$1
    shift
    oci_skopeo copy -q "$@" --dest-tls-verify=false --dest-creds "$CREDS" "oci:$WORK/layouts/img-$i:latest" \
        "docker://$REG/docker-local/cluster/img-$i:latest"
}
# pull_check I DIR — img-I from HAProxy into DIR (emptied first), compared with its layout, DIR removed
pull_check() {
    local i=$1 dir=$2
    rm -rf -- "$dir"
    oci_skopeo copy -q --src-tls-verify=false --src-creds "$CREDS" "docker://$REG/docker-local/cluster/img-$i:latest" \
        "dir:$dir" && oci_same_blobs "$WORK/layouts/img-$i" "$dir" && rm -rf -- "$dir"
}
# pull_loop K — pulls and checks the seed image until WORK/stop-pulls exists; the count in WORK/pull-loop-K.count,
# a failure in WORK/pull-loop-K.failed (a background job: no ERR trap, no exit through fail)
pull_loop() {
    trap - ERR
    local k=$1 n=0
    while [[ ! -e "$WORK/stop-pulls" ]]; do
        pull_check "$SEED" "$WORK/pulled-loop-$k" >>"$WORK/pull-loop-$k.log" 2>&1 || {
            echo "pull $((n + 1)) failed" >"$WORK/pull-loop-$k.failed"
            return 1
        }
        n=$((n + 1))
        echo "$n" >"$WORK/pull-loop-$k.count"
    done
}

# the background jobs (pull loops, pushes, the watch) end with the script
BACKGROUND=()
stop_background() {
    local pid
    touch "$WORK/stop-pulls" "$WORK/stop-watch"
    for pid in "${BACKGROUND[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
}
arca_on_exit stop_background

phase push
push_image "$SEED" >"$WORK/push-seed.log" 2>&1 || {
    tail -n 20 "$WORK/push-seed.log" >&2
    fail "the push of the seed image through HAProxy failed"
}
declare -a W0=()
for ((i = 0; i < CLUSTER_SIZE; i++)); do W0[i]=$(stored_bytes "${CLUSTER_SERVER_PIDS[i]}"); done
loops=()
for k in 1 2; do
    pull_loop "$k" &
    loops+=($!)
    BACKGROUND+=($!)
done
t0=$EPOCHREALTIME
pids=()
for ((i = 1; i <= PUSHES; i++)); do
    (
        trap - ERR
        push_image "$i" >"$WORK/push-$i.log" 2>&1
    ) &
    pids+=($!)
    BACKGROUND+=($!)
done
failed=()
for ((i = 1; i <= PUSHES; i++)); do
    wait "${pids[i - 1]}" || failed+=("$i")
done
PUSH_SECS=$(secs_since "$t0")
touch "$WORK/stop-pulls"
for pid in "${loops[@]}"; do wait "$pid" || true; done
if ((${#failed[@]})); then
    tail -n 20 "$WORK/push-${failed[0]}.log" >&2
    fail "${#failed[@]} of the $PUSHES parallel pushes failed (images ${failed[*]}; log: $WORK/push-${failed[0]}.log)"
fi
for k in 1 2; do
    [[ ! -e "$WORK/pull-loop-$k.failed" ]] || {
        tail -n 20 "$WORK/pull-loop-$k.log" >&2
        fail "pull loop $k: $(cat "$WORK/pull-loop-$k.failed") during the pushes (log: $WORK/pull-loop-$k.log)"
    }
done
PULLS_DURING=$(($(cat "$WORK/pull-loop-1.count" 2>/dev/null || echo 0) + $(cat "$WORK/pull-loop-2.count" 2>/dev/null || echo 0)))
((PULLS_DURING > 0)) || fail "no pull of the seed image completed while the pushes ran"
# round robin spread the PATCHes: every node wrote a share of the bytes (checked when there are enough pushes for
# each node to get a few)
shares=""
for ((i = 0; i < CLUSTER_SIZE; i++)); do
    mib=$((($(stored_bytes "${CLUSTER_SERVER_PIDS[i]}") - W0[i]) / 1048576))
    shares+=" ${CLUSTER_IDS[i]} $mib MiB"
    ((PUSHES < 3 * CLUSTER_SIZE || mib >= MIB)) ||
        fail "${CLUSTER_IDS[i]} wrote $mib MiB during the pushes: round robin should have sent it whole layers"
done
arca_log "$PUSHES pushes of $MIB MiB at once through HAProxy in ${PUSH_SECS}s ($PULLS_DURING pulls of the seed image checked meanwhile); written:$shares"

phase pull
# the catalog lists them all (through HAProxy, Basic credentials)
curl -sSf --max-time 60 -u "$CREDS" -o "$WORK/catalog.json" "http://$REG/v2/_catalog?n=10000" ||
    fail "GET /v2/_catalog through HAProxy failed"
python3 - "$WORK/catalog.json" "$PUSHES" <<'PY' || fail "the catalog does not list the pushed images (above)"
import json, sys
names = set(json.load(open(sys.argv[1])).get("repositories") or [])
missing = [i for i in range(1, int(sys.argv[2]) + 1) if f"docker-local/cluster/img-{i}" not in names]
if missing:
    sys.exit(f"not in the catalog: img-{missing} ({len(names)} names: {sorted(names)[:10]}…)")
PY
t0=$EPOCHREALTIME
# four at a time (a pull is skopeo's sha256 and writes as much as the server's sendfile)
for ((i = 1; i <= PUSHES; i += 4)); do
    pids=()
    for ((j = i; j < i + 4 && j <= PUSHES; j++)); do
        (
            trap - ERR
            pull_check "$j" "$WORK/pulled-$j" >"$WORK/pull-$j.log" 2>&1
        ) &
        pids+=($!)
    done
    for ((j = i; j < i + 4 && j <= PUSHES; j++)); do
        wait "${pids[j - i]}" || {
            tail -n 20 "$WORK/pull-$j.log" >&2
            fail "img-$j pulled through HAProxy is not the image pushed (log: $WORK/pull-$j.log)"
        }
    done
done
arca_log "the $PUSHES images pulled through HAProxy and compared in $(secs_since "$t0")s"

# --- 4. a node killed mid-push -----------------------------------------------------------------------------------
phase kill
IMG=docker-local/cluster/img-$KILLED
KILLED_DIGEST=$(oci_layout_manifest "$WORK/layouts/img-$KILLED")
# watch_image — every 0.1 s until WORK/stop-watch exists: "TIME MANIFEST-STATUS TAGS" of the image through HAProxy
# (TIME: when the poll started; TAGS: the tags list, "-" for none, "?" when the answer was no JSON)
watch_image() {
    trap - ERR
    local t m tags
    while [[ ! -e "$WORK/stop-watch" ]]; do
        t=$EPOCHREALTIME
        m=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -u "$CREDS" \
            -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/$IMG/manifests/latest" || true)
        tags=$(curl -s --max-time 10 -u "$CREDS" "http://$REG/v2/$IMG/tags/list" | python3 -c 'import json, sys
try:
    print(",".join(json.load(sys.stdin).get("tags") or []) or "-")
except ValueError:
    print("?")' 2>/dev/null || true)
        echo "$t ${m:-000} ${tags:-?}" >>"$WORK/watch.txt"
        sleep 0.1
    done
}
# push_killed N — the push of img-KILLED with skopeo's own retries, in the background (PUSH), its log push-killed-N.log
push_killed() {
    (
        trap - ERR
        push_image "$KILLED" --retry-times 3 >"$WORK/push-killed-$1.log" 2>&1
    ) &
    PUSH=$!
    BACKGROUND+=("$PUSH")
}
watch_image &
BACKGROUND+=($!)
push_killed 1
# the node receiving the PATCH is the one whose bytes written to files grow (its staged upload)
victim=""
declare -a last=()
for ((i = 0; i < CLUSTER_SIZE; i++)); do last[i]=$(stored_bytes "${CLUSTER_SERVER_PIDS[i]}"); done
deadline=$((SECONDS + 60))
while [[ -z "$victim" ]] && kill -0 "$PUSH" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.1
    for ((i = 0; i < CLUSTER_SIZE; i++)); do
        now=$(stored_bytes "${CLUSTER_SERVER_PIDS[i]}")
        if ((now - last[i] >= 4 * 1048576)); then
            victim=$i
            break
        fi
        last[i]=$now
    done
done
[[ -n "$victim" ]] || fail "no node was seen receiving the push of img-$KILLED (it ended or took over 60 s)"
kill -KILL "${CLUSTER_SERVER_PIDS[victim]}"
KILL_T=$EPOCHREALTIME
echo "killed $KILL_T" >>"$WORK/watch.txt"
arca_log "killed ${CLUSTER_IDS[victim]} (SIGKILL) while it received the PATCH of img-$KILLED"
cluster_stop_node "$victim"
if wait "$PUSH"; then
    if grep -q 'Failed, retrying' "$WORK/push-killed-1.log"; then
        RETRIED="by skopeo's --retry-times"
    else
        # (the PATCH had ended before the kill: a small OCI_CLUSTER_MIB)
        arca_warn "the push of img-$KILLED needed no retry: the kill came after its PATCH"
        RETRIED="without a retry (the kill came after the PATCH)"
    fi
else
    # skopeo 1.9.3 (containers/common's retry) retries connections refused or reset, EOF and registry errors, not
    # a write of the request body that fails because HAProxy ended the dead node's request with a 502 (broken
    # pipe, or a connection Go's HTTP client closed on that 502), nor the 502: its copy ends there, and the
    # client's retry is running it again
    gave_up=$(sed -n 's/.*level=fatal msg="\(.*\)"$/\1/p' "$WORK/push-killed-1.log" | tail -n1)
    [[ -n "$gave_up" ]] || gave_up=$(tail -n1 "$WORK/push-killed-1.log")
    arca_log "skopeo copy --retry-times 3 gave up ($gave_up); running it again"
    echo "again $EPOCHREALTIME" >>"$WORK/watch.txt"
    push_killed 2
    wait "$PUSH" || {
        tail -n 20 "$WORK/push-killed-2.log" >&2
        fail "the second skopeo copy of img-$KILLED through the two nodes left failed"
    }
    RETRIED="by a second skopeo copy (skopeo's own retries do not cover the failed PATCH)"
fi
RETRY_SECS=$(secs_since "$KILL_T")
echo "done $EPOCHREALTIME" >>"$WORK/watch.txt"
# three polls started after the push completed, then the watch ends
polls_after_done() { awk '$1 == "done" {d = $2} d && $1 ~ /^[0-9]/ && $1 > d {n++} END {exit !(n >= 3)}' "$WORK/watch.txt"; }
arca_wait_for 20 "three polls of img-$KILLED after its push" polls_after_done ||
    fail "the watch of img-$KILLED stopped polling ($WORK/watch.txt)"
touch "$WORK/stop-watch"
# until the push completed: 404 and no tag; once the manifest is there (200), it stays and the tag is listed; every
# poll started after the push completed sees it (whichever node HAProxy picks)
python3 - "$WORK/watch.txt" <<'PY' || fail "the image was visible before its push completed or not after (above; $WORK/watch.txt)"
import sys
seen_manifest, done, bad, polls = False, None, [], 0
lines = [l.split() for l in open(sys.argv[1]) if l.strip()]
done = next(float(f[1]) for f in lines if f[0] == "done")
for n, fields in enumerate(lines, 1):
    if len(fields) != 3:
        continue  # the marks "killed", "again", "done"
    polls += 1
    start, code, tags = float(fields[0]), fields[1], fields[2]
    if start > done and (code, tags) != ("200", "latest"):
        bad.append(f"poll {n}, started after the push completed: manifest {code}, tags {tags}")
    if code == "200":
        seen_manifest = True
        if tags not in ("latest", "?"):
            bad.append(f"poll {n}: manifest 200 but the tags list has {tags}")
    elif code == "404" and not seen_manifest:
        if tags not in ("-", "?"):
            bad.append(f"poll {n}: manifest 404 but the tags list has {tags}")
    elif code in ("502", "503", "000"):
        pass  # a poll that met the killed node (HAProxy's retries cover new connections only)
    else:
        bad.append(f"poll {n}: manifest {code}" + (" after it was there" if seen_manifest else ""))
if polls < 5:
    bad.append(f"{polls} polls: the watch did not follow the push")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
pull_check "$KILLED" "$WORK/pulled-killed" >"$WORK/pull-killed.log" 2>&1 || {
    tail -n 20 "$WORK/pull-killed.log" >&2
    fail "img-$KILLED pulled through HAProxy after the retried push is not the image pushed"
}
arca_log "the push went through the other nodes $RETRIED in ${RETRY_SECS}s; img-$KILLED never partly visible, pulled identical"

phase restart
cluster_start_node "$victim"
NODE_REG=${CLUSTER_IPS[victim]}:${CLUSTER_PORTS[victim]}
oci_insecure "$NODE_REG"
oci_skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$NODE_REG/$IMG:latest" >"$WORK/inspect-restarted.json" 2>&1 ||
    fail "${CLUSTER_IDS[victim]} restarted does not serve img-$KILLED: $(tail -n 5 "$WORK/inspect-restarted.json")"
[[ "sha256:$(sha256sum "$WORK/inspect-restarted.json" | cut -d' ' -f1)" == "$KILLED_DIGEST" ]] ||
    fail "${CLUSTER_IDS[victim]} restarted serves another manifest for img-$KILLED"

# --- 5. the node of an upload session killed between its requests -------------------------------------------------
phase failover
TOKEN=$(oci_token "$REG" admin "$CLUSTER_ADMIN_PW" "repository:docker-local/cluster/failover:pull,push") ||
    fail "no token from http://$REG/v2/token"
NODES=()
v2 POST "http://$REG/v2/docker-local/cluster/failover/blobs/uploads/"
[[ "$CODE" == 202 ]] || fail "POST …/failover/blobs/uploads/ through HAProxy -> $CODE: $(cat "$WORK/v2.body")"
started_on=${NODES[0]}
location=$(header "$WORK/v2.headers" Location)
[[ "$location" == http* ]] || location="http://$REG$location"
for ((i = 0; i < CLUSTER_SIZE; i++)); do
    [[ "${CLUSTER_IDS[i]}" != "$started_on" ]] || dead=$i
done
[[ -n "${dead:-}" ]] || fail "the POST was answered by '$started_on', not a node of the cluster"
kill -KILL "${CLUSTER_SERVER_PIDS[dead]}"
cluster_stop_node "$dead"
NODES=()
finish_session failover "of the upload whose first node ($started_on) was killed"
[[ " ${NODES[*]} " != *" $started_on "* ]] || fail "the killed $started_on answered a request: ${NODES[*]}"
arca_log "an upload started on $started_on, which was then killed, went on at ${NODES[*]}"
phase ""

trap - ERR
printf 'PASS oci-cluster (%s pushes of %s MiB at once %ss with %s pulls; the killed push went through %ss later %s; %s; total %ss)\n' \
    "$PUSHES" "$MIB" "$PUSH_SECS" "$PULLS_DURING" "$RETRY_SECS" "$RETRIED" \
    "$(IFS=,; printf '%s' "${TIMINGS[*]}" | sed 's/,/, /g')" "$(secs_since "$T_START")"

#!/usr/bin/env bash
# OCI registries side by side (issue 23; docs/benchmarks.md, "OCI registries, arca vs docker-registry"): Debian's
# docker-registry (the CNCF distribution 2.8, tests/lib/oci.sh: filesystem storage, no auth, its access log) and arca
# (release build, SQLite, local filestore, a local docker repository `docker-local`) on the same machine and disk
# (under target/), in one run, loopback only. The client is skopeo 1.9.3 (tests/lib/oci.sh: a private configuration,
# no blob-info cache shared with the machine), with admin's credentials for arca (its token flow: GET /v2/, the
# token endpoint, then Bearer) and anonymous for docker-registry:
#  - push: `skopeo copy oci:LAYOUT:latest docker://HOST/NAME:latest` of an image prepared beforehand as an OCI layout
#    (untimed), to a new image name each time; pull: `skopeo copy docker://HOST/NAME:latest dir:DIR` of what was just
#    pushed, to an empty DIR. Two images: one layer of --big-mib MiB (1024), and --layers (200) layers of 64 KiB to
#    1 MiB each (sizes drawn with a fixed seed; ~105 MiB in all). The layers are random data in a tar in a gzip
#    stream of stored (uncompressed) deflate blocks: a valid tar+gzip layer that skopeo sends as it is (it would
#    gzip an uncompressed layer for a docker:// destination, at the client's CPU cost, --dest-compress only concerns
#    dir:) and that neither side could compress. Every push is of fresh bytes: run r pushes variant r of each image
#    to both servers (the variants share their random data but each layer ends with an entry of its own, so every
#    blob's digest is new and nothing can be skipped or mounted); the bytes skopeo wrote (its /proc/PID/io wchar:
#    to the socket) must be at least the image's size (the blobs were really uploaded). Every pull is checked after
#    its timing: each blob in DIR has the layout's sha256 (oci_same_blobs). Next to the pull, the image's largest
#    layer fetched with curl into /dev/null (anonymously): the server's share of a pull without skopeo's, which
#    (digest, decompression for its caches, writes) makes most of a pull's time. After each operation (untimed)
#    `sync`, so that the next one starts with nothing dirty in the page cache; the time until that sync returned
#    after a push is printed too ("push + sync": both servers fsync what they store before answering, so it is
#    about the push's). A run's layouts are deleted after it (run 1's are kept for the GETs/s rows). Which server
#    goes first alternates from operation to operation and from run to run (over an even number of runs each goes
#    first as often in every row); the goal is judged on the median of --runs (6), the best is printed too, with
#    the throughput, the servers' CPU time (user + system, /proc/PID/stat) and skopeo's.
#  - manifest and blob GETs per second (wrk -t1 -c--connections -d--duration, keep-alive): the one-layer image's
#    manifest by tag (OCI Accept header), anonymously (docker-local has anonymousRead) and, arca only, with a
#    Bearer token of its token endpoint (docker-registry: the same anonymous GET next to it); the 200-layer
#    manifest (~30 KB); a small blob (the image's config, ~400 B). No HEAD rows: wrk 4.1 waits for the body a HEAD
#    answer's Content-Length announces. Every answer is checked with curl first (200, Docker-Content-Digest and the
#    bytes of the layout's blob), and wrk's totals after (no non-2xx answer, the bytes per answer of the checked
#    one); interleaved rounds, best of --rounds.
#  - RSS of both (VmRSS and the peak VmHWM from /proc/PID/status) after the load.
# A benchmark, not a test: tests/run-all.sh does not run it; the exit status only says whether it could measure (a
# slower arca is a MISS in the table, not a failure).
#
# Usage: tests/bench/oci.sh [--quick] [--runs N] [--rounds N] [--big-mib N] [--layers N] [--duration S]
#                           [--connections N] [--no-build] [--keep]
#   --quick          1 run, 1 round, a 256 MiB layer, 50 small layers, wrk 2 s (checks that the script works)
#   --runs N         push/pull runs (default 6)
#   --rounds N       wrk rounds (default 3)
#   --big-mib N      the single-layer image's layer, MiB (default 1024)
#   --layers N       the layers of the many-layer image (default 200)
#   --duration S     seconds of one wrk run (default 5)
#   --connections N  wrk's connections (default 8, one wrk thread)
#   --no-build       use the existing target/release/arca-server
#   --keep           keep the work dir (logs, layouts, both registries' storage)
# Env: ARCA_SKIP_INSTALL=1 (do not apt-get what is missing), ARCA_OCI_CACHE (tests/lib/oci.sh).
set -euo pipefail

export ARCA_TEST_NAME=bench-oci
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/oci.sh
. "$HERE/../lib/oci.sh"

RUNS=6
ROUNDS=3
BIG_MIB=1024
LAYERS=200
DURATION=5
CONNECTIONS=8
BUILD=1
while (($#)); do
    case "$1" in
        --quick)
            RUNS=1
            ROUNDS=1
            BIG_MIB=256
            LAYERS=50
            DURATION=2
            ;;
        --runs) RUNS=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --big-mib) BIG_MIB=$2; shift ;;
        --layers) LAYERS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --connections) CONNECTIONS=$2; shift ;;
        --no-build) BUILD=0 ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
for v in "$RUNS" "$ROUNDS" "$BIG_MIB" "$LAYERS" "$DURATION" "$CONNECTIONS"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] ||
        arca_die "--runs, --rounds, --big-mib, --layers, --duration and --connections take positive integers"
done

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl wrk
fi
oci_tools
for c in curl wrk python3 awk; do
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
arca_tmpdir WORK bench-oci

# ---------------------------------------------------------------------------------------------------------------
# the images: OCI layouts, RUNS variants of each, and one more of the many-layer image (it warms both servers and
# the client up)

# layout_bytes LAYOUT — the bytes of all of its blobs (manifest, config, layers)
layout_bytes() { du -sb --apparent-size "$1/blobs" | awk '{print $1}'; }

VARIANTS=$((RUNS + 1))
mkdir -p "$WORK/layouts"
arca_log "writing $RUNS variants of a $BIG_MIB MiB one-layer image and $VARIANTS of a $LAYERS-layer image (OCI layouts)"
t0=$EPOCHREALTIME
oci_layout_variants "$WORK/layouts/big" "$RUNS" "$((BIG_MIB * 1048576))"
mapfile -t MANY_SIZES < <(python3 -c 'import random, sys
r = random.Random(23)
print(*(r.randint(64, 1024) * 1024 for _ in range(int(sys.argv[1]))), sep="\n")' "$LAYERS")
oci_layout_variants "$WORK/layouts/many" "$VARIANTS" "${MANY_SIZES[@]}"
sync
BIG_BYTES=$(layout_bytes "$WORK/layouts/big-1")
MANY_BYTES=$(layout_bytes "$WORK/layouts/many-1")
arca_log "layouts written in $(secs_since "$t0") s: $BIG_BYTES and $MANY_BYTES bytes of blobs each"

# ---------------------------------------------------------------------------------------------------------------
# the two registries

oci_clients "$WORK/clients"
oci_registry_start "$WORK/registry"
arca_start "$WORK/arca-home"
arca_create_repo docker-local '{"rclass":"local","packageType":"docker","anonymousRead":true}' >/dev/null 2>&1 ||
    arca_die "could not create docker-local"
declare -A HOST=([arca]="127.0.0.1:$ARCA_PORT" [registry]="$OCI_REGISTRY_HOST")
# the image names: arca's first path segment is the repository
declare -A NAME_PREFIX=([arca]="docker-local/bench" [registry]="bench")
declare -A PID_OF=([arca]="$ARCA_PID" [registry]="$OCI_REGISTRY_PID")
declare -A CREDS=([arca]="admin:$ARCA_ADMIN_PW" [registry]="")
oci_insecure "${HOST[arca]}"
oci_insecure "${HOST[registry]}"

CLK_TCK=$(getconf CLK_TCK)
cpu_ms() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$CLK_TCK" '{ printf "%d", ($12 + $13) * 1000 / hz }'; }
# the CPU time of the shell's reaped children (skopeo), ms
children_cpu_ms() { sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$CLK_TCK" '{ printf "%d", ($14 + $15) * 1000 / hz }'; }
io_bytes() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/io"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# push SERVER LAYOUT NAME — skopeo copy of the layout's image to SERVER as NAME:latest, checked to have uploaded
# every byte, then sync; sets SECS (skopeo's wall time), DURABLE (the same until sync returned: the image on the
# disk), CPU (the server's, ms) and CLIENT_CPU (skopeo's, ms)
push() {
    local server=$1 layout=$2 name=$3 log="$WORK/push-$1-${3//\//_}.log" t0 t1 c0 k0 w0 got want auth=()
    local me=$BASHPID
    [[ -z "${CREDS[$server]}" ]] || auth=(--dest-creds "${CREDS[$server]}")
    c0=$(cpu_ms "${PID_OF[$server]}")
    k0=$(children_cpu_ms "$me")
    # what skopeo wrote (to the socket, nearly all of it): a reaped child's I/O counters are added to its parent's
    w0=$(io_bytes "$me" wchar)
    t0=$EPOCHREALTIME
    oci_skopeo copy -q --dest-tls-verify=false "${auth[@]}" "oci:$layout:latest" \
        "docker://${HOST[$server]}/$name:latest" >"$log" 2>&1 ||
        arca_die "push of $layout to $server as $name failed: $(tail -n 20 "$log")"
    t1=$EPOCHREALTIME
    sync
    DURABLE=$(elapsed "$t0" "$EPOCHREALTIME")
    CPU=$(($(cpu_ms "${PID_OF[$server]}") - c0))
    CLIENT_CPU=$(($(children_cpu_ms "$me") - k0))
    SECS=$(elapsed "$t0" "$t1")
    got=$(($(io_bytes "$me" wchar) - w0))
    want=$(layout_bytes "$layout")
    ((got >= want)) ||
        arca_die "push to $server as $name: skopeo wrote $got bytes, less than the image's $want (skipped blobs?)"
}

# pull SERVER LAYOUT NAME — skopeo copy of NAME:latest from SERVER to an empty dir:, then compared with the layout,
# removed and sync; sets SECS, CPU and CLIENT_CPU (DURABLE is "-")
pull() {
    local server=$1 layout=$2 name=$3 log="$WORK/pull-$1-${3//\//_}.log" dir="$WORK/pulled" t0 t1 c0 k0 auth=()
    local me=$BASHPID
    [[ -z "${CREDS[$server]}" ]] || auth=(--src-creds "${CREDS[$server]}")
    rm -rf -- "$dir"
    c0=$(cpu_ms "${PID_OF[$server]}")
    k0=$(children_cpu_ms "$me")
    t0=$EPOCHREALTIME
    oci_skopeo copy -q --src-tls-verify=false "${auth[@]}" "docker://${HOST[$server]}/$name:latest" "dir:$dir" \
        >"$log" 2>&1 || arca_die "pull of $name from $server failed: $(tail -n 20 "$log")"
    t1=$EPOCHREALTIME
    CPU=$(($(cpu_ms "${PID_OF[$server]}") - c0))
    CLIENT_CPU=$(($(children_cpu_ms "$me") - k0))
    SECS=$(elapsed "$t0" "$t1")
    DURABLE=-
    oci_same_blobs "$layout" "$dir" >>"$log" 2>&1 ||
        arca_die "pull of $name from $server: not the pushed image: $(tail -n 3 "$log")"
    # the pulled files go before they are written back: the next operation starts with nothing dirty
    rm -rf -- "$dir"
    sync
}

# ---------------------------------------------------------------------------------------------------------------
# rows 1-4: push and pull

declare -A T=() D=() C=() K=()
# the warm-up: the last variant of the many-layer image, pushed to and pulled from both (skopeo, the token flow,
# the servers' first requests)
for server in registry arca; do
    push "$server" "$WORK/layouts/many-$VARIANTS" "${NAME_PREFIX[$server]}/warm-up"
    pull "$server" "$WORK/layouts/many-$VARIANTS" "${NAME_PREFIX[$server]}/warm-up"
done
# get SERVER LAYOUT NAME — the image's largest layer with curl into /dev/null, anonymously (docker-local has
# anonymousRead): the server's share of a pull without skopeo's (its digest, its writes); sets SECS
get() {
    local server=$1 layout=$2 name=$3 digest size out code got
    read -r digest size < <(python3 -c 'import json, sys
m = json.load(open(sys.argv[1] + "/blobs/sha256/" + json.load(open(sys.argv[1] + "/index.json"))["manifests"][0]["digest"][7:]))
l = max(m["layers"], key=lambda l: l["size"])
print(l["digest"], l["size"])' "$layout")
    out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
        "http://${HOST[$server]}/v2/$name/blobs/$digest") || arca_die "GET of $name's layer from $server failed"
    read -r code got SECS <<<"$out"
    [[ "$code" == 200 && "$got" == "$size" ]] ||
        arca_die "GET of $name's layer $digest from $server -> $code, $got bytes (expected 200, $size)"
    SECS=$(awk -v s="$SECS" 'BEGIN { printf "%.2f", s }')
    CPU=- CLIENT_CPU=- DURABLE=-
}

for ((r = 1; r <= RUNS; r++)); do
    line=""
    k=0
    for image in big many; do
        layout="$WORK/layouts/$image-$r"
        ops=(push pull get)
        [[ "$image" == big ]] || ops=(push pull)
        for op in "${ops[@]}"; do
            # which server goes first alternates from operation to operation and from run to run: over an even
            # number of runs, each goes first as often in every row
            order=(registry arca)
            (((r + k) % 2)) || order=(arca registry)
            k=$((k + 1))
            for server in "${order[@]}"; do
                "$op" "$server" "$layout" "${NAME_PREFIX[$server]}/$image-$r"
                T[$op-$image-$server]+=" $SECS"
                D[$op-$image-$server]+=" $DURABLE"
                C[$op-$image-$server]+=" $CPU"
                K[$op-$image-$server]+=" $CLIENT_CPU"
                line+=" $op-$image $server ${SECS}s"
                [[ "$op" == get ]] || line+=" (synced ${DURABLE}s, CPU ${CPU} ms, skopeo ${CLIENT_CPU} ms)"
                line+=";"
            done
        done
        # done with this variant: out of the page cache and off the disk (but run 1's: the GETs/s rows' answers)
        ((r == 1)) || rm -rf -- "$layout"
    done
    arca_log "run $r:$line"
done

# (the values: numbers, or "-"; awk alone, so that no grep without a match fails the pipeline)
median() {
    tr ' ' '\n' | awk '/^[0-9]/' | sort -n |
        awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
best() { tr ' ' '\n' | awk '/^[0-9]/' | sort -n | awk 'NR == 1 { b = $1 } END { print (NR ? b : "-") }'; }
mean() { tr ' ' '\n' | awk '/^[0-9]/ { s += $1; n++ } END { if (n) printf "%d", s / n; else print "-" }'; }
declare -A MED=() BEST=() DURABLE_MED=() CPU_MEAN=() CLIENT_MEAN=() RATE_MIB=()
for key in "${!T[@]}"; do
    MED[$key]=$(median <<<"${T[$key]}")
    BEST[$key]=$(best <<<"${T[$key]}")
    DURABLE_MED[$key]=$(median <<<"${D[$key]}")
    CPU_MEAN[$key]=$(mean <<<"${C[$key]}")
    CLIENT_MEAN[$key]=$(mean <<<"${K[$key]}")
    bytes=$BIG_BYTES
    [[ "$key" != *-many-* ]] || bytes=$MANY_BYTES
    RATE_MIB[$key]=$(awk -v b="$bytes" -v s="${MED[$key]}" 'BEGIN { printf "%.0f", (s > 0 ? b / 1048576 / s : 0) }')
done

# ---------------------------------------------------------------------------------------------------------------
# row 5: manifest and blob GETs per second

cat >"$WORK/summary.lua" <<'LUA'
-- no request or response hook (they would cost wrk time per request): only the totals
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("requests %d\nbytes %d\nseconds %.6f\nstatus_errors %d\nsocket_errors %d\n",
        summary.requests, summary.bytes, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

OCI_MANIFEST='application/vnd.oci.image.manifest.v1+json'
BIG_LAYOUT="$WORK/layouts/big-1"
MANY_LAYOUT="$WORK/layouts/many-1"
BIG_DIGEST=$(oci_layout_manifest "$BIG_LAYOUT")
MANY_DIGEST=$(oci_layout_manifest "$MANY_LAYOUT")
CONFIG_DIGEST=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["config"]["digest"])' \
    "$BIG_LAYOUT/blobs/sha256/${BIG_DIGEST#sha256:}")
# a token of arca's token endpoint (it lives 300 s: one for each check and each wrk run)
fresh_token() {
    TOKEN=$(oci_token "${HOST[arca]}" admin "$ARCA_ADMIN_PW" "repository:docker-local/bench/big-1:pull") ||
        arca_die "no token from arca's token endpoint"
    [[ -n "$TOKEN" ]] || arca_die "arca's GET /v2/ asks for no Bearer token"
}

# request KIND SERVER — sets URL, H (curl/wrk header arguments), WANT_DIGEST and WANT_FILE (the body expected)
request() {
    local kind=$1 server=$2 base="http://${HOST[$2]}/v2/${NAME_PREFIX[$2]}"
    H=(-H "Accept: $OCI_MANIFEST")
    case "$kind" in
        manifest | manifest-token) URL="$base/big-1/manifests/latest" WANT_DIGEST=$BIG_DIGEST ;;
        manifest-many) URL="$base/many-1/manifests/latest" WANT_DIGEST=$MANY_DIGEST ;;
        config-blob) URL="$base/big-1/blobs/$CONFIG_DIGEST" WANT_DIGEST=$CONFIG_DIGEST H=() ;;
    esac
    WANT_FILE="$BIG_LAYOUT/blobs/sha256/${WANT_DIGEST#sha256:}"
    [[ "$kind" != manifest-many ]] || WANT_FILE="$MANY_LAYOUT/blobs/sha256/${WANT_DIGEST#sha256:}"
    if [[ "$kind-$server" == manifest-token-arca ]]; then
        fresh_token
        H+=(-H "Authorization: Bearer $TOKEN")
    fi
}

# check_answer KIND SERVER — one request with curl: 200, the digest, the body; prints the bytes of the answer
# (headers included), for the check of wrk's totals
check_answer() {
    local kind=$1 server=$2 out code hsize bsize digest
    request "$kind" "$server"
    out=$(curl -sS -o "$WORK/answer.raw" -D "$WORK/answer.headers" \
        -w '%{http_code} %{size_header} %{size_download}' "${H[@]}" "$URL") || arca_die "$kind, $server: GET $URL failed"
    read -r code hsize bsize <<<"$out"
    [[ "$code" == 200 ]] || arca_die "$kind, $server: GET $URL -> $code: $(head -c 300 "$WORK/answer.raw")"
    digest=$(tr -d '\r' <"$WORK/answer.headers" | sed -n 's/^docker-content-digest: *//Ip' | tail -n1)
    [[ "$digest" == "$WANT_DIGEST" ]] ||
        arca_die "$kind, $server: GET $URL: Docker-Content-Digest '$digest', expected $WANT_DIGEST"
    cmp -s "$WORK/answer.raw" "$WANT_FILE" || arca_die "$kind, $server: GET $URL: not the bytes of $WANT_DIGEST"
    echo $((hsize + bsize))
}

# wrk_rate KIND SERVER SIZE LABEL — requests/s of wrk -t1 -cCONNECTIONS -dDURATION; ERR(...) when an answer was not
# 2xx, a socket failed, or the bytes per answer are not those of the checked answer (±10 %)
wrk_rate() {
    local kind=$1 server=$2 size=$3 label=$4 out
    request "$kind" "$server"
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${H[@]}" -s "$WORK/summary.lua" "$URL" 2>&1) || {
        arca_warn "$label: wrk failed: $out"
        echo "ERR(wrk)"
        return 0
    }
    printf '== %s\n%s\n' "$label" "$out" >>"$WORK/wrk.log"
    awk -v size="$size" '
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

KINDS=(manifest manifest-token manifest-many config-blob)
declare -A SIZE=() RATE=()
for kind in "${KINDS[@]}"; do
    for server in registry arca; do
        SIZE[$kind-$server]=$(check_answer "$kind" "$server")
        request "$kind" "$server"
        wrk -t1 -c"$CONNECTIONS" -d1s "${H[@]}" "$URL" >/dev/null 2>&1 || true # warm-up
    done
done
for ((r = 1; r <= ROUNDS; r++)); do
    for kind in "${KINDS[@]}"; do
        line=""
        for server in registry arca; do
            rate=$(wrk_rate "$kind" "$server" "${SIZE[$kind-$server]}" "$kind, $server, round $r")
            line+=" $server $rate"
            # the best round: the highest rate; an error in any round is the value
            prev=${RATE[$kind-$server]:-0}
            if [[ "$prev" != ERR* ]] && { [[ "$rate" == ERR* ]] || ((rate > prev)); }; then
                RATE[$kind-$server]=$rate
            fi
        done
        arca_log "$kind requests/s, round $r:$line"
    done
done

# ---------------------------------------------------------------------------------------------------------------
# row 6: memory after the load

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ARCA_RSS=$(mib "$(status_kib "$ARCA_PID" VmRSS)")
ARCA_HWM=$(mib "$(status_kib "$ARCA_PID" VmHWM)")
REG_RSS=$(mib "$(status_kib "$OCI_REGISTRY_PID" VmRSS)")
REG_HWM=$(mib "$(status_kib "$OCI_REGISTRY_PID" VmHWM)")
ARCA_DISK=$(du -sb "$WORK/arca-home" | awk '{ printf "%.0f", $1 / 1048576 }')
REG_DISK=$(du -sb "$WORK/registry/data" | awk '{ printf "%.0f", $1 / 1048576 }')

# ---------------------------------------------------------------------------------------------------------------
# the table: arca, docker-registry, and how many times faster (or smaller) arca is; the goal of issue 23 is arca at
# least as fast on the four push and pull rows

MISSES=0
# row METRIC ARCA REGISTRY lower|higher goal|info — "lower": smaller is better (seconds, ms, MiB), the factor is
# registry/arca; "higher": larger is better (requests/s, MiB/s), arca/registry; a goal row is a PASS when the factor
# is at least 1
row() {
    local metric=$1 a=$2 v=$3 better=$4 res="(info)" factor="-"
    if [[ "$a" =~ ^[0-9.]+$ && "$v" =~ ^[0-9.]+$ ]]; then
        factor=$(awk -v a="$a" -v v="$v" -v b="$better" \
            'BEGIN { f = (b == "higher" ? (v > 0 ? a / v : 0) : (a > 0 ? v / a : 0)); printf "%.2fx", f }')
    fi
    if [[ "$5" == goal ]]; then
        res=MISS
        if [[ "$factor" != - ]] && awk -v f="${factor%x}" 'BEGIN { exit !(f >= 1) }'; then res=PASS; fi
        [[ "$res" == PASS ]] || MISSES=$((MISSES + 1))
    fi
    printf '%-56s %10s %10s %8s  %s\n' "$metric" "$a" "$v" "$factor" "$res"
}
med() { printf '%s' "${MED[$1]:--}"; }
REG_VERSION=$(docker-registry --version | awk '{print $NF}')
BIG_LABEL="$BIG_MIB MiB, 1 layer"
MANY_LABEL="$LAYERS layers ($((MANY_BYTES / 1048576)) MiB)"
printf '\n%-56s %10s %10s %8s  %s\n' "OCI: arca vs docker-registry $REG_VERSION, skopeo 1.9.3" arca registry "arca ×" goal
for image in big many; do
    label=$BIG_LABEL
    [[ "$image" == big ]] || label=$MANY_LABEL
    for op in push pull; do
        row "$op $label (s, median of $RUNS)" "$(med "$op-$image-arca")" "$(med "$op-$image-registry")" lower goal
        row "  $op, best (s)" "${BEST[$op-$image-arca]}" "${BEST[$op-$image-registry]}" lower info
        row "  $op, throughput of the median (MiB/s)" "${RATE_MIB[$op-$image-arca]}" \
            "${RATE_MIB[$op-$image-registry]}" higher info
        [[ "$op" != push ]] || row "  push + sync: on the disk (s, median)" "${DURABLE_MED[$op-$image-arca]}" \
            "${DURABLE_MED[$op-$image-registry]}" lower info
        row "  $op, server CPU (ms, mean)" "${CPU_MEAN[$op-$image-arca]}" "${CPU_MEAN[$op-$image-registry]}" lower info
        row "  $op, skopeo CPU (ms, mean)" "${CLIENT_MEAN[$op-$image-arca]}" "${CLIENT_MEAN[$op-$image-registry]}" \
            lower info
    done
    [[ "$image" != big ]] || {
        row "  GET of the layer, curl to /dev/null (s, median)" "$(med "get-big-arca")" "$(med "get-big-registry")" \
            lower info
        row "  GET of the layer, throughput (MiB/s)" "${RATE_MIB[get-big-arca]}" "${RATE_MIB[get-big-registry]}" \
            higher info
    }
done
rr() { printf '%s' "${RATE[$1]:--}"; }
row "manifest GET by tag, 1 layer, anonymous (req/s)" "$(rr manifest-arca)" "$(rr manifest-registry)" higher info
row "manifest GET, arca with a Bearer token (req/s)" "$(rr manifest-token-arca)" "$(rr manifest-token-registry)" \
    higher info
row "manifest GET, $LAYERS layers ($(wc -c <"$MANY_LAYOUT/blobs/sha256/${MANY_DIGEST#sha256:}") B) (req/s)" \
    "$(rr manifest-many-arca)" "$(rr manifest-many-registry)" higher info
row "blob GET, the config ($(wc -c <"$BIG_LAYOUT/blobs/sha256/${CONFIG_DIGEST#sha256:}") B) (req/s)" \
    "$(rr config-blob-arca)" "$(rr config-blob-registry)" higher info
row "RSS after the load (MiB, VmRSS)" "$ARCA_RSS" "$REG_RSS" lower info
row "peak RSS over the run (MiB, VmHWM)" "$ARCA_HWM" "$REG_HWM" lower info
row "disk used after the run (MiB; arca: its whole home)" "$ARCA_DISK" "$REG_DISK" lower info
printf '\nskopeo copy oci:LAYOUT → docker:// (push, fresh blobs each run) and docker:// → dir: (pull, checked after);\n'
printf 'arca with admin'"'"'s credentials (the token flow), docker-registry anonymous; %s runs, which server goes first\n' "$RUNS"
printf 'alternating. Requests/s: wrk -t1 -c%s -d%ss, keep-alive, best of %s rounds, anonymous unless said.\n' \
    "$CONNECTIONS" "$DURATION" "$ROUNDS"
printf 'After each operation, sync (untimed); push + sync: until the image was on the disk (both fsync before answering).\n'
printf 'arca ×: registry/arca for times, CPU and memory, arca/registry for rates (above 1: arca better).\n'
printf '%s of the goal rows missed (arca slower than docker-registry).\n' "$MISSES"

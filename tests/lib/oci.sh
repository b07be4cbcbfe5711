# shellcheck shell=bash
# The OCI side of arca's tests: the clients (skopeo, podman, oras-py), a real registry (Debian's docker-registry,
# the CNCF distribution 2.8) as the upstream of arca's docker remote repositories and the benchmark's baseline, and
# the images they push. Used by tests/clients/oci.sh (and the cluster test and benchmark). Source it after
# tests/lib/arca.sh (it uses arca_free_port, arca_wait_for, arca_wait_exit, arca_on_exit, arca_apt_ensure, arca_log,
# arca_die). Needs root: podman's storage and the mount namespace below.
#
#   oci_tools                     the Debian packages (OCI_DEBS, unless ARCA_SKIP_INSTALL=1) and the oras-py venv
#                                 (OCI_ORAS_PINS from PyPI), once, into $OCI_ROOT/oras-KEY; sets OCI_PY (its python)
#   oci_clients DIR               a private configuration for podman and skopeo in DIR (below); sets OCI_DIR. Call it
#                                 with another DIR for a second, independent client (fresh storage, no login), and
#                                 with the first DIR again to go back to the first one
#   oci_insecure HOST             plain HTTP for HOST (127.0.0.1:PORT) in the clients' registries.conf (the tests
#                                 still say --tls-verify=false where a command takes it)
#   oci_podman ARGS...            podman in that configuration (its storage: DIR/storage)
#   oci_skopeo ARGS...            skopeo in that configuration (the policy in DIR: accept anything)
#   oci_oras ARGS...              tests/lib/oci_oras.py on the venv's python (`oci_oras --help`): push, pull, tags,
#                                 descriptor, attach (a referrer: an artifact manifest whose `subject` is an image),
#                                 referrers; HOME is DIR/home (no ~/.docker/config.json of the caller's)
#   oci_token HOST USER PASSWORD SCOPE
#                                 prints a registry token for SCOPE (repository:NAME:pull,push) by the Bearer
#                                 challenge of GET /v2/ (realm, service); prints nothing when /v2/ does not ask for one
#   oci_registry_start DIR        docker-registry on a free port of 127.0.0.1, filesystem storage in DIR/data, deletes
#                                 enabled, no auth; sets OCI_REGISTRY_HOST (127.0.0.1:PORT), OCI_REGISTRY_PID,
#                                 OCI_REGISTRY_LOG (its access log: one line a request)
#   oci_registry_stop             stops it (also done at exit; safe to call twice)
#   oci_build_image TAG LAYER...  `podman build --network=none --timestamp 0 --no-cache` of a FROM scratch
#                                 Containerfile with one COPY (one layer) per LAYER: a host file or directory (as
#                                 /lN/NAME), or random:MIB (a file of MIB MiB of random data); the same files give
#                                 the same image ID
#   oci_build_index NAME          a multi-arch image list NAME (podman manifest create + add) of two FROM scratch
#                                 images built with --platform linux/amd64 and linux/arm64 (a file naming the platform,
#                                 and /usr/lib/os-release as a layer they share), tagged NAME-amd64 / NAME-arm64 (or
#                                 NAME:amd64 when NAME has no tag); sets OCI_INDEX_CONFIG[amd64|arm64] (the images'
#                                 config digests). Push it with `oci_podman manifest push --all NAME docker://…`
#   oci_export_layout TAG DIR     the image TAG of podman's storage as an OCI layout in DIR (`podman push TAG
#                                 oci:DIR:latest`: gzip layers), to compare pulled blobs with (oci_same_blobs)
#   oci_random_layer_image TAG MIB
#   oci_many_layers_image TAG N [KIB]
#                                 for the big-image tests and the benchmark: an OCI layout written directly (no build)
#                                 with one layer of MIB MiB of random data, or N layers of KIB KiB (default 16) of
#                                 random data each (gzip without compression, so no client spends time compressing
#                                 it), in DIR/layouts/NAME, then imported as TAG into podman's storage (`skopeo copy
#                                 oci:… containers-storage:TAG`); sets OCI_LAYOUT (the dir) and OCI_LAYOUT_REF
#                                 (oci:DIR:latest, for skopeo copy)
#   oci_layout_variants PREFIX VARIANTS SIZE...
#                                 VARIANTS OCI layouts PREFIX-1 … (tag latest) of one image each, a layer of SIZE bytes
#                                 of random data per SIZE, every variant's blobs new (tests/lib/oci_layouts.py): the
#                                 big images of tests/clients/oci-cluster.sh and tests/bench/oci.sh, no podman needed
#   oci_layout_manifest LAYOUT    the digest of the manifest of the image in the OCI layout LAYOUT
#   oci_same_blobs LAYOUT DIR     fails (naming the first difference) unless every blob of the image in the OCI
#                                 layout (manifest, config, layers) is in DIR (what `skopeo copy … dir:DIR` wrote),
#                                 byte for byte
#
# Isolation: each podman and skopeo command runs with CONTAINERS_CONF, CONTAINERS_STORAGE_CONF,
# CONTAINERS_REGISTRIES_CONF, REGISTRY_AUTH_FILE (DIR/auth.json), HOME, XDG_* and TMPDIR pointing into DIR, so nothing
# reads or writes ~/.config, ~/.docker, /var/tmp or the machine's storage; podman's runtime files are in DIR too. As
# root, both keep a blob-info cache in /var/lib/containers/cache whatever the configuration says, so each command
# runs in a mount namespace of its own (unshare) where /var/lib is an overlay of the real one with a throw-away upper
# dir, /var/lib/containers/cache is DIR/blob-info-cache and /var/tmp is DIR/tmp (where some of podman's code paths
# put temporary files whatever TMPDIR says): the machine's /var/lib and /var/tmp stay untouched, and the client
# remembers which blobs it pushed where for the rest of the test, as a real one does (so it tries cross-repository
# mounts). Commands may run in parallel (each has its own overlay).
#
# Env: ARCA_OCI_CACHE (default /var/cache/arca-test/oci), ARCA_SKIP_INSTALL=1.

OCI_DEBS=(skopeo podman runc docker-registry busybox-static)
OCI_ORAS_PINS=(pip==26.3 oras==0.2.43)
OCI_ROOT=${ARCA_OCI_CACHE:-/var/cache/arca-test/oci}
OCI_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

OCI_PY=""
OCI_DIR=""
OCI_LAYOUT=""
OCI_LAYOUT_REF=""
OCI_REGISTRY_HOST=""
OCI_REGISTRY_PID=""
OCI_REGISTRY_LOG=""
declare -gA OCI_INDEX_CONFIG=()
_OCI_REGISTRY_STOP_REGISTERED=0

_oci_python() { command -v python3 || arca_die "python3 is not installed"; }

oci_tools() {
    local key dir c
    ((EUID == 0)) || arca_die "the OCI tests run podman and skopeo as root (their storage, mount namespaces)"
    if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
        arca_apt_ensure "${OCI_DEBS[@]}"
        "$(_oci_python)" -c 'import ensurepip, venv' 2>/dev/null || arca_apt_ensure python3-venv
    fi
    for c in skopeo podman runc docker-registry unshare mount curl; do
        command -v "$c" >/dev/null 2>&1 || arca_die "$c is not installed (Debian: ${OCI_DEBS[*]})"
    done
    key=$( {
        printf '%s\n' "${OCI_ORAS_PINS[@]}"
        "$(_oci_python)" -c 'import sys; print(sys.version.replace("\n", " "), sys.prefix)'
    } | sha256sum | cut -c1-16)
    dir=$OCI_ROOT/oras-$key
    # made in place (a venv's scripts name its path), .installed written last: a half-made one is made again
    if [[ ! -f "$dir/.installed" ]]; then
        "$(_oci_python)" -c 'import ensurepip, venv' 2>/dev/null || arca_die "python3 has no venv/ensurepip (python3-venv)"
        arca_log "creating the oras-py venv (${OCI_ORAS_PINS[*]}) in $dir (once)"
        rm -rf -- "$dir"
        mkdir -p "$dir"
        {
            "$(_oci_python)" -m venv "$dir/venv" &&
                _oci_venv_pip "$dir/venv" "${OCI_ORAS_PINS[0]}" &&
                _oci_venv_pip "$dir/venv" "${OCI_ORAS_PINS[@]:1}"
        } >"$dir/pip.log" 2>&1 || {
            tail -n 20 "$dir/pip.log" >&2
            rm -rf -- "$dir"
            arca_die "pip install of oras-py into $dir failed"
        }
        printf '%s\n' "${OCI_ORAS_PINS[@]}" >"$dir/.installed"
        # venvs of other pins are of no use any more
        find "$OCI_ROOT" -maxdepth 1 -name 'oras-*' ! -name "oras-$key" -exec rm -rf -- {} +
    fi
    OCI_PY=$dir/venv/bin/python
}

# _oci_venv_pip VENV PIN... — from PyPI, no cache, no config files, none of the caller's PIP_* settings but how to
# reach PyPI
_oci_venv_pip() {
    local venv=$1 v unset=()
    shift
    for v in $(compgen -v PIP_); do
        case "$v" in
            PIP_CERT | PIP_CLIENT_CERT | PIP_PROXY | PIP_DEFAULT_TIMEOUT) ;;
            *) unset+=(-u "$v") ;;
        esac
    done
    env "${unset[@]}" PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
        "$venv/bin/python" -m pip install -q --no-cache-dir "$@"
}

# ---------------------------------------------------------------------------------------------------------------
# the clients' private configuration

oci_clients() {
    local dir=$1
    mkdir -p "$dir"/{home,tmp,run,storage/root,storage/run,blob-info-cache,ns,libpod,volumes}
    dir=$(cd "$dir" && pwd)
    # runc: crun fails on this machine's cgroup setup; no network namespaces (builds run with --network=none, and
    # the default network leaves iptables chains behind); limits a shell without CAP_SYS_RESOURCE can set
    cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/run/events.log"
tmp_dir = "$dir/run/libpod"
static_dir = "$dir/libpod"
volume_path = "$dir/volumes"
image_copy_tmp_dir = "$dir/tmp"
EOF
    cat >"$dir/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/storage/root"
runroot = "$dir/storage/run"
EOF
    # no short names: every image is named with its registry (kept when DIR is used again: oci_insecure's hosts)
    [[ -s "$dir/registries.conf" ]] ||
        printf 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n' >"$dir/registries.conf"
    printf '{"default": [{"type": "insecureAcceptAnything"}]}\n' >"$dir/policy.json"
    # (podman and skopeo refuse an auth file that does not exist)
    [[ -s "$dir/auth.json" ]] || printf '{}\n' >"$dir/auth.json"
    printf '{}\n' >"$dir/no-auth.json"
    OCI_DIR=$dir
}

oci_insecure() {
    [[ -n "$OCI_DIR" ]] || arca_die "oci_insecure: call oci_clients first"
    grep -qF "location = \"$1\"" "$OCI_DIR/registries.conf" ||
        printf '\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$1" >>"$OCI_DIR/registries.conf"
}

# _oci_isolated CMD... — CMD in the private configuration and a mount namespace of its own (see the header)
_oci_isolated() {
    [[ -n "$OCI_DIR" ]] || arca_die "call oci_clients DIR before using podman or skopeo"
    local ns rc=0
    ns=$(mktemp -d "$OCI_DIR/ns/XXXXXX")
    mkdir -p "$ns/upper" "$ns/work"
    # shellcheck disable=SC2016 # the inner sh expands them
    env CONTAINERS_CONF="$OCI_DIR/containers.conf" CONTAINERS_STORAGE_CONF="$OCI_DIR/storage.conf" \
        CONTAINERS_REGISTRIES_CONF="$OCI_DIR/registries.conf" REGISTRY_AUTH_FILE="$OCI_DIR/auth.json" \
        HOME="$OCI_DIR/home" XDG_CONFIG_HOME="$OCI_DIR/home/.config" XDG_DATA_HOME="$OCI_DIR/home/.local/share" \
        XDG_CACHE_HOME="$OCI_DIR/home/.cache" DOCKER_CONFIG="$OCI_DIR/home/.docker" TMPDIR="$OCI_DIR/tmp" \
        _OCI_NS="$ns" _OCI_CACHE="$OCI_DIR/blob-info-cache" \
        unshare --mount --propagation private -- sh -c '
            mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$_OCI_NS/upper,workdir=$_OCI_NS/work" /var/lib &&
            mkdir -p /var/lib/containers/cache &&
            mount --bind "$_OCI_CACHE" /var/lib/containers/cache &&
            mount --bind "$TMPDIR" /var/tmp || {
                echo "oci.sh: could not set up the mount namespace of $1" >&2
                exit 125
            }
            unset _OCI_NS _OCI_CACHE
            exec "$@"' sh "$@" || rc=$?
    rm -rf -- "$ns"
    return "$rc"
}

oci_podman() { _oci_isolated podman "$@"; }
oci_skopeo() { _oci_isolated skopeo --policy "$OCI_DIR/policy.json" --tmpdir "$OCI_DIR/tmp" "$@"; }

oci_oras() {
    [[ -n "$OCI_PY" ]] || oci_tools
    [[ -n "$OCI_DIR" ]] || arca_die "call oci_clients DIR before oci_oras"
    HOME="$OCI_DIR/home" DOCKER_CONFIG="$OCI_DIR/home/.docker" TMPDIR="$OCI_DIR/tmp" \
        "$OCI_PY" "$OCI_LIB_DIR/oci_oras.py" "$@"
}

oci_token() {
    local host=$1 user=$2 password=$3 scope=$4 challenge realm service
    challenge=$(curl -sS --max-time 30 -o /dev/null -D - "http://$host/v2/" | tr -d '\r' |
        sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *[Bb]earer *//p')
    [[ -n "$challenge" ]] || return 0
    realm=$(sed -n 's/.*realm="\([^"]*\)".*/\1/p' <<<"$challenge")
    service=$(sed -n 's/.*service="\([^"]*\)".*/\1/p' <<<"$challenge")
    [[ -n "$realm" ]] || {
        arca_warn "oci_token: no realm in the challenge of http://$host/v2/: $challenge"
        return 1
    }
    curl -fsS --max-time 30 -G -u "$user:$password" --data-urlencode "service=$service" \
        --data-urlencode "scope=$scope" "$realm" |
        python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("token") or d["access_token"])'
}

# ---------------------------------------------------------------------------------------------------------------
# docker-registry

oci_registry_start() {
    local dir=$1 attempt port
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    OCI_REGISTRY_LOG=$dir/registry.log
    if ((!_OCI_REGISTRY_STOP_REGISTERED)); then
        arca_on_exit oci_registry_stop
        _OCI_REGISTRY_STOP_REGISTERED=1
    fi
    for attempt in 1 2 3; do
        port=$(arca_free_port)
        # the packaged defaults (in-memory blob descriptor cache) without its htpasswd auth; only the access log
        # (one line a request) besides warnings
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/data
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: arca-test-$RANDOM$RANDOM
  headers:
    X-Content-Type-Options: [nosniff]
EOF
        docker-registry serve "$dir/config.yml" >>"$OCI_REGISTRY_LOG" 2>&1 &
        OCI_REGISTRY_PID=$!
        OCI_REGISTRY_HOST=127.0.0.1:$port
        if arca_wait_for 30 "docker-registry on $OCI_REGISTRY_HOST" curl -fsS -o /dev/null "http://$OCI_REGISTRY_HOST/v2/"; then
            break
        fi
        oci_registry_stop
        if ((attempt == 3)) || ! grep -qi 'address already in use' "$OCI_REGISTRY_LOG"; then
            tail -n 20 "$OCI_REGISTRY_LOG" >&2
            arca_die "docker-registry did not start (log: $OCI_REGISTRY_LOG)"
        fi
    done
    arca_log "docker-registry $(docker-registry --version | awk '{print $NF}') is up at $OCI_REGISTRY_HOST (pid $OCI_REGISTRY_PID)"
}

oci_registry_stop() {
    local pid=$OCI_REGISTRY_PID
    [[ -n "$pid" ]] || return 0
    OCI_REGISTRY_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        arca_wait_exit "$pid" 50 || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------------------------
# images

# _oci_build CONTEXT ARGS... — podman build of CONTEXT (its Containerfile), its output in CONTEXT.log
_oci_build() {
    local ctx=$1
    shift
    # --no-cache: buildah's cache of intermediate images would answer a build for another platform with the image
    # of the first one (--layers=false would avoid that too, but it makes a single layer of all the COPY steps)
    oci_podman build --network=none --timestamp 0 --no-cache "$@" "$ctx" >"$ctx.log" 2>&1 || {
        tail -n 20 "$ctx.log" >&2
        arca_die "podman build $* of $ctx failed (log: $ctx.log)"
    }
}

# a name for a dir made from an image reference
_oci_slug() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

oci_build_image() {
    local tag=$1 ctx n=0 layer
    shift
    (($#)) || arca_die "oci_build_image $tag: no layers"
    ctx=$OCI_DIR/build/$(_oci_slug "$tag")
    rm -rf -- "$ctx"
    mkdir -p "$ctx"
    echo 'FROM scratch' >"$ctx/Containerfile"
    for layer in "$@"; do
        n=$((n + 1))
        mkdir -p "$ctx/l$n"
        case "$layer" in
            random:*)
                head -c "$((${layer#random:} * 1048576))" /dev/urandom >"$ctx/l$n/random-${layer#random:}MiB.bin"
                ;;
            *)
                [[ -e "$layer" ]] || arca_die "oci_build_image $tag: no file $layer"
                cp -rL -- "$layer" "$ctx/l$n/"
                ;;
        esac
        echo "COPY l$n /l$n" >>"$ctx/Containerfile"
    done
    _oci_build "$ctx" -t "$tag"
    rm -rf -- "$ctx"
}

oci_build_index() {
    local name=$1 arch ctx image
    OCI_INDEX_CONFIG=()
    for arch in amd64 arm64; do
        image=$(_oci_index_image "$name" "$arch")
        ctx=$OCI_DIR/build/$(_oci_slug "$image")
        rm -rf -- "$ctx"
        mkdir -p "$ctx"
        cp /usr/lib/os-release "$ctx/os-release"
        printf 'linux/%s\n' "$arch" >"$ctx/platform.txt"
        # no RUN step: nothing runs, so no emulation of the other architecture
        printf 'FROM scratch\nCOPY os-release /etc/os-release\nCOPY platform.txt /etc/platform.txt\n' >"$ctx/Containerfile"
        _oci_build "$ctx" --platform "linux/$arch" -t "$image"
        rm -rf -- "$ctx"
        # shellcheck disable=SC2034 # for the scripts that source this file
        OCI_INDEX_CONFIG[$arch]=sha256:$(oci_podman image inspect --format '{{.Id}}' "$image")
    done
    oci_podman manifest rm "$name" >/dev/null 2>&1 || true
    oci_podman manifest create "$name" >/dev/null || arca_die "podman manifest create $name failed"
    for arch in amd64 arm64; do
        oci_podman manifest add "$name" "containers-storage:$(_oci_index_image "$name" "$arch")" >/dev/null ||
            arca_die "podman manifest add $name $arch failed"
    done
}
# the name of NAME's image for ARCH
_oci_index_image() {
    if [[ "${1##*/}" == *:* ]]; then
        printf '%s-%s' "$1" "$2"
    else
        printf '%s:%s' "$1" "$2"
    fi
}

oci_export_layout() {
    local tag=$1 dir=$2
    rm -rf -- "$dir"
    mkdir -p "$(dirname "$dir")"
    oci_podman push -q "$tag" "oci:$dir:latest" >/dev/null || arca_die "podman push $tag oci:$dir failed"
}

oci_random_layer_image() {
    local tag=$1 mib=$2
    _oci_layout_image "$tag" "$((mib * 1048576))"
}

oci_many_layers_image() {
    local tag=$1 n=$2 kib=${3:-16} sizes=() i
    for ((i = 0; i < n; i++)); do sizes+=("$((kib * 1024))"); done
    _oci_layout_image "$tag" "${sizes[@]}"
}

# _oci_layout_image TAG SIZE... — an OCI layout (one layer of SIZE bytes of random data per SIZE) in
# DIR/layouts/NAME, imported into podman's storage as TAG
_oci_layout_image() {
    local tag=$1
    shift
    OCI_LAYOUT=$OCI_DIR/layouts/$(_oci_slug "$tag")
    rm -rf -- "$OCI_LAYOUT"
    mkdir -p "$OCI_LAYOUT"
    # streamed (a 1 GiB layer never sits in memory); gzip level 0 is a valid gzip stream the clients push as it is
    "$(_oci_python)" - "$OCI_LAYOUT" "$@" <<'PY' || arca_die "could not write the OCI layout $OCI_LAYOUT"
import gzip, hashlib, json, os, sys, tarfile

out, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

class Hashing:
    """A file that hashes what is written to it (and keeps it, when given a file)."""
    def __init__(self, f=None):
        self.f, self.h, self.n = f, hashlib.sha256(), 0
    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        if self.f:
            self.f.write(b)
        return len(b)

class Random:
    def read(self, n=-1):
        return os.urandom(n if n > 0 else 1 << 20)

def store(tmp, digest):
    os.replace(tmp, os.path.join(blobs, digest))
    return "sha256:" + digest

def put(data):
    tmp = os.path.join(blobs, ".new")
    with open(tmp, "wb") as f:
        f.write(data)
    return store(tmp, hashlib.sha256(data).hexdigest())

layers, diff_ids = [], []
for i, size in enumerate(sizes):
    tmp = os.path.join(blobs, ".layer")
    with open(tmp, "wb") as f:
        gz_out = Hashing(f)
        with gzip.GzipFile(fileobj=gz_out, mode="wb", compresslevel=0, mtime=0) as gz:
            tar_out = Hashing(gz)
            with tarfile.open(fileobj=tar_out, mode="w|", format=tarfile.PAX_FORMAT) as t:
                info = tarfile.TarInfo(f"data/layer-{i:04d}.bin")
                info.size, info.mode, info.mtime = size, 0o644, 0
                t.addfile(info, Random())
    diff_ids.append("sha256:" + tar_out.h.hexdigest())
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": store(tmp, gz_out.h.hexdigest()), "size": gz_out.n})
config = json.dumps({
    "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux", "config": {},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/lib/oci.sh"} for _ in sizes],
}, separators=(",", ":")).encode()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
    "layers": layers,
}, separators=(",", ":")).encode()
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
PY
    OCI_LAYOUT_REF=oci:$OCI_LAYOUT:latest
    oci_skopeo copy -q "$OCI_LAYOUT_REF" "containers-storage:$tag" >"$OCI_LAYOUT.log" 2>&1 || {
        tail -n 20 "$OCI_LAYOUT.log" >&2
        arca_die "skopeo copy $OCI_LAYOUT_REF containers-storage:$tag failed"
    }
}

oci_layout_variants() {
    python3 "$(dirname "${BASH_SOURCE[0]}")/oci_layouts.py" "$@" || arca_die "could not write the OCI layouts $1-*"
}

oci_layout_manifest() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"
}

oci_same_blobs() {
    "$(_oci_python)" - "$1" "$2" <<'PY'
import hashlib, json, os, sys

layout, pulled = sys.argv[1], sys.argv[2]

def blob(digest):
    algo, hexdigest = digest.split(":", 1)
    return os.path.join(layout, "blobs", algo, hexdigest)

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

index = json.load(open(os.path.join(layout, "index.json")))
if len(index["manifests"]) != 1:
    sys.exit(f"{layout}: {len(index['manifests'])} manifests in index.json, expected 1")
manifest_digest = index["manifests"][0]["digest"]
manifest = json.load(open(blob(manifest_digest)))
# skopeo's dir: transport keeps the manifest as manifest.json and each blob as a file named by its hex digest
pairs = [(manifest_digest, os.path.join(pulled, "manifest.json"))]
for d in [manifest["config"]] + manifest["layers"]:
    pairs.append((d["digest"], os.path.join(pulled, d["digest"].split(":", 1)[1])))
for digest, path in pairs:
    if not os.path.exists(path):
        sys.exit(f"{digest}: not in {pulled}")
    got = sha256(path)
    if "sha256:" + got != digest:
        sys.exit(f"{digest}: {path} has sha256 {got}")
print(f"{len(pairs)} blobs identical")
PY
}

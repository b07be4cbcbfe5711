# shellcheck shell=bash
# The PyPI side of arca's tests: the Python tools (pip, twine, build, uv), a real PyPI server (pypiserver 2.4.2) as
# the upstream of arca's pypi remote repositories, and the fixture both serve. Used by tests/clients/pypi.sh,
# tests/clients/pypi-cluster.sh and tests/bench/pypi.sh. Source it after tests/lib/arca.sh (it uses arca_free_port,
# arca_wait_for, arca_wait_exit, arca_on_exit, arca_apt_ensure, arca_log, arca_die).
#
#   pypi_tools                    the tools venv (PYPI_TOOL_PINS from PyPI), once, into $PYPI_ROOT/tools-KEY; sets
#                                 PYPI_TOOLS (the venv) and PYPI_PY (its python)
#   pypi_fixture                  the fixture (below), built once into $PYPI_ROOT/fixture-KEY; sets PYPI_FIXTURE (its
#                                 dir), PYPI_FIXTURE_REQS (the requirements file with --hash lines), PYPI_FIXTURE_LIST
#                                 ("project version wheel" lines of every wheel the peer serves: the real packages
#                                 and Debian's wheels)
#   pypi_build SRC OUT            `python -m build` (sdist + wheel, no isolation: the backends are in the tools venv)
#                                 of a copy of the project in SRC, into OUT
#   pypi_venv DIR                 a fresh, empty venv (no pip in it: pypi_pip runs the tools' pip against it)
#   pypi_pip VENV ARGS...         the tools' pinned pip on VENV's interpreter (`pip --python`), no config files, no
#                                 version check, no prompts, none of the caller's PIP_* settings, PYPI_TIMEOUT
#                                 seconds at most (300)
#   pypi_tools_pip ARGS...        the same pip on the tools venv itself (its build backends: --no-build-isolation)
#   pypi_uv ARGS...               the tools' uv, the same way (its cache: PYPI_UV_CACHE)
#   pypi_twine ARGS...            the tools' twine, the same way (no keyring)
#   pypi_peer_start DIR           pypiserver on a free port of 127.0.0.1 serving DIR/packages (the fixture's wheels
#                                 copied in), uploads for user PYPI_PEER_USER (password PYPI_PEER_PW); sets
#                                 PYPI_PEER_URL (no trailing slash; its index is $PYPI_PEER_URL/simple/),
#                                 PYPI_PEER_PID, PYPI_PEER_LOG
#   pypi_peer_file_gets           "COUNT FILENAME" for each file the peer has served (GET /packages/…, from its log)
#   pypi_peer_stop                stops it (also done at exit; safe to call twice)
#   pypi_devpi_start DIR          optional second peer, for the benchmark: devpi-server 6.20.3 (its own venv, once,
#                                 PYPI_DEVPI_PINS) in offline mode on a free port, index peer/dev holding the fixture's
#                                 wheels (twine, user peer, password DEVPI_PW); sets DEVPI_URL (the index, no trailing
#                                 slash: its simple index is $DEVPI_URL/+simple/), DEVPI_PID, DEVPI_LOG; returns 1 with
#                                 a warning when devpi does not install or start (the caller goes on without it)
#   pypi_devpi_stop               stops it (also done at exit)
#
# The fixture: (a) the real pure-Python packages pinned in tests/fixtures/pypi/real-packages.txt (requests and its
# four dependencies, attrs, six, python-dateutil, packaging, …), fetched once from PyPI as sdists (`pip download
# --no-binary :all: --no-deps`) and built here into wheels (`pip wheel --no-deps`; only this step reaches PyPI, for
# the build backends); (b) the wheels Debian ships in /usr/share/python-wheels (PYPI_FIXTURE_DEBS, apt-get installed
# unless ARCA_SKIP_INSTALL=1). The requirements file pins the real packages with the sha256 of the wheels built here.
# Its cache entry is named by the pins, the Python version and the Debian packages' versions.
# The projects of our own (tests/fixtures/pypi/projects) are built by the tests themselves with pypi_build.
#
# pypiserver runs with its production extras (Paste's threaded server, watchdog for its cached-dir backend): the
# fairer baseline for tests/bench/pypi.sh; its access log has one line per request.
#
# Env: ARCA_PYPI_CACHE (default /var/cache/arca-test/pypi), ARCA_SKIP_INSTALL=1.

PYPI_TOOL_PINS=(pip==26.3 twine==7.0.0 build==1.6.1 uv==0.13.10 pypiserver==2.4.2 passlib==1.7.4 paste==3.10.1
    watchdog==7.1.1 setuptools==84.2.1 flit-core==4.2.0)
PYPI_DEVPI_PINS=(pip==26.3 devpi-server==6.20.3 devpi-client==7.3.0)
PYPI_FIXTURE_DEBS=(python3-pip-whl python3-setuptools-whl python3-wheel-whl)
PYPI_ROOT=${ARCA_PYPI_CACHE:-/var/cache/arca-test/pypi}
PYPI_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/pypi" && pwd)"

PYPI_TOOLS=""
PYPI_PY=""
PYPI_FIXTURE=""
PYPI_FIXTURE_REQS=""
PYPI_FIXTURE_LIST=""
PYPI_PEER_URL=""
PYPI_PEER_PID=""
PYPI_PEER_LOG=""
PYPI_PEER_USER=peer
PYPI_PEER_PW=""
DEVPI_URL=""
DEVPI_PID=""
DEVPI_LOG=""
_PYPI_STOP_REGISTERED=0
_DEVPI_STOP_REGISTERED=0

# The interpreter the venvs are made from, and what names it in the cache keys.
_pypi_python() { command -v python3 || arca_die "python3 is not installed"; }
_pypi_python_id() { "$(_pypi_python)" -c 'import sys; print(sys.version.replace("\n", " "), sys.prefix)'; }

pypi_tools() {
    local key dir
    key=$( {
        printf '%s\n' "${PYPI_TOOL_PINS[@]}"
        _pypi_python_id
    } | sha256sum | cut -c1-16)
    dir=$PYPI_ROOT/tools-$key
    # made in place (a venv's scripts name its path), .installed written last: a half-made one is made again
    if [[ ! -f "$dir/.installed" ]]; then
        "$(_pypi_python)" -c 'import ensurepip, venv' 2>/dev/null || arca_die "python3 has no venv/ensurepip (python3-venv)"
        arca_log "creating the PyPI tools venv (${PYPI_TOOL_PINS[*]}) in $dir (once)"
        rm -rf -- "$dir"
        mkdir -p "$dir"
        # pip first: the others are installed by the pinned pip
        {
            "$(_pypi_python)" -m venv "$dir/venv" &&
                _pypi_tools_pip "$dir/venv" "${PYPI_TOOL_PINS[0]}" &&
                _pypi_tools_pip "$dir/venv" "${PYPI_TOOL_PINS[@]:1}"
        } >"$dir/pip.log" 2>&1 || {
            tail -n 20 "$dir/pip.log" >&2
            rm -rf -- "$dir"
            arca_die "pip install of the PyPI tools into $dir failed"
        }
        printf '%s\n' "${PYPI_TOOL_PINS[@]}" >"$dir/.installed"
        # tools venvs of other pins are of no use any more
        find "$PYPI_ROOT" -maxdepth 1 -name 'tools-*' ! -name "tools-$key" -exec rm -rf -- {} +
    fi
    PYPI_TOOLS=$dir/venv
    PYPI_PY=$PYPI_TOOLS/bin/python
}
_pypi_tools_pip() { # _pypi_tools_pip VENV PIN... — from PyPI, no cache, no config
    local venv=$1 PYPI_ENV
    shift
    _pypi_env
    "${PYPI_ENV[@]}" "$venv/bin/python" -m pip install -q --no-cache-dir "$@"
}

# The Debian packages of the fixture that this machine has (python3-wheel-whl is not in every release), with versions.
_pypi_fixture_debs() {
    local p
    for p in "${PYPI_FIXTURE_DEBS[@]}"; do
        dpkg-query -W -f='${Package} ${Version} ${db:Status-Status}\n' "$p" 2>/dev/null | awk '$3 == "installed" {print $1, $2}'
    done
}

pypi_fixture() {
    local key dir tmp p
    [[ -n "$PYPI_PY" ]] || pypi_tools
    if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
        for p in "${PYPI_FIXTURE_DEBS[@]}"; do
            # only the ones this Debian release has
            [[ -z "$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}')" ]] ||
                arca_apt_ensure "$p"
        done
    fi
    key=$( {
        grep -v '^#' "$PYPI_SRC/real-packages.txt"
        _pypi_python_id
        _pypi_fixture_debs
    } | sha256sum | cut -c1-16)
    dir=$PYPI_ROOT/fixture-$key
    if [[ ! -f "$dir/requirements.txt" ]]; then
        mkdir -p "$PYPI_ROOT"
        tmp=$(mktemp -d "$PYPI_ROOT/fixture.new.XXXXXX")
        arca_log "building the PyPI fixture into $dir (once): sdists from PyPI, wheels built here"
        grep -v '^#' "$PYPI_SRC/real-packages.txt" >"$tmp/real-packages.txt"
        # (the wheels' build backends come from PyPI too: pip's isolated builds)
        if ! {
            pypi_tools_pip download -q --cache-dir "$tmp/.pip-cache" --no-binary :all: --no-deps \
                -d "$tmp/sdists" -r "$tmp/real-packages.txt" &&
                pypi_tools_pip wheel -q --cache-dir "$tmp/.pip-cache" --no-deps -w "$tmp/wheels" "$tmp"/sdists/*
        } >"$tmp/build.log" 2>&1; then
            tail -n 20 "$tmp/build.log" >&2
            rm -rf -- "$tmp"
            arca_die "the PyPI fixture: pip download/wheel of tests/fixtures/pypi/real-packages.txt failed"
        fi
        rm -rf -- "$tmp/.pip-cache"
        mkdir -p "$tmp/debian"
        _pypi_fixture_debs >"$tmp/debian/packages.txt"
        if [[ -s "$tmp/debian/packages.txt" ]]; then
            cp /usr/share/python-wheels/*.whl "$tmp/debian/"
        fi
        "$PYPI_PY" - "$tmp" <<'PY' || {
import email.parser, hashlib, os, re, sys, zipfile

root = sys.argv[1]
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

wheels = {}  # normalised project -> (version, relative path)
listing = []
for sub in ("wheels", "debian"):
    for f in sorted(os.listdir(os.path.join(root, sub))):
        if not f.endswith(".whl"):
            continue
        if not f.endswith("-none-any.whl"):
            sys.exit(f"{sub}/{f}: not a pure-Python wheel")
        path = os.path.join(root, sub, f)
        with zipfile.ZipFile(path) as z:
            meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
            if len(meta) != 1:
                sys.exit(f"{sub}/{f}: {len(meta)} METADATA files")
            headers = email.parser.BytesParser().parsebytes(z.read(meta[0]), headersonly=True)
        name, version = norm(headers["Name"]), headers["Version"]
        listing.append(f"{name} {version} {sub}/{f}")
        if sub == "wheels":
            wheels[name] = (version, f"{sub}/{f}")
reqs = []
for line in open(os.path.join(root, "real-packages.txt")):
    line = line.strip()
    if not line:
        continue
    name, version = line.split("==")
    got = wheels.get(norm(name))
    if got is None or got[0] != version:
        sys.exit(f"{line}: the wheel built is {got}")
    digest = hashlib.sha256(open(os.path.join(root, got[1]), "rb").read()).hexdigest()
    reqs.append(f"{norm(name)}=={version} \\\n    --hash=sha256:{digest}\n")
if len(reqs) != len(wheels):
    sys.exit(f"{len(wheels)} wheels for {len(reqs)} pins")
with open(os.path.join(root, "packages.txt"), "w") as out:
    out.write("\n".join(listing) + "\n")
with open(os.path.join(root, "requirements.txt"), "w") as out:
    out.write("".join(reqs))
PY
            rm -rf -- "$tmp"
            arca_die "the PyPI fixture: the wheels built are not the pinned ones"
        }
        # older fixtures (other pins, Python or Debian versions) are of no use any more
        find "$PYPI_ROOT" -maxdepth 1 -name 'fixture-*' -exec rm -rf -- {} +
        mv "$tmp" "$dir"
    fi
    PYPI_FIXTURE=$dir
    # shellcheck disable=SC2034 # for the scripts that source this file
    PYPI_FIXTURE_REQS=$dir/requirements.txt
    PYPI_FIXTURE_LIST=$dir/packages.txt
}

# The environment of every pip and uv here: none of the caller's PIP_* and UV_* settings (a machine may set
# PIP_FIND_LINKS, say) but how to reach PyPI (certificates, proxy, time-out: for the caches' builds), no config
# files, no version check, no keyring, no prompts.
_pypi_env() {
    local v
    PYPI_ENV=(env)
    for v in $(compgen -v PIP_) $(compgen -v UV_); do
        case "$v" in
            PIP_CERT | PIP_CLIENT_CERT | PIP_PROXY | PIP_DEFAULT_TIMEOUT) ;;
            *) PYPI_ENV+=(-u "$v") ;;
        esac
    done
    PYPI_ENV+=(PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_KEYRING_PROVIDER=disabled PIP_NO_INPUT=1
        UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never)
}

# pypi_tools_pip ARGS... — the tools venv's own pip (its build backends are there: --no-build-isolation works)
pypi_tools_pip() {
    local PYPI_ENV
    _pypi_env
    "${PYPI_ENV[@]}" timeout "${PYPI_TIMEOUT:-300}" "$PYPI_PY" -m pip "$@"
}

# pypi_build SRC OUT — sdist + wheel of the project in SRC (copied first: setuptools writes its egg-info beside the
# sources) into OUT
pypi_build() {
    local src=$1 out=$2 work
    [[ -n "$PYPI_PY" ]] || pypi_tools
    mkdir -p "$out"
    work=$(mktemp -d "${ARCA_TEST_TMP:-${TMPDIR:-/tmp}}/pypi-build.XXXXXX")
    cp -r "$src" "$work/src"
    "$PYPI_PY" -m build --no-isolation --outdir "$out" "$work/src" >"$work/build.log" 2>&1 || {
        tail -n 20 "$work/build.log" >&2
        rm -rf -- "$work"
        arca_die "python -m build of $src failed"
    }
    rm -rf -- "$work"
}

# pypi_venv DIR — a new venv in DIR (removed first), without pip
pypi_venv() {
    rm -rf -- "$1"
    "$(_pypi_python)" -m venv --without-pip "$1" || arca_die "python3 -m venv $1 failed"
}

# pypi_pip VENV ARGS... — the tools' pip, running on VENV's interpreter (installs go into VENV)
pypi_pip() {
    local venv=$1
    shift
    [[ -n "$PYPI_PY" ]] || pypi_tools
    local PYPI_ENV
    _pypi_env
    "${PYPI_ENV[@]}" timeout "${PYPI_TIMEOUT:-300}" "$PYPI_PY" -m pip --python "$venv/bin/python" "$@"
}

# pypi_uv ARGS... / pypi_twine ARGS... — the tools' uv (its cache in PYPI_UV_CACHE, default a temp dir of the
# caller's) and twine (no keyring), in the same clean environment
pypi_uv() {
    local PYPI_ENV
    _pypi_env
    "${PYPI_ENV[@]}" UV_CACHE_DIR="${PYPI_UV_CACHE:-${TMPDIR:-/tmp}/arca-uv-cache}" timeout "${PYPI_TIMEOUT:-300}" \
        "$PYPI_TOOLS/bin/uv" "$@"
}
pypi_twine() {
    local PYPI_ENV
    _pypi_env
    "${PYPI_ENV[@]}" PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring timeout "${PYPI_TIMEOUT:-300}" \
        "$PYPI_TOOLS/bin/twine" "$@"
}

# pypi_peer_start DIR — also makes the tools venv and the fixture when needed
pypi_peer_start() {
    local dir=$1 attempt port file
    [[ -n "$PYPI_FIXTURE" ]] || pypi_fixture
    mkdir -p "$dir"
    rm -rf -- "$dir/packages"
    mkdir -p "$dir/packages"
    while read -r _ _ file; do
        cp "$PYPI_FIXTURE/$file" "$dir/packages/"
    done <"$PYPI_FIXTURE_LIST"
    PYPI_PEER_PW="peer-$RANDOM$RANDOM"
    "$PYPI_PY" -c 'import sys; from passlib.apache import HtpasswdFile
h = HtpasswdFile(sys.argv[1], new=True); h.set_password(sys.argv[2], sys.argv[3]); h.save()' \
        "$dir/htpasswd" "$PYPI_PEER_USER" "$PYPI_PEER_PW" || arca_die "could not write $dir/htpasswd"
    PYPI_PEER_LOG=$dir/pypiserver.log
    if ((!_PYPI_STOP_REGISTERED)); then
        arca_on_exit pypi_peer_stop
        _PYPI_STOP_REGISTERED=1
    fi
    for attempt in 1 2 3; do
        port=$(arca_free_port)
        # --disable-fallback: an unknown project is a 404, never a redirect to the public index
        "$PYPI_TOOLS/bin/pypi-server" run -v -i 127.0.0.1 -p "$port" -P "$dir/htpasswd" -a update --disable-fallback \
            "$dir/packages" >>"$PYPI_PEER_LOG" 2>&1 &
        PYPI_PEER_PID=$!
        PYPI_PEER_URL="http://127.0.0.1:$port"
        if arca_wait_for 30 "pypiserver on 127.0.0.1:$port" curl -fsS -o /dev/null "$PYPI_PEER_URL/health"; then
            break
        fi
        pypi_peer_stop
        if ((attempt == 3)) || ! grep -qi 'address already in use' "$PYPI_PEER_LOG"; then
            tail -n 20 "$PYPI_PEER_LOG" >&2
            arca_die "pypiserver did not start (log: $PYPI_PEER_LOG)"
        fi
    done
    arca_log "pypiserver 2.4.2 is up at $PYPI_PEER_URL with $(wc -l <"$PYPI_FIXTURE_LIST") wheels (pid $PYPI_PEER_PID)"
}

pypi_peer_file_gets() {
    sed -n 's|.*"GET /packages/\([^ "?#]*\) HTTP/[0-9.]*" 200 .*|\1|p' "$PYPI_PEER_LOG" | sort | uniq -c |
        awk '{print $1, $2}'
}

pypi_peer_stop() {
    local pid=$PYPI_PEER_PID
    [[ -n "$pid" ]] || return 0
    PYPI_PEER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        arca_wait_exit "$pid" 50 || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# pypi_devpi_start DIR — returns 1 (with a warning) when devpi cannot be had
pypi_devpi_start() {
    local dir=$1 key venv port pw attempt started=0 wheels
    [[ -n "$PYPI_FIXTURE" ]] || pypi_fixture
    key=$( {
        printf '%s\n' "${PYPI_DEVPI_PINS[@]}"
        _pypi_python_id
    } | sha256sum | cut -c1-16)
    venv=$PYPI_ROOT/devpi-$key/venv
    if [[ ! -f "$PYPI_ROOT/devpi-$key/.installed" ]]; then
        arca_log "creating the devpi venv (${PYPI_DEVPI_PINS[*]}) in $PYPI_ROOT/devpi-$key (once)"
        rm -rf -- "$PYPI_ROOT/devpi-$key"
        mkdir -p "$PYPI_ROOT/devpi-$key"
        {
            "$(_pypi_python)" -m venv "$venv" &&
                _pypi_tools_pip "$venv" "${PYPI_DEVPI_PINS[0]}" &&
                _pypi_tools_pip "$venv" "${PYPI_DEVPI_PINS[@]:1}"
        } >"$PYPI_ROOT/devpi-$key/pip.log" 2>&1 || {
            arca_warn "devpi does not install: $(tail -n 5 "$PYPI_ROOT/devpi-$key/pip.log")"
            rm -rf -- "$PYPI_ROOT/devpi-$key"
            return 1
        }
        printf '%s\n' "${PYPI_DEVPI_PINS[@]}" >"$PYPI_ROOT/devpi-$key/.installed"
        find "$PYPI_ROOT" -maxdepth 1 -name 'devpi-*' ! -name "devpi-$key" -exec rm -rf -- {} +
    fi
    rm -rf -- "$dir"
    mkdir -p "$dir"
    DEVPI_LOG=$dir/devpi-server.log
    pw="root-$RANDOM$RANDOM"
    # no mirror of the public index (--no-root-pypi), and offline: it never reaches out
    "$venv/bin/devpi-init" --serverdir "$dir/server" --no-root-pypi --root-passwd "$pw" >"$dir/init.log" 2>&1 || {
        arca_warn "devpi-init failed: $(tail -n 5 "$dir/init.log")"
        return 1
    }
    "$venv/bin/devpi-gen-secret" --secretfile "$dir/secret" >>"$dir/init.log" 2>&1 || {
        arca_warn "devpi-gen-secret failed: $(tail -n 5 "$dir/init.log")"
        return 1
    }
    if ((!_DEVPI_STOP_REGISTERED)); then
        arca_on_exit pypi_devpi_stop
        _DEVPI_STOP_REGISTERED=1
    fi
    for attempt in 1 2 3; do
        port=$(arca_free_port)
        "$venv/bin/devpi-server" --serverdir "$dir/server" --secretfile "$dir/secret" --host 127.0.0.1 --port "$port" \
            --offline-mode >>"$DEVPI_LOG" 2>&1 &
        DEVPI_PID=$!
        if arca_wait_for 60 "devpi-server on 127.0.0.1:$port" curl -fsS -o /dev/null "http://127.0.0.1:$port/+api"; then
            started=1
            break
        fi
        pypi_devpi_stop
        grep -qi 'address already in use' "$DEVPI_LOG" || break
    done
    if ((!started)); then
        arca_warn "devpi-server did not start: $(tail -n 5 "$DEVPI_LOG")"
        return 1
    fi
    DEVPI_URL="http://127.0.0.1:$port/peer/dev"
    # the user and its index (devpi-client, its state in DIR), then the wheels with twine
    mapfile -t wheels < <(awk -v d="$PYPI_FIXTURE" '{print d "/" $3}' "$PYPI_FIXTURE_LIST")
    if ! {
        DEVPI_CLIENTDIR=$dir/client "$venv/bin/devpi" use "http://127.0.0.1:$port" &&
            DEVPI_CLIENTDIR=$dir/client "$venv/bin/devpi" login root --password "$pw" &&
            DEVPI_CLIENTDIR=$dir/client "$venv/bin/devpi" user -c peer "password=$pw" &&
            DEVPI_CLIENTDIR=$dir/client "$venv/bin/devpi" login peer --password "$pw" &&
            DEVPI_CLIENTDIR=$dir/client "$venv/bin/devpi" index -c dev bases= volatile=False &&
            pypi_twine upload --repository-url "$DEVPI_URL/" -u peer -p "$pw" --non-interactive --disable-progress-bar \
                "${wheels[@]}"
    } >"$dir/setup.log" 2>&1; then
        arca_warn "devpi: the index peer/dev could not be filled: $(tail -n 5 "$dir/setup.log")"
        pypi_devpi_stop
        return 1
    fi
    # shellcheck disable=SC2034 # for the scripts that source this file
    DEVPI_PW=$pw
    arca_log "devpi-server 6.20.3 is up at $DEVPI_URL with $(wc -l <"$PYPI_FIXTURE_LIST") wheels (pid $DEVPI_PID)"
}

pypi_devpi_stop() {
    local pid=$DEVPI_PID
    [[ -n "$pid" ]] || return 0
    DEVPI_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        arca_wait_exit "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

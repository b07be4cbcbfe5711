# shellcheck shell=bash
# Verdaccio 6.8.0, a real npm registry on this machine: the upstream of arca's npm remote repositories in the
# real-client test (tests/clients/npm.sh). It never proxies the public registry (`uplinks: {}`). Source it after
# tests/lib/arca.sh (it uses arca_free_port, arca_wait_for, arca_on_exit, arca_apt_ensure, arca_log, arca_die).
#
#   verdaccio_install             Verdaccio from the npm registry, once, into $VERDACCIO_ROOT/app (`npm ci` of
#                                 tests/fixtures/npm/verdaccio: its lockfile pins all 327 packages)
#   verdaccio_fixture             the packed tarballs of the fixture (below), made once into $VERDACCIO_ROOT; sets
#                                 VERDACCIO_FIXTURE (its dir) and VERDACCIO_FIXTURE_LIST ("name version" lines)
#   verdaccio_start DIR           config in DIR, Verdaccio on a free port of 127.0.0.1, a user and its token; sets
#                                 VERDACCIO_URL (with a trailing /), VERDACCIO_PID, VERDACCIO_LOG, VERDACCIO_TOKEN
#                                 and VERDACCIO_NPMRC (an npm userconfig for it). After verdaccio_fixture, it
#                                 starts on a copy of the storage the fixture was first published into, if there is one
#   verdaccio_publish_fixture     publishes the fixture's tarballs (nothing to do when the storage was restored),
#                                 then keeps a copy of the storage in the cache for the next run
#   verdaccio_publish_dir SRC     publishes the npm package in SRC (cp -rL, npm pack, npm publish ./x.tgz)
#   verdaccio_publish_tarball TGZ npm publish --ignore-scripts ./TGZ
#   verdaccio_stop                stops it (also done at exit; safe to call twice)
#
# The fixture: real npm packages from Debian's node-* packages (VERDACCIO_FIXTURE_DEBS, apt-get installed unless
# ARCA_SKIP_INSTALL=1): VERDACCIO_FIXTURE_ROOTS and every package they depend on, 37 packages in all (yargs
# and its cliui/string-width/wrap-ansi tree, glob, micromatch, semver, debug, readable-stream, …). Each is copied
# with `cp -rL` from /usr/share/nodejs, its package.json fixed only where npm needs it (dependency ranges that
# Debian's single version does not satisfy; tests/fixtures/npm/debian-packages.js says why), and packed with
# `npm pack --ignore-scripts`. npm pack writes the same bytes for the same files, so the tarballs depend only on
# the Debian packages' versions, which name the cache entry (a new Debian version packs again).
#
# Env: ARCA_VERDACCIO_CACHE (default /var/cache/arca-test/verdaccio-6.8.0), ARCA_SKIP_INSTALL=1.

VERDACCIO_VERSION=6.8.0
VERDACCIO_ROOT=${ARCA_VERDACCIO_CACHE:-/var/cache/arca-test/verdaccio-$VERDACCIO_VERSION}
VERDACCIO_FIXTURE_DEBS=(node-yargs node-debug node-semver node-glob node-micromatch node-readable-stream)
VERDACCIO_FIXTURE_ROOTS=(yargs debug semver glob micromatch readable-stream)
_VERDACCIO_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/npm" && pwd)"

VERDACCIO_URL=""
VERDACCIO_PID=""
VERDACCIO_LOG=""
VERDACCIO_TOKEN=""
VERDACCIO_NPMRC=""
VERDACCIO_FIXTURE=""
VERDACCIO_FIXTURE_LIST=""
_VERDACCIO_DIR=""
_VERDACCIO_RESTORED=0
_VERDACCIO_STOP_REGISTERED=0

# The npm of these helpers: no user config but the one given, a cache of its own, no noise.
_verdaccio_npm() { # _verdaccio_npm USERCONFIG CACHE ARGS...
    local userconfig=$1 cache=$2
    shift 2
    NPM_CONFIG_USERCONFIG=$userconfig NPM_CONFIG_CACHE=$cache NPM_CONFIG_UPDATE_NOTIFIER=false \
        NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false npm "$@"
}

verdaccio_install() {
    local app=$VERDACCIO_ROOT/app want tmp
    want=$(cat "$_VERDACCIO_SRC/verdaccio/package.json" "$_VERDACCIO_SRC/verdaccio/package-lock.json" | sha256sum | cut -c1-16)
    if [[ -f "$app/.installed" && "$(cat "$app/.installed")" == "$want" ]]; then
        return 0
    fi
    command -v npm >/dev/null 2>&1 || arca_die "npm is not installed"
    mkdir -p "$VERDACCIO_ROOT"
    tmp=$(mktemp -d "$VERDACCIO_ROOT/app.new.XXXXXX")
    cp "$_VERDACCIO_SRC/verdaccio/package.json" "$_VERDACCIO_SRC/verdaccio/package-lock.json" "$tmp/"
    arca_log "npm ci verdaccio@$VERDACCIO_VERSION into $app (once)"
    # --ignore-scripts: none of its packages needs an install script to run as a registry
    if ! (cd "$tmp" && _verdaccio_npm /dev/null "$tmp/.npm-cache" ci --ignore-scripts --no-audit --no-fund) \
        >"$tmp/npm-ci.log" 2>&1; then
        tail -n 20 "$tmp/npm-ci.log" >&2
        rm -rf -- "$tmp"
        arca_die "npm ci of verdaccio@$VERDACCIO_VERSION failed"
    fi
    rm -rf -- "$tmp/.npm-cache"
    printf '%s' "$want" >"$tmp/.installed"
    rm -rf -- "$app"
    mv "$tmp" "$app"
}

# The fixture's cache key: the Debian packages that ship /usr/share/nodejs/{name} for every package of LIST, with
# their versions, and the helper that fixes package.json.
_verdaccio_fixture_key() { # _verdaccio_fixture_key LIST
    local paths=() name
    while read -r name _; do paths+=("/usr/share/nodejs/$name"); done <"$1"
    {
        cat "$1" "$_VERDACCIO_SRC/debian-packages.js"
        # shellcheck disable=SC2046 # one package per word
        dpkg-query -W -f='${Package} ${Version}\n' $(dpkg-query -S "${paths[@]}" | cut -d: -f1 | tr ',' '\n' | sort -u)
    } | sha256sum | cut -c1-16
}

verdaccio_fixture() {
    local list key dir tmp name srcs=()
    if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
        arca_apt_ensure "${VERDACCIO_FIXTURE_DEBS[@]}"
    fi
    list=$(mktemp "${TMPDIR:-/tmp}/verdaccio-fixture.XXXXXX")
    node "$_VERDACCIO_SRC/debian-packages.js" closure "${VERDACCIO_FIXTURE_ROOTS[@]}" >"$list" || {
        rm -f "$list"
        arca_die "the Verdaccio fixture: a Debian node package is missing"
    }
    key=$(_verdaccio_fixture_key "$list")
    dir=$VERDACCIO_ROOT/fixture-$key
    if [[ ! -f "$dir/packages.txt" ]]; then
        mkdir -p "$VERDACCIO_ROOT"
        tmp=$(mktemp -d "$VERDACCIO_ROOT/fixture.new.XXXXXX")
        cp "$list" "$tmp/packages.txt"
        arca_log "packing the Verdaccio fixture ($(wc -l <"$list") Debian npm packages) into $dir (once)"
        mkdir -p "$tmp/src" "$tmp/tarballs"
        # shellcheck disable=SC2094 # $list is only read
        while read -r name _; do
            cp -rL "/usr/share/nodejs/$name" "$tmp/src/$name"
            # npm pack would leave them out anyway; Debian puts build-only helpers there
            rm -rf -- "$tmp/src/$name/node_modules"
            node "$_VERDACCIO_SRC/debian-packages.js" fixup "$tmp/src/$name" "$list" >>"$tmp/fixups.txt"
            srcs+=("./src/$name")
        done <"$list"
        if ! (cd "$tmp" && _verdaccio_npm /dev/null "$tmp/.npm-cache" pack --ignore-scripts \
            --pack-destination tarballs "${srcs[@]}") >"$tmp/pack.log" 2>&1; then
            tail -n 20 "$tmp/pack.log" >&2
            rm -rf -- "$tmp"
            rm -f "$list"
            arca_die "npm pack of the Verdaccio fixture failed"
        fi
        rm -rf -- "$tmp/src" "$tmp/.npm-cache"
        [[ "$(find "$tmp/tarballs" -name '*.tgz' | wc -l)" == "$(wc -l <"$list")" ]] || {
            rm -rf -- "$tmp"
            rm -f "$list"
            arca_die "npm pack of the Verdaccio fixture made fewer tarballs than packages"
        }
        # older fixtures (other Debian versions) are of no use any more
        find "$VERDACCIO_ROOT" -maxdepth 1 -name 'fixture-*' -exec rm -rf -- {} +
        mv "$tmp" "$dir"
    fi
    rm -f "$list"
    VERDACCIO_FIXTURE=$dir
    VERDACCIO_FIXTURE_LIST=$dir/packages.txt
}

# verdaccio_start DIR — also installs Verdaccio if needed
verdaccio_start() {
    local dir=$1 attempt port pw
    verdaccio_install
    mkdir -p "$dir"
    _VERDACCIO_DIR=$dir
    _VERDACCIO_RESTORED=0
    rm -rf -- "$dir/storage" "$dir/htpasswd"
    if [[ -n "$VERDACCIO_FIXTURE" && -f "$VERDACCIO_FIXTURE/storage.tar" ]]; then
        mkdir -p "$dir/storage"
        tar -xf "$VERDACCIO_FIXTURE/storage.tar" -C "$dir/storage"
        _VERDACCIO_RESTORED=1
    fi
    VERDACCIO_LOG=$dir/verdaccio.log
    if ((!_VERDACCIO_STOP_REGISTERED)); then
        arca_on_exit verdaccio_stop
        _VERDACCIO_STOP_REGISTERED=1
    fi
    for attempt in 1 2 3; do
        port=$(arca_free_port)
        cat >"$dir/config.yaml" <<EOF
storage: $dir/storage
auth:
  htpasswd:
    file: $dir/htpasswd
    max_users: 10
# never the public registry
uplinks: {}
packages:
  '@*/*':
    access: \$all
    publish: \$authenticated
    unpublish: \$authenticated
  '**':
    access: \$all
    publish: \$authenticated
    unpublish: \$authenticated
listen: 127.0.0.1:$port
web:
  enable: false
log: {type: stdout, format: pretty, level: http}
EOF
        node "$VERDACCIO_ROOT/app/node_modules/verdaccio/bin/verdaccio" --config "$dir/config.yaml" >>"$VERDACCIO_LOG" 2>&1 &
        VERDACCIO_PID=$!
        VERDACCIO_URL="http://127.0.0.1:$port/"
        if arca_wait_for 30 "Verdaccio on 127.0.0.1:$port" curl -fsS -o /dev/null "${VERDACCIO_URL}-/ping"; then
            break
        fi
        verdaccio_stop
        if ((attempt == 3)) || ! grep -q EADDRINUSE "$VERDACCIO_LOG"; then
            tail -n 20 "$VERDACCIO_LOG" >&2
            arca_die "Verdaccio did not start (log: $VERDACCIO_LOG)"
        fi
    done
    arca_log "Verdaccio $VERDACCIO_VERSION is up at $VERDACCIO_URL (pid $VERDACCIO_PID)"
    pw="fixture-$RANDOM$RANDOM"
    VERDACCIO_TOKEN=$(curl -fsS --max-time 30 -X PUT -H 'Content-Type: application/json' \
        --data "{\"name\":\"fixture\",\"password\":\"$pw\"}" "${VERDACCIO_URL}-/user/org.couchdb.user:fixture" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') ||
        arca_die "Verdaccio: could not create the user 'fixture'"
    VERDACCIO_NPMRC=$dir/npmrc
    printf 'registry=%s\n%s:_authToken=%s\n' "$VERDACCIO_URL" "${VERDACCIO_URL#http:}" "$VERDACCIO_TOKEN" >"$VERDACCIO_NPMRC"
}

# verdaccio_publish_tarball TGZ
verdaccio_publish_tarball() {
    local tgz=$1
    (cd "$(dirname "$tgz")" && _verdaccio_npm "$VERDACCIO_NPMRC" "$_VERDACCIO_DIR/npm-cache" publish --ignore-scripts \
        "./$(basename "$tgz")") >>"$_VERDACCIO_DIR/publish.log" 2>&1 || {
        tail -n 20 "$_VERDACCIO_DIR/publish.log" >&2
        arca_die "npm publish $tgz to Verdaccio failed"
    }
}

# verdaccio_publish_dir SRC — packs a copy of SRC (so that nothing is written into SRC) and publishes it
verdaccio_publish_dir() {
    local src=$1 work tgz
    work=$(mktemp -d "$_VERDACCIO_DIR/pack.XXXXXX")
    cp -rL "$src" "$work/src"
    (cd "$work/src" && _verdaccio_npm /dev/null "$_VERDACCIO_DIR/npm-cache" pack --ignore-scripts \
        --pack-destination ..) >"$work/pack.log" 2>&1 || {
        tail -n 20 "$work/pack.log" >&2
        arca_die "npm pack of $src failed"
    }
    tgz=$(find "$work" -maxdepth 1 -name '*.tgz' | head -n1)
    [[ -n "$tgz" ]] || arca_die "npm pack of $src made no tarball"
    verdaccio_publish_tarball "$tgz"
}

verdaccio_publish_fixture() {
    [[ -n "$VERDACCIO_FIXTURE" ]] || arca_die "verdaccio_publish_fixture: call verdaccio_fixture first"
    [[ -n "$VERDACCIO_PID" ]] || arca_die "verdaccio_publish_fixture: Verdaccio is not running"
    local name version code tmp
    if ((_VERDACCIO_RESTORED)); then
        arca_log "Verdaccio: the fixture's storage was restored from $VERDACCIO_FIXTURE/storage.tar"
    else
        arca_log "Verdaccio: publishing the $(wc -l <"$VERDACCIO_FIXTURE_LIST") packages of the fixture"
        # npm publish takes one tarball at a time; three at once
        (cd "$VERDACCIO_FIXTURE/tarballs" && find . -name '*.tgz' -print0 | sort -z |
            NPM_CONFIG_USERCONFIG=$VERDACCIO_NPMRC NPM_CONFIG_CACHE=$_VERDACCIO_DIR/npm-cache \
                NPM_CONFIG_UPDATE_NOTIFIER=false xargs -0 -P 3 -n 1 npm publish --ignore-scripts) \
            >>"$_VERDACCIO_DIR/publish.log" 2>&1 || {
            grep -E 'ERR|error' "$_VERDACCIO_DIR/publish.log" | tail -n 20 >&2
            arca_die "npm publish of the fixture to Verdaccio failed (log: $_VERDACCIO_DIR/publish.log)"
        }
    fi
    # every package is there, at its version
    while read -r name version; do
        code=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' "${VERDACCIO_URL}${name}/${version}")
        [[ "$code" == 200 ]] || arca_die "Verdaccio: GET /$name/$version -> $code after publishing the fixture"
    done <"$VERDACCIO_FIXTURE_LIST"
    if ((!_VERDACCIO_RESTORED)); then
        tmp=$(mktemp "$VERDACCIO_FIXTURE/storage.tar.XXXXXX")
        tar -cf "$tmp" -C "$_VERDACCIO_DIR/storage" .
        mv "$tmp" "$VERDACCIO_FIXTURE/storage.tar"
    fi
}

verdaccio_stop() {
    local pid=$VERDACCIO_PID
    [[ -n "$pid" ]] || return 0
    VERDACCIO_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        arca_wait_exit "$pid" 50 || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

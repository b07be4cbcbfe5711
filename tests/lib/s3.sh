#!/usr/bin/env bash
# Ensures the S3 server of the object-store tests: s3s-fs (a small S3 implementation over a local directory,
# from crates.io), built once with `cargo install` into a cache directory that outlives the work tree.
# Idempotent: nothing is built when the binary is already there.
#
#   tests/lib/s3.sh                            # prints the binary's path
#   eval "$(tests/lib/s3.sh --export)"         # sets ARCA_TEST_S3S_FS
#   . tests/lib/s3.sh                          # same, from a bash script: installs if needed, exports ARCA_TEST_S3S_FS
#
# The tests (arca_storage::testing::S3TestServer) start one server per test, on a free port of 127.0.0.1 with a
# temp root, through ARCA_TEST_S3S_FS.
# Env: ARCA_S3S_FS_CACHE (install root, default /var/cache/arca-test/s3s-fs-0.14.1).

ARCA_S3S_FS_VERSION=0.14.1
ARCA_S3S_FS_ROOT=${ARCA_S3S_FS_CACHE:-/var/cache/arca-test/s3s-fs-$ARCA_S3S_FS_VERSION}

_arca_s3_say() { printf 's3.sh: %s\n' "$*" >&2; }

# arca_s3s_fs_install — builds s3s-fs into $ARCA_S3S_FS_ROOT unless it is there; prints the binary's path.
arca_s3s_fs_install() {
    local bin=$ARCA_S3S_FS_ROOT/bin/s3s-fs tmp rc=0
    if [[ -x "$bin" ]]; then
        printf '%s\n' "$bin"
        return 0
    fi
    # cargo lives in ~/.cargo/bin on the dev/CI machines; a non-login shell may not have it on PATH.
    if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
        PATH="${HOME:-/root}/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 || {
        _arca_s3_say "cargo is not installed"
        return 1
    }
    mkdir -p "$ARCA_S3S_FS_ROOT" || return 1
    _arca_s3_say "building s3s-fs $ARCA_S3S_FS_VERSION into $ARCA_S3S_FS_ROOT (cargo install, a few minutes)"
    # Its own target dir: never the workspace's (CARGO_TARGET_DIR may be set), which it would lock and fill.
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/arca-s3s-fs-build.XXXXXX") || return 1
    cargo install s3s-fs --version "$ARCA_S3S_FS_VERSION" --features binary --locked \
        --root "$ARCA_S3S_FS_ROOT" --target-dir "$tmp" >&2 || rc=$?
    rm -rf -- "$tmp"
    if ((rc != 0)); then
        _arca_s3_say "cargo install s3s-fs failed (exit $rc)"
        return "$rc"
    fi
    if [[ ! -x "$bin" ]]; then
        _arca_s3_say "cargo install finished but $bin is missing"
        return 1
    fi
    printf '%s\n' "$bin"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # sourced: install if needed and export, without exiting the caller's shell
    if _arca_s3s_fs_bin=$(arca_s3s_fs_install); then
        export ARCA_TEST_S3S_FS=$_arca_s3s_fs_bin
        unset _arca_s3s_fs_bin
    else
        unset _arca_s3s_fs_bin
        return 1
    fi
else
    set -euo pipefail
    BIN=$(arca_s3s_fs_install)
    if [[ "${1:-}" == --export ]]; then
        printf 'export ARCA_TEST_S3S_FS=%q\n' "$BIN"
    else
        printf '%s\n' "$BIN"
    fi
fi

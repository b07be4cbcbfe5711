#!/usr/bin/env bash
# Build the arca Debian packages: arca_<V>_all.deb, arca-common_<V>_<arch>.deb,
# arca-server_<V>_<arch>.deb, arca-storage-mover_<V>_<arch>.deb,
# arca-license-agent_<V>_<arch>.deb, arca-config-sync_<V>_<arch>.deb and
# arca-session-cleanup_<V>_<arch>.deb.
# Every package is defined in debian/ (control, rules, debian/<package>.*).
#
# Usage: packaging/build-deb.sh [--version V] [--out DIR] [--no-build]
#   --version V   package version (default: the workspace version in Cargo.toml), stamped into
#                 the packaged binaries (they report it); lets tests build a higher version of
#                 the same code for upgrade tests without a second cargo build
#   --out DIR     where the .deb files go (default: target/packages)
#   --no-build    do not run cargo; use the binaries already in target/release
# Env: CARGO_TARGET_DIR (honoured), SOURCE_DATE_EPOCH (changelog date of a --version entry).
#
# Needs: cargo (unless --no-build), dpkg-dev, debhelper (>= 13), fakeroot is not needed
# (Rules-Requires-Root: no). Installs missing Debian packages with apt-get when run as root.
# The build happens in a staging copy (target/packaging/deb/), never in the source tree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/packaging/lib.sh"

pkg_parse_args "$@"

pkg_need_tools dpkg-buildpackage:dpkg-dev dh:debhelper
pkg_build_binaries "$BUILD"

STAGE="$(pkg_target_dir)/packaging/deb"
SRC="$STAGE/arca-$VERSION"
rm -rf "$STAGE"
mkdir -p "$SRC/target/release" "$SRC/packaging" "$SRC/docs" "$OUT"
cp -a "$ROOT/debian" "$ROOT/units" "$ROOT/etc" "$SRC/"
cp -a "$ROOT/packaging/man" "$ROOT/packaging/haproxy.cfg" "$ROOT/packaging/README.md" \
    "$ROOT/packaging/service-policy" "$SRC/packaging/"
cp -a "$ROOT/docs/ha.md" "$ROOT/docs/storage-mover.md" "$ROOT/docs/licenses.md" "$ROOT/docs/config-sync.md" \
    "$ROOT/docs/session-cleanup.md" "$SRC/docs/"
BIN="$(pkg_target_dir)/release"
for bin in "${ARCA_BINARIES[@]}"; do
    cp -a "$BIN/$bin" "$SRC/target/release/"
    pkg_stamp_version "$SRC/target/release/$bin" "$VERSION"
done

# The version comes from debian/changelog: add an entry when building another version.
top="$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)"
if [[ "$top" != "$VERSION" ]]; then
    date="$(date -R ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"})"
    {
        printf 'arca (%s) unstable; urgency=medium\n\n' "$VERSION"
        printf '  * Build of version %s (packaging/build-deb.sh --version).\n\n' "$VERSION"
        printf ' -- arca developers <arca@example.invalid>  %s\n\n' "$date"
        cat "$ROOT/debian/changelog"
    } >"$SRC/debian/changelog"
fi

pkg_log "building .debs $VERSION in $SRC"
(cd "$SRC" && dpkg-buildpackage -b -us -uc --no-sign) >"$STAGE/build.log" 2>&1 || {
    tail -n 40 "$STAGE/build.log" >&2
    pkg_die "dpkg-buildpackage failed (full log: $STAGE/build.log)"
}

arch="$(dpkg --print-architecture)"
debs=("arca_${VERSION}_all.deb" "arca-common_${VERSION}_${arch}.deb" "arca-server_${VERSION}_${arch}.deb"
    "arca-storage-mover_${VERSION}_${arch}.deb" "arca-license-agent_${VERSION}_${arch}.deb"
    "arca-config-sync_${VERSION}_${arch}.deb" "arca-session-cleanup_${VERSION}_${arch}.deb")
for d in "${debs[@]}"; do
    [[ -f "$STAGE/$d" ]] || pkg_die "dpkg-buildpackage did not produce $d (log: $STAGE/build.log)"
    rm -f "$OUT/$d"
    mv "$STAGE/$d" "$OUT/"
    echo "$OUT/$d"
done

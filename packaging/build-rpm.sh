#!/usr/bin/env bash
# Build the arca RPM packages: arca-<V>-1.noarch.rpm, arca-common-<V>-1.<arch>.rpm,
# arca-server-<V>-1.<arch>.rpm, arca-storage-mover-<V>-1.<arch>.rpm,
# arca-license-agent-<V>-1.<arch>.rpm, arca-config-sync-<V>-1.<arch>.rpm and
# arca-session-cleanup-<V>-1.<arch>.rpm, with rpmbuild and rpm/arca.spec.
#
# Usage: packaging/build-rpm.sh [--version V] [--out DIR] [--no-build]
#   --version V   package version (default: the workspace version in Cargo.toml), stamped into
#                 the packaged binaries (they report it)
#   --out DIR     where the .rpm files go (default: target/packages)
#   --no-build    do not run cargo; use the binaries already in target/release
# Env: CARGO_TARGET_DIR (honoured).
#
# Needs: cargo (unless --no-build), rpmbuild (Debian package "rpm"; installed with apt-get when
# missing and run as root). The build happens under target/packaging/rpm/, never in the tree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/packaging/lib.sh"

# RPM versions may not contain "-"; the accepted versions ("~" sorts before the release like
# in Debian) are the same for both package kinds.
pkg_parse_args "$@"

pkg_need_tools rpmbuild:rpm strip:binutils
pkg_build_binaries "$BUILD"

TOP="$(pkg_target_dir)/packaging/rpm"
SRC="$TOP/SOURCES"
rm -rf "$TOP"
mkdir -p "$SRC" "$TOP/BUILD" "$TOP/RPMS" "$TOP/SPECS" "$TOP/tmp"
BIN="$(pkg_target_dir)/release"
for bin in "${ARCA_BINARIES[@]}"; do
    cp -a "$BIN/$bin" "$SRC/"
    pkg_stamp_version "$SRC/$bin" "$VERSION"
done
cp -a "$ROOT/units/arca-server.service" "$ROOT/units/arca-storage-mover.service" \
    "$ROOT/units/arca-license-agent.service" "$ROOT/units/arca-config-sync.service" "$ROOT/units/arca.target" \
    "$ROOT/units/arca-session-cleanup.service" "$ROOT/units/arca-session-cleanup.timer" "$SRC/"
cp -a "$ROOT/units/sysusers.d/arca.conf" "$SRC/sysusers-arca.conf"
cp -a "$ROOT/units/tmpfiles.d/arca.conf" "$SRC/tmpfiles-arca.conf"
cp -a "$ROOT"/etc/{binarystore.xml,system.properties,db.properties,ha-node.properties.example} "$SRC/"
cp -a "$ROOT/packaging/haproxy.cfg" "$ROOT"/packaging/man/*.8 "$ROOT/docs/ha.md" "$ROOT/docs/storage-mover.md" \
    "$ROOT/docs/licenses.md" "$ROOT/docs/config-sync.md" "$ROOT/docs/session-cleanup.md" "$SRC/"
cp -a "$ROOT/packaging/README.md" "$SRC/README.packaging.md"
cp -a "$ROOT/packaging/service-policy/common.sh" "$SRC/service-policy-common.sh"
cp -a "$ROOT/packaging/service-policy/rpm.sh" "$SRC/service-policy-rpm.sh"
if [[ -f "$ROOT/LICENSE" ]]; then
    cp "$ROOT/LICENSE" "$SRC/LICENSE.txt"
elif [[ -f /usr/share/common-licenses/Apache-2.0 ]]; then
    cp /usr/share/common-licenses/Apache-2.0 "$SRC/LICENSE.txt"
else
    pkg_die "no license text: add LICENSE at the repository root"
fi
cp "$ROOT/rpm/arca.spec" "$TOP/SPECS/"

arch="$(rpm --eval '%{_arch}')"
pkg_log "building .rpms $VERSION in $TOP"
rpmbuild -bb \
    --define "_topdir $TOP" \
    --define "_sourcedir $SRC" \
    --define "_tmppath $TOP/tmp" \
    --define "arca_version $VERSION" \
    --define "_build_id_links none" \
    "$TOP/SPECS/arca.spec" >"$TOP/build.log" 2>&1 || {
    tail -n 40 "$TOP/build.log" >&2
    pkg_die "rpmbuild failed (full log: $TOP/build.log)"
}

rpms=("noarch/arca-${VERSION}-1.noarch.rpm" "$arch/arca-common-${VERSION}-1.$arch.rpm"
    "$arch/arca-server-${VERSION}-1.$arch.rpm" "$arch/arca-storage-mover-${VERSION}-1.$arch.rpm"
    "$arch/arca-license-agent-${VERSION}-1.$arch.rpm" "$arch/arca-config-sync-${VERSION}-1.$arch.rpm"
    "$arch/arca-session-cleanup-${VERSION}-1.$arch.rpm")
for r in "${rpms[@]}"; do
    [[ -f "$TOP/RPMS/$r" ]] || pkg_die "rpmbuild did not produce $r (log: $TOP/build.log)"
    rm -f "$OUT/${r#*/}"
    mv "$TOP/RPMS/$r" "$OUT/"
    echo "$OUT/${r#*/}"
done

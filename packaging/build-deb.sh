#!/usr/bin/env bash
# Build the arca Debian packages: arca_<V>_all.deb, arca-common_<V>_<arch>.deb,
# arca-server_<V>_<arch>.deb, arca-storage-mover_<V>_<arch>.deb and
# arca-license-agent_<V>_<arch>.deb.
#
# Usage: packaging/build-deb.sh [--version V] [--out DIR] [--no-build]
#   --version V   package version (default: the workspace version in Cargo.toml); lets tests
#                 build a higher version of the same code for upgrade tests
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
pkg_build_binaries "$BUILD" "$VERSION"

STAGE="$(pkg_target_dir)/packaging/deb"
SRC="$STAGE/arca-$VERSION"
rm -rf "$STAGE"
mkdir -p "$SRC/target/release" "$SRC/packaging" "$SRC/docs" "$OUT"
cp -a "$ROOT/debian" "$ROOT/units" "$ROOT/etc" "$SRC/"
cp -a "$ROOT/packaging/man" "$ROOT/packaging/haproxy.cfg" "$ROOT/packaging/README.md" "$SRC/packaging/"
cp -a "$ROOT/docs/ha.md" "$ROOT/docs/storage-mover.md" "$ROOT/docs/licenses.md" "$SRC/docs/"
BIN="$(pkg_target_dir)/release"
for bin in "${ARCA_BINARIES[@]}"; do cp -a "$BIN/$bin" "$SRC/target/release/"; done

# The package arca-license-agent, added to the staging copy of debian/: the same shape as
# arca-storage-mover (binary, unit, man page, doc; enabled and started with the same policy;
# the metapackage arca depends on it). Each piece is added only when debian/ does not have it
# yet, so moving a piece into debian/ itself takes precedence over what is written here.
deb_add_license_agent() {
    local d=$1/debian p=arca-license-agent
    if ! grep -q "^Package: $p\$" "$d/control"; then
        cat >>"$d/control" <<'EOF'

Package: arca-license-agent
Architecture: any
Depends: arca-common (= ${binary:Version}), ${shlibs:Depends}, ${misc:Depends}
Description: artifact repository server - license agent
 arca is an artifact repository server built for high availability. Build
 tools (Maven, npm, pip, cargo, curl) deploy and resolve binaries through it.
 .
 This package contains arca-license-agent and its hardened systemd unit. On
 a cluster node it claims a license for the node from the cluster's pool
 (the free one with the latest expiry), swaps to a later-expiring one before
 it expires, and gives it back when it stops; a cluster node without a
 license answers 503. A single node needs no license: the agent idles.
 Installed on every node, enabled and started like arca-server.
EOF
    fi
    # The metapackage: after arca-storage-mover in its Depends.
    if ! sed -n '/^Package: arca$/,/^$/p' "$d/control" | grep -q "$p"; then
        # shellcheck disable=SC2016 # ${source:Version} is debhelper's substitution variable
        sed -i '/^Package: arca$/,/^$/s/\(arca-storage-mover (>= ${source:Version}),\)/\1 arca-license-agent (>= ${source:Version}),/' \
            "$d/control"
        sed -n '/^Package: arca$/,/^$/p' "$d/control" | grep -q "$p" ||
            pkg_die "debian/control: could not add $p to the Depends of the metapackage arca"
    fi
    # dh_installsystemd: enabled and started by the postinst below with arca-storage-mover's
    # policy unless this is a cluster node. On upgrade the prerm/postinst below stop a running
    # agent before the new files are unpacked and start it once they are configured (not a
    # restart after arca-server's: see the prerm).
    if ! grep -q -- "-p$p " "$d/rules"; then
        awk -v p="$p" '
            { print }
            /dh_installsystemd -parca-storage-mover / {
                printf "\t# %s: enabled like arca-storage-mover; stopped before and started after an upgrade\n", p
                printf "\t# by debian/%s.prerm and .postinst.\n", p
                printf "\tdh_installsystemd -p%s --name=%s --no-enable --no-start --no-stop-on-upgrade\n", p, p
                done = 1
            }
            END { exit !done }' "$d/rules" >"$d/rules.new" ||
            pkg_die "debian/rules: no dh_installsystemd line for arca-storage-mover to add $p after"
        cat "$d/rules.new" >"$d/rules"
        rm -f "$d/rules.new"
    fi
    [[ -e "$d/$p.$p.service" ]] || cp "$1/units/$p.service" "$d/$p.$p.service"
    [[ -e "$d/$p.install" ]] || echo "target/release/$p usr/bin" >"$d/$p.install"
    [[ -e "$d/$p.manpages" ]] || echo "packaging/man/$p.8" >"$d/$p.manpages"
    [[ -e "$d/$p.docs" ]] || echo "docs/licenses.md" >"$d/$p.docs"
    [[ -e "$d/$p.lintian-overrides" ]] || cat >"$d/$p.lintian-overrides" <<'EOF'
# arca.target (shipped by arca-common, WantedBy=multi-user.target) groups the arca services:
# `systemctl stop|restart arca.target` acts on all of them (PartOf=), and enabling a service
# links it into arca.target.wants so it starts at boot through the target.
arca-license-agent: systemd-service-file-refers-to-unusual-wantedby-target arca.target [lib/systemd/system/arca-license-agent.service]
EOF
    [[ -e "$d/$p.postinst" ]] || cat >"$d/$p.postinst" <<'EOF'
#!/bin/sh
# postinst for arca-license-agent: the same enable and start policy as arca-server.
#
# First installation (or the first after a purge):
#   - no /etc/arca/ha-node.properties (single node): enable arca-license-agent.service (into
#     arca.target) and start it; a single node needs no license, so the agent just idles;
#   - /etc/arca/ha-node.properties exists (a cluster node): neither enabled nor started. When
#     the node is configured: systemctl enable --now arca-license-agent
# Upgrade: the enabled/disabled state is kept; an agent that the prerm stopped (it was running)
#   is started again with the new binary and claims a license; a stopped one stays stopped.
# Starting honours policy-rc.d (deb-systemd-invoke) and is skipped when systemd is not
# running (chroot, image build); the unit is still enabled then.
set -e

arca_start=
arca_units="arca.target arca-license-agent.service"
# (abort-upgrade: the upgrade failed after the prerm stopped the agent; start it again.)
if { [ "$1" = "configure" ] && [ -n "$2" ]; } || [ "$1" = "abort-upgrade" ]; then
    if [ -e /run/arca-license-agent.dpkg-restart ]; then
        rm -f /run/arca-license-agent.dpkg-restart
        arca_start=1
        arca_units=arca-license-agent.service
    fi
fi
if [ "$1" = "configure" ] && [ -z "$2" ]; then
    if [ -e "$DPKG_ROOT/etc/arca/ha-node.properties" ]; then
        echo "arca-license-agent: /etc/arca/ha-node.properties exists, so this is a cluster node:"
        echo "  not enabled or started. When the node is configured:"
        echo "  systemctl enable --now arca-license-agent"
    else
        deb-systemd-helper enable arca-license-agent.service >/dev/null || true
        arca_start=1
    fi
fi

#DEBHELPER#

if [ -n "$arca_start" ] && [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    # shellcheck disable=SC2086 # two unit names, or one
    deb-systemd-invoke start $arca_units >/dev/null ||
        echo "arca-license-agent: could not be started, see: journalctl -u arca-license-agent" >&2
fi

exit 0
EOF
    [[ -e "$d/$p.prerm" ]] || cat >"$d/$p.prerm" <<'EOF'
#!/bin/sh
# prerm for arca-license-agent: stop the agent (it gives this node's license back to the
# cluster pool on SIGTERM) when the package is removed, and on upgrade before the new files are
# unpacked; the new postinst starts it again if it was running. Not a restart after the upgrade
# like the other arca services: a restart would drop the license for a moment after
# arca-server was restarted (upgraded in the same run), i.e. just when the node turns ready
# again and the load balancer may send it requests. Stopped first, the node stays unlicensed
# (readiness 503) from the server's restart until the new agent has claimed a license.
set -e

if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
    if [ "$1" = "remove" ]; then
        deb-systemd-invoke stop arca-license-agent.service >/dev/null || true
    elif [ "$1" = "upgrade" ] && systemctl --quiet is-active arca-license-agent.service; then
        touch /run/arca-license-agent.dpkg-restart
        deb-systemd-invoke stop arca-license-agent.service >/dev/null || true
    fi
fi

#DEBHELPER#

exit 0
EOF
    chmod 0755 "$d/$p.postinst" "$d/$p.prerm"
}
deb_add_license_agent "$SRC"

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
    "arca-storage-mover_${VERSION}_${arch}.deb" "arca-license-agent_${VERSION}_${arch}.deb")
for d in "${debs[@]}"; do
    [[ -f "$STAGE/$d" ]] || pkg_die "dpkg-buildpackage did not produce $d (log: $STAGE/build.log)"
    rm -f "$OUT/$d"
    mv "$STAGE/$d" "$OUT/"
    echo "$OUT/$d"
done

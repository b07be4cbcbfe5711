#!/usr/bin/env bash
# Build the arca RPM packages: arca-<V>-1.noarch.rpm, arca-common-<V>-1.<arch>.rpm,
# arca-server-<V>-1.<arch>.rpm, arca-storage-mover-<V>-1.<arch>.rpm and
# arca-license-agent-<V>-1.<arch>.rpm, with rpmbuild and rpm/arca.spec (plus the
# arca-license-agent package, added to the staged spec below while rpm/arca.spec lacks it).
#
# Usage: packaging/build-rpm.sh [--version V] [--out DIR] [--no-build]
#   --version V   package version (default: the workspace version in Cargo.toml)
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
pkg_build_binaries "$BUILD" "$VERSION"

TOP="$(pkg_target_dir)/packaging/rpm"
SRC="$TOP/SOURCES"
rm -rf "$TOP"
mkdir -p "$SRC" "$TOP/BUILD" "$TOP/RPMS" "$TOP/SPECS" "$TOP/tmp"
BIN="$(pkg_target_dir)/release"
for bin in "${ARCA_BINARIES[@]}"; do cp -a "$BIN/$bin" "$SRC/"; done
cp -a "$ROOT/units/arca-server.service" "$ROOT/units/arca-storage-mover.service" \
    "$ROOT/units/arca-license-agent.service" "$ROOT/units/arca.target" "$SRC/"
cp -a "$ROOT/units/sysusers.d/arca.conf" "$SRC/sysusers-arca.conf"
cp -a "$ROOT/units/tmpfiles.d/arca.conf" "$SRC/tmpfiles-arca.conf"
cp -a "$ROOT"/etc/{binarystore.xml,system.properties,db.properties,ha-node.properties.example} "$SRC/"
cp -a "$ROOT/packaging/haproxy.cfg" "$ROOT"/packaging/man/*.8 "$ROOT/docs/ha.md" "$ROOT/docs/storage-mover.md" \
    "$ROOT/docs/licenses.md" "$SRC/"
cp -a "$ROOT/packaging/README.md" "$SRC/README.packaging.md"
if [[ -f "$ROOT/LICENSE" ]]; then
    cp "$ROOT/LICENSE" "$SRC/LICENSE.txt"
elif [[ -f /usr/share/common-licenses/Apache-2.0 ]]; then
    cp /usr/share/common-licenses/Apache-2.0 "$SRC/LICENSE.txt"
else
    pkg_die "no license text: add LICENSE at the repository root"
fi
cp "$ROOT/rpm/arca.spec" "$TOP/SPECS/"

# The package arca-license-agent: the same shape as arca-storage-mover (binary, unit, man page,
# doc, the same scriptlets; the metapackage arca requires it). Added to the staged spec at
# fixed anchors of rpm/arca.spec while that file does not define it itself.
rpm_add_license_agent() {
    local spec=$1 blocks=$TOP/tmp/license-agent
    grep -q '^%package -n arca-license-agent$' "$spec" && return 0
    mkdir -p "$blocks"
    cat >"$blocks/sources" <<'EOF'
Source20:       arca-license-agent
Source21:       arca-license-agent.service
Source22:       arca-license-agent.8
Source23:       licenses.md
EOF
    cat >"$blocks/requires" <<'EOF'
Requires:       arca-license-agent >= %{version}-%{release}
EOF
    cat >"$blocks/package" <<'EOF'
%package -n arca-license-agent
Summary:        Artifact repository server - license agent
Requires:       arca-common = %{version}-%{release}
Requires(post): /usr/bin/systemctl
Requires(preun): /usr/bin/systemctl
Requires(postun): /usr/bin/systemctl

%description -n arca-license-agent
arca is an artifact repository server built for high availability.

This package contains arca-license-agent and its hardened systemd unit. On a
cluster node it claims a license for the node from the cluster's pool (the
free one with the latest expiry), swaps to a later-expiring one before it
expires, and gives it back when it stops; a cluster node without a license
answers 503. A single node needs no license: the agent idles. Installed on
every node, enabled and started like arca-server.

EOF
    cat >"$blocks/install-man" <<'EOF'
install -D -m 0644 $S/arca-license-agent.8 %{buildroot}%{_mandir}/man8/arca-license-agent.8
EOF
    cat >"$blocks/install" <<'EOF'
install -D -m 0755 -s $S/arca-license-agent %{buildroot}%{_bindir}/arca-license-agent
install -D -m 0644 $S/arca-license-agent.service %{buildroot}%{_unitdir}/arca-license-agent.service
install -D -m 0644 $S/licenses.md %{buildroot}%{_docdir}/arca-license-agent/licenses.md
install -D -m 0644 $S/LICENSE.txt %{buildroot}%{_licensedir}/arca-license-agent/LICENSE.txt
EOF
    cat >"$blocks/scriptlets" <<'EOF'
# --- arca-license-agent ------------------------------------------------------------------------

%post -n arca-license-agent
if [ "$1" -eq 1 ]; then
    # First installation: the same policy as arca-server (a cluster node is left to the
    # administrator); a single node needs no license, so the agent just idles.
    if [ -e /etc/arca/ha-node.properties ]; then
        echo "arca-license-agent: /etc/arca/ha-node.properties exists, so this is a cluster node:"
        echo "  not enabled or started. When the node is configured:"
        echo "  systemctl enable --now arca-license-agent"
    else
        systemctl --no-reload enable arca-license-agent.service >/dev/null 2>&1 || :
        if [ -d /run/systemd/system ]; then
            systemctl daemon-reload >/dev/null 2>&1 || :
            systemctl start arca.target arca-license-agent.service >/dev/null 2>&1 ||
                echo "arca-license-agent: could not be started, see: journalctl -u arca-license-agent" >&2
        fi
    fi
fi

%preun -n arca-license-agent
if [ "$1" -eq 0 ]; then
    # Erase: stop (the agent gives the node's license back to the pool) and disable.
    systemctl --no-reload disable arca-license-agent.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl stop arca-license-agent.service >/dev/null 2>&1 || :
    fi
fi

%postun -n arca-license-agent
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart arca-license-agent.service >/dev/null 2>&1 || :
    fi
fi

%files -n arca-license-agent
%license %{_licensedir}/arca-license-agent/LICENSE.txt
%doc %{_docdir}/arca-license-agent
%{_bindir}/arca-license-agent
%{_unitdir}/arca-license-agent.service
%{_mandir}/man8/arca-license-agent.8*

EOF
    # Each block goes after (a) or before (b) the first line matching its anchor; every anchor
    # must be found.
    awk -v B="$blocks" '
        function put(f,   l) { while ((getline l < (B "/" f)) > 0) print l; close(B "/" f); seen[f] = 1 }
        /^%prep$/ && !seen["package"] { put("package") }
        /^# --- arca -----/ && !seen["scriptlets"] { put("scriptlets") }
        { print }
        /^Source19:/ && !seen["sources"] { put("sources") }
        /^Requires: *arca-storage-mover >= / && !seen["requires"] { put("requires") }
        /^install .*\/arca-storage-mover\.8 / && !seen["install-man"] { put("install-man") }
        /^install .*\/storage-mover\.md / && !seen["install"] { put("install") }
        END {
            n = split("sources requires package install-man install scriptlets", all, " ")
            for (i = 1; i <= n; i++) if (!seen[all[i]]) { print "no anchor for " all[i] > "/dev/stderr"; bad = 1 }
            exit bad
        }' "$spec" >"$spec.new" || pkg_die "rpm/arca.spec: could not add the arca-license-agent package"
    mv "$spec.new" "$spec"
}
rpm_add_license_agent "$TOP/SPECS/arca.spec"

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
    "$arch/arca-license-agent-${VERSION}-1.$arch.rpm")
for r in "${rpms[@]}"; do
    [[ -f "$TOP/RPMS/$r" ]] || pkg_die "rpmbuild did not produce $r (log: $TOP/build.log)"
    rm -f "$OUT/${r#*/}"
    mv "$TOP/RPMS/$r" "$OUT/"
    echo "$OUT/${r#*/}"
done

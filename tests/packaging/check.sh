#!/usr/bin/env bash
# shellcheck disable=SC2016  # the chroot scripts below are single-quoted on purpose
# Checks the arca packages and systemd units on a Debian 12 machine (root):
#   1. builds the .debs and .rpms (packaging/build-deb.sh, packaging/build-rpm.sh), plus .debs of a
#      higher version of the same code for the upgrade test,
#   2. lintian on every .deb: no E: and no W: line (overrides in debian/*.lintian-overrides),
#   3. systemd-analyze verify of arca-server.service, arca-storage-mover.service,
#      arca-license-agent.service, arca-config-sync.service, arca-session-cleanup.service,
#      arca-session-cleanup.timer (also with the drop-in its generator writes for a cron value) and
#      arca.target in a root made of the packages' files (clean = exit 0 and no output), the
#      timer's properties and the generator symlink, LimitNOFILE=/TasksMax= in every service (the
#      server's covering the default connection limit), sysusers.d/tmpfiles.d applied with --root,
#   4. systemd-analyze security --offline: overall exposure of arca-server.service,
#      arca-storage-mover.service, arca-license-agent.service, arca-config-sync.service and
#      arca-session-cleanup.service <= 2.0 each,
#   5. rpmlint on the .rpms (rpm/rpmlint.toml; 0 errors, 0 warnings) and an install into an empty
#      rpm root (rpm --root --noscripts) with the expected files,
#   6. in chroots of a Debian 12 base root fs (the e2e tests' cached one, overlay-mounted, nothing
#      is started): dpkg install (user, directories, enabled units), arca-server run as arca on the
#      packaged home, arca-storage-mover, arca-license-agent, arca-config-sync and
#      arca-session-cleanup check-config as arca there, one arca-session-cleanup run as arca on the
#      server's SQLite database, upgrade keeping an edited conffile without a prompt, remove (config and
#      data kept), purge (all gone, user kept), the cluster-node policy (ha-node.properties
#      present: not enabled), and the .rpms installed with their scriptlets.
# Installs the Debian packages it needs (only the missing ones). Prints PASS/FAIL/SKIP lines and
# ends with "N passed, M failed"; exit status 0 only when nothing failed.
#
# Usage: tests/packaging/check.sh [--no-build] [--no-chroot]
#   --no-build    use the binaries in target/release (no cargo build)
#   --no-chroot   skip step 6 (needs the base root fs: debootstrap from the Debian mirror once)
# Env: ARCA_KEEP_TMP=1 keeps the temp dir; CARGO_TARGET_DIR honoured.
set -euo pipefail

export ARCA_TEST_NAME=packaging
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
ROOT=$ARCA_ROOT
MAX_EXPOSURE=2.0

BUILD_FLAG=()
CHROOT=1
while (($#)); do
    case "$1" in
        --no-build) BUILD_FLAG=(--no-build) ;;
        --no-chroot) CHROOT=0 ;;
        -h | --help) sed -n '3,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) arca_die "unknown option: $1 (try --help)" ;;
    esac
    shift
done
((EUID == 0)) || arca_die "run as root (installs packages, builds chroots)"

PASSED=0
FAILED=0
pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1: $2"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $1: $2"; }
finish() {
    echo "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

arca_apt_ensure dpkg-dev debhelper lintian rpm binutils systemd python3 curl
HAVE_RPMLINT=0
if [[ -n "$(apt-cache policy rpmlint 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"')" ]] ||
    _arca_pkg_installed rpmlint; then
    arca_apt_ensure rpmlint
    HAVE_RPMLINT=1
fi

arca_tmpdir WORK arca-packaging
VERSION=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)
VERSION2="$VERSION+1"   # sorts after VERSION for dpkg
OUT=$(cd "$ROOT" && mkdir -p "${CARGO_TARGET_DIR:-target}/packages" && cd "${CARGO_TARGET_DIR:-target}/packages" && pwd)
OUT2=$WORK/upgrade
ARCH=$(dpkg --print-architecture)
RPMARCH=$(rpm --eval '%{_arch}')
DEBS=("$OUT/arca-common_${VERSION}_$ARCH.deb" "$OUT/arca-server_${VERSION}_$ARCH.deb"
    "$OUT/arca-storage-mover_${VERSION}_$ARCH.deb" "$OUT/arca-license-agent_${VERSION}_$ARCH.deb"
    "$OUT/arca-config-sync_${VERSION}_$ARCH.deb" "$OUT/arca-session-cleanup_${VERSION}_$ARCH.deb"
    "$OUT/arca_${VERSION}_all.deb")
DEBS2=("$OUT2/arca-common_${VERSION2}_$ARCH.deb" "$OUT2/arca-server_${VERSION2}_$ARCH.deb"
    "$OUT2/arca-storage-mover_${VERSION2}_$ARCH.deb" "$OUT2/arca-license-agent_${VERSION2}_$ARCH.deb"
    "$OUT2/arca-config-sync_${VERSION2}_$ARCH.deb" "$OUT2/arca-session-cleanup_${VERSION2}_$ARCH.deb"
    "$OUT2/arca_${VERSION2}_all.deb")
RPMS=("$OUT/arca-common-$VERSION-1.$RPMARCH.rpm" "$OUT/arca-server-$VERSION-1.$RPMARCH.rpm"
    "$OUT/arca-storage-mover-$VERSION-1.$RPMARCH.rpm" "$OUT/arca-license-agent-$VERSION-1.$RPMARCH.rpm"
    "$OUT/arca-config-sync-$VERSION-1.$RPMARCH.rpm" "$OUT/arca-session-cleanup-$VERSION-1.$RPMARCH.rpm"
    "$OUT/arca-$VERSION-1.noarch.rpm")
# The services the packages ship (units, enablement, security): every check covers each of them.
SERVICES=(arca-server arca-storage-mover arca-license-agent arca-config-sync arca-session-cleanup)
# The timers (arca-session-cleanup.service is the oneshot one of them starts).
TIMERS=(arca-session-cleanup)

# ---------------------------------------------------------------------------------------------------------------
# 1. build

build_ok=1
if "$ROOT/packaging/build-deb.sh" "${BUILD_FLAG[@]}" --out "$OUT" >"$WORK/build-deb.log" 2>&1 &&
    "$ROOT/packaging/build-deb.sh" --no-build --version "$VERSION2" --out "$OUT2" >>"$WORK/build-deb.log" 2>&1; then
    pass "build-deb ($VERSION and $VERSION2)"
else
    tail -n 30 "$WORK/build-deb.log"
    fail build-deb "packaging/build-deb.sh failed"
    build_ok=0
fi
if "$ROOT/packaging/build-rpm.sh" --no-build --out "$OUT" >"$WORK/build-rpm.log" 2>&1; then
    pass "build-rpm ($VERSION)"
else
    tail -n 30 "$WORK/build-rpm.log"
    fail build-rpm "packaging/build-rpm.sh failed"
fi
((build_ok)) || { finish; exit 1; }

# ---------------------------------------------------------------------------------------------------------------
# 2. lintian

lintian --pedantic -I "${DEBS[@]}" "${DEBS2[@]}" >"$WORK/lintian.txt" 2>&1 || true
grep -E '^[EW]: ' "$WORK/lintian.txt" | sed 's/^/  lintian: /' || true
n_e=$(grep -c '^E: ' "$WORK/lintian.txt" || true)
n_w=$(grep -c '^W: ' "$WORK/lintian.txt" || true)
n_i=$(grep -c '^[IP]: ' "$WORK/lintian.txt" || true)
if ((n_e == 0 && n_w == 0)); then
    pass "lintian: 0 errors, 0 warnings ($n_i info/pedantic)"
else
    fail lintian "$n_e errors, $n_w warnings"
fi

# ---------------------------------------------------------------------------------------------------------------
# 3. systemd-analyze verify, sysusers.d and tmpfiles.d in a root made of the packages' files

R=$WORK/root
mkdir -p "$R/usr/lib/systemd"
for d in "${DEBS[@]}"; do dpkg-deb -x "$d" "$R"; done
# The units it depends on (sysinit.target, multi-user.target, …) come from the host's systemd.
cp -an /usr/lib/systemd/system "$R/usr/lib/systemd/"
verify_units=()
for svc in "${SERVICES[@]}"; do verify_units+=("/lib/systemd/system/$svc.service"); done
for t in "${TIMERS[@]}"; do verify_units+=("/lib/systemd/system/$t.timer"); done
if MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" \
    "${verify_units[@]}" /lib/systemd/system/arca.target >"$WORK/verify.txt" 2>&1 &&
    [[ ! -s "$WORK/verify.txt" ]]; then
    pass "systemd-analyze verify ${SERVICES[*]/%/.service} ${TIMERS[*]/%/.timer} arca.target"
else
    sed 's/^/  verify: /' "$WORK/verify.txt"
    fail "systemd-analyze verify" "see the lines above"
fi

# Resource limits (issue 14): every service sets LimitNOFILE= and TasksMax=; the server's open-files
# limit covers the default connection limit at two descriptors per connection plus 256.
max_conn=$(sed -n 's/^#arca\.http\.max\.connections=\([0-9]*\)$/\1/p' "$ROOT/etc/system.properties")
limits_bad=()
for svc in "${SERVICES[@]}"; do
    unit="$R/lib/systemd/system/$svc.service"
    grep -Eq '^LimitNOFILE=[0-9]+$' "$unit" && grep -Eq '^TasksMax=[0-9]+$' "$unit" || limits_bad+=("$svc")
done
server_nofile=$(sed -n 's/^LimitNOFILE=\([0-9]*\)$/\1/p' "$R/lib/systemd/system/arca-server.service")
if ((${#limits_bad[@]} == 0)) && [[ -n "$max_conn" && -n "$server_nofile" ]] &&
    ((server_nofile >= 2 * max_conn + 256)); then
    pass "LimitNOFILE= and TasksMax= in every service; arca-server LimitNOFILE=$server_nofile >= 2 x arca.http.max.connections ($max_conn) + 256"
else
    fail "resource limits" "without LimitNOFILE=/TasksMax=: ${limits_bad[*]:-none}; arca-server LimitNOFILE=${server_nofile:-unset}, arca.http.max.connections default ${max_conn:-not found}"
fi

# arca-session-cleanup.timer: hourly at a fixed random minute per host, catching up missed runs.
timer=$R/lib/systemd/system/arca-session-cleanup.timer
missing=()
for line in OnCalendar=hourly RandomizedDelaySec=1h FixedRandomDelay=true Persistent=true \
    Unit=arca-session-cleanup.service WantedBy=timers.target; do
    grep -qx "$line" "$timer" || missing+=("$line")
done
if ((${#missing[@]} == 0)) && grep -qx 'Type=oneshot' "$R/lib/systemd/system/arca-session-cleanup.service" &&
    ! grep -q '^\[Install\]' "$R/lib/systemd/system/arca-session-cleanup.service"; then
    pass "arca-session-cleanup.timer: OnCalendar=hourly, RandomizedDelaySec=1h, FixedRandomDelay=true, Persistent=true; the service a oneshot without [Install]"
else
    fail "arca-session-cleanup.timer properties" "missing: ${missing[*]} (or the service is not a oneshot without [Install])"
fi

# The generator: a symlink to the binary; for a cron value its drop-in verifies with the timer.
gen=$R/lib/systemd/system-generators/arca-session-cleanup-generator
gen_home=$WORK/gen-home
mkdir -p "$gen_home/etc" "$WORK/gen-normal"
echo 'arca.db.session.cleanup.cron=0 23 * * * ?' >"$gen_home/etc/system.properties"
if [[ "$(readlink "$gen")" == /usr/bin/arca-session-cleanup ]] &&
    ln -sfn "$R/usr/bin/arca-session-cleanup" "$WORK/arca-session-cleanup-generator" &&
    ARCA_HOME=$gen_home "$WORK/arca-session-cleanup-generator" "$WORK/gen-normal" "$WORK/gen-early" "$WORK/gen-late" \
        >"$WORK/generator.txt" 2>&1 &&
    grep -qx 'OnCalendar=\*-\*-\* \*:23:00' "$WORK/gen-normal/arca-session-cleanup.timer.d/50-cron.conf" &&
    mkdir -p "$R/etc/systemd/system" &&
    cp -r "$WORK/gen-normal/arca-session-cleanup.timer.d" "$R/etc/systemd/system/" &&
    MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" /lib/systemd/system/arca-session-cleanup.timer \
        >"$WORK/verify-dropin.txt" 2>&1 && [[ ! -s "$WORK/verify-dropin.txt" ]]; then
    pass "arca-session-cleanup-generator: symlink to /usr/bin/arca-session-cleanup; '0 23 * * * ?' -> OnCalendar=*-*-* *:23:00, verified with the timer"
else
    sed 's/^/  generator: /' "$WORK/generator.txt" "$WORK/verify-dropin.txt" 2>/dev/null || true
    fail "arca-session-cleanup-generator" "not a symlink to the binary, or its drop-in is missing or does not verify"
fi
rm -rf "$R/etc/systemd/system/arca-session-cleanup.timer.d"

mkdir -p "$R/etc" "$R/run" "$R/var/lib"
# (Owners compared as numbers: the names are those of $R/etc/passwd, not the host's.)
if systemd-sysusers --root="$R" arca.conf >"$WORK/sysusers.txt" 2>&1 &&
    systemd-tmpfiles --root="$R" --create arca.conf >"$WORK/tmpfiles.txt" 2>&1 &&
    ids=$(awk -F: '$1 == "arca" && $5 == "arca artifact repository" && $6 == "/var/lib/arca" &&
        $7 ~ /nologin$/ {print $3 " " $4}' "$R/etc/passwd") && [[ -n "$ids" ]] &&
    [[ "$(stat -c '%a %u %g' "$R/etc/arca")" == "770 0 ${ids#* }" ]] &&
    [[ "$(stat -c '%a %u %g' "$R/etc/arca/security")" == "700 $ids" ]] &&
    [[ "$(stat -c '%a %u %g' "$R/var/lib/arca")" == "750 $ids" ]] &&
    [[ "$(readlink "$R/var/lib/arca/etc")" == /etc/arca && "$(readlink "$R/var/lib/arca/run")" == /run/arca ]]; then
    pass "sysusers.d/tmpfiles.d: user arca, /etc/arca 0770 root:arca, /etc/arca/security 0700 arca, /var/lib/arca 0750, etc/ and run/ links"
else
    cat "$WORK/sysusers.txt" "$WORK/tmpfiles.txt" | sed 's/^/  /'
    fail "sysusers.d/tmpfiles.d" "user, directories or links not as expected"
fi

# ---------------------------------------------------------------------------------------------------------------
# 4. systemd-analyze security

for svc in "${SERVICES[@]/%/.service}"; do
    unit="$R/lib/systemd/system/$svc"
    systemd-analyze security --offline=true --root="$R" "$unit" >"$WORK/security.txt" 2>&1 || true
    exposure=$(sed -n "s/.*Overall exposure level for $svc: \([0-9.]*\).*/\1/p" "$WORK/security.txt")
    if [[ -z "$exposure" ]]; then
        tail -n 20 "$WORK/security.txt"
        fail "systemd-analyze security $svc" "no exposure level in its output"
    elif python3 -c "import sys; sys.exit(0 if float('$exposure') <= $MAX_EXPOSURE else 1)"; then
        pass "systemd-analyze security $svc: exposure $exposure (<= $MAX_EXPOSURE)"
    else
        grep '✗' "$WORK/security.txt" || true
        fail "systemd-analyze security $svc" "exposure $exposure > $MAX_EXPOSURE"
    fi
done

# ---------------------------------------------------------------------------------------------------------------
# 5. rpmlint, rpm install into an empty root

if ((HAVE_RPMLINT)); then
    rpmlint -c "$ROOT/rpm/rpmlint.toml" "${RPMS[@]}" >"$WORK/rpmlint.txt" 2>&1 || true
    summary=$(grep -E '[0-9]+ errors, [0-9]+ warnings' "$WORK/rpmlint.txt" || true)
    if [[ "$summary" == *" 0 errors, 0 warnings"* ]]; then
        pass "rpmlint: ${summary# }"
    else
        sed 's/^/  rpmlint: /' "$WORK/rpmlint.txt"
        fail rpmlint "${summary:-no summary line}"
    fi
else
    skip rpmlint "no rpmlint package for this distribution"
fi

RR=$WORK/rpmroot
mkdir -p "$RR"
if rpm --root="$RR" --initdb && rpm --root="$RR" --nodeps --noscripts -i "${RPMS[@]}" >"$WORK/rpm-i.txt" 2>&1; then
    missing=()
    for f in /usr/bin/arca-server /usr/bin/arcactl /usr/bin/arca-storage-mover /usr/bin/arca-license-agent \
        /usr/bin/arca-config-sync /usr/bin/arca-session-cleanup \
        /usr/lib/systemd/system/arca-session-cleanup.service /usr/lib/systemd/system/arca-session-cleanup.timer \
        /usr/lib/systemd/system-generators/arca-session-cleanup-generator \
        /usr/share/man/man8/arca-session-cleanup.8.gz /usr/share/doc/arca-session-cleanup/session-cleanup.md \
        /usr/lib/systemd/system/arca-server.service /usr/lib/systemd/system/arca-storage-mover.service \
        /usr/lib/systemd/system/arca-license-agent.service /usr/lib/systemd/system/arca-config-sync.service \
        /usr/share/man/man8/arca-storage-mover.8.gz /usr/share/doc/arca-storage-mover/storage-mover.md \
        /usr/share/man/man8/arca-license-agent.8.gz /usr/share/doc/arca-license-agent/licenses.md \
        /usr/share/man/man8/arca-config-sync.8.gz /usr/share/doc/arca-config-sync/config-sync.md \
        /usr/lib/systemd/system/arca.target /usr/lib/sysusers.d/arca.conf /usr/lib/tmpfiles.d/arca.conf \
        /etc/arca/binarystore.xml /etc/arca/system.properties /usr/share/man/man8/arca-server.8.gz \
        /usr/share/man/man8/arcactl.8.gz /usr/share/doc/arca-common/examples/haproxy.cfg; do
        [[ -e "$RR$f" ]] || missing+=("$f")
    done
    for u in "${SERVICES[@]/%/.service}" "${TIMERS[@]/%/.timer}"; do
        cmp -s "$RR/usr/lib/systemd/system/$u" "$ROOT/units/$u" || missing+=("$u differs from units/")
    done
    [[ -L "$RR/usr/lib/systemd/system-generators/arca-session-cleanup-generator" &&
        "$(realpath "$RR/usr/lib/systemd/system-generators/arca-session-cleanup-generator")" == "$RR/usr/bin/arca-session-cleanup" ]] ||
        missing+=("the generator symlink to /usr/bin/arca-session-cleanup")
    nq=$(rpm --root="$RR" -qa | grep -c '^arca' || true)
    if ((${#missing[@]} == 0 && nq == ${#RPMS[@]})); then
        pass "rpm --root install: $nq packages, files in place"
    else
        fail "rpm --root install" "missing: ${missing[*]}; packages: $nq"
    fi
else
    sed 's/^/  /' "$WORK/rpm-i.txt"
    fail "rpm --root install" "rpm -i failed"
fi

# ---------------------------------------------------------------------------------------------------------------
# 6. chroots of a Debian 12 base root fs

MOUNTS=()
umount_all() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null || true
    done
    MOUNTS=()
}
arca_on_exit umount_all

# new_chroot NAME: an overlay of the base root fs in $WORK/NAME/m (set as M). No /proc at first:
# systemd-tmpfiles fails there, so the installs exercise the scripts' fallbacks.
new_chroot() {
    local d=$WORK/$1
    mkdir -p "$d/u" "$d/w" "$d/m"
    mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$d/u,workdir=$d/w" "$d/m"
    MOUNTS+=("$d/m")
    M=$d/m
    mkdir -p "$M/tmp/d1" "$M/tmp/d2"
    cp "${DEBS[@]}" "$M/tmp/d1/"
    cp "${DEBS2[@]}" "$M/tmp/d2/"
}
stop_pid() { kill -TERM "$1" 2>/dev/null || true; }
in_chroot() { chroot "$M" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

# check NAME SCRIPT: PASS when SCRIPT (run in the chroot by sh -ec) succeeds. The scripts are
# single-quoted on purpose: they expand in the chroot (SC2016 disabled at the top).
check() {
    local name=$1
    shift
    if in_chroot sh -ec "$*" >"$WORK/check.out" 2>&1; then
        pass "$name"
    else
        sed 's/^/  /' "$WORK/check.out" | tail -n 20
        fail "$name" "command failed in the chroot"
    fi
}

# sidecar_check BINARY PATTERN WHAT — BINARY check-config, as arca on the packaged home in the chroot $M, passes and
# prints PATTERN
sidecar_check() {
    local bin=$1 pattern=$2 what=$3 out="$WORK/$1-check.txt"
    if chroot --userspec=arca:arca "$M" env -i PATH=/usr/bin:/bin ARCA_HOME=/var/lib/arca \
        "/usr/bin/$bin" check-config >"$out" 2>&1 && grep -q -- "$pattern" "$out"; then
        pass "$bin check-config as arca on the packaged home ($what)"
    else
        sed 's/^/  /' "$out"
        fail "$bin check-config in the chroot" "failed, or does not print '$pattern'"
    fi
}

BASE=""
if ((CHROOT)); then
    if [[ -f "$ROOT/tests/e2e/lib.sh" ]]; then
        # The e2e tests' cached Debian 12 root fs (debootstrap once, then reused).
        # shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
        . "$ROOT/tests/e2e/lib.sh"
        # In a subshell first: its helpers exit on failure, which must only skip this step.
        if (e2e_apt_ensure debootstrap && e2e_rootfs) >"$WORK/rootfs.log" 2>&1; then
            e2e_rootfs >>"$WORK/rootfs.log" 2>&1
            BASE=$E2E_ROOTFS
        fi
    fi
    [[ -n "$BASE" && -d "$BASE/usr" ]] || skip chroot "no Debian 12 base root fs (tests/e2e/lib.sh e2e_rootfs)"
fi

if [[ -n "$BASE" ]]; then
    # --- deb: install, run, upgrade, remove, purge ---------------------------------------------------------
    new_chroot deb
    if in_chroot sh -c 'dpkg -i /tmp/d1/arca-common_*.deb /tmp/d1/arca-server_*.deb /tmp/d1/arca-storage-mover_*.deb /tmp/d1/arca-license-agent_*.deb /tmp/d1/arca-config-sync_*.deb /tmp/d1/arca-session-cleanup_*.deb /tmp/d1/arca_*.deb' \
        </dev/null >"$WORK/dpkg-i.txt" 2>&1; then
        pass "dpkg -i $VERSION in a chroot (no systemd running)"
    else
        sed 's/^/  /' "$WORK/dpkg-i.txt"
        fail "dpkg -i" "installation failed"
    fi
    check "installed: user arca, directories, links, conffiles, units enabled" '
        getent passwd arca | grep -q ":/var/lib/arca:/usr/sbin/nologin$"
        test "$(stat -c "%a %U %G" /etc/arca)" = "770 root arca"
        test "$(stat -c "%a %U %G" /var/lib/arca)" = "750 arca arca"
        test "$(stat -c "%a %U %G" /run/arca)" = "750 arca arca"
        test "$(readlink /var/lib/arca/etc)" = /etc/arca
        test "$(readlink /var/lib/arca/run)" = /run/arca
        test "$(cat /var/lib/dpkg/info/arca-common.conffiles)" = "$(printf "/etc/arca/binarystore.xml\n/etc/arca/system.properties")"
        test ! -e /etc/arca/db.properties
        test -L /etc/systemd/system/multi-user.target.wants/arca.target
        test -L /etc/systemd/system/arca.target.wants/arca-server.service
        test -L /etc/systemd/system/arca.target.wants/arca-storage-mover.service
        test -L /etc/systemd/system/arca.target.wants/arca-license-agent.service
        test -L /etc/systemd/system/arca.target.wants/arca-config-sync.service
        test -L /etc/systemd/system/timers.target.wants/arca-session-cleanup.timer
        test ! -e /etc/systemd/system/arca.target.wants/arca-session-cleanup.service
        test "$(readlink /lib/systemd/system-generators/arca-session-cleanup-generator)" = /usr/bin/arca-session-cleanup'

    mount -t proc proc "$M/proc"
    MOUNTS+=("$M/proc")
    # The unit's first step: root switches to arca, then writes the defaults and the master key.
    check "prepare-config as root with --user arca writes the defaults and the master key as arca" '
        ARCA_HOME=/var/lib/arca arca-server prepare-config --user arca | grep -q "config prepared: /var/lib/arca; 2 change(s)"
        test "$(stat -c "%a %U" /etc/arca/db.properties)" = "600 arca"
        test "$(stat -c "%a %U" /etc/arca/security/master.key)" = "600 arca"
        ARCA_HOME=/var/lib/arca arca-server prepare-config --user arca | grep -q "nothing to change"'
    port=$(arca_free_port)
    chroot --userspec=arca:arca "$M" env -i PATH=/usr/bin:/bin ARCA_HOME=/var/lib/arca \
        ARCA_LISTEN="127.0.0.1:$port" /usr/bin/arca-server >"$WORK/server.log" 2>&1 &
    spid=$!
    arca_on_exit stop_pid "$spid"
    if arca_wait_for 30 "arca-server in the chroot" \
        curl -fsS "http://127.0.0.1:$port/artifactory/api/v1/system/readiness"; then
        pass "arca-server runs as arca on the packaged home (readiness 200)"
    else
        tail -n 20 "$WORK/server.log"
        fail "arca-server in the chroot" "not ready"
    fi
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    check "first start kept db.properties and the master key as they were and created the database" '
        test "$(stat -c "%a %U" /etc/arca/db.properties)" = "600 arca"
        test "$(stat -c "%a %U" /etc/arca/security/master.key)" = "600 arca"
        test -s /var/lib/arca/data/arca.db
        ARCA_HOME=/var/lib/arca arcactl config check'
    # each sidecar's check-config as arca on the packaged home: it passes and says why it idles on a single node
    sidecar_check arca-storage-mover "has no eventual queue and no sharding-cluster: the mover idles" "file-system: idles"
    sidecar_check arca-license-agent "no license" "single node: no license needed"
    sidecar_check arca-config-sync "nothing to share" "single node: nothing to share"
    if chroot --userspec=arca:arca "$M" env -i PATH=/usr/bin:/bin ARCA_HOME=/var/lib/arca \
        /usr/bin/arca-session-cleanup check-config >"$WORK/cleanup-check.txt" 2>&1 &&
        grep -q "hourly at a fixed random minute" "$WORK/cleanup-check.txt" &&
        chroot --userspec=arca:arca "$M" env -i PATH=/usr/bin:/bin ARCA_HOME=/var/lib/arca \
            /usr/bin/arca-session-cleanup >>"$WORK/cleanup-check.txt" 2>&1 &&
        grep -q "deleted 0 expired UI sessions (0 remain)" "$WORK/cleanup-check.txt"; then
        pass "arca-session-cleanup check-config and one run as arca on the packaged home (SQLite: deleted 0)"
    else
        sed 's/^/  /' "$WORK/cleanup-check.txt"
        fail "arca-session-cleanup in the chroot" "check-config or the run failed"
    fi

    in_chroot sh -c 'echo "arca.gc.interval.secs=7200" >>/etc/arca/system.properties' || true
    if in_chroot sh -c 'dpkg -i /tmp/d2/arca-common_*.deb /tmp/d2/arca-server_*.deb /tmp/d2/arca-storage-mover_*.deb /tmp/d2/arca-license-agent_*.deb /tmp/d2/arca-config-sync_*.deb /tmp/d2/arca-session-cleanup_*.deb /tmp/d2/arca_*.deb' \
        </dev/null >"$WORK/dpkg-up.txt" 2>&1; then
        pass "upgrade $VERSION -> $VERSION2 (dpkg -i, stdin closed: no prompt)"
    else
        sed 's/^/  /' "$WORK/dpkg-up.txt"
        fail upgrade "dpkg -i of $VERSION2 failed"
    fi
    check "upgrade kept the edited conffile, the server's files and the enabled state; the binaries report $VERSION2" '
        dpkg-query -W -f="\${Version}" arca-server | grep -qx "'"$VERSION2"'"
        for b in arca-server arca-storage-mover arca-license-agent arca-config-sync arca-session-cleanup arcactl; do
            /usr/bin/$b --version | grep -qxF "$b '"$VERSION2"'" || { echo "$b --version: $(/usr/bin/$b --version)"; exit 1; }
        done
        tail -n 1 /etc/arca/system.properties | grep -qx "arca.gc.interval.secs=7200"
        test "$(stat -c "%a %U %G" /etc/arca)" = "770 root arca"
        test -s /etc/arca/security/master.key
        dpkg-query -W -f="\${Version}" arca-license-agent | grep -qx "'"$VERSION2"'"
        dpkg-query -W -f="\${Version}" arca-config-sync | grep -qx "'"$VERSION2"'"
        dpkg-query -W -f="\${Version}" arca-session-cleanup | grep -qx "'"$VERSION2"'"
        test -L /etc/systemd/system/timers.target.wants/arca-session-cleanup.timer
        test -L /etc/systemd/system/arca.target.wants/arca-server.service
        test -L /etc/systemd/system/arca.target.wants/arca-storage-mover.service
        test -L /etc/systemd/system/arca.target.wants/arca-license-agent.service
        test -L /etc/systemd/system/arca.target.wants/arca-config-sync.service'

    in_chroot dpkg -r arca arca-server arca-storage-mover arca-license-agent arca-config-sync arca-session-cleanup arca-common >"$WORK/dpkg-r.txt" 2>&1 || fail "dpkg -r" "$(tail -n 3 "$WORK/dpkg-r.txt")"
    check "remove keeps configuration and data" '
        test ! -e /usr/bin/arca-server && test ! -e /usr/bin/arca-storage-mover
        test ! -e /usr/bin/arca-license-agent && test ! -e /usr/bin/arca-config-sync
        test ! -e /usr/bin/arca-session-cleanup && test ! -e /lib/systemd/system-generators/arca-session-cleanup-generator
        test -s /etc/arca/system.properties && test -s /etc/arca/db.properties
        test -s /etc/arca/security/master.key && test -s /var/lib/arca/data/arca.db'
    # what arca-config-sync leaves on a cluster node: purge removes it too
    in_chroot sh -c 'for f in binarystore.xml system.properties cluster.license; do echo x >/etc/arca/$f.previous; done' || true
    in_chroot dpkg -P arca-server arca-storage-mover arca-license-agent arca-config-sync arca-session-cleanup arca-common >"$WORK/dpkg-p.txt" 2>&1 || fail "dpkg -P" "$(tail -n 3 "$WORK/dpkg-p.txt")"
    check "purge removes /etc/arca, /var/lib/arca and the unit links; keeps the user" '
        test ! -e /etc/arca && test ! -e /var/lib/arca && test ! -e /run/arca
        ! ls /etc/systemd/system/*.wants/ | grep -q arca
        getent passwd arca >/dev/null'

    # --- deb: a cluster node (ha-node.properties placed before the installation) ----------------------------
    in_chroot sh -c 'mkdir -p /etc/arca && cp /dev/null /etc/arca/ha-node.properties' || true
    in_chroot sh -c 'dpkg -i /tmp/d1/arca-common_*.deb /tmp/d1/arca-server_*.deb /tmp/d1/arca-storage-mover_*.deb /tmp/d1/arca-license-agent_*.deb /tmp/d1/arca-config-sync_*.deb /tmp/d1/arca-session-cleanup_*.deb /tmp/d1/arca_*.deb' \
        </dev/null >"$WORK/dpkg-ha.txt" 2>&1 || fail "dpkg -i (cluster node)" "$(tail -n 3 "$WORK/dpkg-ha.txt")"
    check "cluster node: arca-server, arca-storage-mover, arca-license-agent, arca-config-sync and arca-session-cleanup.timer installed but not enabled" '
        test -x /usr/bin/arca-server && test -x /usr/bin/arca-storage-mover && test -x /usr/bin/arca-license-agent
        test -x /usr/bin/arca-config-sync
        test ! -e /etc/systemd/system/arca.target.wants/arca-server.service
        test ! -e /etc/systemd/system/arca.target.wants/arca-storage-mover.service
        test ! -e /etc/systemd/system/arca.target.wants/arca-license-agent.service
        test ! -e /etc/systemd/system/arca.target.wants/arca-config-sync.service
        test -x /usr/bin/arca-session-cleanup
        test ! -e /etc/systemd/system/timers.target.wants/arca-session-cleanup.timer
        test -L /etc/systemd/system/multi-user.target.wants/arca.target'
    umount_all

    # --- rpm with its scriptlets ----------------------------------------------------------------------------
    new_chroot rpm
    if rpm --root="$M" --initdb >"$WORK/rpm-chroot.txt" 2>&1 &&
        rpm --root="$M" --nodeps -i "${RPMS[@]}" >>"$WORK/rpm-chroot.txt" 2>&1; then
        pass "rpm -i with scriptlets in a chroot"
    else
        sed 's/^/  /' "$WORK/rpm-chroot.txt"
        fail "rpm -i (chroot)" "failed"
    fi
    check "rpm: user arca, directories, links, units enabled" '
        getent passwd arca | grep -q ":/var/lib/arca:"
        test "$(stat -c "%a %U %G" /etc/arca)" = "770 root arca"
        test "$(stat -c "%a %U %G" /var/lib/arca)" = "750 arca arca"
        test "$(readlink /var/lib/arca/etc)" = /etc/arca
        test -L /etc/systemd/system/multi-user.target.wants/arca.target
        test -L /etc/systemd/system/arca.target.wants/arca-server.service
        test -L /etc/systemd/system/arca.target.wants/arca-storage-mover.service
        test -L /etc/systemd/system/arca.target.wants/arca-license-agent.service
        test -L /etc/systemd/system/arca.target.wants/arca-config-sync.service
        test -L /etc/systemd/system/timers.target.wants/arca-session-cleanup.timer'
    rpm --root="$M" --nodeps -e arca arca-server arca-storage-mover arca-license-agent arca-config-sync arca-session-cleanup arca-common >"$WORK/rpm-e.txt" 2>&1 || fail "rpm -e" "$(tail -n 3 "$WORK/rpm-e.txt")"
    check "rpm -e: units disabled, data directory kept" '
        test ! -e /usr/bin/arca-server
        ! ls /etc/systemd/system/*.wants/ | grep -q arca
        test -d /var/lib/arca'
    umount_all
fi

finish

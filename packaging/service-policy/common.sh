# arca's enable-and-start policy for its services, written once for both package formats.
#
# This file holds the rule; deb.sh and rpm.sh how each format enables and starts a unit
# (arca_unit_enable, arca_unit_start) and, for rpm, the erase and upgrade steps. debian/rules
# puts common.sh + deb.sh in place of a marker line (ARCA_SERVICE_POLICY between two hashes)
# of each debian/*.postinst; rpm/arca.spec includes common.sh + rpm.sh into each scriptlet.
# POSIX sh; no percent sign (rpm would expand it).
#
# The rule: on the first installation a single node's services are enabled and started, so that
# installing arca gives a working server; a node with /etc/arca/ha-node.properties is a cluster
# node, whose services the administrator enables once the node is configured (docs/ha.md).
# Upgrades keep the enabled/disabled state.

# True on a cluster node.
arca_is_cluster_node() {
    [ -e "${DPKG_ROOT:-}/etc/arca/ha-node.properties" ]
}

# True where systemd runs (not in a chroot or an image build): only then is anything started.
arca_systemd_running() {
    [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]
}

# arca_enable_on_single_node NAME UNIT HINT...
# First installation: on a single node enable UNIT and succeed (the caller starts it); on a
# cluster node print why not and the HINT lines, and fail.
arca_enable_on_single_node() {
    arca_name=$1
    arca_unit=$2
    shift 2
    if arca_is_cluster_node; then
        echo "$arca_name: /etc/arca/ha-node.properties exists, so this is a cluster node:"
        for arca_line in "$@"; do
            echo "  $arca_line"
        done
        return 1
    fi
    arca_unit_enable "$arca_unit"
}

# arca_start_units NAME SEE UNIT...
# Start the units where systemd runs; on failure say where to look (SEE). Never fails the
# installation. Sets arca_started=1 when they started.
arca_start_units() {
    arca_name=$1
    arca_see=$2
    shift 2
    arca_started=
    arca_systemd_running || return 0
    # (the reload also runs the generators, e.g. the session clean-up's schedule)
    systemctl --system daemon-reload >/dev/null 2>&1 || true
    arca_unit_start "$@" && arca_started=1
    [ -n "$arca_started" ] || echo "$arca_name: could not be started, see: $arca_see" >&2
    return 0
}

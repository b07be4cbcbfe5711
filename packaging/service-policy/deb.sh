# How a .deb's postinst enables and starts a unit (see common.sh): deb-systemd-helper keeps
# dpkg's record of the unit's state, deb-systemd-invoke honours policy-rc.d.

arca_unit_enable() {
    deb-systemd-helper enable "$1" >/dev/null || true
}

arca_unit_start() {
    deb-systemd-invoke start "$@" >/dev/null
}

# How an .rpm's scriptlets enable, start, stop and restart units (see common.sh).

arca_unit_enable() {
    systemctl --no-reload enable "$1" >/dev/null 2>&1 || :
}

arca_unit_start() {
    systemctl start "$@" >/dev/null 2>&1
}

# arca_rpm_erase UNIT STOP_UNIT...  (rpm preun scriptlet, on erase)
# Disable UNIT and stop the units (a server drains, the agent gives its license back).
arca_rpm_erase() {
    arca_unit=$1
    shift
    systemctl --no-reload disable "$arca_unit" >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl stop "$@" >/dev/null 2>&1 || :
    fi
}

# arca_rpm_after COUNT RESTART_UNIT...  (rpm postun scriptlet; COUNT: its $1, 1 or more on an upgrade)
# Reload systemd; on an upgrade restart the given units if they run, so a stopped service
# stays stopped.
arca_rpm_after() {
    arca_count=$1
    shift
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        if [ "$arca_count" -ge 1 ] && [ "$#" -gt 0 ]; then
            systemctl try-restart "$@" >/dev/null 2>&1 || :
        fi
    fi
}

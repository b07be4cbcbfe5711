# shellcheck shell=bash
# The release binaries the packages ship: the one list the build scripts, packaging/lib.sh and
# the test scripts (tests/lib/arca.sh, tests/e2e/run.sh) build and copy. Sourced.
# shellcheck disable=SC2034 # used by the scripts that source this file
ARCA_BINARIES=(arca-server arcactl arca-storage-mover arca-license-agent arca-config-sync arca-session-cleanup)

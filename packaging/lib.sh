# shellcheck shell=bash
# Shared helpers of packaging/build-deb.sh and packaging/build-rpm.sh (the build scripts do not
# depend on tests/; the tests use tests/lib/arca.sh). Sourced; expects ROOT (the repository root).

# shellcheck source=binaries.sh
. "$ROOT/packaging/binaries.sh"

pkg_log() { echo "[packaging] $*" >&2; }
pkg_die() {
    echo "[packaging] error: $*" >&2
    exit 1
}

# The workspace version ([workspace.package] version = "…" in Cargo.toml).
pkg_workspace_version() {
    sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1
}

pkg_abspath() {
    mkdir -p "$1"
    (cd "$1" && pwd)
}

pkg_target_dir() {
    local t="${CARGO_TARGET_DIR:-$ROOT/target}"
    [[ "$t" = /* ]] || t="$ROOT/$t"
    echo "$t"
}

# pkg_need_tools CMD:DEBIAN_PACKAGE…: install the Debian packages of missing commands.
pkg_need_tools() {
    local missing=() spec
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) -eq 0 ]] || pkg_die "missing Debian packages: ${missing[*]} (install them as root)"
    pkg_log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# pkg_parse_args "$@": the options both build scripts take; sets VERSION (default: the workspace
# version), OUT (absolute; default target/packages) and BUILD (1, or 0 with --no-build).
# --help prints the calling script's header comment.
# shellcheck disable=SC2034  # VERSION, OUT and BUILD are for the calling script
pkg_parse_args() {
    VERSION=""
    OUT=""
    BUILD=1
    while (($#)); do
        case "$1" in
            --version) [[ $# -ge 2 ]] || pkg_die "--version needs a value"; VERSION="$2"; shift ;;
            --version=*) VERSION="${1#*=}" ;;
            --out) [[ $# -ge 2 ]] || pkg_die "--out needs a directory"; OUT="$2"; shift ;;
            --out=*) OUT="${1#*=}" ;;
            --no-build) BUILD=0 ;;
            -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            *) pkg_die "unknown option: $1 (try --help)" ;;
        esac
        shift
    done
    VERSION="${VERSION:-$(pkg_workspace_version)}"
    [[ "$VERSION" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] ||
        pkg_die "invalid version '$VERSION' (digits first, then letters, digits, . + ~)"
    OUT="$(pkg_abspath "${OUT:-$ROOT/target/packages}")"
}

# pkg_build_binaries 1|0: cargo build the release binaries (1), or check they exist (0).
pkg_build_binaries() {
    if [[ "$1" = 1 ]]; then
        local packages=() bin
        for bin in "${ARCA_BINARIES[@]}"; do packages+=(-p "$bin"); done
        pkg_log "cargo build --release ${packages[*]}"
        (cd "$ROOT" && cargo build --release "${packages[@]}") >&2
    fi
    local bin
    for bin in "${ARCA_BINARIES[@]}"; do
        [[ -x "$(pkg_target_dir)/release/$bin" ]] ||
            pkg_die "$(pkg_target_dir)/release/$bin is missing (run without --no-build)"
    done
}

# pkg_stamp_version FILE VERSION: writes VERSION into the version stamp of the binary FILE (a copy
# in the staging dir, never target/release), so that the binary reports the version of its package
# (--version, the banner, /api/system/version, the node registry); a higher version of the same code
# for upgrade tests needs no second build. The stamp is arca-runtime's (src/build_info.rs): 64
# bytes, a marker, the version, NULs. A binary without exactly one stamp is an error.
pkg_stamp_version() {
    perl -e '
        use strict;
        my ($file, $version) = @ARGV;
        my $marker = "\0arca-version-stamp:";
        my $room = 64 - length $marker;
        length($version) < $room or die "version $version is longer than the stamp allows (" . ($room - 1) . ")\n";
        open(my $fh, "+<:raw", $file) or die "$file: $!\n";
        my $data = do { local $/; <$fh> };
        my $at = index($data, $marker);
        $at >= 0 or die "$file: no version stamp (not an arca binary?)\n";
        index($data, $marker, $at + 1) < 0 or die "$file: two version stamps\n";
        seek($fh, $at + length $marker, 0) or die "$file: $!\n";
        print {$fh} pack("a$room", $version) or die "$file: $!\n";
        close($fh) or die "$file: $!\n";
    ' "$1" "$2" || pkg_die "could not stamp version $2 into $1"
}

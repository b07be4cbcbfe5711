#!/usr/bin/env bash
# What the browser tests of the web UI need (docs/ui.md), installed once and cached under /var/cache/arca-test:
# Debian's chromium + chromium-driver, Selenium (PyPI) in a venv, axe-core (npm), and for the Firefox pass Debian's
# firefox-esr with geckodriver (crates.io, `cargo install`: Mozilla publishes it there).
#
#   . tests/lib/ui.sh; arca_ui_prepare [--firefox]   # exports ARCA_UI_PYTHON, ARCA_UI_AXE_JS (and GECKODRIVER)
#   tests/lib/ui.sh [--firefox]                       # the same, as a command (run-all's install step)
#
# Env: ARCA_SKIP_INSTALL=1 (no apt-get), ARCA_UI_CACHE (the Selenium/axe-core cache dir).

ARCA_UI_SELENIUM=4.51.0
ARCA_UI_AXE=4.14.1
ARCA_UI_GECKODRIVER=0.37.1

_arca_ui_say() { printf 'ui.sh: %s\n' "$*" >&2; }

# _arca_ui_apt PACKAGE... — apt-get install of the missing packages (not with ARCA_SKIP_INSTALL=1)
_arca_ui_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]] || {
        _arca_ui_say "missing ${missing[*]} (ARCA_SKIP_INSTALL=1)"
        return 1
    }
    _arca_ui_say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; }
}

# arca_ui_geckodriver — builds geckodriver into the cache unless it is there; prints its path
arca_ui_geckodriver() {
    local root=/var/cache/arca-test/geckodriver-$ARCA_UI_GECKODRIVER tmp rc=0
    if [[ ! -x "$root/bin/geckodriver" ]]; then
        if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
            PATH="${HOME:-/root}/.cargo/bin:$PATH"
        fi
        _arca_ui_say "building geckodriver $ARCA_UI_GECKODRIVER into $root (cargo install, a few minutes)"
        tmp=$(mktemp -d "${TMPDIR:-/tmp}/arca-geckodriver-build.XXXXXX") || return 1
        cargo install -q geckodriver --version "$ARCA_UI_GECKODRIVER" --locked --root "$root" --target-dir "$tmp" >&2 || rc=$?
        rm -rf -- "$tmp"
        ((rc == 0)) || return "$rc"
    fi
    printf '%s\n' "$root/bin/geckodriver"
}

arca_ui_prepare() {
    local cache
    _arca_ui_apt chromium chromium-driver python3-venv curl || return 1
    if ! command -v npm >/dev/null 2>&1; then _arca_ui_apt nodejs npm || return 1; fi
    cache=${ARCA_UI_CACHE:-/var/cache/arca-test/ui-selenium-$ARCA_UI_SELENIUM-axe-$ARCA_UI_AXE}
    if [[ ! -x "$cache/venv/bin/python" ]] || ! "$cache/venv/bin/python" -c 'import selenium' 2>/dev/null; then
        mkdir -p "$cache"
        python3 -m venv "$cache/venv" || return 1
        "$cache/venv/bin/pip" install -q "selenium==$ARCA_UI_SELENIUM" >"$cache/pip.log" 2>&1 || {
            _arca_ui_say "pip install selenium: $(tail -n 5 "$cache/pip.log")"
            return 1
        }
    fi
    if [[ ! -f "$cache/node_modules/axe-core/axe.min.js" ]]; then
        (cd "$cache" && NPM_CONFIG_USERCONFIG=/dev/null npm install --no-audit --no-fund --no-save "axe-core@$ARCA_UI_AXE" \
            >"$cache/npm.log" 2>&1) || {
            _arca_ui_say "npm install axe-core: $(tail -n 5 "$cache/npm.log")"
            return 1
        }
    fi
    ARCA_UI_PYTHON=$cache/venv/bin/python
    ARCA_UI_AXE_JS=$cache/node_modules/axe-core/axe.min.js
    export ARCA_UI_PYTHON ARCA_UI_AXE_JS
    if [[ "${1:-}" == --firefox ]]; then
        _arca_ui_apt firefox-esr || return 1
        GECKODRIVER=$(arca_ui_geckodriver) || return 1
        export GECKODRIVER
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    arca_ui_prepare "$@"
    printf 'ARCA_UI_PYTHON=%s\nARCA_UI_AXE_JS=%s\n' "$ARCA_UI_PYTHON" "$ARCA_UI_AXE_JS"
    [[ -z "${GECKODRIVER:-}" ]] || printf 'GECKODRIVER=%s\n' "$GECKODRIVER"
fi

#!/usr/bin/env bash
# Browser test of the web UI (docs/ui.md): Debian's headless Chromium driven through its WebDriver (chromium-driver)
# by Selenium (PyPI, in a venv cached under /var/cache/arca-test), against a real arca started here:
#
#  1. /ui/ shows the login form; a wrong password is refused on the page; the admin logs in;
#  2. every page (home, High Availability, Licenses) renders, is checked by axe-core (npm, injected: no serious or
#     critical violations), and its navigation timing is printed (interactive < 300 ms);
#  3. the High Availability table lists this node as RUNNING; the Licenses page shows the pool;
#  4. logout brings the login form back and the session is gone (GET /ui/auth/current is 401);
#  5. a screenshot of every page at 1280x800 and at phone width (ARCA_UI_SCREENSHOTS, default the work dir;
#     docs/ui/ holds the committed ones).
#
# Prints "PASS ui" or "FAIL ui: reason"; exit status 0 / 1.
# Env: ARCA_SKIP_BUILD=1, ARCA_KEEP_TMP=1, ARCA_SKIP_INSTALL=1 (no apt-get), ARCA_UI_SCREENSHOTS=DIR.
set -Eeuo pipefail

export ARCA_TEST_NAME=ui
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"

fail() {
    trap - ERR
    arca_dump_log 30
    printf 'FAIL ui: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

SELENIUM=4.51.0
AXE=4.14.1
if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure chromium chromium-driver python3-venv curl
    command -v npm >/dev/null 2>&1 || arca_apt_ensure nodejs npm
fi
for c in chromium chromedriver python3 npm; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done
CACHE=${ARCA_UI_CACHE:-/var/cache/arca-test/ui-selenium-$SELENIUM-axe-$AXE}
if [[ ! -x "$CACHE/venv/bin/python" ]] || ! "$CACHE/venv/bin/python" -c 'import selenium' 2>/dev/null; then
    mkdir -p "$CACHE"
    python3 -m venv "$CACHE/venv" || fail "python3 -m venv"
    "$CACHE/venv/bin/pip" install -q "selenium==$SELENIUM" >"$CACHE/pip.log" 2>&1 || fail "pip install selenium: $(tail -n 5 "$CACHE/pip.log")"
fi
if [[ ! -f "$CACHE/node_modules/axe-core/axe.min.js" ]]; then
    (cd "$CACHE" && NPM_CONFIG_USERCONFIG=/dev/null npm install --no-audit --no-fund --no-save "axe-core@$AXE" \
        >"$CACHE/npm.log" 2>&1) || fail "npm install axe-core: $(tail -n 5 "$CACHE/npm.log")"
fi

arca_ensure_built
arca_tmpdir WORK ui-work
arca_start
SHOTS=${ARCA_UI_SCREENSHOTS:-$WORK/screenshots}
mkdir -p "$SHOTS"

out=$(ARCA_URL="$ARCA_URL" ARCA_ADMIN_PW="$ARCA_ADMIN_PW" SHOTS="$SHOTS" AXE_JS="$CACHE/node_modules/axe-core/axe.min.js" \
    timeout 300 "$CACHE/venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/../ui/browser_test.py" 2>&1) ||
    fail "the browser test: $(printf '%s' "$out" | tail -n 30)"
printf '%s\n' "$out"
printf 'PASS ui\n'

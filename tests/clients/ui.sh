#!/usr/bin/env bash
# Browser test of the web UI (docs/ui.md): tests/ui/browser_test.py driven by Selenium (PyPI) through the browsers'
# WebDriver servers — Debian's headless Chromium (chromium-driver), then Firefox ESR (geckodriver) — each against a
# fresh arca started here (tools installed and cached by tests/lib/ui.sh; Firefox only when ARCA_TEST_BACKEND is not
# postgresql — the second pass checks the server):
#
#  1. /ui/ shows the login form; a wrong password is refused on the page; the admin logs in;
#  2. the check modules (tests/ui/check_*.py, see CHECKS in browser_test.py) open every page, each checked by
#     axe-core (npm, injected: no serious or critical violations) and by its navigation timing (interactive
#     < 300 ms), and do what the page is for (see each module);
#  3. logout brings the login form back and the session is gone (GET /ui/auth/current is 401);
#  4. a screenshot of every page (ARCA_UI_SCREENSHOTS, default the work dir; docs/ui/ holds the committed ones,
#     from Chromium).
#
# Prints "PASS ui (Chromium and Firefox)" or "FAIL ui: reason"; exit status 0 / 1.
# Env: ARCA_SKIP_BUILD=1, ARCA_KEEP_TMP=1, ARCA_SKIP_INSTALL=1 (no apt-get), ARCA_UI_SCREENSHOTS=DIR,
#      UI_CHECKS=ha,browse (only those check modules).
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

# shellcheck source-path=SCRIPTDIR source=../lib/ui.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/ui.sh"
arca_ui_prepare --firefox || fail "the browsers and Selenium could not be installed (tests/lib/ui.sh)"

arca_ensure_built
arca_tmpdir WORK ui-work
SHOTS=${ARCA_UI_SCREENSHOTS:-$WORK/screenshots}
mkdir -p "$SHOTS" "$WORK/firefox"

# browser_test BROWSER SHOTS — the browser test against a fresh arca (its own home: the checks create things)
browser_test() {
    local out
    arca_stop
    arca_start
    out=$(UI_BROWSER=$1 ARCA_URL="$ARCA_URL" ARCA_ADMIN_PW="$ARCA_ADMIN_PW" SHOTS="$2" AXE_JS="$ARCA_UI_AXE_JS" \
        timeout 300 "$ARCA_UI_PYTHON" "$(dirname "${BASH_SOURCE[0]}")/../ui/browser_test.py" 2>&1) ||
        fail "the browser test in $1: $(printf '%s' "$out" | tail -n 30)"
    printf '%s\n' "$out" | sed "s/^/[$1] /"
}

browser_test chromium "$SHOTS"
if [[ "${ARCA_TEST_BACKEND:-sqlite}" == postgresql ]]; then
    # the PostgreSQL pass checks the server, not the browser: Firefox ran on the SQLite pass
    printf 'PASS ui (Chromium)\n'
    exit 0
fi
# Firefox ESR: the same checks (its screenshots stay in the work dir; docs/ui/ has Chromium's)
browser_test firefox "$WORK/firefox"
printf 'PASS ui (Chromium and Firefox)\n'

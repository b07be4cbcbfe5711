#!/usr/bin/env bash
# Real-client test: Maven resolves everything through an arca virtual repository that aggregates a local
# repository and a remote repository proxying a Maven "central" on this machine (nginx over Debian's
# /usr/share/maven-repo, tests/lib/central.sh); docs/repositories.md.
#
#  1. arca in a temp home: libs-local (maven, local), central (maven, remote of the nginx central) and maven
#     (virtual: libs-local then central, defaultDeploymentRepo libs-local);
#  2. settings.xml mirrors * to arca's virtual repository; a project with a JUnit test is built and DEPLOYED with a
#     FRESH local repository: every plugin and dependency comes from arca ("Downloaded from arca"), nothing from
#     anywhere else; the deploy goes through the virtual repository into libs-local, whose maven-metadata.xml the
#     server calculated; nginx served each file once (its access log), arca's central-cache holds them;
#  3. nginx is stopped; a consumer of the deployed library is built with ANOTHER fresh local repository: it passes
#     from arca's cache alone, and the library comes from libs-local through the virtual repository.
# Prints "PASS maven-proxy" or "FAIL maven-proxy: reason"; exit status 0 / 1.
#
# Env: ARCA_SKIP_BUILD=1 (use the existing release binary), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages),
#      ARCA_EXTERNAL_URL=…/artifactory + ARCA_EXTERNAL_ADMIN_PW (run against an arca that is already running, e.g.
#      a cluster behind HAProxy: tests/e2e/run.sh --only ha; nothing is built or started then).
set -Eeuo pipefail

export ARCA_TEST_NAME=maven-proxy
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/central.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/central.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/maven-project.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/maven-project.sh"

fail() {
    trap - ERR
    arca_dump_log 30
    printf 'FAIL maven-proxy: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

MAVEN_PKGS=(maven libmaven-deploy-plugin-java libmaven-install-plugin-java libmaven-jar-plugin-java
    libmaven-compiler-plugin-java libmaven-resources-plugin-java libsurefire-java junit4 nginx-light)
if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl "${MAVEN_PKGS[@]}"
    command -v javac >/dev/null 2>&1 || arca_apt_ensure default-jdk-headless
fi
for c in mvn java javac curl nginx sha1sum; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

arca_tmpdir WORK maven-proxy-work
if [[ -n "${ARCA_EXTERNAL_URL:-}" ]]; then
    ARCA_URL=$ARCA_EXTERNAL_URL
    ARCA_ADMIN_PW=${ARCA_EXTERNAL_ADMIN_PW:?ARCA_EXTERNAL_URL needs ARCA_EXTERNAL_ADMIN_PW}
    arca_log "using the arca at $ARCA_URL"
else
    arca_ensure_built
    arca_start
fi
U="$ARCA_URL"
central_start "$WORK/central"

arca_create_repo libs-local '{"rclass":"local","packageType":"maven"}' || fail "could not create libs-local"
arca_create_repo central "{\"rclass\":\"remote\",\"packageType\":\"maven\",\"url\":\"$CENTRAL_URL\"}" ||
    fail "could not create the remote repository central"
arca_create_repo maven \
    '{"rclass":"virtual","packageType":"maven","repositories":["libs-local","central"],"defaultDeploymentRepo":"libs-local"}' ||
    fail "could not create the virtual repository maven"

PW_XML=$(arca_xml_escape "$ARCA_ADMIN_PW")
cat >"$WORK/settings.xml" <<XML
<settings>
  <servers>
    <server><id>arca</id><username>admin</username><password>$PW_XML</password></server>
  </servers>
  <mirrors>
    <mirror><id>arca</id><mirrorOf>*</mirrorOf><url>$U/maven</url></mirror>
  </mirrors>
</settings>
XML

MVN_LOG_N=0
# run_mvn DIR DESCRIPTION ARGS... — Maven with a 10 min timeout; sets MVN_LOG; on failure shows the end of its log
run_mvn() {
    local dir=$1 desc=$2
    shift 2
    MVN_LOG_N=$((MVN_LOG_N + 1))
    MVN_LOG="$WORK/mvn-$MVN_LOG_N.log"
    arca_log "mvn $desc"
    if ! (cd "$dir" && timeout 600 mvn -B -s "$WORK/settings.xml" "$@") >"$MVN_LOG" 2>&1; then
        grep -E '^\[(ERROR|WARNING)\]' "$MVN_LOG" | head -n 40 >&2 || true
        tail -n 30 "$MVN_LOG" >&2
        fail "mvn $desc failed (log: $MVN_LOG)"
    fi
    grep -q 'BUILD SUCCESS' "$MVN_LOG" || fail "mvn $desc: no BUILD SUCCESS in $MVN_LOG"
}

# every download in MVN_LOG came from arca's virtual repository
only_from_arca() {
    local n others
    n=$(grep -c "Downloaded from arca: $U/maven/" "$MVN_LOG" || true)
    ((n >= ${1:-1})) || fail "$MVN_LOG: only $n downloads from arca's virtual repository"
    others=$(grep -E '^\[INFO\] Downloaded from ' "$MVN_LOG" | grep -v "from arca: $U/maven/" | head -n 3 || true)
    [[ -z "$others" ]] || fail "downloads from elsewhere than arca: $others"
    arca_log "$n downloads, all from arca's virtual repository"
}

# --- 2. the library, built and deployed through arca with a fresh local repository ---------------------------
L="$WORK/proxied-lib"
maven_lib_project "$L" "$U/maven"
started=$SECONDS
run_mvn "$L" "deploy proxied-lib through the virtual repository (fresh local repo)" \
    -Dmaven.repo.local="$WORK/m2-first" deploy
COLD_SECS=$((SECONDS - started))
only_from_arca 20
grep -q 'Tests run: 1, Failures: 0' "$MVN_LOG" || fail "the library's JUnit test did not run"
JUNIT=junit/junit/4.13.2/junit-4.13.2.jar
[[ "$(central_hits "$JUNIT")" == 1 ]] || fail "nginx served $JUNIT $(central_hits "$JUNIT") times, expected once"
arca_curl -f -o /dev/null "$U/api/storage/central-cache/$JUNIT" || fail "central-cache does not hold $JUNIT"
REL=com/example/proxied-lib/1.0.0/proxied-lib-1.0.0.jar
LIB_SHA1=$(sha1sum "$L/target/proxied-lib-1.0.0.jar" | cut -d' ' -f1)
storage=$(arca_curl -f "$U/api/storage/libs-local/$REL") || fail "the deploy did not land in libs-local"
[[ "$(printf '%s' "$storage" | arca_json_get checksums.sha1)" == "$LIB_SHA1" ]] ||
    fail "libs-local holds another $REL: $storage"
meta=$(arca_curl -f "$U/libs-local/com/example/proxied-lib/maven-metadata.xml") ||
    fail "libs-local has no maven-metadata.xml for proxied-lib"
grep -q '<release>1.0.0</release>' <<<"$meta" || fail "server-calculated maven-metadata.xml: $meta"
served_before=$(wc -l <"$CENTRAL_LOG")
arca_log "cold build: ${COLD_SECS}s, nginx answered $served_before requests"

# --- 3. nginx stopped: a consumer builds from arca's cache alone ----------------------------------------------
central_stop
C="$WORK/consumer"
maven_app_project "$C"
started=$SECONDS
run_mvn "$C" "package the consumer with nginx stopped (another fresh local repo)" \
    -Dmaven.repo.local="$WORK/m2-second" package
WARM_SECS=$((SECONDS - started))
only_from_arca 20
grep -qF "Downloaded from arca: $U/maven/$REL" "$MVN_LOG" ||
    fail "the consumer did not get proxied-lib from libs-local through the virtual repository"
grep -q 'Tests run: 1, Failures: 0' "$MVN_LOG" || fail "the consumer's JUnit test did not run"
[[ "$(wc -l <"$CENTRAL_LOG")" == "$served_before" ]] || fail "nginx was asked while it was stopped?"
arca_log "cached build with the upstream down: ${WARM_SECS}s"
printf 'PASS maven-proxy (cold build %ss through arca, %s upstream requests; build from the cache with the upstream down %ss)\n' \
    "$COLD_SECS" "$served_before" "$WARM_SECS"

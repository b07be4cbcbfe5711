#!/usr/bin/env bash
# Remote repositories next to their upstream, in one run (docs/benchmarks.md, "Remote and virtual repositories"):
#  - a Maven build (tests/lib/maven-project.sh: a library with a JUnit test, `mvn package`, a fresh local
#    repository each time) resolving everything straight from nginx over /usr/share/maven-repo (the baseline),
#    then through an arca virtual repository (a local repository + a remote of that nginx) with an empty cache
#    (cold: the remote repository is created anew) and with a full one (warm);
#  - one large artifact (1 GiB) fetched straight from nginx, then through the remote repository cold (time to first
#    byte while arca fetches, stores and verifies it) and warm; arca's RSS before and its peak (VmHWM) after.
# A benchmark, not a test: tests/run-all.sh does not run it; the exit status only says whether it could measure.
#
# Usage: tests/bench/remote.sh [--runs N] [--size MIB] [--no-build] [--keep]
#   --runs N      Maven builds of each kind, best of N (default 3)
#   --size MIB    size of the large artifact (default 1024)
#   --no-build    use the existing target/release/arca-server
#   --keep        keep the work dir
# Env: ARCA_SKIP_INSTALL=1 (do not apt-get what is missing).
set -euo pipefail

export ARCA_TEST_NAME=bench-remote
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$HERE/../lib/arca.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/central.sh
. "$HERE/../lib/central.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/maven-project.sh
. "$HERE/../lib/maven-project.sh"

RUNS=3
SIZE_MIB=1024
while (($#)); do
    case "$1" in
        --runs) RUNS=$2; shift ;;
        --size) SIZE_MIB=$2; shift ;;
        --no-build) export ARCA_SKIP_BUILD=1 ;;
        --keep) export ARCA_KEEP_TMP=1 ;;
        *) arca_help_or_die "$1" ;;
    esac
    shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$SIZE_MIB" =~ ^[1-9][0-9]*$ ]] || arca_die "--runs and --size take positive integers"

if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl maven libmaven-jar-plugin-java libmaven-compiler-plugin-java libmaven-resources-plugin-java \
        libsurefire-java junit4 "$(arca_apt_pick nginx-light nginx)"
fi
arca_ensure_built
# on the repository's disk (the large artifact is cached by arca and kept by nginx), not on a tmpfs
export ARCA_TEST_TMP="$ARCA_ROOT/target"
arca_tmpdir WORK bench-remote

central_start "$WORK/central"
BIG=extra/big/1.0/big-1.0.bin
mkdir -p "$CENTRAL_EXTRA/big/1.0"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$CENTRAL_EXTRA/big/1.0/big-1.0.bin"
arca_start "$WORK/arca-home"
U=$ARCA_URL

arca_create_repo libs-local '{"rclass":"local","packageType":"maven"}' >/dev/null 2>&1 || arca_die "libs-local"
REMOTE_JSON="{\"rclass\":\"remote\",\"packageType\":\"maven\",\"url\":\"$CENTRAL_URL\"}"
arca_create_repo central "$REMOTE_JSON" >/dev/null 2>&1 || arca_die "central"
arca_create_repo maven \
    '{"rclass":"virtual","packageType":"maven","repositories":["libs-local","central"]}' >/dev/null 2>&1 ||
    arca_die "maven"

settings() {
    cat <<XML
<settings>
  <servers><server><id>mirror</id><username>admin</username><password>$(arca_xml_escape "$ARCA_ADMIN_PW")</password></server></servers>
  <mirrors><mirror><id>mirror</id><mirrorOf>*</mirrorOf><url>$1</url></mirror></mirrors>
</settings>
XML
}
settings "$CENTRAL_URL" >"$WORK/settings-nginx.xml"
settings "$U/maven" >"$WORK/settings-arca.xml"
maven_lib_project "$WORK/project"

# build SETTINGS NAME — one `mvn package` with a fresh local repository, logged to $WORK/mvn-NAME.log; prints its
# wall time in seconds
build() {
    local t0 t1 log="$WORK/mvn-$2.log"
    rm -rf "$WORK/project/target" "$WORK/m2"
    t0=$(date +%s.%N)
    (cd "$WORK/project" && timeout 600 mvn -B -s "$1" -Dmaven.repo.local="$WORK/m2" package) >"$log" 2>&1 ||
        arca_die "mvn package ($2) failed: $(tail -n 20 "$log")"
    t1=$(date +%s.%N)
    grep -q 'BUILD SUCCESS' "$log" || arca_die "mvn package ($2): no BUILD SUCCESS in $log"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

# a cold arca: the remote repository created anew (its cache, misses and upstream state are gone)
recreate_remote() {
    arca_curl -f -o /dev/null -X DELETE "$U/api/repositories/central" || arca_die "DELETE central"
    arca_create_repo central "$REMOTE_JSON" >/dev/null 2>&1 || arca_die "central"
    # deleting a repository takes it out of the virtual repositories that list it: put it back
    arca_curl -f -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d '{"repositories":["libs-local","central"]}' "$U/api/repositories/maven" || arca_die "POST maven"
}

best() { tr ' ' '\n' | grep . | sort -n | head -n1; }

build "$WORK/settings-arca.xml" warmup >/dev/null # the JVM and the OS caches, both sides
nginx_t="" cold_t="" warm_t=""
for ((r = 1; r <= RUNS; r++)); do
    nginx_t+=" $(build "$WORK/settings-nginx.xml" "nginx-$r")"
    recreate_remote
    cold_t+=" $(build "$WORK/settings-arca.xml" "arca-cold-$r")"
    warm_t+=" $(build "$WORK/settings-arca.xml" "arca-warm-$r")"
    arca_log "run $r: nginx${nginx_t##* }s, cold${cold_t##* }s, warm${warm_t##* }s"
done
downloads=$(grep -c 'Downloaded from mirror' "$WORK/mvn-arca-warm-$RUNS.log" || true)
NGINX_T=$(best <<<"$nginx_t")
COLD_T=$(best <<<"$cold_t")
WARM_T=$(best <<<"$warm_t")

# the large artifact: curl's time to first byte and total
fetch() {
    curl -sS -o /dev/null -u "admin:$ARCA_ADMIN_PW" -w '%{time_starttransfer} %{time_total} %{size_download}\n' "$1"
}
sync
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$ARCA_PID/status")
read -r up_ttfb up_total up_size < <(fetch "$CENTRAL_URL/$BIG")
direct_hits=$(central_hits "$BIG")
read -r cold_ttfb cold_total cold_size < <(fetch "$U/central/$BIG")
read -r warm_ttfb warm_total warm_size < <(fetch "$U/central/$BIG")
hwm_after=$(awk '/VmHWM/ {print $2}' "/proc/$ARCA_PID/status")
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$ARCA_PID/status")
big_hits=$(($(central_hits "$BIG") - direct_hits))
for s in "$cold_size" "$warm_size"; do
    [[ "$s" == "$up_size" ]] || arca_die "arca sent $s bytes of the large artifact, nginx $up_size"
done

mbps() { awk -v s="$1" -v t="$2" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '\n%-44s %12s %12s %8s\n' "remote and virtual repositories" "arca" "nginx" "ratio"
printf '%-44s %12s %12s %8s\n' "Maven build, cold cache (s, best of $RUNS)" "$COLD_T" "$NGINX_T" "$(ratio "$COLD_T" "$NGINX_T")"
printf '%-44s %12s %12s %8s\n' "Maven build, warm cache (s, best of $RUNS)" "$WARM_T" "$NGINX_T" "$(ratio "$WARM_T" "$NGINX_T")"
printf '%-44s %12s %12s %8s\n' "  (downloads per build)" "$downloads" "" ""
printf '%-44s %12s %12s %8s\n' "${SIZE_MIB} MiB cold: time to first byte (s)" "$cold_ttfb" "$up_ttfb" "$(ratio "$cold_ttfb" "$up_ttfb")"
printf '%-44s %12s %12s %8s\n' "${SIZE_MIB} MiB cold: total (s), MB/s" "$cold_total $(mbps "$cold_size" "$cold_total")" "$up_total $(mbps "$up_size" "$up_total")" "$(ratio "$cold_total" "$up_total")"
printf '%-44s %12s %12s %8s\n' "${SIZE_MIB} MiB warm: total (s), MB/s" "$warm_total $(mbps "$warm_size" "$warm_total")" "$up_total $(mbps "$up_size" "$up_total")" "$(ratio "$warm_total" "$up_total")"
printf '%-44s %12s %12s %8s\n' "  arca's upstream GETs of it (nginx log)" "$big_hits" "" ""
printf '%-44s %12s %12s %8s\n' "arca RSS before / after (MiB)" "$((rss_before / 1024)) / $((rss_after / 1024))" "" ""
printf '%-44s %12s %12s %8s\n' "arca peak RSS, whole run (MiB, VmHWM)" "$((hwm_after / 1024))" "" ""

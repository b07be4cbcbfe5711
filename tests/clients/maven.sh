#!/usr/bin/env bash
# Real-client test: Debian's Maven deploys to arca and resolves from it.
#
#  1. start arca in a temp home, create the maven repos libs-release and libs-snapshot;
#  2. `mvn deploy` of com.example:demo-lib:1.0.0 (a jar with one class) to libs-release;
#  3. `mvn deploy` of demo-lib:1.1.0-SNAPSHOT twice to libs-snapshot (build numbers 1 and 2);
#  4. a consumer project that depends on demo-lib:1.0.0 resolves it from arca into a FRESH local repository,
#     compiles, and runs (java -cp) a class that calls the library; its output is checked;
#  5. the REST API agrees: /api/storage gives the jar's sha1, maven-metadata.xml is served, anonymous GET is 401.
#
# Plugins come from /usr/share/maven-repo (Debian packages), through a mirror of central; see
# shared/notes/real-clients.md §1. Prints "PASS maven" or "FAIL maven: reason"; exit status 0 / 1.
#
# Env: ARCA_SKIP_BUILD=1 (use the existing release binary), ARCA_KEEP_TMP=1 (keep the work dir),
#      ARCA_SKIP_INSTALL=1 (do not apt-get install missing packages).
set -Eeuo pipefail

export ARCA_TEST_NAME=maven
# shellcheck source-path=SCRIPTDIR source=../lib/arca.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/arca.sh"

fail() {
    trap - ERR
    arca_dump_log 30
    printf 'FAIL maven: %s\n' "$*"
    exit 1
}
arca_die_hook() { fail "$*"; }
trap 'fail "unexpected error (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

MAVEN_PKGS=(maven libmaven-deploy-plugin-java libmaven-install-plugin-java libmaven-jar-plugin-java
    libmaven-compiler-plugin-java libmaven-resources-plugin-java libsurefire-java)
if [[ "${ARCA_SKIP_INSTALL:-0}" != 1 ]]; then
    arca_apt_ensure curl "${MAVEN_PKGS[@]}"
    command -v javac >/dev/null 2>&1 || arca_apt_ensure default-jdk-headless
fi
for c in mvn java javac curl python3 sha1sum; do
    command -v "$c" >/dev/null 2>&1 || fail "$c is not installed"
done

arca_ensure_built
arca_tmpdir WORK maven-work
arca_start
U="$ARCA_URL"

# --- repositories -----------------------------------------------------------------------------------------------
arca_create_repo libs-release \
    '{"rclass":"local","packageType":"maven","handleReleases":true,"handleSnapshots":false}' ||
    fail "could not create the maven repository libs-release"
arca_create_repo libs-snapshot \
    '{"rclass":"local","packageType":"maven","handleReleases":false,"handleSnapshots":true}' ||
    fail "could not create the maven repository libs-snapshot"

# --- Maven settings: credentials for server id "arca", central mirrored to Debian's repo ----------------------------
PW_XML=$(arca_xml_escape "$ARCA_ADMIN_PW")
cat >"$WORK/settings.xml" <<EOF
<settings>
  <localRepository>$WORK/m2-publisher</localRepository>
  <servers>
    <server><id>arca</id><username>admin</username><password>$PW_XML</password></server>
    <server><id>arca-snapshots</id><username>admin</username><password>$PW_XML</password></server>
  </servers>
  <mirrors>
    <mirror><id>debian</id><mirrorOf>central</mirrorOf><url>file:///usr/share/maven-repo</url></mirror>
  </mirrors>
</settings>
EOF

MVN_LOG_N=0
# run_mvn DIR DESCRIPTION ARGS... — runs Maven with a 10 min timeout; on failure, shows the end of its log.
run_mvn() {
    local dir=$1 desc=$2
    shift 2
    MVN_LOG_N=$((MVN_LOG_N + 1))
    local log="$WORK/mvn-$MVN_LOG_N.log"
    arca_log "mvn $desc"
    if ! (cd "$dir" && timeout 600 mvn -B -s "$WORK/settings.xml" "$@") >"$log" 2>&1; then
        grep -E '^\[(ERROR|WARNING)\]' "$log" | head -n 40 >&2 || true
        tail -n 30 "$log" >&2
        fail "mvn $desc failed (log: $log)"
    fi
    grep -q 'BUILD SUCCESS' "$log" || fail "mvn $desc: no BUILD SUCCESS in $log"
}

# pom_head ARTIFACT VERSION — the start of a demo project's pom.xml, up to its properties
pom_head() {
    cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>$1</artifactId>
  <version>$2</version>
  <packaging>jar</packaging>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.source>11</maven.compiler.source>
    <maven.compiler.target>11</maven.compiler.target>
  </properties>
EOF
}

# --- the library --------------------------------------------------------------------------------------------------
# write_lib VERSION — (re)writes the library project for VERSION
write_lib() {
    local version=$1 d="$WORK/demo-lib"
    mkdir -p "$d/src/main/java/com/example/demo"
    {
        pom_head demo-lib "$version"
        cat <<EOF
  <distributionManagement>
    <repository><id>arca</id><url>$U/libs-release</url></repository>
    <snapshotRepository><id>arca-snapshots</id><url>$U/libs-snapshot</url></snapshotRepository>
  </distributionManagement>
</project>
EOF
    } >"$d/pom.xml"
    cat >"$d/src/main/java/com/example/demo/Greeter.java" <<EOF
package com.example.demo;

public final class Greeter {
    private Greeter() {}

    public static String greet(String who) {
        return "Hello, " + who + ", from demo-lib $version";
    }
}
EOF
}

write_lib 1.0.0
run_mvn "$WORK/demo-lib" "deploy demo-lib 1.0.0 -> libs-release" deploy
LIB_JAR="$WORK/demo-lib/target/demo-lib-1.0.0.jar"
[[ -s "$LIB_JAR" ]] || fail "Maven did not build $LIB_JAR"
LIB_SHA1=$(sha1sum "$LIB_JAR" | cut -d' ' -f1)

# --- REST checks on the release ---------------------------------------------------------------------------------
REL="com/example/demo-lib/1.0.0/demo-lib-1.0.0.jar"
storage=$(arca_curl -f "$U/api/storage/libs-release/$REL") ||
    fail "GET /api/storage/libs-release/$REL failed"
srv_sha1=$(printf '%s' "$storage" | arca_json_get checksums.sha1 2>/dev/null) ||
    fail "GET /api/storage/libs-release/$REL: no checksums.sha1 in: $storage"
[[ "$srv_sha1" == "$LIB_SHA1" ]] ||
    fail "storage API sha1 $srv_sha1 != local jar sha1 $LIB_SHA1"

for f in demo-lib-1.0.0.pom demo-lib-1.0.0.pom.sha1 demo-lib-1.0.0.jar.sha1; do
    code=$(arca_http_code -u "admin:$ARCA_ADMIN_PW" "$U/libs-release/com/example/demo-lib/1.0.0/$f")
    [[ "$code" == 200 ]] || fail "GET libs-release/com/example/demo-lib/1.0.0/$f -> $code, expected 200"
done
arca_curl -f -o "$WORK/downloaded.jar" "$U/libs-release/$REL" || fail "GET libs-release/$REL failed"
cmp -s "$WORK/downloaded.jar" "$LIB_JAR" || fail "the jar served by arca differs from the deployed one"

meta=$(arca_curl -f "$U/libs-release/com/example/demo-lib/maven-metadata.xml") ||
    fail "GET libs-release/com/example/demo-lib/maven-metadata.xml failed"
grep -q '<version>1.0.0</version>' <<<"$meta" ||
    fail "maven-metadata.xml does not list 1.0.0: $meta"

# not anonymous-readable: a challenge that Maven understands
hdrs=$(curl -s --max-time 30 -o /dev/null -D - "$U/libs-release/$REL" | tr -d '\r')
status=$(head -n1 <<<"$hdrs" | awk '{print $2}')
[[ "$status" == 401 ]] || fail "anonymous GET libs-release/$REL -> $status, expected 401"
grep -qi '^www-authenticate: *basic' <<<"$hdrs" ||
    fail "anonymous GET libs-release/$REL: 401 without 'WWW-Authenticate: Basic'"

# --- SNAPSHOT, deployed twice ---------------------------------------------------------------------------------------
write_lib 1.1.0-SNAPSHOT
run_mvn "$WORK/demo-lib" "deploy demo-lib 1.1.0-SNAPSHOT (1st) -> libs-snapshot" deploy
run_mvn "$WORK/demo-lib" "deploy demo-lib 1.1.0-SNAPSHOT (2nd) -> libs-snapshot" deploy
SNAP="com/example/demo-lib/1.1.0-SNAPSHOT"
smeta=$(arca_curl -f "$U/libs-snapshot/$SNAP/maven-metadata.xml") ||
    fail "GET libs-snapshot/$SNAP/maven-metadata.xml failed"
grep -q '<buildNumber>2</buildNumber>' <<<"$smeta" ||
    fail "snapshot maven-metadata.xml has no buildNumber 2 after two deploys: $smeta"
ts=$(sed -n 's:.*<timestamp>\([0-9.]*\)</timestamp>.*:\1:p' <<<"$smeta" | head -n1)
[[ -n "$ts" ]] || fail "snapshot maven-metadata.xml has no timestamp: $smeta"
snap_jar="$SNAP/demo-lib-1.1.0-$ts-2.jar"
snap_sha1=$(sha1sum "$WORK/demo-lib/target/demo-lib-1.1.0-SNAPSHOT.jar" | cut -d' ' -f1)
storage=$(arca_curl -f "$U/api/storage/libs-snapshot/$snap_jar") ||
    fail "GET /api/storage/libs-snapshot/$snap_jar failed"
[[ "$(printf '%s' "$storage" | arca_json_get checksums.sha1 2>/dev/null)" == "$snap_sha1" ]] ||
    fail "storage API of $snap_jar does not match the local snapshot jar: $storage"
arca_curl -f "$U/libs-snapshot/com/example/demo-lib/maven-metadata.xml" | grep -q '1.1.0-SNAPSHOT' ||
    fail "libs-snapshot/com/example/demo-lib/maven-metadata.xml does not list 1.1.0-SNAPSHOT"

# --- the consumer: resolves demo-lib 1.0.0 from arca into a fresh local repository --------------------------------
C="$WORK/consumer"
mkdir -p "$C/src/main/java/com/example/app"
{
    pom_head demo-app 1.0.0
    cat <<EOF
  <repositories>
    <repository>
      <id>arca</id>
      <url>$U/libs-release</url>
      <snapshots><enabled>false</enabled></snapshots>
    </repository>
  </repositories>
  <dependencies>
    <dependency><groupId>com.example</groupId><artifactId>demo-lib</artifactId><version>1.0.0</version></dependency>
  </dependencies>
</project>
EOF
} >"$C/pom.xml"
cat >"$C/src/main/java/com/example/app/App.java" <<'EOF'
package com.example.app;

import com.example.demo.Greeter;

public final class App {
    public static void main(String[] args) {
        System.out.println(Greeter.greet("arca"));
    }
}
EOF
FRESH="$WORK/m2-consumer"
run_mvn "$C" "package consumer (fresh local repo)" -Dmaven.repo.local="$FRESH" package
RESOLVED="$FRESH/com/example/demo-lib/1.0.0/demo-lib-1.0.0.jar"
[[ -s "$RESOLVED" ]] || fail "demo-lib was not resolved into the fresh local repo ($RESOLVED missing)"
[[ "$(sha1sum "$RESOLVED" | cut -d' ' -f1)" == "$LIB_SHA1" ]] || fail "the resolved jar differs from the deployed one"
grep -qF "Downloaded from arca: $U/libs-release/$REL" "$WORK/mvn-$MVN_LOG_N.log" ||
    fail "the consumer's Maven log does not show demo-lib-1.0.0.jar downloaded from arca"
out=$(java -cp "$C/target/classes:$RESOLVED" com.example.app.App 2>&1) || fail "java com.example.app.App failed: $out"
expected="Hello, arca, from demo-lib 1.0.0"
[[ "$out" == "$expected" ]] || fail "the consumer printed '$out', expected '$expected'"

arca_log "consumer printed: $out"

# --- Maven 3.8.1+ blocks plain-HTTP repositories on any host but localhost; the override README.md documents ------
# The same server reached as 127.0.0.2 (a forwarder: it listens on 127.0.0.1 only) is "external" to Maven.
ALT_HOST=127.0.0.2
ALT_URL=${U/127.0.0.1/$ALT_HOST}
python3 - "$ALT_HOST" "$ARCA_PORT" >"$WORK/forwarder.log" 2>&1 <<'PY' &
import socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
def pipe(a, b):
    try:
        while (data := a.recv(65536)):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
server = socket.create_server((host, port))
while True:
    client, _ = server.accept()
    upstream = socket.create_connection(("127.0.0.1", port))
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
PY
FORWARDER=$!
arca_on_exit kill "$FORWARDER"
arca_wait_for 10 "the forwarder on $ALT_HOST" curl -fsS -o /dev/null "$ALT_URL/api/system/ping" ||
    fail "no forwarder on $ALT_HOST:$ARCA_PORT"
C2="$WORK/consumer-external"
cp -r "$C" "$C2"
rm -rf "$C2/target"
sed -i "s#$U/libs-release#$ALT_URL/libs-release#" "$C2/pom.xml"
MVN_LOG_N=$((MVN_LOG_N + 1))
if (cd "$C2" && timeout 600 mvn -B -s "$WORK/settings.xml" -Dmaven.repo.local="$WORK/m2-external-1" package) \
    >"$WORK/mvn-$MVN_LOG_N.log" 2>&1; then
    fail "Maven resolved from plain-HTTP $ALT_URL without the override (is it older than 3.8.1?)"
fi
grep -q "Blocked mirror for repositories" "$WORK/mvn-$MVN_LOG_N.log" ||
    fail "Maven failed on $ALT_URL, but not because of its HTTP blocker (log: $WORK/mvn-$MVN_LOG_N.log)"
arca_log "mvn against $ALT_URL: blocked by maven-default-http-blocker, as README.md says"
sed 's#  <mirrors>#  <mirrors>\n    <mirror><id>maven-default-http-blocker</id><mirrorOf>external:dummy:*</mirrorOf><url>http://0.0.0.0/</url><blocked>false</blocked></mirror>#' \
    "$WORK/settings.xml" >"$WORK/settings-http.xml"
MVN_LOG_N=$((MVN_LOG_N + 1))
(cd "$C2" && timeout 600 mvn -B -s "$WORK/settings-http.xml" -Dmaven.repo.local="$WORK/m2-external-2" package) \
    >"$WORK/mvn-$MVN_LOG_N.log" 2>&1 || {
    tail -n 30 "$WORK/mvn-$MVN_LOG_N.log" >&2
    fail "mvn with the README's blocker override failed against $ALT_URL"
}
grep -qF "Downloaded from arca: $ALT_URL/libs-release/$REL" "$WORK/mvn-$MVN_LOG_N.log" ||
    fail "with the override, the Maven log does not show demo-lib downloaded from $ALT_URL"
arca_log "mvn against $ALT_URL with the README's override of maven-default-http-blocker: resolved"

trap - ERR
printf 'PASS maven\n'

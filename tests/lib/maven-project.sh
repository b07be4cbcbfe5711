#!/usr/bin/env bash
# Small Maven projects for the tests and benchmarks that drive a real Maven (tests/clients/maven-proxy.sh,
# tests/bench/remote.sh). Source it; it only defines functions.
#
#   maven_lib_project DIR [DEPLOY_URL]   com.example:proxied-lib:1.0.0, a class and its JUnit 4.13.2 test; with
#                                        DEPLOY_URL its distributionManagement deploys there (server id "arca")
#   maven_app_project DIR                com.example:proxied-app:1.0.0, which depends on proxied-lib 1.0.0 and
#                                        JUnit, a class that calls the library and its test

_maven_pom_head() {
    cat <<XML
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
XML
}

maven_lib_project() {
    local d=$1 deploy_url=${2:-}
    mkdir -p "$d/src/main/java/com/example/proxied" "$d/src/test/java/com/example/proxied"
    {
        _maven_pom_head proxied-lib 1.0.0
        cat <<XML
  <dependencies>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version><scope>test</scope></dependency>
  </dependencies>
XML
        if [[ -n "$deploy_url" ]]; then
            cat <<XML
  <distributionManagement>
    <repository><id>arca</id><url>$deploy_url</url></repository>
  </distributionManagement>
XML
        fi
        echo '</project>'
    } >"$d/pom.xml"
    cat >"$d/src/main/java/com/example/proxied/Words.java" <<'JAVA'
package com.example.proxied;

public final class Words {
    private Words() {}

    public static String shout(String s) {
        return s.toUpperCase() + "!";
    }
}
JAVA
    cat >"$d/src/test/java/com/example/proxied/WordsTest.java" <<'JAVA'
package com.example.proxied;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class WordsTest {
    @Test
    public void shouts() {
        assertEquals("ARCA!", Words.shout("arca"));
    }
}
JAVA
}

maven_app_project() {
    local d=$1
    mkdir -p "$d/src/main/java/com/example/app" "$d/src/test/java/com/example/app"
    {
        _maven_pom_head proxied-app 1.0.0
        cat <<'XML'
  <dependencies>
    <dependency><groupId>com.example</groupId><artifactId>proxied-lib</artifactId><version>1.0.0</version></dependency>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version><scope>test</scope></dependency>
  </dependencies>
</project>
XML
    } >"$d/pom.xml"
    cat >"$d/src/main/java/com/example/app/App.java" <<'JAVA'
package com.example.app;

public final class App {
    public static String greeting() {
        return com.example.proxied.Words.shout("hello");
    }
}
JAVA
    cat >"$d/src/test/java/com/example/app/AppTest.java" <<'JAVA'
package com.example.app;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class AppTest {
    @Test
    public void greets() {
        assertEquals("HELLO!", App.greeting());
    }
}
JAVA
}

//! Maven on the server side (`docs/repositories.md`, "Maven"): `maven-metadata.xml`
//! calculated after deploys and deletes (clients' uploads of it dropped), `maxUniqueSnapshots`,
//! `snapshotVersionBehavior`, `checksumPolicyType`, POM consistency, and policy refusals as
//! 409 with the reason in the status line.

use super::*;

use serde_json::json;

fn pom(group: &str, artifact: &str, version: &str) -> String {
    format!(
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
         <groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></project>"
    )
}

fn text(s: &Server, path: &str) -> (StatusCode, String) {
    let r = s.get(path);
    (r.status(), r.text().unwrap())
}

fn deploy(s: &Server, path: &str, body: impl Into<reqwest::blocking::Body>) {
    let r = s.put(path, body);
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "PUT {path}: {}",
        r.text().unwrap()
    );
}

/// The status line of a raw `PUT` of `body` to `path`.
fn status_line_of_put(s: &Server, path: &str, body: &str) -> String {
    let (_, answer) = s.raw(&format!(
        "PUT {}{path} HTTP/1.1\r\nHost: x\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        s.context,
        s.auth_header(),
        body.len()
    ));
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn metadata_is_calculated_by_the_server() {
    let (_dir, s) = fresh_server();
    s.create_repo(
        "libs",
        json!({"rclass": "local", "packageType": "maven", "maxUniqueSnapshots": 2}),
    );
    let base = "/libs/org/ex/a";
    // releases, deployed concurrently: no version is lost
    std::thread::scope(|scope| {
        for minor in 0..8 {
            let s = &s;
            scope.spawn(move || {
                let v = format!("1.{minor}");
                deploy(s, &format!("{base}/{v}/a-{v}.pom"), pom("org.ex", "a", &v));
                deploy(s, &format!("{base}/{v}/a-{v}.jar"), format!("jar {v}"));
            });
        }
    });
    let (st, meta) = text(&s, &format!("{base}/maven-metadata.xml"));
    assert_eq!(st, StatusCode::OK);
    for minor in 0..8 {
        assert!(
            meta.contains(&format!("<version>1.{minor}</version>")),
            "{meta}"
        );
    }
    assert!(meta.contains("<groupId>org.ex</groupId>"), "{meta}");
    assert!(
        meta.contains("<latest>1.7</latest>") && meta.contains("<release>1.7</release>"),
        "{meta}"
    );
    assert_eq!(
        text(&s, &format!("{base}/maven-metadata.xml.sha1")).1,
        sha1_hex(meta.as_bytes())
    );
    // a client's metadata (and its checksums) is accepted and dropped
    deploy(
        &s,
        &format!("{base}/maven-metadata.xml"),
        "<metadata>client</metadata>",
    );
    deploy(
        &s,
        &format!("{base}/maven-metadata.xml.sha1"),
        sha1_hex(b"<metadata>client</metadata>"),
    );
    assert!(
        text(&s, &format!("{base}/maven-metadata.xml"))
            .1
            .contains("<version>1.7</version>")
    );

    // timestamped snapshots: the newest two builds stay (maxUniqueSnapshots=2)
    let snap = format!("{base}/2.0-SNAPSHOT");
    for build in 1..=3 {
        let value = format!("2.0-20261207.10000{build}-{build}");
        deploy(
            &s,
            &format!("{snap}/a-{value}.pom"),
            pom("org.ex", "a", "2.0-SNAPSHOT"),
        );
        deploy(
            &s,
            &format!("{snap}/a-{value}.jar"),
            format!("snapshot {build}"),
        );
    }
    let (_, smeta) = text(&s, &format!("{snap}/maven-metadata.xml"));
    assert!(smeta.contains("<buildNumber>3</buildNumber>"), "{smeta}");
    assert!(
        smeta.contains("<timestamp>20261207.100003</timestamp>"),
        "{smeta}"
    );
    assert!(
        smeta.contains("<value>2.0-20261207.100003-3</value>"),
        "{smeta}"
    );
    assert_eq!(
        text(&s, &format!("{snap}/a-2.0-20261207.100001-1.jar")).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        text(&s, &format!("{snap}/a-2.0-20261207.100002-2.jar")).0,
        StatusCode::OK
    );
    assert!(
        text(&s, &format!("{base}/maven-metadata.xml"))
            .1
            .contains("<latest>2.0-SNAPSHOT</latest>")
    );

    // snapshotVersionBehavior=unique (the default): a non-unique name gets a timestamp, the
    // POM that follows the jar joins its build
    deploy(
        &s,
        &format!("{base}/3.0-SNAPSHOT/a-3.0-SNAPSHOT.jar"),
        "three",
    );
    deploy(
        &s,
        &format!("{base}/3.0-SNAPSHOT/a-3.0-SNAPSHOT.pom"),
        pom("org.ex", "a", "3.0-SNAPSHOT"),
    );
    let (_, m3) = text(&s, &format!("{base}/3.0-SNAPSHOT/maven-metadata.xml"));
    assert!(m3.contains("<buildNumber>1</buildNumber>"), "{m3}");
    let listing = s.json("/api/storage/libs/org/ex/a/3.0-SNAPSHOT");
    let names: Vec<String> = listing["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["uri"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.ends_with("-1.jar") || n.ends_with("-1.pom"))
            .count(),
        2,
        "{names:?}"
    );

    // a deleted version leaves the metadata
    let r = s
        .admin(Method::DELETE, s.url(&format!("{base}/1.7")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, after) = text(&s, &format!("{base}/maven-metadata.xml"));
    assert!(
        !after.contains("<version>1.7</version>") && after.contains("<release>1.6</release>"),
        "{after}"
    );

    // copy and move keep the metadata of both repositories true
    s.create_repo(
        "staging",
        json!({"rclass": "local", "packageType": "maven"}),
    );
    let post = |what: &str| {
        let r = s.admin(Method::POST, s.url(what)).send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{what}: {}", r.text().unwrap());
    };
    post("/api/copy/libs/org/ex/a/1.6?to=/staging/org/ex/a/1.6");
    post("/api/move/libs/org/ex/a/1.5/a-1.5.jar?to=/staging/org/ex/a/1.5/a-1.5.jar");
    let (_, staged) = text(&s, "/staging/org/ex/a/maven-metadata.xml");
    assert!(
        staged.contains("<version>1.5</version>")
            && staged.contains("<version>1.6</version>")
            && staged.contains("<release>1.6</release>")
            && !staged.contains("<version>1.4</version>"),
        "{staged}"
    );
    s.create_repo(
        "archive",
        json!({"rclass": "local", "packageType": "maven"}),
    );
    post("/api/move/libs/org/ex/a/1.6?to=/archive/org/ex/a/1.6");
    let (_, left) = text(&s, &format!("{base}/maven-metadata.xml"));
    assert!(
        !left.contains("<version>1.6</version>") && left.contains("<release>1.5</release>"),
        "{left}"
    );
}

#[test]
fn repository_policies_refuse_with_409_and_their_reason() {
    let (_dir, s) = fresh_server();
    s.create_repo(
        "rel",
        json!({"rclass": "local", "packageType": "maven", "handleSnapshots": false}),
    );
    s.create_repo(
        "snap",
        json!({"rclass": "local", "packageType": "maven", "handleReleases": false}),
    );
    // a release to a snapshot-only repository: Maven shows the status line's reason
    let line = status_line_of_put(&s, "/snap/org/ex/a/1.0/a-1.0.jar", "x");
    assert!(line.starts_with("HTTP/1.1 409 "), "{line}");
    assert!(line.contains("handleReleases=false"), "{line}");
    let line = status_line_of_put(
        &s,
        "/rel/org/ex/a/1.0-SNAPSHOT/a-1.0-20260101.000000-1.jar",
        "x",
    );
    assert!(
        line.starts_with("HTTP/1.1 409 ") && line.contains("handleSnapshots"),
        "{line}"
    );
    s.create_repo(
        "only-org",
        json!({"rclass": "local", "packageType": "maven", "includesPattern": "org/**"}),
    );
    let line = status_line_of_put(&s, "/only-org/com/ex/a/1.0/a-1.0.jar", "x");
    assert!(
        line.starts_with("HTTP/1.1 409 ") && line.contains("includesPattern"),
        "{line}"
    );

    // POM consistency
    let (st, msg) =
        error_message(s.put("/rel/org/ex/a/1.0/a-1.0.pom", pom("org.ex", "other", "1.0")));
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(
        msg.contains("org.ex:other:1.0") && msg.contains("suppressPomConsistencyChecks"),
        "{msg}"
    );
    let (st, msg) = error_message(s.put("/rel/org/ex/a/1.0/a-1.0.pom", "not xml <"));
    assert_eq!(st, StatusCode::CONFLICT, "{msg}");
    assert_eq!(
        text(&s, "/rel/org/ex/a/1.0/a-1.0.pom").0,
        StatusCode::NOT_FOUND
    );
    let r = s
        .admin(Method::POST, s.url("/api/repositories/rel"))
        .json(&json!({"suppressPomConsistencyChecks": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    deploy(
        &s,
        "/rel/org/ex/a/1.0/a-1.0.pom",
        pom("org.ex", "other", "1.0"),
    );

    // snapshotVersionBehavior=non-unique stores timestamped deploys under the plain name
    s.create_repo(
        "nu",
        json!({"rclass": "local", "packageType": "maven", "snapshotVersionBehavior": "non-unique"}),
    );
    deploy(
        &s,
        "/nu/org/ex/a/1.0-SNAPSHOT/a-1.0-20260101.000000-1.jar",
        "nu",
    );
    assert_eq!(
        text(&s, "/nu/org/ex/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar").1,
        "nu"
    );

    // checksumPolicyType=server-generated-checksums: the client's checksums don't matter
    s.create_repo("sg", json!({"rclass": "local", "packageType": "maven", "checksumPolicyType": "server-generated-checksums"}));
    let r = s
        .admin(Method::PUT, s.url("/sg/org/ex/a/1.0/a-1.0.jar"))
        .header("X-Checksum-Sha1", "0".repeat(40))
        .body("content")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    deploy(&s, "/sg/org/ex/a/1.0/a-1.0.jar.sha1", "0".repeat(40));
    assert_eq!(
        text(&s, "/sg/org/ex/a/1.0/a-1.0.jar.sha1").1,
        sha1_hex(b"content")
    );
    // the default refuses them
    s.create_repo("cc", json!({"rclass": "local", "packageType": "maven"}));
    deploy(&s, "/cc/org/ex/a/1.0/a-1.0.jar", "content");
    assert_eq!(
        error_message(s.put("/cc/org/ex/a/1.0/a-1.0.jar.sha1", "0".repeat(40))).0,
        StatusCode::CONFLICT
    );
    let (st, msg) = error_message(s.put(
        "/api/repositories/bad",
        json!({"rclass": "local", "snapshotVersionBehavior": "sometimes"}).to_string(),
    ));
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        msg.contains("snapshotVersionBehavior") && msg.contains("non-unique"),
        "{msg}"
    );
}

//! The reference's REST API as existing scripts use it (`docs/api.md`): complete repository
//! configuration documents, `PATCH /api/metadata`, v1 permission targets, the searches, AQL,
//! builds and download statistics.

use super::*;

use serde_json::json;

const PW: &str = "Corr3ct-horse-battery";

/// The reference's documented complete configuration of a `kind` repository (every package
/// type's fields in one document, as its REST API documentation shows them).
fn reference_document(kind: &str, package_type: &str) -> Value {
    let mut doc = match kind {
        "local" => serde_json::from_str::<Value>(
r#"{
            "projectKey": "projx", "environments": ["DEV", "PROD"],
            "description": "The local repository public description", "notes": "Some internal notes",
            "includesPattern": "**/*", "excludesPattern": "", "repoLayoutRef": "maven-2-default",
            "debianTrivialLayout": false, "checksumPolicyType": "client-checksums",
            "handleReleases": true, "handleSnapshots": true, "maxUniqueSnapshots": 0,
            "maxUniqueTags": 0, "snapshotVersionBehavior": "unique",
            "suppressPomConsistencyChecks": false, "blackedOut": false, "xrayIndex": false,
            "propertySets": ["ps1", "ps2"], "archiveBrowsingEnabled": false,
            "calculateYumMetadata": false, "yumRootDepth": 0, "dockerApiVersion": "V2",
            "enableFileListsIndexing": "false", "optionalIndexCompressionFormats": ["bz2", "lzma", "xz"],
            "downloadRedirect": "false", "cdnRedirect": "false", "blockPushingSchema1": "false",
            "primaryKeyPairRef": "mygpgkey", "secondaryKeyPairRef": "mysecgpgkey",
            "priorityResolution": "false", "cargoInternalIndex": false, "terraformType": "MODULE"
        }"#,
        )
        .unwrap(),
        "remote" => serde_json::from_str::<Value>(
r#"{
            "projectKey": "projx", "environments": ["DEV", "PROD"],
            "url": "http://127.0.0.1:9/some-repo", "username": "remote-repo-user", "password": "pass",
            "proxy": "proxy1", "disableProxy": false,
            "description": "The remote repository public description", "notes": "Some internal notes",
            "includesPattern": "**/*", "excludesPattern": "", "repoLayoutRef": "maven-2-default",
            "remoteRepoLayoutRef": "", "remoteRepoChecksumPolicyType": "generate-if-absent",
            "handleReleases": true, "handleSnapshots": true, "maxUniqueSnapshots": 0,
            "suppressPomConsistencyChecks": false, "hardFail": false, "offline": false,
            "blackedOut": false, "storeArtifactsLocally": true, "socketTimeoutMillis": 15000,
            "localAddress": "212.150.139.167", "retrievalCachePeriodSecs": 7200,
            "missedRetrievalCachePeriodSecs": 1800, "unusedArtifactsCleanupPeriodHours": 0,
            "assumedOfflinePeriodSecs": 300, "fetchJarsEagerly": false, "fetchSourcesEagerly": false,
            "shareConfiguration": false, "synchronizeProperties": false,
            "blockMismatchingMimeTypes": true, "xrayIndex": false, "propertySets": ["ps1", "ps2"],
            "allowAnyHostAuth": false, "enableCookieManagement": false,
            "enableTokenAuthentication": false, "bowerRegistryUrl": "https://registry.bower.io",
            "gitRegistryUrl": "https://github.com/rust-lang/crates.io-index",
            "composerRegistryUrl": "https://packagist.org", "pyPIRegistryUrl": "https://pypi.org",
            "vcsType": "GIT", "vcsGitProvider": "GITHUB", "vcsGitDownloadUrl": "",
            "bypassHeadRequests": false, "clientTlsCertificate": "",
            "externalDependenciesEnabled": false,
            "externalDependenciesPatterns": ["**/*microsoft*/**", "**/*github*/**"],
            "downloadRedirect": "false", "cdnRedirect": "false", "feedContextPath": "api/v2",
            "downloadContextPath": "api/v2/package", "v3FeedUrl": "https://api.nuget.org/v3/index.json",
            "listRemoteFolderItems": "false",
            "contentSynchronisation": {"enabled": false, "statistics": {"enabled": false},
                "properties": {"enabled": false}, "source": {"originAbsenceDetection": false}},
            "blockPushingSchema1": false, "priorityResolution": "false",
            "disableUrlNormalization": "false"
        }"#,
        )
        .unwrap(),
        _ => json!({
            "projectKey": "projx",
            "repositories": [format!("local-{package_type}"), format!("remote-{package_type}")],
            "description": "The virtual repository public description", "notes": "Some internal notes",
            "includesPattern": "**/*", "excludesPattern": "", "repoLayoutRef": "maven-2-default",
            "debianTrivialLayout": false, "debianDefaultArchitectures": "arm64,amd64",
            "artifactoryRequestsCanRetrieveRemoteArtifacts": false, "keyPair": "keypair1",
            "pomRepositoryReferencesCleanupPolicy": "discard_active_reference",
            "defaultDeploymentRepo": format!("local-{package_type}"),
            "optionalIndexCompressionFormats": ["bz2", "lzma", "xz"],
            "forceMavenAuthentication": false, "externalDependenciesEnabled": false,
            "externalDependenciesPatterns": ["**/*microsoft*/**", "**/*github*/**"],
            "externalDependenciesRemoteRepo": "", "primaryKeyPairRef": "mygpgkey",
            "secondaryKeyPairRef": "mysecgpgkey"
        }),
    };
    let obj = doc.as_object_mut().unwrap();
    obj.insert("key".into(), json!(format!("{kind}-{package_type}")));
    obj.insert("rclass".into(), json!(kind));
    obj.insert("packageType".into(), json!(package_type));
    doc
}

/// `"true"`/`"false"` as the reference's documents spell some booleans.
fn normalized(v: &Value) -> Value {
    match v.as_str() {
        Some("true") => json!(true),
        Some("false") => json!(false),
        _ => v.clone(),
    }
}

#[test]
fn reference_configuration_documents_round_trip() {
    let (_dir, s) = fresh_server();
    for package_type in ["generic", "maven"] {
        for kind in ["local", "remote", "virtual"] {
            let key = format!("{kind}-{package_type}");
            let doc = reference_document(kind, package_type);
            let r = s
                .admin(Method::PUT, s.url(&format!("/api/repositories/{key}")))
                .json(&doc)
                .send()
                .unwrap();
            let ignored = r
                .headers()
                .get("x-arca-ignored-fields")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            assert_eq!(r.status(), StatusCode::OK, "{key}: {}", r.text().unwrap());
            let ignored: Vec<&str> = ignored.split(", ").collect();
            let got = s.json(&format!("/api/repositories/{key}"));
            // every field sent is returned as sent, or named as ignored (the password: never
            // shown)
            for (field, sent) in doc.as_object().unwrap() {
                if field == "password" {
                    assert!(got.get("password").is_none(), "{key}: password shown");
                    continue;
                }
                if ignored.contains(&field.as_str()) {
                    continue;
                }
                assert_eq!(
                    got.get(field).map(normalized),
                    Some(normalized(sent)),
                    "{key}: field {field} (ignored: {ignored:?})"
                );
            }
            // fields of other package types are ignored and named
            match kind {
                "local" => assert!(ignored.contains(&"dockerApiVersion"), "{key}: {ignored:?}"),
                "remote" => assert!(ignored.contains(&"v3FeedUrl"), "{key}: {ignored:?}"),
                _ => assert!(
                    ignored.contains(&"debianDefaultArchitectures"),
                    "{key}: {ignored:?}"
                ),
            }
            assert!(
                !ignored.contains(&"xrayIndex") || kind == "virtual",
                "{key}: {ignored:?}"
            );
        }
    }
    // a Maven remote keeps its Maven fields; a generic one names them
    assert_eq!(
        s.json("/api/repositories/remote-maven")["fetchJarsEagerly"],
        false
    );
    assert!(
        s.json("/api/repositories/remote-generic")
            .get("fetchJarsEagerly")
            .is_none()
    );
    // defaults of the reference for fields never sent
    s.generic_repo("plain");
    let plain = s.json("/api/repositories/plain");
    assert_eq!(plain["xrayIndex"], false);
    assert_eq!(plain["propertySets"], json!([]));
    assert_eq!(plain["repoLayoutRef"], "simple-default");
    // a wrong type of a field that applies is still a 400 naming it
    let (st, msg) = error_message(
        s.admin(Method::POST, s.url("/api/repositories/plain"))
            .json(&json!({"xrayIndex": 3}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(msg.contains("xrayIndex"), "{msg}");
    let (st, msg) = error_message(
        s.admin(Method::POST, s.url("/api/repositories/plain"))
            .json(&json!({"handleReleases": "yes"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(msg.contains("handleReleases"), "{msg}");
    // null puts a kept field back to its default
    let r = s
        .admin(Method::POST, s.url("/api/repositories/local-generic"))
        .json(&json!({"propertySets": null, "bogus": 1}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-arca-ignored-fields"], "bogus");
    assert_eq!(
        s.json("/api/repositories/local-generic")["propertySets"],
        json!([])
    );
}

fn aql(s: &Server, who: Option<(&str, &str)>, query: &str) -> (StatusCode, Value) {
    let b = s
        .client()
        .post(s.url("/api/search/aql"))
        .body(query.to_string());
    let b = match who {
        Some((u, p)) => b.basic_auth(u, Some(p)),
        None => b.basic_auth("admin", Some(&s.password)),
    };
    let r = b.send().unwrap();
    let status = r.status();
    (status, r.json().unwrap())
}

fn names(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {v}"))
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn properties_permissions_searches_aql_builds_and_stats() {
    let (_dir, s) = fresh_server();
    s.generic_repo("libs");
    s.generic_repo("secret");
    s.create_repo(
        "maven-local",
        json!({"rclass": "local", "packageType": "maven"}),
    );
    for (path, body) in [
        ("/libs/org/a/a-1.jar;qa=done", "a1"),
        ("/libs/org/a/a-2.jar;qa=failed", "a2 is bigger"),
        ("/libs/org/b/b.txt", "b"),
        ("/libs/root.jar", "root"),
        ("/secret/s.jar;qa=done", "s"),
        ("/maven-local/org/ex/lib/1.0/lib-1.0.jar", "lib jar"),
        (
            "/maven-local/org/ex/lib/1.0/lib-1.0-sources.jar",
            "lib sources",
        ),
    ] {
        assert_eq!(s.put(path, body).status(), StatusCode::CREATED, "{path}");
    }

    // PATCH /api/metadata: set, replace, remove; recursive by default on folders
    let patch = |path: &str, body: Value| {
        s.admin(Method::PATCH, s.url(&format!("/api/metadata/{path}")))
            .json(&body)
            .send()
            .unwrap()
    };
    let r = patch("libs/org", json!({"props": {"team": "core", "qa": null}}));
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let props = s.json("/api/storage/libs/org/a/a-1.jar?properties");
    assert_eq!(props["properties"], json!({"team": ["core"]}));
    let r = patch(
        "libs/org/a/a-1.jar",
        json!({"props": {"team": ["x", "y"], "qa": "done"}}),
    );
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let props = s.json("/api/storage/libs/org/a/a-1.jar?properties");
    assert_eq!(
        props["properties"],
        json!({"qa": ["done"], "team": ["x", "y"]})
    );
    let r = patch(
        "libs/org?recursiveProperties=0",
        json!({"props": {"folder-only": "1"}}),
    );
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        s.json("/api/storage/libs/org/b/b.txt?properties")["properties"]
            .get("folder-only")
            .is_none()
    );
    let (st, msg) = error_message(patch("libs/org", json!({"props": {"bad key": "v"}})));
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(msg.contains("bad key"), "{msg}");
    let (st, _) = error_message(patch("libs/org", json!({"nope": 1})));
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // v1 permission targets: the same objects as v2
    let r = s
        .admin(Method::PUT, s.url("/api/security/users/reader"))
        .json(&json!({"password": PW}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // new users auto-join `readers` (read everything): leave it, so only the v1 target counts
    let r = s
        .admin(Method::POST, s.url("/api/security/users/reader"))
        .json(&json!({"groups": []}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let r = s
        .admin(Method::PUT, s.url("/api/security/permissions/libs-readers"))
        .json(
            &json!({"name": "libs-readers", "includesPattern": "org/**,root.jar",
            "excludesPattern": "org/b/**", "repositories": ["libs"],
            "principals": {"users": {"reader": ["r", "n"]}, "groups": {"readers": ["r"]}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    let v1 = s.json("/api/security/permissions/libs-readers");
    assert_eq!(v1["includesPattern"], "org/**,root.jar");
    assert_eq!(v1["excludesPattern"], "org/b/**");
    assert_eq!(v1["principals"]["users"]["reader"], json!(["r", "n"]));
    let v2 = s.json("/api/v2/security/permissions/libs-readers");
    assert_eq!(
        v2["repo"]["actions"]["users"]["reader"],
        json!(["read", "annotate"])
    );
    let list = s.json("/api/security/permissions");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "libs-readers"
                && t["uri"]
                    .as_str()
                    .unwrap()
                    .ends_with("/api/security/permissions/libs-readers")),
        "{list}"
    );
    let (st, msg) = error_message(
        s.admin(Method::PUT, s.url("/api/security/permissions/bad"))
            .json(&json!({"repositories": ["libs"], "principals": {"users": {"reader": ["x"]}}}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(msg.contains("principals.users.reader"), "{msg}");
    let (st, msg) = error_message(s.get("/api/security/apiKey"));
    assert_eq!(st, StatusCode::GONE);
    assert!(msg.contains("token"), "{msg}");
    let (st, msg) = error_message(
        s.admin(Method::DELETE, s.url("/api/security/apiKey/reader"))
            .send()
            .unwrap(),
    );
    assert_eq!(st, StatusCode::GONE, "{msg}");
    std::thread::sleep(Duration::from_millis(1500)); // the grants reload

    // searches
    let uris = |path: &str| -> Vec<String> {
        let v = s.json(path);
        let mut out: Vec<String> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let uri = r["uri"].as_str().unwrap();
                uri[uri.find("/api/storage/").unwrap() + 13..].to_string()
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(
        uris("/api/search/gavc?g=org.ex&a=lib"),
        vec![
            "maven-local/org/ex/lib/1.0/lib-1.0-sources.jar",
            "maven-local/org/ex/lib/1.0/lib-1.0.jar"
        ]
    );
    assert_eq!(
        uris("/api/search/gavc?a=lib&v=1.0&c=sources"),
        vec!["maven-local/org/ex/lib/1.0/lib-1.0-sources.jar"]
    );
    // (a-2's qa=failed went with the recursive PATCH above)
    assert_eq!(
        uris("/api/search/prop?qa=done,failed&repos=libs"),
        vec!["libs/org/a/a-1.jar"]
    );
    assert_eq!(
        uris("/api/search/prop?qa=done"),
        vec!["libs/org/a/a-1.jar", "secret/s.jar"]
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let dates = s.json(&format!(
        "/api/search/dates?from={}&dateFields=created,lastModified&repos=secret",
        now - 600_000
    ));
    assert_eq!(dates["results"].as_array().unwrap().len(), 1, "{dates}");
    assert!(
        dates["results"][0]["created"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(dates["results"][0]["lastModified"].is_string());
    let future = s.json(&format!("/api/search/creation?from={}", now + 600_000));
    assert!(future["results"].as_array().unwrap().is_empty());
    let (st, _) = error_message(s.get("/api/search/creation?from=yesterday"));
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let pattern = s.json("/api/search/pattern?pattern=libs:org/**/*.jar");
    assert_eq!(pattern["files"], json!(["org/a/a-1.jar", "org/a/a-2.jar"]));
    assert!(pattern["repoUri"].as_str().unwrap().ends_with("/libs"));
    let pattern = s.json("/api/search/pattern?pattern=libs:*.jar");
    assert_eq!(pattern["files"], json!(["root.jar"]));
    let detail = s
        .admin(Method::GET, s.url("/api/search/prop?qa=done&repos=secret"))
        .header("X-Result-Detail", "info, properties")
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(detail["results"][0]["properties"]["qa"], json!(["done"]));
    assert_eq!(detail["results"][0]["repo"], "secret");

    // AQL
    let (st, v) = aql(
        &s,
        None,
        r#"items.find({"repo": "libs", "name": {"$match": "*.jar"}}).sort({"$asc": ["name"]})"#,
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(names(&v), vec!["a-1.jar", "a-2.jar", "root.jar"]);
    assert_eq!(
        v["range"],
        json!({"start_pos": 0, "end_pos": 3, "total": 3})
    );
    assert_eq!(v["results"][2]["path"], ".");
    assert_eq!(v["results"][0]["path"], "org/a");
    assert_eq!(v["results"][0]["type"], "file");
    let (_, v) = aql(
        &s,
        None,
        r#"items.find({"repo": {"$in": ["libs", "secret"]}, "$or": [{"@qa": "done"}, {"size": {"$gte": 12}}]}).include("repo", "name", "property.*").sort({"$desc": ["name"]}).offset(1).limit(2)"#,
    );
    assert_eq!(names(&v), vec!["a-2.jar", "a-1.jar"], "{v}");
    assert_eq!(v["range"]["limit"], 2);
    assert!(
        v["results"][1]["properties"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "qa", "value": "done"}))
    );
    assert!(v["results"][0].get("size").is_none());
    let (_, v) = aql(
        &s,
        None,
        r#"items.find({"repo": "libs", "@qa": {"$ne": "done"}, "type": "file"})"#,
    );
    assert_eq!(
        names(&v).len(),
        3,
        "a-2 (failed), b.txt and root.jar have no qa=done: {v}"
    );
    let (_, v) = aql(
        &s,
        None,
        r#"items.find({"repo": "libs", "type": "folder", "depth": 2})"#,
    );
    assert_eq!(names(&v), vec!["a", "b"]);
    let (st, v) = aql(&s, None, r#"items.find({"nmae": "x"})"#);
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let msg = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("nmae") && msg.contains("character 12"),
        "{msg}"
    );
    // a reader sees what the v1 target grants: libs' org/** and root.jar, not org/b, not secret
    let (_, v) = aql(
        &s,
        Some(("reader", PW)),
        r#"items.find({"name": {"$match": "*"}})"#,
    );
    let mut seen = names(&v);
    seen.sort();
    assert_eq!(seen, vec!["a-1.jar", "a-2.jar", "root.jar"], "{v}");
    let (st, _) = aql(&s, Some(("reader", "wrong")), "items.find()");
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // builds: uploaded, listed, linked to the files by SHA-1, deleted
    let info = |number: &str, started: &str| {
        json!({"version": "1.0.1", "name": "my build", "number": number, "type": "GENERIC",
            "started": started, "durationMillis": 1000,
            "modules": [{"id": "org:a:1", "artifacts": [
                {"type": "jar", "sha1": sha1_hex(b"a1"), "name": "a-1.jar"},
                {"type": "jar", "sha1": sha1_hex(b"s"), "name": "s.jar"}]}]})
    };
    for (number, started) in [
        ("1", "2026-12-06T10:00:00.000+0000"),
        ("2", "2026-12-07T10:00:00.000+0100"),
    ] {
        let r = s
            .admin(Method::PUT, s.url("/api/build"))
            .json(&info(number, started))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", r.text().unwrap());
    }
    let builds = s.json("/api/build");
    assert_eq!(builds["builds"][0]["uri"], "/my%20build");
    assert_eq!(
        builds["builds"][0]["lastStarted"],
        "2026-12-07T09:00:00.000Z"
    );
    let numbers = s.json("/api/build/my%20build");
    assert_eq!(numbers["buildsNumbers"][0]["uri"], "/2");
    let one = s.json("/api/build/my%20build/1");
    assert_eq!(one["buildInfo"]["modules"][0]["id"], "org:a:1");
    let props = s.json("/api/storage/libs/org/a/a-1.jar?properties");
    assert_eq!(props["properties"]["build.name"], json!(["my build"]));
    assert_eq!(props["properties"]["build.number"], json!(["2"]));
    let (_, v) = aql(&s, None, r#"items.find({"@build.name": "my build"})"#);
    assert_eq!(names(&v), vec!["a-1.jar", "s.jar"]);
    let (st, msg) = error_message(
        s.admin(Method::PUT, s.url("/api/build"))
            .json(&json!({"name": "x", "number": "1"}))
            .send()
            .unwrap(),
    );
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(msg.contains("started"), "{msg}");
    // the reader may not deploy anywhere: no build upload
    let r = s
        .client()
        .put(s.url("/api/build"))
        .basic_auth("reader", Some(PW))
        .json(&info("3", "2026-12-07T10:00:00.000+0000"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s
        .admin(
            Method::DELETE,
            s.url("/api/build/my%20build?buildNumbers=1"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().unwrap().contains("'my build#1'"));
    assert_eq!(
        s.get("/api/build/my%20build/1").status(),
        StatusCode::NOT_FOUND
    );

    // download statistics: counted without a write per GET, shown at once by this node
    for _ in 0..3 {
        assert_eq!(s.get("/libs/root.jar").status(), StatusCode::OK);
    }
    let r = s
        .client()
        .get(s.url("/libs/root.jar"))
        .basic_auth("reader", Some(PW))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stats = s.json("/api/storage/libs/root.jar?stats");
    assert_eq!(stats["downloadCount"], 4, "{stats}");
    assert_eq!(stats["lastDownloadedBy"], "reader");
    assert!(stats["lastDownloaded"].as_u64().unwrap() as u128 >= now);
    // and written within the flush period: still 4 after the node counted nothing new
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        s.json("/api/storage/libs/root.jar?stats")["downloadCount"],
        4
    );
}

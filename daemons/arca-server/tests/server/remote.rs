//! Remote and virtual repositories (`docs/repositories.md`) against a fault-injecting
//! upstream ([`FakeUpstream`]): caching, one upstream request per path, checksum
//! verification, the negative cache, metadata TTL, upstream failures and `offline`, the
//! `{key}-cache` view; virtual resolution order, per-member permissions, merged metadata,
//! deploys through a virtual repository.

use super::*;

use serde_json::json;

use crate::upstream::FakeUpstream;

const JAR: &str = "org/x/1.0/x-1.0.jar";
const METADATA: &str = "org/x/maven-metadata.xml";
const PW: &str = "Corr3ct-horse-battery";

fn content(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn metadata(versions: &[&str], updated: &str) -> String {
    let list: String = versions
        .iter()
        .map(|v| format!("<version>{v}</version>"))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata><groupId>org</groupId>\
         <artifactId>x</artifactId><versioning><versions>{list}</versions>\
         <lastUpdated>{updated}</lastUpdated></versioning></metadata>\n"
    )
}

fn remote(s: &Server, key: &str, up: &FakeUpstream, extra: Value) {
    let mut config = json!({
        "rclass": "remote",
        "packageType": "maven",
        "url": up.url(),
        "retrievalCachePeriodSecs": 1,
        "missedRetrievalCachePeriodSecs": 60,
        "assumedOfflinePeriodSecs": 2,
    });
    if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
        c.extend(e);
    }
    s.create_repo(key, config);
}

fn post_config(s: &Server, key: &str, config: Value) {
    let r = s
        .admin(Method::POST, s.url(&format!("/api/repositories/{key}")))
        .json(&config)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
}

fn body_of(s: &Server, path: &str) -> (StatusCode, Vec<u8>) {
    let r = s.get(path);
    let status = r.status();
    (status, r.bytes().map(|b| b.to_vec()).unwrap_or_default())
}

#[test]
fn remote_repository_caches_verifies_and_survives_its_upstream() {
    let up = FakeUpstream::start();
    let jar = content(300_000, 1);
    up.put(JAR, jar.clone());
    up.put(&format!("{JAR}.sha1"), sha1_hex(&jar));
    up.put("bad/1.0/bad-1.0.jar", content(1000, 2));
    up.put("bad/1.0/bad-1.0.jar.sha1", "0".repeat(40));
    up.put("cut/1.0/cut-1.0.jar", content(500_000, 3));
    up.cut("cut/1.0/cut-1.0.jar");
    up.put(METADATA, metadata(&["1.0"], "20260101000000"));
    let (_dir, s) = fresh_server();
    remote(
        &s,
        "up",
        &up,
        json!({"username": "proxy", "password": "s3cret-pass"}),
    );

    // the password is sealed and never shown; the upstream gets it
    let config = s.json("/api/repositories/up");
    assert_eq!(config["rclass"], "remote");
    assert_eq!(config["url"], up.url());
    assert!(config.get("password").is_none(), "{config}");
    assert!(!config.to_string().contains("s3cret-pass"));

    // a miss in the cache is fetched, verified against the upstream's .sha1, cached
    let (st, got) = body_of(&s, &format!("/up/{JAR}"));
    assert_eq!(st, StatusCode::OK);
    assert_eq!(sha256_hex(&got), sha256_hex(&jar));
    assert_eq!(up.hits(JAR), 1);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "proxy:s3cret-pass",
    );
    assert_eq!(up.last_authorization(), Some(format!("Basic {basic}")));
    let (st, again) = body_of(&s, &format!("/up/{JAR}"));
    assert_eq!((st, sha256_hex(&again)), (StatusCode::OK, sha256_hex(&jar)));
    assert_eq!(up.hits(JAR), 1, "a cached file is not fetched again");
    let sha1 = s.get(&format!("/up/{JAR}.sha1")).text().unwrap();
    assert_eq!(sha1, sha1_hex(&jar));
    // the cache view and the storage API
    let info = s.json(&format!("/api/storage/up-cache/{JAR}"));
    assert_eq!(info["checksums"]["sha1"], sha1_hex(&jar));
    assert_eq!(body_of(&s, &format!("/up-cache/{JAR}")).0, StatusCode::OK);
    assert_eq!(
        body_of(&s, "/up-cache/org/x/2.0/x-2.0.jar").0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        up.hits("org/x/2.0/x-2.0.jar"),
        0,
        "the cache view never asks upstream"
    );

    // concurrent first requests share one download
    let many = "org/many/1.0/many-1.0.jar";
    let many_content = content(2_000_000, 4);
    up.put(many, many_content.clone());
    up.slow(many);
    let digests: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| sha256_hex(&body_of(&s, &format!("/up/{many}")).1)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        digests.iter().all(|d| *d == sha256_hex(&many_content)),
        "{digests:?}"
    );
    assert_eq!(
        up.hits(many),
        1,
        "eight concurrent requests, one upstream request"
    );

    // the first bytes reach the client before the upstream has sent everything
    let slow = "org/slow/1.0/slow-1.0.jar";
    up.put(slow, content(3_000_000, 5));
    up.slow(slow);
    let mut r = s.get(&format!("/up/{slow}"));
    assert_eq!(r.status(), StatusCode::OK);
    let mut first = [0u8; 1024];
    r.read_exact(&mut first).unwrap();
    assert!(
        !up.sent_whole(slow),
        "the client had to wait for the whole download"
    );
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(first.len() + rest.len(), 3_000_000);

    // a checksum mismatch is not cached, and the client's transfer fails
    let r = s.get("/up/bad/1.0/bad-1.0.jar");
    let broken = r.status() != StatusCode::OK || r.bytes().is_err();
    assert!(broken, "a mismatching download must not complete");
    assert_eq!(
        body_of(&s, "/up-cache/bad/1.0/bad-1.0.jar").0,
        StatusCode::NOT_FOUND
    );
    assert!(s.log().contains("Checksum mismatch"), "{}", s.log());

    // a connection cut mid-body leaves nothing cached
    let r = s.get("/up/cut/1.0/cut-1.0.jar");
    assert!(r.status() != StatusCode::OK || r.bytes().is_err());
    assert_eq!(
        body_of(&s, "/up-cache/cut/1.0/cut-1.0.jar").0,
        StatusCode::NOT_FOUND
    );

    // a miss is remembered (missedRetrievalCachePeriodSecs)
    let (st, msg) = error_message(s.get("/up/org/nope/1.0/nope-1.0.jar"));
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(msg.contains("404"), "{msg}");
    let (st, msg) = error_message(s.get("/up/org/nope/1.0/nope-1.0.jar"));
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(msg.contains("missedRetrievalCachePeriodSecs"), "{msg}");
    assert_eq!(up.hits("org/nope/1.0/nope-1.0.jar"), 1);

    // metadata is fetched again after retrievalCachePeriodSecs
    assert!(
        String::from_utf8(body_of(&s, &format!("/up/{METADATA}")).1)
            .unwrap()
            .contains("1.0")
    );
    up.put(METADATA, metadata(&["1.0", "1.1"], "20260202000000"));
    assert!(
        !String::from_utf8(body_of(&s, &format!("/up/{METADATA}")).1)
            .unwrap()
            .contains("1.1")
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        String::from_utf8(body_of(&s, &format!("/up/{METADATA}")).1)
            .unwrap()
            .contains("1.1")
    );

    // upstream failing: stale metadata still served, misses are a 502 naming the problem,
    // then the upstream is left alone for assumedOfflinePeriodSecs
    up.fail_with(503);
    std::thread::sleep(Duration::from_millis(1100));
    let (st, stale) = body_of(&s, &format!("/up/{METADATA}"));
    assert_eq!(st, StatusCode::OK);
    assert!(String::from_utf8(stale).unwrap().contains("1.1"));
    let (st, msg) = error_message(s.get("/up/org/y/1.0/y-1.0.jar"));
    assert_eq!(st, StatusCode::BAD_GATEWAY, "{msg}");
    assert!(msg.contains("503"), "{msg}");
    let before = up.total_hits();
    let (st, msg) = error_message(s.get("/up/org/z/1.0/z-1.0.jar"));
    assert_eq!(st, StatusCode::BAD_GATEWAY);
    assert!(msg.contains("assumed offline"), "{msg}");
    assert_eq!(
        up.total_hits(),
        before,
        "an upstream assumed offline is not asked"
    );
    up.fail_with(0);
    std::thread::sleep(Duration::from_millis(2100));
    up.put("org/y/1.0/y-1.0.jar", "y");
    assert_eq!(body_of(&s, "/up/org/y/1.0/y-1.0.jar").0, StatusCode::OK);

    // offline: only the cache
    post_config(&s, "up", json!({"offline": true}));
    up.put("org/w/1.0/w-1.0.jar", "w");
    let (st, msg) = error_message(s.get("/up/org/w/1.0/w-1.0.jar"));
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(msg.contains("offline"), "{msg}");
    assert_eq!(body_of(&s, &format!("/up/{JAR}")).0, StatusCode::OK);
    post_config(&s, "up", json!({"offline": false}));

    // deleting from the cache: the next request fetches again
    let r = s
        .admin(Method::DELETE, s.url(&format!("/up-cache/{JAR}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(body_of(&s, &format!("/up/{JAR}")).0, StatusCode::OK);
    assert_eq!(up.hits(JAR), 2);

    // storeArtifactsLocally=false: a pure proxy, nothing cached
    remote(&s, "pure", &up, json!({"storeArtifactsLocally": false}));
    up.put("org/p/1.0/p-1.0.jar", "pure");
    for _ in 0..2 {
        assert_eq!(body_of(&s, "/pure/org/p/1.0/p-1.0.jar").1, b"pure");
    }
    assert_eq!(up.hits("org/p/1.0/p-1.0.jar"), 2);
    assert_eq!(
        body_of(&s, "/pure-cache/org/p/1.0/p-1.0.jar").0,
        StatusCode::NOT_FOUND
    );

    // a remote repository takes no deploys
    let (st, msg) = error_message(s.put("/up/org/d/1.0/d-1.0.jar", "d"));
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert!(msg.contains("remote"), "{msg}");
}

#[test]
fn remote_repository_configuration_is_validated() {
    let (_dir, s) = fresh_server();
    let put = |key: &str, body: Value| {
        error_message(
            s.admin(Method::PUT, s.url(&format!("/api/repositories/{key}")))
                .json(&body)
                .send()
                .unwrap(),
        )
    };
    let (st, msg) = put("r1", json!({"rclass": "remote"}));
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(msg.contains("'url'"), "{msg}");
    let (_, msg) = put("r1", json!({"rclass": "remote", "url": "ftp://x/"}));
    assert!(msg.contains("'url'"), "{msg}");
    let (_, msg) = put("r1", json!({"rclass": "remote", "url": "http://u:p@x/"}));
    assert!(msg.contains("credentials"), "{msg}");
    let (_, msg) = put(
        "r1",
        json!({"rclass": "remote", "url": "http://x/", "socketTimeoutMillis": "5"}),
    );
    assert!(msg.contains("socketTimeoutMillis"), "{msg}");
    // a field of another kind is accepted, ignored and named
    let r = s
        .admin(Method::PUT, s.url("/api/repositories/l1"))
        .json(&json!({"rclass": "local", "offline": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-arca-ignored-fields"], "offline");
    assert!(s.json("/api/repositories/l1").get("offline").is_none());
    let (_, msg) = put("v1", json!({"rclass": "virtual", "repositories": ["nope"]}));
    assert!(msg.contains("nope"), "{msg}");
    let (_, msg) = put("x1", json!({"rclass": "federated"}));
    assert!(msg.contains("rclass"), "{msg}");
    s.generic_repo("g");
    s.create_repo(
        "v",
        json!({"rclass": "virtual", "packageType": "generic", "repositories": ["g"]}),
    );
    let (_, msg) = put(
        "v2",
        json!({"rclass": "virtual", "packageType": "generic", "repositories": ["g"], "defaultDeploymentRepo": "v"}),
    );
    assert!(msg.contains("defaultDeploymentRepo"), "{msg}");
    // a virtual repository can't contain itself, even through another one
    s.create_repo(
        "w",
        json!({"rclass": "virtual", "packageType": "generic", "repositories": ["v"]}),
    );
    let r = s
        .admin(Method::POST, s.url("/api/repositories/v"))
        .json(&json!({"repositories": ["g", "w"]}))
        .send()
        .unwrap();
    let (st, msg) = error_message(r);
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(msg.contains("itself"), "{msg}");
    let r = s
        .admin(Method::POST, s.url("/api/repositories/v"))
        .json(&json!({"rclass": "local"}))
        .send()
        .unwrap();
    assert_eq!(error_message(r).0, StatusCode::BAD_REQUEST);
    let list = s.json("/api/repositories?type=virtual");
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
}

#[test]
fn virtual_repository_resolves_in_order_merges_metadata_and_deploys() {
    let up = FakeUpstream::start();
    up.put(METADATA, metadata(&["1.0", "1.1"], "20260101000000"));
    up.put(JAR, "x from upstream");
    up.put("org/y/1.0/y-1.0.jar", "y from upstream");
    let (_dir, s) = fresh_server();
    s.create_repo("libs", json!({"rclass": "local", "packageType": "maven"}));
    remote(&s, "central", &up, json!({}));
    s.create_repo(
        "all",
        json!({"rclass": "virtual", "packageType": "maven", "repositories": ["libs", "central"],
               "defaultDeploymentRepo": "libs"}),
    );
    // a local artifact: the server calculates libs' metadata (2.0)
    assert_eq!(
        s.put("/libs/org/x/2.0/x-2.0.jar", "x 2.0 from libs")
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.put("/libs/org/y/1.0/y-1.0.jar", "y from libs").status(),
        StatusCode::CREATED
    );

    // members in order: libs first, then the remote
    assert_eq!(body_of(&s, "/all/org/y/1.0/y-1.0.jar").1, b"y from libs");
    assert_eq!(body_of(&s, &format!("/all/{JAR}")).1, b"x from upstream");
    assert_eq!(body_of(&s, "/all/org/none.jar").0, StatusCode::NOT_FOUND);

    // merged metadata, with its checksum computed from the merged bytes
    let merged = String::from_utf8(body_of(&s, &format!("/all/{METADATA}")).1).unwrap();
    for v in ["1.0", "1.1", "2.0"] {
        assert!(
            merged.contains(&format!("<version>{v}</version>")),
            "{merged}"
        );
    }
    assert!(merged.contains("<latest>2.0</latest>"), "{merged}");
    assert!(merged.contains("<release>2.0</release>"), "{merged}");
    assert!(
        !merged.contains("<lastUpdated>20260101000000</lastUpdated>"),
        "the newest lastUpdated wins: {merged}"
    );
    let sha1 = s.get(&format!("/all/{METADATA}.sha1")).text().unwrap();
    assert_eq!(sha1, sha1_hex(merged.as_bytes()));

    // the virtual repository's own patterns narrow what it resolves
    post_config(&s, "all", json!({"excludesPattern": "org/y/**"}));
    let (st, msg) = error_message(s.get("/all/org/y/1.0/y-1.0.jar"));
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(msg.contains("excludesPattern"), "{msg}");
    post_config(&s, "all", json!({"excludesPattern": ""}));

    // a deploy through the virtual repository lands in its defaultDeploymentRepo
    assert_eq!(
        s.put("/all/org/z/1.0/z-1.0.jar", "z").status(),
        StatusCode::CREATED
    );
    assert_eq!(body_of(&s, "/libs/org/z/1.0/z-1.0.jar").1, b"z");
    s.create_repo(
        "nodeploy",
        json!({"rclass": "virtual", "packageType": "maven", "repositories": ["libs"]}),
    );
    let (st, msg) = error_message(s.put("/nodeploy/org/z/2.0/z-2.0.jar", "z"));
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert!(msg.contains("defaultDeploymentRepo"), "{msg}");

    // a reader who may read libs and the virtual repository, but not the remote one, sees
    // nothing of the remote through the virtual
    let r = s
        .admin(Method::PUT, s.url("/api/security/users/limited"))
        .json(&json!({"password": PW, "groups": []}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    let r = s
        .admin(Method::PUT, s.url("/api/v2/security/permissions/limited"))
        .json(
            &json!({"name": "limited", "repo": {"repositories": ["libs", "all"],
            "include-patterns": ["**"], "actions": {"users": {"limited": ["read"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    std::thread::sleep(Duration::from_millis(1500));
    let limited = |path: &str| s.get_with(path, |r| r.basic_auth("limited", Some(PW)));
    assert_eq!(
        limited("/all/org/y/1.0/y-1.0.jar").text().unwrap(),
        "y from libs"
    );
    assert_eq!(
        limited(&format!("/all/{JAR}")).status(),
        StatusCode::NOT_FOUND
    );
    let view = limited(&format!("/all/{METADATA}")).text().unwrap();
    assert!(view.contains("2.0") && !view.contains("1.1"), "{view}");

    // a deleted member leaves the virtual repositories that aggregated it, and their
    // default deployment repository
    let r = s
        .admin(Method::DELETE, s.url("/api/repositories/libs"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let config: Value = s.get("/api/repositories/all").json().unwrap();
    assert_eq!(config["repositories"], json!(["central"]), "{config}");
    assert_eq!(config["defaultDeploymentRepo"], json!(""), "{config}");
    let merged = String::from_utf8(body_of(&s, &format!("/all/{METADATA}")).1).unwrap();
    assert!(!merged.contains("2.0"), "libs' versions are gone: {merged}");
    let (st, _) = error_message(s.put("/all/org/z/3.0/z-3.0.jar", "z"));
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn a_second_arca_as_upstream_streams_1_gib_with_flat_memory() {
    let (_up_dir, upstream) = fresh_server();
    upstream.create_repo(
        "g",
        json!({"rclass": "local", "packageType": "generic", "anonymousRead": true}),
    );
    let expected = deploy_generated(&upstream, "/g/big/big.bin", 1024);
    let (_dir, s) = fresh_server();
    s.create_repo(
        "up",
        json!({"rclass": "remote", "packageType": "generic", "url": upstream.url("/g")}),
    );
    let r = s.get("/up/big/big.bin");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(read_streamed(r), (1 << 30, expected.clone()));
    let peak_mib = peak_rss_kib(s.pid()) / 1024;
    assert!(
        peak_mib < 64,
        "peak RSS {peak_mib} MiB while proxying 1 GiB: not streaming"
    );
    // verified against the upstream's X-Checksum-Sha256, cached
    let info = s.json("/api/storage/up-cache/big/big.bin");
    assert_eq!(info["checksums"]["sha256"], expected);
    assert!(s.log().contains("cached from the upstream"), "{}", s.log());
}

#[test]
fn a_node_that_dies_mid_download_leaves_nothing_and_another_node_fetches_it() {
    use crate::ha::{Cluster, NodeSpec};
    let up = FakeUpstream::start();
    let path = "org/dies/1.0/dies-1.0.jar";
    let body = content(4_000_000, 7);
    up.put(path, body.clone());
    up.slow(path);
    let mut cluster = Cluster::new();
    let mut a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let key = a.home.clone();
    let b = cluster.start(&NodeSpec::new("node-b", "127.0.0.12", false), Some(&key));
    remote(&a, "up", &up, json!({}));

    // node-a starts the download and dies in the middle of it
    let mut r = a.get(&format!("/up/{path}"));
    assert_eq!(r.status(), StatusCode::OK);
    let mut first = [0u8; 64 * 1024];
    r.read_exact(&mut first).unwrap();
    assert!(!up.sent_whole(path));
    a.kill9();
    drop(r);
    // nothing of it is visible anywhere
    assert_eq!(
        body_of(&b, &format!("/up-cache/{path}")).0,
        StatusCode::NOT_FOUND
    );
    // node-b waits for node-a's claim to go stale, then fetches it itself
    let (st, got) = body_of(&b, &format!("/up/{path}"));
    assert_eq!(st, StatusCode::OK);
    assert_eq!(sha256_hex(&got), sha256_hex(&body));
    assert_eq!(up.hits(path), 2, "node-a's download and node-b's");
    assert_eq!(body_of(&b, &format!("/up-cache/{path}")).0, StatusCode::OK);
}

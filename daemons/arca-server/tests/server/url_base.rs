//! Administration → General: the Custom URL Base (`GET`/`PUT /api/system/configuration/baseUrl`,
//! `docs/api.md`): validation messages, the rewrite of `system.properties` that keeps
//! everything else, the new base in `uri`/`downloadUri` at once, and on a PostgreSQL cluster
//! with `arca-config-sync` a change made on a member that reaches the config owner and every
//! node without a restart.

use std::os::unix::fs::PermissionsExt;

use super::*;

const PATH: &str = "/api/system/configuration/baseUrl";

/// `PUT` the URL base `value` as the admin: status and body text.
fn put_url_base(s: &Server, value: &str) -> (StatusCode, String) {
    let r = s
        .admin(Method::PUT, s.url(PATH))
        .header("content-type", "text/plain")
        .body(value.to_string())
        .send()
        .unwrap();
    (r.status(), r.text().unwrap())
}

/// The error envelope's message of a refused `PUT`.
fn refused(s: &Server, value: impl Into<reqwest::blocking::Body>) -> (StatusCode, String) {
    let r = s
        .admin(Method::PUT, s.url(PATH))
        .body(value)
        .send()
        .unwrap();
    error_message(r)
}

fn download_uri(s: &Server, path: &str) -> String {
    s.json(&format!("/api/storage/{path}"))["downloadUri"]
        .as_str()
        .unwrap()
        .to_string()
}

fn system_properties(s: &Server) -> String {
    std::fs::read_to_string(s.home.join("etc/system.properties")).unwrap()
}

/// The system.properties of the single-node tests: comments, blank lines, other keys.
const OWN_LINES: [&str; 5] = [
    "# written by the operator, kept byte for byte",
    "arca.gc.grace.secs = 120",
    "",
    "#arca.url.base=https://repo.example.com/artifactory",
    "! another comment",
];

#[test]
fn the_url_base_is_validated_written_keeping_the_file_and_used_at_once() {
    let (_dir, s) = fresh_server_with(&OWN_LINES);
    let file = s.home.join("etc/system.properties");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = system_properties(&s);
    s.generic_repo("g");
    assert_eq!(s.put("/g/a/b.txt", "b").status(), StatusCode::CREATED);
    let own = s.url("");
    assert_eq!(download_uri(&s, "g/a/b.txt"), format!("{own}/g/a/b.txt"));
    let v = s.json(PATH);
    assert_eq!(v["urlBase"], "");
    assert_eq!(v["appliedUrlBase"], "");
    assert_eq!(v["effectiveBaseUrl"], own);
    assert_eq!(v["ha"], false);
    assert_eq!(v["lastChange"], Value::Null);

    // Set: answered like the reference, written after the commented example, applied at once.
    let (status, text) = put_url_base(&s, " https://lb.example.com/artifactory/\n");
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.starts_with(
            "URL base has been successfully updated to - \"https://lb.example.com/artifactory\""
        ),
        "{text}"
    );
    let after = system_properties(&s);
    assert_eq!(
        after,
        before.replace(
            "#arca.url.base=https://repo.example.com/artifactory\n",
            "#arca.url.base=https://repo.example.com/artifactory\n\
             arca.url.base=https://lb.example.com/artifactory\n"
        ),
        "every other line kept"
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777,
        0o640,
        "mode kept"
    );
    assert_eq!(
        download_uri(&s, "g/a/b.txt"),
        "https://lb.example.com/artifactory/g/a/b.txt"
    );
    let info = s.json("/api/storage/g/a");
    assert_eq!(
        info["uri"],
        "https://lb.example.com/artifactory/api/storage/g/a"
    );
    // The reference's override headers still win.
    let r = s
        .admin(Method::GET, s.url("/api/storage/g/a/b.txt"))
        .header("X-Artifactory-Override-Base-Url", "https://other.example/x")
        .send()
        .unwrap();
    let body: Value = r.json().unwrap();
    assert_eq!(body["downloadUri"], "https://other.example/x/g/a/b.txt");
    let v = s.json(PATH);
    assert_eq!(v["urlBase"], "https://lb.example.com/artifactory");
    assert_eq!(v["appliedUrlBase"], "https://lb.example.com/artifactory");
    assert_eq!(v["effectiveBaseUrl"], "https://lb.example.com/artifactory");
    let node_id = v["nodeId"].as_str().unwrap().to_string();
    assert_eq!(v["configOwner"], node_id.as_str());
    assert_eq!(v["lastChange"]["user"], "admin");
    assert_eq!(v["lastChange"]["writtenBy"], node_id.as_str());
    assert_eq!(v["lastChange"]["receivedBy"], node_id.as_str());
    assert_eq!(
        v["lastChange"]["urlBase"],
        "https://lb.example.com/artifactory"
    );
    assert!(
        s.log()
            .contains("arca.url.base is now https://lb.example.com/artifactory")
    );

    // Refused, each with its message; the file is not touched.
    let expected = "; expected an absolute http:// or https:// URL such as \
                    https://repo.example.com/artifactory (or nothing, to clear it)";
    for (value, why) in [
        ("lb.example.com/artifactory", "missing http:// or https://"),
        ("ftp://lb.example.com", "scheme must be http or https"),
        (
            "https://lb.example.com/a?x=1",
            "no query or fragment allowed",
        ),
        (
            "https://lb.example.com/a#frag",
            "no query or fragment allowed",
        ),
        ("https://admin:pw@lb.example.com/a", "no user info allowed"),
        ("https:///artifactory", "missing host"),
        (
            "https://lb.example.com:70000/a",
            "bad port; expected 1-65535",
        ),
    ] {
        assert_eq!(
            refused(&s, value),
            (
                StatusCode::BAD_REQUEST,
                format!("Invalid URL base: {why}{expected}")
            ),
            "{value}"
        );
    }
    assert_eq!(
        refused(&s, "https://lb.example.com/a b"),
        (
            StatusCode::BAD_REQUEST,
            "The URL base must not contain spaces or control characters".to_string()
        )
    );
    let long = format!("https://lb.example.com/{}", "a".repeat(1010));
    assert_eq!(
        refused(&s, long.clone()),
        (
            StatusCode::BAD_REQUEST,
            format!(
                "The URL base is {} characters long; at most 1024 are allowed",
                long.len()
            )
        )
    );
    assert_eq!(
        refused(&s, vec![0xffu8, 0xfe]),
        (
            StatusCode::BAD_REQUEST,
            "The URL base must be UTF-8 text".to_string()
        )
    );
    assert_eq!(
        refused(&s, "x".repeat(9000)).0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(system_properties(&s), after, "refusals write nothing");
    let r = s.admin(Method::POST, s.url(PATH)).body("x").send().unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Who may: admins only (the authorization matrix has the rows too).
    let r = s
        .client()
        .put(s.url(PATH))
        .body("https://evil.example")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = s
        .admin(Method::PUT, s.url("/api/security/users/bob"))
        .json(&serde_json::json!({"password": "Bob-pass-word-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .client()
        .put(s.url(PATH))
        .basic_auth("bob", Some("Bob-pass-word-1"))
        .body("https://evil.example")
        .send()
        .unwrap();
    assert_eq!(
        error_message(r),
        (
            StatusCode::FORBIDDEN,
            "Administrator rights are required".to_string()
        )
    );
    assert_eq!(system_properties(&s), after);

    // Cleared: the setting stays in its place, empty (unset); the request's host again.
    let (status, text) = put_url_base(&s, "");
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.starts_with("URL base has been successfully cleared"),
        "{text}"
    );
    assert_eq!(
        system_properties(&s),
        after.replace(
            "arca.url.base=https://lb.example.com/artifactory\n",
            "arca.url.base=\n"
        )
    );
    assert_eq!(download_uri(&s, "g/a/b.txt"), format!("{own}/g/a/b.txt"));
    assert_eq!(s.json(PATH)["urlBase"], "");
}

#[test]
fn a_saved_url_base_survives_a_restart() {
    let dir = home();
    let h = dir.path().join("h");
    let mut s = Server::start_with(&h, &OWN_LINES);
    assert_eq!(put_url_base(&s, "http://lb:8080/art").0, StatusCode::OK);
    s.stop();
    let s = Server::start(&h);
    let v = s.json(PATH);
    assert_eq!(v["urlBase"], "http://lb:8080/art");
    assert_eq!(v["appliedUrlBase"], "http://lb:8080/art");
    assert_eq!(v["lastChange"]["urlBase"], "http://lb:8080/art");
}

/// The server's sandbox makes `etc/` read-only: with `arca-config-sync` beside it (a single node
/// too), the sync writes the file for it.
#[test]
fn the_config_sync_writes_the_file_for_the_server() {
    let (_dir, mut s) = fresh_server_with(&OWN_LINES);
    // a single node's sync idles ("nothing to share") but serves its socket
    s.sync = Some(Sidecar::config_sync(&s.home));
    within(Duration::from_secs(20), "arca-config-sync's socket", || {
        s.home.join("run/arca-config-sync.sock").exists()
    });
    let (status, text) = put_url_base(&s, "https://lb.example.org");
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(system_properties(&s).contains("\narca.url.base=https://lb.example.org\n"));
    assert!(
        s.sync_log()
            .contains("arca-server set arca.url.base to \"https://lb.example.org\""),
        "{}",
        s.sync_log()
    );
    assert_eq!(
        s.json(PATH)["appliedUrlBase"],
        "https://lb.example.org",
        "applied at once"
    );
    s.stop_config_sync();
    assert!(
        !s.home.join("run/arca-config-sync.sock").exists(),
        "the socket goes with the sync"
    );
    // without the sync the server writes the file itself (development, tests)
    assert_eq!(
        put_url_base(&s, "https://lb2.example.org").0,
        StatusCode::OK
    );
    assert!(system_properties(&s).contains("\narca.url.base=https://lb2.example.org\n"));
}

/// On the PostgreSQL cluster of `ha.rs` (named `ha::` so the suite's PostgreSQL pass, which
/// skips `ha::`, does not run it twice).
mod ha {
    use super::super::ha::Cluster;
    use super::*;

    fn restart_required(s: &Server) -> Vec<(String, Vec<String>)> {
        s.json("/api/system/ha/nodes")
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["id"].as_str().unwrap().to_string(),
                    serde_json::from_value(n["restartRequired"].clone()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_change_on_a_member_reaches_the_owner_and_every_node_without_a_restart() {
        let mut cluster = Cluster::new();
        let mut nodes = cluster.start_three();
        for n in &mut nodes {
            n.start_config_sync();
        }
        let old = "http://lb.example:8080/artifactory";
        let new = "https://lb2.example.com/artifactory";
        for n in &nodes {
            assert_eq!(n.json(PATH)["appliedUrlBase"], old);
        }
        nodes[2].generic_repo("g");
        assert_eq!(nodes[2].put("/g/f.txt", "f").status(), StatusCode::CREATED);

        // A PUT on node-b (a member) is forwarded to node-a (the primary, the config owner).
        let (status, text) = put_url_base(&nodes[1], &format!("{new}/"));
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(
            text.contains(&format!("updated to - \"{new}\"")) && text.contains("node 'node-a'"),
            "{text}"
        );
        // the owner wrote its file (through its config sync) before answering
        let owner_file = system_properties(&nodes[0]);
        assert!(
            owner_file.contains(&format!("\narca.url.base={new}\n")) && !owner_file.contains(old),
            "{owner_file}"
        );
        // applied at once where the request landed and on the owner
        assert_eq!(nodes[1].json(PATH)["appliedUrlBase"], new);
        assert_eq!(nodes[0].json(PATH)["appliedUrlBase"], new);
        // and everywhere once the config sync mirrored the file: same bytes, new base in use
        within(
            Duration::from_secs(15),
            "every node has the new file",
            || nodes.iter().all(|n| system_properties(n) == owner_file),
        );
        within(Duration::from_secs(10), "every node applies it", || {
            nodes.iter().all(|n| n.json(PATH)["appliedUrlBase"] == new)
        });
        assert_eq!(download_uri(&nodes[2], "g/f.txt"), format!("{new}/g/f.txt"));
        // who wrote it and how far it went, as the page shows it
        within(Duration::from_secs(10), "propagation done", || {
            nodes[1].json(PATH)["propagationPending"] == false
        });
        let v = nodes[1].json(PATH);
        assert_eq!(v["configOwner"], "node-a");
        assert_eq!(v["lastChange"]["writtenBy"], "node-a");
        assert_eq!(v["lastChange"]["receivedBy"], "node-b");
        assert_eq!(v["lastChange"]["user"], "admin");
        let listed = v["nodes"].as_array().unwrap();
        assert_eq!(listed.len(), 3, "{v}");
        assert!(
            listed
                .iter()
                .all(|n| n["inSync"] == true && n["restartRequired"] == false),
            "{v}"
        );
        // no restart required anywhere, by the HA table and by the servers' own view
        for n in &nodes {
            assert!(
                restart_required(n)
                    .iter()
                    .all(|(_, files)| files.is_empty()),
                "{:?}",
                restart_required(n)
            );
            assert!(!n.log().contains("RESTART REQUIRED"), "{}", n.log());
        }
        assert!(
            nodes[2]
                .sync_log()
                .contains("changed in keys arca-server applies live only"),
            "{}",
            nodes[2].sync_log()
        );

        // A refused value: the same message on every node, nothing written.
        let (status, message) = refused(&nodes[2], "https://u@lb");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            message.starts_with("Invalid URL base: no user info allowed"),
            "{message}"
        );
        assert_eq!(system_properties(&nodes[0]), owner_file);

        // Cleared from node-c: gone everywhere, back to each request's host.
        assert_eq!(put_url_base(&nodes[2], "").0, StatusCode::OK);
        within(Duration::from_secs(15), "cleared everywhere", || {
            nodes.iter().all(|n| {
                system_properties(n).contains("\narca.url.base=\n")
                    && n.json(PATH)["appliedUrlBase"] == ""
            })
        });
        assert_eq!(
            download_uri(&nodes[2], "g/f.txt"),
            format!("{}/g/f.txt", nodes[2].url(""))
        );

        // Any other key still needs a restart (edited on the owner by hand).
        let text = system_properties(&nodes[0])
            .replace("arca.gc.interval.secs=1\n", "arca.gc.interval.secs=2\n");
        std::fs::write(nodes[0].home.join("etc/system.properties"), text).unwrap();
        within(Duration::from_secs(15), "restart required again", || {
            restart_required(&nodes[0])
                .iter()
                .all(|(_, files)| files == &["system.properties".to_string()])
        });
    }
}

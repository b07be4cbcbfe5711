//! `GET /api/system/logs` (`docs/api.md`, the web UI's System Logs): a node's recent log with
//! the start-up banner naming its "HA Node ID", the level, text and `after` filters, who may
//! read it (administrators, and other nodes with a node-to-node signature), and another node's
//! log fetched through the node asked (two nodes on one PostgreSQL database).

use std::path::Path;

use arca_crypto::master_key::{EMPTY_SHA256, NodeRequest, RequestSigner};
use serde_json::json;

use super::ha::{Cluster, NodeSpec};
use super::*;

const LOGS: &str = "/api/system/logs";

/// The node id the server answers with (`X-Arca-Node-Id`).
fn node_id(s: &Server) -> String {
    let r = s.get("/api/system/ping");
    r.headers()["x-arca-node-id"].to_str().unwrap().to_string()
}

fn logs(s: &Server, query: &str) -> Value {
    let r = s.get(&format!("{LOGS}{query}"));
    assert_eq!(r.status(), StatusCode::OK, "GET {LOGS}{query}");
    r.json().unwrap()
}

fn messages(answer: &Value) -> Vec<String> {
    answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

/// Every line of `answer` came after sequence number `last`.
fn assert_all_after(answer: &Value, last: u64) {
    assert!(
        answer["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["seq"].as_u64().unwrap() > last),
        "{answer}"
    );
}

fn levels(answer: &Value) -> Vec<String> {
    answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["level"].as_str().unwrap().to_string())
        .collect()
}

/// The cluster's request signer, keyed from `home`'s master key.
fn signer(home: &Path) -> RequestSigner {
    let hex = std::fs::read_to_string(home.join("etc/security/master.key")).unwrap();
    let key = arca_config::MasterKey::parse(&hex, Path::new("master.key")).unwrap();
    RequestSigner::new(key.bytes())
}

/// A GET of `path_and_query` (context path included) signed by `signer` as node `from` for
/// node `to`.
fn signed_get(
    s: &Server,
    signer: &RequestSigner,
    from: &str,
    to: &str,
    path_and_query: &str,
) -> Response {
    let headers = signer.headers(
        &NodeRequest {
            method: "GET",
            path_and_query,
            target_node: to,
            content_sha256: EMPTY_SHA256,
        },
        from,
        arca_testkit::now_ms(),
        &arca_crypto::random_hex(16),
    );
    let url = format!("http://{}:{}{path_and_query}", s.ip, s.port);
    headers
        .into_iter()
        .fold(s.client().get(url), |r, (name, value)| {
            r.header(name, value)
        })
        .send()
        .unwrap()
}

#[test]
fn an_admin_reads_the_nodes_log_with_its_banner_filtered_by_level_and_text() {
    let (_dir, s) = fresh_server();
    let id = node_id(&s);
    let all = logs(&s, "");
    assert_eq!(all["node"], id.as_str());
    let banner = format!("HA Node ID: '{id}'");
    assert!(
        messages(&all).iter().any(|m| m.contains(&banner)),
        "no start-up banner with {banner:?}: {all}"
    );
    let first = &all["lines"][0];
    assert!(first["seq"].as_u64().unwrap() >= 1, "{first}");
    assert!(first["time"].as_str().unwrap().ends_with('Z'), "{first}");
    assert!(
        first["target"].as_str().unwrap().starts_with("arca"),
        "{first}"
    );
    assert!(all["startupLastSeq"].as_u64().unwrap() >= 1, "{all}");

    // level: at least WARN (the first start warns about the new master key)
    let warn = logs(&s, "?level=warn");
    assert!(!levels(&warn).is_empty(), "{warn}");
    assert!(
        levels(&warn).iter().all(|l| l == "WARN" || l == "ERROR"),
        "{warn}"
    );
    assert!(messages(&warn).iter().any(|m| m.contains("master key")));
    assert!(
        levels(&logs(&s, "?level=ERROR"))
            .iter()
            .all(|l| l == "ERROR")
    );
    // text: in the message or the target, case ignored
    let text = logs(&s, "?q=ha+node+id");
    assert_eq!(messages(&text).len(), 1, "{text}");
    assert!(messages(&text)[0].contains(&banner));
    assert!(messages(&logs(&s, "?q=no+such+words+anywhere")).is_empty());

    // after: only what came since; new lines arrive
    let last = all["lastSeq"].as_u64().unwrap();
    assert!(messages(&logs(&s, &format!("?after={last}&q=repository+created"))).is_empty());
    s.generic_repo("logged");
    let since = logs(&s, &format!("?after={last}"));
    assert_all_after(&since, last);
    assert!(
        messages(&since)
            .iter()
            .any(|m| m.contains("repository created") && m.contains("arca_repo=logged")),
        "{since}"
    );
    // limit: the newest lines after the start-up ones, the rest counted
    let one = logs(&s, "?limit=1&q=repository+created");
    assert_eq!(messages(&one).len(), 1, "{one}");
    assert_eq!(one["omitted"], 0);
    s.generic_repo("logged-2");
    let one = logs(&s, "?limit=1&q=repository+created");
    assert!(messages(&one)[0].contains("arca_repo=logged-2"), "{one}");
    assert_eq!(one["omitted"], 1, "{one}");

    // bad filters: 400 naming the parameter
    for (query, name) in [
        ("?level=LOUD", "level"),
        ("?limit=100000", "limit"),
        ("?after=x", "after"),
    ] {
        let (status, message) = error_message(s.get(&format!("{LOGS}{query}")));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(message.contains(name), "{query}: {message}");
    }
    // this node by its own id
    assert_eq!(
        logs(&s, &format!("?node={id}&q=ha+node+id"))["node"],
        id.as_str()
    );
}

#[test]
fn no_secret_reaches_the_log() {
    let (_dir, s) = fresh_server();
    let password = "Log-me-never-42";
    let r = s
        .admin(Method::PUT, s.url("/api/security/users/carol"))
        .json(&json!({"email": "carol@example.com", "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s
        .admin(Method::POST, s.url("/api/security/token"))
        .form(&[("username", "carol"), ("expires_in", "600")])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token: Value = r.json().unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    // the user and the token at work, and a wrong password
    let r = s.get_with("/api/security/token", |b| b.bearer_auth(&token));
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.get_with("/api/repositories", |b| {
        b.basic_auth("carol", Some(password))
    });
    assert_eq!(r.status(), StatusCode::OK);
    let r = s.get_with("/api/repositories", |b| {
        b.basic_auth("carol", Some("Wrong-password-1"))
    });
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let text = logs(&s, "?limit=5000").to_string();
    assert!(text.contains("access token created"), "{text}");
    for secret in [password, "Wrong-password-1", &token, &s.password] {
        assert!(!text.contains(secret), "the log shows a secret: {text}");
    }
}

#[test]
fn admins_and_signed_nodes_only() {
    let (_dir, s) = fresh_server();
    let id = node_id(&s);
    let r = s.get_anonymous(LOGS);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = s
        .admin(Method::PUT, s.url("/api/security/users/reader"))
        .json(&json!({"email": "r@example.com", "password": "Corr3ct-horse-battery"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = s.get_with(LOGS, |b| {
        b.basic_auth("reader", Some("Corr3ct-horse-battery"))
    });
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, message) = error_message(s.get(&format!("{LOGS}?node=no-such-node")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message.contains("no-such-node"), "{message}");
    let r = s.admin(Method::POST, s.url(LOGS)).send().unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // another node's call: signed with the cluster's master key for this node
    let key = signer(&s.home);
    let path = "/artifactory/api/system/logs?q=ha+node+id";
    let r = signed_get(&s, &key, "node-z", &id, path);
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().unwrap();
    assert_eq!(answer["node"], id.as_str());
    assert_eq!(messages(&answer).len(), 1, "{answer}");
    // another key, another receiver, another path than signed: refused
    let other = RequestSigner::new(&[7u8; 16]);
    assert_eq!(
        signed_get(&s, &other, "node-z", &id, path).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        signed_get(&s, &key, "node-z", "node-y", path).status(),
        StatusCode::UNAUTHORIZED
    );
    let headers = key.headers(
        &NodeRequest {
            method: "GET",
            path_and_query: path,
            target_node: &id,
            content_sha256: EMPTY_SHA256,
        },
        "node-z",
        arca_testkit::now_ms(),
        &arca_crypto::random_hex(16),
    );
    let tampered = headers
        .into_iter()
        .fold(
            s.client().get(s.url(&format!("{LOGS}?q=master+key"))),
            |r, (n, v)| r.header(n, v),
        )
        .send()
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    // a signed call is answered by the node called, never passed on
    let (status, message) = error_message(signed_get(
        &s,
        &key,
        "node-z",
        &id,
        "/artifactory/api/system/logs?node=node-y",
    ));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("not forwarded"), "{message}");
}

/// Two nodes on one PostgreSQL database (like `ha.rs`): node-a answers node-b's log, fetched
/// with a signed node-to-node call at node-b's registered URL; node-b gone is a 502 naming it.
#[test]
fn another_nodes_log_through_the_cluster() {
    let mut cluster = Cluster::new();
    let a = cluster.start(&NodeSpec::new("node-a", "127.0.0.41", true), None);
    let key = a.home.clone();
    let mut b = cluster.start(&NodeSpec::new("node-b", "127.0.0.42", false), Some(&key));

    let answer = logs(&a, "?node=node-b&q=HA+Node+ID");
    assert_eq!(answer["node"], "node-b");
    assert_eq!(messages(&answer).len(), 1, "{answer}");
    assert!(
        messages(&answer)[0].contains("HA Node ID: 'node-b'"),
        "{answer}"
    );
    // the filters travel along
    let warn = logs(&a, "?node=node-b&level=WARN");
    assert!(
        levels(&warn).iter().all(|l| l == "WARN" || l == "ERROR"),
        "{warn}"
    );
    let last = logs(&a, "?node=node-b")["lastSeq"].as_u64().unwrap();
    let since = logs(&a, &format!("?node=node-b&after={last}"));
    assert_all_after(&since, last);
    // and the other way round
    assert_eq!(logs(&b, "?node=node-a&q=HA+Node+ID")["node"], "node-a");
    // a node the registry does not know: 404, nothing is called
    let (status, message) = error_message(a.get(&format!("{LOGS}?node=node-x")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message.contains("node-x"), "{message}");

    b.kill9();
    let (status, message) = error_message(a.get(&format!("{LOGS}?node=node-b")));
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{message}");
    assert!(
        message.contains("node 'node-b'") && message.contains("127.0.0.42"),
        "{message}"
    );
}

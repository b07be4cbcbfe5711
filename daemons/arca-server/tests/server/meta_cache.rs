//! The node's metadata cache (`docs/cache.md`): what one node changed is never served by
//! another after the change was acknowledged, and writes by other processes are seen.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::ha::{Cluster, NodeSpec};
use super::{Server, backend_is_postgres, fresh_server, open_db, sha256_hex};

/// Wait until `s` says its metadata cache serves (PostgreSQL: after its listener's hold-off).
fn wait_cache_serving(s: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.log().contains("metadata cache serving") {
        assert!(Instant::now() < deadline, "cache never serves: {}", s.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn delete(s: &Server, path: &str) -> StatusCode {
    s.admin(Method::DELETE, s.url(path))
        .send()
        .unwrap()
        .status()
}

fn two_nodes(cluster: &mut Cluster) -> (Server, Server) {
    let a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let key = a.home.clone();
    let b = cluster.start(&NodeSpec::new("node-b", "127.0.0.12", false), Some(&key));
    wait_cache_serving(&a);
    wait_cache_serving(&b);
    (a, b)
}

#[test]
fn what_a_node_changed_is_never_served_by_another_after_its_answer() {
    let mut cluster = Cluster::new();
    let (a, b) = two_nodes(&mut cluster);
    a.generic_repo("libs");

    // B answers from memory: a row removed behind every cache's back (no notification) is
    // still served by B until the next write anywhere.
    let db = cluster.pg.open().unwrap();
    let mut served_from_memory = 0;
    for attempt in 0..5 {
        let path = format!("/libs/control/{attempt}.bin");
        assert_eq!(a.put(&path, vec![7u8; 100]).status(), StatusCode::CREATED);
        assert_eq!(b.get(&path).status(), StatusCode::OK);
        let stored = format!("control/{attempt}.bin");
        db.read_blocking(move |c| {
            c.execute(
                "DELETE FROM items WHERE repo = 'libs' AND path = ?1",
                arca_db::args![stored],
            )
        })
        .unwrap();
        if b.get(&path).status() == StatusCode::OK {
            served_from_memory += 1;
        }
    }
    assert!(served_from_memory > 0, "B never answered from its cache");

    for round in 0..30 {
        // delete on A, GET on B right after A's answer
        let path = format!("/libs/d/{round}.bin");
        assert_eq!(a.put(&path, vec![1u8; 64]).status(), StatusCode::CREATED);
        assert_eq!(b.get(&path).status(), StatusCode::OK);
        assert_eq!(b.get(&path).status(), StatusCode::OK);
        assert_eq!(delete(&a, &path), StatusCode::NO_CONTENT);
        assert_eq!(
            b.get(&path).status(),
            StatusCode::NOT_FOUND,
            "round {round}"
        );

        // overwrite on A: B serves the new content and checksums
        let path = format!("/libs/o/{round}.bin");
        let (one, two) = (vec![1u8; 100 + round], vec![2u8; 200 + round]);
        assert_eq!(a.put(&path, one.clone()).status(), StatusCode::CREATED);
        let r = b.get(&path);
        assert_eq!(r.headers()["x-checksum-sha256"], sha256_hex(&one).as_str());
        assert_eq!(a.put(&path, two.clone()).status(), StatusCode::CREATED);
        let r = b.get(&path);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-checksum-sha256"], sha256_hex(&two).as_str());
        assert_eq!(r.bytes().unwrap().to_vec(), two, "round {round}");
    }

    // a repository changed, then deleted, on A
    assert_eq!(
        a.put("/libs/r/f.bin", vec![3u8; 10]).status(),
        StatusCode::CREATED
    );
    assert_eq!(b.get("/libs/r/f.bin").status(), StatusCode::OK);
    let r = a
        .admin(Method::POST, a.url("/api/repositories/libs"))
        .json(&json!({"blackedOut": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    assert_eq!(b.get("/libs/r/f.bin").status(), StatusCode::NOT_FOUND);
    let r = a
        .admin(Method::POST, a.url("/api/repositories/libs"))
        .json(&json!({"blackedOut": false}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(b.get("/libs/r/f.bin").status(), StatusCode::OK);
    let r = a
        .admin(Method::DELETE, a.url("/api/repositories/libs"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    assert_eq!(b.get("/libs/r/f.bin").status(), StatusCode::NOT_FOUND);
}

#[test]
fn a_user_disabled_or_a_token_revoked_on_one_node_is_refused_by_another_at_once() {
    let mut cluster = Cluster::new();
    let (a, b) = two_nodes(&mut cluster);
    let r = a
        .admin(Method::PUT, a.url("/api/security/users/carol"))
        .json(&json!({"password": "Carol-pw-12345"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let as_carol = |s: &Server| {
        s.get_with("/api/security/token", |r| {
            r.basic_auth("carol", Some("Carol-pw-12345"))
        })
        .status()
    };
    for round in 0..5 {
        // B's authentication cache holds carol
        assert_eq!(as_carol(&b), StatusCode::OK, "round {round}");
        assert_eq!(as_carol(&b), StatusCode::OK, "round {round}");
        let disable = |disabled: bool| {
            let r = a
                .admin(Method::POST, a.url("/api/security/users/carol"))
                .json(&json!({"disabled": disabled}))
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        };
        disable(true);
        assert_eq!(as_carol(&b), StatusCode::UNAUTHORIZED, "round {round}");
        disable(false);
    }
    for round in 0..5 {
        let r = a
            .admin(Method::POST, a.url("/api/security/token"))
            .form(&[("username", "admin"), ("expires_in", "3600")])
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: serde_json::Value = r.json().unwrap();
        let token = body["access_token"].as_str().unwrap().to_string();
        let with_token = |s: &Server| {
            s.get_with("/api/security/token", |r| r.bearer_auth(&token))
                .status()
        };
        assert_eq!(with_token(&b), StatusCode::OK, "round {round}");
        assert_eq!(with_token(&b), StatusCode::OK, "round {round}");
        let r = a
            .admin(Method::POST, a.url("/api/security/token/revoke"))
            .form(&[("token", token.as_str())])
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(with_token(&b), StatusCode::UNAUTHORIZED, "round {round}");
    }
}

/// Another process (a tool such as `arcactl`) deletes an item while the server runs: the
/// server stops serving it — on SQLite at once (`data_version`), on PostgreSQL as soon as the
/// notification arrives (tools do not wait for the nodes' acknowledgements).
#[test]
fn a_write_by_another_process_is_seen() {
    let (_dir, s) = fresh_server();
    if backend_is_postgres() {
        wait_cache_serving(&s);
    }
    s.generic_repo("libs");
    let db = open_db(&s.home);
    for round in 0..10 {
        let path = format!("/libs/x/{round}.bin");
        assert_eq!(s.put(&path, vec![5u8; 32]).status(), StatusCode::CREATED);
        assert_eq!(s.get(&path).status(), StatusCode::OK);
        assert_eq!(s.get(&path).status(), StatusCode::OK);
        let stored = format!("x/{round}.bin");
        let removed = db
            .write_blocking(move |tx| arca_db::items::delete_tree(tx, "libs", &stored))
            .unwrap();
        assert_eq!(removed, 1);
        if backend_is_postgres() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while s.get(&path).status() != StatusCode::NOT_FOUND {
                assert!(Instant::now() < deadline, "still served: {path}");
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            assert_eq!(s.get(&path).status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}

//! Web UI sessions (`docs/sessions.md`): login/logout/current, the cookie's attributes, the
//! cookie as REST credentials with its CSRF rule, idle and absolute timeouts, hashed ids in
//! the database, and the `db` (any node) and `local` (one node) providers of a cluster.

use std::time::{Duration, Instant};

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::ha::{Cluster, NodeSpec};
use super::{Server, fresh_server_with, home, open_db, sha256_hex};

/// `POST /ui/auth/login` as admin with `headers`.
fn login_with(s: &Server, password: &str, headers: &[(&str, &str)]) -> Response {
    let mut b = s
        .client()
        .post(s.url("/ui/auth/login"))
        .json(&json!({ "user": "admin", "password": password }));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.send().unwrap()
}

/// Log in as admin; returns the session id (the cookie's value) and the `Set-Cookie` line.
fn login(s: &Server) -> (String, String) {
    let r = login_with(s, &s.password, &[]);
    assert_eq!(r.status(), StatusCode::OK, "login");
    let line = set_cookie(&r);
    (cookie_value(&line), line)
}

fn set_cookie(r: &Response) -> String {
    r.headers()
        .get("set-cookie")
        .expect("Set-Cookie")
        .to_str()
        .unwrap()
        .to_string()
}

fn cookie_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    first.strip_prefix("ARCA_SESSION=").unwrap().to_string()
}

/// A request carrying the session cookie (and no other credentials).
fn with_cookie(s: &Server, method: Method, path: &str, id: &str) -> RequestBuilder {
    s.client()
        .request(method, s.url(path))
        .header("Cookie", format!("theme=dark; ARCA_SESSION={id}"))
}

fn current(s: &Server, id: &str) -> Response {
    with_cookie(s, Method::GET, "/ui/auth/current", id)
        .send()
        .unwrap()
}

fn current_status(s: &Server, id: &str) -> StatusCode {
    current(s, id).status()
}

fn node_header(r: &Response) -> String {
    r.headers()
        .get("x-arca-node-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn session_row(db: &arca_db::Db, id_hash: &str) -> Option<arca_db::sessions::Session> {
    let h = id_hash.to_string();
    db.read_blocking(move |c| arca_db::sessions::session_by_hash(c, &h))
        .unwrap()
}

#[test]
fn login_sets_a_cookie_that_authenticates_the_ui_and_the_rest_api() {
    let dir = home();
    let h = dir.path().join("h");
    let s = Server::start(&h);

    // bad credentials
    let r = login_with(&s, "wrong", &[]);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());
    let r = s
        .client()
        .post(s.url("/ui/auth/login"))
        .json(&json!({ "user": "nobody", "password": "x" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // login: the cookie's attributes over plain http
    let r = login_with(&s, &s.password, &[]);
    assert_eq!(r.status(), StatusCode::OK);
    let line = set_cookie(&r);
    let body: Value = r.json().unwrap();
    assert_eq!(body["name"], "admin");
    assert_eq!(body["admin"], true);
    assert_eq!(body["provider"], "db");
    assert_eq!(body["idleTimeoutSecs"], 1800);
    assert!(body["expiresAt"].as_str().unwrap().ends_with('Z'), "{body}");
    let id = cookie_value(&line);
    let csrf = body["csrfToken"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "128-bit id in hex: {line}");
    assert!(line.contains("; Path=/artifactory"), "{line}");
    assert!(line.contains("; HttpOnly"), "{line}");
    assert!(line.contains("; SameSite=Lax"), "{line}");
    assert!(!line.contains("Secure"), "no Secure over http: {line}");

    // behind a TLS-terminating proxy: Secure
    let r = login_with(&s, &s.password, &[("X-Forwarded-Proto", "https")]);
    assert_eq!(r.status(), StatusCode::OK);
    let secure_line = set_cookie(&r);
    assert!(secure_line.ends_with("; Secure"), "{secure_line}");
    assert_ne!(cookie_value(&secure_line), id, "every login gets a new id");

    // form-encoded, with `username`
    let r = s
        .client()
        .post(s.url("/ui/auth/login"))
        .form(&[("username", "admin"), ("password", s.password.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // current
    let r = current(&s, &id);
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().unwrap();
    assert_eq!(body["name"], "admin");
    assert_eq!(body["admin"], true);
    assert_eq!(body["provider"], "db");
    assert!(body["nodeId"].is_string(), "{body}");
    assert_eq!(
        s.client()
            .get(s.url("/ui/auth/current"))
            .send()
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "no cookie"
    );
    assert_eq!(
        current_status(&s, "0123456789abcdef0123456789abcdef"),
        StatusCode::UNAUTHORIZED,
        "unknown session"
    );

    // the cookie authenticates an admin REST call
    let r = with_cookie(&s, Method::GET, "/api/security/users", &id)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());

    // CSRF: an unsafe method authenticated by the cookie needs the session's CSRF token
    // (X-Requested-With, which same-origin script sets, is not enough: issue 14)
    let repo = json!({"rclass": "local", "packageType": "generic"});
    let r = with_cookie(&s, Method::PUT, "/api/repositories/by-cookie", &id)
        .header("X-Requested-With", "XMLHttpRequest")
        .json(&repo)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().unwrap().contains("X-CSRF-Token"));
    let r = with_cookie(&s, Method::PUT, "/api/repositories/by-cookie", &id)
        .header("X-CSRF-Token", csrf.as_str())
        .json(&repo)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    let r = with_cookie(&s, Method::PUT, "/by-cookie/a.txt", &id)
        .header("X-CSRF-Token", csrf.as_str())
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    // Basic credentials win over the cookie: no CSRF rule for them
    let r = s
        .admin(Method::PUT, s.url("/by-cookie/b.txt"))
        .header("Cookie", format!("ARCA_SESSION={id}"))
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());

    // the database holds the id's SHA-256, never the id
    let db = open_db(&h);
    let row = session_row(&db, &sha256_hex(id.as_bytes())).expect("session row by hash");
    assert_eq!(row.user_name, "admin");
    assert!(row.absolute_expires > row.created);
    assert!(session_row(&db, &id).is_none());
    let leaked: i64 = {
        let id = id.clone();
        db.read_blocking(move |c| {
            c.query_one(
                "SELECT COUNT(*) FROM sessions WHERE id_hash = ?1 OR user_name = ?1 \
                 OR node_id = ?1",
                arca_db::args![id],
                |r| r.get(0),
            )
        })
        .unwrap()
    };
    assert_eq!(
        leaked, 0,
        "the cookie's value is nowhere in the sessions table"
    );

    // logout ends it, and the cookie is cleared
    let r = with_cookie(&s, Method::POST, "/ui/auth/logout", &id)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cleared = set_cookie(&r);
    assert!(cleared.starts_with("ARCA_SESSION=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(current_status(&s, &id), StatusCode::UNAUTHORIZED);
    assert!(session_row(&db, &sha256_hex(id.as_bytes())).is_none());
    // a stale cookie is anonymous: public reads work, admin calls do not
    let r = with_cookie(&s, Method::GET, "/api/security/users", &id)
        .send()
        .unwrap();
    assert!(
        matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
        "{}",
        r.status()
    );
    let r = with_cookie(&s, Method::GET, "/api/system/ping", &id)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn an_unused_session_ends_after_the_idle_timeout_a_used_one_does_not() {
    let dir = home();
    let h = dir.path().join("h");
    let s = Server::start_with(&h, &["arca.session.idle.timeout.secs=2"]);

    let (unused, _) = login(&s);
    let (used, _) = login(&s);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3_500) {
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            current_status(&s, &used),
            StatusCode::OK,
            "used every second, after {:?}",
            started.elapsed()
        );
    }
    assert_eq!(current_status(&s, &unused), StatusCode::UNAUTHORIZED);
    // the ended session is gone from the database too
    let db = open_db(&h);
    assert!(session_row(&db, &sha256_hex(unused.as_bytes())).is_none());
    assert!(session_row(&db, &sha256_hex(used.as_bytes())).is_some());
}

#[test]
fn a_session_ends_at_the_absolute_timeout_even_when_used() {
    let (_dir, s) = fresh_server_with(&["arca.session.absolute.timeout.secs=3"]);

    let (id, _) = login(&s);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2_300) {
        assert_eq!(current_status(&s, &id), StatusCode::OK);
        std::thread::sleep(Duration::from_millis(500));
    }
    while started.elapsed() < Duration::from_millis(3_300) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(current_status(&s, &id), StatusCode::UNAUTHORIZED);
    let r = with_cookie(&s, Method::GET, "/api/security/users", &id)
        .send()
        .unwrap();
    assert_ne!(r.status(), StatusCode::OK);
}

#[test]
fn db_sessions_work_on_every_node_of_a_cluster() {
    let mut cluster = Cluster::new();
    let nodes = cluster.start_three();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);

    let (id, _) = login(a);
    for (s, node) in [(a, "node-a"), (b, "node-b"), (c, "node-c")] {
        let r = current(s, &id);
        assert_eq!(r.status(), StatusCode::OK, "on {node}");
        assert_eq!(node_header(&r), node);
        let body: Value = r.json().unwrap();
        assert_eq!(body["name"], "admin");
        assert_eq!(body["provider"], "db");
        assert_eq!(body["nodeId"], node);
        assert_eq!(body["createdOn"], "node-a");
        // and REST calls
        let r = with_cookie(s, Method::GET, "/api/security/users", &id)
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "REST on {node}");
    }

    // logout on C ends it everywhere
    let r = with_cookie(c, Method::POST, "/ui/auth/logout", &id)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for s in [a, b, c] {
        assert_eq!(current_status(s, &id), StatusCode::UNAUTHORIZED);
    }
}

#[test]
fn local_sessions_stay_on_the_node_that_made_them() {
    let mut cluster = Cluster::with_system("arca.map.provider.type=local\n");
    let a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let key = a.home.clone();
    let b = cluster.start(&NodeSpec::new("node-b", "127.0.0.12", false), Some(&key));

    let r = login_with(&a, &a.password, &[]);
    assert_eq!(r.status(), StatusCode::OK);
    let id = cookie_value(&set_cookie(&r));
    let body: Value = r.json().unwrap();
    assert_eq!(body["provider"], "local");

    let r = current(&a, &id);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().unwrap()["provider"], "local");
    assert_eq!(current_status(&b, &id), StatusCode::UNAUTHORIZED);

    // nothing in the shared database
    let db = cluster.pg.open().unwrap();
    assert_eq!(
        db.read_blocking(arca_db::sessions::count_sessions).unwrap(),
        0
    );

    // logout on A ends it
    let r = with_cookie(&a, Method::POST, "/ui/auth/logout", &id)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(current_status(&a, &id), StatusCode::UNAUTHORIZED);
}

fn login_as(s: &Server, user: &str, password: &str) -> String {
    let r = s
        .client()
        .post(s.url("/ui/auth/login"))
        .json(&json!({ "user": user, "password": password }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login as {user}");
    let id = cookie_value(&set_cookie(&r));
    let body: Value = r.json().unwrap();
    assert_eq!(body["admin"], false);
    id
}

fn post_user(s: &Server, user: &str, body: Value) {
    let r = s
        .admin(Method::POST, s.url(&format!("/api/security/users/{user}")))
        .json(&body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "POST user {user}: {}", r.status());
}

/// A new password, disabling or deleting the user ends its sessions, with either provider.
fn user_changes_end_sessions(provider: &str) {
    let dir = home();
    let h = dir.path().join("h");
    let prop = format!("arca.map.provider.type={provider}");
    let s = Server::start_with(&h, &[prop.as_str()]);
    let r = s
        .admin(Method::PUT, s.url("/api/security/users/bob"))
        .json(&json!({ "email": "bob@example.com", "password": "First-pass-1" }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let id = login_as(&s, "bob", "First-pass-1");
    let r = current(&s, &id);
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().unwrap();
    assert_eq!(body["name"], "bob");
    assert_eq!(body["provider"], provider);
    let info = s.json("/api/security/users/bob");
    assert!(info["lastLoggedIn"].is_string(), "login recorded: {info}");

    post_user(&s, "bob", json!({ "password": "Second-pass-2" }));
    assert_eq!(
        current_status(&s, &id),
        StatusCode::UNAUTHORIZED,
        "new password"
    );

    let id = login_as(&s, "bob", "Second-pass-2");
    post_user(&s, "bob", json!({ "disabled": true }));
    assert_eq!(
        current_status(&s, &id),
        StatusCode::UNAUTHORIZED,
        "disabled"
    );
    post_user(&s, "bob", json!({ "disabled": false }));
    assert_eq!(
        current_status(&s, &id),
        StatusCode::UNAUTHORIZED,
        "stays ended"
    );

    let id = login_as(&s, "bob", "Second-pass-2");
    let r = s
        .admin(Method::DELETE, s.url("/api/security/users/bob"))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    assert_eq!(current_status(&s, &id), StatusCode::UNAUTHORIZED, "deleted");
}

#[test]
fn a_new_password_disabling_or_deleting_ends_db_sessions() {
    user_changes_end_sessions("db");
}

#[test]
fn a_new_password_disabling_or_deleting_ends_local_sessions() {
    user_changes_end_sessions("local");
}

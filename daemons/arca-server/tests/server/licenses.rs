//! The license pool's REST API (`/api/system/licenses`) and the bootstrap file
//! `etc/cluster.license`, against the real server with a throwaway issuer.

use std::path::Path;

use arca_license::{Issuer, license_hash};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::pool::{key, today, trusted_issuer};
use super::{PG_DATABASES, Server, backend_is_postgres, error_message, home};

fn licenses_url(s: &Server) -> String {
    s.url("/api/system/licenses")
}

fn list(s: &Server) -> Vec<Value> {
    let v = s.json("/api/system/licenses");
    v.as_array().unwrap().clone()
}

fn post(s: &Server, body: &Value) -> (StatusCode, Value) {
    let r = s
        .admin(Method::POST, licenses_url(s))
        .json(body)
        .send()
        .unwrap();
    (r.status(), r.json().unwrap())
}

/// A non-admin user written straight into the server's database (there is no user API yet).
fn add_plain_user(h: &Path, name: &str, password: &str) {
    let db = if backend_is_postgres() {
        let dbs = PG_DATABASES.lock().unwrap();
        let (_, pg) = dbs.iter().find(|(home, _)| home == h).unwrap();
        pg.open().unwrap()
    } else {
        arca_db::Db::connect_sqlite(&h.join("data/arca.db"), 1).unwrap()
    };
    let user = arca_db::security::User {
        name: name.to_string(),
        password_hash: arca_crypto::hash_password(password).unwrap(),
        email: None,
        admin: false,
        created: 0,
        ..Default::default()
    };
    db.write_blocking(move |c| arca_db::security::insert_user(c, &user))
        .unwrap();
}

#[test]
fn license_pool_api_adds_lists_and_deletes() {
    let dir = home();
    let h = dir.path().join("h");
    let issuer = trusted_issuer(&h);
    let s = Server::start(&h);

    let next_year = today() + time::Duration::days(365);
    let good1 = key(&issuer, "ACME Corp.", next_year);
    let good2 = key(&issuer, "ACME Corp.", next_year + time::Duration::days(1));
    let garbled = "not-a-license-key".to_string();
    let expired = key(&issuer, "ACME Corp.", today() - time::Duration::days(2));
    let untrusted = key(&Issuer::generate(), "Mallory", next_year);

    // anonymous → 401 with the challenge; a non-admin user → 403
    let anon = s.client().get(licenses_url(&s)).send().unwrap();
    assert_eq!(
        anon.headers()["www-authenticate"],
        "Basic realm=\"Artifactory Realm\""
    );
    assert_eq!(error_message(anon).0, StatusCode::UNAUTHORIZED);
    let anon_post = s
        .client()
        .post(licenses_url(&s))
        .json(&json!([{ "licenseKey": good1 }]))
        .send()
        .unwrap();
    assert_eq!(anon_post.status(), StatusCode::UNAUTHORIZED);
    add_plain_user(&h, "reader", "reader-password-1");
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let r = s
            .client()
            .request(
                method.clone(),
                format!("{}?licenseHash=x", licenses_url(&s)),
            )
            .basic_auth("reader", Some("reader-password-1"))
            .json(&json!([{ "licenseKey": good1 }]))
            .send()
            .unwrap();
        assert_eq!(error_message(r).0, StatusCode::FORBIDDEN, "{method}");
    }
    assert!(list(&s).is_empty());

    // a batch: two keys in one licenseKey (newline and semicolon), three bad ones
    let (status, body) = post(
        &s,
        &json!([
            { "licenseKey": format!("{good1}\n\n{good2};") },
            { "licenseKey": garbled },
            { "licenseKey": expired },
            { "licenseKey": untrusted },
        ]),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], 200);
    let messages = body["messages"].as_object().unwrap();
    assert_eq!(messages.len(), 5, "{body}");
    assert_eq!(messages[&license_hash(&good1)], "OK");
    assert_eq!(messages[&license_hash(&good2)], "OK");
    let reason = |k: &str| messages[&license_hash(k)].as_str().unwrap().to_string();
    assert!(
        reason(&garbled).starts_with("garbled license key: "),
        "{body}"
    );
    assert!(reason(&expired).starts_with("license expired: it was valid through "));
    assert!(reason(&untrusted).starts_with("license key from an untrusted issuer "));
    // keys are credentials: never echoed back
    let text = body.to_string();
    for k in [&good1, &good2, &expired, &untrusted] {
        assert!(!text.contains(k.as_str()), "a key was echoed: {text}");
    }

    // listed in the reference's shape, latest validThrough first
    let listed = list(&s);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["licenseHash"], license_hash(&good2));
    assert_eq!(listed[1]["licenseHash"], license_hash(&good1));
    for l in &listed {
        let mut fields: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "expired",
                "licenseHash",
                "licensedTo",
                "nodeId",
                "nodeUrl",
                "type",
                "validThrough"
            ]
        );
        assert_eq!(l["type"], "Enterprise");
        assert_eq!(l["licensedTo"], "ACME Corp.");
        assert_eq!(l["nodeId"], "Not in use");
        assert_eq!(l["nodeUrl"], "Not in use");
        assert_eq!(l["expired"], false);
    }
    assert_eq!(
        listed[1]["validThrough"],
        arca_license::format_date_long(next_year)
    );
    assert!(!Value::Array(listed).to_string().contains(good1.as_str()));

    // again: already there; a batch with nothing valid is a 400 with the reasons
    let (status, body) = post(&s, &json!([{ "licenseKey": good1 }]));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["messages"][license_hash(&good1)],
        "already in the pool"
    );
    let (status, body) = post(&s, &json!([{ "licenseKey": garbled }]));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["status"], 400);
    assert!(
        body["messages"][license_hash(&garbled)]
            .as_str()
            .unwrap()
            .starts_with("garbled license key: ")
    );
    let r = s
        .admin(Method::POST, licenses_url(&s))
        .body("not json")
        .send()
        .unwrap();
    assert_eq!(error_message(r).0, StatusCode::BAD_REQUEST);

    // delete one known and one unknown hash
    let h1 = license_hash(&good1);
    let unknown = "0".repeat(64);
    let r = s
        .admin(
            Method::DELETE,
            format!("{}?licenseHash={h1},{unknown}", licenses_url(&s)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().unwrap();
    assert_eq!(body["status"], 200);
    assert_eq!(body["messages"][&h1], format!("license {h1} deleted"));
    assert_eq!(
        body["messages"][&unknown],
        format!("license {unknown} not found")
    );
    let listed = list(&s);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["licenseHash"], license_hash(&good2));
    let r = s
        .admin(
            Method::DELETE,
            format!("{}?licenseHash={unknown}", licenses_url(&s)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s.admin(Method::DELETE, licenses_url(&s)).send().unwrap();
    assert_eq!(error_message(r).0, StatusCode::BAD_REQUEST);
}

#[test]
fn post_with_a_bad_issuer_file_is_a_500_naming_it() {
    let dir = home();
    let h = dir.path().join("h");
    trusted_issuer(&h);
    let s = Server::start(&h);
    std::fs::write(
        h.join("etc/security/license-issuers/broken.pub"),
        "arca-license-issuer-pub-v1 nothex\n",
    )
    .unwrap();
    let r = s
        .admin(Method::POST, licenses_url(&s))
        .json(&json!([{ "licenseKey": "not-a-license-key" }]))
        .send()
        .unwrap();
    let (status, message) = error_message(r);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(message.contains("broken.pub"), "{message}");
}

#[test]
fn cluster_license_file_fills_an_empty_pool_at_start() {
    let dir = home();
    let h = dir.path().join("h");
    let issuer = trusted_issuer(&h);
    let next_year = today() + time::Duration::days(365);
    let good1 = key(&issuer, "ACME Corp.", next_year);
    let good2 = key(&issuer, "ACME Corp.", next_year);
    let bad = "not-a-license-key";
    std::fs::write(
        h.join("etc/cluster.license"),
        format!("{good1}\n\n{bad};{good2}\n"),
    )
    .unwrap();
    let mut s = Server::start(&h);
    let listed = list(&s);
    let mut hashes: Vec<&str> = listed
        .iter()
        .map(|l| l["licenseHash"].as_str().unwrap())
        .collect();
    hashes.sort_unstable();
    let mut expected = [license_hash(&good1), license_hash(&good2)];
    expected.sort_unstable();
    assert_eq!(hashes, expected);
    let log = s.log();
    assert!(
        log.contains(&format!("license {} rejected: garbled", license_hash(bad))),
        "{log}"
    );
    assert!(
        log.contains("added 2 license(s) from etc/cluster.license"),
        "{log}"
    );
    assert!(!log.contains(good1.as_str()), "a key was logged");

    // not read again once the pool has keys
    let r = s
        .admin(
            Method::DELETE,
            format!("{}?licenseHash={}", licenses_url(&s), license_hash(&good1)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.stop();
    let s = Server::start(&h);
    assert_eq!(list(&s).len(), 1);
    assert!(s.log().contains("the license pool is not empty"));
}

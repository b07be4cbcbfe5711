//! Node-to-node signatures (v2): a signed call is good for the node it was signed for, for
//! the body it was signed with, once. Two sharding-cluster nodes sharing one PostgreSQL
//! database and the master key; node-b runs with `arca.node.signature.v1=true` (the rolling
//! upgrade setting), node-a with the default. Requests are built with the cluster's master
//! key read from the home, as a peer (or an attacker who captured one) would send them.

use std::path::{Path, PathBuf};

use arca_crypto::master_key::{EMPTY_SHA256, NodeRequest, RequestSigner};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use arca_testkit::now_ms;

use super::{HaNodeFiles, Server, error_message, free_port, home, pool, sha256_hex};

const HA_SELF: &str = "/artifactory/api/system/ha/self";

/// cluster-file-system (the peer store endpoint needs a sharding-cluster chain).
const BINARYSTORE: &str = "<config version=\"2\">\n\
    <chain template=\"cluster-file-system\"/>\n\
    <provider id=\"sharding-cluster\" type=\"sharding-cluster\">\
    <redundancy>2</redundancy><lenientLimit>1</lenientLimit></provider>\n\
    </config>\n";

struct Pair {
    _dir: tempfile::TempDir,
    _pg: arca_testkit::PgTestDb,
    a: Server,
    b: Server,
}

impl Pair {
    fn start() -> Pair {
        let dir = home();
        let pg = arca_testkit::PgTestDb::create().unwrap();
        let issuer = arca_license::Issuer::generate();
        let write_home = |id: &str, ip: &str, port: u16, primary: bool, system: &str| {
            let h = dir.path().join(id);
            HaNodeFiles::new(id, ip, port, primary).write(&h, &pg, system);
            std::fs::write(h.join("etc/binarystore.xml"), BINARYSTORE).unwrap();
            pool::trust(&issuer, &h);
            h
        };
        let (ip_a, port_a) = ("127.0.0.21", free_port());
        let home_a = write_home("node-a", ip_a, port_a, true, "");
        let mut a = Server::spawn(&home_a, ip_a, port_a, "/artifactory");
        a.wait_ready();
        let (ip_b, port_b) = ("127.0.0.22", free_port());
        let home_b = write_home(
            "node-b",
            ip_b,
            port_b,
            false,
            "arca.node.signature.v1=true\n",
        );
        std::fs::copy(
            home_a.join("etc/security/master.key"),
            home_b.join("etc/security/master.key"),
        )
        .unwrap();
        let mut b = Server::spawn(&home_b, ip_b, port_b, "/artifactory");
        b.wait_ready();
        Pair {
            _dir: dir,
            _pg: pg,
            a,
            b,
        }
    }
}

/// The cluster's request signer, keyed from `home`'s master key.
fn signer(home: &Path) -> RequestSigner {
    let hex = std::fs::read_to_string(home.join("etc/security/master.key")).unwrap();
    let key = arca_config::MasterKey::parse(&hex, Path::new("master.key")).unwrap();
    RequestSigner::new(key.bytes())
}

/// Headers of a request from "node-x" for `target`, signed now with a fresh nonce.
fn signed_for(
    signer: &RequestSigner,
    method: &str,
    path: &str,
    target: &str,
    content_sha256: &str,
) -> Vec<(&'static str, String)> {
    signer.headers(
        &NodeRequest {
            method,
            path_and_query: path,
            target_node: target,
            content_sha256,
        },
        "node-x",
        now_ms(),
        &arca_crypto::random_hex(16),
    )
}

/// `method` `path` (context path included) on `s` with `headers` (appended, in order).
fn send(s: &Server, method: Method, path: &str, headers: &[(&str, String)]) -> RequestBuilder {
    let url = format!("http://{}:{}{path}", s.ip, s.port);
    headers
        .iter()
        .fold(Client::new().request(method, url), |r, (name, value)| {
            r.header(*name, value)
        })
}

fn binaries_path(sha: &str) -> String {
    format!("/artifactory/api/system/storage/binaries/{sha}")
}

/// Where node `s` keeps its copy of `sha` (state-aware store under its own data dir).
fn blob(s: &Server, sha: &str) -> PathBuf {
    s.home.join("data/filestore").join(&sha[..2]).join(sha)
}

#[test]
fn a_signed_call_is_good_for_one_node_one_body_once() {
    let pair = Pair::start();
    let (a, b) = (&pair.a, &pair.b);
    let signer = signer(&a.home);

    // ---- a captured call for node-a, replayed to node-b: refused, even with v1 accepted there
    let captured = signed_for(&signer, "GET", HA_SELF, "node-a", EMPTY_SHA256);
    let (status, message) = error_message(send(b, Method::GET, HA_SELF, &captured).send().unwrap());
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{message}");
    assert!(
        message.contains("signed for node 'node-a', this is node 'node-b'"),
        "{message}"
    );
    // …while it is good at node-a, once
    let r = send(a, Method::GET, HA_SELF, &captured).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().unwrap()["nodeId"], "node-a");
    let (status, message) = error_message(send(a, Method::GET, HA_SELF, &captured).send().unwrap());
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{message}");
    assert!(message.contains("replayed"), "{message}");

    // ---- the same for a content-addressed PUT: nothing stored on node-b
    let data = b"a binary for node-a".to_vec();
    let sha = sha256_hex(&data);
    let path = binaries_path(&sha);
    let captured = signed_for(&signer, "PUT", &path, "node-a", &sha);
    let r = send(b, Method::PUT, &path, &captured)
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(!blob(b, &sha).exists());
    let r = send(a, Method::PUT, &path, &captured)
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    assert_eq!(std::fs::read(blob(a, &sha)).unwrap(), data);

    // ---- a body other than the signed one: refused, nothing stored
    let good = b"the content that was signed".to_vec();
    let evil = b"the content sent instead!!!".to_vec();
    assert_eq!(good.len(), evil.len());
    let (good_sha, evil_sha) = (sha256_hex(&good), sha256_hex(&evil));
    let path = binaries_path(&good_sha);
    let headers = signed_for(&signer, "PUT", &path, "node-a", &good_sha);
    let (status, message) = error_message(
        send(a, Method::PUT, &path, &headers)
            .body(evil.clone())
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::CONFLICT, "{message}");
    assert!(message.contains("nothing was stored"), "{message}");
    // a signed digest that is not the path's: refused before the body is read
    let headers = signed_for(&signer, "PUT", &path, "node-a", &evil_sha);
    let (status, message) = error_message(
        send(a, Method::PUT, &path, &headers)
            .body(evil.clone())
            .send()
            .unwrap(),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
    assert!(message.contains("is not the path's"), "{message}");
    // a digest header edited to match the body breaks the signature
    let mut edited = signed_for(&signer, "PUT", &path, "node-a", &good_sha);
    edited.last_mut().unwrap().1 = evil_sha.clone();
    let r = send(a, Method::PUT, &path, &edited)
        .body(evil)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for sha in [&good_sha, &evil_sha] {
        assert!(!blob(a, sha).exists(), "{sha} stored");
    }
    // a body on a call that takes none
    let headers = signed_for(&signer, "GET", HA_SELF, "node-a", &sha256_hex(b"x"));
    let r = send(a, Method::GET, HA_SELF, &headers)
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // ---- v1 (what versions before v2 send; good at any node): refused by default, accepted
    // with arca.node.signature.v1=true
    let v1 = || {
        let header = signer.sign_v1(
            "GET",
            HA_SELF,
            "node-x",
            now_ms(),
            &arca_crypto::random_hex(16),
        );
        vec![(arca_crypto::master_key::SIGNATURE_HEADER, header)]
    };
    let (status, message) = error_message(send(a, Method::GET, HA_SELF, &v1()).send().unwrap());
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{message}");
    assert!(message.contains("arca.node.signature.v1"), "{message}");
    let r = send(b, Method::GET, HA_SELF, &v1()).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // a node in compatibility mode sends v1 and v2: a v2 node takes the v2
    let compat = signer.clone().with_v1_compat(true);
    let both = signed_for(&compat, "GET", HA_SELF, "node-a", EMPTY_SHA256);
    assert_eq!(both.len(), 3);
    let r = send(a, Method::GET, HA_SELF, &both).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

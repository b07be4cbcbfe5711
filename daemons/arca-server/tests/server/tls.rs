//! The optional HTTPS listener (issue 14, "TLS"): served with the configured certificate,
//! reloaded on SIGHUP without dropping open connections, a readable key refuses the start,
//! check-config reports a key that does not match the certificate.

use super::*;

use std::os::unix::fs::PermissionsExt;

/// A test CA issuing server certificates for 127.0.0.1 / localhost.
struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A server certificate (PEM) and its key (PEM).
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "arca test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn leaf(&self, valid_days: i64) -> Leaf {
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(valid_days);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// Write `cert` and `key` as `<home>/etc/tls/server.{crt,key}`, the key with `key_mode`.
fn install(home: &Path, cert: &str, key: &str, key_mode: u32) {
    let dir = home.join("etc/tls");
    std::fs::create_dir_all(&dir).unwrap();
    // Replaced by rename, as an operator's deployment tool would.
    for (name, text, mode) in [("server.crt", cert, 0o644), ("server.key", key, key_mode)] {
        let tmp = dir.join(format!(".{name}.new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

fn https_props(port: u16) -> Vec<String> {
    vec![
        format!("arca.https.listen=127.0.0.1:{port}"),
        "arca.https.cert.file=tls/server.crt".to_string(),
        "arca.https.key.file=tls/server.key".to_string(),
    ]
}

/// A client trusting only `ca` that reports the server's certificate.
fn https_client(ca: &TestCa) -> Client {
    Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .tls_info(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// GET ping over HTTPS; the certificate the server presented (DER).
fn ping_cert(client: &Client, port: u16) -> Vec<u8> {
    let r = client
        .get(format!(
            "https://127.0.0.1:{port}/artifactory/api/system/ping"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let info = r.extensions().get::<reqwest::tls::TlsInfo>().unwrap();
    let der = info.peer_certificate().unwrap().to_vec();
    assert_eq!(r.text().unwrap(), "OK");
    der
}

#[test]
fn https_serves_the_certificate_and_reloads_it_on_sighup_keeping_open_connections() {
    let dir = home();
    let h = dir.path().join("h");
    let ca = TestCa::new();
    let first = ca.leaf(365);
    install(&h, &first.cert_pem, &first.key_pem, 0o600);
    let port = free_port();
    let props = https_props(port);
    let props: Vec<&str> = props.iter().map(String::as_str).collect();
    let s = Server::start_with(&h, &props);
    assert!(
        s.log().contains(&format!("https://127.0.0.1:{port}")),
        "{}",
        s.log()
    );
    // Plain HTTP stays on its port.
    assert_eq!(s.get("/api/system/ping").status(), StatusCode::OK);

    // A connection opened before the reload (kept alive in the client's pool).
    let open = https_client(&ca);
    assert_eq!(ping_cert(&open, port), first.der);

    let second = ca.leaf(365);
    install(&h, &second.cert_pem, &second.key_pem, 0o600);
    nix::sys::signal::kill(s.pid(), nix::sys::signal::Signal::SIGHUP).unwrap();
    within(Duration::from_secs(10), "the reload's log line", || {
        s.log().contains("HTTPS: reloaded the certificate")
    });
    // New connections get the new certificate...
    assert_eq!(ping_cert(&https_client(&ca), port), second.der);
    // ...and the open one still works: same connection, so still the certificate it began with.
    assert_eq!(ping_cert(&open, port), first.der);

    // A bad file on SIGHUP keeps the current certificate.
    install(&h, &first.cert_pem, &second.key_pem, 0o600);
    nix::sys::signal::kill(s.pid(), nix::sys::signal::Signal::SIGHUP).unwrap();
    within(
        Duration::from_secs(10),
        "the refused reload's log line",
        || s.log().contains("keeping the current HTTPS certificate"),
    );
    assert_eq!(ping_cert(&https_client(&ca), port), second.der);
}

#[test]
fn a_private_key_readable_by_others_refuses_the_start_naming_the_file() {
    let dir = home();
    let h = dir.path().join("h");
    let ca = TestCa::new();
    let leaf = ca.leaf(365);
    install(&h, &leaf.cert_pem, &leaf.key_pem, 0o640);
    std::fs::write(
        h.join("etc/system.properties"),
        https_props(free_port()).join("\n"),
    )
    .unwrap();
    prepare_database(&h);
    let mut s = Server::spawn(&h, "127.0.0.1", free_port(), "/artifactory");
    let status = s.process.wait().unwrap();
    assert!(!status.success());
    let key = h.join("etc/tls/server.key");
    let expected = format!(
        "{}: arca.https.key.file: permissions 0640 let users other than its owner read the \
         private key; run: chmod 600 {}",
        key.display(),
        key.display()
    );
    assert!(s.log().contains(&expected), "{}", s.log());
}

#[test]
fn check_config_reports_a_key_that_does_not_match_the_certificate_and_a_near_expiry() {
    let dir = home();
    let h = dir.path().join("h");
    std::fs::create_dir_all(h.join("etc")).unwrap();
    std::fs::write(
        h.join("etc/system.properties"),
        https_props(free_port()).join("\n"),
    )
    .unwrap();
    let ca = TestCa::new();
    let (one, other) = (ca.leaf(365), ca.leaf(365));
    let check = || {
        let out = server_check_config(&h);
        (out.status.success(), super::output_text(&out))
    };
    install(&h, &one.cert_pem, &other.key_pem, 0o600);
    let (ok, text) = check();
    assert!(!ok, "{text}");
    let expected = format!(
        "{}: arca.https.key.file: does not match the certificate in {}",
        h.join("etc/tls/server.key").display(),
        h.join("etc/tls/server.crt").display()
    );
    assert!(text.contains(&expected), "{text}");

    // A matching pair passes; one expiring within 30 days passes with a warning.
    install(&h, &one.cert_pem, &one.key_pem, 0o600);
    let (ok, text) = check();
    assert!(ok, "{text}");
    assert!(!text.contains("expires on"), "{text}");
    let soon = ca.leaf(10);
    install(&h, &soon.cert_pem, &soon.key_pem, 0o600);
    let (ok, text) = check();
    assert!(ok, "{text}");
    assert!(
        text.contains("arca.https.cert.file: the certificate expires on"),
        "{text}"
    );
    assert!(
        text.contains("in 9 day(s)") || text.contains("in 10 day(s)"),
        "{text}"
    );

    // Not a certificate at all.
    install(&h, "not pem\n", &one.key_pem, 0o600);
    let (ok, text) = check();
    assert!(!ok, "{text}");
    assert!(
        text.contains("arca.https.cert.file: contains no certificate"),
        "{text}"
    );
}

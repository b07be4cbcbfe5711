//! `arca-server prepare-config` does every write a start needs in etc/ (default files, master
//! key, object-store credentials and the PostgreSQL password encrypted), so that the server runs
//! with etc/ read-only but for etc/security, as its unit has it (`ExecStartPre=+… prepare-config`,
//! `ReadWritePaths=/etc/arca/security`). The servers here run in a mount namespace that makes
//! etc/ read-only the same way.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use arca_testkit::S3TestServer;
use reqwest::StatusCode;

use super::storage::s3_binarystore;
use super::{Server, backend_is_postgres, free_port, home, prepare_database, sha256_hex};

fn prepare(h: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arca-server"))
        .arg("--home")
        .arg(h)
        .arg("prepare-config")
        .args(extra)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    super::output_text(out)
}

/// Start the server with `<h>/etc` read-only and `<h>/etc/security` writable (a private mount
/// namespace: what `ProtectSystem=strict` + `ReadWritePaths=/etc/arca/security` give the unit).
/// The wrapper refuses to start the server if etc/ is still writable, so a test cannot pass on a
/// writable etc/.
fn start_with_etc_read_only(h: &Path) -> Server {
    let etc = h.join("etc");
    let script = format!(
        "set -e; e='{}'; mount --bind \"$e\" \"$e\"; mount -o remount,bind,ro \"$e\"; \
         mount --bind \"$e/security\" \"$e/security\"; mount -o remount,bind,rw \"$e/security\"; \
         if touch \"$e/.writable\" 2>/dev/null; then echo 'etc/ is writable' >&2; exit 97; fi; \
         exec \"$@\"",
        etc.display()
    );
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script.as_str(),
        "sh",
    ];
    let mut s = Server::spawn_wrapped(h, "127.0.0.1", free_port(), "/artifactory", &wrapper);
    s.wait_ready();
    s.password = std::fs::read_to_string(h.join("etc/security/initial-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    s
}

/// Every file under etc/ but security/, with its mode and content.
fn etc_snapshot(h: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(h.join("etc")).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_file() {
            out.insert(
                entry.file_name().to_string_lossy().into_owned(),
                (
                    meta.permissions().mode() & 0o7777,
                    std::fs::read(entry.path()).unwrap(),
                ),
            );
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn deploy_and_read_back(s: &Server) {
    s.generic_repo("gen");
    let data = b"prepared, then served from a read-only etc".to_vec();
    let r = s.put("/gen/a/b.bin", data.clone());
    assert_eq!(r.status(), StatusCode::CREATED, "{}", s.log());
    let r = s.get("/gen/a/b.bin");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        sha256_hex(&r.bytes().unwrap()),
        sha256_hex(&data),
        "content read back"
    );
}

#[test]
fn a_new_home_is_prepared_once_and_the_server_runs_with_etc_read_only() {
    let dir = home();
    let h = dir.path().join("h");
    prepare_database(&h);

    let out = prepare(&h, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    assert!(log.contains("config prepared:"), "{log}");
    for file in ["db.properties", "binarystore.xml", "system.properties"] {
        assert!(h.join("etc").join(file).is_file(), "{file} created: {log}");
    }
    assert!(log.contains("created the master key"), "{log}");
    assert_eq!(mode(&h.join("etc/security/master.key")), 0o600);
    let db_properties = std::fs::read_to_string(h.join("etc/db.properties")).unwrap();
    if !backend_is_postgres() {
        assert_eq!(mode(&h.join("etc/db.properties")), 0o600, "created private");
    } else {
        assert!(
            db_properties.contains("\npassword=enc:v1:"),
            "the PostgreSQL password is encrypted after a login: {db_properties}"
        );
    }

    // Idempotent: a second run (every start of the unit) changes nothing.
    let before = etc_snapshot(&h);
    let key = std::fs::read(h.join("etc/security/master.key")).unwrap();
    let out = prepare(&h, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing to change"), "{}", text(&out));
    assert_eq!(etc_snapshot(&h), before);

    let mut s = start_with_etc_read_only(&h);
    deploy_and_read_back(&s);
    let log = s.log();
    assert!(
        !log.contains("may not rewrite"),
        "nothing left to write: {log}"
    );
    s.stop();
    assert_eq!(etc_snapshot(&h), before, "the server wrote nothing in etc/");
    assert_eq!(
        std::fs::read(h.join("etc/security/master.key")).unwrap(),
        key
    );
}

#[test]
fn secrets_are_encrypted_by_prepare_config_and_a_read_only_etc_only_delays_it() {
    let s3 = S3TestServer::new().unwrap();
    let pg = arca_testkit::PgTestDb::create().unwrap();
    let dir = home();
    let h = dir.path().join("h");
    std::fs::create_dir_all(h.join("etc/security")).unwrap();
    std::fs::write(
        h.join("etc/binarystore.xml"),
        s3_binarystore("s3-storage-v3-direct", "s3-storage-v3", &s3, ""),
    )
    .unwrap();
    let right = pg.db_properties().unwrap();
    let (_, _, password) = pg.split_credentials().unwrap();
    let wrong = right.replace(
        &format!("\npassword={password}\n"),
        "\npassword=not-the-password\n",
    );
    assert_ne!(wrong, right);
    std::fs::write(h.join("etc/db.properties"), &wrong).unwrap();

    // A password PostgreSQL refuses stays readable to fix; the object-store credentials (no
    // login needed) are encrypted.
    let out = prepare(&h, &[]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("is encrypted after the first successful login"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(h.join("etc/db.properties")).unwrap(),
        wrong
    );
    let xml = std::fs::read_to_string(h.join("etc/binarystore.xml")).unwrap();
    assert!(
        !xml.contains(s3.secret_key()) && !xml.contains(&format!(">{}<", s3.access_key())),
        "credentials encrypted: {xml}"
    );
    assert!(
        log.contains("encrypted 2 object-store credential(s)"),
        "{log}"
    );

    // Fixed by hand, then a server started without prepare-config on a read-only etc/: it runs
    // and says why the password stays in plain text.
    std::fs::write(h.join("etc/db.properties"), &right).unwrap();
    let mut s = start_with_etc_read_only(&h);
    deploy_and_read_back(&s);
    s.stop();
    let log = s.log();
    assert!(
        log.contains("the database password is in plain text and this process may not rewrite"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(h.join("etc/db.properties")).unwrap(),
        right
    );

    // The next prepare-config (the next start of the unit) encrypts it; the server reads it.
    let out = prepare(&h, &[]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("encrypted the database password"), "{log}");
    let db_properties = std::fs::read_to_string(h.join("etc/db.properties")).unwrap();
    assert!(
        db_properties.contains("\npassword=enc:v1:")
            && !db_properties.contains(&format!("\npassword={password}\n")),
        "{db_properties}"
    );
    let before = etc_snapshot(&h);
    let mut s = start_with_etc_read_only(&h);
    let r = s.get("/gen/a/b.bin");
    assert_eq!(r.status(), StatusCode::OK, "{}", s.log());
    s.stop();
    assert_eq!(etc_snapshot(&h), before);
}

#[test]
fn a_master_key_created_for_a_database_that_has_another_is_removed_again() {
    let dir = home();
    let h = dir.path().join("h");
    let mut s = Server::start(&h);
    s.stop();
    std::fs::remove_file(h.join("etc/security/master.key")).unwrap();
    let before = etc_snapshot(&h);
    let out = prepare(&h, &[]);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("master.key is missing: every node of a cluster uses the same master key"),
        "{log}"
    );
    assert!(!h.join("etc/security/master.key").exists(), "{log}");
    assert_eq!(
        etc_snapshot(&h),
        before,
        "nothing encrypted with the wrong key"
    );
}

#[test]
fn prepare_config_switches_only_to_an_existing_user() {
    let dir = home();
    let h = dir.path().join("h");
    let out = prepare(&h, &["--user", "no-such-arca-user"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no user no-such-arca-user"),
        "{}",
        text(&out)
    );
    assert!(!h.join("etc").exists(), "nothing written before the switch");
    // Already that user: nothing to switch (the tests run as root).
    let out = prepare(&h, &["--user", "root"]);
    assert!(out.status.success(), "{}", text(&out));
}

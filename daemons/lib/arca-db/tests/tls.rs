//! PostgreSQL over TLS against a real server: a throw-away cluster that accepts TLS only, with
//! a certificate for `localhost` from a CA made for the test (`arca_testkit::tls_postgres`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::time::{Duration, Instant};

use arca_db::{Db, SslMode, args};
use arca_testkit::tls_postgres::TlsPostgres;

/// Whether the connection running the query is encrypted, as the server sees it.
const ENCRYPTED: &str = "SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl";

fn encrypted(conn: &arca_db::Conn<'_>) -> Result<bool, arca_db::DbError> {
    conn.query_one(ENCRYPTED, args![], |r| r.get::<i64>(0))
        .map(|n| n == 1)
}

#[test]
fn tls_require_and_verify_full_connect_encrypted() {
    let pg = TlsPostgres::shared();
    let ca = pg.ca_file.as_path();
    for (host, mode, ca_file) in [
        // encrypted, certificate not checked
        ("127.0.0.1", SslMode::Require, None),
        ("localhost", SslMode::Prefer, None),
        // the right CA and the name in the certificate
        ("localhost", SslMode::VerifyFull, Some(ca)),
        // verify-ca does not check the name (the certificate names localhost only)
        ("127.0.0.1", SslMode::VerifyCa, Some(ca)),
    ] {
        let what = format!("{mode} via {host}");
        let db = Db::connect_postgres(&pg.options(host, mode, ca_file))
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", pg.log()));
        // main pool, lock pool and the LISTEN connection: each is a TLS connection
        assert!(db.read_blocking(encrypted).unwrap(), "{what}: main pool");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(
            runtime.block_on(db.locks(encrypted)).unwrap(),
            "{what}: lock pool"
        );
        let mut listener = db.listener("arca_tls_test").unwrap().unwrap();
        db.read_blocking(|c| c.execute_batch("NOTIFY arca_tls_test, 'hello'"))
            .unwrap();
        assert_eq!(
            listener.wait(Duration::from_secs(10)).unwrap(),
            vec!["hello".to_string()],
            "{what}: listener"
        );
        let listening_unencrypted: i64 = db
            .read_blocking(|c| {
                c.query_one(
                    "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                     WHERE a.query LIKE 'LISTEN%' AND NOT s.ssl",
                    args![],
                    |r| r.get::<i64>(0),
                )
            })
            .unwrap();
        assert_eq!(listening_unencrypted, 0, "{what}");
    }
}

#[test]
fn tls_refusals_name_the_cause() {
    let pg = TlsPostgres::shared();
    let refused = |host: &str, mode: SslMode, ca_file: Option<&std::path::Path>| {
        let started = Instant::now();
        let e = Db::connect_postgres(&pg.options(host, mode, ca_file))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        // refusals that retrying cannot cure are reported at once, not after the pool's wait
        assert!(started.elapsed() < Duration::from_secs(5), "{e}");
        e
    };
    // A CA that did not issue the server's certificate: the error names the CA file.
    let other = pg.other_ca_file.as_path();
    for mode in [SslMode::VerifyFull, SslMode::VerifyCa, SslMode::Require] {
        let e = refused("localhost", mode, Some(other));
        assert!(
            e.contains(&format!(
                "sslmode={mode}: the PostgreSQL server's certificate is refused: not issued by a \
                 CA of the CA file {}",
                other.display()
            )),
            "{e}"
        );
    }
    // verify-full checks the host name: the certificate names localhost, not 127.0.0.1.
    let e = refused("127.0.0.1", SslMode::VerifyFull, Some(&pg.ca_file));
    assert!(
        e.contains("certificate not valid for name \"127.0.0.1\"")
            && e.contains("sslmode=verify-full checks the host name")
            && e.contains(&pg.ca_file.display().to_string()),
        "{e}"
    );
    // The server accepts TLS only (hostssl): sslmode=disable is refused by it.
    let e = refused("localhost", SslMode::Disable, None);
    assert!(e.contains("no encryption") && e.contains("28000"), "{e}");
}

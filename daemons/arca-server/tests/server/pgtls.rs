//! arca-server on a PostgreSQL that accepts TLS connections only (`hostssl`), with
//! `ssl.mode=verify-full` and the test CA in `etc/db.properties`.

use super::*;

use arca_testkit::tls_postgres::{PASSWORD, TlsPostgres, USER};

fn write_db_properties(h: &Path, pg: &TlsPostgres, tls: &str) {
    std::fs::create_dir_all(h.join("etc")).unwrap();
    std::fs::write(
        h.join("etc/db.properties"),
        format!(
            "type=postgresql\nurl=postgresql://localhost:{}/postgres\nusername={USER}\n\
             password={PASSWORD}\npool.max.active=8\npool.max.idle=1\npool.lock.max=2\n{tls}",
            pg.port
        ),
    )
    .unwrap();
}

#[test]
fn pgtls_server_runs_on_tls_only_postgres_with_verify_full() {
    let pg = TlsPostgres::shared();
    let dir = home();

    // The wrong CA: the server refuses to start, naming the CA file.
    let h = dir.path().join("wrong-ca");
    write_db_properties(
        &h,
        &pg,
        &format!(
            "ssl.mode=verify-full\nssl.ca.file={}\n",
            pg.other_ca_file.display()
        ),
    );
    let out = run_server_until_exit(&h);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "not issued by a CA of the CA file {}",
            pg.other_ca_file.display()
        )),
        "{stderr}"
    );

    // A CA file that is not there: check-config names db.properties, the line and the key.
    let h = dir.path().join("no-ca");
    write_db_properties(&h, &pg, "ssl.mode=verify-full\nssl.ca.file=absent.pem\n");
    let check = server_check_config(&h);
    let report = String::from_utf8_lossy(&check.stderr) + String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        report.contains("db.properties:9: ssl.ca.file: cannot read the CA file"),
        "{report}"
    );

    // The right CA and host name: the server starts and every connection it holds is TLS.
    let h = dir.path().join("home");
    write_db_properties(
        &h,
        &pg,
        &format!(
            "ssl.mode=verify-full\nssl.ca.file={}\n",
            pg.ca_file.display()
        ),
    );
    let s = Server::start(&h);
    assert_eq!(s.json("/api/v1/system/readiness")["code"], "OK");
    // a write (repository, item) and a read through the TLS connections
    s.generic_repo("generic-local");
    let r = s.put("/generic-local/a/tls.txt", b"over TLS".to_vec());
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        s.get("/generic-local/a/tls.txt").bytes().unwrap().as_ref(),
        b"over TLS"
    );
    let db = arca_db::Db::connect_postgres(&pg.options(
        "localhost",
        arca_db::SslMode::VerifyFull,
        Some(&pg.ca_file),
    ))
    .unwrap();
    let (all, encrypted): (i64, i64) = db
        .read_blocking(|c| {
            c.query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'arca-server%'",
                arca_db::args![],
                |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
            )
        })
        .unwrap();
    // the main pool and the lock pool at least
    assert!(all >= 2, "{all} connections of arca-server");
    assert_eq!(encrypted, all);
}

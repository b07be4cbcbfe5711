//! Integration tests: the real `arca-session-cleanup` binary on temporary homes, against the
//! single-node SQLite database and against PostgreSQL (`ARCA_TEST_PG_URL`, see
//! `arca_testkit::pg`); its generator mode; every documented cron translation checked with
//! `systemd-analyze calendar`.

// Test helpers outside #[test] fns unwrap too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arca_config::Home;
use arca_db::Db;
use arca_db::security::{self, User};
use arca_db::sessions::{self, Session};
use arca_testkit::{PgTestDb, now_ms};

const BIN: &str = env!("CARGO_BIN_EXE_arca-session-cleanup");

/// A single-node home as the server's first start leaves it: the default files, a master key,
/// and (`pg` = None) the SQLite database, migrated. `system` is system.properties.
fn home(dir: &Path, name: &str, pg: Option<&PgTestDb>, system: &str) -> (PathBuf, Db) {
    let h = dir.join(name);
    let home = Home::new(&h);
    home.init_layout().unwrap();
    if let Some(pg) = pg {
        std::fs::write(home.db_properties(), pg.db_properties().unwrap()).unwrap();
    }
    std::fs::write(home.system_properties(), system).unwrap();
    arca_testkit::write_master_key(&home.master_key());
    let db = match pg {
        Some(pg) => pg.open().unwrap(),
        None => Db::open_sqlite(&home.data().join("arca.db"), 4).unwrap(),
    };
    (h, db)
}

/// `n_expired` ended sessions (half past their idle expiry, half past their absolute one) and
/// `n_live` live ones, for user `u`.
fn add_sessions(db: &Db, n_expired: usize, n_live: usize) {
    let now = now_ms();
    db.write_blocking(move |c| {
        if security::get_user(c, "u")?.is_none() {
            security::insert_user(
                c,
                &User {
                    name: "u".into(),
                    password_hash: "x".into(),
                    created: now,
                    ..Default::default()
                },
            )?;
        }
        let base = sessions::count_sessions(c)?;
        for i in 0..n_expired + n_live {
            let (idle, absolute) = if i >= n_expired {
                (now + 3_600_000, now + 7_200_000)
            } else if i % 2 == 0 {
                (now - 1_000, now + 7_200_000)
            } else {
                (now + 3_600_000, now - 1)
            };
            sessions::insert_session(
                c,
                &Session {
                    id_hash: format!("{:064x}", i64::try_from(i).unwrap() + base),
                    user_name: "u".into(),
                    node_id: "test".into(),
                    created: now - 10_000,
                    last_access: now - 10_000,
                    idle_expires: idle,
                    absolute_expires: absolute,
                },
            )?;
        }
        Ok::<_, arca_db::DbError>(())
    })
    .unwrap();
}

fn count(db: &Db) -> i64 {
    db.read_blocking(sessions::count_sessions).unwrap()
}

fn cleanup(h: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--home")
        .arg(h)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env_remove("INVOCATION_ID")
        .env_remove("ARCA_HOME")
        .env("ARCA_LOG", "info");
    cmd
}

fn run(cmd: &mut Command) -> (Output, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The number in "deleted N expired UI sessions" of a run's log.
fn deleted(log: &str) -> usize {
    let rest = log
        .split("deleted ")
        .nth(1)
        .unwrap_or_else(|| panic!("no 'deleted' line in\n{log}"));
    let n = rest.split(' ').next().unwrap();
    assert!(
        rest.starts_with(&format!("{n} expired UI sessions")),
        "{log}"
    );
    n.parse().unwrap()
}

#[test]
fn sqlite_single_node_deletes_the_expired_sessions_and_keeps_the_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (h, db) = home(dir.path(), "single", None, "");
    add_sessions(&db, 7, 4);
    assert_eq!(count(&db), 11);
    let (out, log) = run(&mut cleanup(&h));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("deleted 7 expired UI sessions (4 remain)"),
        "{log}"
    );
    // the node id as a structured field (a single node is named after the host)
    assert!(log.contains("arca_node_id="), "{log}");
    assert_eq!(count(&db), 4);
    // a second run finds nothing more to do
    let (out, log) = run(&mut cleanup(&h));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("deleted 0 expired UI sessions (4 remain)"),
        "{log}"
    );

    let (out, log) = run(cleanup(&h).arg("check-config"));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("config OK:")
            && log.contains("deletes the expired UI sessions")
            && log.contains("hourly at a fixed random minute"),
        "{log}"
    );
}

#[test]
fn postgresql_deletes_the_expired_sessions_and_keeps_the_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create().unwrap();
    let (h, db) = home(
        dir.path(),
        "pg",
        Some(&pg),
        "arca.db.session.cleanup.cron=0 17 * * * ?\n",
    );
    std::fs::write(
        h.join("etc/ha-node.properties"),
        format!(
            "node.id=art1\ncontext.url=http://127.0.0.1:8081/artifactory/\nprimary=true\n\
             arca.ha.data.dir={}\n",
            dir.path().join("shared").display()
        ),
    )
    .unwrap();
    add_sessions(&db, 5, 3);
    let (out, log) = run(&mut cleanup(&h));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("deleted 5 expired UI sessions (3 remain)"),
        "{log}"
    );
    assert!(log.contains("arca_node_id=art1"), "{log}");
    assert_eq!(count(&db), 3);

    let (out, log) = run(cleanup(&h).arg("check-config"));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("node 'art1'") && log.contains("OnCalendar=*-*-* *:17:00"),
        "{log}"
    );
}

#[test]
fn two_concurrent_runs_on_postgresql_delete_each_session_once() {
    const EXPIRED: usize = 3000;
    const LIVE: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create().unwrap();
    let (h1, db) = home(dir.path(), "n1", Some(&pg), "");
    let (h2, _) = home(dir.path(), "n2", Some(&pg), "");
    add_sessions(&db, EXPIRED, LIVE);
    let children: Vec<_> = [&h1, &h2]
        .iter()
        .map(|h| {
            cleanup(h)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let logs: Vec<(bool, String)> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .collect();
    let all = format!("{}\n---\n{}", logs[0].1, logs[1].1);
    assert!(logs.iter().all(|(ok, _)| *ok), "{all}");
    let total: usize = logs.iter().map(|(_, l)| deleted(l)).sum();
    assert_eq!(total, EXPIRED, "{all}");
    assert_eq!(count(&db), i64::try_from(LIVE).unwrap());
}

#[test]
fn an_unreachable_database_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("down");
    Home::new(&h).init_layout().unwrap();
    // a port nobody listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        h.join("etc/db.properties"),
        format!(
            "type=postgresql\nurl=postgresql://127.0.0.1:{port}/arca\nusername=arca\n\
             password=secret\n"
        ),
    )
    .unwrap();
    let (out, log) = run(&mut cleanup(&h));
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("cannot open the PostgreSQL database of")
            && log.contains("db.properties")
            && log.contains("accepts connections"),
        "{log}"
    );
    assert!(!log.contains("deleted"), "{log}");
}

#[test]
fn bad_cron_values_fail_check_config_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, needle) in [
        (
            "four-fields",
            "0 17 * *",
            "is invalid; expected a Quartz cron expression",
        ),
        (
            "last-day",
            "0 0 12 L * ?",
            "cannot be translated to the systemd timer's OnCalendar=",
        ),
        (
            "nth-weekday",
            "0 0 12 ? * 6#3",
            "'#' (n-th weekday of the month)",
        ),
    ] {
        let (h, _db) = home(
            dir.path(),
            name,
            None,
            &format!("arca.gc.grace.secs=60\narca.db.session.cleanup.cron={value}\n"),
        );
        let (out, log) = run(cleanup(&h).arg("check-config"));
        assert_eq!(out.status.code(), Some(1), "{value}: {log}");
        assert!(
            log.contains("etc/system.properties:2: arca.db.session.cleanup.cron:")
                && log.contains(needle),
            "{value}: {log}"
        );
        // a run refuses the same configuration
        let (out, log) = run(&mut cleanup(&h));
        assert_eq!(out.status.code(), Some(1), "{value}: {log}");
        assert!(log.contains("system.properties:2"), "{value}: {log}");
        let (out, log) = run(cleanup(&h).arg("print-calendar"));
        assert_eq!(out.status.code(), Some(1), "{value}: {log}");
    }
}

#[test]
fn the_local_provider_has_nothing_to_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (h, db) = home(dir.path(), "local", None, "arca.map.provider.type=local\n");
    add_sessions(&db, 2, 0);
    let (out, log) = run(&mut cleanup(&h));
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("arca.map.provider.type=local") && log.contains("nothing to clean"),
        "{log}"
    );
    assert_eq!(count(&db), 2, "the database is not touched");
    let (out, log) = run(cleanup(&h).arg("check-config"));
    assert!(
        out.status.success() && log.contains("nothing to clean"),
        "{log}"
    );
}

#[test]
fn generator_writes_the_drop_in_only_for_a_translatable_cron() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("gen");
    Home::new(&h).init_layout().unwrap();
    // systemd runs the generator through a symlink named arca-session-cleanup-generator
    let link = dir.path().join("arca-session-cleanup-generator");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let drop_in = |normal: &Path| normal.join("arca-session-cleanup.timer.d/50-cron.conf");
    let generate = |normal: &Path| {
        let mut cmd = Command::new(&link);
        cmd.arg(normal)
            .arg(dir.path().join("early"))
            .arg(dir.path().join("late"))
            .env("ARCA_HOME", &h)
            .env_remove("SYSTEMD_SCOPE");
        run(&mut cmd)
    };

    std::fs::write(
        h.join("etc/system.properties"),
        "arca.db.session.cleanup.cron=0 23 * * * ?\n",
    )
    .unwrap();
    let normal = dir.path().join("normal1");
    let (out, log) = generate(&normal);
    assert!(out.status.success(), "{log}");
    let text = std::fs::read_to_string(drop_in(&normal)).unwrap();
    assert!(
        text.contains("[Timer]\nOnCalendar=\nOnCalendar=*-*-* *:23:00\nRandomizedDelaySec=0\n"),
        "{text}"
    );
    assert!(text.contains("arca-session-cleanup-generator"), "{text}");

    // the subcommand form does the same
    let normal_sub = dir.path().join("normal-sub");
    let (out, log) = run(cleanup(&h).arg("generator").arg(&normal_sub));
    assert!(out.status.success(), "{log}");
    assert_eq!(std::fs::read_to_string(drop_in(&normal_sub)).unwrap(), text);

    // not set: nothing written
    std::fs::write(h.join("etc/system.properties"), "arca.gc.grace.secs=60\n").unwrap();
    let normal = dir.path().join("normal2");
    let (out, log) = generate(&normal);
    assert!(out.status.success(), "{log}");
    assert!(!drop_in(&normal).exists());
    assert!(out.stderr.is_empty(), "no message for the default: {log}");

    // untranslatable: exit 0, nothing written, the reason with file:line:key on stderr
    std::fs::write(
        h.join("etc/system.properties"),
        "arca.db.session.cleanup.cron=0 0 12 L * ?\n",
    )
    .unwrap();
    let normal = dir.path().join("normal3");
    let (out, log) = generate(&normal);
    assert!(out.status.success(), "{log}");
    assert!(!drop_in(&normal).exists());
    assert!(
        log.contains("arca-session-cleanup-generator: error:")
            && log.contains("system.properties:1: arca.db.session.cleanup.cron:")
            && log.contains("keeps its default schedule"),
        "{log}"
    );

    // unreadable garbage or no arguments never fail either
    let (out, log) = run(Command::new(&link).env("ARCA_HOME", &h));
    assert!(out.status.success(), "{log}");
}

#[test]
fn every_translation_is_a_valid_systemd_calendar() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    let mut cases: Vec<(&str, &str)> = arca_session_cleanup::calendar::EXAMPLES.to_vec();
    cases.extend([
        ("* * * * * ?", "*-*-* *:*:*"),
        ("*/20 * * * * ?", "*-*-* *:*:00/20"),
        ("0 0 1,3-5,9/6 * * ?", "*-*-* 01,03..05,09/6:00:00"),
        ("0 0 8-18/2 * * ?", "*-*-* 08..18/2:00:00"),
        ("0 0 22-3/2 * * ?", "*-*-* 22,00,02:00:00"),
        ("0 0 0 */5 * ?", "*-*-01/5 00:00:00"),
        ("0 0 0 1 */3 ?", "*-01/3-01 00:00:00"),
        ("0 0 0 1 NOV-FEB ?", "*-11,12,01,02-01 00:00:00"),
        ("0 0 0 1 1 ? 2027/2", "2027/2-01-01 00:00:00"),
        ("0 0 0 1 1 ? 2027-2030", "2027..2030-01-01 00:00:00"),
        ("0 0 12 ? * */2", "Tue,Thu,Sat,Sun *-*-* 12:00:00"),
        ("0 0 12 ? * SUN-SAT", "*-*-* 12:00:00"),
        ("0 0 12 ? * 2", "Mon *-*-* 12:00:00"),
        ("0 0 12 ? * tue-thu", "Tue..Thu *-*-* 12:00:00"),
    ]);
    for (quartz, expected) in cases {
        let (out, log) = run(Command::new(BIN).arg("print-calendar").arg(quartz));
        assert!(out.status.success(), "{quartz}: {log}");
        let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(got, expected, "{quartz}");
        assert!(
            analyze.exists(),
            "systemd-analyze is missing (tests/run-all.sh installs the systemd package)"
        );
        let (out, log) = run(Command::new(analyze).arg("calendar").arg(&got));
        assert!(
            out.status.success(),
            "systemd-analyze calendar '{got}' ({quartz}): {log}"
        );
        assert!(log.contains("Next elapse:"), "{got}: {log}");
    }
    // the words may also come unquoted
    let (out, log) = run(Command::new(BIN).args(["print-calendar", "0", "23", "*", "*", "*", "?"]));
    assert!(out.status.success(), "{log}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "*-*-* *:23:00");
    let (out, log) = run(Command::new(BIN).args(["print-calendar", "0 0 12 L * ?"]));
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("'L' (last day)"), "{log}");
}

#[test]
fn version_and_help() {
    let (out, log) = run(Command::new(BIN).arg("--version"));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("arca-session-cleanup "), "{log}");
    let (out, log) = run(Command::new(BIN).arg("--help"));
    assert!(out.status.success(), "{log}");
    for sub in ["check-config", "print-calendar", "generator"] {
        assert!(log.contains(sub), "{log}");
    }
}

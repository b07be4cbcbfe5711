//! Integration tests: the real `arca-config-sync` binary on temporary homes against a
//! PostgreSQL database (`ARCA_TEST_PG_URL`, see `arca_testkit::pg`). No server runs here: the
//! test gives node `a` the cluster-duties lease itself, which makes it the config owner.
//! (`arca-server`'s tests run the sync beside real servers.)

// Test helpers outside #[test] fns unwrap too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arca_db::{Db, cluster};
use arca_testkit::daemon::{BadSettings, assert_bad_settings_refused, assert_single_node_checks};
use arca_testkit::{LogFile, PgTestDb, Process, daemon_command, now_ms, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_arca-config-sync");
/// `a` is the config owner's node id: its home says primary=true.
fn node_home(dir: &Path, id: Option<&str>, pg: Option<&PgTestDb>, system: &str) -> PathBuf {
    arca_testkit::node_home(dir, id, id == Some("a"), pg, system)
}

fn start_sync(h: &Path) -> Process {
    let mut command = daemon_command(Path::new(BIN), h);
    command.env("ARCA_LOG", "info");
    Process::start(command, h.with_extension("log"), LogFile::Fresh)
}

/// How long a stopping sync may take.
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// A temporary directory and a fresh database in which node `a` runs the cluster duties (as its
/// server would): it owns the config.
fn owned_by_a() -> (tempfile::TempDir, PgTestDb, Db) {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    db.write_blocking(|c| {
        cluster::try_acquire_lease(c, arca_cluster::DUTIES_LEASE, "a", now_ms(), 3_600_000)
    })
    .unwrap();
    (dir, pg, db)
}

const XML: &str = "<config version=\"2\"><chain template=\"file-system\"/></config>\n";

#[test]
fn the_owner_publishes_and_a_member_mirrors_through_postgresql() {
    let (dir, pg, _db) = owned_by_a();
    // Polling as rarely as allowed: what arrives within seconds came by NOTIFY.
    let system = "arca.config.sync.poll.secs=3600\n";
    let (a, b) = (
        node_home(dir.path(), Some("a"), Some(&pg), system),
        node_home(dir.path(), Some("b"), Some(&pg), system),
    );
    std::fs::write(a.join("etc/binarystore.xml"), XML).unwrap();
    let mut syncs = [start_sync(&a), start_sync(&b)];
    let logs = |s: &[Process]| format!("a:\n{}\nb:\n{}", s[0].log(), s[1].log());
    wait_for(
        Duration::from_secs(15),
        "b has a's binarystore.xml and system.properties",
        || {
            std::fs::read_to_string(b.join("etc/binarystore.xml"))
                .ok()
                .as_deref()
                == Some(XML)
                && std::fs::read(b.join("etc/system.properties")).ok()
                    == std::fs::read(a.join("etc/system.properties")).ok()
        },
        || logs(&syncs),
    );
    let edited = format!("{XML}<!-- edited -->\n");
    let written = Instant::now();
    std::fs::write(a.join("etc/binarystore.xml"), &edited).unwrap();
    wait_for(
        Duration::from_secs(5),
        "the edit on b",
        || std::fs::read_to_string(b.join("etc/binarystore.xml")).ok() == Some(edited.clone()),
        || logs(&syncs),
    );
    eprintln!(
        "edit on a reached b in {:?} (polling every hour)",
        written.elapsed()
    );
    // The file lands before the line that reports it is written: wait for the lines.
    wait_for(
        Duration::from_secs(5),
        "the publish and sync lines",
        || {
            syncs[0]
                .log()
                .contains("published binarystore.xml (cluster version 2)")
                && syncs[1]
                    .log()
                    .contains("synced binarystore.xml from the cluster (version 2)")
        },
        || logs(&syncs),
    );

    // The database goes away (dropped, its connections killed): both retry with back-off and
    // no file is changed or left half-written.
    let name = pg
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let dropped = Command::new("psql")
        .arg(arca_testkit::pg::admin_url())
        .args(["-qAtc", &format!("DROP DATABASE {name} WITH (FORCE)")])
        .status()
        .unwrap();
    assert!(dropped.success());
    std::fs::write(
        a.join("etc/binarystore.xml"),
        format!("{XML}<!-- db down -->\n"),
    )
    .unwrap();
    // A pass fails once the pool gives up on its connection (10 s): allow for a loaded machine.
    wait_for(
        Duration::from_secs(45),
        "both syncs report the failure and back off",
        || {
            syncs.iter().all(|s| {
                s.log()
                    .contains("no file was changed; retrying with back-off")
            })
        },
        || logs(&syncs),
    );
    assert_eq!(
        std::fs::read_to_string(b.join("etc/binarystore.xml")).unwrap(),
        edited,
        "b keeps the last copy it had"
    );
    let leftovers: Vec<String> = std::fs::read_dir(b.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for s in &mut syncs {
        assert!(s.terminate_within(STOP_LIMIT).success(), "{}", s.log());
    }
}

#[test]
fn a_single_node_shares_nothing_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let single = node_home(dir.path(), None, None, "");
    assert_single_node_checks(Path::new(BIN), &single, "nothing to share");
    let mut sync = start_sync(&single);
    wait_for(
        Duration::from_secs(10),
        "the idle line",
        || sync.log().contains("nothing to share"),
        || sync.log(),
    );
    assert!(
        sync.terminate_within(STOP_LIMIT).success(),
        "{}",
        sync.log()
    );

    let bad = BadSettings {
        system: "arca.config.sync.restart=true\narca.config.sync.poll.secs=0\n",
        key: "arca.config.sync.poll.secs",
    };
    let bad_home = node_home(dir.path(), Some("n1"), None, bad.system);
    assert_bad_settings_refused(Path::new(BIN), &bad_home, &bad);
}

#[test]
fn an_invalid_binarystore_xml_at_start_is_reported_not_fatal() {
    let (dir, pg, _db) = owned_by_a();
    let (a, b) = (
        node_home(dir.path(), Some("a"), Some(&pg), ""),
        node_home(dir.path(), Some("b"), Some(&pg), ""),
    );
    // An editor caught half-way on the owner, a broken copy on the member.
    std::fs::write(a.join("etc/binarystore.xml"), "").unwrap();
    std::fs::write(b.join("etc/binarystore.xml"), "<config").unwrap();
    let mut syncs = [start_sync(&a), start_sync(&b)];
    let logs = |s: &[Process]| format!("a:\n{}\nb:\n{}", s[0].log(), s[1].log());
    wait_for(
        Duration::from_secs(15),
        "the owner reports the file instead of exiting",
        || {
            syncs[0]
                .log()
                .contains("NOT PROPAGATED: binarystore.xml is invalid")
        },
        || logs(&syncs),
    );
    assert!(syncs[0].log().contains("ready in"), "{}", logs(&syncs));
    std::fs::write(a.join("etc/binarystore.xml"), XML).unwrap();
    wait_for(
        Duration::from_secs(10),
        "the member's broken copy replaced by the fixed one",
        || {
            std::fs::read_to_string(b.join("etc/binarystore.xml"))
                .ok()
                .as_deref()
                == Some(XML)
        },
        || logs(&syncs),
    );
    for s in &mut syncs {
        assert!(s.terminate_within(STOP_LIMIT).success(), "{}", s.log());
    }
}

//! Integration tests: the real `arca-config-sync` binary on temporary homes against a
//! PostgreSQL database (`ARCA_TEST_PG_URL`, see `arca_db::testing`). No server runs here: the
//! test gives node `a` the cluster-duties lease itself, which makes it the config owner.
//! (`arca-server`'s tests run the sync beside real servers.)

// Test helpers outside #[test] fns unwrap too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arca_db::cluster;
use arca_db::testing::PgTestDb;

const BIN: &str = env!("CARGO_BIN_EXE_arca-config-sync");
const XML: &str = "<config version=\"2\"><chain template=\"file-system\"/></config>\n";

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Node `id`'s home (`None`: a single node) with `system` as its system.properties.
fn node_home(dir: &Path, id: Option<&str>, pg: Option<&PgTestDb>, system: &str) -> PathBuf {
    let h = dir.join(id.unwrap_or("single"));
    std::fs::create_dir_all(h.join("etc/security")).unwrap();
    if let Some(pg) = pg {
        std::fs::write(h.join("etc/db.properties"), pg.db_properties().unwrap()).unwrap();
    }
    if let Some(id) = id {
        std::fs::write(
            h.join("etc/ha-node.properties"),
            format!(
                "node.id={id}\ncontext.url=http://127.0.0.1:8081/artifactory/\n\
                 membership.port=0\nprimary={}\narca.ha.data.dir={}\n",
                id == "a",
                dir.join("shared").display()
            ),
        )
        .unwrap();
    }
    std::fs::write(h.join("etc/system.properties"), system).unwrap();
    let key = h.join("etc/security/master.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    h
}

struct Sync {
    child: Child,
    log: PathBuf,
}

impl Sync {
    fn start(h: &Path) -> Sync {
        let log = h.with_extension("log");
        let child = Command::new(BIN)
            .arg("--home")
            .arg(h)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env("ARCA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Sync { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> bool {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.child.wait().unwrap().success()
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {secs} s waiting for {what}\n{}", context());
}

#[test]
fn the_owner_publishes_and_a_member_mirrors_through_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    // Node a runs the cluster duties (as its server would): it owns the config.
    db.write_blocking(|c| {
        cluster::try_acquire_lease(c, arca_cluster::DUTIES_LEASE, "a", now_ms(), 3_600_000)
    })
    .unwrap();
    // Polling as rarely as allowed: what arrives within seconds came by NOTIFY.
    let system = "arca.config.sync.poll.secs=3600\n";
    let (a, b) = (
        node_home(dir.path(), Some("a"), Some(&pg), system),
        node_home(dir.path(), Some("b"), Some(&pg), system),
    );
    std::fs::write(a.join("etc/binarystore.xml"), XML).unwrap();
    let mut syncs = [Sync::start(&a), Sync::start(&b)];
    let logs = |s: &[Sync]| format!("a:\n{}\nb:\n{}", s[0].log(), s[1].log());
    wait_for(
        15,
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
        5,
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
        5,
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
        .arg(arca_db::testing::admin_url())
        .args(["-qAtc", &format!("DROP DATABASE {name} WITH (FORCE)")])
        .status()
        .unwrap();
    assert!(dropped.success());
    std::fs::write(
        a.join("etc/binarystore.xml"),
        format!("{XML}<!-- db down -->\n"),
    )
    .unwrap();
    wait_for(
        15,
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
        assert!(s.terminate(), "{}", s.log());
    }
}

#[test]
fn a_single_node_shares_nothing_and_bad_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let single = node_home(dir.path(), None, None, "");
    let out = Command::new(BIN)
        .arg("--home")
        .arg(&single)
        .arg("check-config")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("nothing to share"), "{stdout}");
    let mut sync = Sync::start(&single);
    wait_for(
        10,
        "the idle line",
        || sync.log().contains("nothing to share"),
        || sync.log(),
    );
    assert!(sync.terminate(), "{}", sync.log());

    let bad = node_home(
        dir.path(),
        Some("n1"),
        None,
        "arca.config.sync.restart=true\narca.config.sync.poll.secs=0\n",
    );
    let out = Command::new(BIN)
        .arg("--home")
        .arg(&bad)
        .arg("check-config")
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("system.properties:2") && stderr.contains("arca.config.sync.poll.secs"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_binarystore_xml_at_start_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    db.write_blocking(|c| {
        cluster::try_acquire_lease(c, arca_cluster::DUTIES_LEASE, "a", now_ms(), 3_600_000)
    })
    .unwrap();
    let (a, b) = (
        node_home(dir.path(), Some("a"), Some(&pg), ""),
        node_home(dir.path(), Some("b"), Some(&pg), ""),
    );
    // An editor caught half-way on the owner, a broken copy on the member.
    std::fs::write(a.join("etc/binarystore.xml"), "").unwrap();
    std::fs::write(b.join("etc/binarystore.xml"), "<config").unwrap();
    let mut syncs = [Sync::start(&a), Sync::start(&b)];
    let logs = |s: &[Sync]| format!("a:\n{}\nb:\n{}", s[0].log(), s[1].log());
    wait_for(
        15,
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
        10,
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
        assert!(s.terminate(), "{}", s.log());
    }
}

//! Integration tests: the real `arca-license-agent` binary on temporary homes, against a
//! PostgreSQL pool (`ARCA_TEST_PG_URL`, see `arca_db::testing`) whose node registry the test
//! writes itself (no server runs here; `arca-server`'s tests run agents beside real servers).

// Test helpers outside #[test] fns unwrap too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arca_db::Db;
use arca_db::cluster;
use arca_db::licenses::{self, NewLicenseRow};
use arca_db::testing::PgTestDb;

const BIN: &str = env!("CARGO_BIN_EXE_arca-license-agent");

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Register `id` as a running node whose heartbeat stays fresh for the whole test (an hour
/// ahead): the agent claims only for an active node.
fn register(db: &Db, id: &str) {
    let record = arca_db::testing::running_node(id, now_ms() + 3_600_000);
    db.write_blocking(move |c| cluster::register_node(c, &record, now_ms(), 30_000))
        .unwrap();
}

/// Add license `hash` valid through `valid_through` (the pool stores what callers verified;
/// these tests need no signed keys).
fn add_license(db: &Db, hash: &str, valid_through: &str) {
    let row = NewLicenseRow {
        hash: hash.into(),
        token: format!("arca-lic-v1.{hash}.sig"),
        licensee: "ACME Corp.".into(),
        license_type: "Enterprise".into(),
        valid_through: valid_through.into(),
        issued: "2026-01-01".into(),
    };
    db.write_blocking(move |c| licenses::add_license(c, &row, now_ms()))
        .unwrap();
}

/// node id → license hash, for every held license.
fn holders(db: &Db) -> Vec<(String, String)> {
    db.read_blocking(licenses::list_licenses)
        .unwrap()
        .into_iter()
        .filter_map(|l| Some((l.holder_node_id?, l.hash)))
        .collect()
}

/// The home of node `id` (`None`: a single node, no ha-node.properties) on `pg`.
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
                 membership.port=0\nprimary=false\narca.ha.data.dir={}\n",
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

const FAST: &str = "arca.license.agent.interval.secs=1\n";

struct Agent {
    child: Child,
    log: PathBuf,
}

impl Agent {
    fn start(h: &Path) -> Agent {
        Agent::start_with(h, |_| {})
    }

    fn start_with(h: &Path, env: impl FnOnce(&mut Command)) -> Agent {
        let log = h.with_extension("log");
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("--home")
            .arg(h)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM")
            .env("ARCA_LOG", "info")
            .stdout(Stdio::null())
            .stderr(out);
        env(&mut cmd);
        Agent {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM; returns whether it exited 0 (within 10 s).
    fn terminate(&mut self) -> bool {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("agent did not stop within 10 s: {}", self.log());
    }
}

impl Drop for Agent {
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
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {secs} s waiting for {what}\n{}", context());
}

#[test]
fn ten_agents_starting_at_once_never_share_one_of_five_licenses() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    for i in 0..5 {
        add_license(&db, &format!("license-{i}"), &format!("2030-0{}-01", i + 1));
    }
    let ids: Vec<String> = (0..10).map(|i| format!("n{i:02}")).collect();
    let homes: Vec<PathBuf> = ids
        .iter()
        .map(|id| {
            register(&db, id);
            node_home(dir.path(), Some(id), Some(&pg), FAST)
        })
        .collect();
    let mut agents: Vec<Agent> = homes.iter().map(|h| Agent::start(h)).collect();
    let logs = |agents: &[Agent]| -> String {
        agents
            .iter()
            .map(|a| a.log())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    wait_for(
        30,
        "five licenses held",
        || holders(&db).len() == 5,
        || logs(&agents),
    );
    // Several more rounds of all ten: still five distinct holders, each license once.
    std::thread::sleep(Duration::from_secs(3));
    let held = holders(&db);
    let nodes: BTreeSet<&str> = held.iter().map(|(n, _)| n.as_str()).collect();
    let hashes: BTreeSet<&str> = held.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(
        (held.len(), nodes.len(), hashes.len()),
        (5, 5, 5),
        "{held:?}"
    );
    let claimed = agents
        .iter()
        .filter(|a| a.log().contains("claimed license"))
        .count();
    let waiting = agents
        .iter()
        .filter(|a| a.log().contains("no license available in the cluster pool"))
        .count();
    assert_eq!((claimed, waiting), (5, 5), "{}", logs(&agents));
    // SIGTERM: the waiting agents first (else one would claim a license returned a moment
    // earlier and return it again), then each licensed agent returns its license; all exit 0.
    agents.sort_by_key(|a| a.log().contains("claimed license"));
    for a in &mut agents {
        assert!(a.terminate(), "{}", a.log());
    }
    assert_eq!(holders(&db), Vec::new());
    let returned = agents
        .iter()
        .filter(|a| a.log().contains("returned license license-"))
        .count();
    assert_eq!(returned, 5, "{}", logs(&agents));
}

#[test]
fn status_shows_the_license_and_expiry_and_stop_returns_it() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgTestDb::create().unwrap();
    let db = pg.open().unwrap();
    let hash = "00bcdb14aa2f".to_string() + &"e".repeat(52);
    add_license(&db, &hash, "2031-05-15");
    register(&db, "n1");
    let h = node_home(dir.path(), Some("n1"), Some(&pg), FAST);
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut agent = Agent::start_with(&h, |cmd| {
        cmd.env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "2000000")
            .env_remove("WATCHDOG_PID");
    });
    let mut buf = [0u8; 4096];
    let mut recv = || {
        let n = sock.recv(&mut buf).expect("a notification within 20 s");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let mut seen = Vec::new();
    loop {
        let msg = recv();
        seen.push(msg.clone());
        if msg.contains("STATUS=license 00bcdb14aa2f (ACME Corp., valid through 2031-05-15)") {
            break;
        }
        assert!(seen.len() < 50, "{seen:?}\n{}", agent.log());
    }
    assert!(
        seen.iter().any(|m| m.contains("READY=1")),
        "READY=1 before the license status: {seen:?}"
    );
    let mut pings = 0;
    while pings < 2 {
        if recv().contains("WATCHDOG=1") {
            pings += 1;
        }
    }
    assert_eq!(holders(&db), vec![("n1".to_string(), hash.clone())]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    loop {
        if recv().contains("STOPPING=1") {
            break;
        }
    }
    assert!(agent.child.wait().unwrap().success(), "{}", agent.log());
    assert_eq!(holders(&db), Vec::new(), "released at stop");
    assert!(
        agent
            .log()
            .contains(&format!("returned license {hash} to the cluster pool")),
        "{}",
        agent.log()
    );
}

#[test]
fn a_single_node_needs_no_license_and_bad_settings_are_refused() {
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
    assert!(stdout.contains("no license needed"), "{stdout}");
    let mut agent = Agent::start(&single);
    wait_for(
        10,
        "the idle line",
        || agent.log().contains("single node"),
        || agent.log(),
    );
    assert!(agent.terminate(), "{}", agent.log());

    let bad = node_home(
        dir.path(),
        Some("n1"),
        None,
        "arca.license.agent.interval.secs=1\narca.license.swap.window.days=soon\n",
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
        stderr.contains("system.properties:2") && stderr.contains("arca.license.swap.window.days"),
        "{stderr}"
    );
}

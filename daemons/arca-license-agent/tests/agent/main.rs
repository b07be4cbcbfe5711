//! Integration tests: the real `arca-license-agent` binary on temporary homes, against a
//! PostgreSQL pool (`ARCA_TEST_PG_URL`, see `arca_testkit::pg`) whose node registry the test
//! writes itself (no server runs here; `arca-server`'s tests run agents beside real servers).

// Test helpers outside #[test] fns unwrap too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arca_db::Db;
use arca_db::cluster;
use arca_db::licenses;
use arca_testkit::daemon::{BadSettings, assert_bad_settings_refused, assert_single_node_checks};
use arca_testkit::{LogFile, PgTestDb, Process, daemon_command, now_ms, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_arca-license-agent");

/// Register `id` as a running node whose heartbeat stays fresh for the whole test (an hour
/// ahead): the agent claims only for an active node.
fn register(db: &Db, id: &str) {
    let record = arca_testkit::pg::running_node(id, now_ms() + 3_600_000);
    db.write_blocking(move |c| cluster::register_node(c, &record, now_ms(), 30_000))
        .unwrap();
}

/// Add license `hash` valid through `valid_through` (the pool stores what callers verified;
/// these tests need no signed keys).
fn add_license(db: &Db, hash: &str, valid_through: &str) {
    let row = arca_testkit::pg::license_row(hash, valid_through);
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

const FAST: &str = "arca.license.agent.interval.secs=1\n";

/// The home of node `id` (`None`: a single node, no ha-node.properties) on `pg`.
fn node_home(dir: &Path, id: Option<&str>, pg: Option<&PgTestDb>, system: &str) -> PathBuf {
    arca_testkit::node_home(dir, id, false, pg, system)
}

fn start_agent(h: &Path) -> Process {
    start_agent_with(h, |_| {})
}

fn start_agent_with(h: &Path, env: impl FnOnce(&mut Command)) -> Process {
    let mut command = daemon_command(Path::new(BIN), h);
    command.env("ARCA_LOG", "info");
    env(&mut command);
    Process::start(command, h.with_extension("log"), LogFile::Fresh)
}

/// How long a stopping agent may take.
const STOP_LIMIT: Duration = Duration::from_secs(10);

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
    let mut agents: Vec<Process> = homes.iter().map(|h| start_agent(h)).collect();
    let logs = |agents: &[Process]| -> String {
        agents
            .iter()
            .map(|a| a.log())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    wait_for(
        Duration::from_secs(30),
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
        assert!(a.terminate_within(STOP_LIMIT).success(), "{}", a.log());
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
    let mut agent = start_agent_with(&h, |cmd| {
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
    agent.signal_term();
    loop {
        if recv().contains("STOPPING=1") {
            break;
        }
    }
    agent.wait_success();
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
    assert_single_node_checks(Path::new(BIN), &single, "no license needed");
    let mut agent = start_agent(&single);
    wait_for(
        Duration::from_secs(10),
        "the idle line",
        || agent.log().contains("single node"),
        || agent.log(),
    );
    assert!(
        agent.terminate_within(STOP_LIMIT).success(),
        "{}",
        agent.log()
    );

    let bad = BadSettings {
        system: "arca.license.agent.interval.secs=1\narca.license.swap.window.days=soon\n",
        key: "arca.license.swap.window.days",
    };
    let bad_home = node_home(dir.path(), Some("n1"), None, bad.system);
    assert_bad_settings_refused(Path::new(BIN), &bad_home, &bad);
}

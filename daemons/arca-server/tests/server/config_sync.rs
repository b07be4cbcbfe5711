//! `arca-config-sync` beside three real servers on PostgreSQL: the shared config files follow
//! the config owner byte for byte, whatever the members' modification times.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use arca_db::configs;
use reqwest::StatusCode;

use super::ha::Cluster;
use super::{Server, sha256_hex, within};

/// SHA-256 of the file, `None` when it does not exist.
fn sha(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| sha256_hex(&b))
}

fn etc(s: &Server, name: &str) -> PathBuf {
    s.home.join("etc").join(name)
}

/// Until every node has the same bytes of `name` as `nodes[owner]`; returns how long it took.
fn converged(nodes: &[Server], owner: usize, name: &str, limit: Duration) -> Duration {
    let want = sha(&etc(&nodes[owner], name));
    within(limit, &format!("{name} identical on every node"), || {
        nodes.iter().all(|n| sha(&etc(n, name)) == want)
    })
}

/// `arcactl config status --home h`: exit code and stdout.
fn config_status(h: &Path) -> (i32, String) {
    let out = std::process::Command::new(super::sibling_binary("arcactl"))
        .args(["config", "status", "--home"])
        .arg(h)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `restartRequired` list of node `id` in the HA table.
fn restart_required(s: &Server, id: &str) -> Vec<String> {
    let nodes = s.json("/api/system/ha/nodes");
    let node = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap()
        .clone();
    serde_json::from_value(node["restartRequired"].clone()).unwrap()
}

/// Write `text` to `path` and give it a modification time an hour ahead.
fn write_with_future_mtime(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
}

#[test]
fn shared_config_files_follow_the_owner_and_survive_its_loss() {
    let mut cluster = Cluster::new();
    let mut nodes = cluster.start_three();
    for n in &mut nodes {
        n.start_config_sync();
    }
    // cluster.license exists only on the primary: the members get it.
    converged(&nodes, 0, "cluster.license", Duration::from_secs(10));
    converged(&nodes, 0, "system.properties", Duration::from_secs(10));

    // An edit on the primary reaches both members, byte for byte.
    let xml = std::fs::read_to_string(etc(&nodes[0], "binarystore.xml")).unwrap();
    let edited = format!("{xml}<!-- edited on the primary -->\n");
    std::fs::write(etc(&nodes[0], "binarystore.xml"), &edited).unwrap();
    let took = converged(&nodes, 0, "binarystore.xml", Duration::from_secs(5));
    eprintln!("binarystore.xml edit on the primary reached both members in {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(
        std::fs::read_to_string(etc(&nodes[1], "binarystore.xml")).unwrap(),
        edited
    );
    assert_eq!(
        std::fs::read_to_string(etc(&nodes[1], "binarystore.xml.previous")).unwrap(),
        xml,
        "the replaced copy is kept"
    );
    // binarystore.xml is read at start only: every node waits for a restart.
    within(
        Duration::from_secs(5),
        "restart required on every node",
        || {
            ["node-a", "node-b", "node-c"]
                .iter()
                .all(|id| restart_required(&nodes[0], id) == ["binarystore.xml"])
        },
    );
    arca_testkit::wait_for(
        Duration::from_secs(5),
        "RESTART REQUIRED in node-b's log",
        || nodes[1].log().contains("RESTART REQUIRED"),
        || nodes[1].log(),
    );

    // A member's local edit is put back, and kept as binarystore.xml.conflict (never silent).
    std::fs::write(etc(&nodes[1], "binarystore.xml"), "<config version=\"2\"/>").unwrap();
    converged(&nodes, 0, "binarystore.xml", Duration::from_secs(5));
    assert_eq!(
        std::fs::read_to_string(etc(&nodes[1], "binarystore.xml.conflict")).unwrap(),
        "<config version=\"2\"/>"
    );
    // The file is put back before the line that reports it is written: wait for the line.
    arca_testkit::wait_for(
        Duration::from_secs(5),
        "LOCAL EDIT LOST in node-b's sync log",
        || {
            nodes[1].sync_log().contains(
                "LOCAL EDIT LOST: binarystore.xml was edited on this node, which does not own",
            )
        },
        || nodes[1].sync_log(),
    );
    std::fs::remove_file(etc(&nodes[1], "binarystore.xml.conflict")).unwrap();

    // A member whose sync is stopped gets a copy with a newer mtime and other content; a
    // change on the primary meanwhile; at its start the member catches up.
    nodes[2].stop_config_sync();
    write_with_future_mtime(&etc(&nodes[2], "binarystore.xml"), &xml);
    let v3 = format!("{xml}<!-- third version -->\n");
    std::fs::write(etc(&nodes[0], "binarystore.xml"), &v3).unwrap();
    within(
        Duration::from_secs(5),
        "node-b has the third version",
        || sha(&etc(&nodes[1], "binarystore.xml")) == Some(sha256_hex(v3.as_bytes())),
    );
    assert_eq!(
        sha(&etc(&nodes[2], "binarystore.xml")),
        Some(sha256_hex(xml.as_bytes()))
    );
    nodes[2].start_config_sync();
    converged(&nodes, 0, "binarystore.xml", Duration::from_secs(5));
    // Its copy was not the one it last synced (it was changed while its sync was stopped), and
    // the cluster's changed too: the cluster's wins, the other copy is kept.
    assert_eq!(
        std::fs::read_to_string(etc(&nodes[2], "binarystore.xml.conflict")).unwrap(),
        xml
    );
    std::fs::remove_file(etc(&nodes[2], "binarystore.xml.conflict")).unwrap();

    // Invalid XML on the primary is not propagated, and is reported.
    std::fs::write(
        etc(&nodes[0], "binarystore.xml"),
        "<config version=\"2\"><chain",
    )
    .unwrap();
    within(
        Duration::from_secs(5),
        "the rejection in the primary's log",
        || {
            nodes[0]
                .sync_log()
                .contains("NOT PROPAGATED: binarystore.xml is invalid")
        },
    );
    let db = cluster.pg.open().unwrap();
    let row = db
        .read_blocking(|c| configs::get_file(c, "binarystore.xml"))
        .unwrap()
        .unwrap();
    assert!(row.rejected.is_some(), "{row:?}");
    let (code, text) = config_status(&nodes[2].home);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("REJECTED on the owner"), "{text}");
    std::thread::sleep(Duration::from_millis(500));
    for n in &nodes[1..] {
        assert_eq!(
            sha(&etc(n, "binarystore.xml")),
            Some(sha256_hex(v3.as_bytes()))
        );
    }
    // Fixed: propagated again.
    std::fs::write(etc(&nodes[0], "binarystore.xml"), &edited).unwrap();
    converged(&nodes, 0, "binarystore.xml", Duration::from_secs(5));

    // A deletion on the primary is propagated (the copy is kept aside).
    std::fs::remove_file(etc(&nodes[0], "cluster.license")).unwrap();
    within(
        Duration::from_secs(5),
        "cluster.license removed on the members",
        || {
            nodes[1..]
                .iter()
                .all(|n| !etc(n, "cluster.license").exists())
        },
    );
    assert!(etc(&nodes[1], "cluster.license.previous").exists());

    // kill -9 of the primary: a member takes the cluster duties and owns the config; its
    // edits reach the other member.
    let mut primary = nodes.remove(0);
    primary.kill9();
    let owner = within(Duration::from_secs(20), "a member owns the config", || {
        nodes
            .iter()
            .any(|n| n.sync_log().contains("this node owns the cluster's config"))
    });
    eprintln!("config ownership moved to a member {owner:?} after the primary was killed");
    let o = nodes
        .iter()
        .position(|n| n.sync_log().contains("this node owns the cluster's config"))
        .unwrap();
    let props = std::fs::read_to_string(etc(&nodes[o], "system.properties")).unwrap();
    std::fs::write(
        etc(&nodes[o], "system.properties"),
        format!("{props}arca.gc.grace.secs=7\n"),
    )
    .unwrap();
    converged(&nodes, o, "system.properties", Duration::from_secs(5));
    assert!(
        std::fs::read_to_string(etc(&nodes[1 - o], "system.properties"))
            .unwrap()
            .contains("arca.gc.grace.secs=7")
    );
    assert_eq!(
        nodes[1 - o].get("/api/system/ping").status(),
        StatusCode::OK
    );

    // While the primary is down an operator edits its binarystore.xml (which nobody changed
    // meanwhile) and its system.properties (which the owner just changed). When it is back, its
    // binarystore.xml edit wins: published once it owns the config again. Its system.properties
    // edit loses to the owner's: the cluster's copy is applied and the edit is kept as
    // system.properties.conflict, reported in its sync's journal, the HA table and
    // `arcactl config status` until the operator removes that file.
    let primary_xml = format!("{edited}<!-- edited on the primary while it was down -->\n");
    std::fs::write(etc(&primary, "binarystore.xml"), &primary_xml).unwrap();
    let primary_props = std::fs::read_to_string(etc(&primary, "system.properties")).unwrap()
        + "arca.gc.grace.secs=9\n";
    std::fs::write(etc(&primary, "system.properties"), &primary_props).unwrap();
    let mut primary = {
        let mut s = Server::spawn(&primary.home, &primary.ip, primary.port, "/artifactory");
        s.wait_ready();
        s.password = primary.password.clone();
        s
    };
    primary.start_config_sync();
    let took = within(
        Duration::from_secs(30),
        "the primary's binarystore.xml edit on every node",
        || {
            nodes.iter().chain([&primary]).all(|n| {
                sha(&etc(n, "binarystore.xml")) == Some(sha256_hex(primary_xml.as_bytes()))
            })
        },
    );
    eprintln!("the returning primary's edit was published and reached the members in {took:?}");
    let props_now = std::fs::read_to_string(etc(&primary, "system.properties")).unwrap();
    assert!(
        props_now.contains("arca.gc.grace.secs=7") && !props_now.contains("arca.gc.grace.secs=9"),
        "the owner's copy won: {props_now}"
    );
    assert_eq!(
        std::fs::read_to_string(etc(&primary, "system.properties.conflict")).unwrap(),
        primary_props,
        "the losing edit is kept"
    );
    assert!(
        primary
            .sync_log()
            .contains("LOCAL EDIT LOST: system.properties was edited on this node while the cluster's copy changed too"),
        "{}",
        primary.sync_log()
    );
    let lost = |s: &Server| {
        let nodes = s.json("/api/system/ha/nodes");
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == "node-a")
            .unwrap()["lostConfigEdits"]
            .clone()
    };
    let reported = lost(&nodes[0]);
    assert_eq!(reported[0]["file"], "system.properties", "{reported}");
    assert!(
        reported[0]["message"]
            .as_str()
            .unwrap()
            .contains("system.properties.conflict"),
        "{reported}"
    );
    let (code, text) = config_status(&primary.home);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("LOCAL EDIT LOST"), "{text}");
    std::fs::remove_file(etc(&primary, "system.properties.conflict")).unwrap();
    within(Duration::from_secs(15), "the lost edit handled", || {
        lost(&nodes[0]).as_array().is_some_and(Vec::is_empty)
    });
    let (code, text) = config_status(&primary.home);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn automatic_restarts_go_one_node_at_a_time() {
    let mut cluster = Cluster::with_system("arca.config.sync.restart=true\n");
    let mut nodes = cluster.start_three();
    for n in &mut nodes {
        n.start_config_sync();
    }
    converged(&nodes, 0, "binarystore.xml", Duration::from_secs(10));
    let xml = std::fs::read_to_string(etc(&nodes[0], "binarystore.xml")).unwrap();
    std::fs::write(
        etc(&nodes[0], "binarystore.xml"),
        format!("{xml}<!-- restart me -->\n"),
    )
    .unwrap();
    // Each server drains and exits with 75 (systemd would start it again); the test starts
    // it again by hand. Only one node is down at a time.
    let mut restarted = Vec::new();
    for _ in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(20);
        let i = loop {
            if let Some(i) = (0..3).find(|&i| {
                !restarted.contains(&i)
                    && nodes[i]
                        .log()
                        .contains("restarting to apply it (arca.config.sync.restart=true)")
            }) {
                break i;
            }
            assert!(
                Instant::now() < deadline,
                "no node restarted after {restarted:?}; sync logs:\n{}",
                nodes
                    .iter()
                    .map(Server::sync_log)
                    .collect::<Vec<_>>()
                    .join("\n----\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let status = super::ha::wait_exit(&mut nodes[i]);
        assert_eq!(status.code(), Some(75), "{}", nodes[i].log());
        // the others are still up
        for j in (0..3).filter(|&j| j != i && !restarted.contains(&j)) {
            assert_eq!(nodes[j].get("/api/system/ping").status(), StatusCode::OK);
            assert!(
                !nodes[j]
                    .log()
                    .contains("restarting to apply it (arca.config.sync.restart=true)"),
                "node {j} restarts at the same time as node {i}"
            );
        }
        let (ip, port, home) = (nodes[i].ip.clone(), nodes[i].port, nodes[i].home.clone());
        let mut again = Server::spawn(&home, &ip, port, "/artifactory");
        again.wait_ready();
        again.password = nodes[i].password.clone();
        // keep the sidecars of the old handle
        again.agent = nodes[i].agent.take();
        again.sync = nodes[i].sync.take();
        // its agent takes a license again within a round
        again.wait_licensed(10);
        nodes[i] = again;
        restarted.push(i);
    }
    // Nothing waits for a restart any more.
    within(
        Duration::from_secs(10),
        "restartRequired empty everywhere",
        || {
            ["node-a", "node-b", "node-c"]
                .iter()
                .all(|id| restart_required(&nodes[0], id).is_empty())
        },
    );
}

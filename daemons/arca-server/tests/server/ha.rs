//! Cluster tests: several `arca-server` processes on 127.0.0.11… sharing one
//! PostgreSQL database and one data directory (the NFS stand-in).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{HaNodeFiles, Server, free_port, home, pool, sha256_hex};

const HEARTBEAT_SECS: u64 = 1;
const STALE_SECS: u64 = 4;

/// One node's configuration.
pub(super) struct NodeSpec<'a> {
    id: &'a str,
    ip: &'a str,
    primary: bool,
}

impl<'a> NodeSpec<'a> {
    pub(super) fn new(id: &'a str, ip: &'a str, primary: bool) -> Self {
        NodeSpec { id, ip, primary }
    }
}

pub(super) struct Cluster {
    dir: tempfile::TempDir,
    pub(super) pg: arca_testkit::PgTestDb,
    shared: PathBuf,
    password: String,
    /// Trusted by every node; the primary's first start puts [`POOL_KEYS`] keys of it into
    /// the pool (etc/cluster.license).
    pub(super) issuer: arca_license::Issuer,
    pool_keys: usize,
    /// Appended to every node's system.properties.
    extra_system: String,
}

/// Licenses in the pool of a test cluster: enough for every node a test starts.
const POOL_KEYS: usize = 6;

impl Cluster {
    pub(super) fn new() -> Cluster {
        Cluster::with_pool(POOL_KEYS)
    }

    /// A cluster whose nodes' system.properties also have `extra` (lines).
    pub(super) fn with_system(extra: &str) -> Cluster {
        Cluster {
            extra_system: extra.to_string(),
            ..Cluster::with_pool(POOL_KEYS)
        }
    }

    /// A cluster whose primary's first start puts `pool_keys` licenses into the pool.
    pub(super) fn with_pool(pool_keys: usize) -> Cluster {
        let dir = home();
        let shared = dir.path().join("shared-data");
        std::fs::create_dir_all(&shared).unwrap();
        Cluster {
            pg: arca_testkit::PgTestDb::create().unwrap(),
            shared,
            dir,
            password: String::new(),
            issuer: arca_license::Issuer::generate(),
            pool_keys,
            extra_system: String::new(),
        }
    }

    /// Write a node's home: db.properties (the shared database),
    /// ha-node.properties, system.properties with short heartbeat/stale periods.
    fn home(&self, spec: &NodeSpec<'_>, port: u16) -> PathBuf {
        let h = self.dir.path().join(format!("{}-{port}", spec.id));
        HaNodeFiles::new(spec.id, spec.ip, port, spec.primary)
            .shared_data(&self.shared)
            .write(
                &h,
                &self.pg,
                &format!(
                    "arca.ha.heartbeat.interval.secs={HEARTBEAT_SECS}\n\
             arca.ha.node.stale.secs={STALE_SECS}\n\
             arca.gc.interval.secs=1\n\
             arca.license.agent.interval.secs=1\n\
             arca.url.base=http://lb.example:8080/artifactory\n{}",
                    self.extra_system
                ),
            );
        pool::trust(&self.issuer, &h);
        if spec.primary {
            pool::bootstrap_keys(&self.issuer, &h, self.pool_keys);
        }
        h
    }

    /// Copy the primary's master key into a node's home.
    fn copy_key(&self, from: &Path, to: &Path) {
        let key = std::fs::read(from.join("etc/security/master.key")).unwrap();
        std::fs::write(to.join("etc/security/master.key"), key).unwrap();
    }

    /// Start a node and its license agent, and wait until it is ready (licensed).
    pub(super) fn start(&mut self, spec: &NodeSpec<'_>, key_from: Option<&Path>) -> Server {
        let s = self.start_unlicensed(spec, key_from);
        s.wait_licensed(15);
        s
    }

    /// Start a node and its license agent; wait until the server answers (licensed or not).
    pub(super) fn start_unlicensed(
        &mut self,
        spec: &NodeSpec<'_>,
        key_from: Option<&Path>,
    ) -> Server {
        let mut s = self.start_server(spec, key_from);
        s.start_license_agent();
        s
    }

    /// Start a node's server only (no license agent) and wait until it answers.
    pub(super) fn start_server(&mut self, spec: &NodeSpec<'_>, key_from: Option<&Path>) -> Server {
        let port = free_port();
        let h = self.home(spec, port);
        if let Some(from) = key_from {
            self.copy_key(from, &h);
        }
        let mut s = Server::spawn(&h, spec.ip, port, "/artifactory");
        s.wait_ready();
        if self.password.is_empty() {
            self.password = std::fs::read_to_string(h.join("etc/security/initial-admin-password"))
                .unwrap()
                .trim()
                .to_string();
        }
        s.password = self.password.clone();
        s
    }

    /// Start a node that must refuse to start; returns its log.
    fn refused(
        &self,
        spec: &NodeSpec<'_>,
        key_from: Option<&Path>,
        prepare: impl FnOnce(&Path),
    ) -> String {
        let port = free_port();
        let h = self.home(spec, port);
        if let Some(from) = key_from {
            self.copy_key(from, &h);
        }
        prepare(&h);
        let mut s = Server::spawn(&h, spec.ip, port, "/artifactory");
        let status = wait_exit(&mut s);
        assert!(
            !status.success(),
            "started although it should not: {}",
            s.log()
        );
        s.log()
    }

    pub(super) fn start_three(&mut self) -> Vec<Server> {
        let a = self.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
        let key = a.home.clone();
        let b = self.start(&NodeSpec::new("node-b", "127.0.0.12", false), Some(&key));
        let c = self.start(&NodeSpec::new("node-c", "127.0.0.13", false), Some(&key));
        vec![a, b, c]
    }
}

pub(super) fn wait_exit(s: &mut Server) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = s.process.try_wait() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("still running after 30 s: {}", s.log());
}

fn nodes(s: &Server) -> Vec<Value> {
    let v = s.json("/api/system/ha/nodes");
    v.as_array().unwrap().clone()
}

fn node<'v>(nodes: &'v [Value], id: &str) -> &'v Value {
    nodes
        .iter()
        .find(|n| n["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {nodes:?}"))
}

#[test]
fn three_nodes_share_one_database_and_one_filestore() {
    let mut cluster = Cluster::new();
    let servers = cluster.start_three();
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);

    // Banner and node id header
    assert!(a.log().contains("HA Node ID: 'node-a'"), "{}", a.log());
    assert!(
        a.log().contains(&format!(
            "data dir {}",
            cluster.shared.join("filestore").display()
        )),
        "{}",
        a.log()
    );
    for (s, id) in [(a, "node-a"), (b, "node-b"), (c, "node-c")] {
        let r = s.get("/api/system/ping");
        assert_eq!(r.headers()["x-arca-node-id"], id);
    }
    // Every node joined the secondaries' master key and needs no password file of its own
    assert!(!b.home.join("etc/security/initial-admin-password").exists());

    // Deploy on A, read on B and C
    a.generic_repo("libs");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = a.put("/libs/org/x/1.0/x-1.0.bin", body.clone());
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().unwrap();
    assert_eq!(
        created["downloadUri"], "http://lb.example:8080/artifactory/libs/org/x/1.0/x-1.0.bin",
        "arca.url.base is used for URIs"
    );
    for s in [b, c] {
        let r = s.get("/libs/org/x/1.0/x-1.0.bin");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-checksum-sha256"], sha256_hex(&body).as_str());
        assert_eq!(
            r.headers()["x-checksum-sha1"],
            created["checksums"]["sha1"].as_str().unwrap()
        );
        assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(&body));
    }

    // Concurrent deploys of the same path from two nodes end consistent
    for round in 0..5 {
        let path = format!("/libs/race/{round}.bin");
        let one = vec![1u8; 200_000 + round];
        let two = vec![2u8; 100_000 + round];
        std::thread::scope(|scope| {
            let h1 = scope.spawn(|| b.put(&path, one.clone()).status());
            let h2 = scope.spawn(|| c.put(&path, two.clone()).status());
            assert_eq!(h1.join().unwrap(), StatusCode::CREATED);
            assert_eq!(h2.join().unwrap(), StatusCode::CREATED);
        });
        let seen: Vec<Vec<u8>> = [a, b, c]
            .iter()
            .map(|s| s.get(&path).bytes().unwrap().to_vec())
            .collect();
        assert!(
            seen.iter().all(|v| *v == seen[0]),
            "nodes disagree on {path}"
        );
        assert!(seen[0] == one || seen[0] == two);
        let info = a.json(&format!("/api/storage{path}"));
        assert_eq!(info["checksums"]["sha256"], sha256_hex(&seen[0]).as_str());
    }

    // The HA table: three running nodes, one primary, one of them runs the duties
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = nodes(a);
        let running = list.iter().filter(|n| n["state"] == "RUNNING").count();
        let leaders = list
            .iter()
            .filter(|n| n["runsClusterDuties"] == true)
            .count();
        if running == 3 && leaders == 1 {
            assert_eq!(list.iter().filter(|n| n["role"] == "PRIMARY").count(), 1);
            assert_eq!(
                node(&list, "node-a")["runsClusterDuties"],
                true,
                "the primary runs them"
            );
            assert_eq!(
                node(&list, "node-b")["url"],
                format!("http://127.0.0.12:{}/artifactory", b.port)
            );
            break;
        }
        assert!(Instant::now() < deadline, "{list:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Only admins see it
    let anon = Client::new()
        .get(a.url("/api/system/ha/nodes"))
        .send()
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn killing_the_primary_moves_the_cluster_duties_within_the_stale_period() {
    let mut cluster = Cluster::new();
    let mut servers = cluster.start_three();
    // wait until the primary leads
    let deadline = Instant::now() + Duration::from_secs(10);
    while node(&nodes(&servers[1]), "node-a")["runsClusterDuties"] != true {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    // deleting an active node is refused
    let r = servers[1]
        .admin(
            Method::DELETE,
            servers[1].url("/api/system/ha/nodes/node-a"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // a partial upload node-a left behind on the shared filestore
    let leftover_dir = cluster.shared.join("filestore/_pre/node-a");
    std::fs::create_dir_all(&leftover_dir).unwrap();
    let leftover = leftover_dir.join("upload-123.tmp");
    std::fs::write(&leftover, b"partial").unwrap();
    let status = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(&leftover)
        .status()
        .unwrap();
    assert!(status.success());

    servers[0].kill9();
    let killed = Instant::now();
    let took = loop {
        let list = nodes(&servers[1]);
        let a = node(&list, "node-a");
        let leader = list.iter().find(|n| n["runsClusterDuties"] == true);
        if a["state"] == "UNAVAILABLE"
            && a["stale"] == true
            && leader.is_some_and(|l| l["id"] != "node-a")
        {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no takeover: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("duties moved and the primary was marked UNAVAILABLE {took:?} after kill -9");
    assert!(
        took <= Duration::from_secs(STALE_SECS + HEARTBEAT_SECS),
        "took {took:?}, stale period {STALE_SECS} s"
    );
    // Measured from the primary's last heartbeat (both written by the nodes themselves): the
    // member takes the duties one stale period after it, not up to a heartbeat interval later.
    let db = cluster.pg.open().unwrap();
    let (last_heartbeat, acquired) = db
        .read_blocking(|c| {
            let a = arca_db::cluster::get_node(c, "node-a")?.unwrap();
            let lease = arca_db::cluster::get_lease(c, arca_cluster::DUTIES_LEASE)?.unwrap();
            Ok::<_, arca_db::DbError>((a.last_heartbeat, lease.acquired))
        })
        .unwrap();
    let gap = acquired - last_heartbeat;
    eprintln!(
        "takeover {gap} ms after the primary's last heartbeat (stale period {} ms)",
        STALE_SECS * 1000
    );
    let stale_ms = i64::try_from(STALE_SECS * 1000).unwrap();
    assert!(
        (stale_ms..=stale_ms + 300).contains(&gap),
        "takeover {gap} ms after the last heartbeat, stale period {stale_ms} ms"
    );
    // the new duty holder sweeps the departed node's abandoned uploads
    let deadline = Instant::now() + Duration::from_secs(15);
    while leftover.exists() {
        assert!(Instant::now() < deadline, "abandoned upload not swept");
        std::thread::sleep(Duration::from_millis(200));
    }
    // the cluster keeps serving
    servers[1].generic_repo("after");
    assert_eq!(
        servers[2].put("/after/f.txt", "still here").status(),
        StatusCode::CREATED
    );
    // a stale node's row can be removed
    let r = servers[2]
        .admin(
            Method::DELETE,
            servers[2].url("/api/system/ha/nodes/node-a"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    assert!(nodes(&servers[2]).iter().all(|n| n["id"] != "node-a"));
}

#[test]
fn refused_starts_say_what_to_do() {
    let mut cluster = Cluster::new();
    let a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let key = a.home.clone();

    let log = cluster.refused(&NodeSpec::new("node-b", "127.0.0.12", false), None, |_| {});
    assert!(
        log.contains("copy etc/security/master.key from an existing node"),
        "{log}"
    );

    let log = cluster.refused(&NodeSpec::new("node-b", "127.0.0.12", false), None, |h| {
        std::fs::write(
            h.join("etc/security/master.key"),
            "00112233445566778899aabbccddeeff\n",
        )
        .unwrap();
    });
    assert!(
        log.contains("does not match the cluster's master key"),
        "{log}"
    );

    let log = cluster.refused(
        &NodeSpec::new("node-a", "127.0.0.12", false),
        Some(&key),
        |_| {},
    );
    assert!(
        log.contains("node id 'node-a' is already used by an active node"),
        "{log}"
    );

    let log = cluster.refused(
        &NodeSpec::new("node-z", "127.0.0.12", true),
        Some(&key),
        |_| {},
    );
    assert!(log.contains("a second active primary"), "{log}");
    assert!(log.contains("set primary=false"), "{log}");

    let log = cluster.refused(
        &NodeSpec::new("node-b", "127.0.0.12", false),
        Some(&key),
        |h| {
            std::fs::remove_file(h.join("etc/db.properties")).unwrap();
        },
    );
    assert!(log.contains("HA needs an external database"), "{log}");

    let log = cluster.refused(
        &NodeSpec::new("node-b", "127.0.0.12", false),
        Some(&key),
        |h| {
            let props = std::fs::read_to_string(h.join("etc/ha-node.properties")).unwrap();
            std::fs::write(
                h.join("etc/ha-node.properties"),
                props.replace("context.url=", "context.url=192.168.0.2 (optional) #"),
            )
            .unwrap();
        },
    );
    assert!(
        log.contains("ha-node.properties:2") && log.contains("context.url"),
        "{log}"
    );

    let log = cluster.refused(
        &NodeSpec::new("node-b", "127.0.0.12", false),
        Some(&key),
        |h| {
            let mut props = std::fs::read_to_string(h.join("etc/ha-node.properties")).unwrap();
            props.push_str("cluster.interface=10.254.*.*\n");
            std::fs::write(h.join("etc/ha-node.properties"), props).unwrap();
        },
    );
    assert!(
        log.contains("cluster.interface") && log.contains("127.0.0.1"),
        "names the host's addresses: {log}"
    );

    let log = cluster.refused(&NodeSpec { id: "node-b", ip: "127.0.0.12", primary: false }, Some(&key), |h| {
        std::fs::write(
            h.join("etc/binarystore.xml"),
            "<config version=\"2\"><chain template=\"file-system\"/>\
             <provider id=\"file-system\" type=\"file-system\"><fileStoreDir>elsewhere</fileStoreDir>\
             </provider></config>\n",
        )
        .unwrap();
    });
    // What differs, who recorded the cluster's chain, and both ways out.
    assert!(
        log.contains(
            "configures another storage chain than the one the cluster runs (recorded by node-a"
        ) && log.contains(
            "only in the cluster's chain: (nothing); only in this node's: provider \
                 id=file-system type=file-system; fileStoreDir=elsewhere"
        ) && log.contains("give this node the binarystore.xml of a running node")
            && log.contains("start the primary first"),
        "{log}"
    );

    // a schema newer than this build: refused, naming both versions
    let known = arca_db::migrate::known_version();
    let db = cluster.pg.open().unwrap();
    db.write_blocking(|c| {
        c.execute(
            "INSERT INTO schema_migrations VALUES (?1, 'from a newer arca', 0)",
            arca_db::args![known + 1],
        )
    })
    .unwrap();
    let log = cluster.refused(
        &NodeSpec::new("node-b", "127.0.0.12", false),
        Some(&key),
        |_| {},
    );
    assert!(
        log.contains(&format!(
            "schema version {} is newer than this build knows ({known})",
            known + 1
        )),
        "{log}"
    );
}

#[test]
fn node_to_node_calls_must_be_signed_and_fresh() {
    let mut cluster = Cluster::new();
    let a = cluster.start(&NodeSpec::new("node-a", "127.0.0.11", true), None);
    let url = a.url("/api/system/ha/self");
    let unsigned = Client::new().get(&url).send().unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);

    let key_hex = std::fs::read_to_string(a.home.join("etc/security/master.key")).unwrap();
    let key = arca_config::MasterKey::parse(&key_hex, Path::new("master.key")).unwrap();
    let signer = arca_crypto::master_key::RequestSigner::new(key.bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ha_self = arca_crypto::master_key::NodeRequest {
        method: "GET",
        path_and_query: "/artifactory/api/system/ha/self",
        target_node: "node-a",
        content_sha256: arca_crypto::master_key::EMPTY_SHA256,
    };
    let headers = signer.headers(&ha_self, "node-b", now, &arca_crypto::random_hex(16));
    let send = |headers: &[(&str, String)]| {
        headers
            .iter()
            .fold(Client::new().get(&url), |r, (name, value)| {
                r.header(*name, value)
            })
            .send()
            .unwrap()
    };
    let signed = send(&headers);
    assert_eq!(signed.status(), StatusCode::OK);
    let me: Value = signed.json().unwrap();
    assert_eq!(me["nodeId"], "node-a");
    assert_eq!(
        me["masterKeyCheck"],
        arca_crypto::master_key::key_check_value(key.bytes()).as_str()
    );
    let replay = send(&headers);
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let other = arca_crypto::master_key::RequestSigner::new(&[7u8; 16]);
    let forged = other.headers(&ha_self, "node-b", now, &arca_crypto::random_hex(16));
    let r = send(&forged);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // a drained node answers 503 on its health checks, naming the way back
    std::fs::write(a.home.join("run/drain"), "").unwrap();
    let r = Client::new().get(a.url("/api/system/ping")).send().unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().unwrap().contains("arcactl node undrain"));
}

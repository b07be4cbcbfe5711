//! Sharding clusters: three `arca-server` processes (each with its `arca-storage-mover`, which
//! restores the redundancy) on 127.0.0.11–13, one PostgreSQL database, each node with its own
//! data directory.
//!
//! * `cluster-file-system`: every binary is kept on two nodes' disks (redundancy 2) and
//!   served from any node.
//! * `cluster-s3-storage-v3`: every upload waits in two nodes' eventual-cluster queues until
//!   a mover put it in S3 (s3s-fs); a holder dying before that loses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arca_testkit::S3TestServer;
use reqwest::blocking::Client;
use reqwest::{Method, StatusCode};

use super::{HaNodeFiles, Server, Sidecar, free_port, home, pool, sha256_hex};

const HEARTBEAT_SECS: u64 = 1;
const STALE_SECS: u64 = 4;
/// The `remote` provider's checkPeriod in these tests: maintenance round and circuit breaker.
const CHECK_PERIOD_MS: u64 = 2_000;
/// How long a redundancy restore may take: a stale period for a dead node to count as gone,
/// the restore's settle time for fresh binaries (10 s), a few maintenance rounds.
const RESTORE_WITHIN: Duration = Duration::from_secs(60);

/// Same text on every node: the cluster compares the chain's digest at start.
fn cluster_fs_xml() -> String {
    format!(
        "<config version=\"2\">\n\
         <chain template=\"cluster-file-system\"/>\n\
         <provider id=\"sharding-cluster\" type=\"sharding-cluster\">\
         <redundancy>2</redundancy><lenientLimit>1</lenientLimit></provider>\n\
         <provider id=\"remote\" type=\"remote\">\
         <checkPeriod>{CHECK_PERIOD_MS}</checkPeriod>\
         <connectionTimeout>1000</connectionTimeout>\
         <socketTimeout>5000</socketTimeout></provider>\n\
         </config>\n"
    )
}

/// `cluster-s3-storage-v3` against `s3`, redundancy 2, queues scanned every 200 ms.
fn cluster_s3_xml(s3: &S3TestServer) -> String {
    format!(
        "<config version=\"2\">\n\
         <chain template=\"cluster-s3-storage-v3\"/>\n\
         <provider id=\"sharding-cluster\" type=\"sharding-cluster\">\
         <redundancy>2</redundancy><lenientLimit>1</lenientLimit></provider>\n\
         <provider id=\"eventual-cluster\" type=\"eventual-cluster\">\
         <dispatcherInterval>200</dispatcherInterval></provider>\n\
         <provider id=\"retry\" type=\"retry\"><interval>200</interval><maxTrys>2</maxTrys></provider>\n\
         <provider id=\"remote\" type=\"remote\">\
         <checkPeriod>{CHECK_PERIOD_MS}</checkPeriod>\
         <connectionTimeout>1000</connectionTimeout>\
         <socketTimeout>5000</socketTimeout></provider>\n\
         <provider id=\"s3-storage-v3\" type=\"s3-storage-v3\">\
         <endpoint>{}</endpoint><bucketName>{}</bucketName><path>blobs</path>\
         <identity>{}</identity><credential>{}</credential>\
         <enablePathStyleAccess>true</enablePathStyleAccess><region>us-east-1</region>\
         </provider>\n\
         </config>\n",
        s3.endpoint(),
        s3.bucket(),
        s3.access_key(),
        s3.secret_key()
    )
}

/// Where a node keeps its own copies.
#[derive(Clone, Copy)]
enum Layout {
    /// `state-aware`: `<data>/filestore/<ab>/<sha>`.
    FileStore,
    /// `eventual-cluster`: `<data>/eventual/_add/<sha>`.
    Queue,
}

/// One node: its id, address, port (kept across restarts) and home.
struct Node {
    id: &'static str,
    ip: &'static str,
    primary: bool,
    port: u16,
    home: PathBuf,
    server: Option<Server>,
    mover: Option<arca_testkit::Process>,
}

struct ShardCluster {
    _dir: tempfile::TempDir,
    _pg: arca_testkit::PgTestDb,
    nodes: Vec<Node>,
    password: String,
    layout: Layout,
}

impl ShardCluster {
    fn start() -> ShardCluster {
        Self::start_with(&cluster_fs_xml(), Layout::FileStore)
    }

    fn start_with(binarystore: &str, layout: Layout) -> ShardCluster {
        let dir = home();
        let pg = arca_testkit::PgTestDb::create().unwrap();
        let issuer = arca_license::Issuer::generate();
        let mut nodes = Vec::new();
        for (id, ip, primary) in [
            ("node-a", "127.0.0.11", true),
            ("node-b", "127.0.0.12", false),
            ("node-c", "127.0.0.13", false),
        ] {
            let port = free_port();
            let h = dir.path().join(id);
            // Each node's own data dir: nothing is shared but the database.
            HaNodeFiles::new(id, ip, port, primary).write(
                &h,
                &pg,
                &format!(
                    "arca.ha.heartbeat.interval.secs={HEARTBEAT_SECS}\n\
                     arca.ha.node.stale.secs={STALE_SECS}\n\
                     arca.gc.interval.secs=3600\n\
                     arca.gc.grace.secs=5\n\
                     arca.license.agent.interval.secs=1\n"
                ),
            );
            pool::trust(&issuer, &h);
            if primary {
                pool::bootstrap_keys(&issuer, &h, 3);
            }
            std::fs::write(h.join("etc/binarystore.xml"), binarystore).unwrap();
            nodes.push(Node {
                id,
                ip,
                primary,
                port,
                home: h,
                server: None,
                mover: None,
            });
        }
        let mut cluster = ShardCluster {
            _dir: dir,
            _pg: pg,
            nodes,
            password: String::new(),
            layout,
        };
        for i in 0..3 {
            if i > 0 {
                let key =
                    std::fs::read(cluster.nodes[0].home.join("etc/security/master.key")).unwrap();
                std::fs::write(cluster.nodes[i].home.join("etc/security/master.key"), key).unwrap();
            }
            cluster.boot(i);
        }
        cluster
    }

    /// Start (or restart) node `i` on its port and home, and wait until it answers; then its
    /// storage mover.
    fn boot(&mut self, i: usize) {
        let node = &self.nodes[i];
        assert!(node.primary == (i == 0));
        let mut s = Server::spawn(&node.home, node.ip, node.port, "/artifactory");
        s.wait_ready();
        if self.password.is_empty() {
            self.password =
                std::fs::read_to_string(node.home.join("etc/security/initial-admin-password"))
                    .unwrap()
                    .trim()
                    .to_string();
        }
        s.password = self.password.clone();
        s.start_license_agent();
        s.wait_licensed(15);
        self.nodes[i].server = Some(s);
        self.nodes[i].mover = Some(Sidecar::mover(&self.nodes[i].home));
    }

    /// kill -9 of node `i`: its server and its mover.
    fn kill(&mut self, i: usize) {
        if let Some(mut s) = self.nodes[i].server.take() {
            s.kill9();
        }
        self.nodes[i].mover = None;
    }

    fn s(&self, i: usize) -> &Server {
        self.nodes[i]
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.nodes[i].id))
    }

    fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].server.is_some())
            .collect()
    }

    /// The node's own store (`state-aware`, default `<data>/filestore`; `eventual-cluster`:
    /// `<data>/eventual/_add`).
    fn store(&self, i: usize) -> PathBuf {
        match self.layout {
            Layout::FileStore => self.nodes[i].home.join("data/filestore"),
            Layout::Queue => self.nodes[i].home.join("data/eventual/_add"),
        }
    }

    fn blob(&self, i: usize, sha: &str) -> PathBuf {
        match self.layout {
            Layout::FileStore => self.store(i).join(&sha[..2]).join(sha),
            Layout::Queue => self.store(i).join(sha),
        }
    }

    /// Ids of the nodes whose store holds `sha` on disk (running or not).
    fn holders(&self, sha: &str) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.blob(i, sha).is_file())
            .collect()
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "=== {} ===\n{}\n=== {} mover ===\n{}",
                    n.id,
                    std::fs::read_to_string(n.home.with_extension("log")).unwrap_or_default(),
                    n.id,
                    std::fs::read_to_string(n.home.with_extension("mover.log")).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Wait until `ok` holds, or fail with `what` and the nodes' logs.
    fn wait_for(&self, within: Duration, what: &str, mut ok: impl FnMut() -> bool) -> Duration {
        let start = Instant::now();
        loop {
            if ok() {
                return start.elapsed();
            }
            if start.elapsed() > within {
                panic!("{what}: not within {within:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn content(i: usize) -> Vec<u8> {
    // sizes on both sides of the 64 KiB small-file path, distinct content per artifact
    let len = if i.is_multiple_of(2) {
        1_000 + i * 997
    } else {
        150_000 + i * 7_919
    };
    (0..len)
        .map(|j| ((j * 31 + i * 17 + j / 251) % 256) as u8)
        .collect()
}

/// Deploy `count` distinct artifacts `/libs/org/{name}/{i}/{name}-{i}.bin` through nodes A, B,
/// C in turn; each must be created. Returns path → content.
fn deploy_round_robin(c: &ShardCluster, name: &str, count: usize) -> BTreeMap<String, Vec<u8>> {
    let mut artifacts = BTreeMap::new();
    for i in 0..count {
        let path = format!("/libs/org/{name}/{i}/{name}-{i}.bin");
        let data = content(i);
        let r = c.s(i % 3).put(&path, data.clone());
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{path}: {}",
            r.text().unwrap()
        );
        artifacts.insert(path, data);
    }
    artifacts
}

/// Status and body of a GET; a transfer the server aborts (it does so rather than complete
/// with wrong bytes) is status 599 or a `None` body.
fn get_bytes(s: &Server, path: &str) -> (StatusCode, Option<Vec<u8>>) {
    match s.admin(Method::GET, s.url(path)).send() {
        Ok(r) => {
            let status = r.status();
            (status, r.bytes().ok().map(|b| b.to_vec()))
        }
        Err(e) => {
            eprintln!("GET {path} on {}: {e}", s.ip);
            (StatusCode::from_u16(599).unwrap(), None)
        }
    }
}

/// `path` reads back with exactly `data` from server `s`.
fn assert_readable(s: &Server, path: &str, data: &[u8]) {
    let (status, body) = get_bytes(s, path);
    assert_eq!(
        status,
        StatusCode::OK,
        "GET {path} on {}: {}",
        s.ip,
        String::from_utf8_lossy(body.as_deref().unwrap_or_default())
    );
    let body = body.unwrap_or_else(|| panic!("GET {path} on {}: body broken", s.ip));
    assert_eq!(
        sha256_hex(&body),
        sha256_hex(data),
        "GET {path} on {}",
        s.ip
    );
}

/// A request to node `target` (running as `s`) signed with the cluster's master key as node
/// `as_node`; a `PUT` is signed for content hashing to `sha`, like the nodes' own.
fn signed(
    s: &Server,
    target: &str,
    method: Method,
    sha: &str,
    as_node: &str,
) -> reqwest::blocking::RequestBuilder {
    let key_hex = std::fs::read_to_string(s.home.join("etc/security/master.key")).unwrap();
    let key = arca_config::MasterKey::parse(&key_hex, Path::new("master.key")).unwrap();
    let signer = arca_crypto::master_key::RequestSigner::new(key.bytes());
    let path = format!("/artifactory/api/system/storage/binaries/{sha}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let content_sha256 = if method == Method::PUT {
        sha
    } else {
        arca_crypto::master_key::EMPTY_SHA256
    };
    let headers = signer.headers(
        &arca_crypto::master_key::NodeRequest {
            method: method.as_str(),
            path_and_query: &path,
            target_node: target,
            content_sha256,
        },
        as_node,
        now,
        &arca_crypto::random_hex(16),
    );
    headers.into_iter().fold(
        Client::new().request(
            method,
            s.url(&format!("/api/system/storage/binaries/{sha}")),
        ),
        |r, (name, value)| r.header(name, value),
    )
}

#[test]
fn cluster_file_system_keeps_two_copies_and_survives_a_node() {
    let mut c = ShardCluster::start();
    let summary = c.s(0).json("/api/system/storage");
    assert_eq!(summary["backend"], "sharding-cluster", "{summary}");
    assert_eq!(
        summary["fileStoreDir"].as_str().unwrap(),
        c.store(0).to_str().unwrap(),
        "{summary}"
    );
    c.s(0).generic_repo("libs");

    // ---- 20 deploys through different nodes: two copies each, readable everywhere
    let started = Instant::now();
    let mut artifacts = deploy_round_robin(&c, "x", 20);
    eprintln!("20 deploys with redundancy 2 took {:?}", started.elapsed());
    for (path, data) in &artifacts {
        let sha = sha256_hex(data);
        assert_eq!(
            c.holders(&sha).len(),
            2,
            "{path} ({sha}) must be on exactly two nodes' disks: {:?}\n{}",
            c.holders(&sha),
            c.logs()
        );
        for i in 0..3 {
            assert_readable(c.s(i), path, data);
        }
    }
    // Reads from the third node went into its cache, never into its own store.
    for data in artifacts.values() {
        assert_eq!(c.holders(&sha256_hex(data)).len(), 2);
    }

    // ---- the peer endpoint: only signed calls; content must match the path
    let some = sha256_hex(&artifacts["/libs/org/x/1/x-1.bin"]);
    let r = Client::new()
        .put(c.s(0).url(&format!("/api/system/storage/binaries/{some}")))
        .body("anything")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "unsigned PUT");
    let r = Client::new()
        .get(c.s(0).url(&format!("/api/system/storage/binaries/{some}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "unsigned GET");
    let r = c
        .s(0)
        .admin(
            Method::DELETE,
            c.s(0).url(&format!("/api/system/storage/binaries/{some}")),
        )
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "an admin user is not a node"
    );
    let wrong = sha256_hex(b"not this");
    let r = signed(c.s(1), c.nodes[1].id, Method::PUT, &wrong, "node-x")
        .body("something else")
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "content must hash to the path"
    );
    assert!(c.holders(&wrong).is_empty());
    let holder = c.holders(&some)[0];
    let r = signed(
        c.s(holder),
        c.nodes[holder].id,
        Method::HEAD,
        &some,
        "node-x",
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = signed(
        c.s(holder),
        c.nodes[holder].id,
        Method::DELETE,
        &some,
        "node-x",
    )
    .send()
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a binary the database knows is not deleted"
    );
    assert!(c.blob(holder, &some).is_file());

    // ---- a corrupt copy is detected on read, quarantined, and served from a peer
    for (path, expect_first_ok) in [
        ("/libs/org/x/2/x-2.bin", true),  // small: verified before it is sent
        ("/libs/org/x/3/x-3.bin", false), // large: verified while it streams
    ] {
        let data = &artifacts[path];
        let sha = sha256_hex(data);
        // a holder that did not deploy it (the deployer also has it in its cache)
        let deployer: usize = path
            .trim_start_matches("/libs/org/x/")
            .split('/')
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
            % 3;
        let victim = *c.holders(&sha).iter().find(|&&h| h != deployer).unwrap();
        let blob = c.blob(victim, &sha);
        let mut bytes = std::fs::read(&blob).unwrap();
        bytes[data.len() / 2] ^= 0x55;
        std::fs::write(&blob, &bytes).unwrap();
        let (status, body) = get_bytes(c.s(victim), path);
        let first_ok = status == StatusCode::OK && body.as_deref() == Some(data.as_slice());
        assert_eq!(
            first_ok,
            expect_first_ok,
            "{path}: first read after corruption ({status})\n{}",
            if first_ok == expect_first_ok {
                String::new()
            } else {
                c.logs()
            }
        );
        if !first_ok {
            assert!(
                body.as_deref() != Some(data.as_slice()) || status != StatusCode::OK,
                "a corrupt copy must never be served as complete"
            );
        }
        assert!(!blob.exists(), "{path}: corrupt copy must leave the store");
        let quarantined = std::fs::read_dir(c.store(victim).join(".quarantine"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&sha));
        assert!(quarantined, "{path}: corrupt copy kept in .quarantine");
        assert_readable(c.s(victim), path, data);
    }
    // the lost copies are restored (the binaries had one copy left)
    let t = c.wait_for(RESTORE_WITHIN, "copies restored after quarantine", || {
        artifacts
            .values()
            .all(|d| c.holders(&sha256_hex(d)).len() >= 2)
    });
    eprintln!("redundancy restored {t:?} after two copies were quarantined");

    // ---- node C dies: deploys through A and B go on, everything stays readable
    c.kill(2);
    let killed = Instant::now();
    for i in 20..26 {
        let path = format!("/libs/org/x/{i}/x-{i}.bin");
        let data = content(i);
        let r = c.s(i % 2).put(&path, data.clone());
        assert!(
            r.status() == StatusCode::CREATED || r.status() == StatusCode::OK,
            "{path} with a node down: {} {}",
            r.status(),
            r.text().unwrap()
        );
        artifacts.insert(path, data);
    }
    eprintln!(
        "6 deploys right after kill -9 of a node took {:?}",
        killed.elapsed()
    );
    for (path, data) in &artifacts {
        for i in c.running() {
            assert_readable(c.s(i), path, data);
        }
    }
    // binaries that had a copy on C get a second one on A or B
    let live_copies =
        |c: &ShardCluster, sha: &str| c.holders(sha).into_iter().filter(|&h| h != 2).count();
    let t = c.wait_for(RESTORE_WITHIN, "two live copies while C is down", || {
        artifacts
            .values()
            .all(|d| live_copies(&c, &sha256_hex(d)) >= 2)
    });
    eprintln!("every binary back on two live nodes {t:?} after the restore began");

    // ---- B dies too: A alone takes deploys (lenientLimit 1), one copy each
    c.kill(1);
    let mut lonely = Vec::new();
    for i in 26..29 {
        let path = format!("/libs/org/x/{i}/x-{i}.bin");
        let data = content(i);
        let r = c.s(0).put(&path, data.clone());
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
        assert_eq!(c.holders(&sha256_hex(&data)), vec![0]);
        lonely.push(sha256_hex(&data));
        artifacts.insert(path, data);
    }
    for (path, data) in &artifacts {
        assert_readable(c.s(0), path, data);
    }

    // ---- B and C come back: the single copies are spread again
    c.boot(1);
    c.boot(2);
    let back = Instant::now();
    let t = c.wait_for(RESTORE_WITHIN, "redundancy restored after restart", || {
        artifacts
            .values()
            .all(|d| c.holders(&sha256_hex(d)).len() >= 2)
    });
    eprintln!("redundancy restored {t:?} after B and C restarted");
    assert!(back.elapsed() <= RESTORE_WITHIN);
    for sha in &lonely {
        assert!(c.holders(sha).len() >= 2, "{sha}: {:?}", c.holders(sha));
    }
    for (path, data) in &artifacts {
        for i in 0..3 {
            assert_readable(c.s(i), path, data);
        }
    }

    // ---- garbage collection deletes every copy, on every node
    let (gone_path, gone_data) = artifacts
        .iter()
        .next()
        .map(|(p, d)| (p.clone(), d.clone()))
        .unwrap();
    let gone = sha256_hex(&gone_data);
    delete_and_collect(c.s(1), c.s(0), &gone_path);
    c.wait_for(
        Duration::from_secs(20),
        "collected binary gone from every node",
        || c.holders(&gone).is_empty(),
    );
    if std::env::var_os("ARCA_TEST_SHOW_LOGS").is_some() {
        eprintln!("{}", c.logs());
    }
}

/// Throughput figures (not a check): one large deploy, which is pushed to one peer before it
/// is acknowledged, and its first read on the third node (fetched from a peer). Run with
/// `cargo test -p arca-server --test server sharding_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn sharding_throughput() {
    let c = ShardCluster::start();
    c.s(0).generic_repo("big");
    let size = 256 * 1024 * 1024;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let started = Instant::now();
    let r = c.s(0).put("/big/blob.bin", data.clone());
    assert_eq!(r.status(), StatusCode::CREATED);
    let deploy = started.elapsed();
    let sha = sha256_hex(&data);
    let holders = c.holders(&sha);
    assert_eq!(holders.len(), 2);
    let reader = (0..3).find(|i| !holders.contains(i)).unwrap();
    let started = Instant::now();
    assert_readable(c.s(reader), "/big/blob.bin", &data);
    let fetch = started.elapsed();
    let started = Instant::now();
    assert_readable(c.s(reader), "/big/blob.bin", &data);
    let cached = started.elapsed();
    let mib = (size / (1024 * 1024)) as f64;
    eprintln!(
        "256 MiB: deploy with one peer copy {deploy:?} ({:.0} MiB/s); first read on a node \
         without a copy {fetch:?} ({:.0} MiB/s); second read (cache) {cached:?}",
        mib / deploy.as_secs_f64(),
        mib / fetch.as_secs_f64()
    );
}

/// `cluster-s3-storage-v3`: with S3 down, each upload is acknowledged once it waits in two
/// nodes' queues and is readable from all three; a holder killed before the upload loses
/// nothing (the other holder's mover uploads it once S3 is back); the queues drain, the
/// objects in S3 have the right SHA-256, a node that never held a binary reads it from S3,
/// the returning node's leftovers are dropped without a second upload, and garbage
/// collection deletes the object.
#[test]
fn cluster_s3_storage_holds_uploads_on_two_nodes_until_s3_has_them() {
    let s3 = S3TestServer::new().expect("s3s-fs (tests/lib/s3.sh installs it)");
    let mut c = ShardCluster::start_with(&cluster_s3_xml(&s3), Layout::Queue);
    let summary = c.s(0).json("/api/system/storage");
    assert_eq!(summary["backend"], "sharding-cluster", "{summary}");
    assert!(summary["objectStore"].is_string(), "{summary}");
    assert!(
        summary["eventualDir"]
            .as_str()
            .is_some_and(|d| d.starts_with(c.nodes[0].home.to_str().unwrap())),
        "each node's queue is in its own home: {summary}"
    );
    c.s(0).generic_repo("libs");
    // the movers report the cluster's redundancy
    c.wait_for(
        Duration::from_secs(20),
        "mover status with redundancy",
        || c.s(1).json("/api/system/storage")["mover"]["redundancy"] == 2,
    );

    // ---- S3 down: deploys are held by two nodes each, readable everywhere
    s3.stop();
    let mut artifacts = deploy_round_robin(&c, "s", 12);
    for (path, data) in &artifacts {
        let sha = sha256_hex(data);
        assert_eq!(
            c.holders(&sha).len(),
            2,
            "{path} waits in two nodes' queues: {:?}\n{}",
            c.holders(&sha),
            c.logs()
        );
        for i in 0..3 {
            assert_readable(c.s(i), path, data);
        }
    }
    assert!(super::storage::objects_in(&s3).is_empty());

    // ---- a holder dies before anything reached S3; S3 comes back
    c.kill(1);
    s3.start().unwrap();
    let t = c.wait_for(
        Duration::from_secs(60),
        "every binary in S3, the live queues drained",
        || {
            let objects = super::storage::objects_in(&s3);
            artifacts.values().all(|d| {
                let sha = sha256_hex(d);
                objects.get(&sha) == Some(&sha)
            }) && [0, 2].iter().all(|&i| dir_is_empty(&c.store(i)))
        },
    );
    eprintln!("12 binaries in S3 {t:?} after it returned (one holder dead)");
    for (path, data) in &artifacts {
        for i in [0, 2] {
            assert_readable(c.s(i), path, data);
        }
    }

    // ---- a binary deployed now is read by a node that never held it: from S3
    let late = b"late binary, read from the object store".repeat(1000);
    let late_sha = sha256_hex(&late);
    let r = c.s(0).put("/libs/org/s/late.bin", late.clone());
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().unwrap());
    c.wait_for(Duration::from_secs(30), "late binary uploaded", || {
        super::storage::objects_in(&s3).contains_key(&late_sha) && c.holders(&late_sha).is_empty()
    });
    assert_readable(c.s(2), "/libs/org/s/late.bin", &late);

    // ---- the dead node returns: its leftovers go without a second upload
    let leftovers: Vec<usize> = (0..3).filter(|&i| !dir_is_empty(&c.store(i))).collect();
    assert_eq!(
        leftovers,
        vec![1],
        "only the dead node's queue still holds copies"
    );
    // entries are named by their SHA-256 (the killed mover's claims are `<sha>.claim`)
    let held_by_b = std::fs::read_dir(c.store(1))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().len() == 64)
        .count() as u64;
    c.boot(1);
    c.wait_for(Duration::from_secs(30), "node B's queue drained", || {
        dir_is_empty(&c.store(1))
    });
    let mover = &c.s(1).json("/api/system/storage")["mover"];
    assert_eq!(
        (mover["uploaded"].as_u64(), mover["alreadyStored"].as_u64()),
        (Some(0), Some(held_by_b)),
        "B's mover dropped its copies without uploading: {mover}"
    );
    let mover_log = std::fs::read_to_string(c.nodes[1].home.with_extension("mover.log")).unwrap();
    assert!(
        mover_log.contains("already_stored=true"),
        "B's mover found its copies in S3: {mover_log}"
    );
    for (path, data) in &artifacts {
        assert_readable(c.s(1), path, data);
    }

    // ---- garbage collection deletes the object (through the collector's queue)
    let (gone_path, gone_data) = artifacts.pop_first().unwrap();
    let gone = sha256_hex(&gone_data);
    delete_and_collect(c.s(2), c.s(2), &gone_path);
    c.wait_for(
        Duration::from_secs(30),
        "collected object gone from S3",
        || !super::storage::objects_in(&s3).contains_key(&gone),
    );
    let objects = super::storage::objects_in(&s3);
    for data in artifacts.values() {
        assert!(
            objects.contains_key(&sha256_hex(data)),
            "other objects stay"
        );
    }
}

/// Delete `path` through `deleter`, wait out the GC grace, and run a collection on
/// `collector` that removes at least that binary.
fn delete_and_collect(deleter: &Server, collector: &Server, path: &str) {
    let r = deleter
        .admin(Method::DELETE, deleter.url(path))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{}", r.text().unwrap());
    std::thread::sleep(Duration::from_secs(6)); // arca.gc.grace.secs=5
    let r = collector
        .admin(Method::POST, collector.url("/api/system/storage/gc"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report: serde_json::Value = r.json().unwrap();
    assert!(report["binariesRemoved"].as_u64().unwrap() >= 1, "{report}");
}

/// True when `dir` has no files (a missing dir counts as empty).
fn dir_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut entries| entries.next().is_none())
        .unwrap_or(true)
}

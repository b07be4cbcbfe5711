//! Integration tests: each starts the real `arca-storage-mover` binary on a temporary home
//! against a real S3 server (s3s-fs, `ARCA_TEST_S3S_FS`; see `arca_testkit::s3`), with
//! the embedded SQLite database, and watches the eventual queue drain.

// Test helpers outside #[test] fns unwrap too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use arca_config::Home;
use arca_db::{Binary, Db, NewFile, Repo, items, repos};
use arca_storage::mover_proto::{self, MoverStatus};
use arca_storage::{Checksums, EntryKind, EventualQueue, ObjectStore};
use arca_testkit::{LogFile, Process, S3TestServer, daemon_command, random_suffix, wait_for};
use sha2::Digest;

/// The object-store key prefix the tests configure.
const PREFIX: &str = "filestore";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A home whose `binarystore.xml` runs `s3-storage-v3` (cache-fs → eventual → retry → S3)
/// against `s3`, with fast timings for tests, and an initialised SQLite database.
fn s3_home(dir: &Path, name: &str, s3: &S3TestServer) -> PathBuf {
    let root = dir.join(name);
    let home = Home::new(&root);
    home.init_layout().unwrap();
    let xml = format!(
        r#"<config version="2">
    <chain template="s3-storage-v3"/>
    <provider id="s3-storage-v3" type="s3-storage-v3">
        <endpoint>127.0.0.1</endpoint>
        <port>{port}</port>
        <useHttp>true</useHttp>
        <enablePathStyleAccess>true</enablePathStyleAccess>
        <region>us-east-1</region>
        <bucketName>{bucket}</bucketName>
        <path>{PREFIX}</path>
        <identity>{ak}</identity>
        <credential>{sk}</credential>
        <multiPartLimit>6000000</multiPartLimit>
        <multipartElementSize>5242880</multipartElementSize>
        <connectionTimeout>2000</connectionTimeout>
        <socketTimeout>10000</socketTimeout>
    </provider>
    <provider id="eventual" type="eventual">
        <numberOfThreads>3</numberOfThreads>
        <dispatcherInterval>200</dispatcherInterval>
        <timeout>10000</timeout>
    </provider>
    <provider id="retry" type="retry">
        <interval>100</interval>
        <maxTrys>2</maxTrys>
    </provider>
</config>
"#,
        port = s3.port(),
        bucket = s3.bucket(),
        ak = s3.access_key(),
        sk = s3.secret_key(),
    );
    std::fs::write(home.binarystore_xml(), xml).unwrap();
    // What arca-server's first start leaves: a master key and a migrated database.
    arca_testkit::write_master_key(&home.master_key());
    Db::open_sqlite(&root.join("data/arca.db"), 2).unwrap();
    root
}

/// An S3 server, and a home `<temporary dir>/home` using it with its eventual queue.
fn s3_setup() -> (S3TestServer, tempfile::TempDir, PathBuf, EventualQueue) {
    let s3 = S3TestServer::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = s3_home(dir.path(), "home", &s3);
    let q = queue(&home);
    (s3, dir, home, q)
}

fn queue(home: &Path) -> EventualQueue {
    EventualQueue::open_dir(&home.join("data/eventual")).unwrap()
}

/// `len` bytes derived from `seed` (distinct contents for distinct seeds).
fn content(seed: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = sha2::Sha256::digest(seed.as_bytes());
    while out.len() < len {
        out.extend_from_slice(&block);
        block = sha2::Sha256::digest(block);
    }
    out.truncate(len);
    out
}

/// Stage `data` in `_pre` and commit it into `_add`, as the server does. Returns its SHA-256.
fn add_entry(q: &EventualQueue, data: &[u8]) -> String {
    let sha = hex::encode(sha2::Sha256::digest(data));
    let staged = q.staging_dir().join(format!("dbrecord{}.bin", &sha[..16]));
    std::fs::write(&staged, data).unwrap();
    q.commit_add(&staged, &sha).unwrap();
    sha
}

/// Wait until no upload is queued; after `secs`, panic with `what` and the mover's log.
fn wait_drained(q: &EventualQueue, mover: &Mover, secs: u64, what: &str) {
    wait_for(
        Duration::from_secs(secs),
        what,
        || pending(q, EntryKind::Add) == 0,
        || mover.log(),
    );
}

fn pending(q: &EventualQueue, kind: EntryKind) -> usize {
    q.entries(kind).unwrap().len()
}

/// A client of the test server's bucket, to check what the mover did.
fn object_store(s3: &S3TestServer) -> ObjectStore {
    ObjectStore::new(
        &s3.s3_spec(PREFIX),
        Some(s3.access_key()),
        Some(s3.secret_key()),
    )
    .unwrap()
}

/// Download the object and return its checksums (`None` when there is none).
fn download(store: &ObjectStore, sha: &str, dir: &Path) -> Option<Checksums> {
    let rt = runtime();
    rt.block_on(store.head(sha)).unwrap()?;
    let dest = dir.join(format!("download-{sha}"));
    let sums = rt.block_on(store.download_to(sha, &dest)).unwrap();
    std::fs::remove_file(&dest).unwrap();
    Some(sums)
}

fn object_exists(store: &ObjectStore, sha: &str) -> bool {
    runtime().block_on(store.head(sha)).unwrap().is_some()
}

const BIN: &str = env!("CARGO_BIN_EXE_arca-storage-mover");

struct Mover {
    process: Process,
    home: PathBuf,
}

impl Mover {
    fn spawn(home: &Path) -> Mover {
        let log = home.with_extension(format!("mover-{}.log", random_suffix()));
        let mut command = daemon_command(Path::new(BIN), home);
        command.env("ARCA_LOG", "info,arca_storage_mover=debug");
        Mover {
            process: Process::start(command, log, LogFile::Fresh),
            home: home.to_path_buf(),
        }
    }

    /// Start and wait until the control socket answers (it is bound just before READY=1).
    fn start(home: &Path) -> Mover {
        let mut mover = Self::spawn(home);
        let socket = mover.socket();
        mover.process.wait_ready(Duration::from_secs(60), |_| {
            runtime().block_on(mover_proto::status(&socket)).is_ok()
        });
        mover
    }

    fn socket(&self) -> PathBuf {
        Home::new(self.home.clone()).mover_socket()
    }

    fn try_status(&self) -> Result<MoverStatus, arca_storage::StorageError> {
        runtime().block_on(mover_proto::status(&self.socket()))
    }

    fn status(&self) -> MoverStatus {
        self.try_status()
            .unwrap_or_else(|e| panic!("status: {e}; log:\n{}", self.log()))
    }

    fn wake(&self) {
        runtime()
            .block_on(mover_proto::wake(&self.socket()))
            .unwrap();
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// The SHA-256 of every "upload started" debug line: one per `put_file` round.
    fn upload_attempts(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("upload started"))
            .filter_map(|l| {
                // `arca_sha256="…"` on stderr (the journal field has no quotes)
                let at = l.find("arca_sha256=")? + "arca_sha256=".len();
                let value = l[at..].trim_start_matches('"');
                value.get(..64).map(str::to_owned)
            })
            .collect()
    }

    /// SIGTERM and wait for the exit.
    fn stop(mut self) -> ExitStatus {
        self.process.terminate_within(Duration::from_secs(40))
    }
}

#[test]
fn uploads_reach_the_object_store_and_leave_the_queue() {
    let (s3, dir, home, q) = s3_setup();
    // Some waiting before the mover starts (one above multiPartLimit: multipart), some after.
    let mut expected: Vec<(String, usize)> = [10, 0, 300_000, 7_000_000]
        .into_iter()
        .enumerate()
        .map(|(i, len)| (add_entry(&q, &content(&format!("before-{i}"), len)), len))
        .collect();

    let mover = Mover::start(&home);
    let mode = std::fs::metadata(mover.socket())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660, "control socket mode");
    for i in 0..6 {
        let len = 1000 * (i + 1);
        expected.push((add_entry(&q, &content(&format!("after-{i}"), len)), len));
    }
    mover.wake();
    wait_drained(&q, &mover, 60, "the queue to drain");

    let store = object_store(&s3);
    for (sha, len) in &expected {
        let sums = download(&store, sha, dir.path())
            .unwrap_or_else(|| panic!("object {sha} missing; log:\n{}", mover.log()));
        assert_eq!(&sums.sha256, sha, "downloaded content hashes to its name");
        assert_eq!(sums.size, *len as u64);
        assert!(q.pending_add(sha).is_none());
    }
    let status = mover.status();
    assert_eq!(status.uploaded, expected.len() as u64, "{status:?}");
    assert!(status.eventual);
    assert_eq!(
        status.chain,
        "cache-fs -> eventual -> retry -> s3-storage-v3"
    );
    assert_eq!(status.backlog, mover_proto::BacklogStatus::default());
    assert_eq!(status.failures, 0, "{status:?}");
    assert_eq!(status.object_store_reachable, Some(true));
    wait_for(
        Duration::from_secs(10),
        "the drained summary in the journal",
        || mover.log().contains("eventual queue drained"),
        || mover.log(),
    );
    // no claim or temp file is left behind
    let left: Vec<_> = std::fs::read_dir(q.add_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let exit = mover.stop();
    assert!(exit.success(), "exit {exit}");
    assert!(!Home::new(home.to_path_buf()).mover_socket().exists());
}

#[test]
fn an_object_store_outage_loses_nothing() {
    let (s3, dir, home, q) = s3_setup();

    // Down from the start: the mover starts anyway and keeps the backlog.
    s3.stop();
    let mover = Mover::start(&home);
    let status = mover.status();
    assert_eq!(status.object_store_reachable, Some(false), "{status:?}");
    assert!(status.last_error.is_some());
    let mut shas = Vec::new();
    let mut bytes = 0;
    for i in 0..4 {
        let data = content(&format!("outage-{i}"), 50_000 + i);
        bytes += data.len() as u64;
        shas.push(add_entry(&q, &data));
    }
    mover.wake();
    wait_for(
        Duration::from_secs(30),
        "failed upload attempts",
        || mover.status().failures >= 3,
        || mover.log(),
    );
    std::thread::sleep(Duration::from_secs(2));
    let status = mover.status();
    assert_eq!(status.backlog.adds, 4, "{status:?}");
    assert_eq!(status.backlog.add_bytes, bytes);
    assert!(status.backlog.oldest_age_secs.is_some());
    assert_eq!(status.uploaded, 0);
    assert_eq!(status.object_store_reachable, Some(false));
    for sha in &shas {
        assert!(q.pending_add(sha).is_some(), "{sha} must stay queued");
    }
    assert!(mover.log().contains("OBJECT STORE UNREACHABLE"));
    assert_pauses_do_not_overlap(&mover.log());

    // Back: everything drains without a restart or a wake.
    s3.start().unwrap();
    wait_drained(&q, &mover, 90, "the backlog to drain after the outage");
    let store = object_store(&s3);
    for sha in &shas {
        assert_eq!(&download(&store, sha, dir.path()).unwrap().sha256, sha);
    }
    assert!(mover.log().contains("object store reachable again"));

    // Down again while running: new uploads wait, then drain.
    s3.stop();
    let before = mover.status().failures;
    let late = add_entry(&q, &content("late", 123_456));
    mover.wake();
    wait_for(
        Duration::from_secs(30),
        "a failure during the second outage",
        || mover.status().failures > before,
        || mover.log(),
    );
    let status = mover.status();
    assert_eq!(status.backlog.adds, 1, "{status:?}");
    assert_eq!(status.object_store_reachable, Some(false));
    assert!(q.pending_add(&late).is_some());
    s3.start().unwrap();
    wait_drained(&q, &mover, 90, "the second backlog to drain");
    assert_eq!(&download(&store, &late, dir.path()).unwrap().sha256, &late);
    let status = mover.status();
    assert_eq!(status.uploaded, 5, "{status:?}");
    assert_eq!(status.object_store_reachable, Some(true));
    assert!(mover.stop().success());
}

/// The dispatcher's pauses start at the retry interval (100 ms here) and each one begins
/// after the previous ended: workers failing together for the same outage share one pause
/// instead of doubling it once each.
fn assert_pauses_do_not_overlap(log: &str) {
    let pauses: Vec<(f64, u64)> = log
        .lines()
        .filter_map(|line| {
            let ms = line
                .split("; pausing ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            // "2026-11-26T01:30:41.743259Z ..." -> seconds of the day
            let time = line.split('T').nth(1)?.split('Z').next()?;
            let mut parts = time.split(':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next()?.parse().ok()?;
            let s: f64 = parts.next()?.parse().ok()?;
            Some((h * 3600.0 + m * 60.0 + s, ms))
        })
        .collect();
    assert!(
        pauses.len() >= 2,
        "at least two pauses during the outage:\n{log}"
    );
    assert_eq!(
        pauses[0].1, 100,
        "the first pause is the retry interval:\n{log}"
    );
    for pair in pauses.windows(2) {
        let ((t0, ms0), (t1, ms1)) = (pair[0], pair[1]);
        assert!(
            t1 - t0 >= ms0 as f64 / 1000.0 - 0.005,
            "a pause of {ms1} ms began {:.3} s after one of {ms0} ms:\n{log}",
            t1 - t0
        );
        assert_eq!(ms1, ms0 * 2, "pauses double:\n{log}");
    }
}

#[test]
fn two_movers_on_one_queue_upload_each_entry_once() {
    let s3 = S3TestServer::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let one = s3_home(dir.path(), "one", &s3);
    let two = s3_home(dir.path(), "two", &s3);
    // Node two sees node one's queue directory (as an NFS mount would show it) and database.
    let shared = one.join("data/eventual");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::remove_dir_all(two.join("data/eventual")).ok();
    std::os::unix::fs::symlink(&shared, two.join("data/eventual")).unwrap();
    std::fs::write(
        two.join("etc/db.properties"),
        format!("type=sqlite\nurl={}\n", one.join("data/arca.db").display()),
    )
    .unwrap();

    let movers = [Mover::start(&one), Mover::start(&two)];
    let q = queue(&one);
    let shas: Vec<String> = (0..60)
        .map(|i| add_entry(&q, &content(&format!("shared-{i}"), 200_000 + i)))
        .collect();
    for m in &movers {
        m.wake();
    }
    wait_for(
        Duration::from_secs(120),
        "both movers to drain the shared queue",
        || pending(&q, EntryKind::Add) == 0,
        || {
            movers
                .iter()
                .map(Mover::log)
                .collect::<Vec<_>>()
                .join("\n----\n")
        },
    );

    let store = object_store(&s3);
    for sha in &shas {
        assert!(object_exists(&store, sha), "{sha} missing");
    }
    let uploaded: Vec<u64> = movers.iter().map(|m| m.status().uploaded).collect();
    let attempts: Vec<Vec<String>> = movers.iter().map(Mover::upload_attempts).collect();
    let mut per_sha: HashMap<&str, usize> = HashMap::new();
    for sha in attempts.iter().flatten() {
        *per_sha.entry(sha.as_str()).or_default() += 1;
    }
    assert!(
        per_sha.keys().all(|s| shas.iter().any(|x| x == s)),
        "{per_sha:?}"
    );
    let twice: Vec<_> = per_sha.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "uploaded more than once: {twice:?}");
    assert_eq!(per_sha.len(), shas.len(), "every entry was uploaded");
    assert_eq!(
        uploaded.iter().sum::<u64>(),
        shas.len() as u64,
        "{uploaded:?}"
    );
    assert!(
        uploaded.iter().all(|&n| n > 0),
        "both movers worked: {uploaded:?}"
    );
    println!("uploads per mover: {uploaded:?}");
    for m in movers {
        assert!(m.stop().success());
    }
}

#[test]
fn deletes_remove_only_unreferenced_objects() {
    let (s3, _dir, home, q) = s3_setup();
    let mover = Mover::start(&home);

    let data: Vec<Vec<u8>> = (0..3)
        .map(|i| content(&format!("gc-{i}"), 4096 + i))
        .collect();
    let shas: Vec<String> = data.iter().map(|d| add_entry(&q, d)).collect();
    mover.wake();
    wait_drained(&q, &mover, 60, "the uploads");
    let (kept, removed, untouched) = (&shas[0], &shas[1], &shas[2]);

    // `kept` is deployed (a binary row and an item reference it); `removed` is not.
    let db = Db::open_sqlite(&home.join("data/arca.db"), 2).unwrap();
    let sums = Checksums::of_bytes(&data[0]);
    db.write_blocking(|c| {
        repos::insert(c, &Repo::local("generic-local", 1))?;
        let binary = Binary {
            sha256: sums.sha256.clone(),
            sha1: sums.sha1.clone(),
            md5: sums.md5.clone(),
            size: sums.size,
        };
        items::insert_binary(c, &binary, 1)?;
        items::put_file(
            c,
            "generic-local",
            "lib/kept.bin",
            &NewFile::new(binary, "admin", 1),
        )
        .map(drop)
    })
    .unwrap();
    // A pending upload whose deploy was rolled back: unknown to the database.
    let orphan = add_entry(&q, &content("orphan", 777));
    for sha in [kept, removed, &orphan] {
        q.request_delete(sha).unwrap();
    }
    mover.wake();
    wait_for(
        Duration::from_secs(60),
        "the delete requests",
        || pending(&q, EntryKind::Delete) == 0 && pending(&q, EntryKind::Add) == 0,
        || mover.log(),
    );

    let store = object_store(&s3);
    assert!(object_exists(&store, kept), "a referenced binary is kept");
    assert!(
        !object_exists(&store, removed),
        "an unreferenced one is deleted"
    );
    assert!(!object_exists(&store, &orphan));
    assert!(object_exists(&store, untouched));
    assert!(q.pending_add(&orphan).is_none());
    let still_known = db.read_blocking(|c| items::binary_known(c, kept)).unwrap();
    assert!(still_known);
    let status = mover.status();
    assert_eq!(status.deleted, 2, "{status:?}");
    assert!(mover.stop().success());
}

#[test]
fn without_an_eventual_queue_the_mover_idles() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("home");
    Home::new(&root).init_layout().unwrap();

    let out = arca_testkit::check_config(Path::new(BIN), &root);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("chain file-system has no eventual queue and no sharding-cluster"),
        "{stdout}"
    );

    // No master key and no database are needed to idle.
    let mover = Mover::start(&root);
    let status = mover.status();
    assert!(!status.eventual, "{status:?}");
    assert_eq!(status.chain, "file-system");
    assert_eq!(status.object_store_reachable, None);
    mover.wake();
    assert!(mover.log().contains(
        "idle: chain file-system has no eventual queue and no sharding-cluster: the mover idles"
    ));
    // A second mover on the same home refuses to steal the socket.
    let mut second = Mover::spawn(&root);
    let exit = second.process.wait().unwrap();
    assert!(!exit.success());
    assert!(
        second.log().contains("another arca-storage-mover runs"),
        "{}",
        second.log()
    );
    assert!(mover.stop().success());

    std::fs::write(
        root.join("etc/binarystore.xml"),
        r#"<config version="2"><chain template="no-such-template"/></config>"#,
    )
    .unwrap();
    let out = arca_testkit::check_config(Path::new(BIN), &root);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-template"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

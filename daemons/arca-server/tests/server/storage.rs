//! Storage chains end to end: each template round-trips deploy/resolve against the real
//! server (and, for the eventual chains, the real `arca-storage-mover`) with a real S3 server
//! (s3s-fs); corrupt copies are quarantined and served from another tier; bad chains and
//! parameters refuse to start with file, line and key; an S3 outage during uploads loses
//! nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arca_testkit::S3TestServer;
use reqwest::StatusCode;

use super::{Server, Sidecar, free_port, home, run_server_until_exit, sha256_hex};

/// `<chain template=…>` plus an S3 parameter block for `provider_id` pointing at `s3`.
pub(crate) fn s3_binarystore(
    template: &str,
    provider_type: &str,
    s3: &S3TestServer,
    extra: &str,
) -> String {
    format!(
        r#"<config version="2">
  <chain template="{template}"/>
  <provider id="{provider_type}" type="{provider_type}">
    <endpoint>{endpoint}</endpoint>
    <bucketName>{bucket}</bucketName>
    <path>blobs</path>
    <identity>{ak}</identity>
    <credential>{sk}</credential>
    <enablePathStyleAccess>true</enablePathStyleAccess>
    <region>us-east-1</region>
  </provider>
{extra}</config>
"#,
        endpoint = s3.endpoint(),
        bucket = s3.bucket(),
        ak = s3.access_key(),
        sk = s3.secret_key(),
    )
}

fn write_binarystore(h: &Path, xml: &str) {
    std::fs::create_dir_all(h.join("etc")).unwrap();
    std::fs::write(h.join("etc/binarystore.xml"), xml).unwrap();
}

/// Poll `done` until it holds; panic with `what` after `timeout`.
fn wait_for(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    arca_testkit::wait_for(timeout, what, done, String::new);
}

/// Object files s3s-fs holds under the bucket's `blobs/` prefix, by SHA-256 of their content.
pub(crate) fn objects_in(s3: &S3TestServer) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let root = s3.root_dir().join(s3.bucket()).join("blobs");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str())
                && name.len() == 64
            {
                let content = std::fs::read(&p).unwrap();
                out.insert(name.to_string(), sha256_hex(&content));
            }
        }
    }
    out
}

fn dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Cached copies (`<data>/cache/<xx>/<sha>`), not counting `_pre` or quarantine.
fn cached(h: &Path) -> Vec<PathBuf> {
    dir_files(&h.join("data/cache"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 64)
                && !p.to_string_lossy().contains(".quarantine")
        })
        .collect()
}

fn clear_cache(h: &Path) {
    for p in cached(h) {
        std::fs::remove_file(p).unwrap();
    }
}

fn deploy(s: &Server, path: &str, body: Vec<u8>) {
    let r = s.put(path, body);
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{path}: {}",
        r.text().unwrap()
    );
}

fn get_ok(s: &Server, path: &str) -> Vec<u8> {
    let r = s.get(path);
    if r.status() != StatusCode::OK {
        panic!(
            "{path}: {} {}; log: {}",
            r.status(),
            r.text().unwrap(),
            s.log()
        );
    }
    r.bytes().unwrap().to_vec()
}

#[test]
fn s3_storage_v3_eventual_round_trip_through_the_mover() {
    let s3 = S3TestServer::new().unwrap();
    let dir = home();
    let h = dir.path().join("h");
    write_binarystore(
        &h,
        &s3_binarystore("s3-storage-v3", "s3-storage-v3", &s3, ""),
    );
    let s = Server::start_with(&h, &["arca.gc.grace.secs=0", "arca.gc.interval.secs=0"]);
    s.generic_repo("gen");

    // the credentials are encrypted in place at first start
    let xml = std::fs::read_to_string(h.join("etc/binarystore.xml")).unwrap();
    assert!(!xml.contains(s3.secret_key()), "{xml}");
    assert!(xml.contains("<credential>enc:v1:"), "{xml}");
    assert!(
        s.log()
            .contains("storage cache-fs -> eventual -> retry -> s3-storage-v3"),
        "{}",
        s.log()
    );

    let small = b"hello eventual".to_vec();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    deploy(&s, "/gen/a/small.txt", small.clone());
    deploy(&s, "/gen/a/big.bin", big.clone());
    // before the mover ran: served from the queue or the cache
    assert_eq!(get_ok(&s, "/gen/a/small.txt"), small);
    let queued = dir_files(&h.join("data/eventual/_add"));
    assert_eq!(queued.len(), 2, "{queued:?}");

    let mover = Sidecar::mover(&h);
    wait_for(
        "the mover to upload both binaries",
        Duration::from_secs(30),
        || objects_in(&s3).len() == 2 && dir_files(&h.join("data/eventual/_add")).is_empty(),
    );
    let objects = objects_in(&s3);
    for content in [&small, &big] {
        let sha = sha256_hex(content);
        assert_eq!(
            objects.get(&sha),
            Some(&sha),
            "object {sha} has the right content"
        );
    }
    // the summary reports the chain and the mover
    let summary = s.json("/api/system/storage");
    assert_eq!(
        summary["chain"], "cache-fs -> eventual -> retry -> s3-storage-v3",
        "{summary}"
    );
    assert_eq!(summary["backlog"]["adds"], 0, "{summary}");
    assert!(
        summary["mover"].is_object(),
        "{summary}; mover log: {}",
        mover.log()
    );

    // nothing local any more: fetched from S3, verified, cached
    clear_cache(&h);
    assert_eq!(get_ok(&s, "/gen/a/big.bin"), big);
    assert_eq!(get_ok(&s, "/gen/a/small.txt"), small);
    assert_eq!(cached(&h).len(), 2);

    // delete + GC: the objects go through the mover's delete queue
    let r = s
        .admin(reqwest::Method::DELETE, s.url("/gen/a"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = s
        .admin(reqwest::Method::POST, s.url("/api/system/storage/gc"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
    wait_for(
        "the mover to delete both objects",
        Duration::from_secs(30),
        || objects_in(&s3).is_empty(),
    );
    assert!(cached(&h).is_empty());
}

#[test]
fn s3_direct_and_google_storage_round_trip() {
    for (template, provider) in [
        ("s3-storage-v3-direct", "s3-storage-v3"),
        ("google-storage-v2-direct", "google-storage-v2"),
    ] {
        let s3 = S3TestServer::new().unwrap();
        let dir = home();
        let h = dir.path().join("h");
        let mut xml = s3_binarystore(template, provider, &s3, "");
        if provider == "google-storage-v2" {
            // GCS's XML API is always path-style and region-less: no such parameters
            xml = xml
                .lines()
                .filter(|l| !l.contains("enablePathStyleAccess") && !l.contains("<region>"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        write_binarystore(&h, &xml);
        let s = Server::start(&h);
        s.generic_repo("gen");
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
        let sha = sha256_hex(&body);
        deploy(&s, "/gen/x.bin", body.clone());
        // acknowledged = already in the object store
        assert_eq!(objects_in(&s3).get(&sha), Some(&sha), "{template}");
        clear_cache(&h);
        assert_eq!(get_ok(&s, "/gen/x.bin"), body, "{template}");
        assert_eq!(cached(&h).len(), 1, "{template}: fetched copy is cached");
    }
}

#[test]
fn cache_fs_serves_a_corrupt_cached_copy_from_the_filestore() {
    let dir = home();
    let h = dir.path().join("h");
    write_binarystore(
        &h,
        r#"<config version="2">
  <chain template="cache-fs"/>
  <provider id="cache-fs" type="cache-fs">
    <maxCacheSize>100000000</maxCacheSize>
  </provider>
</config>
"#,
    );
    let s = Server::start(&h);
    s.generic_repo("gen");
    let small = b"small and precious".to_vec();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 13) as u8).collect();
    deploy(&s, "/gen/small.txt", small.clone());
    deploy(&s, "/gen/big.bin", big.clone());
    assert_eq!(cached(&h).len(), 2, "uploads are cached");

    // flip one byte in each cached copy
    for p in cached(&h) {
        let mut content = std::fs::read(&p).unwrap();
        content[10] ^= 0xff;
        std::fs::write(&p, content).unwrap();
    }
    // small: verified before sending, served from the filestore in the same request
    assert_eq!(get_ok(&s, "/gen/small.txt"), small);
    // big: verified while streaming; the transfer is aborted, the next one is right
    let first = s.get("/gen/big.bin").bytes();
    assert!(
        first
            .as_ref()
            .map_or(true, |b| b.as_ref() != big.as_slice()),
        "a corrupt copy must never be delivered as a complete response"
    );
    assert_eq!(get_ok(&s, "/gen/big.bin"), big);
    let quarantined = dir_files(&h.join("data/cache/.quarantine"));
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
    assert!(
        s.log().contains("does not match its SHA-256"),
        "{}",
        s.log()
    );
}

#[test]
fn bad_chains_and_parameters_refuse_to_start_with_file_line_and_key() {
    let cases = [
        (
            "<config version=\"2\">\n  <chain template=\"cache-fs\"/>\n  <provider id=\"cache-fs\" type=\"cache-fs\">\n    <maxCacheSize>5GB</maxCacheSize>\n  </provider>\n</config>\n",
            "binarystore.xml:4: maxCacheSize",
        ),
        (
            "<config version=\"2\">\n  <chain template=\"no-such-chain\"/>\n</config>\n",
            "binarystore.xml:2: template: unknown template 'no-such-chain'",
        ),
        (
            "<config version=\"2\">\n  <chain template=\"s3-storage-v3\"/>\n  <provider id=\"s3-storage-v3\" type=\"s3-storage-v3\">\n    <endpoint>http://127.0.0.1:1</endpoint>\n    <bucketNme>b</bucketNme>\n  </provider>\n</config>\n",
            "binarystore.xml:5: bucketNme: unknown parameter 'bucketNme'",
        ),
        (
            "<config version=\"2\">\n  <chain>\n    <provider id=\"c\" type=\"cache-fs\">\n      <provider id=\"r\" type=\"retry\">\n        <provider id=\"fs\" type=\"file-system\"/>\n      </provider>\n    </provider>\n  </chain>\n</config>\n",
            "binarystore.xml",
        ),
    ];
    for (xml, expected) in cases {
        let dir = home();
        let h = dir.path().join("h");
        write_binarystore(&h, xml);
        let out = run_server_until_exit(&h);
        assert!(!out.status.success(), "{xml}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
        assert!(
            !h.join("data/filestore").exists(),
            "nothing started for {xml}"
        );
    }
}

/// 200 uploads while the object store is down for 30 s: every upload is acknowledged, nothing
/// is lost, the backlog drains once S3 is back and every object has the right SHA-256.
#[test]
fn s3_outage_during_uploads_loses_nothing() {
    let s3 = S3TestServer::new().unwrap();
    let dir = home();
    let h = dir.path().join("h");
    let extra = "  <provider id=\"eventual\" type=\"eventual\">\n    <dispatcherInterval>500</dispatcherInterval>\n  </provider>\n  <provider id=\"retry\" type=\"retry\">\n    <interval>200</interval>\n    <maxTrys>2</maxTrys>\n  </provider>\n";
    write_binarystore(
        &h,
        &s3_binarystore("s3-storage-v3", "s3-storage-v3", &s3, extra),
    );
    let s = Server::start(&h);
    s.generic_repo("gen");
    let _mover = Sidecar::mover(&h);

    let outage = Duration::from_secs(30);
    let started = Instant::now();
    s3.stop();
    let mut expected = Vec::new();
    let mut i = 0u32;
    while expected.len() < 200 {
        let body = format!("artifact {i} {}", "x".repeat((i as usize * 97) % 5000)).into_bytes();
        deploy(&s, &format!("/gen/outage/{i}.txt"), body.clone());
        expected.push(sha256_hex(&body));
        i += 1;
        // spread the uploads over the outage
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        objects_in(&s3).is_empty(),
        "nothing can have reached a stopped S3"
    );
    let backlog = s.json("/api/system/storage")["backlog"]["adds"]
        .as_u64()
        .unwrap();
    assert_eq!(backlog, 200);
    if let Some(rest) = outage.checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    s3.start().unwrap();
    wait_for("the backlog to drain", Duration::from_secs(120), || {
        s.json("/api/system/storage")["backlog"]["adds"] == 0
    });
    let objects = objects_in(&s3);
    for sha in &expected {
        assert_eq!(
            objects.get(sha),
            Some(sha),
            "object {sha} in S3 with the right content"
        );
    }
    for n in [0, 99, 199] {
        clear_cache(&h);
        let r = s.get(&format!("/gen/outage/{n}.txt"));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(sha256_hex(&r.bytes().unwrap()), expected[n]);
    }
}

/// `arcactl <args> --home h`: exit code and stdout + stderr.
fn arcactl(h: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(super::sibling_binary("arcactl"))
        .args(args)
        .arg("--home")
        .arg(h)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), super::output_text(&out))
}

#[test]
fn a_chain_change_that_moves_the_binaries_is_refused_until_they_are_migrated() {
    let dir = home();
    let h = dir.path().join("h");
    let mut s = Server::start(&h);
    s.generic_repo("gen");
    // small ones (read whole) and larger ones (streamed)
    let files: Vec<(String, Vec<u8>)> = (0..5u8)
        .map(|i| {
            let len = 1_000 + usize::from(i) * 70_000;
            (
                format!("/gen/dir/f{i}.bin"),
                (0..len).map(|j| (j % 251) as u8 ^ i).collect(),
            )
        })
        .collect();
    for (path, data) in &files {
        assert_eq!(s.put(path, data.clone()).status(), StatusCode::CREATED);
    }
    let password = s.password.clone();
    s.stop();

    // The chain now keeps the binaries in another directory: a start is refused, naming the
    // command to run, and nothing is recorded.
    let other = dir.path().join("other-data");
    write_binarystore(
        &h,
        &format!(
            "<config version=\"2\">\n  <chain template=\"file-system\"/>\n  \
             <provider id=\"file-system\" type=\"file-system\">\n    \
             <baseDataDir>{}</baseDataDir>\n  </provider>\n</config>\n",
            other.display()
        ),
    );
    let mut refused = Server::spawn(&h, "127.0.0.1", free_port(), "/artifactory");
    let status = super::ha::wait_exit(&mut refused);
    let log = refused.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("etc/binarystore.xml changes the storage chain")
            && log.contains("are not where the new chain reads them")
            && log.contains("`arcactl storage migrate`")
            && log.contains("baseDataDir"),
        "{log}"
    );

    // What is missing, with the files that hold it.
    let (code, text) = arcactl(&h, &["storage", "verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("MISSING: binary") && text.contains("gen/dir/f0.bin"),
        "{text}"
    );
    assert!(text.contains("0 of 5 binaries readable"), "{text}");

    let (code, text) = arcactl(&h, &["storage", "migrate", "--dry-run"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("5 copied") && text.contains("dry run"),
        "{text}"
    );
    assert_eq!(
        arcactl(&h, &["storage", "verify"]).0,
        1,
        "a dry run copies nothing"
    );

    // Resumable: a binary the new chain has already (as after an interrupted run) is skipped.
    let first = sha256_hex(&files[0].1);
    let copied = other.join("filestore").join(&first[..2]).join(&first);
    std::fs::create_dir_all(copied.parent().unwrap()).unwrap();
    std::fs::write(&copied, &files[0].1).unwrap();
    let (code, text) = arcactl(&h, &["storage", "migrate"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("done: 5 of 5 binaries checked: 1 already in the new chain, 4 copied")
            && text.contains("recorded '"),
        "{text}"
    );
    let (code, text) = arcactl(&h, &["storage", "verify"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("5 of 5 binaries readable"), "{text}");

    // The server starts with the new chain and serves every file as it was.
    let mut s = Server::spawn(&h, "127.0.0.1", free_port(), "/artifactory");
    s.wait_ready();
    s.password = password;
    for (path, data) in &files {
        let r = s.get(path);
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.bytes().unwrap().as_ref(), data.as_slice(), "{path}");
    }
    assert!(!s.log().contains("MISSING BINARY"));

    // A binary lost from the store is its own error, logged with the file it belongs to.
    let lost = &files[4];
    let sha = sha256_hex(&lost.1);
    let blob = other.join("filestore").join(&sha[..2]).join(&sha);
    std::fs::remove_file(&blob).unwrap_or_else(|e| panic!("{}: {e}", blob.display()));
    let r = s.get(&lost.0);
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = r.text().unwrap();
    assert!(
        body.contains("is missing from this node's storage chain") && body.contains(&sha),
        "{body}"
    );
    let log = s.log();
    assert!(
        log.contains("MISSING BINARY: gen/dir/f4.bin is recorded"),
        "{log}"
    );
    s.stop();
}

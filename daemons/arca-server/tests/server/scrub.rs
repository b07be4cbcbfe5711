//! The background scrubber (docs/storage.md, "Scrubbing"): a pass started over the REST API
//! finds a copy rotted on disk, quarantines it and repairs it where the chain has a good copy;
//! a pass interrupted by a stop continues after the restart; bad settings refuse the start.

use super::*;

/// A stored file: its repository path, content and SHA-256.
struct Stored {
    path: String,
    data: Vec<u8>,
    sha: String,
}

/// Deploy `count` distinct files of `len` bytes into repository `libs` (created here).
fn deploy(s: &Server, count: usize, len: usize) -> Vec<Stored> {
    s.generic_repo("libs");
    (0..count)
        .map(|i| {
            let data: Vec<u8> = (0..len).map(|j| ((j * 13 + i * 101) % 251) as u8).collect();
            let path = format!("/libs/scrub/{i}.bin");
            let r = s.put(&path, data.clone());
            assert_eq!(r.status(), StatusCode::CREATED, "deploy {path}");
            let sha = sha256_hex(&data);
            Stored { path, data, sha }
        })
        .collect()
}

/// Flip one byte in the middle of `file`, on disk.
fn flip_a_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(file, bytes).unwrap();
}

fn blob_path(s: &Server, sha: &str) -> PathBuf {
    s.home.join("data/filestore").join(&sha[..2]).join(sha)
}

/// Files under `dir` (recursively) whose name starts with `prefix`.
fn files_named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            found.extend(files_named(&p, prefix));
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(prefix))
        {
            found.push(p);
        }
    }
    found
}

fn scrub_status(s: &Server) -> Value {
    s.json("/api/system/storage/scrub")
}

/// `POST /api/system/storage/scrub[?query]`: the status and the answer.
fn start_scrub(s: &Server, query: &str) -> (StatusCode, Value) {
    let r = s
        .admin(
            Method::POST,
            s.url(&format!("/api/system/storage/scrub{query}")),
        )
        .send()
        .unwrap();
    let status = r.status();
    (status, r.json().unwrap_or(Value::Null))
}

/// Wait until pass `id` is the last finished one; returns it.
fn wait_finished(s: &Server, id: &str) -> Value {
    let mut last = Value::Null;
    within(Duration::from_secs(60), "the scrub pass to finish", || {
        let status = scrub_status(s);
        let done = status["state"] == "idle" && status["lastPass"]["id"] == id;
        last = status;
        done
    });
    last["lastPass"].clone()
}

#[test]
fn a_scrub_pass_quarantines_a_corrupt_copy_and_reports_it() {
    let (_dir, s) = fresh_server();
    let files = deploy(&s, 3, 100_000);
    let idle = scrub_status(&s);
    assert_eq!(idle["state"], "idle", "{idle}");
    assert_eq!(idle["enabled"], true, "{idle}");
    assert_eq!(idle["rateBytesPerSec"], 20_000_000, "{idle}");
    assert_eq!(idle["intervalHours"], 168, "{idle}");
    assert!(idle["nextPassMs"].as_i64().is_some(), "{idle}");

    let rotten = &files[1];
    flip_a_byte(&blob_path(&s, &rotten.sha));
    let (status, started) = start_scrub(&s, "");
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["started"], true, "{started}");
    let id = started["pass"]["id"].as_str().unwrap().to_string();
    let pass = wait_finished(&s, &id);
    assert_eq!(pass["checked"], 3, "{pass}");
    assert_eq!(pass["total"], 3, "{pass}");
    assert_eq!(pass["ok"], 2, "{pass}");
    assert_eq!(pass["corrupt"], 1, "{pass}");
    // the file-system chain has no other copy
    assert_eq!(pass["unrepairable"], 1, "{pass}");
    assert_eq!(pass["repaired"], 0, "{pass}");
    assert_eq!(pass["readBytes"], 300_000, "{pass}");
    assert!(pass["finishedMs"].as_i64().is_some(), "{pass}");

    // quarantined: gone from its place, kept under .quarantine
    assert!(!blob_path(&s, &rotten.sha).exists());
    let quarantined = files_named(&s.home.join("data/filestore/.quarantine"), &rotten.sha);
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert!(
        s.log()
            .contains(&format!("scrub: binary {} is corrupt", rotten.sha)),
        "the log names the unrepairable binary: {}",
        s.log()
    );
    // the wrong bytes are never served; the good files are
    let r = s.get(&rotten.path);
    let status = r.status();
    let body = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
    assert!(
        status != StatusCode::OK || body == rotten.data,
        "GET of the corrupt file answered {status} with other bytes"
    );
    for good in [&files[0], &files[2]] {
        let r = s.get(&good.path);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().unwrap().to_vec(), good.data);
    }

    // a second pass: the quarantined binary is no longer held here, nothing is corrupt
    let (status, second) = start_scrub(&s, "?rate.mb=0");
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    assert_eq!(second["rateBytesPerSec"], 0, "{second}");
    let second_id = second["pass"]["id"].as_str().unwrap().to_string();
    assert_ne!(second_id, id);
    let pass = wait_finished(&s, &second_id);
    assert_eq!(
        (&pass["ok"], &pass["missing"], &pass["corrupt"]),
        (&2.into(), &1.into(), &0.into()),
        "{pass}"
    );

    let (status, bad) = start_scrub(&s, "?rate.mb=fast");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
}

#[test]
fn a_cache_fs_chain_writes_a_good_copy_back_into_the_store() {
    let dir = home();
    let h = dir.path().join("h");
    std::fs::create_dir_all(h.join("etc")).unwrap();
    std::fs::write(
        h.join("etc/binarystore.xml"),
        "<config version=\"2\"><chain template=\"cache-fs\"/></config>\n",
    )
    .unwrap();
    let s = Server::start(&h);
    let files = deploy(&s, 2, 50_000);
    let rotten = &files[0];
    let stored = blob_path(&s, &rotten.sha);
    let cached: Vec<PathBuf> = files_named(&h.join("data"), &rotten.sha)
        .into_iter()
        .filter(|p| p != &stored)
        .collect();
    assert_eq!(
        cached.len(),
        1,
        "one cached copy besides the store's: {cached:?}"
    );
    flip_a_byte(&stored);

    let (status, started) = start_scrub(&s, "");
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let pass = wait_finished(&s, started["pass"]["id"].as_str().unwrap());
    assert_eq!(pass["corrupt"], 1, "{pass}");
    assert_eq!(pass["repaired"], 1, "{pass}");
    assert_eq!(pass["unrepairable"], 0, "{pass}");
    // the store holds the good content again, the rotten one is in quarantine
    assert_eq!(sha256_hex(&std::fs::read(&stored).unwrap()), rotten.sha);
    assert_eq!(
        files_named(&h.join("data/filestore/.quarantine"), &rotten.sha).len(),
        1
    );
    let r = s.get(&rotten.path);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().to_vec(), rotten.data);
}

#[test]
fn an_interrupted_pass_continues_after_a_restart() {
    let dir = home();
    let h = dir.path().join("h");
    let mut s = Server::start(&h);
    let files = deploy(&s, 4, 1_000_000);
    // 0.5 MB/s: two seconds per binary, so the stop comes in the middle of the pass
    let (status, started) = start_scrub(&s, "?rate.mb=0.5");
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["pass"]["id"].as_str().unwrap().to_string();
    within(Duration::from_secs(30), "a first binary checked", || {
        scrub_status(&s)["pass"]["checked"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    });
    s.stop();

    // the position was saved at the stop
    let state: Value =
        serde_json::from_slice(&std::fs::read(h.join("data/scrub-state.json")).unwrap()).unwrap();
    let saved = &state["pass"];
    assert_eq!(saved["id"], id.as_str(), "{state}");
    let checked = saved["checked"].as_u64().unwrap();
    assert!((1..4).contains(&checked), "stopped mid-pass: {state}");
    let mut order: Vec<&str> = files.iter().map(|f| f.sha.as_str()).collect();
    order.sort_unstable();
    assert_eq!(
        saved["position"],
        order[usize::try_from(checked).unwrap() - 1],
        "{state}"
    );

    // the restarted server continues the same pass after that position (at the configured
    // rate: the request's lasted one run)
    let s = Server::start(&h);
    let now = scrub_status(&s);
    let current = if now["pass"].is_null() {
        &now["lastPass"]
    } else {
        &now["pass"]
    };
    assert_eq!(current["id"], id.as_str(), "{now}");
    assert!(current["checked"].as_u64().unwrap() >= checked, "{now}");
    let pass = wait_finished(&s, &id);
    assert_eq!(pass["checked"], 4, "every binary once: {pass}");
    assert_eq!(pass["ok"], 4, "{pass}");
    assert_eq!(pass["position"], order[3], "{pass}");
    assert!(s.log().contains("continuing scrub pass"), "{}", s.log());
}

#[test]
fn bad_scrub_settings_refuse_to_start_naming_the_key() {
    for (line, key) in [
        (
            "arca.storage.scrub.rate.mb=fast",
            "arca.storage.scrub.rate.mb",
        ),
        ("arca.storage.scrub.rate.mb=0", "arca.storage.scrub.rate.mb"),
        (
            "arca.storage.scrub.enabled=maybe",
            "arca.storage.scrub.enabled",
        ),
        (
            "arca.storage.scrub.interval.hours=0",
            "arca.storage.scrub.interval.hours",
        ),
    ] {
        let dir = home();
        let h = dir.path().join("h");
        std::fs::create_dir_all(h.join("etc")).unwrap();
        std::fs::write(h.join("etc/system.properties"), format!("# c\n{line}\n")).unwrap();
        let out = run_server_until_exit(&h);
        assert!(!out.status.success(), "{line}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("system.properties:2: {key}")),
            "{line}: {stderr}"
        );
    }
}

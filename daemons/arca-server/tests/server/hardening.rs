//! Issue 14's findings of the outside review, one regression test each (`docs/security.md`):
//! malformed request targets, overwrite races, reading by checksum, stored active content,
//! overwrite exemptions, disk full and quotas, the database going away, and the low ones.

use super::*;

use serde_json::json;

const PW: &str = "Corr3ct-horse-battery";

fn admin_json(s: &Server, method: Method, path: &str, body: Value) -> u16 {
    let r = s.admin(method, s.url(path)).json(&body).send().unwrap();
    r.status().as_u16()
}

/// A user with a password (auto-joined to `readers`).
fn user(s: &Server, name: &str) {
    assert_eq!(
        admin_json(
            s,
            Method::PUT,
            &format!("/api/security/users/{name}"),
            json!({ "password": PW }),
        ),
        201
    );
}

/// `actions` for `user` on `repos` (paths `include`, minus `exclude`).
fn grant(s: &Server, name: &str, user: &str, repos: &[&str], actions: &[&str], exclude: &[&str]) {
    let st = admin_json(
        s,
        Method::PUT,
        &format!("/api/v2/security/permissions/{name}"),
        json!({"name": name, "repo": {
            "repositories": repos,
            "include-patterns": ["**"],
            "exclude-patterns": exclude,
            "actions": {"users": {user: actions}}
        }}),
    );
    assert!(st == 200 || st == 201, "grant {name}: {st}");
}

fn as_user(
    s: &Server,
    user: &str,
    method: Method,
    path: &str,
) -> reqwest::blocking::RequestBuilder {
    s.client()
        .request(method, s.url(path))
        .basic_auth(user, Some(PW))
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {creds}\r\n")
}

/// Send raw bytes and read one response (head and `Content-Length` body) within `wait`; the
/// connection may stay open.
fn raw_exchange(s: &Server, bytes: &[u8], wait: Duration) -> String {
    let mut conn = TcpStream::connect((s.ip.as_str(), s.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    conn.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

// ------------------------------------------------------------- 1: request targets

#[test]
fn malformed_request_targets_get_400_and_the_node_keeps_serving() {
    let (_dir, s) = fresh_server();
    // The review's 18-byte packet and its relatives: authority-form and asterisk-form targets
    // made warp panic, and panic = "abort" took the process down.
    for packet in [
        "GET x HTTP/1.1\r\n\r\n",
        "GET a:1 HTTP/1.1\r\nHost: a\r\n\r\n",
        "HEAD example.com HTTP/1.1\r\nHost: a\r\n\r\n",
        "CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "PUT x:8081 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    ] {
        let answer = raw_exchange(&s, packet.as_bytes(), Duration::from_secs(5));
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{packet:?} answered {answer:?}"
        );
        if !packet.starts_with("HEAD") {
            assert!(answer.contains("Malformed request target"), "{answer}");
        }
    }
    // Absolute-form is a valid target (RFC 9112 §3.2.2) and is served.
    let (code, text) = s.raw(&format!(
        "GET http://{}:{}/artifactory/api/system/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        s.ip, s.port
    ));
    assert_eq!(code, 200, "{text}");
    let mut s = s;
    assert!(s.process.is_running(), "the server died: {}", s.log());
    assert_eq!(s.get("/api/system/ping").status(), StatusCode::OK);
}

// ------------------------------------------------------------- 2: overwrite races

/// Start a PUT as `user` of `total` bytes, sending only `sent` of them.
fn partial_put_as(s: &Server, user: &str, path: &str, total: usize, sent: usize) -> TcpStream {
    let mut conn = TcpStream::connect((s.ip.as_str(), s.port)).unwrap();
    let head = format!(
        "PUT /artifactory{path} HTTP/1.1\r\nHost: x\r\n{}Content-Length: {total}\r\nConnection: close\r\n\r\n",
        basic(user, PW)
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&vec![b'd'; sent]).unwrap();
    within(Duration::from_secs(10), "upload staged", || {
        !s.pre_files().is_empty()
    });
    conn
}

fn finish_put(mut conn: TcpStream, rest: usize) -> (u16, String) {
    conn.write_all(&vec![b'd'; rest]).unwrap();
    read_answer(conn)
}

#[test]
fn an_upload_racing_a_publish_or_a_revocation_is_judged_at_commit() {
    let (_dir, s) = fresh_server();
    s.generic_repo("libs");
    user(&s, "deployer");
    grant(
        &s,
        "deploy-libs",
        "deployer",
        &["libs"],
        &["read", "write"],
        &[],
    );
    within(Duration::from_secs(3), "grant applied", || {
        as_user(&s, "deployer", Method::PUT, "/libs/probe.txt")
            .body("p")
            .send()
            .unwrap()
            .status()
            == StatusCode::CREATED
    });

    // The deployer's upload of x starts before x exists; the admin publishes x meanwhile.
    let conn = partial_put_as(&s, "deployer", "/libs/x.bin", 2000, 1000);
    assert_eq!(
        s.put("/libs/x.bin", "admin's").status(),
        StatusCode::CREATED
    );
    let (code, text) = finish_put(conn, 1000);
    assert_eq!(code, 403, "{text}");
    assert!(
        text.contains("overwriting needs the delete permission"),
        "{text}"
    );
    assert_eq!(s.get("/libs/x.bin").text().unwrap(), "admin's");

    // A permission revoked while an upload streams is honoured at its commit, at once (the
    // grants cache is refreshed only every second: the commit reads the grants itself).
    let conn = partial_put_as(&s, "deployer", "/libs/y.bin", 2000, 1000);
    let revoked = s
        .admin(
            Method::DELETE,
            s.url("/api/v2/security/permissions/deploy-libs"),
        )
        .send()
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let (code, text) = finish_put(conn, 1000);
    assert_eq!(code, 403, "{text}");
    assert_eq!(s.get("/libs/y.bin").status(), StatusCode::NOT_FOUND);
    within(Duration::from_secs(5), "staging emptied", || {
        s.pre_files().is_empty()
    });
}

// ------------------------------------------------------------- 3: reading by checksum

#[test]
fn checksums_open_nothing_the_caller_may_not_read() {
    let (_dir, s) = fresh_server();
    s.generic_repo("secret");
    s.generic_repo("mine");
    let secret = b"the secret content".to_vec();
    assert_eq!(
        s.put("/secret/s.bin", secret.clone()).status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.put("/mine/pub/x.jar", "jar content").status(),
        StatusCode::CREATED
    );
    // dev is in no group: it reads and deploys in `mine` only, and may not read *.jar there.
    assert_eq!(
        admin_json(
            &s,
            Method::PUT,
            "/api/security/users/dev",
            json!({ "password": PW, "groups": [] }),
        ),
        201
    );
    grant(
        &s,
        "dev-mine",
        "dev",
        &["mine"],
        &["read", "write"],
        &["**/*.jar"],
    );
    let dev = |m: Method, p: &str| as_user(&s, "dev", m, p);
    within(Duration::from_secs(3), "grants applied", || {
        dev(Method::GET, "/secret/s.bin").send().unwrap().status() == StatusCode::NOT_FOUND
            && dev(Method::PUT, "/mine/ok.txt")
                .body("ok")
                .send()
                .unwrap()
                .status()
                == StatusCode::CREATED
    });

    // Deploy by checksum of a binary dev cannot read anywhere: the same 404 as an unknown one.
    let r = dev(Method::PUT, "/mine/copy.bin")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", sha256_hex(&secret))
        .send()
        .unwrap();
    let (st, msg) = error_message(r);
    assert_eq!(st, StatusCode::NOT_FOUND, "{msg}");
    assert_eq!(
        dev(Method::GET, "/mine/copy.bin").send().unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let r = dev(Method::PUT, "/mine/copy.bin")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha1", sha1_hex(&secret))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A binary dev can read (ok.txt) may be referenced.
    let r = dev(Method::PUT, "/mine/ok-copy.txt")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", sha256_hex(b"ok"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // ... but a wrong md5 with it names no stored checksum.
    let r = dev(Method::PUT, "/mine/ok-copy2.txt")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", sha256_hex(b"ok"))
        .header("X-Checksum-Md5", "0".repeat(32))
        .send()
        .unwrap();
    let (st, msg) = error_message(r);
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(!msg.contains(&md5_hex(b"ok")), "{msg}");

    // Side files of an excluded base file are excluded too.
    assert_eq!(
        dev(Method::GET, "/mine/pub/x.jar").send().unwrap().status(),
        StatusCode::FORBIDDEN
    );
    for side in ["sha1", "sha256", "md5"] {
        let r = dev(Method::GET, &format!("/mine/pub/x.jar.{side}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "x.jar.{side}");
    }
    // ... and uploading a side file of it is no oracle of its checksum.
    let r = dev(Method::PUT, "/mine/pub/x.jar.sha1")
        .body("0".repeat(40))
        .send()
        .unwrap();
    let (st, msg) = error_message(r);
    assert!(st == StatusCode::FORBIDDEN, "{st} {msg}");
    assert!(!msg.contains(&sha1_hex(b"jar content")), "{msg}");
    // The admin's side-file mismatch names no stored checksum either.
    let r = s.put("/mine/pub/x.jar.sha1", "0".repeat(40));
    let (st, msg) = error_message(r);
    assert_eq!(st, StatusCode::CONFLICT);
    assert!(!msg.contains(&sha1_hex(b"jar content")), "{msg}");
}

// ------------------------------------------------------------- 4: stored active content

#[test]
fn stored_active_content_is_sandboxed_and_downloaded_not_rendered() {
    let (_dir, s) = fresh_server();
    s.generic_repo("site");
    let page = "<html><script>fetch('/artifactory/api/security/users')</script></html>";
    for name in ["x.html", "x.svg", "x.xhtml", "x.js", "x.txt", "x.pom"] {
        assert_eq!(
            s.put(&format!("/site/{name}"), page).status(),
            StatusCode::CREATED
        );
    }
    let headers = |name: &str| s.get(&format!("/site/{name}")).headers().clone();
    for active in ["x.html", "x.svg", "x.xhtml", "x.js"] {
        let h = headers(active);
        assert_eq!(h["x-content-type-options"], "nosniff", "{active}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("sandbox"), "{active}: {csp}");
        let disposition = h
            .get("content-disposition")
            .unwrap_or_else(|| panic!("{active}: no Content-Disposition"))
            .to_str()
            .unwrap();
        assert!(
            disposition.starts_with("attachment;") && disposition.contains(active),
            "{active}: {disposition}"
        );
    }
    for passive in ["x.txt", "x.pom"] {
        let h = headers(passive);
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .starts_with("sandbox")
        );
        assert!(h.get("content-disposition").is_none(), "{passive}");
    }
    // API answers are never sniffed either.
    assert_eq!(
        s.get("/api/repositories").headers()["x-content-type-options"],
        "nosniff"
    );
    // A repository may serve its active content inline (still sandboxed).
    let mut config = s.json("/api/repositories/site");
    config["activeContentInline"] = json!(true);
    assert_eq!(
        s.admin(Method::POST, s.url("/api/repositories/site"))
            .json(&config)
            .send()
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        s.json("/api/repositories/site")["activeContentInline"],
        true
    );
    let h = headers("x.html");
    assert!(h.get("content-disposition").is_none());
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
}

// ------------------------------------------------------------- 5: overwrite exemptions

#[test]
fn only_maven_metadata_may_be_overwritten_without_delete() {
    let (_dir, s) = fresh_server();
    s.create_repo(
        "mvn",
        json!({"rclass": "local", "packageType": "maven", "handleSnapshots": true}),
    );
    s.generic_repo("gen");
    user(&s, "ci");
    grant(
        &s,
        "ci-deploy",
        "ci",
        &["mvn", "gen"],
        &["read", "write"],
        &[],
    );
    let put = |path: &str| {
        as_user(&s, "ci", Method::PUT, path)
            .body(format!("content of {path} at {:?}", Instant::now()))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    within(Duration::from_secs(3), "grant applied", || {
        put("/gen/probe.txt") == 201
    });
    // Maven's metadata and its checksums: rewritten on every deploy. (A `.sha1`/`.md5` of a
    // stored file is checked against it, not stored; `.sha512` is stored.)
    let metadata = |content: &str| {
        as_user(&s, "ci", Method::PUT, "/mvn/org/a/maven-metadata.xml")
            .body(content.to_string())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(metadata("<metadata>1</metadata>"), 201);
    assert_eq!(metadata("<metadata>2</metadata>"), 201);
    for _ in 0..2 {
        let r = as_user(&s, "ci", Method::PUT, "/mvn/org/a/maven-metadata.xml.sha1")
            .body(sha1_hex(b"<metadata>2</metadata>"))
            .send()
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(put("/mvn/org/a/maven-metadata.xml.sha512"), 201);
    }
    // Everything else needs delete to be replaced: the review's two, and their relatives.
    for p in [
        "/mvn/org/a/maven-metadata.xml.asc",
        "/mvn/org/a/1.0/tool.bin.sha512",
        "/gen/tool.bin.sha512",
        "/gen/x.md5",
        "/gen/org/a/maven-metadata.xml",
    ] {
        assert_eq!(put(p), 201, "{p}");
        assert_eq!(put(p), 403, "{p} overwritten without delete");
    }
}

// ------------------------------------------------------------- 10: disk full, reserve, quota

/// A tmpfs of `mib` MiB at `dir` (unmounted when dropped).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, mib: u32) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs (the tests run as root)");
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_answers_507_keeps_a_reserve_and_deletes_still_work() {
    let dir = home();
    let h = dir.path().join("h");
    let _disk = SmallDisk::mount(&h, 48);
    let mut s = Server::start_with(
        &h,
        &["arca.storage.reserve.bytes=8MiB", "arca.auth.cache.secs=0"],
    );
    s.generic_repo("g");
    user(&s, "dev");
    grant(
        &s,
        "dev-g",
        "dev",
        &["g"],
        &["read", "write", "delete"],
        &[],
    );
    // Fill the disk with 4 MiB files until the reserve refuses one.
    let mut stored = Vec::new();
    let refusal = loop {
        let body: Vec<u8> = (0..4 << 20)
            .map(|i: u32| (i % 251) as u8 ^ stored.len() as u8)
            .collect();
        let r = s.put(&format!("/g/f{}.bin", stored.len()), body);
        if r.status() == StatusCode::CREATED {
            stored.push(stored.len());
            assert!(stored.len() < 20, "never refused");
            continue;
        }
        break error_message(r);
    };
    assert_eq!(refusal.0, StatusCode::INSUFFICIENT_STORAGE, "{}", refusal.1);
    assert!(refusal.1.contains(" free on "), "{}", refusal.1);
    assert!(
        refusal.1.contains("arca.storage.reserve.bytes"),
        "{}",
        refusal.1
    );
    assert!(s.pre_files().is_empty(), "nothing partial left");
    // A chunked body (no length) is refused too.
    // A chunked body (no length) is refused too, while it streams (the server may answer and
    // close before the client has sent it all).
    let r = s
        .admin(Method::PUT, s.url("/g/chunked.bin"))
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(
            vec![1u8; 6 << 20],
        )))
        .send();
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    }
    assert_eq!(s.get("/g/chunked.bin").status(), StatusCode::NOT_FOUND);
    within(Duration::from_secs(5), "staging emptied", || {
        s.pre_files().is_empty()
    });
    // Reads, uncached logins and deletes keep working: the reserve is their room.
    assert_eq!(s.get("/g/f0.bin").status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            as_user(&s, "dev", Method::GET, "/g/f0.bin")
                .send()
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        as_user(&s, "dev", Method::DELETE, "/g/f0.bin")
            .send()
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    // Stored files are intact.
    let last = stored.len() - 1;
    let expect: Vec<u8> = (0..4 << 20)
        .map(|i: u32| (i % 251) as u8 ^ last as u8)
        .collect();
    assert_eq!(
        s.get(&format!("/g/f{last}.bin")).bytes().unwrap().to_vec(),
        expect
    );

    // Without a reserve the disk really fills: still 507, never 500, and nothing partial.
    s.stop();
    std::fs::write(
        h.join("etc/system.properties"),
        "arca.storage.reserve.bytes=0\narca.auth.cache.secs=0\n",
    )
    .unwrap();
    let s = Server::start(&h);
    let mut answers = Vec::new();
    for i in 0..12 {
        let body = vec![i as u8; 6 << 20];
        let r = s.put(&format!("/g/big{i}.bin"), body);
        answers.push(r.status().as_u16());
        if r.status() != StatusCode::CREATED {
            let (st, msg) = error_message(r);
            assert_eq!(st, StatusCode::INSUFFICIENT_STORAGE, "{msg}");
            break;
        }
    }
    assert_eq!(answers.last(), Some(&507), "{answers:?}");
    within(Duration::from_secs(5), "staging emptied", || {
        s.pre_files().is_empty()
    });
    // The API can free space.
    assert_eq!(
        s.admin(Method::DELETE, s.url("/g/big0.bin"))
            .send()
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    // Another process fills the disk to the last byte: logins (uncached, they write) and
    // reads still work; nothing answers 500.
    let filler = h.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 1 << 16];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    for _ in 0..3 {
        let r = as_user(&s, "dev", Method::GET, "/g/f1.bin").send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login and read on a full disk");
    }
    if !backend_is_postgres() {
        // the SQLite database is on the full disk: the logins were checked read-only
        assert!(s.log().contains("login attempt not counted"), "{}", s.log());
    }
    let r = s.put("/g/no-room.bin", vec![5u8; 1 << 20]);
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        as_user(&s, "dev", Method::DELETE, "/g/f1.bin")
            .send()
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[test]
fn a_repository_quota_is_enforced() {
    let (_dir, s) = fresh_server();
    s.create_repo(
        "q",
        json!({"rclass": "local", "packageType": "generic", "quotaBytes": 1000}),
    );
    assert_eq!(s.json("/api/repositories/q")["quotaBytes"], 1000);
    assert_eq!(s.put("/q/a", vec![1u8; 600]).status(), StatusCode::CREATED);
    // 600 + 500 > 1000: refused before the body is read, and in the commit (chunked body).
    let (st, msg) = error_message(s.put("/q/b", vec![2u8; 500]));
    assert_eq!(st, StatusCode::INSUFFICIENT_STORAGE);
    assert!(msg.contains("quota"), "{msg}");
    let r = s
        .admin(Method::PUT, s.url("/q/b"))
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(vec![
            2u8;
            500
        ])))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    // Replacing a file counts the difference.
    assert_eq!(s.put("/q/a", vec![3u8; 900]).status(), StatusCode::CREATED);
    assert_eq!(s.put("/q/c", vec![3u8; 100]).status(), StatusCode::CREATED);
    assert_eq!(
        s.put("/q/d", vec![3u8; 1]).status(),
        StatusCode::INSUFFICIENT_STORAGE
    );
    assert!(
        s.admin(Method::PUT, s.url("/api/repositories/bad"))
            .json(&json!({"rclass": "local", "quotaBytes": -1}))
            .send()
            .unwrap()
            .status()
            == StatusCode::BAD_REQUEST
    );
}

// ------------------------------------------------------------- low

#[test]
fn database_files_are_private_and_paths_have_one_validator() {
    use std::os::unix::fs::PermissionsExt;
    let dir = home();
    let h = dir.path().join("h");
    let s = Server::start(&h);
    if !backend_is_postgres() {
        for f in std::fs::read_dir(h.join("data")).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.starts_with("arca.db") {
                let mode = f.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
            }
        }
    }
    s.generic_repo("g");
    s.generic_repo("h");
    // Names a direct PUT refuses are refused by copy and move too.
    assert_eq!(s.put("/g/a.txt", "a").status(), StatusCode::CREATED);
    for bad in ["%c0%af", "%EF%BF%BF", "%F4%8F%BF%BFx", "a%00b", "x%5Cy"] {
        let put = s.put(&format!("/g/{bad}"), "x").status();
        assert_eq!(put, StatusCode::BAD_REQUEST, "PUT {bad}");
        for op in ["copy", "move"] {
            let r = s
                .admin(
                    Method::POST,
                    s.url(&format!("/api/{op}/g/a.txt?to=/h/{bad}")),
                )
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{op} to {bad}");
        }
    }
    assert_eq!(
        s.json("/api/storage/h/")["children"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing stored under a refused name"
    );
    // A body with a content coding the server does not decode is refused, not stored as is.
    let auth = s.auth_header();
    let (code, text) = s.raw(&format!(
        "PUT /artifactory/g/z.txt HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ));
    assert!(code == 400 || code == 501, "{text}");
    assert_eq!(s.get("/g/z.txt").status(), StatusCode::NOT_FOUND);
}

#[test]
fn repository_names_cannot_be_enumerated() {
    let (_dir, s) = fresh_server();
    s.generic_repo("hidden");
    assert_eq!(s.put("/hidden/f.txt", "f").status(), StatusCode::CREATED);
    // Anonymous: 401 whether the repository exists or not.
    for path in ["/hidden/f.txt", "/nope/f.txt", "/hidden/", "/nope/"] {
        let r = s.client().get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "anonymous GET {path}");
        let r = s.client().put(s.url(path)).body("x").send().unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "anonymous PUT {path}");
    }
    // A user who may read nothing there: 404 whether it exists or not.
    user(&s, "outsider");
    admin_json(
        &s,
        Method::DELETE,
        "/api/v2/security/permissions/Anything",
        json!({}),
    );
    within(Duration::from_secs(3), "readers lose read", || {
        as_user(&s, "outsider", Method::GET, "/hidden/f.txt")
            .send()
            .unwrap()
            .status()
            == StatusCode::NOT_FOUND
    });
    for path in [
        "/hidden/f.txt",
        "/nope/f.txt",
        "/hidden/",
        "/api/storage/hidden/f.txt",
        "/api/storage/nope/f.txt",
    ] {
        let (st, msg) = error_message(as_user(&s, "outsider", Method::GET, path).send().unwrap());
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {msg}");
    }
}

// ------------------------------------------------------------- 12: database outage

/// A PostgreSQL cluster of this test alone (Debian's binaries, run as `postgres`), so it can be
/// stopped and restarted without disturbing the suite's server. Removed when dropped.
struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let version = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql package (tests/lib/postgres.sh installs it)")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .max_by_key(|v| v.parse::<u32>().unwrap_or(0))
            .unwrap();
        let dir = std::env::temp_dir().join(format!("arca-pg-outage-{}", free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = PrivatePostgres {
            bin: PathBuf::from(format!("/usr/lib/postgresql/{version}/bin")),
            port: free_port(),
            dir,
        };
        pg.run(Command::new("chown").arg("postgres:").arg(&pg.dir));
        pg.run(
            pg.as_postgres(&pg.bin.join("initdb"))
                .arg("-D")
                .arg(pg.dir.join("data"))
                .args([
                    "-U",
                    "arca",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]),
        );
        let conf = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 40\nfsync = on\nshared_buffers = 16MB\n",
            pg.port,
            pg.dir.display()
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(pg.dir.join("data/postgresql.conf"))
            .unwrap();
        f.write_all(conf.as_bytes()).unwrap();
        pg.ctl("start");
        pg
    }

    fn as_postgres(&self, program: &Path) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c.current_dir(&self.dir);
        c
    }

    fn run(&self, cmd: &mut Command) {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            super::output_text(&out)
        );
    }

    /// `pg_ctl start|stop|restart` (fast shutdown: open connections are cut, as in a crash of
    /// the clients' view).
    fn ctl(&self, action: &str) {
        let mut cmd = self.as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-m", "fast", action]);
        self.run(&mut cmd);
    }

    fn db_properties(&self) -> String {
        format!(
            "type=postgresql\nurl=postgresql://127.0.0.1:{}/postgres\nusername=arca\npassword=unused\n\
             pool.max.active=8\npool.max.idle=2\npool.lock.max=2\n",
            self.port
        )
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut cmd = self.as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"]);
        let _ = cmd.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_database_outage_answers_503_with_retry_after_and_loses_nothing() {
    let pg = PrivatePostgres::start();
    let dir = home();
    let h = dir.path().join("h");
    std::fs::create_dir_all(h.join("etc")).unwrap();
    std::fs::write(h.join("etc/db.properties"), pg.db_properties()).unwrap();
    let s = Server::start(&h);
    s.generic_repo("g");
    assert_eq!(
        s.put("/g/existing.txt", "existing").status(),
        StatusCode::CREATED
    );

    // A deploy/resolve loop runs through two restarts and a 4 s outage.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loop_stop = stop.clone();
    let (url, password) = (s.url(""), s.password.clone());
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let worker = std::thread::spawn(move || {
        let mut statuses: Vec<(String, u16)> = Vec::new();
        let mut acked: Vec<usize> = Vec::new();
        let mut i = 0;
        while !loop_stop.load(std::sync::atomic::Ordering::SeqCst) {
            let put = client
                .put(format!("{url}/g/loop/{i}.txt"))
                .basic_auth("admin", Some(&password))
                .body(format!("content {i}"))
                .send();
            if let Ok(r) = put {
                statuses.push((format!("PUT {i}"), r.status().as_u16()));
                if r.status() == StatusCode::CREATED {
                    acked.push(i);
                }
            }
            let probe = acked
                .last()
                .map_or("existing.txt".to_string(), |n| format!("loop/{n}.txt"));
            if let Ok(r) = client
                .get(format!("{url}/g/{probe}"))
                .basic_auth("admin", Some(&password))
                .send()
            {
                statuses.push((format!("GET {probe}"), r.status().as_u16()));
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        (statuses, acked)
    });

    std::thread::sleep(Duration::from_secs(1));
    pg.ctl("restart");
    std::thread::sleep(Duration::from_secs(1));
    pg.ctl("stop");
    // While the database is away: 503 with Retry-After on reads, writes and the API (asked at
    // once: each waits for the pool's connection timeout first).
    std::thread::scope(|scope| {
        let checks: Vec<_> = [
            (Method::GET, "/g/existing.txt"),
            (Method::PUT, "/g/during-outage.txt"),
            (Method::GET, "/api/storage/g/existing.txt"),
            (Method::DELETE, "/g/existing.txt"),
        ]
        .into_iter()
        .map(|(method, path)| {
            let s = &s;
            scope.spawn(move || {
                let r = s
                    .admin(method.clone(), s.url(path))
                    .body("x")
                    .send()
                    .unwrap();
                assert_eq!(
                    r.status(),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{method} {path}"
                );
                assert!(r.headers().contains_key("retry-after"), "{method} {path}");
            })
        })
        .collect();
        for check in checks {
            check.join().unwrap();
        }
    });
    pg.ctl("start");
    let back = within(
        Duration::from_secs(15),
        "service back after the restart",
        || s.get("/g/existing.txt").status() == StatusCode::OK,
    );
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (statuses, acked) = worker.join().unwrap();

    let wrong: Vec<&(String, u16)> = statuses
        .iter()
        .filter(|(_, st)| !matches!(st, 200 | 201 | 503))
        .collect();
    assert!(
        wrong.is_empty(),
        "answers other than 200/201/503: {wrong:?}"
    );
    assert!(
        statuses.iter().any(|(_, st)| *st == 503),
        "the loop never saw the outage"
    );
    assert!(
        acked.len() > 10,
        "too few uploads acknowledged: {}",
        acked.len()
    );
    for n in &acked {
        let r = s.get(&format!("/g/loop/{n}.txt"));
        assert_eq!(r.status(), StatusCode::OK, "acknowledged upload {n} lost");
        assert_eq!(r.text().unwrap(), format!("content {n}"));
    }
    let outage_answers = statuses.iter().filter(|(_, st)| *st == 503).count();
    eprintln!(
        "database outage: {} requests, {} acknowledged uploads all readable, {outage_answers} \
         answered 503, service back {back:?} after the restart",
        statuses.len(),
        acked.len()
    );
    assert!(back < Duration::from_secs(10), "back after {back:?}");
    assert_eq!(s.get("/g/existing.txt").text().unwrap(), "existing");
}

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

fn as_user(s: &Server, user: &str, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    s.client()
        .request(method, s.url(path))
        .basic_auth(user, Some(PW))
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {creds}\r\n")
}

/// Send raw bytes and read what comes back within `wait` (the connection may stay open).
fn raw_exchange(s: &Server, bytes: &[u8], wait: Duration) -> String {
    let mut conn = TcpStream::connect((s.ip.as_str(), s.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    conn.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&out).contains("\r\n\r\n") && out.ends_with(b"}") {
                    break;
                }
            }
            Err(_) => continue,
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

// ------------------------------------------------------------- 1: request targets

#[test]
fn malformed_request_targets_get_400_and_the_node_keeps_serving() {
    let dir = home();
    let s = Server::start(&dir.path().join("h"));
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
        assert!(answer.contains("Malformed request target"), "{answer}");
    }
    // Absolute-form is a valid target (RFC 9112 §3.2.2) and is served.
    let (code, text) = s.raw(&format!(
        "GET http://{}:{}/artifactory/api/system/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        s.ip, s.port
    ));
    assert_eq!(code, 200, "{text}");
    let mut s = s;
    assert!(
        s.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the server died: {}",
        s.log()
    );
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
    within(Duration::from_secs(10), "upload staged", || !s.pre_files().is_empty());
    conn
}

fn finish_put(mut conn: TcpStream, rest: usize) -> (u16, String) {
    conn.write_all(&vec![b'd'; rest]).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[test]
fn an_upload_racing_a_publish_or_a_revocation_is_judged_at_commit() {
    let dir = home();
    let s = Server::start(&dir.path().join("h"));
    s.generic_repo("libs");
    user(&s, "deployer");
    grant(&s, "deploy-libs", "deployer", &["libs"], &["read", "write"], &[]);
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
    assert_eq!(s.put("/libs/x.bin", "admin's").status(), StatusCode::CREATED);
    let (code, text) = finish_put(conn, 1000);
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("overwriting needs the delete permission"), "{text}");
    assert_eq!(s.get("/libs/x.bin").text().unwrap(), "admin's");

    // A permission revoked while an upload streams is honoured at its commit, at once (the
    // grants cache is refreshed only every second: the commit reads the grants itself).
    let conn = partial_put_as(&s, "deployer", "/libs/y.bin", 2000, 1000);
    assert_eq!(
        s.admin(
            Method::DELETE,
            s.url("/api/v2/security/permissions/deploy-libs")
        )
        .send()
        .unwrap()
        .status()
        .as_u16(),
        204
    );
    let (code, text) = finish_put(conn, 1000);
    assert_eq!(code, 403, "{text}");
    assert_eq!(s.get("/libs/y.bin").status(), StatusCode::NOT_FOUND);
    within(Duration::from_secs(5), "staging emptied", || s.pre_files().is_empty());
}

// ------------------------------------------------------------- 3: reading by checksum

#[test]
fn checksums_open_nothing_the_caller_may_not_read() {
    let dir = home();
    let s = Server::start(&dir.path().join("h"));
    s.generic_repo("secret");
    s.generic_repo("mine");
    let secret = b"the secret content".to_vec();
    assert_eq!(s.put("/secret/s.bin", secret.clone()).status(), StatusCode::CREATED);
    assert_eq!(s.put("/mine/pub/x.jar", "jar content").status(), StatusCode::CREATED);
    user(&s, "dev");
    // dev reads and deploys in `mine` only, and may not read *.jar there...
    admin_json(
        &s,
        Method::PUT,
        "/api/v2/security/permissions/Anything",
        json!({"name": "Anything", "repo": {"repositories": ["mine"], "include-patterns": ["**"],
               "actions": {"groups": {"readers": ["read"]}}}}),
    );
    grant(&s, "dev-mine", "dev", &["mine"], &["read", "write"], &["**/*.jar"]);
    let dev = |m: Method, p: &str| as_user(&s, "dev", m, p);
    within(Duration::from_secs(3), "grants applied", || {
        dev(Method::GET, "/secret/s.bin").send().unwrap().status() == StatusCode::FORBIDDEN
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
    assert_eq!(dev(Method::GET, "/mine/copy.bin").send().unwrap().status(), StatusCode::NOT_FOUND);
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
    assert_eq!(dev(Method::GET, "/mine/pub/x.jar").send().unwrap().status(), StatusCode::FORBIDDEN);
    for side in ["sha1", "sha256", "md5"] {
        let r = dev(Method::GET, &format!("/mine/pub/x.jar.{side}")).send().unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "x.jar.{side}");
    }
    // ... and uploading a side file of it is no oracle of its checksum.
    let r = dev(Method::PUT, "/mine/pub/x.jar.sha1").body("0".repeat(40)).send().unwrap();
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
    let dir = home();
    let s = Server::start(&dir.path().join("h"));
    s.generic_repo("site");
    let page = "<html><script>fetch('/artifactory/api/security/users')</script></html>";
    for name in ["x.html", "x.svg", "x.xhtml", "x.js", "x.txt", "x.pom"] {
        assert_eq!(s.put(&format!("/site/{name}"), page).status(), StatusCode::CREATED);
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
        assert!(h["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
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
    assert_eq!(s.json("/api/repositories/site")["activeContentInline"], true);
    let h = headers("x.html");
    assert!(h.get("content-disposition").is_none());
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(h["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
}

// ------------------------------------------------------------- 5: overwrite exemptions

#[test]
fn only_maven_metadata_may_be_overwritten_without_delete() {
    let dir = home();
    let s = Server::start(&dir.path().join("h"));
    s.create_repo(
        "mvn",
        json!({"rclass": "local", "packageType": "maven", "handleSnapshots": true}),
    );
    s.generic_repo("gen");
    user(&s, "ci");
    grant(&s, "ci-deploy", "ci", &["mvn", "gen"], &["read", "write"], &[]);
    let put = |path: &str| {
        as_user(&s, "ci", Method::PUT, path)
            .body(format!("content of {path} at {:?}", Instant::now()))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    within(Duration::from_secs(3), "grant applied", || put("/gen/probe.txt") == 201);
    // Maven's metadata and its checksums: rewritten on every deploy.
    for p in [
        "/mvn/org/a/maven-metadata.xml",
        "/mvn/org/a/maven-metadata.xml.sha1",
        "/mvn/org/a/maven-metadata.xml.sha512",
    ] {
        assert_eq!(put(p), 201, "{p}");
        assert_eq!(put(p), 201, "{p} again");
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
    let mut s = Server::start_with(&h, &["arca.storage.reserve.bytes=8MiB", "arca.auth.cache.secs=0"]);
    s.generic_repo("g");
    user(&s, "dev");
    grant(&s, "dev-g", "dev", &["g"], &["read", "write", "delete"], &[]);
    // Fill the disk with 4 MiB files until the reserve refuses one.
    let mut stored = Vec::new();
    let refusal = loop {
        let body: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8 ^ stored.len() as u8).collect();
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
    assert!(refusal.1.contains("arca.storage.reserve.bytes"), "{}", refusal.1);
    assert!(s.pre_files().is_empty(), "nothing partial left");
    // A chunked body (no length) is refused too.
    let r = s
        .admin(Method::PUT, s.url("/g/chunked.bin"))
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(vec![1u8; 6 << 20])))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    // Reads, uncached logins and deletes keep working: the reserve is their room.
    assert_eq!(s.get("/g/f0.bin").status(), StatusCode::OK);
    for _ in 0..3 {
        assert_eq!(
            as_user(&s, "dev", Method::GET, "/g/f0.bin").send().unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        as_user(&s, "dev", Method::DELETE, "/g/f0.bin").send().unwrap().status(),
        StatusCode::NO_CONTENT
    );
    // Stored files are intact.
    let last = stored.len() - 1;
    let expect: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8 ^ last as u8).collect();
    assert_eq!(s.get(&format!("/g/f{last}.bin")).bytes().unwrap().to_vec(), expect);

    // Without a reserve the disk really fills: still 507, never 500, and nothing partial.
    s.stop();
    std::fs::write(h.join("etc/system.properties"), "arca.storage.reserve.bytes=0\n").unwrap();
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
    within(Duration::from_secs(5), "staging emptied", || s.pre_files().is_empty());
    // The API can free space.
    assert_eq!(
        s.admin(Method::DELETE, s.url("/g/big0.bin")).send().unwrap().status(),
        StatusCode::NO_CONTENT
    );
}

#[test]
fn a_repository_quota_is_enforced() {
    let dir = home();
    let s = Server::start(&dir.path().join("h"));
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
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(vec![2u8; 500])))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
    // Replacing a file counts the difference.
    assert_eq!(s.put("/q/a", vec![3u8; 900]).status(), StatusCode::CREATED);
    assert_eq!(s.put("/q/c", vec![3u8; 100]).status(), StatusCode::CREATED);
    assert_eq!(s.put("/q/d", vec![3u8; 1]).status(), StatusCode::INSUFFICIENT_STORAGE);
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
    for bad in ["%c0%af", "%EF%BF%BF", "%F4%8F%BF%BFx", "a%00b", "%2e%2e"] {
        let put = s.put(&format!("/g/{bad}"), "x").status();
        assert_eq!(put, StatusCode::BAD_REQUEST, "PUT {bad}");
        for op in ["copy", "move"] {
            let r = s
                .admin(Method::POST, s.url(&format!("/api/{op}/g/a.txt?to=/h/{bad}")))
                .send()
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{op} to {bad}");
        }
    }
    assert_eq!(
        s.json("/api/storage/h/")["children"].as_array().unwrap().len(),
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
    let dir = home();
    let s = Server::start(&dir.path().join("h"));
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
        as_user(&s, "outsider", Method::GET, "/hidden/f.txt").send().unwrap().status()
            == StatusCode::NOT_FOUND
    });
    for path in ["/hidden/f.txt", "/nope/f.txt", "/hidden/", "/api/storage/hidden/f.txt", "/api/storage/nope/f.txt"] {
        let (st, msg) = error_message(as_user(&s, "outsider", Method::GET, path).send().unwrap());
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {msg}");
    }
}

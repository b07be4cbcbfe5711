//! `arcactl storage scrub` against a running single-node `arca-server` (SQLite): without a
//! terminal it prints a line per progress report and the summary; its exit status says
//! whether a corrupt binary was left unrepaired, and that the server is not running.

use std::path::Path;
use std::time::Duration;

use arca_config::Home;
use arca_testkit::{LogFile, Process, daemon_command, free_port, sibling_binary};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Node {
    server: Process,
    home: Home,
    url: String,
    password: String,
    _dir: tempfile::TempDir,
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("HTTP client")
}

impl Node {
    fn start() -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path().join("arca"));
        let port = free_port();
        let mut command = daemon_command(&sibling_binary("arca-server"), home.root());
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("ARCA_HOME");
        let mut server = Process::start(command, home.root().with_extension("log"), LogFile::Fresh);
        let url = format!("http://127.0.0.1:{port}/artifactory");
        let ping = format!("{url}/api/system/ping");
        server.wait_ready(Duration::from_secs(30), |_| {
            http()
                .get(&ping)
                .send()
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        });
        let password = std::fs::read_to_string(home.initial_admin_password())
            .expect("admin password")
            .trim()
            .to_string();
        Node {
            server,
            home,
            url,
            password,
            _dir: dir,
        }
    }

    fn put(&self, path: &str, body: Vec<u8>) -> u16 {
        http()
            .put(format!("{}{path}", self.url))
            .basic_auth("admin", Some(&self.password))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("PUT")
            .status()
            .as_u16()
    }
}

fn scrub(home: &Home, extra: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(["storage", "scrub", "--home"])
        .arg(home.root())
        .args(extra)
        .env_remove("ARCA_HOME")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run arcactl");
    (
        out.status.code().expect("exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn storage_scrub_follows_a_pass_and_its_exit_status_says_what_it_found() {
    let mut node = Node::start();
    assert_eq!(
        node.put(
            "/api/repositories/libs",
            br#"{"rclass":"local","packageType":"generic"}"#.to_vec()
        ),
        200
    );
    let mut shas = Vec::new();
    for i in 0..3u8 {
        let data = vec![i; 300_000];
        assert_eq!(node.put(&format!("/libs/f{i}.bin"), data.clone()), 201);
        shas.push(arca_crypto::sha256_hex(&data));
    }

    // a clean store: exit 0, the summary counts every binary
    let (code, out, err) = scrub(&node.home, &["--rate-mb", "0"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("started scrub pass"), "{out}");
    assert!(out.contains("reading at no rate limit"), "{out}");
    assert!(
        out.contains("3 binaries checked") && out.contains("3 ok") && out.contains("0 corrupt"),
        "{out}"
    );

    // one copy rotted on disk (the file-system chain has no other copy): exit 1, named
    let blob = node
        .home
        .data()
        .join("filestore")
        .join(&shas[2][..2])
        .join(&shas[2]);
    let mut bytes = std::fs::read(&blob).expect("stored blob");
    bytes[1000] ^= 1;
    std::fs::write(&blob, bytes).expect("corrupt the blob");
    // 0.1 MB/s: about 9 s, so a progress line (every 5 s) is printed on the way
    let (code, out, err) = scrub(&node.home, &["--rate-mb", "0.1"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("1 corrupt (0 repaired, 1 unrepairable)"),
        "{out}"
    );
    assert!(out.contains("arcactl storage verify"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("scrub ") && l.contains("% (")),
        "a plain progress line: {out}"
    );
    assert!(!out.contains('\r'), "no terminal: no bar: {out:?}");

    // bad rate: usage error, nothing started
    let (code, _, err) = scrub(&node.home, &["--rate-mb", "fast"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--rate-mb"), "{err}");

    // --no-wait returns once the pass started
    let (code, out, err) = scrub(&node.home, &["--no-wait"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("finished"), "{out}");

    // no server: exit 3, said plainly
    node.server.terminate();
    let (code, out, err) = scrub(&node.home, &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("arca-server is not running"), "{err}");
    assert!(!Path::new(&node.home.server_socket()).exists());
}

//! Runs the built `arcactl` binary against temporary homes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use arca_config::Home;
use arca_testkit::{LogFile, Process, daemon_command, free_port, sibling_binary, wait_for};

fn arcactl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(args)
        .env_remove("ARCA_HOME")
        .output()
        .expect("run arcactl")
}

fn check(home: &Path) -> (i32, String, String) {
    let out = arcactl(&[
        "config",
        "check",
        "--home",
        home.to_str().expect("utf-8 path"),
    ]);
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fresh_home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = Home::new(dir.path().join("arca"));
    home.init_layout().expect("init layout");
    (dir, home)
}

/// `arcactl config check` exits 1, prints nothing on stdout and names `file:<what>` on stderr.
fn assert_refused_naming(home: &Home, file: PathBuf, what: &str) {
    let (code, out, err) = check(home.root());
    assert_eq!(code, 1, "stderr: {err}");
    assert_eq!(out, "");
    let expected = format!("error: {}:{what}", file.display());
    assert!(err.contains(&expected), "stderr: {err}");
}

/// `arcactl master-key check --home <home>`.
fn master_key_check(home: &Home) -> Output {
    let root = home.root().to_str().expect("utf-8 path");
    arcactl(&["master-key", "check", "--home", root])
}

fn put(path: PathBuf, text: impl AsRef<str>) {
    fs::write(&path, text.as_ref()).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn good_home_exits_0() {
    let (_dir, home) = fresh_home();
    let (code, out, err) = check(home.root());
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, format!("config OK: {}\n", home.root().display()));
    assert_eq!(err, "");
}

#[test]
fn home_from_environment() {
    let (_dir, home) = fresh_home();
    let out = Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(["config", "check"])
        .env("ARCA_HOME", home.root())
        .output()
        .expect("run arcactl");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("config OK: "));
}

#[test]
fn ha_node_interface_with_comment_exits_1_naming_file_line_key() {
    let (_dir, home) = fresh_home();
    put(
        home.db_properties(),
        "type=postgresql\nurl=jdbc:postgresql://db.example:5432/arca\n",
    );
    put(
        home.ha_node_properties(),
        "node.id=art1\ncontext.url=http://10.0.0.1:8081/artifactory\nprimary=true\n\
         cluster.interface=192.168.0.2 (optional)\n",
    );
    assert_refused_naming(
        &home,
        home.ha_node_properties(),
        "4: cluster.interface: '192.168.0.2 (optional)'",
    );
}

#[test]
fn sqlite_in_ha_exits_1() {
    let (_dir, home) = fresh_home();
    put(
        home.ha_node_properties(),
        "node.id=art1\ncontext.url=http://h:8081/a\nprimary=true\n",
    );
    let (code, _, err) = check(home.root());
    assert_eq!(code, 1);
    assert!(
        // arca-config words it "…sqlite is only for a single node…" (older: "for single node")
        err.contains("db.properties:")
            && err.contains(": type: ")
            && err.contains("sqlite is only for"),
        "stderr: {err}"
    );
}

#[test]
fn unknown_binarystore_template_exits_1_naming_it() {
    let (_dir, home) = fresh_home();
    put(
        home.binarystore_xml(),
        "<config version=\"2\">\n    <chain template=\"my-magic-store\"/>\n</config>\n",
    );
    assert_refused_naming(
        &home,
        home.binarystore_xml(),
        "2: template: unknown template 'my-magic-store'",
    );
}

#[test]
fn home_defaults_to_the_packaged_location() {
    let out = Command::new(env!("CARGO_BIN_EXE_arcactl"))
        .args(["master-key", "check"])
        .env_remove("ARCA_HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/var/lib/arca/etc/security/master.key"),
        "{err}"
    );
}

#[test]
fn unknown_subcommand_is_usage_error() {
    assert_eq!(arcactl(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        arcactl(&["config", "check", "--home"]).status.code(),
        Some(2)
    );
}

#[test]
fn help_exits_0() {
    let out = arcactl(&["config", "check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ARCA_HOME"));
}

#[test]
fn nonexistent_home_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = check(&dir.path().join("missing"));
    assert_eq!(code, 1);
    assert!(
        err.contains("home directory does not exist"),
        "stderr: {err}"
    );
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[test]
fn master_key_generate_prints_32_hex_and_differs() {
    let a = arcactl(&["master-key", "generate"]);
    let b = arcactl(&["master-key", "generate"]);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(b.status.code(), Some(0));
    assert!(a.stderr.is_empty());
    let a = String::from_utf8(a.stdout).expect("utf-8");
    let b = String::from_utf8(b.stdout).expect("utf-8");
    assert_eq!(a.len(), 33, "{a:?}");
    assert!(a.ends_with('\n'));
    assert!(is_lower_hex(a.trim_end()), "{a:?}");
    assert_ne!(a, b);
}

#[test]
fn master_key_check_valid_key_prints_kcv() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, home) = fresh_home();
    let key = "00112233445566778899aabbccddeeff";
    fs::create_dir_all(home.security()).expect("mkdir security");
    put(home.master_key(), format!("{key}\n"));
    fs::set_permissions(home.master_key(), fs::Permissions::from_mode(0o600)).expect("chmod");
    let root = home.root().to_str().expect("utf-8 path");
    let out = arcactl(&["master-key", "check", "--home", root]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
    let kcv = arca_crypto::key_check_value(&[
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ]);
    assert_eq!(stdout, format!("{kcv}\n"));
    assert!(!stdout.contains(key));

    // group/world readable: still exit 0, with a warning naming the file
    fs::set_permissions(home.master_key(), fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = arcactl(&["master-key", "check", "--home", root]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{kcv}\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: {}: permissions 0644",
            home.master_key().display()
        )),
        "stderr: {stderr}"
    );
}

#[test]
fn master_key_check_missing_file_exits_1_naming_path() {
    let (_dir, home) = fresh_home();
    let out = master_key_check(&home);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&home.master_key().display().to_string()) && stderr.contains("missing"),
        "stderr: {stderr}"
    );
}

#[test]
fn master_key_check_invalid_file_exits_1() {
    let (_dir, home) = fresh_home();
    fs::create_dir_all(home.security()).expect("mkdir security");
    put(home.master_key(), "0011");
    let out = master_key_check(&home);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&home.master_key().display().to_string())
            && stderr.contains("32 hexadecimal"),
        "stderr: {stderr}"
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn root_of(home: &Home) -> &str {
    home.root().to_str().expect("utf-8 path")
}

#[test]
fn node_drain_without_url_creates_and_undrain_removes_the_flag() {
    let (_dir, home) = fresh_home();
    let flag = home.run_dir().join("drain");
    let out = arcactl(&["node", "drain", "--home", root_of(&home)]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(flag.exists());
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("drained: created {}", flag.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("not confirmed with the running node"),
        "{stdout}"
    );

    let out = arcactl(&["node", "undrain", "--home", root_of(&home)]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(!flag.exists());
    let out = arcactl(&["node", "undrain", "--home", root_of(&home)]);
    assert_eq!(out.status.code(), Some(0), "absent flag is fine");
    assert!(text(&out.stdout).starts_with("not drained: "));
}

#[test]
fn ha_check_on_a_fresh_single_node_home_exits_1() {
    let (_dir, home) = fresh_home();
    let out = arcactl(&["ha", "check", "--home", root_of(&home)]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for line in stdout.lines() {
        assert!(
            line.starts_with("OK   ") || (line.starts_with("FAIL ") && line.contains(" — fix: ")),
            "line format: {line:?}"
        );
    }
    assert!(stdout.contains("FAIL database reachable: "), "{stdout}");
    assert!(
        stdout.contains("FAIL URL base (arca.url.base): not set in "),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).starts_with("ha check failed: "),
        "{}",
        text(&out.stderr)
    );
}

// --- against the real arca-server (PostgreSQL from ARCA_TEST_PG_URL) ---

/// `arca-server`, built by the test kit (it is not a dependency: cargo does not build it for
/// this test).
fn server_binary() -> PathBuf {
    sibling_binary("arca-server")
}

fn agent_binary() -> PathBuf {
    sibling_binary("arca-license-agent")
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("HTTP client")
}

const LB: &str = "http://lb.example:8080/artifactory";

/// A running HA primary `node-a` on its own PostgreSQL database; stopped (SIGTERM) on drop.
struct RunningServer {
    server: Process,
    /// The node's arca-license-agent (an HA node needs a license to serve), started once the
    /// server created the master key.
    agent: Option<Process>,
    home: Home,
    /// `context.url`: `http://127.0.0.1:<port>/artifactory`.
    url: String,
    db: arca_testkit::PgTestDb,
    _dir: tempfile::TempDir,
}

impl RunningServer {
    fn start() -> RunningServer {
        let db = arca_testkit::PgTestDb::create().expect("create a test database");
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path().join("arca"));
        fs::create_dir_all(home.etc()).expect("mkdir etc");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/artifactory");
        fs::write(
            home.db_properties(),
            db.db_properties().expect("db.properties"),
        )
        .expect("write db.properties");
        put(
            home.ha_node_properties(),
            format!("node.id=node-a\ncontext.url={url}\nprimary=true\n"),
        );
        put(
            home.system_properties(),
            format!("arca.url.base={LB}\narca.license.agent.interval.secs=1\n"),
        );
        // One license in the pool (etc/cluster.license, read at the first start).
        let issuer = arca_license::Issuer::generate();
        let issuers = home.security().join(arca_license::TRUSTED_ISSUERS_DIR);
        fs::create_dir_all(&issuers).expect("mkdir license-issuers");
        issuer
            .public_key()
            .save(&issuers.join("test.pub"))
            .expect("write the issuer's public key");
        let today = time::OffsetDateTime::now_utc().date();
        let key = issuer
            .issue(&arca_license::NewLicense {
                licensee: "arcactl tests",
                license_type: "Enterprise",
                valid_through: today + time::Duration::days(365),
                issued: today,
            })
            .expect("issue a license");
        fs::write(home.etc().join("cluster.license"), key + "\n").expect("write cluster.license");
        let mut command = daemon_command(&server_binary(), home.root());
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("ARCA_HOME");
        let server_log = home.root().with_extension("log");
        let mut server = RunningServer {
            server: Process::start(command, server_log, LogFile::Fresh),
            agent: None,
            home,
            url,
            db,
            _dir: dir,
        };
        let ping = format!("{}/api/system/ping", server.url);
        server.server.wait_ready(Duration::from_secs(30), |_| {
            http()
                .get(&ping)
                .send()
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        });
        let mut agent = daemon_command(&agent_binary(), server.home.root());
        agent.env_remove("ARCA_HOME");
        let agent_log = server.home.root().with_extension("agent.log");
        server.agent = Some(Process::start(agent, agent_log, LogFile::Fresh));
        server.wait_licensed();
        server
    }

    /// Until readiness answers 200: the agent claimed the pool's license.
    fn wait_licensed(&self) {
        let readiness = format!("{}/api/v1/system/readiness", self.url);
        wait_for(
            Duration::from_secs(20),
            "the license (readiness 200)",
            || {
                http()
                    .get(&readiness)
                    .send()
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
            },
            || {
                format!(
                    "agent log:\n{}\nserver log:\n{}",
                    self.agent.as_ref().map(Process::log).unwrap_or_default(),
                    self.log()
                )
            },
        );
    }

    fn log(&self) -> String {
        self.server.log()
    }

    fn ping(&self) -> (u16, String) {
        let r = http()
            .get(format!("{}/api/system/ping", self.url))
            .send()
            .expect("GET ping");
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    }
}

impl Drop for RunningServer {
    /// The agent is killed, the server stopped with SIGTERM.
    fn drop(&mut self) {
        self.agent = None;
        self.server.terminate();
    }
}

/// `arcactl node <verb>` succeeds and confirms that `<url>`'s readiness answers `readiness`;
/// its stdout.
fn node_command_confirmed(home: &Home, verb: &str, url: &str, readiness: u16) -> String {
    let out = arcactl(&["node", verb, "--home", root_of(home)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "confirmed: GET {url}/api/v1/system/readiness answers {readiness}"
        )),
        "{stdout}"
    );
    stdout
}

fn ha_check(home: &Home, lb: &str) -> (i32, String, String) {
    let out = arcactl(&["ha", "check", "--home", root_of(home), "--lb", lb]);
    (
        out.status.code().expect("exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// Every item of the checklist, as its line starts when it passes for node-a.
const ALL_OK: [&str; 11] = [
    "OK   database reachable: postgresql, schema version ",
    "OK   active node in the registry: node-a (PRIMARY, ",
    "OK   no stale node in the registry",
    "OK   node 'node-a' reachable at ",
    "OK   exactly one primary: 'node-a'",
    "OK   same version on all nodes: ",
    "OK   every active node holds a license: 1 node(s) licensed; 0 free and valid in a pool of 1",
    "OK   shared config files in sync and applied: nothing stored yet",
    "OK   URL base (arca.url.base): http://lb.example:8080/artifactory",
    "OK   master key matches the cluster's: key-check value ",
    "OK   node 'node-a' uses the same master key: key-check value ",
];

#[test]
fn ha_check_drain_and_undrain_against_a_running_server() {
    let server = RunningServer::start();
    let home = &server.home;

    let (code, out, err) = ha_check(home, LB);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(err, "");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), ALL_OK.len(), "{out}");
    for (line, expected) in lines.iter().zip(ALL_OK) {
        assert!(
            line.starts_with(expected),
            "{line:?} should start with {expected:?}"
        );
    }
    assert!(
        out.contains(&format!(
            "reachable at {}: ping answered 200 as node-a",
            server.url
        )),
        "{out}"
    );

    // a trailing '/' on --lb is the same URL
    let (code, out, _) = ha_check(home, &format!("{LB}/"));
    assert_eq!(code, 0, "{out}");

    let (code, out, err) = ha_check(home, "http://other:1");
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(fails.len(), 1, "{out}");
    assert!(
        fails[0].starts_with(&format!(
            "FAIL URL base (arca.url.base): is {LB} in {}, the load balancer is http://other:1 — fix: ",
            home.system_properties().display()
        )),
        "{}",
        fails[0]
    );
    assert!(
        fails[0]
            .ends_with("set arca.url.base=http://other:1 in etc/system.properties on the primary"),
        "{}",
        fails[0]
    );
    assert!(
        err.starts_with("ha check failed: 1 of 11 item(s) failed"),
        "{err}"
    );

    // drain: the node answers 503 naming the way back, confirmed via context.url
    let stdout = node_command_confirmed(home, "drain", &server.url, 503);
    assert!(stdout.contains("drained: created "), "{stdout}");
    let (status, body) = server.ping();
    assert_eq!(status, 503);
    assert!(body.contains("arcactl node undrain"), "{body}");

    // a drained node fails the reachability item with the fix to undrain it
    let (code, out, _) = ha_check(home, LB);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL node 'node-a' reachable at ")
                && l.contains("run arcactl node undrain")),
        "{out}"
    );

    let stdout = node_command_confirmed(home, "undrain", &server.url, 200);
    assert!(stdout.starts_with("undrained: removed "), "{stdout}");
    assert_eq!(server.ping().0, 200);

    // --url wins over context.url; an unreachable node is only a warning
    let dead = format!("http://127.0.0.1:{}/artifactory", free_port());
    let out = arcactl(&["node", "drain", "--home", root_of(home), "--url", &dead]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).starts_with(&format!("warning: could not confirm: GET {dead}/")),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(server.ping().0, 503, "the flag is in place all the same");
    let out = arcactl(&["node", "undrain", "--home", root_of(home)]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn ha_check_with_another_master_key_fails() {
    let server = RunningServer::start();
    let other_key = "00112233445566778899aabbccddeeff";
    let theirs = fs::read_to_string(server.home.master_key()).expect("server's master key");
    assert_ne!(theirs.trim(), other_key);

    // A copy of the home with a plain-text password (the server encrypted its own) and
    // another key: everything passes but the master key.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = Home::new(dir.path().join("copy"));
    fs::create_dir_all(copy.security()).expect("mkdir security");
    for file in [Home::ha_node_properties, Home::system_properties] {
        fs::copy(file(&server.home), file(&copy)).expect("copy config");
    }
    fs::write(
        copy.db_properties(),
        server.db.db_properties().expect("db.properties"),
    )
    .expect("write db.properties");
    fs::write(copy.master_key(), format!("{other_key}\n")).expect("write key");

    let (code, out, err) = ha_check(&copy, LB);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("OK   database reachable: "), "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(fails.len(), 2, "{out}");
    assert!(
        fails[0].starts_with("FAIL master key matches the cluster's: ")
            && fails[0].contains("a different master key")
            && fails[0].ends_with("— fix: copy etc/security/master.key from an existing node"),
        "{}",
        fails[0]
    );
    assert!(
        fails[1].starts_with("FAIL node 'node-a' uses the same master key: ")
            && fails[1].contains("answered 401"),
        "{}",
        fails[1]
    );
    assert!(err.starts_with("ha check failed: 2 of 11"), "{err}");

    // The server's own home with its key replaced: its encrypted db password no longer
    // opens, and the node rejects the signature.
    fs::write(server.home.master_key(), format!("{other_key}\n")).expect("overwrite key");
    let (code, out, _) = ha_check(&server.home, LB);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL database reachable: ")
                && l.ends_with("— fix: copy etc/security/master.key from an existing node")),
        "{out}"
    );
    assert!(
        out.lines().any(
            |l| l.starts_with("FAIL node 'node-a' uses the same master key: ")
                && l.contains("answered 401")
        ),
        "{out}"
    );
}

/// The ```properties examples of docs/*.md, each with the file and line it starts on, its
/// common indentation removed.
fn docs_property_examples() -> Vec<(String, String)> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let mut names: Vec<PathBuf> = fs::read_dir(&docs)
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let text = fs::read_to_string(&path).expect("read doc");
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if lines[i].trim_start() == "```properties" {
                let indent = lines[i].len() - lines[i].trim_start().len();
                let start = i + 1;
                let mut end = start;
                while end < lines.len() && lines[end].trim() != "```" {
                    end += 1;
                }
                let body: Vec<&str> = lines[start..end]
                    .iter()
                    .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
                    .collect();
                let name = path.file_name().expect("name").to_string_lossy();
                out.push((format!("docs/{name}:{}", i + 1), body.join("\n") + "\n"));
                i = end;
            }
            i += 1;
        }
    }
    out
}

/// A self-signed certificate and its key in `etc/tls/` (for the HTTPS example).
fn write_test_certificate(etc: &Path) {
    let tls = etc.join("tls");
    fs::create_dir_all(&tls).expect("tls dir");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "90",
            "-subj",
            "/CN=repo.example.com",
            "-keyout",
        ])
        .arg(tls.join("server.key"))
        .arg("-out")
        .arg(tls.join("server.crt"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl (installed by tests/run-all.sh)");
    assert!(status.success());
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(tls.join("server.key"), fs::Permissions::from_mode(0o600))
        .expect("chmod key");
}

#[test]
fn the_property_examples_of_the_docs_pass_config_check_as_copied() {
    let examples = docs_property_examples();
    assert!(examples.len() >= 6, "{examples:?}");
    let is_db = |t: &str| {
        t.lines()
            .any(|l| l.starts_with("type=") || l.starts_with("ssl."))
    };
    // A db.properties fragment (only ssl.* keys) completes the full PostgreSQL example.
    let full_db = examples
        .iter()
        .map(|(_, t)| t)
        .find(|t| is_db(t) && t.contains("type=postgresql"))
        .expect("a PostgreSQL db.properties example")
        .clone();
    for (place, text) in &examples {
        let (_dir, home) = fresh_home();
        let etc = home.etc();
        // Absolute paths under the packaged /etc/arca point into this home.
        let text = text.replace("/etc/arca/", &format!("{}/", etc.display()));
        let (file, content) = if text.lines().any(|l| l.starts_with("node.id=")) {
            // an HA node needs PostgreSQL
            put(home.db_properties(), &full_db);
            ("ha-node.properties", text.clone())
        } else if is_db(&text) {
            let content = if text.contains("type=") {
                text.clone()
            } else {
                format!("{full_db}{text}")
            };
            if content.contains("ssl.ca.file=") {
                write_test_certificate(&etc);
                fs::copy(etc.join("tls/server.crt"), etc.join("postgresql-ca.pem"))
                    .expect("CA file");
            }
            ("db.properties", content)
        } else {
            if text.contains("arca.https.cert.file=") {
                write_test_certificate(&etc);
            }
            ("system.properties", text.clone())
        };
        let path = etc.join(file);
        fs::write(&path, &content).expect("write example");
        use std::os::unix::fs::PermissionsExt;
        let mode = if file == "db.properties" {
            0o600
        } else {
            0o644
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        let (code, stdout, stderr) = check(home.root());
        assert_eq!(
            code, 0,
            "{place} copied into etc/{file} fails `arcactl config check`:\n{content}\n{stderr}"
        );
        assert!(stdout.contains("config OK"), "{place}: {stdout}");
        assert!(
            !stderr.contains("part of the value"),
            "{place}: a comment after a value in etc/{file}:\n{stderr}"
        );
    }
}

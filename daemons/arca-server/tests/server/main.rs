//! Integration tests: each starts the real `arca-server` binary on a free
//! loopback port with its own home directory and talks HTTP to it.

// Test helpers outside #[test] fns unwrap too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Digest;

use arca_testkit::{LogFile, Process, daemon_command, free_port, sibling_binary, within};

mod auth_hardening;
mod authz;
mod config_sync;
mod connections;
mod downloads;
mod ha;
mod hardening;
mod license_agent;
mod licenses;
mod listings;
mod maven;
mod meta_cache;
mod node_signatures;
mod npm;
mod oci;
mod pgtls;
mod pool;
mod prepare;
mod pypi;
mod remote;
mod rest_compat;
mod scrub;
mod sessions;
mod sharding;
mod storage;
mod system_logs;
mod tls;
mod ui;
mod ui_browse;
mod upstream;
mod url_base;

struct Server {
    /// The `arca-server` process; its log is `<home>.log`, appended to across restarts.
    process: Process,
    /// Loopback address it listens on (127.0.0.1, or 127.0.0.11… for cluster nodes).
    ip: String,
    /// `arca.http.context.path` in effect.
    context: String,
    home: PathBuf,
    port: u16,
    password: String,
    /// This node's `arca-license-agent` (HA nodes; see [`Server::start_license_agent`]).
    agent: Option<Process>,
    /// This node's `arca-config-sync` (see [`Server::start_config_sync`]).
    sync: Option<Process>,
}

/// `ARCA_TEST_BACKEND=postgresql` runs every test against PostgreSQL (a fresh
/// database per home, see `arca_testkit::pg`); the default is SQLite.
fn backend_is_postgres() -> bool {
    std::env::var("ARCA_TEST_BACKEND").as_deref() == Ok("postgresql")
}

/// Databases of this test process, by home (kept across restarts of a server).
static PG_DATABASES: std::sync::Mutex<Vec<(PathBuf, arca_testkit::PgTestDb)>> =
    std::sync::Mutex::new(Vec::new());

/// The server's database, opened beside it (SQLite allows a second writer; PostgreSQL is
/// the home's own test database).
fn open_db(h: &Path) -> arca_db::Db {
    if backend_is_postgres() {
        let dbs = PG_DATABASES.lock().unwrap();
        let (_, pg) = dbs.iter().find(|(home, _)| home == h).unwrap();
        pg.open().unwrap()
    } else {
        arca_db::Db::connect_sqlite(&h.join("data/arca.db"), 1).unwrap()
    }
}

/// Point a new home at its own PostgreSQL database when testing that backend.
fn prepare_database(home: &Path) {
    let file = home.join("etc/db.properties");
    if !backend_is_postgres() || file.exists() {
        return;
    }
    let db = arca_testkit::PgTestDb::create().unwrap();
    std::fs::create_dir_all(home.join("etc")).unwrap();
    std::fs::write(&file, db.db_properties().unwrap()).unwrap();
    PG_DATABASES.lock().unwrap().push((home.to_path_buf(), db));
}

/// A server started on a fresh home `<temporary dir>/h` (remove the directory after the server).
fn fresh_server() -> (tempfile::TempDir, Server) {
    fresh_server_with(&[])
}

/// [`fresh_server`] with extra `system.properties` lines ([`Server::start_with`]).
fn fresh_server_with(system_props: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = home();
    let s = Server::start_with(&dir.path().join("h"), system_props);
    (dir, s)
}

/// Start the server on a free port and wait for its exit (for starts that must fail).
fn run_server_until_exit(h: &Path) -> std::process::Output {
    daemon_command(Path::new(env!("CARGO_BIN_EXE_arca-server")), h)
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap()
}

/// `arca-server --home <h> check-config`, run to its end.
fn server_check_config(h: &Path) -> std::process::Output {
    arca_testkit::check_config(Path::new(env!("CARGO_BIN_EXE_arca-server")), h)
}

/// The configuration files of an HA node at `http://<ip>:<port>/artifactory/`.
struct HaNodeFiles<'a> {
    id: &'a str,
    ip: &'a str,
    port: u16,
    primary: bool,
    /// `arca.ha.data.dir`; `None`: the node's own `<home>/data`.
    data_dir: Option<&'a Path>,
}

impl<'a> HaNodeFiles<'a> {
    fn new(id: &'a str, ip: &'a str, port: u16, primary: bool) -> Self {
        HaNodeFiles {
            id,
            ip,
            port,
            primary,
            data_dir: None,
        }
    }

    /// A data dir shared with other nodes.
    fn shared_data(self, data_dir: &'a Path) -> Self {
        HaNodeFiles {
            data_dir: Some(data_dir),
            ..self
        }
    }

    /// Write etc/security/, a db.properties on `pg`, the ha-node.properties and `system` as
    /// the system.properties into home `h`.
    fn write(&self, h: &Path, pg: &arca_testkit::PgTestDb, system: &str) {
        let own_data = h.join("data");
        std::fs::create_dir_all(h.join("etc/security")).unwrap();
        std::fs::write(h.join("etc/db.properties"), pg.db_properties().unwrap()).unwrap();
        std::fs::write(
            h.join("etc/ha-node.properties"),
            format!(
                "node.id={}\ncontext.url=http://{}:{}/artifactory/\n\
                 membership.port=0\nprimary={}\narca.ha.data.dir={}\n",
                self.id,
                self.ip,
                self.port,
                self.primary,
                self.data_dir.unwrap_or(&own_data).display()
            ),
        )
        .unwrap();
        std::fs::write(h.join("etc/system.properties"), system).unwrap();
    }
}

/// What a finished command printed: stdout, then stderr.
fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The storage mover of a test home.
/// A daemon that runs beside a test server on the same home (`arca-storage-mover`,
/// `arca-config-sync`, `arca-license-agent`), built by the test kit; its log is
/// `<home>.<short>.log`, appended to so a restarted sidecar keeps the earlier runs'.
struct Sidecar;

impl Sidecar {
    fn mover(h: &Path) -> Process {
        Sidecar::start(
            h,
            "arca-storage-mover",
            "mover",
            "info,arca_storage_mover=debug",
        )
    }

    fn config_sync(h: &Path) -> Process {
        Sidecar::start(h, "arca-config-sync", "sync", "info,arca_config_sync=debug")
    }

    fn license_agent(h: &Path) -> Process {
        Sidecar::start(
            h,
            "arca-license-agent",
            "agent",
            "info,arca_license_agent=debug",
        )
    }

    fn start(h: &Path, binary: &str, short: &str, filter: &str) -> Process {
        let mut command = daemon_command(&sibling_binary(binary), h);
        command.env("ARCA_LOG", filter);
        Process::start(
            command,
            h.with_extension(format!("{short}.log")),
            LogFile::Append,
        )
    }
}

impl Server {
    fn start(home: &Path) -> Server {
        Self::start_with(home, &[])
    }

    /// Start with extra `system.properties` lines (written before the first start).
    fn start_with(home: &Path, system_props: &[&str]) -> Server {
        if !system_props.is_empty() {
            std::fs::create_dir_all(home.join("etc")).unwrap();
            std::fs::write(
                home.join("etc/system.properties"),
                system_props.join("\n") + "\n",
            )
            .unwrap();
        }
        prepare_database(home);
        let context = system_props
            .iter()
            .find_map(|l| l.strip_prefix("arca.http.context.path="))
            .unwrap_or("/artifactory")
            .to_string();
        let mut server = Self::spawn(home, "127.0.0.1", free_port(), &context);
        server.wait_ready();
        server.password = std::fs::read_to_string(home.join("etc/security/initial-admin-password"))
            .unwrap()
            .trim()
            .to_string();
        server
    }

    /// Start the binary without waiting for it.
    fn spawn(home: &Path, ip: &str, port: u16, context: &str) -> Server {
        Self::spawn_wrapped(home, ip, port, context, &[])
    }

    /// Start the binary as the last arguments of `wrapper` (a command that ends by exec'ing
    /// its arguments, e.g. one setting up a mount namespace); plain when `wrapper` is empty.
    fn spawn_wrapped(home: &Path, ip: &str, port: u16, context: &str, wrapper: &[&str]) -> Server {
        let binary = env!("CARGO_BIN_EXE_arca-server");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        command
            .arg("--home")
            .arg(home)
            .arg("--listen")
            .arg(format!("{ip}:{port}"))
            .env_remove("NOTIFY_SOCKET")
            .env_remove("JOURNAL_STREAM");
        Server {
            process: Process::start(command, home.with_extension("log"), LogFile::Append),
            ip: ip.to_string(),
            context: context.to_string(),
            home: home.to_path_buf(),
            port,
            password: String::new(),
            agent: None,
            sync: None,
        }
    }

    /// Start this node's `arca-config-sync`.
    /// Start this node's `arca-config-sync` and wait until it is ready (a file written before
    /// that could be read half-written by its start-up check).
    fn start_config_sync(&mut self) {
        let ready_lines = || {
            std::fs::read_to_string(self.home.with_extension("sync.log"))
                .unwrap_or_default()
                .matches("ready in")
                .count()
        };
        let runs_before = ready_lines();
        let sync = Sidecar::config_sync(&self.home);
        within(Duration::from_secs(20), "arca-config-sync ready", || {
            ready_lines() > runs_before
        });
        self.sync = Some(sync);
    }

    fn stop_config_sync(&mut self) {
        if let Some(mut sync) = self.sync.take() {
            sync.stop();
        }
    }

    /// The config sync's log (empty without one).
    fn sync_log(&self) -> String {
        self.sync.as_ref().map(Process::log).unwrap_or_default()
    }

    /// Start this node's `arca-license-agent` (its home must be an HA node's).
    fn start_license_agent(&mut self) {
        self.agent = Some(Sidecar::license_agent(&self.home));
    }

    /// Stop this node's license agent gracefully (it returns the license).
    fn stop_license_agent(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            agent.stop();
        }
    }

    /// The agent's log (empty without one).
    fn agent_log(&self) -> String {
        self.agent.as_ref().map(Process::log).unwrap_or_default()
    }

    /// `GET /api/v1/system/readiness`: status and message.
    fn readiness(&self) -> (StatusCode, String) {
        let r = self
            .client()
            .get(self.url("/api/v1/system/readiness"))
            .send()
            .unwrap();
        let status = r.status();
        let body: Value = r.json().unwrap_or(Value::Null);
        (status, body["message"].as_str().unwrap_or("").to_string())
    }

    /// Wait until readiness is 200 (an HA node: licensed); returns how long it took.
    fn wait_licensed(&self, secs: u64) -> Duration {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(secs) {
            if self.readiness().0 == StatusCode::OK {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "node not ready (licensed) within {secs} s: readiness {:?}\nagent log: {}\nserver log: {}",
            self.readiness(),
            self.agent_log(),
            self.log()
        );
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.process.try_wait() {
                panic!(
                    "arca-server exited early with {status}; log: {}",
                    self.log()
                );
            }
            if let Ok(r) = Client::new().get(self.url("/api/system/ping")).send()
                && r.status() == StatusCode::OK
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("arca-server not ready in 30 s; log: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.with_extension("log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}:{}{}{path}", self.ip, self.port, self.context)
    }

    fn client(&self) -> Client {
        Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap()
    }

    /// A request as the admin user.
    fn admin(&self, method: Method, url: String) -> reqwest::blocking::RequestBuilder {
        self.client()
            .request(method, url)
            .basic_auth("admin", Some(&self.password))
    }

    fn get(&self, path: &str) -> Response {
        self.admin(Method::GET, self.url(path)).send().unwrap()
    }

    /// GET `path` as whoever `with` makes the caller (credentials, headers; anonymous as it is).
    fn get_with(
        &self,
        path: &str,
        with: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Response {
        with(self.client().get(self.url(path))).send().unwrap()
    }

    /// GET `path` without credentials.
    fn get_anonymous(&self, path: &str) -> Response {
        self.get_with(path, |r| r)
    }

    fn put(&self, path: &str, body: impl Into<reqwest::blocking::Body>) -> Response {
        self.admin(Method::PUT, self.url(path))
            .body(body)
            .send()
            .unwrap()
    }

    fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().unwrap()
    }

    fn create_repo(&self, key: &str, config: Value) {
        let r = self
            .admin(Method::PUT, self.url(&format!("/api/repositories/{key}")))
            .json(&config)
            .send()
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "create repo {key}: {}",
            r.text().unwrap()
        );
    }

    fn generic_repo(&self, key: &str) {
        self.create_repo(
            key,
            serde_json::json!({"rclass": "local", "packageType": "generic"}),
        );
    }

    fn pid(&self) -> nix::unistd::Pid {
        let pid = self.process.pid().expect("arca-server has been reaped");
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap())
    }

    /// Graceful stop of the node: its license agent (which returns the license), then the
    /// server.
    fn stop(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            agent.stop();
        }
        self.stop_config_sync();
        self.process.stop();
    }

    /// kill -9 of the node: the server and its sidecars.
    fn kill9(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            agent.kill9();
        }
        if let Some(mut sync) = self.sync.take() {
            sync.kill9();
        }
        self.process.kill9();
    }

    /// Send raw bytes (for requests an HTTP library would normalise) and return the status code.
    fn raw(&self, request: &str) -> (u16, String) {
        let mut s = TcpStream::connect((self.ip.as_str(), self.port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        read_answer(s)
    }

    fn auth_header(&self) -> String {
        use base64::Engine;
        let creds =
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", self.password));
        format!("Authorization: Basic {creds}\r\n")
    }

    /// Start a `PUT` of `total` bytes, send the first `sent` of them, and wait
    /// until the server is staging the upload in `_pre`.
    fn start_partial_upload(
        &self,
        path: &str,
        total: usize,
        sent: usize,
        extra_headers: &str,
    ) -> TcpStream {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let head = format!(
            "PUT /artifactory{path} HTTP/1.1\r\nHost: x\r\n{}Content-Length: {total}\r\n{extra_headers}\r\n",
            self.auth_header()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(&vec![7u8; sent]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pre_files().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!self.pre_files().is_empty(), "upload never reached _pre");
        conn
    }

    /// Files in the content store (excluding the upload staging dir).
    fn stored_blobs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let root = self.home.join("data/filestore");
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() && p.file_name().unwrap() != "_pre" {
                for f in std::fs::read_dir(&p).unwrap().flatten() {
                    out.push(f.path());
                }
            }
        }
        out
    }

    fn pre_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.home.join("data/filestore/_pre"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Poll `cond` every 20 ms for up to `limit`; returns how long it took, panics with `what`.
/// Read what the server answers on `conn` until it closes (10 s at most): the status code
/// (0 when there is none) and the whole text.
fn read_answer(mut conn: TcpStream) -> (u16, String) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
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

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}
fn sha1_hex(data: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(data))
}
fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

fn error_message(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().expect("error body is JSON");
    let first = &body["errors"][0];
    assert_eq!(
        first["status"].as_u64().unwrap(),
        u64::from(status.as_u16()),
        "{body}"
    );
    (status, first["message"].as_str().unwrap().to_string())
}

/// A server the tests of one module share ([`SharedServer::get`]): started by the first test
/// that asks, stopped after the last of those running at the same time lets go of it.
struct SharedServer {
    // dropped before the directory
    s: Server,
    _dir: tempfile::TempDir,
}

/// Where a module keeps its [`SharedServer`] while tests hold it.
type SharedSlot = std::sync::Mutex<std::sync::Weak<SharedServer>>;

impl SharedServer {
    /// The module's server in `slot`, started (and `setup` run on it) when no test holds one.
    fn get(slot: &SharedSlot, setup: impl FnOnce(&Server)) -> std::sync::Arc<SharedServer> {
        let mut slot = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(shared) = slot.upgrade() {
            return shared;
        }
        let (dir, s) = fresh_server();
        setup(&s);
        let shared = std::sync::Arc::new(SharedServer { s, _dir: dir });
        *slot = std::sync::Arc::downgrade(&shared);
        shared
    }
}

/// As admin, create user `user` from `body` (201).
fn add_user(s: &Server, user: &str, body: Value) {
    let r = s
        .admin(Method::PUT, s.url(&format!("/api/security/users/{user}")))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "user {user}");
}

/// As admin, create permission target `name` granting `user` `actions` on all of `repos`.
fn add_permission(s: &Server, name: &str, repos: &[&str], user: &str, actions: &[&str]) {
    let r = s
        .admin(
            Method::PUT,
            s.url(&format!("/api/v2/security/permissions/{name}")),
        )
        .json(&serde_json::json!({"name": name, "repo": {
            "repositories": repos, "include-patterns": ["**"],
            "actions": {"users": {user: actions}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "permission {name}");
}

fn home() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("arca-it-")
        .tempdir()
        .unwrap()
}

// ------------------------------------------------------------------- tests

#[test]
fn first_start_creates_layout_and_admin_password_file() {
    let dir = home();
    let h = dir.path().join("home");
    let s = Server::start(&h);
    for d in ["etc", "data", "backup", "run"] {
        assert!(h.join(d).is_dir(), "{d} missing");
    }
    let db_props = std::fs::read_to_string(h.join("etc/db.properties")).unwrap();
    if backend_is_postgres() {
        // the plaintext password was replaced by its encrypted form on first start
        assert!(
            db_props.lines().any(|l| l.trim() == "type=postgresql"),
            "{db_props}"
        );
        assert!(
            db_props.lines().any(|l| l.starts_with("password=enc:v1:")),
            "{db_props}"
        );
        assert!(!db_props.contains("password=arca_test"), "{db_props}");
    } else {
        assert!(
            db_props.lines().any(|l| l.trim() == "type=sqlite"),
            "{db_props}"
        );
    }
    let bs = std::fs::read_to_string(h.join("etc/binarystore.xml")).unwrap();
    assert!(bs.contains("template=\"file-system\""));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(h.join("etc/security/initial-admin-password"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(s.password.len() >= 16);
    assert!(
        s.log().contains(&s.password),
        "password must be logged once"
    );
    let r = s.client().get(s.url("/api/system/ping")).send().unwrap();
    assert!(!r.headers()["x-arca-node-id"].to_str().unwrap().is_empty());
    assert_eq!(r.text().unwrap(), "OK");
    let v = s.json("/api/system/version");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["revision"].is_string());
    assert_eq!(s.json("/api/v1/system/readiness")["code"], "OK");
    assert_eq!(s.json("/api/v1/system/liveness")["code"], "OK");
}

#[test]
fn deploy_and_retrieve_round_trip_with_checksums() {
    let (_dir, s) = fresh_server();
    s.generic_repo("generic-local");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let r = s
        .admin(
            Method::PUT,
            s.url("/generic-local/org/acme/tool/1.0/tool-1.0.bin"),
        )
        .header("X-Checksum-Sha256", sha256_hex(&data))
        .header("X-Checksum-Sha1", sha1_hex(&data))
        .header("X-Checksum-Md5", md5_hex(&data))
        .body(data.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/generic-local/org/acme/tool/1.0/tool-1.0.bin")
    );
    let created: Value = r.json().unwrap();
    assert_eq!(created["repo"], "generic-local");
    assert_eq!(created["path"], "/org/acme/tool/1.0/tool-1.0.bin");
    assert_eq!(created["size"], data.len().to_string());
    assert_eq!(created["checksums"]["sha256"], sha256_hex(&data));
    assert_eq!(created["checksums"]["sha1"], sha1_hex(&data));
    assert_eq!(created["checksums"]["md5"], md5_hex(&data));
    assert_eq!(created["createdBy"], "admin");

    let r = s.get("/generic-local/org/acme/tool/1.0/tool-1.0.bin");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-checksum-sha256"], sha256_hex(&data).as_str());
    assert_eq!(r.headers()["x-checksum-sha1"], sha1_hex(&data).as_str());
    assert_eq!(r.headers()["x-checksum-md5"], md5_hex(&data).as_str());
    assert_eq!(
        r.headers()["etag"],
        format!("\"{}\"", sha1_hex(&data)).as_str()
    );
    assert!(r.headers().contains_key("last-modified"));
    assert_eq!(
        r.headers()["content-length"],
        data.len().to_string().as_str()
    );
    assert_eq!(r.bytes().unwrap().as_ref(), data.as_slice());

    let head = s
        .admin(
            Method::HEAD,
            s.url("/generic-local/org/acme/tool/1.0/tool-1.0.bin"),
        )
        .send()
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-length"],
        data.len().to_string().as_str()
    );

    // Same content twice is stored once.
    assert_eq!(
        s.put("/generic-local/copy-of-tool.bin", data.clone())
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(s.stored_blobs().len(), 1);

    let jar = s.put("/generic-local/lib/a.jar", b"PK\x03\x04jar".to_vec());
    assert_eq!(jar.status(), StatusCode::CREATED);
    assert_eq!(
        s.get("/generic-local/lib/a.jar").headers()["content-type"],
        "application/java-archive"
    );

    let info = s.json("/api/storage/generic-local/org/acme/tool/1.0/tool-1.0.bin");
    assert_eq!(info["size"], data.len().to_string());
    assert_eq!(info["checksums"]["sha256"], sha256_hex(&data));
    assert_eq!(info["originalChecksums"]["sha1"], sha1_hex(&data));
    assert!(
        info["downloadUri"]
            .as_str()
            .unwrap()
            .ends_with("/artifactory/generic-local/org/acme/tool/1.0/tool-1.0.bin")
    );
    assert!(info["created"].as_str().unwrap().ends_with('Z'));

    let folder = s.json("/api/storage/generic-local/org/acme");
    assert_eq!(
        folder["children"],
        serde_json::json!([{"uri": "/tool", "folder": true}])
    );
    let root = s.json("/api/storage/generic-local/");
    let names: Vec<&str> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["uri"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["/lib", "/org", "/copy-of-tool.bin"]);

    let deep = s.json("/api/storage/generic-local/org?list&deep=1");
    let files = deep["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["uri"], "/acme/tool/1.0/tool-1.0.bin");
    assert_eq!(files[0]["sha1"], sha1_hex(&data));
    let with_folders = s.json("/api/storage/generic-local/org?list&deep=1&listFolders=1");
    assert_eq!(with_folders["files"].as_array().unwrap().len(), 4);

    // Folder GET is an HTML listing.
    let html = s.get("/generic-local/org/acme/tool/1.0/");
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(html.text().unwrap().contains("tool-1.0.bin"));
}

#[test]
fn checksum_mismatch_is_refused_and_stores_nothing() {
    let (_dir, s) = fresh_server();
    s.generic_repo("g");
    let r = s
        .admin(Method::PUT, s.url("/g/a.txt"))
        .header(
            "X-Checksum-Sha1",
            "0000000000000000000000000000000000000000",
        )
        .body("hello")
        .send()
        .unwrap();
    let (status, msg) = error_message(r);
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(msg.contains("sha1"), "{msg}");
    assert_eq!(s.get("/g/a.txt").status(), StatusCode::NOT_FOUND);
    assert!(s.stored_blobs().is_empty());
    assert!(s.pre_files().is_empty(), "{:?}", s.pre_files());
    // Malformed checksum header: 400.
    let r = s
        .admin(Method::PUT, s.url("/g/a.txt"))
        .header("X-Checksum-Sha256", "xyz")
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(error_message(r).0, StatusCode::BAD_REQUEST);
}

#[test]
fn checksum_deploy_and_maven_side_files() {
    let (_dir, s) = fresh_server();
    s.create_repo(
        "libs",
        serde_json::json!({"rclass": "local", "packageType": "maven"}),
    );
    let jar = b"jar bytes".to_vec();
    assert_eq!(
        s.put("/libs/com/ex/a/1.0/a-1.0.jar", jar.clone()).status(),
        StatusCode::CREATED
    );

    // Checksum deploy of known content: no body.
    let r = s
        .admin(Method::PUT, s.url("/libs/com/ex/b/1.0/b-1.0.jar"))
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", sha256_hex(&jar))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        s.get("/libs/com/ex/b/1.0/b-1.0.jar")
            .bytes()
            .unwrap()
            .as_ref(),
        jar.as_slice()
    );
    let r = s
        .admin(Method::PUT, s.url("/libs/com/ex/c/1.0/c-1.0.jar"))
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha1", sha1_hex(b"unknown"))
        .send()
        .unwrap();
    let (status, msg) = error_message(r);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(msg.starts_with("Checksum deploy failed"), "{msg}");

    // Maven's side files are checked, not stored; GET generates them.
    assert_eq!(
        s.put("/libs/com/ex/a/1.0/a-1.0.jar.sha1", sha1_hex(&jar))
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        s.put("/libs/com/ex/a/1.0/a-1.0.jar.md5", md5_hex(&jar))
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        error_message(s.put("/libs/com/ex/a/1.0/a-1.0.jar.sha1", sha1_hex(b"other"))).0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.get("/libs/com/ex/a/1.0/a-1.0.jar.sha1").text().unwrap(),
        sha1_hex(&jar)
    );
    assert_eq!(
        s.get("/libs/com/ex/a/1.0/a-1.0.jar.sha256").text().unwrap(),
        sha256_hex(&jar)
    );
    let listing = s.json("/api/storage/libs/com/ex/a/1.0");
    assert_eq!(
        listing["children"].as_array().unwrap().len(),
        1,
        "{listing}"
    );
}

#[test]
fn range_and_conditional_get() {
    let (_dir, s) = fresh_server();
    s.generic_repo("g");
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    s.put("/g/f.bin", data.clone());
    let get = |hdr: &str, val: &str| {
        s.admin(Method::GET, s.url("/g/f.bin"))
            .header(hdr, val)
            .send()
            .unwrap()
    };
    let r = get("Range", "bytes=10-19");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(r.bytes().unwrap().as_ref(), &data[10..20]);
    let r = get("Range", "bytes=-5");
    assert_eq!(r.bytes().unwrap().as_ref(), &data[995..]);
    let r = get("Range", "bytes=990-");
    assert_eq!(r.bytes().unwrap().as_ref(), &data[990..]);
    let r = get("Range", "bytes=1000-");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */1000");
    let etag = s.get("/g/f.bin").headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let r = get("If-None-Match", &etag);
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(get("If-None-Match", "\"other\"").status(), StatusCode::OK);
    let lm = s.get("/g/f.bin").headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        get("If-Modified-Since", &lm).status(),
        StatusCode::NOT_MODIFIED
    );
    assert_eq!(
        get("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT").status(),
        StatusCode::OK
    );
    // If-Range with a stale validator gives the whole file.
    let r = s
        .admin(Method::GET, s.url("/g/f.bin"))
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"stale\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().unwrap().len(), 1000);
}

#[test]
fn properties_from_matrix_params_and_api() {
    let (_dir, s) = fresh_server();
    s.generic_repo("g");
    assert_eq!(
        s.put(
            "/g/dir/a.bin;build.name=ci%20job;build.number=7;tags=x,y",
            "a"
        )
        .status(),
        StatusCode::CREATED
    );
    let p = s.json("/api/storage/g/dir/a.bin?properties");
    assert_eq!(p["properties"]["build.name"], serde_json::json!(["ci job"]));
    assert_eq!(p["properties"]["tags"], serde_json::json!(["x", "y"]));
    let only = s.json("/api/storage/g/dir/a.bin?properties=build.number");
    assert_eq!(
        only["properties"],
        serde_json::json!({"build.number": ["7"]})
    );

    let r = s
        .admin(
            Method::PUT,
            s.url("/api/storage/g/dir?properties=qa=passed;owner=team%5C,a"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let p = s.json("/api/storage/g/dir/a.bin?properties");
    assert_eq!(
        p["properties"]["qa"],
        serde_json::json!(["passed"]),
        "folder properties are recursive by default"
    );
    assert_eq!(p["properties"]["owner"], serde_json::json!(["team,a"]));
    let r = s
        .admin(
            Method::DELETE,
            s.url("/api/storage/g/dir/a.bin?properties=qa,tags"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let p = s.json("/api/storage/g/dir/a.bin?properties");
    assert!(p["properties"].get("qa").is_none() && p["properties"].get("tags").is_none());
    let r = s
        .admin(
            Method::PUT,
            s.url("/api/storage/g/dir/a.bin?properties=bad%20key=1"),
        )
        .send()
        .unwrap();
    assert_eq!(error_message(r).0, StatusCode::BAD_REQUEST);
}

#[test]
fn copy_move_and_delete_with_gc() {
    let dir = home();
    let s = Server::start_with(
        &dir.path().join("h"),
        &["arca.gc.grace.secs=0", "arca.gc.interval.secs=0"],
    );
    s.generic_repo("a");
    s.generic_repo("b");
    s.put("/a/x/one.txt;p=1", "one");
    s.put("/a/x/sub/two.txt", "two");
    let post = |path: &str| s.admin(Method::POST, s.url(path)).send().unwrap();

    let r = post("/api/copy/a/x?to=/b/y&dry=1");
    assert_eq!(r.status(), StatusCode::OK);
    let msg: Value = r.json().unwrap();
    assert!(
        msg["messages"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2 artifacts"),
        "{msg}"
    );
    assert_eq!(
        s.get("/b/y/one.txt").status(),
        StatusCode::NOT_FOUND,
        "dry run changes nothing"
    );

    assert_eq!(post("/api/copy/a/x?to=/b/y").status(), StatusCode::OK);
    assert_eq!(s.get("/b/y/sub/two.txt").text().unwrap(), "two");
    assert_eq!(
        s.json("/api/storage/b/y/one.txt?properties")["properties"]["p"],
        serde_json::json!(["1"])
    );
    // cp semantics: into an existing folder, the source is nested.
    assert_eq!(
        post("/api/copy/a/x/one.txt?to=/b/y/sub").status(),
        StatusCode::OK
    );
    assert_eq!(s.get("/b/y/sub/one.txt").text().unwrap(), "one");

    assert_eq!(post("/api/move/a/x?to=/a/moved").status(), StatusCode::OK);
    assert_eq!(s.get("/a/x/one.txt").status(), StatusCode::NOT_FOUND);
    assert_eq!(s.get("/a/moved/sub/two.txt").text().unwrap(), "two");
    assert_eq!(
        error_message(post("/api/move/a/nothing?to=/b/z")).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        error_message(post("/api/copy/a/moved?to=/a/moved/sub")).0,
        StatusCode::CONFLICT
    );

    assert_eq!(s.stored_blobs().len(), 2);
    let del = |path: &str| s.admin(Method::DELETE, s.url(path)).send().unwrap();
    assert_eq!(del("/a/moved").status(), StatusCode::NO_CONTENT);
    assert_eq!(del("/a/moved").status(), StatusCode::NOT_FOUND);
    let gc: Value = post("/api/system/storage/gc").json().unwrap();
    assert_eq!(gc["binariesRemoved"], 0, "b still references both binaries");
    assert_eq!(del("/b/y").status(), StatusCode::NO_CONTENT);
    let gc: Value = post("/api/system/storage/gc").json().unwrap();
    assert_eq!(gc["binariesRemoved"], 2, "{gc}");
    assert!(s.stored_blobs().is_empty());
}

#[test]
fn search_by_checksum_and_name() {
    let (_dir, s) = fresh_server();
    s.generic_repo("g");
    s.generic_repo("h");
    s.put("/g/a/tool-1.0.jar", "T");
    s.put("/h/b/tool-1.0.jar", "T");
    s.put("/g/a/other.txt", "O");
    let r = s.json(&format!("/api/search/checksum?sha256={}", sha256_hex(b"T")));
    let uris: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris.len(), 2);
    assert!(uris[0].ends_with("/api/storage/g/a/tool-1.0.jar"));
    let r = s.json(&format!(
        "/api/search/checksum?sha1={}&repos=h",
        sha1_hex(b"T")
    ));
    assert_eq!(r["results"].as_array().unwrap().len(), 1);
    let r = s.json("/api/search/artifact?name=tool");
    assert_eq!(r["results"].as_array().unwrap().len(), 2);
    let r = s.json("/api/search/artifact?name=*.txt&repos=g");
    assert_eq!(r["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        error_message(s.get("/api/search/checksum?sha1=zz")).0,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn authentication_tokens_and_anonymous_read() {
    let (_dir, s) = fresh_server();
    s.generic_repo("private");
    s.create_repo(
        "public",
        serde_json::json!({"rclass": "local", "packageType": "generic", "anonymousRead": true}),
    );
    s.put("/private/f", "secret");
    s.put("/public/f", "open");
    let anon = s.get_anonymous("/private/f");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anon.headers()["www-authenticate"],
        "Basic realm=\"Artifactory Realm\""
    );
    assert_eq!(s.get_anonymous("/public/f").text().unwrap(), "open");
    assert_eq!(
        s.client()
            .put(s.url("/public/g"))
            .body("x")
            .send()
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let bad = s
        .client()
        .get(s.url("/private/f"))
        .basic_auth("admin", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.get_with("/private/f", |r| r.basic_auth("nobody", Some("x")))
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let tok: Value = s
        .admin(Method::POST, s.url("/api/security/token"))
        .form(&[("username", "admin"), ("expires_in", "600")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = tok["access_token"].as_str().unwrap().to_string();
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 600);
    // The token as Bearer, as the Basic password and as an API key header.
    let ways: [fn(RequestBuilder, &str) -> RequestBuilder; 3] = [
        |r, token| r.bearer_auth(token),
        |r, token| r.basic_auth("admin", Some(token)),
        |r, token| r.header("X-JFrog-Art-Api", token),
    ];
    for with_token in ways {
        let r = s.get_with("/private/f", |r| with_token(r, &token));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().unwrap(), "secret");
    }
    let list: Value = s.json("/api/security/token");
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    let r = s
        .admin(Method::POST, s.url("/api/security/token/revoke"))
        .form(&[("token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.get_with("/private/f", |r| r.bearer_auth(&token)).status(),
        StatusCode::UNAUTHORIZED
    );
    // Anonymous callers only see the repositories they may read.
    let anon_list: Value = s.get_anonymous("/api/repositories").json().unwrap();
    let keys: Vec<&str> = anon_list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["public"]);
    assert_eq!(s.json("/api/repositories").as_array().unwrap().len(), 2);
    let anon_search: Value = s
        .get_anonymous("/api/search/artifact?name=f")
        .json()
        .unwrap();
    assert_eq!(anon_search["results"].as_array().unwrap().len(), 1);
    // Repository admin needs credentials.
    assert_eq!(
        s.get_anonymous("/api/repositories/private").status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn repository_api_validates_and_lists() {
    let (_dir, s) = fresh_server();
    s.create_repo("libs-release", serde_json::json!({"key": "libs-release", "rclass": "local", "packageType": "maven", "description": "d", "handleSnapshots": false, "repoLayoutRef": "maven-2-default"}));
    let cfg = s.json("/api/repositories/libs-release");
    assert_eq!(cfg["packageType"], "maven");
    assert_eq!(cfg["handleSnapshots"], false);
    assert_eq!(cfg["includesPattern"], "**/*");
    let list = s.json("/api/repositories");
    assert_eq!(list[0]["key"], "libs-release");
    assert_eq!(list[0]["type"], "LOCAL");
    assert!(
        s.json("/api/repositories?packageType=generic")
            .as_array()
            .unwrap()
            .is_empty()
    );
    let put = |key: &str, body: &str| {
        s.admin(Method::PUT, s.url(&format!("/api/repositories/{key}")))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let (_, msg) = error_message(put("x", r#"{"rclass":"local","handleReleases":"yes"}"#));
    assert!(msg.contains("handleReleases"), "{msg}");
    let (_, msg) = error_message(put("x", r#"{"rclass":"local","packageType":"cobol"}"#));
    assert!(msg.contains("packageType"), "{msg}");
    let (_, msg) = error_message(put("x", "{not json"));
    assert!(msg.contains("line 1"), "{msg}");
    assert_eq!(
        error_message(put("bad%20key", r#"{"rclass":"local"}"#)).0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        error_message(put("libs-release", r#"{"rclass":"local"}"#)).0,
        StatusCode::BAD_REQUEST
    );
    // Release repo refuses snapshots.
    let (st, msg) =
        error_message(s.put("/libs-release/com/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar", "x"));
    assert_eq!(
        st,
        StatusCode::CONFLICT,
        "a policy refusal, not an authorization failure"
    );
    assert!(msg.contains("handleSnapshots"), "{msg}");
    let r = s
        .admin(Method::POST, s.url("/api/repositories/libs-release"))
        .json(&serde_json::json!({"handleSnapshots": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.put("/libs-release/com/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar", "x")
            .status(),
        StatusCode::CREATED
    );
    let r = s
        .admin(Method::DELETE, s.url("/api/repositories/libs-release"))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        error_message(s.get("/libs-release/com/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar")).0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn bad_paths_and_bodies_are_refused_with_the_envelope() {
    let dir = home();
    let s = Server::start_with(&dir.path().join("h"), &["arca.upload.max.bytes=1000"]);
    s.generic_repo("g");
    let auth = s.auth_header();
    for path in [
        "/artifactory/g/../etc/passwd",
        "/artifactory/g/a/%2e%2e/%2e%2e/x",
        "/artifactory/g/%2Fetc%2Fpasswd",
        "/artifactory/g//etc/passwd",
        "/artifactory/g/a%00b",
        "/artifactory/g/a%5Cb",
        "/artifactory/bad%20repo/x",
        "/artifactory/g/%ff%fe",
    ] {
        let (code, text) = s.raw(&format!("PUT {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 3\r\nConnection: close\r\n\r\nabc"));
        assert!((400..500).contains(&code), "{path}: {text}");
        assert!(text.contains("\"errors\""), "{path}: {text}");
        assert!(
            text.to_ascii_lowercase().contains("x-arca-node-id"),
            "{path}: {text}"
        );
    }
    let long = "a/".repeat(700);
    let (code, _) = s.raw(&format!("PUT /artifactory/g/{long}x HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 3\r\nConnection: close\r\n\r\nabc"));
    assert_eq!(code, 414);
    let (code, text) = s.raw(&format!("PUT /artifactory/g/big HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 2000\r\nConnection: close\r\n\r\n"));
    assert_eq!(code, 413, "{text}");
    // Chunked body over the limit: refused while streaming.
    let chunk = "x".repeat(600);
    let (code, _) = s.raw(&format!("PUT /artifactory/g/big HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"));
    assert_eq!(code, 413);
    assert!(s.stored_blobs().is_empty());
    assert!(s.pre_files().is_empty());
    assert_eq!(
        s.json("/api/storage/g/")["children"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Unknown endpoint and method.
    assert_eq!(error_message(s.get("/api/nope")).0, StatusCode::NOT_FOUND);
    let r = s.admin(Method::PATCH, s.url("/g/x")).send().unwrap();
    assert_eq!(error_message(r).0, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn data_survives_restart_and_admin_password_is_kept() {
    let dir = home();
    let h = dir.path().join("h");
    let mut s = Server::start(&h);
    s.generic_repo("g");
    s.put("/g/keep.txt", "kept");
    let password = s.password.clone();
    s.stop();
    let s2 = Server::start(&h);
    assert_eq!(s2.password, password);
    assert_eq!(s2.get("/g/keep.txt").text().unwrap(), "kept");
}

#[test]
fn kill_9_mid_upload_leaves_nothing_visible() {
    let dir = home();
    let h = dir.path().join("h");
    let mut s = Server::start(&h);
    s.generic_repo("g");
    let conn = s.start_partial_upload("/g/partial.bin", 10_000_000, 2_000_000, "");
    // Crash the server while the upload is being staged.
    s.kill9();
    drop(conn);
    let s2 = Server::start(&h);
    assert_eq!(s2.get("/g/partial.bin").status(), StatusCode::NOT_FOUND);
    assert!(s2.pre_files().is_empty(), "leftovers cleaned at start");
    assert!(s2.stored_blobs().is_empty());
    assert!(
        s2.log().contains("partial upload"),
        "start-up reports the cleanup"
    );
}

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: nix::unistd::Pid) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

/// Deploy `mib` MiB generated on the fly to `path` (neither side holds the body); its SHA-256.
fn deploy_generated(s: &Server, path: &str, mib: u64) -> String {
    let mut conn = TcpStream::connect((s.ip.as_str(), s.port)).unwrap();
    let head = format!(
        "PUT {}{path} HTTP/1.1\r\nHost: x\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n",
        s.context,
        s.auth_header(),
        mib << 20
    );
    conn.write_all(head.as_bytes()).unwrap();
    let block: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let mut hasher = sha2::Sha256::new();
    for _ in 0..mib {
        conn.write_all(&block).unwrap();
        hasher.update(&block);
    }
    let expected = hex::encode(hasher.finalize());
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    assert!(resp.contains(&expected));
    expected
}

/// Read a response to its end in 1 MiB pieces: its length and SHA-256.
fn read_streamed(mut r: Response) -> (u64, String) {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut hasher = sha2::Sha256::new();
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    (total, hex::encode(hasher.finalize()))
}

#[test]
fn one_gib_upload_and_download_keep_memory_flat() {
    const GIB: u64 = 1 << 30;
    let (_dir, s) = fresh_server();
    s.generic_repo("g");
    let expected = deploy_generated(&s, "/g/big.bin", 1024);
    let r = s.get("/g/big.bin");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(read_streamed(r), (GIB, expected));
    let peak_mib = peak_rss_kib(s.pid()) / 1024;
    assert!(
        peak_mib < 64,
        "peak RSS {peak_mib} MiB for 1 GiB up+down: not streaming"
    );
}

#[test]
fn sigterm_drains_an_in_flight_upload() {
    let dir = home();
    let mut s = Server::start(&dir.path().join("h"));
    s.generic_repo("g");
    let mut conn = s.start_partial_upload("/g/late.bin", 200_000, 100_000, "Connection: close\r\n");
    nix::sys::signal::kill(s.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The request started before SIGTERM still completes.
    conn.write_all(&[1u8; 100_000]).unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let status = s.process.wait().unwrap();
    assert!(status.success(), "exit after drain: {status}");
    assert!(s.log().contains("draining"), "{}", s.log());
    let s2 = Server::start(&dir.path().join("h"));
    assert_eq!(s2.get("/g/late.bin").bytes().unwrap().len(), 200_000);
}

#[test]
fn sd_notify_ready_status_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = home();
    let h = dir.path().join("h");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let port = free_port();
    prepare_database(&h);
    let mut child = Command::new(env!("CARGO_BIN_EXE_arca-server"))
        .arg("--home")
        .arg(&h)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    // Until READY=1: only STATUS= messages, and the port must accept once READY arrives.
    loop {
        let n = sock.recv(&mut buf).expect("READY=1 within 20 s");
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        seen.push(msg.clone());
        if msg.contains("READY=1") {
            assert!(msg.contains("STATUS=serving http://127.0.0.1"), "{msg}");
            break;
        }
        assert!(msg.contains("STATUS="), "{msg}");
    }
    assert!(seen.len() >= 3, "status steps before READY: {seen:?}");
    TcpStream::connect(("127.0.0.1", port)).expect("socket bound before READY=1");
    // Watchdog pings every WATCHDOG_USEC/2.
    let mut pings = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while pings < 2 && Instant::now() < deadline {
        let n = sock.recv(&mut buf).unwrap();
        if String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1") {
            pings += 1;
        }
    }
    assert_eq!(pings, 2, "watchdog pings");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 on SIGTERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn bad_config_refuses_to_start_naming_file_line_and_key() {
    let dir = home();
    let h = dir.path().join("h");
    std::fs::create_dir_all(h.join("etc")).unwrap();
    std::fs::write(
        h.join("etc/system.properties"),
        "# comment\narca.upload.max.bytes=lots\n",
    )
    .unwrap();
    let out = run_server_until_exit(&h);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("system.properties:2: arca.upload.max.bytes"),
        "{stderr}"
    );
    assert!(!h.join("data/arca.db").exists(), "nothing started");
    let check = server_check_config(&h);
    assert_eq!(check.status.code(), Some(1));
}

#[test]
fn context_path_is_configurable() {
    let (_dir, mut s) = fresh_server_with(&["arca.http.context.path=/arca"]);
    let ping = |path: &str| {
        Client::new()
            .get(format!("http://127.0.0.1:{}{path}", s.port))
            .send()
            .unwrap()
    };
    assert_eq!(ping("/arca/api/system/ping").text().unwrap(), "OK");
    let other = ping("/artifactory/api/system/ping");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert!(other.text().unwrap().contains("\"errors\""));
    s.stop();
}

#[test]
fn client_hanging_up_mid_upload_leaves_nothing() {
    let (_dir, s) = fresh_server();
    s.generic_repo("g");
    let conn = s.start_partial_upload("/g/cut.bin", 5_000_000, 1_000_000, "");
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.pre_files().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        s.pre_files().is_empty(),
        "temp file removed when the client hangs up"
    );
    assert_eq!(s.get("/g/cut.bin").status(), StatusCode::NOT_FOUND);
    assert!(s.stored_blobs().is_empty());
}

#[test]
fn drain_delay_keeps_serving_with_health_checks_at_503() {
    let dir = home();
    let mut s = Server::start_with(&dir.path().join("h"), &["arca.shutdown.drain.delay.secs=2"]);
    s.generic_repo("g");
    s.put("/g/f", "still here");
    nix::sys::signal::kill(s.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // New connections are still accepted: health says 503, artifacts are served.
    let fresh = || Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let ping = fresh().get(s.url("/api/system/ping")).send().unwrap();
    assert_eq!(ping.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready = fresh()
        .get(s.url("/api/v1/system/readiness"))
        .send()
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = fresh()
        .get(s.url("/g/f"))
        .basic_auth("admin", Some(&s.password))
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), "still here");
    assert!(s.process.is_running(), "still running during the delay");
    let started = Instant::now();
    let status = s.process.wait().unwrap();
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        TcpStream::connect(("127.0.0.1", s.port)).is_err(),
        "listener closed after the delay"
    );
}

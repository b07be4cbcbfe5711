//! A real S3 server for tests: s3s-fs, a small S3 implementation over a local directory.
//!
//! `ARCA_TEST_S3S_FS` names the binary (`tests/lib/s3.sh` installs it and prints the variable;
//! `tests/run-all.sh` sets it). Each [`S3TestServer`] listens on its own port on 127.0.0.1
//! with a fresh root directory, random keys and one bucket, and is killed and removed when
//! dropped. It can be stopped and started again on the same port and data to simulate an
//! outage.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arca_config::storage_plan::{S3Spec, SecretValue};

/// The environment variable naming the s3s-fs binary.
pub const S3S_FS_ENV: &str = "ARCA_TEST_S3S_FS";

/// How long a started server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The s3s-fs binary, or a panic that says how to get one: the S3 tests are part of the
/// suite, not optional.
pub fn s3s_fs_binary() -> PathBuf {
    match std::env::var_os(S3S_FS_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "{S3S_FS_ENV} is not set: run the suite with tests/run-all.sh, or \
             `eval \"$(tests/lib/s3.sh --export)\"` first"
        ),
    }
}

/// A running s3s-fs with one bucket.
#[derive(Debug)]
pub struct S3TestServer {
    binary: PathBuf,
    /// Holds `root/` (served) and `s3s-fs.log`; removed on drop.
    base: PathBuf,
    port: u16,
    access_key: String,
    secret_key: String,
    bucket: String,
    child: Mutex<Option<Child>>,
}

impl S3TestServer {
    /// Start a server on a free port with a new root directory holding one bucket.
    pub fn new() -> io::Result<S3TestServer> {
        let binary = s3s_fs_binary();
        let base = std::env::temp_dir().join(format!(
            "arca-s3-test-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let bucket = format!("arca-test-{:08x}", rand::random::<u32>());
        // s3s-fs serves each directory under its root as a bucket.
        std::fs::create_dir_all(base.join("root").join(&bucket))?;
        let port = crate::free_port();
        let server = S3TestServer {
            binary,
            base,
            port,
            access_key: format!("AK{:016X}", rand::random::<u64>()),
            secret_key: format!("{:032x}", rand::random::<u128>()),
            bucket,
            child: Mutex::new(None),
        };
        server.start()?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The directory s3s-fs serves: `<root>/<bucket>/<key>` is an object's file.
    pub fn root_dir(&self) -> PathBuf {
        self.base.join("root")
    }

    /// The server's output (for a failing test's message).
    pub fn log_path(&self) -> PathBuf {
        self.base.join("s3s-fs.log")
    }

    /// Kill the server and wait for it to exit (the port stops answering). No-op when stopped.
    pub fn stop(&self) {
        if let Some(mut child) = self.child().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server (again) on the same port and root, and wait until it answers.
    /// No-op when it is running.
    pub fn start(&self) -> io::Result<()> {
        let mut slot = self.child();
        if let Some(child) = slot.as_mut()
            && child.try_wait()?.is_none()
        {
            return Ok(());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut child = Command::new(&self.binary)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--access-key")
            .arg(&self.access_key)
            .arg("--secret-key")
            .arg(&self.secret_key)
            .arg(self.root_dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot run {} ({S3S_FS_ENV}): {e}", self.binary.display()),
                )
            })?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "s3s-fs exited with {status} at start; its log:\n{}",
                    self.log_tail()
                )));
            }
            if answers_http(self.port) {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "s3s-fs did not answer on port {} within {START_TIMEOUT:?}; its log:\n{}",
                        self.port,
                        self.log_tail()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        *slot = Some(child);
        Ok(())
    }

    /// A spec for this server: path-style over plain HTTP with the keys as plaintext
    /// identity/credential, test connection on, and multipart sizes small enough for tests
    /// (8 MiB limit, 5 MiB parts, S3's minimum). Fields are public: adjust as needed.
    pub fn s3_spec(&self, path: &str) -> S3Spec {
        S3Spec {
            id: "s3-test".into(),
            provider_type: "s3-storage-v3".into(),
            bucket_name: self.bucket.clone(),
            region: "us-east-1".into(),
            endpoint: Some("127.0.0.1".into()),
            port: Some(self.port),
            use_http: true,
            path_style: true,
            path: path.into(),
            root_folders_name_length: 2,
            identity: Some(SecretValue::Plain(self.access_key.clone())),
            credential: Some(SecretValue::Plain(self.secret_key.clone())),
            use_instance_credentials: false,
            test_connection: true,
            multi_part_limit: 8 * 1024 * 1024,
            multipart_element_size: 5 * 1024 * 1024,
            max_connections: 8,
            connection_timeout: Duration::from_secs(2),
            socket_timeout: Duration::from_secs(10),
        }
    }

    fn child(&self) -> MutexGuard<'_, Option<Child>> {
        // A panic while holding the lock leaves a usable Option behind.
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("ARCA_KEEP_TMP").is_none_or(|v| v != "1") {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}

/// True when something on the port answers an HTTP request (any status: unauthenticated
/// requests get 403, which still means the server is up).
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    matches!(stream.read_exact(&mut head), Ok(())) && head.starts_with(b"HTTP/1.")
}

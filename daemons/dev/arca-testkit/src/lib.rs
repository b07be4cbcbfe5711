//! What arca's integration tests share, so that no test binary carries its own copy: the
//! workspace's other binaries built once per run ([`sibling_binary`]), a handle on a started
//! daemon ([`Process`]), polling with a deadline ([`wait_for`], [`within`]), the clock
//! ([`now_ms`]), free ports, node homes, and the PostgreSQL ([`pg`], [`tls_postgres`]) and S3
//! ([`s3`]) test servers.
//!
//! A dev-dependency only: production crates carry no test fixtures. Set-up failures panic
//! with what went wrong, since a panic is the failure report of a test.

// Test set-up: a panic with the cause is the intended failure report.
#![allow(clippy::unwrap_used)]

pub mod daemon;
pub mod home;
pub mod pg;
pub mod process;
pub mod s3;
pub mod tls_postgres;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use daemon::{check_config, daemon_command};
pub use home::{TEST_MASTER_KEY, node_home, write_master_key};
pub use pg::PgTestDb;
pub use process::{LogFile, Process};
pub use s3::S3TestServer;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// Poll `cond` every 20 ms until it holds; after `timeout`, panic with `what` and `context()`
/// (e.g. the logs of the daemons involved).
pub fn wait_for(
    timeout: Duration,
    what: &str,
    cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    if poll_until(timeout, Duration::from_millis(20), cond).is_none() {
        panic!(
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
    }
}

/// Poll `cond` every 20 ms until it holds and return how long that took; panic with `what`
/// after `limit`.
pub fn within(limit: Duration, what: &str, cond: impl FnMut() -> bool) -> Duration {
    match poll_until(limit, Duration::from_millis(20), cond) {
        Some(took) => took,
        None => panic!("not within {limit:?}: {what}"),
    }
}

/// Poll `cond` every `every` until it holds (`Some(time taken)`) or `timeout` has passed
/// (`None`).
pub fn poll_until(
    timeout: Duration,
    every: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if cond() {
            return Some(started.elapsed());
        }
        if started.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// The workspace binary `name`, built with `cargo build --workspace --bin <name>` the first
/// time a test of this run asks for it, and found in the target directory and profile of the
/// running test executable.
///
/// `cargo test -p X` builds only X's binaries; and a binary left over from an earlier run may
/// be stale, so it is always built (cargo makes that a no-op when it is up to date), once per
/// test process. `--workspace` resolves features over the whole workspace, as
/// `cargo test --workspace` does: under it the binary is already fresh, where `-p <name>` would
/// pick the package's own feature set and rebuild tokio and everything above it once per daemon.
pub fn sibling_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let profile_dir = profile_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--workspace", "--bin", name]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target) = profile_dir.parent() {
        cmd.arg("--target-dir").arg(target);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo build --bin {name}: {e}"));
    assert!(status.success(), "cargo build --bin {name}: {status}");
    let binary = profile_dir.join(name);
    assert!(binary.exists(), "{} not built", binary.display());
    built.insert(name.to_string(), binary.clone());
    binary
}

/// `<target>/<profile>`: a test executable runs from `<target>/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("test executable: {e}"));
    let deps = exe.parent().unwrap_or_else(|| Path::new("."));
    let profile = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap_or(deps)
    } else {
        deps
    };
    profile.to_path_buf()
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"))
}

/// A random suffix for names that must not collide between tests and runs.
pub fn random_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

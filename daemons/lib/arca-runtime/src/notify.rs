//! `sd_notify(3)` readiness/status/watchdog notifications.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// Sends `sd_notify` messages to the service manager.
///
/// The environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`, `INVOCATION_ID`)
/// is read once by [`Notifier::new`]. Every method is a no-op when `NOTIFY_SOCKET` is
/// unset; send failures are logged (at debug level for watchdog pings), never returned.
/// Abstract socket addresses (`@name`) are supported. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<OsString>,
    watchdog_usec: Option<u64>,
    invocation: bool,
}

impl Notifier {
    /// Capture the notification environment of this process.
    pub fn new() -> Notifier {
        Self::from_lookup(|k| std::env::var_os(k), std::process::id())
    }

    pub(crate) fn from_lookup(env: impl Fn(&str) -> Option<OsString>, pid: u32) -> Notifier {
        let socket = env("NOTIFY_SOCKET").filter(|s| !s.is_empty());
        let pid_ok = match env("WATCHDOG_PID") {
            None => true,
            Some(p) => p.to_str().and_then(|p| p.trim().parse::<u32>().ok()) == Some(pid),
        };
        let watchdog_usec = env("WATCHDOG_USEC")
            .and_then(|u| u.to_str().and_then(|u| u.trim().parse::<u64>().ok()))
            .filter(|&u| u > 0 && pid_ok);
        let invocation = env("INVOCATION_ID").is_some_and(|v| !v.is_empty());
        Notifier {
            socket,
            watchdog_usec,
            invocation,
        }
    }

    /// `READY=1` and `STATUS=<status>`: startup finished.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(&one_line(status))]);
    }

    /// `STATUS=<status>`: free-form status shown by `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(&one_line(status))]);
    }

    /// `STOPPING=1` and `STATUS=<status>`: shutdown has begun.
    pub fn stopping(&self, status: &str) {
        self.send(&[
            NotifyState::Stopping,
            NotifyState::Status(&one_line(status)),
        ]);
    }

    /// `RELOADING=1`, `MONOTONIC_USEC=` and `STATUS=<status>` (for `Type=notify-reload`);
    /// call [`Notifier::ready`] when the reload is done.
    pub fn reloading(&self, status: &str) {
        if self.socket.is_none() {
            return;
        }
        let status = one_line(status);
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now, NotifyState::Status(&status)]),
            Err(_) => self.send(&[NotifyState::Reloading, NotifyState::Status(&status)]),
        }
    }

    /// `EXTEND_TIMEOUT_USEC=`: ask for more time during a long startup/shutdown step.
    pub fn extend_timeout(&self, by: Duration) {
        let usec = u32::try_from(by.as_micros()).unwrap_or(u32::MAX);
        self.send(&[NotifyState::ExtendTimeoutUsec(usec)]);
    }

    /// `WATCHDOG=1`: keep-alive ping.
    pub fn watchdog(&self) {
        if let Err(e) = self.try_send(&[NotifyState::Watchdog]) {
            tracing::debug!(error = %e, "sd_notify WATCHDOG=1 failed");
        }
    }

    /// How often to ping: half of `WATCHDOG_USEC`, if set, non-zero and (when
    /// `WATCHDOG_PID` is set) meant for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_usec.map(|u| Duration::from_micros(u / 2))
    }

    /// Whether we run under systemd: `NOTIFY_SOCKET` or `INVOCATION_ID` is set.
    pub fn is_systemd(&self) -> bool {
        self.socket.is_some() || self.invocation
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if let Err(e) = self.try_send(states) {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }

    fn try_send(&self, states: &[NotifyState<'_>]) -> io::Result<()> {
        let Some(path) = &self.socket else {
            return Ok(());
        };
        let mut msg = String::new();
        for s in states {
            let _ = writeln!(msg, "{s}");
        }
        let sock = UnixDatagram::unbound()?;
        let sent = send_to(&sock, path, msg.as_bytes())?;
        if sent != msg.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short sd_notify write",
            ));
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn send_to(sock: &UnixDatagram, path: &OsString, msg: &[u8]) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt as _;
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::net::SocketAddr;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => sock.send_to_addr(msg, &SocketAddr::from_abstract_name(name)?),
        None => sock.send_to(msg, path),
    }
}

#[cfg(not(target_os = "linux"))]
fn send_to(sock: &UnixDatagram, path: &OsString, msg: &[u8]) -> io::Result<usize> {
    sock.send_to(msg, path)
}

/// A newline would start a new `KEY=value` assignment; keep status on one line.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Spawn a task that sends `WATCHDOG=1` every [`Notifier::watchdog_interval`], but only
/// while `healthy()` returns true (e.g. [`Heartbeat::is_fresh`] of the main loop with
/// a maximum age of two intervals). If the loop stalls, pings stop and systemd
/// restarts the service once `WatchdogSec=` elapses.
///
/// Returns `None` if no watchdog is configured, or if called outside a tokio runtime.
pub fn spawn_watchdog(
    notifier: Notifier,
    healthy: impl Fn() -> bool + Send + Sync + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let interval = notifier.watchdog_interval()?;
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::error!("spawn_watchdog called outside a tokio runtime; watchdog disabled");
        return None;
    };
    Some(handle.spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_healthy = true;
        loop {
            ticker.tick().await;
            if healthy() {
                if !was_healthy {
                    tracing::info!("main loop healthy again, resuming watchdog pings");
                }
                was_healthy = true;
                notifier.watchdog();
            } else if was_healthy {
                was_healthy = false;
                tracing::error!("main loop unhealthy, withholding watchdog pings");
            }
        }
    }))
}

/// A cheap, clonable "last tick" timestamp for watchdog health checks: the main loop
/// calls [`Heartbeat::beat`], the watchdog closure checks [`Heartbeat::is_fresh`].
#[derive(Debug, Clone)]
pub struct Heartbeat {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new() -> Self {
        Heartbeat {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Record that the main loop is alive now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Time since the last [`Heartbeat::beat`].
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }

    /// The last beat is at most `max_age` old.
    pub fn is_fresh(&self, max_age: Duration) -> bool {
        self.age() <= max_age
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::env_of;

    fn bind(dir: &std::path::Path) -> (UnixDatagram, std::path::PathBuf) {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (sock, path)
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn noop_without_notify_socket() {
        let n = Notifier::from_lookup(env_of(&[]), 42);
        n.ready("x");
        n.status("y");
        n.stopping("z");
        n.reloading("r");
        n.extend_timeout(Duration::from_secs(1));
        n.watchdog();
        assert!(n.try_send(&[NotifyState::Ready]).is_ok());
        assert!(!n.is_systemd());
        assert_eq!(n.watchdog_interval(), None);
        // the real environment of a test run has no NOTIFY_SOCKET either
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            Notifier::new().ready("x");
        }
    }

    #[test]
    fn ready_sends_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, path) = bind(dir.path());
        let n = Notifier::from_lookup(env_of(&[("NOTIFY_SOCKET", path.to_str().unwrap())]), 42);
        assert!(n.is_systemd());
        n.ready("x");
        let msg = recv(&sock);
        assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
        assert!(msg.lines().any(|l| l == "STATUS=x"), "{msg:?}");
        n.status("serving\ninjected=1");
        assert_eq!(recv(&sock), "STATUS=serving injected=1\n");
        n.stopping("bye");
        assert_eq!(recv(&sock), "STOPPING=1\nSTATUS=bye\n");
        n.watchdog();
        assert_eq!(recv(&sock), "WATCHDOG=1\n");
        n.reloading("reload");
        let msg = recv(&sock);
        assert!(msg.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{msg:?}");
        n.extend_timeout(Duration::from_secs(3));
        assert_eq!(recv(&sock), "EXTEND_TIMEOUT_USEC=3000000\n");
    }

    #[test]
    fn abstract_socket() {
        let name = format!("arca-runtime-test-{}", std::process::id());
        let addr = {
            use std::os::linux::net::SocketAddrExt as _;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
        };
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::from_lookup(env_of(&[("NOTIFY_SOCKET", &format!("@{name}"))]), 1);
        n.status("abstract");
        assert_eq!(recv(&sock), "STATUS=abstract\n");
    }

    #[test]
    fn unreachable_socket_does_not_panic() {
        let n = Notifier::from_lookup(env_of(&[("NOTIFY_SOCKET", "/nonexistent/notify")]), 1);
        n.ready("x");
        n.watchdog();
        assert!(n.try_send(&[NotifyState::Ready]).is_err());
    }

    #[test]
    fn watchdog_interval_parsing() {
        let wd =
            |pairs: &[(&str, &str)]| Notifier::from_lookup(env_of(pairs), 42).watchdog_interval();
        assert_eq!(wd(&[]), None);
        assert_eq!(
            wd(&[("WATCHDOG_USEC", "30000000")]),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            wd(&[("WATCHDOG_USEC", "30000000"), ("WATCHDOG_PID", "42")]),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            wd(&[("WATCHDOG_USEC", "30000000"), ("WATCHDOG_PID", "43")]),
            None
        );
        assert_eq!(
            wd(&[("WATCHDOG_USEC", "30000000"), ("WATCHDOG_PID", "x")]),
            None
        );
        assert_eq!(wd(&[("WATCHDOG_USEC", "0")]), None);
        assert_eq!(wd(&[("WATCHDOG_USEC", "abc")]), None);
        assert_eq!(wd(&[("WATCHDOG_USEC", "-5")]), None);
        assert_eq!(
            wd(&[("WATCHDOG_USEC", "3")]),
            Some(Duration::from_micros(1))
        );
    }

    #[test]
    fn heartbeat_freshness() {
        let hb = Heartbeat::new();
        assert!(hb.is_fresh(Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!hb.is_fresh(Duration::from_millis(10)));
        hb.clone().beat();
        assert!(hb.is_fresh(Duration::from_millis(10)));
    }

    #[tokio::test]
    async fn watchdog_task_pings_only_while_healthy() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().unwrap();
        let (sock, path) = bind(dir.path());
        sock.set_nonblocking(true).unwrap();
        let sock = tokio::net::UnixDatagram::from_std(sock).unwrap();
        let n = Notifier::from_lookup(
            env_of(&[
                ("NOTIFY_SOCKET", path.to_str().unwrap()),
                ("WATCHDOG_USEC", "40000"),
            ]),
            1,
        );
        assert_eq!(n.watchdog_interval(), Some(Duration::from_millis(20)));

        let healthy = Arc::new(AtomicBool::new(true));
        let h = healthy.clone();
        let task = spawn_watchdog(n, move || h.load(Ordering::SeqCst)).unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            let len = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..len], b"WATCHDOG=1\n");
        }
        healthy.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        while sock.try_recv(&mut buf).is_ok() {} // drain pings sent before the switch
        let r = tokio::time::timeout(Duration::from_millis(150), sock.recv(&mut buf)).await;
        assert!(r.is_err(), "ping sent while unhealthy");
        task.abort();

        assert!(spawn_watchdog(Notifier::from_lookup(env_of(&[]), 1), || true).is_none());
    }

    /// The child half of `new_reads_environment`: it runs in a child process whose
    /// environment is set without `unsafe` `set_var`; in the parent run it has nothing to check.
    #[test]
    fn child_reads_environment() {
        if std::env::var_os("ARCA_RUNTIME_TEST_CHILD").is_none() {
            return;
        }
        let n = Notifier::new();
        assert!(n.is_systemd());
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(5)));
        n.ready("x");
    }

    #[test]
    fn new_reads_environment() {
        let dir = tempfile::tempdir().unwrap();
        let (sock, path) = bind(dir.path());
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "notify::tests::child_reads_environment"])
            .env("ARCA_RUNTIME_TEST_CHILD", "1")
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", "10000000")
            .env_remove("WATCHDOG_PID")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
        let msg = recv(&sock);
        assert!(
            msg.contains("READY=1") && msg.contains("STATUS=x"),
            "{msg:?}"
        );
    }
}

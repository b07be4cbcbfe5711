//! A daemon started by a test: its output goes to a log file, it can be waited for, stopped
//! gracefully (SIGTERM) or killed (SIGKILL), and it is killed when the handle is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where a started process's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFile {
    /// Appended: a restarted daemon keeps the earlier runs' output.
    Append,
    /// Truncated first: the log holds this run only.
    Fresh,
}

/// A started process; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct Process {
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// Start `command` with stdin closed and stdout + stderr going to `log` (see
    /// [`crate::daemon_command`] for a daemon's command line).
    pub fn start(mut command: Command, log: impl Into<PathBuf>, mode: LogFile) -> Process {
        let log = log.into();
        let mut options = std::fs::OpenOptions::new();
        options.create(true);
        match mode {
            LogFile::Append => options.append(true),
            LogFile::Fresh => options.write(true).truncate(true),
        };
        let out = options
            .open(&log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        Process {
            child: Some(child),
            log,
        }
    }

    /// Wait until `ready(self)` holds, polling every 50 ms. Panics, with the log, when the
    /// process exits first or `timeout` passes.
    pub fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut(&Process) -> bool) {
        let outcome = crate::poll_until(timeout, Duration::from_millis(50), || {
            if let Some(status) = self.try_wait() {
                panic!(
                    "{} exited early with {status}; log:\n{}",
                    self.log.display(),
                    self.log()
                );
            }
            ready(self)
        });
        if outcome.is_none() {
            panic!(
                "{} not ready in {timeout:?}; log:\n{}",
                self.log.display(),
                self.log()
            );
        }
    }

    /// The log so far (empty when unreadable).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The process id while it has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True until it has been waited for (stopped, killed or seen exited).
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    /// Its exit status when it has exited (it is then reaped).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = child
            .try_wait()
            .unwrap_or_else(|e| panic!("try_wait: {e}"))?;
        self.child = None;
        Some(status)
    }

    /// Send `signal` without waiting (nothing when it has been reaped).
    pub fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child {
            let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// SIGTERM without waiting.
    pub fn signal_term(&self) {
        self.signal(Signal::SIGTERM);
    }

    /// Wait for the exit and return its status (None when already reaped).
    pub fn wait(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        Some(child.wait().unwrap_or_else(|e| panic!("wait: {e}")))
    }

    /// SIGTERM and wait; None when it had already been reaped.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.signal_term();
        self.wait()
    }

    /// SIGTERM and wait at most `limit` for the exit status; a panic with the log when it is
    /// still running then, or when it had already been reaped.
    pub fn terminate_within(&mut self, limit: Duration) -> ExitStatus {
        self.signal_term();
        let Some(child) = self.child.as_mut() else {
            panic!("{}: already reaped", self.log.display());
        };
        let mut status = None;
        crate::poll_until(limit, Duration::from_millis(20), || {
            status = child.try_wait().unwrap_or_else(|e| panic!("try_wait: {e}"));
            status.is_some()
        });
        match status {
            Some(status) => {
                self.child = None;
                status
            }
            None => panic!(
                "{} did not stop within {limit:?}; log:\n{}",
                self.log.display(),
                self.log()
            ),
        }
    }

    /// SIGTERM and wait; it must exit 0 (else the panic shows the log).
    pub fn stop(&mut self) {
        if let Some(status) = self.terminate() {
            assert!(
                status.success(),
                "graceful stop failed: {status}; log: {}",
                self.log()
            );
        }
    }

    /// Wait for the exit; it must be 0 (else the panic shows the log).
    pub fn wait_success(&mut self) {
        if let Some(status) = self.wait() {
            assert!(status.success(), "{status}; log: {}", self.log());
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

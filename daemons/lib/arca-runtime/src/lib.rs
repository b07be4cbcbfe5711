//! arca-runtime: process plumbing shared by every arca daemon.
//!
//! - [`init_logging`]: journald (structured fields) under systemd, compact stderr otherwise;
//!   [`init_logging_with`] can also keep the latest records in memory ([`recent_log()`]).
//! - [`Notifier`] / [`spawn_watchdog`] / [`Heartbeat`]: `sd_notify` readiness, status and
//!   a watchdog tied to the health of the caller's main loop.
//! - [`control_channel`]: SIGTERM/SIGINT/SIGHUP as typed [`Control`] messages.
//! - [`build()`]: version (stamped, see [`VERSION_STAMP_LEN`]), git revision and build date.
//! - [`daemon`]: the shared `main` (`--home`, `check-config` report, the tokio runtime).
//! - [`Starting`] / [`Service`]: the opening and control loop every daemon's service shares
//!   (`STATUS=checking configuration`, signals, `READY=1` + watchdog, SIGHUP, SIGTERM).
//! - [`local_socket`]: the daemons' JSON-line control sockets (`SO_PEERCRED`-checked).

mod build_info;
pub mod daemon;
mod logging;
mod notify;
pub mod recent_log;
pub mod service;
mod signals;

/// A fake environment for the tests of the env-reading constructors.
#[cfg(test)]
mod test_env {
    use std::ffi::OsString;

    pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let pairs: Vec<(String, OsString)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }
}

pub use build_info::{BuildInfo, VERSION_STAMP_LEN, build};
pub use logging::{LogOptions, LogTarget, init_logging, init_logging_with};
pub use notify::{Heartbeat, Notifier, spawn_watchdog};
pub use recent_log::{LogPage, LogQuery, LogRecord, RecentLog, RecentLogLimits, recent_log};
pub use service::{Service, Starting};
pub use signals::{Control, control_channel};

// The control sockets and the error text live in arca-ipc (libraries use them without the
// daemon host); daemons keep reaching them here.
pub use arca_ipc::{error_chain, local_socket};

/// Errors from this crate.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A global tracing subscriber (or `log` logger) is already installed,
    /// e.g. because [`init_logging`] was called twice.
    #[error("logging is already initialised: {0}")]
    LoggingAlreadyInitialized(#[source] tracing_subscriber::util::TryInitError),
    /// The function must be called from within a tokio runtime.
    #[error("no tokio runtime is running (call this from within the runtime)")]
    NoTokioRuntime,
    /// Installing a signal handler failed.
    #[error("cannot install handler for {signal}: {source}")]
    Signal {
        /// Signal name, e.g. "SIGTERM".
        signal: &'static str,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

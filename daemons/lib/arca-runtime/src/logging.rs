//! Global tracing subscriber: journald under systemd, compact stderr otherwise.

use std::ffi::OsString;
use std::io::IsTerminal as _;
#[cfg(feature = "journald")]
use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::RuntimeError;
use crate::recent_log::{RecentLogLayer, RecentLogLimits};

/// Environment variable holding the log filter (`EnvFilter` syntax, e.g.
/// `info,arca_server::http=debug`). Default: `info`.
pub const LOG_ENV: &str = "ARCA_LOG";

#[cfg(feature = "journald")]
const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Where [`init_logging`] sends log events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// Native journald protocol, with structured fields.
    Journald,
    /// Compact human-readable lines on stderr.
    Stderr,
}

/// What [`init_logging_with`] sets up beside the journal or stderr output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep the latest records in memory too ([`crate::recent_log()`]), within these bounds.
    pub recent: Option<RecentLogLimits>,
}

impl LogOptions {
    /// Keep the recent log with the default bounds (the server's choice).
    pub fn keeping_recent() -> Self {
        LogOptions {
            recent: Some(RecentLogLimits::default()),
        }
    }
}

/// Install the global tracing subscriber ([`init_logging_with`] without options).
pub fn init_logging(ident: &str) -> Result<LogTarget, RuntimeError> {
    init_logging_with(ident, LogOptions::default())
}

/// Install the global tracing subscriber.
///
/// Under systemd (`JOURNAL_STREAM` matches stderr, or `NOTIFY_SOCKET`/`INVOCATION_ID`
/// is set and `/run/systemd/journal/socket` exists) and with the `journald` feature,
/// events go to journald with `SYSLOG_IDENTIFIER=<ident>` (so `journalctl -t <ident>`
/// works) and every event/span field becomes a journal field of the upper-cased name
/// without prefix: `tracing::info!(arca_node_id = "art1", "…")` gives
/// `ARCA_NODE_ID=art1` (dots become `_`, leading `_` are dropped). Avoid field names
/// that collide with journald's own (`priority`, `target`, `code_line`, …).
/// Otherwise (or if the journal socket cannot be used) a compact fmt layer writes to
/// stderr.
///
/// The filter comes from `ARCA_LOG` (default `info`); an invalid filter falls back to
/// `info` and logs a warning. A second call returns
/// [`RuntimeError::LoggingAlreadyInitialized`] and changes nothing.
///
/// With `options.recent`, the records the filter lets through are also kept in the process's
/// [`RecentLog`](crate::RecentLog) ([`crate::recent_log()`]).
pub fn init_logging_with(ident: &str, options: LogOptions) -> Result<LogTarget, RuntimeError> {
    let (filter, filter_error) = env_filter();
    // Behind the same filter as the journal: the memory holds what the journal gets.
    let recent = options
        .recent
        .map(|limits| RecentLogLayer::new(crate::recent_log::install(limits)));
    #[cfg_attr(not(feature = "journald"), allow(unused_mut))]
    let mut journald_error: Option<std::io::Error> = None;
    #[cfg(feature = "journald")]
    if systemd_journal_wanted(
        |k| std::env::var_os(k),
        Path::new(JOURNAL_SOCKET).exists(),
        stderr_dev_ino(),
    ) {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_syslog_identifier(ident.to_owned())
                    .with_field_prefix(None);
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer)
                    .with(recent)
                    .try_init()
                    .map_err(RuntimeError::LoggingAlreadyInitialized)?;
                warn_filter(filter_error);
                return Ok(LogTarget::Journald);
            }
            Err(e) => journald_error = Some(e),
        }
    }
    #[cfg(not(feature = "journald"))]
    let _ = ident;

    // When stderr is already captured by the journal, skip our timestamps.
    let stderr_is_journal =
        journal_stream_matches(std::env::var_os("JOURNAL_STREAM"), stderr_dev_ino());
    let ansi = !stderr_is_journal && std::io::stderr().is_terminal();
    let fmt = tracing_subscriber::fmt::layer()
        .compact()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let fmt = if stderr_is_journal {
        fmt.without_time().boxed()
    } else {
        fmt.boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(recent)
        .try_init()
        .map_err(RuntimeError::LoggingAlreadyInitialized)?;
    warn_filter(filter_error);
    if let Some(e) = journald_error {
        tracing::warn!(error = %e, "journald socket unusable, logging to stderr");
    }
    Ok(LogTarget::Stderr)
}

fn env_filter() -> (EnvFilter, Option<(String, String)>) {
    let spec = std::env::var(LOG_ENV).unwrap_or_default();
    if spec.trim().is_empty() {
        return (EnvFilter::new("info"), None);
    }
    match EnvFilter::try_new(&spec) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some((spec, e.to_string()))),
    }
}

fn warn_filter(error: Option<(String, String)>) {
    if let Some((spec, error)) = error {
        tracing::warn!(filter = %spec, %error, "invalid {LOG_ENV}, using \"info\"");
    }
}

/// Device and inode of stderr (fd 2), as systemd puts into `JOURNAL_STREAM`.
fn stderr_dev_ino() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let md = std::fs::metadata("/proc/self/fd/2").ok()?;
    Some((md.dev(), md.ino()))
}

/// `JOURNAL_STREAM=<dev>:<ino>` is set and refers to our stderr (systemd's
/// recommended check: the variable is inherited even if stderr was redirected).
/// If stderr cannot be inspected, a well-formed variable is trusted.
fn journal_stream_matches(var: Option<OsString>, stderr: Option<(u64, u64)>) -> bool {
    let Some(var) = var else { return false };
    let Some((dev, ino)) = var.to_str().and_then(|s| s.trim().split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    stderr.is_none_or(|actual| actual == (dev, ino))
}

#[cfg_attr(not(feature = "journald"), allow(dead_code))]
fn systemd_journal_wanted(
    env: impl Fn(&str) -> Option<OsString>,
    journal_socket_exists: bool,
    stderr: Option<(u64, u64)>,
) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    journal_stream_matches(env("JOURNAL_STREAM"), stderr)
        || (journal_socket_exists && (set("NOTIFY_SOCKET") || set("INVOCATION_ID")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_env::env_of;

    #[test]
    fn journal_stream_check() {
        assert!(!journal_stream_matches(None, Some((1, 2))));
        assert!(journal_stream_matches(Some("1:2".into()), Some((1, 2))));
        assert!(!journal_stream_matches(Some("1:3".into()), Some((1, 2))));
        assert!(journal_stream_matches(Some("1:3".into()), None));
        assert!(!journal_stream_matches(Some("garbage".into()), None));
        assert!(!journal_stream_matches(Some("".into()), None));
    }

    #[test]
    fn systemd_detection() {
        let none = env_of(&[]);
        assert!(!systemd_journal_wanted(&none, true, Some((1, 2))));
        let stream = env_of(&[("JOURNAL_STREAM", "1:2")]);
        assert!(systemd_journal_wanted(&stream, false, Some((1, 2))));
        assert!(!systemd_journal_wanted(&stream, false, Some((9, 9))));
        let notify = env_of(&[("NOTIFY_SOCKET", "/run/systemd/notify")]);
        assert!(systemd_journal_wanted(&notify, true, None));
        assert!(!systemd_journal_wanted(&notify, false, None));
        let inv = env_of(&[("INVOCATION_ID", "abc")]);
        assert!(systemd_journal_wanted(&inv, true, None));
        let empty = env_of(&[("INVOCATION_ID", "")]);
        assert!(!systemd_journal_wanted(&empty, true, None));
    }

    #[test]
    fn stderr_is_inspectable() {
        assert!(stderr_dev_ino().is_some());
    }
}

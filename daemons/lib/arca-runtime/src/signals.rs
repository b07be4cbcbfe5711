//! Signals as typed control messages.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::RuntimeError;

/// A control message derived from a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGTERM or SIGINT: shut down gracefully.
    Shutdown,
    /// SIGHUP: reload configuration.
    Reload,
}

/// Install handlers for SIGTERM, SIGINT and SIGHUP and return a receiver of
/// [`Control`] messages. Must be called from within a tokio runtime.
///
/// Once installed, the handlers stay in place for the life of the process (tokio
/// never restores the default disposition), so the signals no longer terminate the
/// process by themselves. A repeated `Shutdown` is delivered as well; callers may
/// treat a second one as "exit now". The forwarding task ends when the receiver is
/// dropped.
pub fn control_channel() -> Result<mpsc::Receiver<Control>, RuntimeError> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| RuntimeError::NoTokioRuntime)?;
    let _guard = handle.enter();
    let install = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| RuntimeError::Signal {
            signal: name,
            source,
        })
    };
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    let mut hup = install(SignalKind::hangup(), "SIGHUP")?;

    let (tx, rx) = mpsc::channel(16);
    handle.spawn(async move {
        loop {
            let (msg, name) = tokio::select! {
                Some(()) = term.recv() => (Control::Shutdown, "SIGTERM"),
                Some(()) = int.recv() => (Control::Shutdown, "SIGINT"),
                Some(()) = hup.recv() => (Control::Reload, "SIGHUP"),
                _ = tx.closed() => break,
                else => break,
            };
            tracing::info!(signal = name, "received {name}");
            if tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

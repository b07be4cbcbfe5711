//! The opening and the control loop every daemon's service shares: `STATUS=checking
//! configuration` first, then the signal channel and the main loop's heartbeat, `READY=1` with
//! the watchdog tied to that heartbeat, SIGHUP answered by a log line, SIGTERM/SIGINT ending
//! the loop.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::Receiver;

use crate::{Control, Heartbeat, Notifier, RuntimeError};

/// What SIGHUP logs in a daemon that reads its configuration at start only.
pub const SIGHUP_READ_AT_START: &str =
    "SIGHUP: configuration is read at start; restart the service to apply changes";

/// A service that is starting: it said `STATUS=checking configuration`.
pub struct Starting {
    pub started: Instant,
    pub notifier: Notifier,
}

impl Starting {
    /// The first step of every service: the clock of "ready in … ms" starts, `STATUS=` says
    /// that the configuration is being checked.
    pub fn new() -> Starting {
        let starting = Starting {
            started: Instant::now(),
            notifier: Notifier::new(),
        };
        starting.notifier.status("checking configuration");
        starting
    }

    /// Take over SIGTERM/SIGINT/SIGHUP (from now on they are messages, not the default
    /// action) and create the main loop's heartbeat.
    pub fn listen(self) -> Result<Service, RuntimeError> {
        Ok(Service {
            started: self.started,
            notifier: self.notifier,
            heartbeat: Heartbeat::new(),
            control: crate::control_channel()?,
        })
    }
}

impl Default for Starting {
    fn default() -> Self {
        Starting::new()
    }
}

/// A service that receives its signals: what its main loop needs.
pub struct Service {
    pub started: Instant,
    pub notifier: Notifier,
    /// Beaten by the main loop; the watchdog pings while it is fresh.
    pub heartbeat: Heartbeat,
    /// SIGTERM/SIGINT/SIGHUP as messages.
    pub control: Receiver<Control>,
}

impl Service {
    /// `READY=1` with `message` as `STATUS=`, then watchdog pings while the heartbeat is
    /// younger than `max_age` (the protocol wants them after `READY=1`).
    pub fn ready(&self, message: &str, max_age: Duration) {
        self.notifier.ready(message);
        let heartbeat = self.heartbeat.clone();
        crate::spawn_watchdog(self.notifier.clone(), move || heartbeat.is_fresh(max_age));
    }

    /// Beat the heartbeat every second from a task of its own, for a service whose main loop
    /// only waits (its health is then the runtime's).
    pub fn beat_every_second(&self) {
        let heartbeat = self.heartbeat.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                heartbeat.beat();
            }
        });
    }

    /// Wait for SIGTERM/SIGINT (or the end of the signal channel); each SIGHUP meanwhile logs
    /// [`SIGHUP_READ_AT_START`]. Cancel-safe: for a `select!` arm of a main loop.
    pub async fn stop_requested(&mut self) {
        loop {
            match self.control.recv().await {
                Some(Control::Reload) => tracing::info!("{SIGHUP_READ_AT_START}"),
                Some(Control::Shutdown) | None => return,
            }
        }
    }

    /// The daemon has nothing to do on this node (e.g. a single node needs no license):
    /// `READY=1` with `message` as `STATUS=` and in the log, then wait for SIGTERM/SIGINT.
    /// The unit stays active, so it can be enabled on every node.
    pub async fn idle(mut self, name: &str, message: &str) -> anyhow::Result<()> {
        self.ready(message, Duration::from_secs(30));
        tracing::info!("{name} {}: {message}", crate::build());
        let mut beat = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = beat.tick() => self.heartbeat.beat(),
                msg = self.control.recv() => match msg {
                    Some(Control::Reload) => {}
                    Some(Control::Shutdown) | None => break,
                }
            }
        }
        self.notifier.stopping("stopping");
        tracing::info!("stopped");
        Ok(())
    }
}

//! The background scrubber (docs/storage.md, "Scrubbing"): passes over every binary of the
//! database in SHA-256 order, each checked on this node with [`arca_storage::scrub::check_blob`]
//! (its own copies re-read and hashed, corrupt ones quarantined and repaired where the chain
//! has a good copy).
//!
//! * A pass starts `arca.storage.scrub.interval.hours` after the previous one finished
//!   (the first [`FIRST_PASS_DELAY`] after the start that finds no earlier pass), or at once on
//!   request (`POST /api/system/storage/scrub`, `arcactl storage scrub` over the control
//!   socket), which may also set its read rate.
//! * Resumable: the position (pass id, start, last SHA-256 done, counts) is written to
//!   `<home>/data/scrub-state.json` (atomically) every [`SAVE_EVERY`] and at stop; the next
//!   start continues the pass after that SHA-256.
//! * Progress: appended to `STATUS=` while a pass runs, `GET /api/system/storage/scrub`, the
//!   socket's `scrub-status`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arca_cluster::server_socket::{ScrubPass, ScrubReport, ScrubState};
use arca_config::{Home, SystemSettings};
use arca_db::{Db, items};
use arca_runtime::Notifier;
use arca_storage::Storage;
use arca_storage::scrub::{Outcome, ScrubError, Throttle, check_blob};
use serde::{Deserialize, Serialize};

/// Binaries read from the database per page.
const PAGE: usize = 500;
/// The position is written to the state file at most this often while a pass runs.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// `STATUS=` is updated at most this often.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// The first background pass of a node that never scrubbed starts this long after the start
/// (not in the middle of a start-up, an upgrade or a test run).
const FIRST_PASS_DELAY: Duration = Duration::from_secs(600);
/// After a database error the pass waits this long before reading the page again.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long a stop waits for the pass to save its position.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The state file, under `<home>/data` (node-local even when the file store is shared).
const STATE_FILE: &str = "scrub-state.json";

/// What `system.properties` says about scrubbing.
#[derive(Debug, Clone, Copy)]
pub struct ScrubSettings {
    pub enabled: bool,
    pub rate_bytes_per_sec: u64,
    pub interval: Duration,
}

impl ScrubSettings {
    pub fn of(system: &SystemSettings) -> ScrubSettings {
        ScrubSettings {
            enabled: system.scrub_enabled,
            rate_bytes_per_sec: system.scrub_rate_bytes,
            interval: system.scrub_interval,
        }
    }
}

/// What the state file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    /// The pass running or interrupted.
    pass: Option<ScrubPass>,
    last_pass: Option<ScrubPass>,
}

/// The scrubber as the request handlers and the control socket see it. Cheap to clone;
/// idle until [`Scrubber::spawn`].
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    config: OnceLock<Config>,
    inner: Mutex<Inner>,
    /// A start request, or a stop.
    wake: tokio::sync::Notify,
    throttle: OnceLock<Throttle>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    status: Mutex<StatusLine>,
}

#[derive(Debug)]
struct Config {
    settings: ScrubSettings,
    state_file: PathBuf,
    storage: Storage,
    db: Db,
}

#[derive(Debug, Default)]
struct Inner {
    saved: Saved,
    running: bool,
    /// A start asked for (with its rate, if any) that the loop has not taken yet.
    requested: Option<Option<u64>>,
    stopping: bool,
    /// When the next background pass is due (Unix ms).
    next_pass_ms: Option<i64>,
}

/// `STATUS=`: what the server says (`serving … as node …`) plus the scrub's progress.
#[derive(Debug, Default)]
struct StatusLine {
    notifier: Option<Notifier>,
    base: String,
    last: String,
}

fn now_ms() -> i64 {
    arca_db::Clock::now_ms(&arca_db::SystemClock)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Scrubber {
    /// Read the state file and start the loop. `status_base` is what `STATUS=` says without
    /// the scrub (see [`Scrubber::set_status_base`]).
    pub fn spawn(
        &self,
        home: &Home,
        settings: ScrubSettings,
        storage: Storage,
        db: Db,
        notifier: Notifier,
        status_base: &str,
    ) {
        let state_file = home.data().join(STATE_FILE);
        let saved = read_state(&state_file);
        {
            let mut status = lock(&self.shared.status);
            status.notifier = Some(notifier);
            status.base = status_base.to_string();
        }
        {
            let mut inner = lock(&self.shared.inner);
            inner.next_pass_ms = next_due(&saved, settings, now_ms());
            inner.saved = saved;
        }
        let _ = self
            .shared
            .throttle
            .set(Throttle::new(settings.rate_bytes_per_sec));
        let config = Config {
            settings,
            state_file,
            storage,
            db,
        };
        if self.shared.config.set(config).is_err() {
            return; // started already
        }
        let shared = self.shared.clone();
        *lock(&self.shared.task) = Some(tokio::spawn(run(shared)));
    }

    /// Stop the loop; a running pass saves its position first (the next start continues it).
    pub async fn stop(&self) {
        lock(&self.shared.inner).stopping = true;
        if let Some(t) = self.shared.throttle.get() {
            t.cancel();
        }
        self.shared.wake.notify_one();
        let task = lock(&self.shared.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err()
        {
            tracing::warn!("the scrubber did not stop in time; its position may be older");
            task.abort();
        }
    }

    /// Start a pass now, or report the running one (then `bytes_per_sec` changes its rate).
    /// `bytes_per_sec`: the pass's read rate (0: no limit), `None`: the configured one.
    pub fn start(&self, bytes_per_sec: Option<u64>) -> Result<ScrubReport, String> {
        let Some(throttle) = self.shared.throttle.get() else {
            return Err("the scrubber is not running on this node (still starting?)".into());
        };
        let started = {
            let mut inner = lock(&self.shared.inner);
            if inner.stopping {
                return Err("the server is stopping".into());
            }
            if inner.running {
                if let Some(rate) = bytes_per_sec {
                    throttle.set_rate(rate);
                }
                false
            } else {
                // An interrupted pass is continued rather than started over.
                if inner.saved.pass.is_none() {
                    inner.saved.pass = Some(new_pass("request", now_ms()));
                }
                inner.requested = Some(bytes_per_sec);
                if let Some(config) = self.shared.config.get() {
                    throttle.set_rate(bytes_per_sec.unwrap_or(config.settings.rate_bytes_per_sec));
                }
                // Shown as running from now on: the loop takes the request at once.
                inner.running = true;
                true
            }
        };
        if started {
            self.shared.wake.notify_one();
        }
        let mut report = self.report();
        report.started = started;
        Ok(report)
    }

    /// The scrubber's progress.
    pub fn report(&self) -> ScrubReport {
        let config = self.shared.config.get();
        let inner = lock(&self.shared.inner);
        ScrubReport {
            state: if inner.running {
                ScrubState::Running
            } else {
                ScrubState::Idle
            },
            enabled: config.is_some_and(|c| c.settings.enabled),
            rate_bytes_per_sec: self.shared.throttle.get().map_or(0, Throttle::rate),
            interval_hours: config.map_or(0, |c| c.settings.interval.as_secs() / 3600),
            pass: inner.saved.pass.clone(),
            last_pass: inner.saved.last_pass.clone(),
            next_pass_ms: if inner.running {
                None
            } else {
                inner.next_pass_ms
            },
            started: false,
        }
    }

    /// What `STATUS=` says besides the scrub (the serving line; a restart that is required).
    pub fn set_status_base(&self, base: &str) {
        lock(&self.shared.status).base = base.to_string();
        self.shared.publish_status(true);
    }
}

impl Shared {
    fn config(&self) -> &Config {
        self.config
            .get()
            .unwrap_or_else(|| unreachable!("the loop runs after spawn set the config"))
    }

    fn throttle(&self) -> &Throttle {
        self.throttle
            .get()
            .unwrap_or_else(|| unreachable!("the loop runs after spawn set the throttle"))
    }

    /// Send `STATUS=` when it changed (or `force`).
    fn publish_status(&self, force: bool) {
        let suffix = {
            let inner = lock(&self.inner);
            status_suffix(&inner)
        };
        let mut status = lock(&self.status);
        let line = format!("{}{suffix}", status.base);
        if (force || line != status.last)
            && let Some(notifier) = &status.notifier
        {
            notifier.status(&line);
            status.last = line;
        }
    }

    /// The pass in memory, and the time to write it to the file.
    fn update(&self, pass: &ScrubPass) {
        lock(&self.inner).saved.pass = Some(pass.clone());
    }

    async fn save(&self) {
        let (saved, file) = (
            lock(&self.inner).saved.clone(),
            self.config().state_file.clone(),
        );
        let written = tokio::task::spawn_blocking(move || write_state(&file, &saved)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not save the scrub position: {e:#}"),
            Err(e) => tracing::warn!("could not save the scrub position: {e}"),
        }
    }
}

/// `; scrub 41% (1.2 of 3.0 GB, 0 corrupt)` while a pass runs; after a pass that left
/// unrepairable binaries, that count; else nothing.
fn status_suffix(inner: &Inner) -> String {
    if inner.running
        && let Some(p) = &inner.saved.pass
    {
        let repaired = if p.repaired > 0 {
            format!(", {} repaired", p.repaired)
        } else {
            String::new()
        };
        return format!(
            "; scrub {:.0}% ({}, {} corrupt{repaired})",
            p.percent().floor(),
            of_bytes(p.checked_bytes, p.total_bytes),
            p.corrupt
        );
    }
    if inner.running {
        return "; scrub starting".into();
    }
    match &inner.saved.last_pass {
        Some(p) if p.unrepairable > 0 => format!(
            "; last scrub: {} corrupt binaries could not be repaired",
            p.unrepairable
        ),
        _ => String::new(),
    }
}

/// `1.2 GB` (10^9 bytes), `3.4 MB` below a tenth of a GB.
fn gb(bytes: u64) -> String {
    let (value, unit) = unit_of(bytes);
    format!("{:.1} {unit}", bytes as f64 / value)
}

/// `1.2 of 3.0 GB`, in the unit of `total`.
fn of_bytes(done: u64, total: u64) -> String {
    let (value, unit) = unit_of(total);
    format!(
        "{:.1} of {:.1} {unit}",
        done as f64 / value,
        total as f64 / value
    )
}

fn unit_of(bytes: u64) -> (f64, &'static str) {
    if bytes >= 100_000_000 {
        (1e9, "GB")
    } else {
        (1e6, "MB")
    }
}

/// When the next background pass is due: the interval after the last one finished; the first
/// [`FIRST_PASS_DELAY`] after now. `None` when disabled.
fn next_due(saved: &Saved, settings: ScrubSettings, now: i64) -> Option<i64> {
    if !settings.enabled {
        return None;
    }
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    Some(match saved.last_pass.as_ref().and_then(|p| p.finished_ms) {
        Some(finished) => finished.saturating_add(ms(settings.interval)),
        None => now.saturating_add(ms(FIRST_PASS_DELAY)),
    })
}

fn read_state(file: &std::path::Path) -> Saved {
    match std::fs::read(file) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(saved) => saved,
            Err(e) => {
                tracing::warn!(
                    "{} is unreadable ({e}); the scrubber starts afresh",
                    file.display()
                );
                Saved::default()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
        Err(e) => {
            tracing::warn!(
                "cannot read {} ({e}); the scrubber starts afresh",
                file.display()
            );
            Saved::default()
        }
    }
}

fn write_state(file: &std::path::Path, saved: &Saved) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(saved)?;
    arca_config::write_file_atomically(file, &bytes, 0o640)?;
    Ok(())
}

/// What the loop does next.
enum Next {
    Run(ScrubPass, Option<u64>),
    Wait(Duration),
    Stop,
}

/// The loop: a pass when one is due, asked for or interrupted; otherwise wait.
async fn run(shared: Arc<Shared>) {
    loop {
        match next(&shared) {
            Next::Stop => break,
            Next::Wait(d) => {
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(d) => {}
                }
            }
            Next::Run(pass, rate) => {
                if run_pass(&shared, pass, rate).await.is_err() {
                    break; // stopping: the position is saved
                }
            }
        }
    }
    lock(&shared.inner).running = false;
}

fn next(shared: &Shared) -> Next {
    let settings = shared.config().settings;
    let now = now_ms();
    let mut inner = lock(&shared.inner);
    if inner.stopping {
        return Next::Stop;
    }
    if let Some(rate) = inner.requested.take() {
        let pass = inner
            .saved
            .pass
            .clone()
            .unwrap_or_else(|| new_pass("request", now));
        inner.running = true;
        return Next::Run(pass, rate);
    }
    if let Some(pass) = inner.saved.pass.clone()
        && (settings.enabled || pass.trigger == "request")
    {
        inner.running = true;
        return Next::Run(pass, None);
    }
    match inner.next_pass_ms {
        Some(due) if due <= now => {
            inner.running = true;
            Next::Run(new_pass("schedule", now), None)
        }
        Some(due) => Next::Wait(Duration::from_millis(
            u64::try_from(due - now).unwrap_or(0).min(3_600_000),
        )),
        None => Next::Wait(Duration::from_secs(3600)),
    }
}

fn new_pass(trigger: &str, now: i64) -> ScrubPass {
    ScrubPass {
        id: arca_crypto::random_hex(8),
        trigger: trigger.to_string(),
        started_ms: now,
        ..ScrubPass::default()
    }
}

/// Why a pass ended before its last binary.
struct Stopped;

/// Run (or continue) `pass` to its end; `Err` when the server stops (position saved).
async fn run_pass(shared: &Shared, mut pass: ScrubPass, rate: Option<u64>) -> Result<(), Stopped> {
    let config = shared.config();
    let throttle = shared.throttle();
    throttle.set_rate(rate.unwrap_or(config.settings.rate_bytes_per_sec));
    if pass.checked == 0 && pass.total == 0 {
        match config.db.read(items::binary_totals).await {
            Ok((count, bytes)) => (pass.total, pass.total_bytes) = (count, bytes),
            Err(e) => tracing::warn!("scrub: counting the binaries failed: {e}"),
        }
        tracing::info!(
            pass = %pass.id,
            trigger = %pass.trigger,
            "scrub pass started: {} binaries ({}) at {}",
            pass.total,
            gb(pass.total_bytes),
            rate_text(throttle.rate())
        );
    } else {
        tracing::info!(
            pass = %pass.id,
            "continuing scrub pass at binary {} of {} (after {})",
            pass.checked + 1,
            pass.total,
            pass.position
        );
    }
    shared.update(&pass);
    shared.publish_status(false);
    let (mut saved_at, mut status_at) = (Instant::now(), Instant::now());
    let mut elapsed_at = Instant::now();
    loop {
        let after = pass.position.clone();
        let page = match config
            .db
            .read(move |c| items::binaries_after(c, &after, PAGE))
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(
                    "scrub: reading the binaries failed ({e}); trying again in {} s",
                    RETRY_AFTER.as_secs()
                );
                if wait_or_stop(shared, RETRY_AFTER).await {
                    return stop(shared, &mut pass, &mut elapsed_at).await;
                }
                continue;
            }
        };
        if page.is_empty() {
            break;
        }
        for (sha256, size) in page {
            match check_blob(&config.storage, &sha256, size, throttle).await {
                Ok(check) => {
                    pass.read_bytes += check.bytes_read;
                    match check.outcome {
                        Outcome::Ok => pass.ok += 1,
                        Outcome::Missing => pass.missing += 1,
                        Outcome::Repaired => {
                            pass.corrupt += 1;
                            pass.repaired += 1;
                        }
                        Outcome::Unrepairable => {
                            pass.corrupt += 1;
                            pass.unrepairable += 1;
                        }
                    }
                }
                Err(ScrubError::Cancelled) => {
                    return stop(shared, &mut pass, &mut elapsed_at).await;
                }
                Err(ScrubError::Storage(e)) => {
                    pass.failed += 1;
                    tracing::warn!(arca_sha256 = %sha256, "scrub: could not check a binary: {e}");
                }
            }
            pass.checked += 1;
            pass.checked_bytes += size;
            pass.position = sha256;
            add_elapsed(&mut pass, &mut elapsed_at);
            shared.update(&pass);
            if status_at.elapsed() >= STATUS_EVERY {
                status_at = Instant::now();
                shared.publish_status(false);
            }
            if saved_at.elapsed() >= SAVE_EVERY {
                saved_at = Instant::now();
                shared.save().await;
            }
            if lock(&shared.inner).stopping {
                return stop(shared, &mut pass, &mut elapsed_at).await;
            }
        }
    }
    finish(shared, pass).await;
    Ok(())
}

fn add_elapsed(pass: &mut ScrubPass, since: &mut Instant) {
    pass.elapsed_ms += u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
    *since = Instant::now();
}

/// Sleep `d` unless the server stops meanwhile; true when it stops.
async fn wait_or_stop(shared: &Shared, d: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        if lock(&shared.inner).stopping {
            return true;
        }
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep_until(deadline) => return lock(&shared.inner).stopping,
        }
    }
}

async fn stop(
    shared: &Shared,
    pass: &mut ScrubPass,
    elapsed_at: &mut Instant,
) -> Result<(), Stopped> {
    add_elapsed(pass, elapsed_at);
    shared.update(pass);
    shared.save().await;
    tracing::info!(
        pass = %pass.id,
        "scrub pass interrupted after {} of {} binaries; the next start continues it",
        pass.checked,
        pass.total
    );
    Err(Stopped)
}

async fn finish(shared: &Shared, mut pass: ScrubPass) {
    let now = now_ms();
    pass.finished_ms = Some(now);
    let summary = format!(
        "{} binaries checked ({} read) in {:.0} s: {} ok, {} not held by this node, {} corrupt \
         ({} repaired, {} unrepairable), {} failed",
        pass.checked,
        gb(pass.read_bytes),
        pass.elapsed_ms as f64 / 1000.0,
        pass.ok,
        pass.missing,
        pass.corrupt,
        pass.repaired,
        pass.unrepairable,
        pass.failed
    );
    if pass.unrepairable > 0 {
        tracing::error!(pass = %pass.id, "scrub pass finished: {summary}");
    } else if pass.corrupt > 0 || pass.failed > 0 {
        tracing::warn!(pass = %pass.id, "scrub pass finished: {summary}");
    } else {
        tracing::info!(pass = %pass.id, "scrub pass finished: {summary}");
    }
    let settings = shared.config().settings;
    {
        let mut inner = lock(&shared.inner);
        inner.saved.pass = None;
        inner.saved.last_pass = Some(pass);
        inner.next_pass_ms = next_due(&inner.saved, settings, now);
        inner.running = inner.requested.is_some();
    }
    shared.save().await;
    shared.publish_status(false);
}

fn rate_text(bytes_per_sec: u64) -> String {
    if bytes_per_sec == 0 {
        "no rate limit".into()
    } else {
        format!("{:.1} MB/s", bytes_per_sec as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(enabled: bool) -> ScrubSettings {
        ScrubSettings {
            enabled,
            rate_bytes_per_sec: 1,
            interval: Duration::from_secs(3600),
        }
    }

    #[test]
    fn the_next_pass_follows_the_last_or_waits_after_a_first_start() {
        let mut saved = Saved::default();
        assert_eq!(next_due(&saved, settings(false), 1_000), None);
        assert_eq!(
            next_due(&saved, settings(true), 1_000),
            Some(1_000 + 600_000)
        );
        saved.last_pass = Some(ScrubPass {
            finished_ms: Some(5_000),
            ..ScrubPass::default()
        });
        assert_eq!(
            next_due(&saved, settings(true), 1_000_000),
            Some(5_000 + 3_600_000)
        );
    }

    #[test]
    fn status_shows_progress_while_running_and_unrepairable_after() {
        let mut inner = Inner::default();
        assert_eq!(status_suffix(&inner), "");
        inner.running = true;
        inner.saved.pass = Some(ScrubPass {
            total_bytes: 3_000_000_000,
            checked_bytes: 1_230_000_000,
            corrupt: 1,
            repaired: 1,
            ..ScrubPass::default()
        });
        assert_eq!(
            status_suffix(&inner),
            "; scrub 41% (1.2 of 3.0 GB, 1 corrupt, 1 repaired)"
        );
        inner.running = false;
        inner.saved.last_pass = inner.saved.pass.take().map(|p| ScrubPass {
            unrepairable: 2,
            ..p
        });
        assert_eq!(
            status_suffix(&inner),
            "; last scrub: 2 corrupt binaries could not be repaired"
        );
    }

    #[test]
    fn the_state_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        assert!(read_state(&file).pass.is_none());
        let saved = Saved {
            pass: Some(ScrubPass {
                id: "abc".into(),
                position: "ff".repeat(32),
                checked: 7,
                ..ScrubPass::default()
            }),
            last_pass: None,
        };
        write_state(&file, &saved).unwrap();
        let back = read_state(&file);
        assert_eq!(back.pass, saved.pass);
        std::fs::write(&file, "{not json").unwrap();
        assert!(read_state(&file).pass.is_none());
    }
}

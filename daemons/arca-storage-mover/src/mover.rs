//! The dispatcher and its workers.
//!
//! Every `dispatcherInterval` (and when woken through the control socket) the dispatcher lists
//! `_add` and `_delete` and hands entries to at most `workers` tasks, uploads first, oldest
//! first. Nothing is ever dropped because of a failure: an entry stays in the queue until it
//! is done. A transient object-store failure (after the `retry` provider's tries) pauses all
//! dispatching with an exponential back-off (the store is down, hammering it helps nobody); any
//! other failure backs off that entry alone.
//!
//! - upload: claim `_add/<sha>` → hash it (the content must match its name, else it is
//!   quarantined) → `put_file` with retries, refreshing the claim meanwhile (an
//!   `eventual-cluster` skips the upload when another holder's mover already stored the
//!   object) → remove the local file (unless it was replaced by a new deploy of the same
//!   content) → release the claim (→ `eventual-cluster`: forget this node's copy row);
//! - delete: claim `_delete/<sha>` and `_add/<sha>` (no upload of that content may run) → in a
//!   DB write transaction: if the binary is known again, drop the request; else delete the
//!   object (one try: a deploy waits for this transaction), a leftover pending upload of the
//!   content, and the request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arca_config::storage_plan::RetrySpec;
use arca_db::{Db, DbError, items};
use arca_runtime::{Heartbeat, Notifier};
use arca_storage::mover_proto::{BacklogStatus, MoverStatus};
use arca_storage::{
    Backlog, Claim, Claimer, ClusterTier, EntryKind, EventualQueue, MAX_BACKOFF, ObjectStore,
    StorageError, with_retry,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// The loop beats the watchdog heartbeat at least this often, whatever `dispatcherInterval`.
pub const LOOP_TICK: Duration = Duration::from_secs(1);
/// Backlog summary in the journal while the queue is not empty.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Leftover temp files and orphan claims of dead movers are removed this often.
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// After SIGTERM, in-flight transfers get this long to finish; the rest are abandoned (their
/// entries stay queued, claims are released).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Why one entry could not be handled this time.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("content of _add/{sha256} has SHA-256 {actual}; moved to {quarantined}")]
    Corrupt {
        sha256: String,
        actual: String,
        quarantined: String,
    },
    #[error("worker task failed: {0}")]
    Join(String),
}

impl TaskError {
    fn is_transient(&self) -> bool {
        matches!(self, TaskError::Storage(e) if e.is_transient())
    }
}

/// What became of one entry.
#[derive(Debug)]
enum Outcome {
    Uploaded,
    /// The object was deleted (`false`: there was none).
    Deleted(bool),
    /// The delete request was dropped: the binary is known (deployed again).
    Kept,
    /// Nothing done and nothing to retry soon (claimed by another mover, gone, claim lost).
    Skipped(&'static str),
    Failed(TaskError),
}

/// Counters shared with the control socket.
#[derive(Debug, Default)]
pub struct Stats {
    uploaded: AtomicU64,
    /// `eventual-cluster` copies dropped because another holder's mover had uploaded them.
    already_stored: AtomicU64,
    deleted: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// 0 unknown, 1 reachable, 2 unreachable.
    reachable: AtomicU8,
}

impl Stats {
    /// Record the result of an object-store request; returns the previous state.
    pub fn set_reachable(&self, ok: bool) -> Option<bool> {
        decode_reachable(
            self.reachable
                .swap(if ok { 1 } else { 2 }, Ordering::Relaxed),
        )
    }

    pub fn reachable(&self) -> Option<bool> {
        decode_reachable(self.reachable.load(Ordering::Relaxed))
    }

    pub fn record_failure(&self, error: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.to_owned());
        }
    }

    fn counts(&self) -> Counts {
        Counts {
            uploaded: self.uploaded.load(Ordering::Relaxed),
            already_stored: self.already_stored.load(Ordering::Relaxed),
            deleted: self.deleted.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

/// A snapshot of the counters.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    uploaded: u64,
    already_stored: u64,
    deleted: u64,
    failures: u64,
}

fn decode_reachable(v: u8) -> Option<bool> {
    match v {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

/// What the control socket reports; cheap to clone.
#[derive(Debug, Clone)]
pub struct StatusView {
    pub chain: String,
    /// `None` when the chain has no eventual queue.
    pub queue: Option<EventualQueue>,
    /// A sharding-cluster's tier, whose redundancy this mover restores.
    pub cluster: Option<ClusterTier>,
    pub stats: Arc<Stats>,
}

impl StatusView {
    /// The current status, with the backlog read from the queue directory now.
    pub async fn status(&self) -> MoverStatus {
        let backlog = match self.queue.clone() {
            Some(q) => tokio::task::spawn_blocking(move || q.backlog())
                .await
                .unwrap_or_default(),
            None => Backlog::default(),
        };
        let counts = self.stats.counts();
        MoverStatus {
            chain: self.chain.clone(),
            eventual: self.queue.is_some(),
            backlog: BacklogStatus::from(&backlog),
            uploaded: counts.uploaded,
            already_stored: counts.already_stored,
            deleted: counts.deleted,
            failures: counts.failures,
            last_error: self.stats.last_error(),
            object_store_reachable: self.stats.reachable(),
            redundancy: self.cluster.as_ref().map(ClusterTier::redundancy),
            last_restore: self.cluster.as_ref().and_then(ClusterTier::last_restore),
        }
    }
}

/// Everything the workers need.
#[derive(Debug)]
pub struct Mover {
    pub queue: EventualQueue,
    pub store: ObjectStore,
    pub retry: RetrySpec,
    pub db: Db,
    pub claimer: Claimer,
    pub workers: usize,
    pub interval: Duration,
    pub stats: Arc<Stats>,
    /// `eventual-cluster`: the sharding-cluster whose copy rows follow the queue.
    pub cluster: Option<ClusterTier>,
}

type Key = (EntryKind, String);

/// The dispatcher's own state.
struct Dispatch {
    tasks: JoinSet<Outcome>,
    /// The entry each running task works on.
    busy: HashMap<tokio::task::Id, Key>,
    /// Entries of the last scan not handed out yet, in order.
    candidates: VecDeque<Key>,
    /// Entries that failed for a reason of their own: not before, and the next back-off.
    retry_at: HashMap<Key, (Instant, Duration)>,
    /// No dispatching before this (the object store looked down), and the next pause.
    paused_until: Option<Instant>,
    next_pause: Duration,
    backlog: Backlog,
    /// A scan saw entries since the last "drained" report.
    had_backlog: bool,
    last_scan: Option<Instant>,
    last_report: Option<Instant>,
    last_sweep: Option<Instant>,
    reported: Counts,
    status_line: String,
}

impl Mover {
    /// Run until `stop` turns true, then give in-flight work [`SHUTDOWN_GRACE`] to finish.
    pub async fn run(
        self: Arc<Self>,
        mut stop: watch::Receiver<bool>,
        wake: Arc<Notify>,
        heartbeat: Heartbeat,
        notifier: Notifier,
    ) {
        let mut d = Dispatch {
            tasks: JoinSet::new(),
            busy: HashMap::new(),
            candidates: VecDeque::new(),
            retry_at: HashMap::new(),
            paused_until: None,
            next_pause: self.first_pause(),
            backlog: Backlog::default(),
            had_backlog: false,
            last_scan: None,
            last_report: None,
            last_sweep: None,
            reported: Counts::default(),
            status_line: String::new(),
        };
        let mut tick = tokio::time::interval(LOOP_TICK.min(self.interval));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut woken = false;
        loop {
            heartbeat.beat();
            let now = Instant::now();
            if d.paused_until.is_some_and(|t| now >= t) {
                d.paused_until = None;
            }
            let scan_due = woken || d.last_scan.is_none_or(|t| now - t >= self.interval);
            // Scanned while paused too: the backlog in STATUS= and the summaries stays current
            // (only dispatching pauses).
            if scan_due {
                woken = false;
                self.scan(&mut d).await;
            }
            if d.last_sweep.is_none_or(|t| now - t >= SWEEP_EVERY) {
                d.last_sweep = Some(now);
                self.sweep().await;
            }
            self.dispatch(&mut d);
            self.report(&mut d, &notifier);
            // The next scan exactly `dispatcherInterval` after the last (not at the first loop
            // tick after it, which would stretch 5 s into 6).
            let next_scan = tokio::time::Instant::from_std(
                d.last_scan.unwrap_or_else(Instant::now) + self.interval,
            );
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(joined) = d.tasks.join_next_with_id(), if !d.tasks.is_empty() => {
                    self.finish(&mut d, joined);
                }
                () = wake.notified() => woken = true,
                () = tokio::time::sleep_until(next_scan) => {}
                _ = tick.tick() => {}
            }
        }
        self.shut_down(d, &notifier).await;
    }

    fn first_pause(&self) -> Duration {
        self.retry
            .interval
            .clamp(Duration::from_millis(100), MAX_BACKOFF)
    }

    /// List the queue; the result replaces the candidates.
    async fn scan(&self, d: &mut Dispatch) {
        d.last_scan = Some(Instant::now());
        let queue = self.queue.clone();
        let listed = tokio::task::spawn_blocking(move || {
            let adds = queue.entries(EntryKind::Add)?;
            let deletes = queue.entries(EntryKind::Delete)?;
            Ok::<_, StorageError>((adds, deletes))
        })
        .await;
        let (adds, deletes) = match listed {
            Ok(Ok(lists)) => lists,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot list the eventual queue");
                self.stats.record_failure(&e.to_string());
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "queue listing task failed");
                return;
            }
        };
        let mut all = adds;
        all.extend(deletes);
        d.backlog = Backlog::of(&all, SystemTime::now());
        d.had_backlog |= !d.backlog.is_empty();
        // In listing order: adds oldest first, then deletes.
        let keys: Vec<Key> = all.into_iter().map(|e| (e.kind, e.sha256)).collect();
        let listed: HashSet<&Key> = keys.iter().collect();
        d.retry_at.retain(|k, _| listed.contains(k));
        let busy: HashSet<&Key> = d.busy.values().collect();
        let now = Instant::now();
        d.candidates = keys
            .iter()
            .filter(|k| !busy.contains(k))
            .filter(|k| d.retry_at.get(*k).is_none_or(|(at, _)| now >= *at))
            .cloned()
            .collect();
    }

    /// Hand candidates to free workers.
    fn dispatch(self: &Arc<Self>, d: &mut Dispatch) {
        if d.paused_until.is_some() {
            return;
        }
        while d.tasks.len() < self.workers.max(1) {
            let Some(key) = d.candidates.pop_front() else {
                break;
            };
            if d.busy.values().any(|k| *k == key) {
                continue;
            }
            let me = self.clone();
            let (kind, sha) = key.clone();
            let task = d.tasks.spawn(async move {
                let outcome = match kind {
                    EntryKind::Add => me.upload(&sha).await,
                    EntryKind::Delete => me.delete(&sha).await,
                };
                outcome.unwrap_or_else(Outcome::Failed)
            });
            d.busy.insert(task.id(), key);
        }
    }

    fn finish(
        &self,
        d: &mut Dispatch,
        joined: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
    ) {
        let (id, outcome) = match joined {
            Ok(done) => done,
            // A worker that panicked or was aborted: its entry stays queued.
            Err(e) => (e.id(), Outcome::Failed(TaskError::Join(e.to_string()))),
        };
        let Some(key) = d.busy.remove(&id) else {
            return;
        };
        let kind = key.0;
        let sha = key.1.clone();
        let sha = sha.as_str();
        match outcome {
            Outcome::Uploaded | Outcome::Deleted(_) => {
                d.retry_at.remove(&key);
                d.next_pause = self.first_pause();
                if self.stats.set_reachable(true) == Some(false) {
                    tracing::info!("object store reachable again; resuming the queue");
                }
            }
            Outcome::Kept => {
                tracing::debug!(
                    arca_sha256 = sha,
                    "delete request dropped: the binary is in use again"
                );
            }
            Outcome::Skipped(why) => {
                tracing::debug!(arca_sha256 = sha, kind = kind.name(), why, "entry skipped");
            }
            Outcome::Failed(e) => {
                let message = e.to_string();
                self.stats.record_failure(&message);
                if e.is_transient() && d.paused_until.is_some_and(|t| t > Instant::now()) {
                    // Another transfer of the same round failed for the same outage: the
                    // pause already running covers it (no doubling per worker).
                    tracing::debug!(
                        arca_sha256 = sha,
                        kind = kind.name(),
                        error = %message,
                        "object store still unreachable (already pausing)"
                    );
                } else if e.is_transient() {
                    let pause = d.next_pause;
                    d.paused_until = Some(Instant::now() + pause);
                    d.next_pause = (pause * 2).min(MAX_BACKOFF);
                    let was = self.stats.set_reachable(false);
                    if was != Some(false) {
                        tracing::error!(
                            error = %message,
                            adds = d.backlog.adds,
                            add_bytes = d.backlog.add_bytes,
                            "OBJECT STORE UNREACHABLE: uploads stay in the eventual queue and are \
                             retried (nothing is lost); pausing {} ms",
                            pause.as_millis()
                        );
                    } else {
                        tracing::warn!(
                            arca_sha256 = sha,
                            kind = kind.name(),
                            error = %message,
                            "object store still unreachable; pausing {} ms",
                            pause.as_millis()
                        );
                    }
                } else {
                    let backoff = d
                        .retry_at
                        .get(&key)
                        .map_or(self.first_pause(), |(_, b)| (*b * 2).min(MAX_BACKOFF));
                    tracing::warn!(
                        arca_sha256 = sha,
                        kind = kind.name(),
                        error = %message,
                        "{} failed; retrying in {} ms",
                        kind.name(),
                        backoff.as_millis()
                    );
                    d.retry_at.insert(key, (Instant::now() + backoff, backoff));
                }
            }
        }
    }

    /// STATUS= when it changes; the journal summary every minute while there is a backlog and
    /// once when it drains.
    fn report(&self, d: &mut Dispatch, notifier: &Notifier) {
        let mut line = format!("{}: {}", self.store.describe(), d.backlog);
        if let Some(until) = d.paused_until {
            line.push_str(&format!(
                "; OBJECT STORE UNREACHABLE, retry in {} s",
                until.saturating_duration_since(Instant::now()).as_secs() + 1
            ));
        }
        if line != d.status_line {
            notifier.status(&line);
            d.status_line = line;
        }
        let drained = d.had_backlog && d.backlog.is_empty() && d.tasks.is_empty();
        let due =
            !d.backlog.is_empty() && d.last_report.is_none_or(|t| t.elapsed() >= REPORT_EVERY);
        if !(drained || due) {
            return;
        }
        let counts = self.stats.counts();
        let last = d.reported;
        let (up, already, del, fail) = (
            counts.uploaded - last.uploaded,
            counts.already_stored - last.already_stored,
            counts.deleted - last.deleted,
            counts.failures - last.failures,
        );
        let already_text = if already > 0 {
            format!(", {already} already in the object store (local copy dropped)")
        } else {
            String::new()
        };
        tracing::info!(
            adds = d.backlog.adds,
            add_bytes = d.backlog.add_bytes,
            deletes = d.backlog.deletes,
            oldest_age_secs = d.backlog.oldest_age.map(|a| a.as_secs()),
            uploaded = up,
            already_stored = already,
            deleted = del,
            failures = fail,
            "{}: {}; since the last report {up} uploaded{already_text}, {del} deleted, {fail} \
             failed attempts",
            if d.backlog.is_empty() {
                "eventual queue drained"
            } else {
                "eventual queue"
            },
            d.backlog,
        );
        d.reported = counts;
        d.last_report = Some(Instant::now());
        d.had_backlog = !d.backlog.is_empty();
    }

    async fn sweep(&self) {
        let queue = self.queue.clone();
        let older_than = self.claimer.timeout() * 2 + Duration::from_secs(60);
        match tokio::task::spawn_blocking(move || queue.sweep(older_than)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!("removed {n} leftover claim/temp file(s) of stopped movers")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot sweep the eventual queue"),
            Err(e) => tracing::warn!(error = %e, "sweep task failed"),
        }
    }

    async fn shut_down(&self, mut d: Dispatch, notifier: &Notifier) {
        let d = &mut d;
        self.finish_in_flight(d, notifier).await;
        // What the periodic reports did not say yet, and the totals, for the journal.
        let c = self.stats.counts();
        tracing::info!(
            uploaded = c.uploaded,
            already_stored = c.already_stored,
            deleted = c.deleted,
            failures = c.failures,
            "stopping: since the start {} uploaded, {} already in the object store, {} deleted, \
             {} failed attempts; queue at the last scan: {}",
            c.uploaded,
            c.already_stored,
            c.deleted,
            c.failures,
            d.backlog
        );
    }

    async fn finish_in_flight(&self, d: &mut Dispatch, notifier: &Notifier) {
        if d.tasks.is_empty() {
            return;
        }
        let n = d.tasks.len();
        notifier.stopping(&format!(
            "finishing {n} transfer(s) (at most {} s)",
            SHUTDOWN_GRACE.as_secs()
        ));
        tracing::info!(
            "waiting up to {} s for {n} transfer(s) in flight",
            SHUTDOWN_GRACE.as_secs()
        );
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while !d.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, d.tasks.join_next_with_id()).await {
                Ok(Some(joined)) => self.finish(d, joined),
                Ok(None) => break,
                Err(_) => break,
            }
        }
        if !d.tasks.is_empty() {
            tracing::warn!(
                "abandoning {} transfer(s): their entries stay queued for the next start",
                d.tasks.len()
            );
            d.tasks.shutdown().await; // workers' claims are released as they are dropped
        }
    }

    async fn claim(&self, kind: EntryKind, sha: &str) -> Result<Option<Arc<Claim>>, TaskError> {
        let (queue, claimer, sha) = (self.queue.clone(), self.claimer.clone(), sha.to_owned());
        let claim = blocking(move || queue.claim(kind, &sha, &claimer)).await?;
        Ok(claim.map(Arc::new))
    }

    /// Run `work` while refreshing `claims`; `None` when a claim was lost (another mover took
    /// it over: it does the work now, so ours is abandoned).
    async fn while_claimed<T>(
        &self,
        claims: &[&Arc<Claim>],
        work: impl Future<Output = T>,
    ) -> Option<T> {
        let refresh = async {
            let mut tick = tokio::time::interval(self.claimer.refresh_interval());
            tick.tick().await; // the first tick is immediate; the claims are fresh
            loop {
                tick.tick().await;
                for claim in claims {
                    let c = Arc::clone(claim);
                    match tokio::task::spawn_blocking(move || c.refresh()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(arca_sha256 = claim.sha256(), error = %e, "lost a claim; abandoning the entry");
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "claim refresh task failed");
                            return;
                        }
                    }
                }
            }
        };
        tokio::select! {
            out = work => Some(out),
            () = refresh => None,
        }
    }

    async fn upload(&self, sha: &str) -> Result<Outcome, TaskError> {
        let Some(claim) = self.claim(EntryKind::Add, sha).await? else {
            return Ok(Outcome::Skipped("claimed by another mover"));
        };
        let queue = self.queue.clone();
        let owned = sha.to_owned();
        let Some((sums, seen)) = blocking(move || queue.hash_add(&owned)).await? else {
            return Ok(Outcome::Skipped("gone"));
        };
        if sums.sha256 != sha {
            let queue = self.queue.clone();
            let owned = sha.to_owned();
            let moved = blocking(move || queue.quarantine_add(&owned)).await?;
            let e = TaskError::Corrupt {
                sha256: sha.to_owned(),
                actual: sums.sha256,
                quarantined: moved.display().to_string(),
            };
            tracing::error!(arca_sha256 = sha, "{e}; it is not uploaded");
            return Err(e);
        }
        let path = self.queue.entry_path(EntryKind::Add, sha)?;
        let started = Instant::now();
        // Each holder of an eventual-cluster copy queues it: the first mover uploads, the
        // others find the object there (the object store verified its size and MD5 then).
        let stored_by_another = self.cluster.is_some()
            && matches!(self.store.head(sha).await, Ok(Some(size)) if size == sums.size);
        if !stored_by_another {
            tracing::debug!(arca_sha256 = sha, size = sums.size, "upload started");
            let upload = with_retry(&self.retry, "upload to the object store", || {
                self.store.put_file(&path, &sums)
            });
            match self.while_claimed(&[&claim], upload).await {
                None => return Ok(Outcome::Skipped("claim lost")),
                Some(result) => result?,
            }
        }
        // The object is verified in the store: the local copy may go, unless a new deploy of
        // the same content replaced it meanwhile (that one is uploaded again, harmlessly).
        let queue = self.queue.clone();
        let owned = sha.to_owned();
        blocking(move || queue.remove_entry(EntryKind::Add, &owned, Some(&seen))).await?;
        let c = Arc::clone(&claim);
        blocking(move || c.release()).await?;
        if let Some(cluster) = &self.cluster {
            // The binary is durable in the object store: this node no longer holds a copy.
            cluster.note_local_copy_gone(sha);
        }
        let counter = if stored_by_another {
            &self.stats.already_stored
        } else {
            &self.stats.uploaded
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            arca_sha256 = sha,
            size = sums.size,
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            already_stored = stored_by_another,
            "uploaded"
        );
        Ok(Outcome::Uploaded)
    }

    async fn delete(&self, sha: &str) -> Result<Outcome, TaskError> {
        let Some(request) = self.claim(EntryKind::Delete, sha).await? else {
            return Ok(Outcome::Skipped("claimed by another mover"));
        };
        // Holding the add claim keeps uploads of this content out until we are done.
        let Some(add) = self.claim(EntryKind::Add, sha).await? else {
            return Ok(Outcome::Skipped(
                "an upload of the same content is in progress",
            ));
        };
        let (queue, store, owned) = (self.queue.clone(), self.store.clone(), sha.to_owned());
        let runtime = tokio::runtime::Handle::current();
        // In the write transaction: a deploy of this content (which records the binary and
        // commits its upload in its own write transaction) runs entirely before or after this.
        // One try only: every deploy waits while this transaction is open.
        let work = self.db.write(move |tx| -> Result<Outcome, TaskError> {
            if items::binary_known(tx, &owned)? {
                queue.remove_entry(EntryKind::Delete, &owned, None)?;
                return Ok(Outcome::Kept);
            }
            let existed = runtime.block_on(store.delete(&owned))?;
            // A pending upload of content nobody references (its deploy was rolled back).
            queue.remove_entry(EntryKind::Add, &owned, None)?;
            queue.remove_entry(EntryKind::Delete, &owned, None)?;
            Ok(Outcome::Deleted(existed))
        });
        let Some(outcome) = self.while_claimed(&[&request, &add], work).await else {
            return Ok(Outcome::Skipped("claim lost"));
        };
        let outcome = outcome?;
        if let Outcome::Deleted(existed) = outcome {
            self.stats.deleted.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(arca_sha256 = sha, existed, "deleted from the object store");
        }
        for claim in [add, request] {
            blocking(move || claim.release()).await?;
        }
        Ok(outcome)
    }
}

/// Run blocking queue I/O off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, TaskError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TaskError::Join(e.to_string()))?
        .map_err(TaskError::from)
}

/// The loop of a mover without a queue: beat the watchdog heartbeat until stopped.
pub async fn idle(mut stop: watch::Receiver<bool>, heartbeat: Heartbeat) {
    let mut tick = tokio::time::interval(LOOP_TICK);
    loop {
        heartbeat.beat();
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
    }
}

//! The recent log: the records the logger wrote lately, kept in memory so a daemon can show them
//! (arca-server's `GET /api/system/logs` and the web UI's System Logs page).
//!
//! [`init_logging_with`](crate::init_logging_with) installs [`RecentLogLayer`] beside the
//! journald or stderr output, behind the same `ARCA_LOG` filter, so the buffer holds exactly the
//! records the journal gets (not what a daemon prints to stderr itself, such as the generated
//! admin password). Two bounded parts:
//!
//! - the **start-up** records, kept for the life of the process: everything up to
//!   [`RecentLog::end_startup`] (arca-server calls it once it serves), at most
//!   [`RecentLogLimits::startup_lines`] / [`RecentLogLimits::startup_bytes`]; so the start-up
//!   banner with "HA Node ID" stays visible however long the node runs;
//! - a **ring** of the latest records after those, at most [`RecentLogLimits::lines`] /
//!   [`RecentLogLimits::bytes`], whichever is reached first; the oldest go first.
//!
//! Every record has a sequence number (1, 2, …, in logging order), so a reader asks for the
//! records after the last one it has.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// How much the recent log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentLogLimits {
    /// Records of the start-up kept for the life of the process.
    pub startup_lines: usize,
    /// Bytes (messages and targets, plus a fixed overhead per record) of those.
    pub startup_bytes: usize,
    /// Records after the start-up kept in the ring.
    pub lines: usize,
    /// Bytes of those.
    pub bytes: usize,
}

impl Default for RecentLogLimits {
    fn default() -> Self {
        RecentLogLimits {
            startup_lines: 1_000,
            startup_bytes: 512 * 1024,
            lines: 10_000,
            bytes: 4 * 1024 * 1024,
        }
    }
}

/// A message longer than this is cut (at a character boundary) and ends with `…`: one huge
/// record must not push everything else out of the ring.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// What a record costs beyond its text, for the byte bounds (the struct and its allocations).
const RECORD_OVERHEAD: usize = 64;

/// One log record as the logger wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// 1, 2, … in logging order.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub level: Level,
    /// The module that logged it (`arca_server::app`).
    pub target: String,
    /// The message, then the event's other fields as ` key=value`.
    pub message: String,
}

impl LogRecord {
    fn cost(&self) -> usize {
        self.message.len() + self.target.len() + RECORD_OVERHEAD
    }

    /// Whether `text` occurs in the target or the message, ignoring ASCII case.
    fn contains(&self, text: &str) -> bool {
        contains_ignore_ascii_case(&self.message, text)
            || contains_ignore_ascii_case(&self.target, text)
    }
}

/// Which records a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogQuery<'a> {
    /// The least severe level wanted: `WARN` gives `WARN` and `ERROR`.
    pub level: Level,
    /// Only records whose target or message contains this (ASCII case ignored); empty: all.
    pub text: &'a str,
    /// Only records with a larger sequence number (0: all).
    pub after: u64,
    /// At most this many records of the ring (the newest ones); the start-up records that
    /// match come in addition.
    pub limit: usize,
}

/// The answer to a [`LogQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// Matching records, in logging order: the start-up ones, then the newest of the ring.
    pub lines: Vec<LogRecord>,
    /// The sequence number of the last start-up record (0: none kept).
    pub startup_last_seq: u64,
    /// The sequence number of the last record logged (ask for `after` it next time).
    pub last_seq: u64,
    /// Matching records of the ring left out by `limit` (older than those returned).
    pub omitted: u64,
    /// Records dropped from the ring since the process started (whatever they matched).
    pub evicted: u64,
}

#[derive(Debug, Default)]
struct Inner {
    startup: Vec<LogRecord>,
    startup_bytes: usize,
    startup_done: bool,
    ring: VecDeque<LogRecord>,
    ring_bytes: usize,
    last_seq: u64,
    evicted: u64,
}

/// The bounded in-memory log (see the module's documentation).
#[derive(Debug)]
pub struct RecentLog {
    limits: RecentLogLimits,
    inner: Mutex<Inner>,
}

impl RecentLog {
    pub fn new(limits: RecentLogLimits) -> Self {
        RecentLog {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn limits(&self) -> RecentLogLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a record; returns its sequence number. `message` is cut to [`MAX_MESSAGE_BYTES`].
    pub fn push(&self, time_ms: i64, level: Level, target: &str, mut message: String) -> u64 {
        truncate_message(&mut message);
        let mut inner = self.lock();
        inner.last_seq += 1;
        let record = LogRecord {
            seq: inner.last_seq,
            time_ms,
            level,
            target: target.to_owned(),
            message,
        };
        let cost = record.cost();
        let limits = self.limits;
        if !inner.startup_done
            && inner.startup.len() < limits.startup_lines
            && inner.startup_bytes + cost <= limits.startup_bytes
        {
            inner.startup_bytes += cost;
            inner.startup.push(record);
            return inner.last_seq;
        }
        inner.ring_bytes += cost;
        inner.ring.push_back(record);
        while inner.ring.len() > limits.lines
            || (inner.ring_bytes > limits.bytes && inner.ring.len() > 1)
        {
            let Some(old) = inner.ring.pop_front() else {
                break;
            };
            inner.ring_bytes -= old.cost();
            inner.evicted += 1;
        }
        inner.last_seq
    }

    /// The start-up is over: later records go to the ring only.
    pub fn end_startup(&self) {
        self.lock().startup_done = true;
    }

    /// The records matching `query` (see [`LogQuery`] and [`LogPage`]).
    pub fn query(&self, query: &LogQuery<'_>) -> LogPage {
        let inner = self.lock();
        let wanted = |r: &&LogRecord| {
            r.seq > query.after
                && r.level <= query.level
                && (query.text.is_empty() || r.contains(query.text))
        };
        let mut lines: Vec<LogRecord> = inner.startup.iter().filter(wanted).cloned().collect();
        // The newest `limit` of the ring: walk back from the end, then restore the order.
        let mut tail = Vec::new();
        let mut omitted = 0u64;
        for record in inner.ring.iter().rev().filter(wanted) {
            if tail.len() < query.limit {
                tail.push(record.clone());
            } else {
                omitted += 1;
            }
        }
        tail.reverse();
        lines.extend(tail);
        LogPage {
            lines,
            startup_last_seq: inner.startup.last().map_or(0, |r| r.seq),
            last_seq: inner.last_seq,
            omitted,
            evicted: inner.evicted,
        }
    }
}

fn truncate_message(message: &mut String) {
    if message.len() <= MAX_MESSAGE_BYTES {
        return;
    }
    let mut cut = MAX_MESSAGE_BYTES - '…'.len_utf8();
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    message.truncate(cut);
    message.push('…');
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

static RECENT_LOG: OnceLock<Arc<RecentLog>> = OnceLock::new();

/// The process's recent log, when [`init_logging_with`](crate::init_logging_with) was asked to
/// keep one.
pub fn recent_log() -> Option<&'static RecentLog> {
    RECENT_LOG.get().map(|l| &**l)
}

/// The global recent log with `limits`, created once (later calls return the first one).
pub(crate) fn install(limits: RecentLogLimits) -> Arc<RecentLog> {
    RECENT_LOG
        .get_or_init(|| Arc::new(RecentLog::new(limits)))
        .clone()
}

/// The `tracing` layer that feeds a [`RecentLog`].
#[derive(Debug, Clone)]
pub struct RecentLogLayer {
    log: Arc<RecentLog>,
}

impl RecentLogLayer {
    pub fn new(log: Arc<RecentLog>) -> Self {
        RecentLogLayer { log }
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for RecentLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let meta = event.metadata();
        self.log
            .push(time_ms, *meta.level(), meta.target(), message.finish());
    }
}

/// The text of an event: its `message`, then ` key=value` for each other field (as the compact
/// stderr format writes them; strings unquoted, as the journal has them).
#[derive(Default)]
struct Message {
    message: String,
    fields: String,
}

impl Message {
    fn finish(mut self) -> String {
        if self.message.is_empty() {
            self.fields.trim_start().to_owned()
        } else {
            self.message.push_str(&self.fields);
            self.message
        }
    }
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    fn limits(startup_lines: usize, lines: usize, bytes: usize) -> RecentLogLimits {
        RecentLogLimits {
            startup_lines,
            startup_bytes: 1 << 20,
            lines,
            bytes,
        }
    }

    fn all(after: u64, limit: usize) -> LogQuery<'static> {
        LogQuery {
            level: Level::TRACE,
            text: "",
            after,
            limit,
        }
    }

    fn seqs(page: &LogPage) -> Vec<u64> {
        page.lines.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn the_ring_keeps_the_newest_lines_and_the_startup_for_good() {
        let log = RecentLog::new(limits(2, 3, 1 << 20));
        for i in 0..3 {
            log.push(i, Level::INFO, "t", format!("start {i}"));
        }
        log.end_startup();
        for i in 3..10 {
            log.push(i, Level::INFO, "t", format!("line {i}"));
        }
        let page = log.query(&all(0, 100));
        // seq 1 and 2 fill the start-up part; 3 went to the ring (the part was full) and, like
        // 4..7, was pushed out by the newest three
        assert_eq!(seqs(&page), vec![1, 2, 8, 9, 10]);
        assert_eq!(page.startup_last_seq, 2);
        assert_eq!(page.last_seq, 10);
        assert_eq!(page.evicted, 5);
        assert_eq!(page.omitted, 0);
    }

    #[test]
    fn the_byte_bound_holds_whatever_the_line_count() {
        let record = RECORD_OVERHEAD + 100 + 1;
        let log = RecentLog::new(limits(0, 10_000, 10 * record));
        for i in 0..1_000 {
            log.push(i, Level::INFO, "t", "x".repeat(100));
        }
        let inner = log.lock();
        assert_eq!(inner.ring.len(), 10);
        assert!(inner.ring_bytes <= 10 * record);
        assert_eq!(inner.evicted, 990);
    }

    #[test]
    fn bounds_hold_for_any_sequence_of_pushes() {
        // lines of every size up to the message cap, a bound far below the total
        let bound = 64 * 1024;
        let log = RecentLog::new(limits(5, 500, bound));
        let mut size = 1usize;
        for i in 0..5_000 {
            size = (size * 7919 + 13) % (MAX_MESSAGE_BYTES * 2);
            log.push(i, Level::DEBUG, "arca_server::x", "y".repeat(size));
            if i == 10 {
                log.end_startup();
            }
            let inner = log.lock();
            assert!(inner.ring.len() <= 500);
            // one record may exceed the byte bound alone; never two
            assert!(inner.ring_bytes <= bound || inner.ring.len() == 1);
            assert!(inner.startup.len() <= 5);
            assert_eq!(
                inner.ring_bytes,
                inner.ring.iter().map(LogRecord::cost).sum::<usize>()
            );
            assert!(
                inner
                    .ring
                    .iter()
                    .all(|r| r.message.len() <= MAX_MESSAGE_BYTES)
            );
        }
    }

    #[test]
    fn level_text_after_and_limit() {
        let log = RecentLog::new(limits(0, 100, 1 << 20));
        log.push(1, Level::ERROR, "arca_server::a", "disk full".into());
        log.push(2, Level::WARN, "arca_server::b", "Slow Disk".into());
        log.push(3, Level::INFO, "arca_db", "ready".into());
        log.push(4, Level::DEBUG, "arca_server::a", "request".into());
        let q = |level, text, after, limit| {
            seqs(&log.query(&LogQuery {
                level,
                text,
                after,
                limit,
            }))
        };
        assert_eq!(q(Level::WARN, "", 0, 100), vec![1, 2]);
        assert_eq!(q(Level::INFO, "", 0, 100), vec![1, 2, 3]);
        assert_eq!(q(Level::TRACE, "DISK", 0, 100), vec![1, 2]);
        assert_eq!(q(Level::TRACE, "arca_db", 0, 100), vec![3]);
        assert_eq!(q(Level::TRACE, "", 2, 100), vec![3, 4]);
        assert_eq!(q(Level::TRACE, "", 0, 2), vec![3, 4]);
        let page = log.query(&all(0, 1));
        assert_eq!((seqs(&page), page.omitted), (vec![4], 3));
        assert_eq!(
            q(Level::TRACE, "nothing like it", 0, 100),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let log = RecentLog::new(RecentLogLimits::default());
        log.push(0, Level::INFO, "t", "é".repeat(MAX_MESSAGE_BYTES));
        let page = log.query(&all(0, 10));
        let message = &page.lines[0].message;
        assert!(message.len() <= MAX_MESSAGE_BYTES);
        assert!(message.ends_with('…'));
    }

    #[test]
    fn the_layer_records_message_fields_level_and_target() {
        let log = Arc::new(RecentLog::new(RecentLogLimits::default()));
        let subscriber = tracing_subscriber::registry().with(RecentLogLayer::new(Arc::clone(&log)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(arca_node_id = "art1", count = 3, "HA Node ID: '{}'", "art1");
            tracing::error!(error = %"boom", "failed");
        });
        let page = log.query(&all(0, 10));
        assert_eq!(page.lines.len(), 2);
        let first = &page.lines[0];
        assert_eq!(first.level, Level::WARN);
        assert_eq!(first.target, module_path!());
        assert_eq!(
            first.message,
            "HA Node ID: 'art1' arca_node_id=art1 count=3"
        );
        assert_eq!(page.lines[1].message, "failed error=boom");
        assert!(first.time_ms > 0);
    }
}

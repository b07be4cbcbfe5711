//! What metadata caches need from the database layer (`docs/cache.md`): every write
//! transaction of this process bumps a local generation after it ends, and on PostgreSQL tells
//! every listener of [`CHANNEL`] that it committed (`NOTIFY` in the transaction, so delivered at
//! commit, in commit order); a security change says so on the same channel. On SQLite a
//! [`DataVersionProbe`] notices commits by other processes (`arcactl`) without a query.
//!
//! The hook at the one place every write transaction ends ([`crate::Db::write`],
//! [`crate::Db::write_blocking`], migrations) means no write site has to remember to invalidate.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::sql::Backend;
use crate::{Conn, DbError, args};

/// The PostgreSQL channel of cache invalidations, pings and acknowledgements.
pub const CHANNEL: &str = "arca_meta_cache";

/// Called on the writing thread after a write transaction of this process committed on
/// PostgreSQL (the server waits there until other nodes' caches dropped what it changed).
pub trait AfterCommit: Send + Sync {
    /// Transaction `seq` (of [`WriteEvents::origin`]) committed.
    fn committed(&self, seq: u64);
}

/// A message on [`CHANNEL`]. Origins are [`WriteEvents::origin`]s: one per process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Write transaction `seq` of `origin` committed: drop cached metadata.
    Write { origin: String, seq: u64 },
    /// The transaction also changed users, groups, permissions or tokens (sent before its
    /// [`Message::Write`], in the same transaction).
    Security,
    /// A cache's ping to itself through its listening connection (`n` counts up).
    Ping { origin: String, n: u64 },
    /// `from` dropped its cache after `writer`'s transaction `seq`.
    Ack {
        writer: String,
        seq: u64,
        from: String,
    },
}

impl Message {
    /// The `NOTIFY` payload (origins are hex: no spaces).
    pub fn payload(&self) -> String {
        match self {
            Message::Write { origin, seq } => format!("w {origin} {seq}"),
            Message::Security => "s".to_string(),
            Message::Ping { origin, n } => format!("p {origin} {n}"),
            Message::Ack { writer, seq, from } => format!("a {writer} {seq} {from}"),
        }
    }

    /// Read a payload; `None` for anything else (a newer node's message is ignored).
    pub fn parse(payload: &str) -> Option<Message> {
        let mut parts = payload.split(' ');
        let kind = parts.next()?;
        let mut word = || parts.next().map(str::to_string);
        let message = match kind {
            "w" => Message::Write {
                origin: word()?,
                seq: word()?.parse().ok()?,
            },
            "s" => Message::Security,
            "p" => Message::Ping {
                origin: word()?,
                n: word()?.parse().ok()?,
            },
            "a" => Message::Ack {
                writer: word()?,
                seq: word()?.parse().ok()?,
                from: word()?,
            },
            _ => return None,
        };
        Some(message)
    }
}

/// This process's write transactions, as caches see them. One per [`crate::Db`] (its clones
/// share it).
pub struct WriteEvents {
    origin: String,
    seq: AtomicU64,
    generation: AtomicU64,
    after_commit: OnceLock<Arc<dyn AfterCommit>>,
    /// The SQLite database file (for [`DataVersionProbe`]); `None` on PostgreSQL.
    sqlite_path: Option<PathBuf>,
}

impl std::fmt::Debug for WriteEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteEvents")
            .field("origin", &self.origin)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl WriteEvents {
    pub(crate) fn new(sqlite_path: Option<PathBuf>) -> WriteEvents {
        let mut bytes = [0u8; 8];
        // Unique per process among the nodes of a cluster; not a secret.
        if getrandom_fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)).to_be_bytes();
        }
        WriteEvents {
            origin: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            seq: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            after_commit: OnceLock::new(),
            sqlite_path,
        }
    }

    /// This process's name on [`CHANNEL`].
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Bumped after every write transaction of this process ended (committed or not).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Install the hook run after each committed PostgreSQL write (once; later calls are
    /// ignored).
    pub fn set_after_commit(&self, hook: Arc<dyn AfterCommit>) {
        let _ = self.after_commit.set(hook);
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(crate) fn ended(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn committed(&self, seq: u64) {
        if let Some(hook) = self.after_commit.get() {
            hook.committed(seq);
        }
    }

    /// A probe of the SQLite database's `data_version`; `None` on PostgreSQL.
    pub fn data_version_probe(&self) -> Result<Option<DataVersionProbe>, DbError> {
        match &self.sqlite_path {
            Some(path) => DataVersionProbe::open(path).map(Some),
            None => Ok(None),
        }
    }
}

fn getrandom_fill(bytes: &mut [u8]) -> Result<(), std::io::Error> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}

/// Tell listeners, in `conn`'s transaction, that write `seq` of `origin` committed (PostgreSQL).
pub(crate) fn notify_write(conn: &Conn<'_>, origin: &str, seq: u64) -> Result<(), DbError> {
    let payload = Message::Write {
        origin: origin.to_string(),
        seq,
    }
    .payload();
    conn.query_one("SELECT pg_notify(?1, ?2)", args![CHANNEL, payload], |_| {
        Ok(())
    })
}

/// Tell listeners, in `conn`'s transaction, that users, groups, permissions or tokens changed
/// (PostgreSQL; nothing on SQLite, where the security version is polled).
pub(crate) fn notify_security(conn: &Conn<'_>) -> Result<(), DbError> {
    if conn.backend() == Backend::Postgres {
        conn.query_one(
            "SELECT pg_notify(?1, ?2)",
            args![CHANNEL, Message::Security.payload()],
            |_| Ok(()),
        )?;
    }
    Ok(())
}

/// Notices commits of other connections — of this process or another, such as `arcactl` —
/// to the SQLite database, per lookup and cheaply.
///
/// It holds a read-only connection of its own (which keeps the WAL index, `<db>-shm`, in
/// place) and reads the WAL-index header from `<db>-shm` with one `pread`: its change counter
/// moves with every commit, before the commit returns (sqlite.org/walformat.html, "The
/// WAL-Index Header"). When that header is not the known format (version 3007000, two equal
/// copies, initialised), `PRAGMA data_version` on the connection answers instead — a read
/// transaction with its file locks, a few microseconds.
pub struct DataVersionProbe {
    conn: Mutex<rusqlite::Connection>,
    /// `<db>-shm`, when its header is the known format.
    shm: Option<std::fs::File>,
    /// The header (or the data_version) seen last.
    last: Mutex<[u8; WAL_HEADER]>,
}

/// Bytes of one copy of the WAL-index header; it is stored twice, one copy after the other.
const WAL_HEADER: usize = 48;
/// `iVersion` of the WAL-index format this probe reads.
const WAL_INDEX_VERSION: u32 = 3_007_000;

impl std::fmt::Debug for DataVersionProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataVersionProbe")
            .field("shm", &self.shm.is_some())
            .finish_non_exhaustive()
    }
}

/// The WAL-index header of `shm`, when both copies agree and it is the known format.
fn wal_header(shm: &std::fs::File) -> Option<[u8; WAL_HEADER]> {
    use std::os::unix::fs::FileExt;
    let mut both = [0u8; 2 * WAL_HEADER];
    shm.read_exact_at(&mut both, 0).ok()?;
    let (first, second) = both.split_at(WAL_HEADER);
    let version = u32::from_ne_bytes([first[0], first[1], first[2], first[3]]);
    // isInit (offset 12) is set once the header is valid; the copies differ mid-update.
    if first != second || version != WAL_INDEX_VERSION || first[12] != 1 {
        return None;
    }
    let mut header = [0u8; WAL_HEADER];
    header.copy_from_slice(first);
    Some(header)
}

impl DataVersionProbe {
    fn open(path: &Path) -> Result<DataVersionProbe, DbError> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let mut probe = DataVersionProbe {
            conn: Mutex::new(conn),
            shm: None,
            last: Mutex::new([0; WAL_HEADER]),
        };
        // A read on the connection maps the WAL index: it stays while the connection is open.
        probe.data_version()?;
        let mut name = path.as_os_str().to_owned();
        name.push("-shm");
        if let Ok(shm) = std::fs::File::open(std::path::PathBuf::from(name))
            && wal_header(&shm).is_some()
        {
            probe.shm = Some(shm);
        }
        probe.changed()?;
        Ok(probe)
    }

    fn data_version(&self) -> Result<[u8; WAL_HEADER], DbError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| DbError::Config("data_version probe poisoned".into()))?;
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let mut seen = [0u8; WAL_HEADER];
        seen[..8].copy_from_slice(&version.to_ne_bytes());
        Ok(seen)
    }

    /// Whether another connection committed since the last call.
    pub fn changed(&self) -> Result<bool, DbError> {
        let mut changed = false;
        self.check(|| changed = true)?;
        Ok(changed)
    }

    /// Run `on_change` when another connection committed since the last check, before any
    /// other check returns: a caller that finds no change afterwards also finds what
    /// `on_change` did (the cache's generation moved).
    pub fn check(&self, on_change: impl FnOnce()) -> Result<(), DbError> {
        let seen = match &self.shm {
            Some(shm) => match wal_header(shm) {
                Some(header) => header,
                None => {
                    // being written, or no longer the known format: assume a change
                    on_change();
                    return Ok(());
                }
            },
            None => self.data_version()?,
        };
        let mut last = self
            .last
            .lock()
            .map_err(|_| DbError::Config("data_version probe poisoned".into()))?;
        if *last != seen {
            *last = seen;
            on_change();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let all = [
            Message::Write {
                origin: "ab12".into(),
                seq: 7,
            },
            Message::Security,
            Message::Ping {
                origin: "ab12".into(),
                n: 3,
            },
            Message::Ack {
                writer: "ab12".into(),
                seq: 7,
                from: "cd34".into(),
            },
        ];
        for m in all {
            assert_eq!(Message::parse(&m.payload()), Some(m));
        }
        for bad in ["", "w", "w x", "w x y", "q a 1", "a x 1"] {
            assert_eq!(Message::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_probe_sees_commits_of_other_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arca.db");
        let db = crate::Db::open_sqlite(&path, 2).unwrap();
        let probe = db.write_events().data_version_probe().unwrap().unwrap();
        assert!(probe.shm.is_some(), "the WAL index header is read");
        assert!(!probe.changed().unwrap());
        let before = db.write_events().generation();
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT INTO cluster_settings (key, value, updated) VALUES ('t', 'v', 0)",
                args![],
            )
        })
        .unwrap();
        assert!(db.write_events().generation() > before);
        assert!(probe.changed().unwrap());
        assert!(!probe.changed().unwrap());
        // another process's connection (arcactl) is another connection too
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute(
                "UPDATE cluster_settings SET value = 'w' WHERE key = 't'",
                [],
            )
            .unwrap();
        assert!(probe.changed().unwrap());
    }
}

//! Metadata store of arca: repositories, items (files and folders), binaries,
//! properties, users and access tokens.
//!
//! The embedded single-node backend is SQLite (WAL mode, a small connection
//! pool). All statements run on blocking threads; the async wrappers
//! [`Db::read`] and [`Db::write`] hand a connection (or an `IMMEDIATE`
//! transaction) to a closure, so callers can compose several statements — and
//! a filesystem rename — inside one transaction.

pub mod clock;
mod error;
pub mod items;
pub mod migrate;
pub mod model;
pub mod repos;
pub mod security;

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

pub use clock::{Clock, SystemClock};
pub use error::DbError;
pub use model::{Binary, Item, NewFile, Repo};

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Handle to the metadata database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("state", &self.pool.state())
            .finish()
    }
}

impl Db {
    /// Open (creating if needed) the SQLite database at `path` and bring its
    /// schema up to date. Refuses a schema newer than this build knows.
    pub fn open_sqlite(path: &Path, max_connections: u32) -> Result<Db, DbError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Io(parent.to_path_buf(), e))?;
        }
        let manager = SqliteConnectionManager::file(path).with_init(|conn| {
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;",
            )
        });
        let pool = r2d2::Pool::builder()
            .max_size(max_connections.max(2))
            .min_idle(Some(1))
            // Bounded: `read_now` waits on the calling thread when every connection is busy.
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        let db = Db { pool };
        {
            let mut conn = db.pool.get()?;
            migrate::run(&mut conn)?;
        }
        Ok(db)
    }

    /// Run `f` with a pooled connection on a blocking thread.
    pub async fn read<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get().map_err(DbError::from)?;
            f(&conn)
        })
        .await
        .map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    /// Run `f` with a pooled connection on the calling thread. Only for point
    /// lookups on the request hot path (one indexed row, microseconds in WAL
    /// mode where readers never wait for writers): a thread hand-off would cost
    /// more than the query. Anything that scans or writes uses [`Db::read`] or
    /// [`Db::write`].
    pub fn read_now<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E>,
        E: From<DbError>,
    {
        let conn = self.pool.get().map_err(DbError::from)?;
        f(&conn)
    }

    /// Run `f` inside a `BEGIN IMMEDIATE` transaction (the SQLite write lock is
    /// taken up front, so writers are serialised and never deadlock on upgrade).
    /// Commits when `f` returns `Ok`, rolls back otherwise.
    pub async fn write<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(DbError::from)?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(DbError::from)?;
            let value = f(&tx)?;
            tx.commit().map_err(DbError::from)?;
            Ok(value)
        })
        .await
        .map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    /// Cheap liveness probe used by readiness checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(DbError::from)
        })
        .await
    }
}

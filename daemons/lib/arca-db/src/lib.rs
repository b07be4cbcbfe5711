//! Metadata store of arca: repositories, items (files and folders), binaries,
//! properties, users and access tokens.
//!
//! The embedded single-node backend is SQLite (WAL mode, a small connection
//! pool). All statements run on blocking threads; the async wrappers
//! [`Db::read`] and [`Db::write`] hand a connection (or an `IMMEDIATE`
//! transaction) to a closure, so callers can compose several statements — and
//! a filesystem rename — inside one transaction.

pub mod builds;
pub mod cache_notify;
pub mod clock;
pub mod cluster;
pub mod configs;
pub mod copies;
mod error;
pub mod item_query;
pub mod items;
pub mod licenses;
pub mod listing;
pub mod migrate;
pub mod model;
pub mod npm;
pub mod oci;
pub mod permissions;
pub mod pypi;
pub mod remote;
pub mod repos;
pub mod security;
mod security_version;
pub mod sessions;
pub mod sql;
#[cfg(test)]
mod testing;
pub mod tls;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::TransactionBehavior;

pub use cache_notify::WriteEvents;
pub use clock::{Clock, SystemClock};
pub use error::DbError;
pub use model::{Binary, Item, NewFile, Repo, RepoSettings};
pub use sql::{Backend, Conn, Row};
pub use tls::{PgTls, SslMode};

use sql::{PgConn, PgHandle, PgState};
use tls::Connector;

type SqlitePool = r2d2::Pool<SqliteConnectionManager>;
type PgPool = r2d2::Pool<PgManager>;

/// Key of the PostgreSQL advisory lock every write transaction takes: writers
/// are serialised cluster-wide exactly as SQLite serialises them on one node,
/// so deploy/GC races resolve the same way on both backends.
const PG_WRITE_LOCK: i64 = 0x6172_6361_5752_4954; // "arcaWRIT"

/// How to reach PostgreSQL.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgresql://host:port/db[?…]` (already normalised from the JDBC form).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Largest number of connections of the main pool (`pool.max.active`).
    pub pool_max_active: u32,
    /// Connections kept open while idle (`pool.max.idle`).
    pub pool_max_idle: u32,
    /// Size of the separate pool for cluster locks and heartbeats (`pool.lock.max`).
    pub lock_pool_max: u32,
    /// Shown in `pg_stat_activity.application_name`.
    pub application_name: String,
    /// TLS for every connection (both pools and [`Db::listener`]). The url must not carry
    /// `sslmode`/`sslrootcert` itself: arca-config moves them here.
    pub tls: PgTls,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("pool_max_active", &self.pool_max_active)
            .field("pool_max_idle", &self.pool_max_idle)
            .field("lock_pool_max", &self.lock_pool_max)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// r2d2 manager for PostgreSQL connections (each with a statement cache).
#[derive(Debug)]
pub struct PgManager {
    config: postgres::Config,
    connector: Connector,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = DbError;

    fn connect(&self) -> Result<PgConn, DbError> {
        Ok(PgConn::new(self.connector.connect(&self.config)?))
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), DbError> {
        conn.check()
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.is_closed()
    }
}

#[derive(Clone)]
enum Pools {
    Sqlite(SqlitePool),
    Postgres {
        main: PgPool,
        locks: PgPool,
        /// For dedicated connections ([`Db::listener`]).
        config: Box<postgres::Config>,
        connector: Connector,
    },
}

/// A PostgreSQL connection that `LISTEN`s on one channel ([`Db::listener`]).
pub struct Listener {
    client: postgres::Client,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Listener {
    /// Wait up to `timeout` for notifications; returns their payloads (empty on timeout). An
    /// error means the connection is gone: make a new listener.
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<String>, DbError> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut payloads = Vec::new();
        {
            let mut notifications = self.client.notifications();
            let first = notifications.timeout_iter(timeout).next()?;
            if let Some(n) = first {
                payloads.push(n.payload().to_string());
                // Whatever else arrived meanwhile, without waiting again.
                let mut rest = notifications.iter();
                while let Some(n) = rest.next()? {
                    payloads.push(n.payload().to_string());
                }
            }
        }
        if self.client.is_closed() {
            return Err(DbError::Config(
                "the listening connection was closed".into(),
            ));
        }
        Ok(payloads)
    }

    /// `NOTIFY` on `channel` through this connection (autocommit: delivered at once, after
    /// everything committed before it). An error means the connection is gone.
    pub fn notify(&mut self, channel: &str, payload: &str) -> Result<(), DbError> {
        self.client
            .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])?;
        Ok(())
    }
}

/// Whether a failed connection attempt would fail the same way when retried: the TLS handshake
/// (certificate, server without TLS), authentication, `pg_hba.conf` (SQLSTATE class 28) and an
/// unknown database (3D000). Refused connections, timeouts and a server still starting are not.
fn is_permanent(e: &postgres::Error) -> bool {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("28") || code == "3D000"
        }
        // tokio-postgres exposes no error kind; this is its fixed text for Kind::Tls.
        None => e.to_string() == "error performing TLS handshake",
    }
}

/// Handle to the metadata database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pools: Pools,
    /// Write transactions of this process, for metadata caches ([`cache_notify`]).
    events: Arc<WriteEvents>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pools {
            Pools::Sqlite(p) => f.debug_struct("Db").field("sqlite", &p.state()).finish(),
            Pools::Postgres { main, locks, .. } => f
                .debug_struct("Db")
                .field("postgres", &main.state())
                .field("locks", &locks.state())
                .finish(),
        }
    }
}

/// Run `f` inside a transaction of `pool`'s backend; commit on `Ok`. Caches learn of every
/// transaction that may have committed: `events`' generation moves after it, and on
/// PostgreSQL its `NOTIFY` reaches the other nodes ([`cache_notify`]).
fn in_write_tx<T, E>(
    pools: &Pools,
    events: &WriteEvents,
    f: impl FnOnce(&Conn<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DbError>,
{
    match pools {
        Pools::Sqlite(pool) => {
            let mut conn = pool.get().map_err(DbError::from)?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(DbError::from)?;
            let value = f(&Conn::sqlite(&tx))?;
            let committed = tx.commit();
            events.ended();
            committed.map_err(DbError::from)?;
            Ok(value)
        }
        Pools::Postgres { main, .. } => {
            let mut pooled = main.get().map_err(DbError::from)?;
            let (client, statements) = pooled.parts()?;
            let tx = client.transaction().map_err(DbError::from)?;
            let conn = Conn::postgres(PgState {
                handle: PgHandle::Tx(tx),
                statements,
            });
            conn.query_opt(
                "SELECT pg_advisory_xact_lock(?1)",
                args![PG_WRITE_LOCK],
                |_| Ok(()),
            )?;
            let value = f(&conn)?;
            // Last statement of the transaction: after a security notification it carries.
            let seq = events.next_seq();
            cache_notify::notify_write(&conn, events.origin(), seq)?;
            let mut committed_seq = None;
            if let Some(PgState {
                handle: PgHandle::Tx(tx),
                ..
            }) = conn.into_postgres()
            {
                let committed = tx.commit();
                events.ended();
                committed.map_err(DbError::from)?;
                committed_seq = Some(seq);
            }
            // The connection goes back to the pool before the wait for other nodes' caches.
            drop(pooled);
            if let Some(seq) = committed_seq {
                events.committed(seq);
            }
            Ok(value)
        }
    }
}

/// Run `f` with a connection from `pool` in autocommit mode.
fn with_conn<T, E>(pool: &PoolRef<'_>, f: impl FnOnce(&Conn<'_>) -> Result<T, E>) -> Result<T, E>
where
    E: From<DbError>,
{
    match pool {
        PoolRef::Sqlite(pool) => {
            let conn = pool.get().map_err(DbError::from)?;
            f(&Conn::sqlite(&conn))
        }
        PoolRef::Postgres(pool) => {
            let mut pooled = pool.get().map_err(DbError::from)?;
            let (client, statements) = pooled.parts()?;
            f(&Conn::postgres(PgState {
                handle: PgHandle::Client(client),
                statements,
            }))
        }
    }
}

enum PoolRef<'p> {
    Sqlite(&'p SqlitePool),
    Postgres(&'p PgPool),
}

/// Run `job` on a blocking thread (database calls never block a runtime worker); a job that
/// panicked or was cancelled is a [`DbError::Join`].
async fn on_blocking_thread<T, E>(
    job: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| E::from(DbError::Join(e.to_string())))?
}

/// The SQLite database holds password hashes and token digests: it is created 0600 whatever
/// the umask (SQLite gives its `-wal` and `-shm` files the database file's mode), and an
/// existing one readable by others is made 0600.
fn make_private(path: &Path) -> Result<(), DbError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e| DbError::Io(path.to_path_buf(), e);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = std::path::PathBuf::from(name);
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| DbError::Io(file.clone(), e))?;
        }
    }
    Ok(())
}

/// The threads of one r2d2 pool that open its connections and close idle ones: r2d2 starts
/// three per pool (six for the two PostgreSQL pools), each with its own stack and malloc arena,
/// idle most of the time. One per pool where opening is quick or rare (SQLite, the lock pool),
/// two for the PostgreSQL pool a burst of requests fills. Per pool, not per process: a pool
/// waiting for an unreachable server must not hold up another's connections.
fn pool_maintenance_threads(threads: usize) -> Arc<scheduled_thread_pool::ScheduledThreadPool> {
    Arc::new(
        scheduled_thread_pool::ScheduledThreadPool::builder()
            .num_threads(threads)
            .thread_name_pattern("arca-db-pool-{}")
            .build(),
    )
}

/// The work [`Db::read`] and [`Db::write`] run with a connection, on a blocking thread.
pub trait DbWork<T, E>: FnOnce(&Conn<'_>) -> Result<T, E> + Send + 'static {}

impl<F, T, E> DbWork<T, E> for F where F: FnOnce(&Conn<'_>) -> Result<T, E> + Send + 'static {}

impl Db {
    /// Open (creating if needed) the SQLite database at `path` and bring its
    /// schema up to date. Refuses a schema newer than this build knows.
    pub fn open_sqlite(path: &Path, max_connections: u32) -> Result<Db, DbError> {
        let db = Db::connect_sqlite(path, max_connections)?;
        db.migrate()?;
        Ok(db)
    }

    /// Open the SQLite database at `path` without touching the schema.
    pub fn connect_sqlite(path: &Path, max_connections: u32) -> Result<Db, DbError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Io(parent.to_path_buf(), e))?;
        }
        make_private(path)?;
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
            .thread_pool(pool_maintenance_threads(1))
            // Bounded: `read_now` waits on the calling thread when every connection is busy.
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        Ok(Db {
            pools: Pools::Sqlite(pool),
            events: Arc::new(WriteEvents::new(Some(path.to_path_buf()))),
        })
    }

    /// Connect to PostgreSQL and bring the schema up to date: migrations run
    /// once per cluster, under the write lock (a node starting at the same
    /// time waits, then finds the schema current). Refuses a newer schema.
    pub fn open_postgres(opts: &PgOptions) -> Result<Db, DbError> {
        let db = Db::connect_postgres(opts)?;
        db.migrate()?;
        Ok(db)
    }

    /// Connect to PostgreSQL without touching the schema (for `arcactl`).
    pub fn connect_postgres(opts: &PgOptions) -> Result<Db, DbError> {
        let mut config: postgres::Config = opts
            .url
            .parse()
            .map_err(|e: postgres::Error| DbError::Config(format!("url {}: {e}", opts.url)))?;
        if let Some(user) = &opts.username {
            config.user(user);
        }
        if let Some(password) = &opts.password {
            config.password(password);
        }
        config.application_name(&opts.application_name);
        config.connect_timeout(Duration::from_secs(10));
        let connector = Connector::new(&opts.tls, &mut config)?;
        // One connection first: a refusal that waiting cannot cure (TLS, authentication,
        // pg_hba.conf, unknown database) is reported at once, not after the pool's 10 s.
        if let Err(e) = connector.connect(&config)
            && is_permanent(&e)
        {
            return Err(e.into());
        }
        let build = |max: u32, idle: u32, threads: usize| {
            r2d2::Pool::builder()
                .max_size(max.max(1))
                .min_idle(Some(idle.min(max.max(1))))
                .idle_timeout(Some(Duration::from_secs(60)))
                .connection_timeout(Duration::from_secs(10))
                .thread_pool(pool_maintenance_threads(threads))
                .build(PgManager {
                    config: config.clone(),
                    connector: connector.clone(),
                })
        };
        let main = build(opts.pool_max_active.max(2), opts.pool_max_idle.max(1), 2)?;
        let locks = build(opts.lock_pool_max.max(1), 1, 1)?;
        Ok(Db {
            pools: Pools::Postgres {
                main,
                locks,
                config: Box::new(config),
                connector,
            },
            events: Arc::new(WriteEvents::new(None)),
        })
    }

    /// A dedicated connection listening on the PostgreSQL channel `channel` (`LISTEN`); `None`
    /// on SQLite, where callers poll. Blocking: use it from a blocking thread.
    pub fn listener(&self, channel: &str) -> Result<Option<Listener>, DbError> {
        let Pools::Postgres {
            config, connector, ..
        } = &self.pools
        else {
            return Ok(None);
        };
        let mut client = connector.connect(config)?;
        // The channel is one of ours (an identifier), never user input; quote it anyway.
        client.batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', "")))?;
        Ok(Some(Listener { client }))
    }

    /// Apply pending migrations (see [`migrate`]).
    pub fn migrate(&self) -> Result<Vec<i64>, DbError> {
        in_write_tx(&self.pools, &self.events, migrate::apply)
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite(_) => Backend::Sqlite,
            Pools::Postgres { .. } => Backend::Postgres,
        }
    }

    /// This process's write transactions, as metadata caches follow them ([`cache_notify`]).
    pub fn write_events(&self) -> &WriteEvents {
        &self.events
    }

    /// `sqlite` or `postgresql`, for banners and checks.
    pub fn backend_name(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }

    fn main_pool(&self) -> PoolRef<'_> {
        match &self.pools {
            Pools::Sqlite(p) => PoolRef::Sqlite(p),
            Pools::Postgres { main, .. } => PoolRef::Postgres(main),
        }
    }

    fn lock_pool(&self) -> PoolRef<'_> {
        match &self.pools {
            Pools::Sqlite(p) => PoolRef::Sqlite(p),
            Pools::Postgres { locks, .. } => PoolRef::Postgres(locks),
        }
    }

    /// Run `f` with a pooled connection on a blocking thread.
    pub async fn read<T, E>(&self, f: impl DbWork<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        on_blocking_thread(move || with_conn(&db.main_pool(), f)).await
    }

    /// Run `f` with a pooled connection without a thread hand-off. Only for
    /// point lookups on the request hot path (one indexed row): on SQLite (WAL,
    /// readers never wait for writers) it runs right here, microseconds; on
    /// PostgreSQL the network round trip runs in `block_in_place` on the
    /// multi-threaded runtime (other tasks move to another worker). Anything
    /// that scans or writes uses [`Db::read`] or [`Db::write`].
    pub fn read_now<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, E> + Send,
        T: Send,
        E: From<DbError> + Send,
    {
        match self.main_pool() {
            PoolRef::Sqlite(_) => with_conn(&self.main_pool(), f),
            PoolRef::Postgres(_) => self.outside_runtime(|| with_conn(&self.main_pool(), f)),
        }
    }

    /// Run blocking PostgreSQL client code from wherever we are: the sync
    /// client drives its own runtime, which must not be entered from a tokio
    /// worker thread.
    fn outside_runtime<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Err(_) => f(),
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
            // current-thread runtimes (tests): a scoped thread may borrow `f`'s captures
            Ok(_) => std::thread::scope(|s| s.spawn(f).join())
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        }
    }

    /// Run `f` inside a write transaction: on SQLite `BEGIN IMMEDIATE` (the
    /// write lock is taken up front, so writers are serialised and never
    /// deadlock on upgrade); on PostgreSQL a transaction holding the
    /// cluster-wide write advisory lock. Commits when `f` returns `Ok`, rolls
    /// back otherwise.
    pub async fn write<T, E>(&self, f: impl DbWork<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        on_blocking_thread(move || in_write_tx(&db.pools, &db.events, f)).await
    }

    /// [`Db::read`] for synchronous callers (tools, tests); blocks this thread.
    pub fn read_blocking<T: Send, E: From<DbError> + Send>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        self.outside_runtime(|| with_conn(&self.main_pool(), f))
    }

    /// [`Db::write`] for synchronous callers (tools, tests); blocks this thread.
    pub fn write_blocking<T: Send, E: From<DbError> + Send>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        self.outside_runtime(|| in_write_tx(&self.pools, &self.events, f))
    }

    /// Run `f` on the small lock pool in autocommit mode (leases, heartbeats):
    /// cluster bookkeeping keeps working while the main pool is exhausted by
    /// requests, and never waits for the write lock.
    pub async fn locks<F, T>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Conn<'_>) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || with_conn(&db.lock_pool(), f))
            .await
            .map_err(|e| DbError::Join(e.to_string()))?
    }

    /// Cheap liveness probe used by readiness checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read(|conn| conn.query_one("SELECT 1", args![], |_| Ok(())))
            .await
    }
}

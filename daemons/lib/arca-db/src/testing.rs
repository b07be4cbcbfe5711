//! What this crate's unit tests share. The PostgreSQL test databases come from
//! `arca-testkit`, whose types belong to its own build of this crate: only their URL crosses
//! over.

use crate::{Db, DbError, PgOptions};

/// Open the test database at `url` with small pools and migrations applied.
pub fn open_postgres(url: &str) -> Db {
    let options = PgOptions {
        url: url.to_string(),
        username: None,
        password: None,
        pool_max_active: 8,
        pool_max_idle: 1,
        lock_pool_max: 2,
        application_name: "arca-test".into(),
        tls: crate::PgTls::default(),
    };
    Db::open_postgres(&options).unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// An in-memory SQLite database with foreign keys on and every migration applied (unit tests:
/// wrap it with `Conn::sqlite`).
pub fn migrated_sqlite() -> Result<rusqlite::Connection, DbError> {
    let raw = rusqlite::Connection::open_in_memory()?;
    raw.execute_batch("PRAGMA foreign_keys = ON;")?;
    crate::migrate::apply(&crate::Conn::sqlite(&raw))?;
    Ok(raw)
}

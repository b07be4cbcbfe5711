//! What this crate's unit tests share. Tests on PostgreSQL are integration tests
//! (`tests/backends.rs`), where `arca-testkit`'s databases and this crate are the same build.

use crate::DbError;

/// An in-memory SQLite database with foreign keys on and every migration applied (unit tests:
/// wrap it with `Conn::sqlite`).
pub fn migrated_sqlite() -> Result<rusqlite::Connection, DbError> {
    let raw = rusqlite::Connection::open_in_memory()?;
    raw.execute_batch("PRAGMA foreign_keys = ON;")?;
    crate::migrate::apply(&crate::Conn::sqlite(&raw))?;
    Ok(raw)
}

/// Add user `name` (a dummy password hash, no groups) created at `now_ms`.
pub fn add_user(conn: &crate::Conn<'_>, name: &str, now_ms: i64) -> Result<(), DbError> {
    let user = crate::security::User {
        name: name.into(),
        password_hash: "x".into(),
        created: now_ms,
        ..Default::default()
    };
    crate::security::insert_user(conn, &user)
}

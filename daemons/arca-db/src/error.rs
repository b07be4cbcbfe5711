use std::path::PathBuf;

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("database configuration: {0}")]
    Config(String),
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("cannot create {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(
        "database schema version {found} is newer than this build knows ({known}); \
         upgrade arca before starting this node"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// Input that breaks a rule (a bad name, pattern or reference); the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error("database worker failed: {0}")]
    Join(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// PostgreSQL errors print as "db error" alone; show the server's message and
/// SQLSTATE so the log says what went wrong.
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}: {})", db.message(), db.severity(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

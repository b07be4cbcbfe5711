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

impl DbError {
    /// The database could not be reached or is going away (connection refused or lost, pool
    /// exhausted, server shutting down or starting, SQLite busy past its timeout, disk full):
    /// a temporary condition a client should retry, unlike a bad statement or bad data.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) => true,
            DbError::Postgres(e) => match e.as_db_error() {
                // no server answer at all: the connection failed or was closed
                None => true,
                Some(db) => {
                    let code = db.code().code();
                    // 08: connection exception; 53: insufficient resources (disk full, too many
                    // connections); 57P01-57P03: admin shutdown, crash shutdown, cannot connect
                    // now; 40001/40P01: serialization failure / deadlock (retry)
                    code.starts_with("08")
                        || code.starts_with("53")
                        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
                }
            },
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::CannotOpen
            ),
            _ => false,
        }
    }

    /// The database is out of space (SQLite `SQLITE_FULL`, PostgreSQL 53100 disk full).
    pub fn is_disk_full(&self) -> bool {
        match self {
            DbError::Postgres(e) => e
                .as_db_error()
                .is_some_and(|db| db.code().code() == "53100"),
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            DbError::Io(_, e) => e.raw_os_error() == Some(28),
            _ => false,
        }
    }
}

/// A rule of the authorization model broken by the input (a bad name, action or pattern).
impl From<arca_authz::AuthzError> for DbError {
    fn from(e: arca_authz::AuthzError) -> DbError {
        DbError::Invalid(e.to_string())
    }
}

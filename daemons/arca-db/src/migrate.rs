//! Versioned schema migrations. Each migration runs once, in order, inside one
//! transaction, and is recorded in `schema_migrations`. Migrations are written
//! expand/contract style so that version N and N-1 can share a database during
//! a rolling upgrade; a node refuses a schema newer than it knows.

use rusqlite::{Connection, TransactionBehavior, params};

use crate::DbError;

/// (version, description, SQL). Append only; never edit a released entry.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "repositories, binaries, items, properties, users, tokens",
    r#"
CREATE TABLE repos (
    key              TEXT PRIMARY KEY,
    rclass           TEXT NOT NULL,
    package_type     TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    notes            TEXT NOT NULL DEFAULT '',
    includes_pattern TEXT NOT NULL DEFAULT '**/*',
    excludes_pattern TEXT NOT NULL DEFAULT '',
    handle_releases  INTEGER NOT NULL DEFAULT 1,
    handle_snapshots INTEGER NOT NULL DEFAULT 1,
    anonymous_read   INTEGER NOT NULL DEFAULT 0,
    created          INTEGER NOT NULL
);
CREATE TABLE binaries (
    sha256  TEXT PRIMARY KEY,
    sha1    TEXT NOT NULL,
    md5     TEXT NOT NULL,
    size    INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE INDEX binaries_sha1 ON binaries(sha1);
CREATE INDEX binaries_md5 ON binaries(md5);
CREATE TABLE items (
    id              INTEGER PRIMARY KEY,
    repo            TEXT NOT NULL REFERENCES repos(key) ON DELETE CASCADE,
    path            TEXT NOT NULL,
    parent          TEXT NOT NULL,
    name            TEXT NOT NULL,
    folder          INTEGER NOT NULL,
    sha256          TEXT REFERENCES binaries(sha256),
    size            INTEGER NOT NULL DEFAULT 0,
    sha1_original   TEXT,
    md5_original    TEXT,
    sha256_original TEXT,
    created         INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    modified        INTEGER NOT NULL,
    modified_by     TEXT NOT NULL,
    updated         INTEGER NOT NULL,
    UNIQUE (repo, path)
);
CREATE INDEX items_parent ON items(repo, parent);
CREATE INDEX items_sha256 ON items(sha256);
CREATE INDEX items_name ON items(name);
CREATE TABLE item_props (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (item_id, key, value)
);
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    email         TEXT,
    admin         INTEGER NOT NULL DEFAULT 0,
    created       INTEGER NOT NULL
);
CREATE TABLE tokens (
    id             TEXT PRIMARY KEY,
    digest         TEXT NOT NULL UNIQUE,
    subject        TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    created        INTEGER NOT NULL,
    expires        INTEGER,
    refreshable    INTEGER NOT NULL DEFAULT 0,
    refresh_digest TEXT UNIQUE
);
"#,
)];

/// The newest schema version this build knows.
pub fn known_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Current schema version of the database (0 when empty).
pub fn current_version(conn: &Connection) -> Result<i64, DbError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at  INTEGER NOT NULL
         );",
    )?;
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

/// Apply every pending migration. Returns the versions applied.
pub fn run(conn: &mut Connection) -> Result<Vec<i64>, DbError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = current_version(&tx)?;
    let known = known_version();
    if current > known {
        return Err(DbError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut applied = Vec::new();
    let now = crate::clock::Clock::now_ms(&crate::SystemClock);
    for (version, description, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, ?3)",
            params![version, description, now],
        )?;
        applied.push(*version);
    }
    tx.commit()?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(run(&mut conn).unwrap(), vec![1]);
        assert!(run(&mut conn).unwrap().is_empty());
        assert_eq!(current_version(&conn).unwrap(), known_version());
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)",
            [known_version() + 1],
        )
        .unwrap();
        match run(&mut conn) {
            Err(DbError::SchemaTooNew { found, known }) => {
                assert_eq!(found, known + 1);
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}

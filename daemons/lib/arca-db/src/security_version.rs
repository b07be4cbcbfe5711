//! The cluster's security version: every change to users, groups, grants or tokens bumps it,
//! and each server polls it to drop its cached grants and authentications (on PostgreSQL it is
//! also told at commit, `docs/cache.md`).

use crate::{Conn, DbError, args};

const SECURITY_VERSION_KEY: &str = "security.version";

/// The cluster's security version: changes whenever a user, group, grant or token changes.
pub fn security_version(conn: &Conn<'_>) -> Result<i64, DbError> {
    Ok(conn
        .query_opt(
            "SELECT value FROM cluster_settings WHERE key = ?1",
            args![SECURITY_VERSION_KEY],
            |r| r.get::<String>(0),
        )?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Record a security change (inside the caller's write transaction).
pub fn bump_security_version(conn: &Conn<'_>) -> Result<(), DbError> {
    let next = security_version(conn)? + 1;
    let now = crate::clock::Clock::now_ms(&crate::SystemClock);
    conn.execute(
        "INSERT INTO cluster_settings (key, value, updated) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        args![SECURITY_VERSION_KEY, next.to_string(), now],
    )?;
    // Other nodes drop their cached authentications at commit, not at their next poll.
    crate::cache_notify::notify_security(conn)
}

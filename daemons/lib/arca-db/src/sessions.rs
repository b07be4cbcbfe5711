//! Web UI sessions of the `db` provider (`arca.map.provider.type=db`): one row per session,
//! keyed by the SHA-256 of its random id, so a session made through one node works on all.
//! A session ends at the first of its idle expiry (pushed forward by use) and its absolute
//! expiry (fixed at login). `arca-session-cleanup` deletes ended rows; a read never trusts a
//! row that has ended but is not deleted yet.

use crate::sql::row_mapping;
use crate::{Conn, DbError, args};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the session id; the id itself is only in the client's cookie.
    pub id_hash: String,
    pub user_name: String,
    /// The node that created it (for operators; any node serves it).
    pub node_id: String,
    pub created: i64,
    pub last_access: i64,
    /// Milliseconds since the epoch.
    pub idle_expires: i64,
    pub absolute_expires: i64,
}

impl Session {
    /// Ended at `now_ms`: idle too long, or past its absolute lifetime.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.idle_expires <= now_ms || self.absolute_expires <= now_ms
    }
}

row_mapping!(const COLUMNS, fn from_row -> Session {
    id_hash, user_name, node_id, created, last_access, idle_expires, absolute_expires
});

pub fn insert_session(conn: &Conn<'_>, s: &Session) -> Result<(), DbError> {
    conn.execute(
        &format!("INSERT INTO sessions ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7)"),
        args![
            s.id_hash,
            s.user_name,
            s.node_id,
            s.created,
            s.last_access,
            s.idle_expires,
            s.absolute_expires
        ],
    )?;
    Ok(())
}

pub fn session_by_hash(conn: &Conn<'_>, id_hash: &str) -> Result<Option<Session>, DbError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM sessions WHERE id_hash = ?1"),
        args![id_hash],
        from_row,
    )
}

/// Record a use: `last_access = now`, idle expiry pushed to `idle_expires` (never past the
/// absolute expiry). `false` when the session is gone.
pub fn touch_session(
    conn: &Conn<'_>,
    id_hash: &str,
    now_ms: i64,
    idle_expires: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE sessions SET last_access = ?2, \
         idle_expires = CASE WHEN ?3 < absolute_expires THEN ?3 ELSE absolute_expires END \
         WHERE id_hash = ?1",
        args![id_hash, now_ms, idle_expires],
    )? > 0)
}

pub fn delete_session(conn: &Conn<'_>, id_hash: &str) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM sessions WHERE id_hash = ?1", args![id_hash])? > 0)
}

/// End every session of `user` (password change, disabled, deleted). Returns how many.
pub fn delete_user_sessions(conn: &Conn<'_>, user: &str) -> Result<usize, DbError> {
    conn.execute("DELETE FROM sessions WHERE user_name = ?1", args![user])
}

pub fn count_sessions(conn: &Conn<'_>) -> Result<i64, DbError> {
    conn.query_one("SELECT COUNT(*) FROM sessions", args![], |r| r.get(0))
}

/// Delete the sessions that have ended at `now_ms`; returns how many. Run inside a write
/// transaction (`Db::write`), which holds the cluster write lock on PostgreSQL: concurrent
/// runs on several nodes queue, and each session is deleted by exactly one of them.
pub fn delete_expired_sessions(conn: &Conn<'_>, now_ms: i64) -> Result<usize, DbError> {
    conn.execute(
        "DELETE FROM sessions WHERE idle_expires <= ?1 OR absolute_expires <= ?1",
        args![now_ms],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[test]
    fn sessions_end_at_idle_or_absolute_expiry_and_are_purged() {
        let raw = crate::testing::migrated_sqlite().unwrap();
        let conn = Conn::sqlite(&raw);
        let clock = ManualClock::new(1_000_000);
        crate::testing::add_user(&conn, "u", clock.now_ms()).unwrap();
        let now = clock.now_ms();
        let s = Session {
            id_hash: "h1".into(),
            user_name: "u".into(),
            node_id: "n1".into(),
            created: now,
            last_access: now,
            idle_expires: now + 1_000,
            absolute_expires: now + 5_000,
        };
        insert_session(&conn, &s).unwrap();
        insert_session(
            &conn,
            &Session {
                id_hash: "h2".into(),
                idle_expires: now + 10_000,
                absolute_expires: now + 10_000,
                ..s.clone()
            },
        )
        .unwrap();
        clock.advance(900);
        assert!(touch_session(&conn, "h1", clock.now_ms(), clock.now_ms() + 1_000).unwrap());
        clock.advance(900);
        let got = session_by_hash(&conn, "h1").unwrap().unwrap();
        assert!(
            !got.is_expired(clock.now_ms()),
            "use pushed the idle expiry"
        );
        // Never past the absolute expiry, however often it is used.
        assert!(touch_session(&conn, "h1", clock.now_ms(), clock.now_ms() + 60_000).unwrap());
        let got = session_by_hash(&conn, "h1").unwrap().unwrap();
        assert_eq!(got.idle_expires, now + 5_000);
        assert_eq!(delete_expired_sessions(&conn, clock.now_ms()).unwrap(), 0);
        clock.advance(3_200);
        assert!(got.is_expired(clock.now_ms()));
        assert_eq!(delete_expired_sessions(&conn, clock.now_ms()).unwrap(), 1);
        assert_eq!(count_sessions(&conn).unwrap(), 1);
        assert_eq!(delete_user_sessions(&conn, "u").unwrap(), 1);
        assert!(!delete_session(&conn, "h2").unwrap());
    }
}

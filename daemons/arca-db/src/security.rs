//! Users and access tokens (full users/groups/permissions come later).

use crate::{Conn, DbError, Row, args};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    pub email: Option<String>,
    pub admin: bool,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub subject: String,
    pub scope: String,
    pub created: i64,
    /// Milliseconds since the epoch; `None` never expires.
    pub expires: Option<i64>,
    pub refreshable: bool,
}

impl Token {
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires.is_some_and(|e| e <= now_ms)
    }
}

pub fn user_count(conn: &Conn<'_>) -> Result<i64, DbError> {
    conn.query_one("SELECT COUNT(*) FROM users", args![], |r| r.get(0))
}

pub fn get_user(conn: &Conn<'_>, name: &str) -> Result<Option<User>, DbError> {
    conn.query_opt(
        "SELECT name, password_hash, email, admin, created FROM users WHERE name = ?1",
        args![name],
        |r| {
            Ok(User {
                name: r.get(0)?,
                password_hash: r.get(1)?,
                email: r.get(2)?,
                admin: r.get(3)?,
                created: r.get(4)?,
            })
        },
    )
}

pub fn insert_user(conn: &Conn<'_>, user: &User) -> Result<(), DbError> {
    if get_user(conn, &user.name)?.is_some() {
        return Err(DbError::Conflict(format!(
            "User {} already exists",
            user.name
        )));
    }
    conn.execute(
        "INSERT INTO users (name, password_hash, email, admin, created) VALUES (?1,?2,?3,?4,?5)",
        args![
            user.name,
            user.password_hash,
            user.email,
            user.admin,
            user.created
        ],
    )?;
    Ok(())
}

/// Store a token by the digest of its secret (the secret itself is never stored).
pub fn insert_token(
    conn: &Conn<'_>,
    token: &Token,
    digest: &str,
    refresh_digest: Option<&str>,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO tokens (id, digest, subject, scope, created, expires, refreshable, refresh_digest) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
        args![
            token.id,
            digest,
            token.subject,
            token.scope,
            token.created,
            token.expires,
            token.refreshable,
            refresh_digest
        ],
    )?;
    Ok(())
}

const TOKEN_COLUMNS: &str = "id, subject, scope, created, expires, refreshable";

fn token_from_row(r: &Row<'_>) -> Result<Token, DbError> {
    Ok(Token {
        id: r.get(0)?,
        subject: r.get(1)?,
        scope: r.get(2)?,
        created: r.get(3)?,
        expires: r.get(4)?,
        refreshable: r.get(5)?,
    })
}

pub fn token_by_digest(conn: &Conn<'_>, digest: &str) -> Result<Option<Token>, DbError> {
    conn.query_opt(
        &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE digest = ?1"),
        args![digest],
        token_from_row,
    )
}

pub fn token_by_refresh_digest(conn: &Conn<'_>, digest: &str) -> Result<Option<Token>, DbError> {
    conn.query_opt(
        &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE refresh_digest = ?1"),
        args![digest],
        token_from_row,
    )
}

pub fn list_tokens(conn: &Conn<'_>, subject: Option<&str>) -> Result<Vec<Token>, DbError> {
    // CAST: PostgreSQL cannot infer the type of a parameter that is only tested for NULL
    conn.query_map(
        &format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE CAST(?1 AS TEXT) IS NULL OR subject = ?1 \
             ORDER BY created"
        ),
        args![subject],
        token_from_row,
    )
}

pub fn delete_token(conn: &Conn<'_>, id: &str) -> Result<bool, DbError> {
    Ok(conn.execute("DELETE FROM tokens WHERE id = ?1", args![id])? > 0)
}

/// Remove expired tokens; returns how many.
pub fn purge_expired_tokens(conn: &Conn<'_>, now_ms: i64) -> Result<usize, DbError> {
    conn.execute(
        "DELETE FROM tokens WHERE expires IS NOT NULL AND expires <= ?1",
        args![now_ms],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[test]
    fn tokens_expire_by_the_clock_and_are_purged() {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        raw.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        let conn = Conn::sqlite(&raw);
        crate::migrate::apply(&conn).unwrap();
        let clock = ManualClock::new(1_000_000);
        insert_user(
            &conn,
            &User {
                name: "u".into(),
                password_hash: "x".into(),
                email: None,
                admin: false,
                created: clock.now_ms(),
            },
        )
        .unwrap();
        let token = Token {
            id: "t1".into(),
            subject: "u".into(),
            scope: "api:*".into(),
            created: clock.now_ms(),
            expires: Some(clock.now_ms() + 60_000),
            refreshable: false,
        };
        insert_token(&conn, &token, "digest-1", None).unwrap();
        let forever = Token {
            id: "t2".into(),
            expires: None,
            ..token.clone()
        };
        insert_token(&conn, &forever, "digest-2", None).unwrap();
        let found = token_by_digest(&conn, "digest-1").unwrap().unwrap();
        assert!(!found.is_expired(clock.now_ms()));
        clock.advance(59_999);
        assert!(!found.is_expired(clock.now_ms()));
        assert_eq!(purge_expired_tokens(&conn, clock.now_ms()).unwrap(), 0);
        clock.advance(1);
        assert!(found.is_expired(clock.now_ms()));
        assert_eq!(purge_expired_tokens(&conn, clock.now_ms()).unwrap(), 1);
        assert!(token_by_digest(&conn, "digest-1").unwrap().is_none());
        assert!(token_by_digest(&conn, "digest-2").unwrap().is_some());
    }
}

//! Users, their login state (failed attempts, lockout) and access tokens. Groups and
//! permission targets: [`crate::permissions`].

use crate::permissions::{self, validate_name};
use crate::security_version::bump_security_version;
use crate::sql::row_mapping;
use crate::{Conn, DbError, args};

/// The user requests without credentials act as. It exists as a row (grants may name it) but
/// can never log in: its password hash is not a valid hash.
pub use arca_authz::ANONYMOUS;

/// Stored instead of a password hash where no password may ever match.
pub const NO_PASSWORD: &str = "!";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    pub email: Option<String>,
    pub admin: bool,
    pub created: i64,
    /// A disabled user cannot log in or use its tokens and sessions.
    pub disabled: bool,
    /// Failed password checks in a row.
    pub failed_logins: i64,
    /// No password check succeeds before this time (ms), however right the password.
    pub locked_until: Option<i64>,
    pub last_login: Option<i64>,
}

impl User {
    /// Locked out at `now_ms` (too many failed logins).
    pub fn is_locked(&self, now_ms: i64) -> bool {
        self.locked_until.is_some_and(|t| t > now_ms)
    }
}

/// The login back-off: after `max_failures` failed password checks in a row the user is locked
/// for `lockout_ms`, doubled for each further failure, at most an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    pub max_failures: u32,
    pub lockout_ms: i64,
}

impl LoginPolicy {
    pub const MAX_LOCKOUT_MS: i64 = 3_600_000;

    /// When a user with `failures` failed checks in a row (this one included) is locked until.
    pub fn locked_until(&self, failures: i64, now_ms: i64) -> Option<i64> {
        let over = failures - i64::from(self.max_failures);
        if over < 0 {
            return None;
        }
        let factor = 1i64
            .checked_shl(u32::try_from(over.min(30)).unwrap_or(30))
            .unwrap_or(i64::MAX);
        let ms = self
            .lockout_ms
            .saturating_mul(factor)
            .min(Self::MAX_LOCKOUT_MS);
        Some(now_ms.saturating_add(ms))
    }
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

row_mapping!(const USER_COLUMNS, fn user_from_row -> User {
    name, password_hash, email, admin, created, disabled, failed_logins, locked_until, last_login
});

pub fn get_user(conn: &Conn<'_>, name: &str) -> Result<Option<User>, DbError> {
    conn.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"),
        args![name],
        user_from_row,
    )
}

pub fn list_users(conn: &Conn<'_>) -> Result<Vec<User>, DbError> {
    conn.query_map(
        &format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"),
        args![],
        user_from_row,
    )
}

/// Insert a user as given (no group joins): see [`create_user`] for the full rule.
pub fn insert_user(conn: &Conn<'_>, user: &User) -> Result<(), DbError> {
    if get_user(conn, &user.name)?.is_some() {
        return Err(DbError::Conflict(format!(
            "User {} already exists",
            user.name
        )));
    }
    conn.execute(
        "INSERT INTO users (name, password_hash, email, admin, created, disabled)          VALUES (?1,?2,?3,?4,?5,?6)",
        args![
            user.name,
            user.password_hash,
            user.email,
            user.admin,
            user.created,
            user.disabled
        ],
    )?;
    Ok(())
}

/// Create a user: validated name, member of `groups` (each must exist) — or, when `groups` is
/// `None`, of the auto-join groups.
pub fn create_user(conn: &Conn<'_>, user: &User, groups: Option<&[String]>) -> Result<(), DbError> {
    validate_name("user", &user.name)?;
    if let Some(email) = &user.email {
        validate_email(email)?;
    }
    insert_user(conn, user)?;
    let groups = match groups {
        Some(g) => g.to_vec(),
        None => permissions::auto_join_groups(conn)?,
    };
    permissions::set_user_groups(conn, &user.name, &groups)?;
    bump_security_version(conn)
}

/// The credential a request was made with: spared when that request changes its own user's
/// password ([`update_user`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerCredential<'a> {
    /// A UI session (the SHA-256 of its id).
    Session { id_hash: &'a str },
    /// An access token (its digest).
    Token { digest: &'a str },
}

/// Change a user's email, admin flag, disabled flag and (when `password_hash` is `Some`) its
/// password. A new password revokes the user's tokens and ends its sessions and clears the
/// lockout — sparing `keep`, the session or token of the request making the change when it is
/// the user's own; disabling ends its sessions (its tokens stop working while it is disabled).
/// `false` when the user does not exist.
pub fn update_user(
    conn: &Conn<'_>,
    name: &str,
    email: Option<&str>,
    admin: bool,
    disabled: bool,
    password_hash: Option<&str>,
    keep: Option<CallerCredential<'_>>,
) -> Result<bool, DbError> {
    if let Some(email) = email {
        validate_email(email)?;
    }
    let Some(before) = get_user(conn, name)? else {
        return Ok(false);
    };
    conn.execute(
        "UPDATE users SET email = ?2, admin = ?3, disabled = ?4 WHERE name = ?1",
        args![name, email, admin, disabled],
    )?;
    if let Some(hash) = password_hash {
        conn.execute(
            "UPDATE users SET password_hash = ?2 WHERE name = ?1",
            args![name, hash],
        )?;
        clear_lockout(conn, name)?;
        let (keep_session, keep_token) = match keep {
            Some(CallerCredential::Session { id_hash }) => (id_hash, ""),
            Some(CallerCredential::Token { digest }) => ("", digest),
            None => ("", ""),
        };
        conn.execute(
            "DELETE FROM tokens WHERE subject = ?1 AND digest <> ?2",
            args![name, keep_token],
        )?;
        conn.execute(
            "DELETE FROM sessions WHERE user_name = ?1 AND id_hash <> ?2",
            args![name, keep_session],
        )?;
    }
    if disabled && !before.disabled {
        crate::sessions::delete_user_sessions(conn, name)?;
    }
    bump_security_version(conn)?;
    Ok(true)
}

/// Delete a user with its group memberships, grants, tokens and sessions. `false` when it did
/// not exist. The anonymous user cannot be deleted.
pub fn delete_user(conn: &Conn<'_>, name: &str) -> Result<bool, DbError> {
    if name == ANONYMOUS {
        return Err(DbError::Invalid(
            "the anonymous user cannot be deleted (take its grants away instead)".into(),
        ));
    }
    permissions::delete_user_grants(conn, name)?;
    let deleted = conn.execute("DELETE FROM users WHERE name = ?1", args![name])? > 0;
    bump_security_version(conn)?;
    Ok(deleted)
}

fn validate_email(email: &str) -> Result<(), DbError> {
    let ok = email.is_empty()
        || (email.len() <= 254
            && email.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && !d.is_empty() && !email.chars().any(char::is_whitespace)
            }));
    if ok {
        Ok(())
    } else {
        Err(DbError::Invalid(format!(
            "email '{email}' is invalid: expected name@domain"
        )))
    }
}

/// What a password check may do, decided (and counted) before it runs: see
/// [`claim_login_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginClaim {
    /// Check the password. The attempt is already counted as a failure; a success clears it.
    Check,
    /// Too many failures from this source: answer without checking until `until` (ms).
    Locked { until: i64 },
}

/// Back-off rows untouched this long (and not locked) are forgotten: a day of quiet resets
/// the count.
const LOGIN_FAILURES_KEPT_MS: i64 = 24 * 3_600_000;

/// Claim one password check of `name` from `source` (the client's address) under `policy`.
///
/// The attempt is counted *before* the password is checked, in the caller's write
/// transaction, so concurrent wrong guesses cannot outrun the count: of any number of
/// simultaneous attempts at most `max_failures` reach the password check before the lockout
/// (the claim that reaches the limit sets it, a success lifts it). `name` need not be a user
/// (unknown names are counted the same way, so they cannot be told apart).
pub fn claim_login_attempt(
    conn: &Conn<'_>,
    name: &str,
    source: &str,
    policy: LoginPolicy,
    now_ms: i64,
) -> Result<LoginClaim, DbError> {
    conn.execute(
        "DELETE FROM login_failures WHERE updated < ?1 AND (locked_until IS NULL OR locked_until < ?2)",
        args![now_ms.saturating_sub(LOGIN_FAILURES_KEPT_MS), now_ms],
    )?;
    let row: Option<(i64, Option<i64>)> = conn.query_opt(
        "SELECT failures, locked_until FROM login_failures WHERE user_name = ?1 AND source = ?2",
        args![name, source],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if let Some((_, Some(until))) = row
        && until > now_ms
    {
        return Ok(LoginClaim::Locked { until });
    }
    let failures = row.map_or(0, |r| r.0).saturating_add(1);
    let locked_until = policy.locked_until(failures, now_ms);
    if row.is_some() {
        conn.execute(
            "UPDATE login_failures SET failures = ?3, locked_until = ?4, updated = ?5 \
             WHERE user_name = ?1 AND source = ?2",
            args![name, source, failures, locked_until, now_ms],
        )?;
    } else {
        conn.execute(
            "INSERT INTO login_failures (user_name, source, failures, locked_until, updated) \
             VALUES (?1,?2,?3,?4,?5)",
            args![name, source, failures, locked_until, now_ms],
        )?;
    }
    sync_lockout_summary(conn, name)?;
    Ok(LoginClaim::Check)
}

/// The back-off of (`name`, `source`) as it stands, without counting an attempt: for a login
/// checked while the database cannot take writes (out of disk space).
pub fn login_lock(
    conn: &Conn<'_>,
    name: &str,
    source: &str,
    now_ms: i64,
) -> Result<LoginClaim, DbError> {
    let until: Option<Option<i64>> = conn.query_opt(
        "SELECT locked_until FROM login_failures WHERE user_name = ?1 AND source = ?2",
        args![name, source],
        |r| r.get(0),
    )?;
    Ok(match until.flatten() {
        Some(until) if until > now_ms => LoginClaim::Locked { until },
        _ => LoginClaim::Check,
    })
}

/// The users' `failed_logins`/`locked_until`: the most failures and the latest lockout of any
/// source (what `arcactl user` shows).
fn sync_lockout_summary(conn: &Conn<'_>, name: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET \
         failed_logins = (SELECT COALESCE(MAX(failures), 0) FROM login_failures WHERE user_name = ?1), \
         locked_until = (SELECT MAX(locked_until) FROM login_failures WHERE user_name = ?1) \
         WHERE name = ?1",
        args![name],
    )?;
    Ok(())
}

/// Count a failed password check of `name` from an unnamed source (operators' tools and
/// tests; the server claims with [`claim_login_attempt`]). Returns the user's state afterwards
/// (`None`: no such user).
pub fn record_login_failure(
    conn: &Conn<'_>,
    name: &str,
    policy: LoginPolicy,
    now_ms: i64,
) -> Result<Option<User>, DbError> {
    claim_login_attempt(conn, name, "-", policy, now_ms)?;
    get_user(conn, name)
}

/// Record a successful login from `source`: that source's failure count and lockout are
/// cleared, the user's last login set.
pub fn record_login_success(
    conn: &Conn<'_>,
    name: &str,
    source: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM login_failures WHERE user_name = ?1 AND source = ?2",
        args![name, source],
    )?;
    conn.execute(
        "UPDATE users SET last_login = ?2 WHERE name = ?1",
        args![name, now_ms],
    )?;
    sync_lockout_summary(conn, name)
}

/// Clear the login back-off of `name` from every source (an operator's unlock, a new
/// password); records no login.
pub fn clear_lockout(conn: &Conn<'_>, name: &str) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM login_failures WHERE user_name = ?1",
        args![name],
    )?;
    conn.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name = ?1",
        args![name],
    )?;
    Ok(())
}

/// Create the anonymous user if it is missing (at server start; it owns no password).
pub fn ensure_anonymous(conn: &Conn<'_>, now_ms: i64) -> Result<bool, DbError> {
    if get_user(conn, ANONYMOUS)?.is_some() {
        return Ok(false);
    }
    insert_user(
        conn,
        &User {
            name: ANONYMOUS.into(),
            password_hash: NO_PASSWORD.into(),
            created: now_ms,
            ..User::default()
        },
    )?;
    Ok(true)
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

row_mapping!(const TOKEN_COLUMNS, fn token_from_row -> Token {
    id, subject, scope, created, expires, refreshable
});

/// The token whose `column` (a unique one) holds `value`.
fn token_where(conn: &Conn<'_>, column: &str, value: &str) -> Result<Option<Token>, DbError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE {column} = ?1");
    conn.query_opt(&sql, args![value], token_from_row)
}

pub fn token_by_digest(conn: &Conn<'_>, digest: &str) -> Result<Option<Token>, DbError> {
    token_where(conn, "digest", digest)
}

pub fn token_by_id(conn: &Conn<'_>, id: &str) -> Result<Option<Token>, DbError> {
    token_where(conn, "id", id)
}

pub fn token_by_refresh_digest(conn: &Conn<'_>, digest: &str) -> Result<Option<Token>, DbError> {
    token_where(conn, "refresh_digest", digest)
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
        let raw = crate::testing::migrated_sqlite().unwrap();
        let conn = Conn::sqlite(&raw);
        let clock = ManualClock::new(1_000_000);
        crate::testing::add_user(&conn, "u", clock.now_ms()).unwrap();
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

    #[test]
    fn login_back_off_locks_then_doubles_up_to_an_hour() {
        let raw = crate::testing::migrated_sqlite().unwrap();
        let conn = Conn::sqlite(&raw);
        let clock = ManualClock::new(10_000_000);
        create_user(
            &conn,
            &User {
                name: "bob".into(),
                password_hash: "h".into(),
                created: clock.now_ms(),
                ..User::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(
            crate::permissions::user_groups(&conn, "bob").unwrap(),
            ["readers"],
            "auto-join"
        );
        let policy = LoginPolicy {
            max_failures: 3,
            lockout_ms: 1_000,
        };
        let now = clock.now_ms();
        for _ in 0..2 {
            let u = record_login_failure(&conn, "bob", policy, now)
                .unwrap()
                .unwrap();
            assert!(!u.is_locked(now));
        }
        let u = record_login_failure(&conn, "bob", policy, now)
            .unwrap()
            .unwrap();
        assert_eq!(u.locked_until, Some(now + 1_000));
        // While locked, a claim is refused and not counted.
        assert_eq!(
            claim_login_attempt(&conn, "bob", "-", policy, now + 999).unwrap(),
            LoginClaim::Locked { until: now + 1_000 }
        );
        // Other sources are not locked (per user and source).
        assert_eq!(
            claim_login_attempt(&conn, "bob", "10.0.0.9", policy, now).unwrap(),
            LoginClaim::Check
        );
        clock.advance(1_000);
        let now = clock.now_ms();
        // The next claim after a lockout locks again at once, for twice as long.
        let u = record_login_failure(&conn, "bob", policy, now)
            .unwrap()
            .unwrap();
        assert_eq!(u.locked_until, Some(now + 2_000));
        clock.advance(1_999);
        assert!(
            get_user(&conn, "bob")
                .unwrap()
                .unwrap()
                .is_locked(clock.now_ms())
        );
        clock.advance(1);
        assert!(
            !get_user(&conn, "bob")
                .unwrap()
                .unwrap()
                .is_locked(clock.now_ms())
        );
        assert_eq!(
            policy.locked_until(60, 0),
            Some(LoginPolicy::MAX_LOCKOUT_MS)
        );
        record_login_success(&conn, "bob", "-", clock.now_ms()).unwrap();
        let u = get_user(&conn, "bob").unwrap().unwrap();
        assert_eq!(
            u.failed_logins, 1,
            "the other source's failure is still counted"
        );
        clear_lockout(&conn, "bob").unwrap();
        let u = get_user(&conn, "bob").unwrap().unwrap();
        assert_eq!((u.failed_logins, u.locked_until), (0, None));
        assert!(
            record_login_failure(&conn, "nobody", policy, now)
                .unwrap()
                .is_none()
        );
        assert!(delete_user(&conn, ANONYMOUS).is_err());
        assert!(
            create_user(
                &conn,
                &User {
                    name: "a b".into(),
                    ..User::default()
                },
                None
            )
            .is_err()
        );
    }
}

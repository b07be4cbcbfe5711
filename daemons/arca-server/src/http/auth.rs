//! Authentication: Basic (argon2id password or access token as password),
//! Bearer tokens and the reference's `X-JFrog-Art-Api` header.

use base64::Engine;
use warp::http::HeaderMap;

use arca_db::permissions::{self, TokenScope};
use arca_db::security::{self, User};

use crate::http::error::{ApiError, ApiResult};
use crate::http::session;
use crate::state::{App, Principal};

/// Access tokens carry this prefix, so a Basic password can be told apart.
const TOKEN_PREFIX: &str = "arca_";

/// Identify the caller. No credentials → anonymous; bad credentials → 401.
/// Accepted: `Basic user:password` (or an access token as the password), `Bearer <token>`,
/// a bare token as the whole `Authorization` value (cargo's convention) and the reference's
/// `X-JFrog-Art-Api` header.
pub async fn authenticate(app: &App, headers: &HeaderMap) -> ApiResult<Principal> {
    // The UI session cookie, when the request has no credentials of its own; an unknown or
    // ended session is anonymous (public reads keep working). docs/sessions.md
    if !session::has_credentials(headers)
        && let Some(id) = session::cookie_id(headers)
    {
        return Ok(session::cookie_principal(app, &id)
            .await?
            .unwrap_or(Principal::Anonymous));
    }
    let (raw, header_value) = if let Some(v) = headers.get(warp::http::header::AUTHORIZATION) {
        (v.as_bytes().to_vec(), v.to_str().ok().map(str::to_string))
    } else if let Some(v) = headers.get("x-jfrog-art-api") {
        let token = v.to_str().unwrap_or_default();
        (v.as_bytes().to_vec(), Some(format!("Bearer {token}")))
    } else {
        return Ok(Principal::Anonymous);
    };
    let now = app.now_ms();
    if let Some(p) = app.auth_cache.get(&raw, now) {
        return Ok(p);
    }
    let header_value =
        header_value.ok_or_else(|| ApiError::unauthorized("Malformed Authorization header"))?;
    let header_value = header_value.trim();
    let (scheme, rest) = match header_value.split_once(' ') {
        Some((scheme, rest)) => (scheme, rest.trim()),
        // cargo sends the token as the whole header value
        None if header_value.starts_with(TOKEN_PREFIX) => ("bearer", header_value),
        None => return Err(ApiError::unauthorized("Malformed Authorization header")),
    };
    // A token's cache entry ends when the token expires; a security change clears the cache.
    let mut expires: Option<i64> = None;
    let principal = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| ApiError::unauthorized("Malformed Basic credentials"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| ApiError::unauthorized("Malformed Basic credentials"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| ApiError::unauthorized("Malformed Basic credentials"))?;
        if password.starts_with(TOKEN_PREFIX) {
            let (p, exp) = token_principal(app, password, now).await?;
            expires = exp;
            if p.name() != user && !user.is_empty() {
                return Err(ApiError::unauthorized("Bad credentials"));
            }
            p
        } else {
            password_principal(app, user, password).await?
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let (p, exp) = token_principal(app, rest, now).await?;
        expires = exp;
        p
    } else {
        return Err(ApiError::unauthorized(format!(
            "Unsupported authentication scheme '{scheme}'"
        )));
    };
    app.auth_cache.put(&raw, principal.clone(), now, expires);
    Ok(principal)
}

/// Check `user`'s password, with the login back-off: after
/// `arca.security.login.max.failures` failures in a row the user is locked out for a while,
/// whatever the password (the state is in the database: every node sees it).
pub async fn check_password(app: &App, user: &str, password: &str) -> ApiResult<User> {
    let name = user.to_string();
    let now = app.now_ms();
    let found = app.db.read(move |c| security::get_user(c, &name)).await?;
    let Some(found) = found else {
        // Spend the same time as a real check so user names can't be probed.
        let _ = arca_crypto::verify_password(password, dummy_hash());
        return Err(ApiError::unauthorized("Bad credentials"));
    };
    if found.is_locked(now) {
        let secs = (found.locked_until.unwrap_or(now) - now + 999) / 1000;
        tracing::warn!(user = %found.name, "login refused: locked out after failed logins");
        return Err(ApiError::unauthorized(format!(
            "User '{}' is locked out after {} failed logins; try again in {secs} s",
            found.name, found.failed_logins
        ))
        .with_retry_after(secs));
    }
    let password = password.to_string();
    let hash = found.password_hash.clone();
    // argon2 is deliberately slow: off the async threads.
    let ok = tokio::task::spawn_blocking(move || {
        // The anonymous user's "!" is no hash: it never matches.
        arca_crypto::verify_password(&password, &hash).unwrap_or(false)
    })
    .await
    .map_err(|e| ApiError::internal("password check", e))?;
    if !ok {
        let (name, policy) = (found.name.clone(), app.settings.login_policy);
        let after = app
            .db
            .write(move |tx| security::record_login_failure(tx, &name, policy, now))
            .await?;
        if let Some(u) = after.filter(|u| u.is_locked(now)) {
            tracing::warn!(
                user = %u.name,
                failures = u.failed_logins,
                "user locked out after repeated failed logins"
            );
        }
        return Err(ApiError::unauthorized("Bad credentials"));
    }
    if found.disabled {
        return Err(ApiError::unauthorized(format!(
            "User '{}' is disabled",
            found.name
        )));
    }
    // Clears the failure count and records the login (`lastLoggedIn`); the auth cache keeps
    // this to one write per cache miss.
    let name = found.name.clone();
    app.db
        .write(move |tx| security::record_login_success(tx, &name, now))
        .await?;
    Ok(found)
}

async fn password_principal(app: &App, user: &str, password: &str) -> ApiResult<Principal> {
    let found = check_password(app, user, password).await?;
    principal_for_user(app, &found.name, &TokenScope::User).await
}

/// The principal `name` acts as, under `scope`: its groups, admin through its flag or an
/// admin group. A missing or disabled user is refused (401).
pub async fn principal_for_user(app: &App, name: &str, scope: &TokenScope) -> ApiResult<Principal> {
    let name = name.to_string();
    let (user, groups, admin_groups) = app
        .db
        .read(move |c| {
            let user = security::get_user(c, &name)?;
            let groups = permissions::user_groups(c, &name)?;
            let admin_groups = permissions::admin_groups(c)?;
            Ok::<_, arca_db::DbError>((user, groups, admin_groups))
        })
        .await?;
    let user = user.ok_or_else(|| ApiError::unauthorized("Bad credentials"))?;
    if user.disabled {
        return Err(ApiError::unauthorized(format!(
            "User '{}' is disabled",
            user.name
        )));
    }
    let admin = user.admin || groups.iter().any(|g| admin_groups.contains(g));
    let subject = scope.subject(&user.name, admin, &groups);
    // A group-scoped token is admin only through an admin group it carries.
    let admin = subject.admin || subject.groups.iter().any(|g| admin_groups.contains(g));
    Ok(Principal::User {
        name: user.name,
        admin,
        groups: subject.groups,
        user_grants: subject.user_grants,
    })
}

/// A valid argon2id hash of a random string (for timing equalisation only).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        arca_crypto::hash_password(&arca_crypto::random_password()).unwrap_or_default()
    })
}

/// The user a token stands for (within the token's scope), and when the token expires.
async fn token_principal(app: &App, token: &str, now: i64) -> ApiResult<(Principal, Option<i64>)> {
    let digest = arca_crypto::token_digest(token);
    let tok = app
        .db
        .read(move |conn| security::token_by_digest(conn, &digest))
        .await?
        .ok_or_else(|| ApiError::unauthorized("Bad credentials"))?;
    if tok.is_expired(now) {
        return Err(ApiError::unauthorized("Token expired"));
    }
    let scope = TokenScope::parse(&tok.scope)
        .map_err(|e| ApiError::unauthorized(format!("Token scope: {e}")))?;
    let principal = principal_for_user(app, &tok.subject, &scope).await?;
    Ok((principal, tok.expires))
}

/// Require an authenticated user (401 with a challenge otherwise).
pub fn require_user(p: &Principal) -> ApiResult<()> {
    match p {
        Principal::Anonymous => Err(ApiError::unauthorized("Authentication is required")),
        Principal::User { .. } => Ok(()),
    }
}

/// Require an administrator.
pub fn require_admin(p: &Principal) -> ApiResult<()> {
    require_user(p)?;
    if p.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden("Administrator rights are required"))
    }
}

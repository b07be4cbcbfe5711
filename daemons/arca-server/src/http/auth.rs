//! Authentication: Basic (argon2id password or access token as password),
//! Bearer tokens and the reference's `X-JFrog-Art-Api` header.

use base64::Engine;
use warp::http::HeaderMap;

use arca_db::security;

use crate::http::error::{ApiError, ApiResult};
use crate::state::{App, Principal};

/// Access tokens carry this prefix, so a Basic password can be told apart.
const TOKEN_PREFIX: &str = "arca_";

/// Identify the caller. No credentials → anonymous; bad credentials → 401.
pub async fn authenticate(app: &App, headers: &HeaderMap) -> ApiResult<Principal> {
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
    let (scheme, rest) = header_value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("Malformed Authorization header"))?;
    // A token's cache entry ends when the token expires; revocation clears the cache.
    let mut expires: Option<i64> = None;
    let principal = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| ApiError::unauthorized("Malformed Basic credentials"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| ApiError::unauthorized("Malformed Basic credentials"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| ApiError::unauthorized("Malformed Basic credentials"))?;
        if password.starts_with(TOKEN_PREFIX) {
            let (p, exp) = token_principal(app, password, now)?;
            expires = exp;
            if p.name() != user && !user.is_empty() {
                return Err(ApiError::unauthorized("Bad credentials"));
            }
            p
        } else {
            password_principal(app, user, password).await?
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let (p, exp) = token_principal(app, rest.trim(), now)?;
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

async fn password_principal(app: &App, user: &str, password: &str) -> ApiResult<Principal> {
    let user = user.to_string();
    let password = password.to_string();
    app.db
        .read(move |conn| {
            let Some(found) = security::get_user(conn, &user)? else {
                // Spend the same time as a real check so user names can't be probed.
                let _ = arca_crypto::verify_password(&password, dummy_hash());
                return Err(ApiError::unauthorized("Bad credentials"));
            };
            match arca_crypto::verify_password(&password, &found.password_hash) {
                Ok(true) => Ok(Principal::User {
                    name: found.name,
                    admin: found.admin,
                }),
                Ok(false) => Err(ApiError::unauthorized("Bad credentials")),
                Err(e) => Err(ApiError::internal("password check", e)),
            }
        })
        .await
}

/// A valid argon2id hash of a random string (for timing equalisation only).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        arca_crypto::hash_password(&arca_crypto::random_password()).unwrap_or_default()
    })
}

/// The user a token stands for, and when the token expires.
fn token_principal(app: &App, token: &str, now: i64) -> ApiResult<(Principal, Option<i64>)> {
    let digest = arca_crypto::token_digest(token);
    app.db.read_now(|conn| {
        let Some(tok) = security::token_by_digest(conn, &digest)? else {
            return Err(ApiError::unauthorized("Bad credentials"));
        };
        if tok.is_expired(now) {
            return Err(ApiError::unauthorized("Token expired"));
        }
        let user = security::get_user(conn, &tok.subject)?
            .ok_or_else(|| ApiError::unauthorized("Bad credentials"))?;
        Ok((
            Principal::User {
                name: user.name,
                admin: user.admin,
            },
            tok.expires,
        ))
    })
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

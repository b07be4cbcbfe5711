//! `/api/security/token`: access tokens usable as Bearer or as a Basic password.

use serde::Deserialize;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::permissions::{self, TokenScope};
use arca_db::security::{self, Token};

use crate::http::auth::{require_admin, require_user};
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::{Request, read_small_body, security_users};
use crate::state::Principal;

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    match (req.method.clone(), tail) {
        (Method::POST, "token") => create(req).await,
        (Method::GET, "token") => list(req).await,
        (Method::POST, "token/revoke") => revoke(req).await,
        (Method::DELETE, t) if t.starts_with("token/") => {
            delete_by_id(req, &t["token/".len()..]).await
        }
        (_, "token" | "token/revoke") => Err(ApiError::method_not_allowed()),
        (_, t) if t == "users" || t.starts_with("users/") => {
            security_users::users(req, &t["users".len()..]).await
        }
        (_, t) if t == "groups" || t.starts_with("groups/") => {
            security_users::groups(req, &t["groups".len()..]).await
        }
        (_, t) if t == "permissions" || t.starts_with("permissions/") => {
            security_users::permissions_v1(req, &t["permissions".len()..]).await
        }
        // the reference's whole API-key family (`apiKey`, `apiKey/auth`, `apiKey/{user}`)
        (_, t) if t == "apiKey" || t.starts_with("apiKey/") => Err(api_key_gone()),
        _ => Err(ApiError::not_found(format!(
            "Unknown API endpoint /api/security/{tail}"
        ))),
    }
}

#[derive(Debug, Deserialize, Default)]
struct TokenForm {
    username: Option<String>,
    scope: Option<String>,
    expires_in: Option<String>,
    refreshable: Option<String>,
    grant_type: Option<String>,
    refresh_token: Option<String>,
    access_token: Option<String>,
    token: Option<String>,
    token_id: Option<String>,
}

async fn read_form(req: &mut Request) -> ApiResult<TokenForm> {
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, 64 * 1024).await?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "Form body (application/x-www-form-urlencoded): {e}"
        ))
    })
}

const DEFAULT_EXPIRY_SECS: i64 = 3600;

async fn create(req: &mut Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_user(&principal)?;
    let form = read_form(req).await?;

    // Refresh: swap a refresh token for a new access token (the old one is revoked).
    let refreshing = form.grant_type.as_deref() == Some("refresh_token");
    let (subject, scope, expires_in, refreshable, old_id) = if refreshing {
        let refresh = form.refresh_token.clone().ok_or_else(|| {
            ApiError::bad_request("Field 'refresh_token' is required with grant_type=refresh_token")
        })?;
        let digest = arca_crypto::token_digest(&refresh);
        let old = req
            .app
            .db
            .read(move |conn| security::token_by_refresh_digest(conn, &digest))
            .await?
            .ok_or_else(|| ApiError::unauthorized("Unknown refresh token"))?;
        if old.subject != principal.name() && !principal.is_admin() {
            return Err(ApiError::forbidden("Refresh token belongs to another user"));
        }
        let secs = old.expires.map(|e| (e - old.created) / 1000).unwrap_or(0);
        // A lowered maximum applies to refreshed tokens too.
        let secs = if principal.is_admin() {
            secs
        } else {
            let max = req.app.settings.token_max_expires_secs;
            if secs == 0 { max } else { secs.min(max) }
        };
        (
            old.subject.clone(),
            old.scope.clone(),
            secs,
            true,
            Some(old.id),
        )
    } else {
        let subject = form
            .username
            .clone()
            .unwrap_or_else(|| principal.name().to_string());
        if subject != principal.name() && !principal.is_admin() {
            return Err(ApiError::forbidden(
                "Only an administrator can create tokens for other users",
            ));
        }
        let expires_in = match form.expires_in.as_deref() {
            None | Some("") => DEFAULT_EXPIRY_SECS,
            Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Field 'expires_in' must be a number of seconds ≥ 0, got '{v}'"
                ))
            })?,
        };
        if expires_in == 0 && !principal.is_admin() {
            return Err(ApiError::forbidden(
                "Only an administrator can create non-expiring tokens",
            ));
        }
        let max = req.app.settings.token_max_expires_secs;
        if expires_in > max && !principal.is_admin() {
            return Err(ApiError::bad_request(format!(
                "Field 'expires_in' is {expires_in} s; a non-admin's token may live at most \
                 {max} s ({})",
                arca_config::system::TOKEN_MAX_EXPIRES_SECS
            )));
        }
        let refreshable = matches!(form.refreshable.as_deref(), Some("true" | "1"));
        let scope = form
            .scope
            .clone()
            .unwrap_or_else(|| "member-of-groups:*".to_string());
        check_scope(&principal, &scope)?;
        (subject, scope, expires_in, refreshable, None)
    };

    let (access, refresh, token) =
        issue_token(&req.app, &subject, &scope, expires_in, refreshable, old_id).await?;
    let mut body = serde_json::json!({
        "access_token": access,
        "expires_in": expires_in,
        "scope": token.scope,
        "token_type": "Bearer",
    });
    if let (Some(r), Some(obj)) = (refresh, body.as_object_mut()) {
        obj.insert("refresh_token".into(), r.into());
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// Store a new access token of `subject` (and a refresh token when `refreshable`), replacing the
/// token `replaces` (a refresh); returns the secrets and the stored token. `expires_in`: seconds,
/// 0 for never (the caller has applied its limits).
pub async fn issue_token(
    app: &crate::state::App,
    subject: &str,
    scope: &str,
    expires_in: i64,
    refreshable: bool,
    replaces: Option<String>,
) -> ApiResult<(String, Option<String>, Token)> {
    let now = app.now_ms();
    let access = arca_crypto::new_access_token();
    let refresh = refreshable.then(arca_crypto::new_access_token);
    let token = Token {
        id: arca_crypto::random_hex(16),
        subject: subject.to_string(),
        scope: stored_scope(scope),
        created: now,
        expires: (expires_in > 0).then(|| now.saturating_add(expires_in.saturating_mul(1000))),
        refreshable,
    };
    let (stored, digest, refresh_digest) = (
        token.clone(),
        arca_crypto::token_digest(&access),
        refresh.as_deref().map(arca_crypto::token_digest),
    );
    app.db
        .write(move |tx| {
            if security::get_user(tx, &stored.subject)?.is_none() {
                return Err(ApiError::bad_request(format!(
                    "User '{}' does not exist",
                    stored.subject
                )));
            }
            if let Some(old) = &replaces {
                security::delete_token(tx, old)?;
                // other nodes drop cached authentications of the old token
                permissions::bump_security_version(tx)?;
            }
            security::insert_token(tx, &stored, &digest, refresh_digest.as_deref())?;
            Ok(())
        })
        .await?;
    tracing::info!(subject = %subject, token_id = %token.id, expires_in, "access token created");
    Ok((access, refresh, token))
}

/// The scope a token is stored and answered with: the reference's `api:*` once, then the
/// requested scope (a refreshed token's scope already starts with `api:*`).
fn stored_scope(scope: &str) -> String {
    let rest: Vec<&str> = scope.split_whitespace().filter(|p| *p != "api:*").collect();
    if rest.is_empty() {
        "api:*".to_string()
    } else {
        format!("api:* {}", rest.join(" "))
    }
}

/// A requested scope must parse, and a non-admin may only narrow its own rights: groups it
/// carries, never admin, never the full user rights from a group-scoped token.
fn check_scope(principal: &Principal, scope: &str) -> ApiResult<()> {
    let parsed = TokenScope::parse(scope)
        .map_err(|e| ApiError::bad_request(format!("Field 'scope': {e}")))?;
    let Principal::User {
        name,
        admin,
        groups,
        user_grants,
    } = principal
    else {
        return Err(ApiError::unauthorized("Authentication is required"));
    };
    if *admin {
        return Ok(());
    }
    if scope
        .split_whitespace()
        .any(|p| p == "applied-permissions/admin")
    {
        return Err(ApiError::forbidden(format!(
            "User '{name}' is no administrator: scope 'applied-permissions/admin' is refused"
        )));
    }
    match parsed {
        TokenScope::Groups(wanted) => {
            if let Some(g) = wanted.iter().find(|g| !groups.contains(g)) {
                return Err(ApiError::forbidden(format!(
                    "User '{name}' may not create a token for group '{g}': not a member (or \
                     not in this token's scope)"
                )));
            }
        }
        TokenScope::User if !*user_grants => {
            return Err(ApiError::forbidden(
                "A token scoped to groups cannot create a token with the user's full rights",
            ));
        }
        TokenScope::User => {}
    }
    Ok(())
}

async fn list(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_user(&principal)?;
    let subject = (!principal.is_admin()).then(|| principal.name().to_string());
    let tokens = req
        .app
        .db
        .read(move |conn| security::list_tokens(conn, subject.as_deref()))
        .await?;
    let out: Vec<serde_json::Value> = tokens
        .iter()
        .map(|t| {
            serde_json::json!({
                "token_id": t.id,
                "issuer": req.app.node_id,
                "subject": t.subject,
                "expiry": t.expires.map(|e| e / 1000).unwrap_or(0),
                "refreshable": t.refreshable,
                "issued_at": t.created / 1000,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "tokens": out }),
    ))
}

async fn revoke(req: &mut Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_user(&principal)?;
    let form = read_form(req).await?;
    let found = if let Some(secret) = form.token.as_deref().or(form.access_token.as_deref()) {
        let digest = arca_crypto::token_digest(secret);
        req.app
            .db
            .read(move |conn| security::token_by_digest(conn, &digest))
            .await?
    } else if let Some(id) = form.token_id.clone() {
        require_admin(&principal)?;
        req.app
            .db
            .read(move |conn| security::token_by_id(conn, &id))
            .await?
    } else {
        return Err(ApiError::bad_request(
            "Give 'token' or 'token_id' to revoke",
        ));
    };
    let token = found.ok_or_else(|| ApiError::not_found("Token not found"))?;
    revoke_token(req, &principal, token).await
}

/// `DELETE /api/security/token/{token_id}`: the token's owner or an administrator.
async fn delete_by_id(req: &Request, id: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_user(&principal)?;
    let id = id.to_string();
    let found = req
        .app
        .db
        .read(move |conn| security::token_by_id(conn, &id))
        .await?;
    let token = found.ok_or_else(|| ApiError::not_found("Token not found"))?;
    revoke_token(req, &principal, token).await
}

async fn revoke_token(req: &Request, principal: &Principal, token: Token) -> ApiResult<Response> {
    if token.subject != principal.name() && !principal.is_admin() {
        return Err(ApiError::forbidden("Token belongs to another user"));
    }
    let id = token.id.clone();
    req.app
        .db
        .write(move |tx| {
            security::delete_token(tx, &id)?;
            // Every node drops its cached authentications (one may stand for this token).
            permissions::bump_security_version(tx)
        })
        .await?;
    req.app.auth_cache.clear();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "status": 200, "message": "Token revoked" }),
    ))
}

/// API keys: the reference deprecated them (tokens replace them) and arca never had them; the
/// answer says what to use instead (`docs/api.md`).
fn api_key_gone() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "API keys are not supported: use an access token (POST /api/security/token, or \
         arcactl token create) as the password or as 'Authorization: Bearer <token>'",
    )
}

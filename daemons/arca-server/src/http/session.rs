//! Web UI sessions (`docs/sessions.md`): `POST ui/auth/login` checks a user's password and
//! sets the `ARCA_SESSION` cookie, `POST ui/auth/logout` ends the session, `GET
//! ui/auth/current` tells who the cookie stands for. The cookie also authenticates REST calls
//! ([`crate::http::auth`], which owns the cookie, its session lookup and its CSRF rule); an
//! unsafe method so authenticated must carry the session's CSRF token in `X-CSRF-Token`
//! ([`crate::http::auth::check_csrf`]).
//!
//! The cookie holds a random 128-bit id (32 hex characters); servers keep only its SHA-256.
//! Where sessions live is `arca.map.provider.type`: `db` (default, the reference's
//! `distributed`) in the shared database, so any node serves any session; `local` (the
//! reference's `jvm`) in this node's memory ([`crate::sessions::LocalSessions`]).

use serde_json::json;
use warp::http::header::SET_COOKIE;
use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;

use arca_config::MapProviderType;
use arca_db::permissions::TokenScope;
use arca_db::sessions::{self as db_sessions, Session};

use crate::http::auth::{
    COOKIE_NAME, CSRF_COOKIE_NAME, ID_BYTES, check_password, client_source, cookie_id, csrf_token,
    end_session, live_session, ms, principal_for_user,
};
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::format::iso8601;
use crate::http::{Request, read_small_body};

/// Largest login body accepted.
const MAX_LOGIN_BODY: usize = 64 * 1024;

/// `ui/…` (`rest`: the path after `ui/`).
pub async fn handle(req: &mut Request, rest: &str) -> ApiResult<Response> {
    match (rest, &req.method) {
        ("auth/login", &Method::POST) => login(req).await,
        ("auth/logout", &Method::POST) => logout(req).await,
        ("auth/current", &Method::GET) => current(req).await,
        ("auth/login" | "auth/logout" | "auth/current", _) => Err(ApiError::method_not_allowed()),
        (page, &Method::GET | &Method::HEAD) => Ok(crate::http::ui::asset(req, page)),
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Did the request reach us over https (directly behind a TLS-terminating proxy, or the
/// configured base URL is https)?
fn is_https(req: &Request) -> bool {
    req.header("x-forwarded-proto")
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
        || req.base_url.starts_with("https://")
}

fn cookie_header(req: &Request, value: &str, extra: &str) -> ApiResult<HeaderValue> {
    cookie_line(req, COOKIE_NAME, value, "; HttpOnly", extra)
}

/// The CSRF token's cookie: not `HttpOnly` (the UI's script reads it), otherwise like the
/// session's.
fn csrf_cookie_header(req: &Request, value: &str, extra: &str) -> ApiResult<HeaderValue> {
    cookie_line(req, CSRF_COOKIE_NAME, value, "", extra)
}

fn cookie_line(
    req: &Request,
    name: &str,
    value: &str,
    http_only: &str,
    extra: &str,
) -> ApiResult<HeaderValue> {
    let path = if req.app.settings.context_path.is_empty() {
        "/"
    } else {
        req.app.settings.context_path.as_str()
    };
    let secure = if is_https(req) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}{http_only}; SameSite=Lax{extra}{secure}"
    ))
    .map_err(|e| ApiError::internal("session cookie", e))
}

/// The user name and password of a login body: JSON `{"user"|"username", "password"}` or the
/// same fields form-encoded.
fn credentials(req: &Request, body: &[u8]) -> ApiResult<(String, String)> {
    let form = req
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let fields: std::collections::HashMap<String, serde_json::Value> = if form {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map_err(|e| ApiError::bad_request(format!("Malformed login form: {e}")))?
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "Login body must be JSON {{\"user\":…,\"password\":…}}: {e}"
            ))
        })?
    };
    let field = |name: &str| {
        fields
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let user = field("user")
        .or_else(|| field("username"))
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_request("Login needs \"user\" and \"password\""))?;
    let password =
        field("password").ok_or_else(|| ApiError::bad_request("Login needs \"password\""))?;
    Ok((user, password))
}

async fn login(req: &mut Request) -> ApiResult<Response> {
    let mut body = req.take_body();
    let body = read_small_body(&mut body, MAX_LOGIN_BODY).await?;
    let (user, password) = credentials(req, &body)?;
    let app = req.app.clone();
    // back-off, lockout, disabled check and last login (`record_login_success`)
    let source = client_source(&app.settings.login_trusted_proxies, &req.headers, req.peer);
    let found = check_password(&app, &user, &password, &source).await?;
    let principal = principal_for_user(&app, &found.name, &TokenScope::User).await?;
    // A login replaces the session the client had (no session fixation).
    if let Some(old) = cookie_id(&req.headers) {
        end_session(&app, &arca_crypto::sha256_hex(old.as_bytes())).await?;
    }
    let id = arca_crypto::random_hex(ID_BYTES);
    let now = app.now_ms();
    let absolute = now.saturating_add(ms(app.settings.session_absolute_timeout));
    let session = Session {
        id_hash: arca_crypto::sha256_hex(id.as_bytes()),
        user_name: found.name.clone(),
        node_id: app.node_id.clone(),
        created: now,
        last_access: now,
        idle_expires: now
            .saturating_add(ms(app.settings.session_idle_timeout))
            .min(absolute),
        absolute_expires: absolute,
    };
    match app.settings.session_provider {
        MapProviderType::Local => app.local_sessions.insert(
            session.clone(),
            arca_crypto::sha256_hex(found.password_hash.as_bytes()),
        ),
        MapProviderType::Db => {
            let s = session.clone();
            app.db
                .write(move |tx| db_sessions::insert_session(tx, &s))
                .await?;
        }
    }
    tracing::info!(user = %found.name, provider = %app.settings.session_provider, "UI login");
    let mut resp = json_response(
        StatusCode::OK,
        &json!({
            "name": found.name,
            "admin": principal.is_admin(),
            "provider": app.settings.session_provider.to_string(),
            "idleTimeoutSecs": app.settings.session_idle_timeout.as_secs(),
            "expiresAt": iso8601(session.absolute_expires),
            "csrfToken": csrf_token(&id),
        }),
    );
    resp.headers_mut()
        .insert(SET_COOKIE, cookie_header(req, &id, "")?);
    resp.headers_mut()
        .append(SET_COOKIE, csrf_cookie_header(req, &csrf_token(&id), "")?);
    Ok(resp)
}

async fn logout(req: &mut Request) -> ApiResult<Response> {
    let mut ended = false;
    if let Some(id) = cookie_id(&req.headers) {
        end_session(&req.app, &arca_crypto::sha256_hex(id.as_bytes())).await?;
        ended = true;
    }
    let mut resp = json_response(StatusCode::OK, &json!({ "loggedOut": ended }));
    resp.headers_mut()
        .insert(SET_COOKIE, cookie_header(req, "", "; Max-Age=0")?);
    resp.headers_mut()
        .append(SET_COOKIE, csrf_cookie_header(req, "", "; Max-Age=0")?);
    Ok(resp)
}

async fn current(req: &mut Request) -> ApiResult<Response> {
    let id = cookie_id(&req.headers).ok_or_else(|| ApiError::unauthorized("Not logged in"))?;
    let (session, principal) = live_session(&req.app, &id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Session expired or unknown; log in again"))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "name": principal.name(),
            "admin": principal.is_admin(),
            "provider": req.app.settings.session_provider.to_string(),
            "nodeId": req.app.node_id,
            "createdOn": session.node_id,
            "idleExpiresAt": iso8601(session.idle_expires),
            "expiresAt": iso8601(session.absolute_expires),
            "csrfToken": csrf_token(&id),
        }),
    ))
}

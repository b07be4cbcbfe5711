//! Web UI sessions (`docs/sessions.md`): `POST ui/auth/login` checks a user's password and
//! sets the `ARCA_SESSION` cookie, `POST ui/auth/logout` ends the session, `GET
//! ui/auth/current` tells who the cookie stands for. The cookie also authenticates REST calls
//! ([`crate::http::auth::authenticate`]); an unsafe method so authenticated must carry the
//! session's CSRF token in `X-CSRF-Token` ([`check_csrf`]).
//!
//! The cookie holds a random 128-bit id (32 hex characters); servers keep only its SHA-256.
//! Where sessions live is `arca.map.provider.type`: `db` (default, the reference's
//! `distributed`) in the shared database, so any node serves any session; `local` (the
//! reference's `jvm`) in this node's memory ([`crate::sessions::LocalSessions`]).

use serde_json::json;
use warp::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::reply::Response;

use arca_config::MapProviderType;
use arca_db::permissions::TokenScope;
use arca_db::sessions::{self as db_sessions, Session};

use crate::http::auth::{check_password, client_source, principal_for_user};
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::format::iso8601;
use crate::http::{Request, read_small_body};
use crate::state::{App, Principal};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "ARCA_SESSION";

/// The cookie holding the session's CSRF token (readable by the UI's script, unlike the
/// session cookie), and the header an unsafe cookie-authenticated request must echo it in.
pub const CSRF_COOKIE_NAME: &str = "ARCA_CSRF";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Random bytes in a session id (hex in the cookie).
const ID_BYTES: usize = 16;

/// Largest login body accepted.
const MAX_LOGIN_BODY: usize = 64 * 1024;

/// The most the `db` provider waits between two recorded uses of a session.
const MAX_TOUCH_INTERVAL_MS: i64 = 30_000;

/// `ui/…` (`rest`: the path after `ui/`).
pub async fn handle(req: &mut Request, rest: &str) -> ApiResult<Response> {
    match (rest, &req.method) {
        ("auth/login", &Method::POST) => login(req).await,
        ("auth/logout", &Method::POST) => logout(req).await,
        ("auth/current", &Method::GET) => current(req).await,
        ("auth/login" | "auth/logout" | "auth/current", _) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("Not found")),
    }
}

/// The session id in the request's `Cookie` headers (well formed ids only).
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .filter(|v| v.len() == 2 * ID_BYTES && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether the request carries credentials of its own (which win over a session cookie).
pub fn has_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(AUTHORIZATION) || headers.contains_key("x-jfrog-art-api")
}

/// The principal a session cookie stands for (`None`: no such live session, or its user is
/// gone or disabled — the session is then ended).
pub async fn cookie_principal(app: &App, id: &str) -> ApiResult<Option<Principal>> {
    Ok(resolve(app, id).await?.map(|(_, p)| p))
}

/// The CSRF token of session `id`: a one-way function of the session's secret id (a
/// synchronizer token that needs no storage — every node derives the same one, and the token,
/// which script can read, does not give away the id, which it cannot).
pub fn csrf_token(id: &str) -> String {
    arca_crypto::sha256_hex(format!("arca-csrf\0{id}").as_bytes())
}

/// CSRF guard: a request authenticated by the session cookie (no credentials of its own) with
/// an unsafe method must carry the session's token ([`csrf_token`]) in `X-CSRF-Token`. Another
/// site can make a browser send the cookie, and its script can set any header (such as
/// `X-Requested-With`), but it cannot read the token. Login and logout are exempt.
pub fn check_csrf(req: &Request, principal: &Principal) -> ApiResult<()> {
    let safe = matches!(
        req.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if safe
        || principal.is_anonymous()
        || has_credentials(&req.headers)
        || matches!(req.rest.as_str(), "ui/auth/login" | "ui/auth/logout")
    {
        return Ok(());
    }
    let Some(id) = cookie_id(&req.headers) else {
        return Ok(());
    };
    let expected = csrf_token(&id);
    let given = req.header(CSRF_HEADER).unwrap_or_default().trim();
    if arca_crypto::ct_eq(given.as_bytes(), expected.as_bytes()) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "A cookie-authenticated {} request needs the session's CSRF token in the X-CSRF-Token \
         header (csrfToken of ui/auth/login or ui/auth/current, also in the {CSRF_COOKIE_NAME} \
         cookie)",
        req.method
    )))
}

fn provider(app: &App) -> MapProviderType {
    app.settings.session_provider
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How often (at most) the `db` provider records a use: 1/20 of the idle timeout, at most 30 s.
fn touch_interval_ms(app: &App) -> i64 {
    (ms(app.settings.session_idle_timeout) / 20).min(MAX_TOUCH_INTERVAL_MS)
}

/// The live session `id` and its principal, recording the use.
async fn resolve(app: &App, id: &str) -> ApiResult<Option<(Session, Principal)>> {
    let hash = arca_crypto::sha256_hex(id.as_bytes());
    let now = app.now_ms();
    let idle = ms(app.settings.session_idle_timeout);
    let session = match provider(app) {
        MapProviderType::Local => match app.local_sessions.use_session(&hash, now, idle) {
            Some((s, stamp)) => {
                // a password change ends the session (as `update_user` does for `db` rows)
                if credential_stamp(app, &s.user_name).await?.as_deref() == Some(stamp.as_str()) {
                    Some(s)
                } else {
                    end(app, &hash).await?;
                    None
                }
            }
            None => None,
        },
        MapProviderType::Db => {
            let h = hash.clone();
            let found = app
                .db
                .read(move |c| db_sessions::session_by_hash(c, &h))
                .await?;
            match found {
                Some(s) if s.is_expired(now) => {
                    end(app, &hash).await?;
                    None
                }
                Some(mut s) => {
                    if now - s.last_access >= touch_interval_ms(app) {
                        let h = hash.clone();
                        let idle_expires = now.saturating_add(idle);
                        let alive = app
                            .db
                            .write(move |tx| db_sessions::touch_session(tx, &h, now, idle_expires))
                            .await?;
                        if !alive {
                            return Ok(None);
                        }
                        s.last_access = now;
                        s.idle_expires = idle_expires.min(s.absolute_expires);
                    }
                    Some(s)
                }
                None => None,
            }
        }
    };
    let Some(session) = session else {
        return Ok(None);
    };
    match principal_for_user(app, &session.user_name, &TokenScope::User).await {
        Ok(p) => Ok(Some((session, p))),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            tracing::info!(user = %session.user_name, "session ended: {}", e.message);
            end(app, &hash).await?;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// What a `local` session remembers of its user's credentials: a digest of the password hash
/// (`None`: no such user).
async fn credential_stamp(app: &App, user: &str) -> ApiResult<Option<String>> {
    let name = user.to_string();
    let found = app
        .db
        .read(move |c| arca_db::security::get_user(c, &name))
        .await?;
    Ok(found.map(|u| arca_crypto::sha256_hex(u.password_hash.as_bytes())))
}

/// End the session `id_hash` (wherever the provider keeps it).
async fn end(app: &App, id_hash: &str) -> ApiResult<()> {
    match provider(app) {
        MapProviderType::Local => {
            app.local_sessions.remove(id_hash);
        }
        MapProviderType::Db => {
            let h = id_hash.to_string();
            app.db
                .write(move |tx| db_sessions::delete_session(tx, &h))
                .await?;
        }
    }
    Ok(())
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
        end(&app, &arca_crypto::sha256_hex(old.as_bytes())).await?;
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
    match provider(&app) {
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
    tracing::info!(user = %found.name, provider = %provider(&app), "UI login");
    let mut resp = json_response(
        StatusCode::OK,
        &json!({
            "name": found.name,
            "admin": principal.is_admin(),
            "provider": provider(&app).to_string(),
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
        end(&req.app, &arca_crypto::sha256_hex(id.as_bytes())).await?;
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
    let (session, principal) = resolve(&req.app, &id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Session expired or unknown; log in again"))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "name": principal.name(),
            "admin": principal.is_admin(),
            "provider": provider(&req.app).to_string(),
            "nodeId": req.app.node_id,
            "createdOn": session.node_id,
            "idleExpiresAt": iso8601(session.idle_expires),
            "expiresAt": iso8601(session.absolute_expires),
            "csrfToken": csrf_token(&id),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_id_is_found_among_other_cookies_and_checked() {
        let id = "0123456789abcdef0123456789abcdef";
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; b=2"));
        assert_eq!(cookie_id(&h), None);
        h.append(
            COOKIE,
            HeaderValue::from_str(&format!("x=y; {COOKIE_NAME}={id}; z=1")).unwrap(),
        );
        assert_eq!(cookie_id(&h).as_deref(), Some(id));
        let mut bad = HeaderMap::new();
        bad.insert(
            COOKIE,
            HeaderValue::from_str(&format!("{COOKIE_NAME}=../etc")).unwrap(),
        );
        assert_eq!(cookie_id(&bad), None);
    }
}

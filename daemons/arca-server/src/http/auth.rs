//! Authentication, the one credential module: Basic (argon2id password or access token as
//! password), Bearer tokens, the reference's `X-JFrog-Art-Api` header, the UI session cookie
//! (`ARCA_SESSION`, its session lookup and its CSRF rule) and the anonymous user. Calls signed
//! by another node are checked apart ([`crate::http::node_auth`]); the UI's login endpoints
//! are in [`crate::http::session`].

use std::net::{IpAddr, SocketAddr};

use base64::Engine;
use warp::http::header::{AUTHORIZATION, COOKIE};
use warp::http::{HeaderMap, Method, StatusCode};

use arca_config::MapProviderType;
use arca_db::permissions::{self, TokenScope};
use arca_db::security::{self, LoginClaim, User};
use arca_db::sessions::{self as db_sessions, Session};

use crate::http::error::{ApiError, ApiResult};
pub use crate::http::hash_pool::{HashPool, HashTicket};
use crate::http::{Request, registry_token};
use crate::state::{App, Principal};

/// Access tokens carry this prefix, so a Basic password can be told apart.
const TOKEN_PREFIX: &str = "arca_";

/// What a request presents to identify its caller, parsed from its headers alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing: the anonymous user.
    None,
    /// The UI session cookie (only when no other credentials are sent).
    Cookie(String),
    /// Basic `user:password`.
    Password { user: String, password: String },
    /// An access token: Bearer, `X-JFrog-Art-Api`, a bare `Authorization` value, or the
    /// password of Basic (`user` is then the name it must belong to, if not empty).
    Token { user: Option<String>, token: String },
}

/// Parse the caller's credentials from `headers` (no database, no hashing): Basic (a
/// password, or an access token as the password), `Bearer <token>`, a bare token as the whole
/// `Authorization` value (cargo's convention), the reference's `X-JFrog-Art-Api` header, and
/// the UI session cookie when none of those is sent.
pub fn credentials(headers: &HeaderMap) -> ApiResult<Credentials> {
    let value = if let Some(v) = headers.get(warp::http::header::AUTHORIZATION) {
        v.to_str()
            .map_err(|_| ApiError::unauthorized("Malformed Authorization header"))?
            .trim()
            .to_string()
    } else if let Some(v) = headers.get("x-jfrog-art-api") {
        let token = v
            .to_str()
            .map_err(|_| ApiError::unauthorized("Malformed X-JFrog-Art-Api header"))?;
        return Ok(Credentials::Token {
            user: None,
            token: token.trim().to_string(),
        });
    } else {
        return Ok(cookie_id(headers).map_or(Credentials::None, Credentials::Cookie));
    };
    let (scheme, rest) = match value.split_once(' ') {
        Some((scheme, rest)) => (scheme, rest.trim()),
        // cargo sends the token as the whole header value
        None if value.starts_with(TOKEN_PREFIX) => ("bearer", value.as_str()),
        None => return Err(ApiError::unauthorized("Malformed Authorization header")),
    };
    if scheme.eq_ignore_ascii_case("basic") {
        let malformed = || ApiError::unauthorized("Malformed Basic credentials");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| malformed())?;
        let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
        let (user, password) = decoded.split_once(':').ok_or_else(malformed)?;
        if password.starts_with(TOKEN_PREFIX) {
            Ok(Credentials::Token {
                user: Some(user.to_string()).filter(|u| !u.is_empty()),
                token: password.to_string(),
            })
        } else {
            Ok(Credentials::Password {
                user: user.to_string(),
                password: password.to_string(),
            })
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Credentials::Token {
            user: None,
            token: rest.to_string(),
        })
    } else {
        Err(ApiError::unauthorized(format!(
            "Unsupported authentication scheme '{}'",
            scheme.escape_debug()
        )))
    }
}

/// The raw bytes the authentication cache is keyed by: the credential header as sent.
fn cache_key(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(warp::http::header::AUTHORIZATION)
        .or_else(|| headers.get("x-jfrog-art-api"))
        .map(|v| v.as_bytes())
}

/// The connection's peer address, put into each request's extensions by the accept loop
/// (`crate::serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Where a login attempt comes from, for the back-off: the peer's IP address or — when the
/// peer is one of `arca.security.login.trusted.proxies` — the nearest address in
/// `X-Forwarded-For` that is not a trusted proxy (proxies append the address they saw, so the
/// right end of the list is the one an outside client cannot forge). `"unknown"` without a
/// peer address.
pub fn client_source(trusted: &[IpAddr], headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let Some(peer) = peer.map(|p| canonical(p.ip())) else {
        return "unknown".to_string();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&canonical(ip)) => continue,
            Ok(ip) => return canonical(ip).to_string(),
            // garbage left of the trusted hops was written by the client: stop there
            Err(_) => break,
        }
    }
    peer.to_string()
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl Request {
    /// The caller (or why it is refused: 401, 403 for a missing CSRF token, 429, 503 …).
    /// Resolved once per request, by the credential module ([`resolve_caller`]), when a
    /// handler first asks; every later call answers the same without authenticating again
    /// (a failed login is counted once). Resolution waits for the first ask, not for the
    /// dispatch: endpoints that never look at the caller (health checks, the UI login,
    /// node-signed calls) must not count a bad password or refuse one, and a handler's
    /// earlier answers (400 for a bad path, 405) come before any 401, as they always have.
    pub async fn principal(&self) -> ApiResult<Principal> {
        self.caller
            .get_or_init(|| resolve_caller(self))
            .await
            .clone()
    }
}

/// The request's caller, from whatever credentials it presents, with the session cookie's
/// CSRF rule applied ([`check_csrf`]). [`crate::http::Request::principal`] calls this once per
/// request and keeps the answer.
pub async fn resolve_caller(req: &Request) -> ApiResult<Principal> {
    // a registry token (`/v2/token`) is scoped to the registry API: nowhere else is it a login
    if registry_token::bearer(&req.headers).is_some()
        && registry_token::registry_path(req.path_and_query.split('?').next().unwrap_or(""))
            .is_none()
    {
        return Err(ApiError::unauthorized(
            "A registry token is valid under /v2/ only: use an access token or a password",
        ));
    }
    let principal = authenticate(&req.app, &req.headers, req.peer).await?;
    check_csrf(req, &principal)?;
    Ok(principal)
}

/// Identify the caller. No credentials → anonymous; bad credentials → 401. `peer`: the
/// connection's peer address (the login back-off counts per user and source).
async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> ApiResult<Principal> {
    let now = app.now_ms();
    // Before any lookup: a security change meanwhile must not leave this answer cached.
    let generation = app.auth_cache.generation();
    let key = cache_key(headers);
    if let Some(key) = key
        && let Some(p) = app.auth_cache.get(key, now)
    {
        return Ok(p);
    }
    let credentials = credentials(headers)?;
    // Identical passwords sent at once are checked once (the others wait, then hit the cache).
    let _alone = match (&credentials, key) {
        (Credentials::Password { .. }, Some(key)) => {
            let alone = app.auth_cache.check_alone(key).await;
            if let Some(p) = app.auth_cache.get(key, app.now_ms()) {
                return Ok(p);
            }
            Some(alone)
        }
        _ => None,
    };
    // A token's cache entry ends when the token expires; a security change clears the cache.
    let (principal, expires) = match credentials {
        Credentials::None => return Ok(Principal::Anonymous),
        // An unknown or ended session is anonymous (public reads keep working).
        // docs/sessions.md
        Credentials::Cookie(id) => {
            return Ok(cookie_principal(app, &id)
                .await?
                .unwrap_or(Principal::Anonymous));
        }
        Credentials::Password { user, password } => {
            let source = client_source(&app.settings.login_trusted_proxies, headers, peer);
            (
                password_principal(app, &user, &password, &source).await?,
                None,
            )
        }
        Credentials::Token { user, token } if registry_token::is_registry_token(&token) => {
            let (p, expires) = registry_token_principal(app, &token, now).await?;
            if user.is_some_and(|u| u != p.name()) {
                return Err(ApiError::unauthorized("Bad credentials"));
            }
            (p, expires)
        }
        Credentials::Token { user, token } => {
            let (p, expires) = token_principal(app, &token, now).await?;
            if user.is_some_and(|u| u != p.name()) {
                return Err(ApiError::unauthorized("Bad credentials"));
            }
            (p, expires)
        }
    };
    if let Some(key) = key {
        app.auth_cache
            .put(generation, key, principal.clone(), now, expires);
    }
    Ok(principal)
}

/// Check `user`'s password from `source` (the client's address), with the login back-off
/// (`docs/security.md`, "Login lockout"): the attempt is counted in the database *before* the
/// password is checked ([`security::claim_login_attempt`]), so however many guesses arrive at
/// once, at most `arca.security.login.max.failures` of them are checked before the back-off
/// refuses the rest. Unknown user names go through the same steps (a dummy hash, the same
/// count, the same answers), so they cannot be told from real ones.
pub async fn check_password(
    app: &App,
    user: &str,
    password: &str,
    source: &str,
) -> ApiResult<User> {
    // A place in the hashing pool first: a refusal (429) is not counted as a failure.
    let ticket = app.hash_pool.enter()?;
    let now = app.now_ms();
    let (name, src, policy) = (
        user.to_string(),
        source.to_string(),
        app.settings.login_policy,
    );
    let (name2, src2) = (name.clone(), src.clone());
    let claimed = app
        .db
        .write(move |tx| {
            let claim = security::claim_login_attempt(tx, &name, &src, policy, now)?;
            Ok::<_, arca_db::DbError>((claim, security::get_user(tx, &name)?))
        })
        .await;
    // A database out of disk space cannot count the attempt: the login degrades to a
    // read-only check (an existing back-off still holds) instead of failing every uncached
    // login while an operator frees space.
    let mut counted = true;
    let (claim, found) = match claimed {
        Ok(v) => v,
        Err(e) if e.is_disk_full() => {
            tracing::warn!(error = %e, "login attempt not counted: the database is out of space");
            counted = false;
            app.db
                .read(move |c| {
                    let claim = security::login_lock(c, &name2, &src2, now)?;
                    Ok::<_, arca_db::DbError>((claim, security::get_user(c, &name2)?))
                })
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    if let LoginClaim::Locked { until } = claim {
        let secs = ((until - now + 999) / 1000).max(1);
        tracing::info!(user, source, "login refused: back-off after failed logins");
        return Err(ApiError::unauthorized(format!(
            "Too many failed logins for '{user}' from this address; try again in {secs} s"
        ))
        .with_retry_after(secs));
    }
    let password = password.to_string();
    // The anonymous user's "!" is no hash: it never matches.
    let hash = found.as_ref().map(|u| u.password_hash.clone());
    let ok = ticket
        .run(move || {
            let hash = hash.as_deref().unwrap_or_else(|| dummy_hash());
            arca_crypto::verify_password(&password, hash).unwrap_or(false)
        })
        .await?;
    let Some(found) = found.filter(|_| ok) else {
        tracing::debug!(user, source, "login failed");
        return Err(ApiError::unauthorized("Bad credentials"));
    };
    if found.disabled {
        return Err(ApiError::unauthorized(format!(
            "User '{}' is disabled",
            found.name
        )));
    }
    // Clears this source's failure count and records the login (`lastLoggedIn`); the auth
    // cache keeps this to one write per cache miss.
    let (name, src) = (found.name.clone(), source.to_string());
    let recorded = app
        .db
        .write(move |tx| security::record_login_success(tx, &name, &src, now))
        .await;
    match recorded {
        Ok(_) => {}
        // out of space: the login stands, `lastLoggedIn` is not updated
        Err(e) if !counted || e.is_disk_full() => {
            tracing::warn!(error = %e, user = %found.name, "login not recorded: the database is out of space");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(found)
}

async fn password_principal(
    app: &App,
    user: &str,
    password: &str,
    source: &str,
) -> ApiResult<Principal> {
    let found = check_password(app, user, password, source).await?;
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

/// The user a registry token stands for (`/v2/token`; valid under `/v2/` only, checked by
/// [`resolve_caller`]), and when the token expires.
async fn registry_token_principal(
    app: &App,
    token: &str,
    now: i64,
) -> ApiResult<(Principal, Option<i64>)> {
    let claims = registry_token::open(app, token, now).map_err(ApiError::unauthorized)?;
    let principal = match &claims.sub {
        None => Principal::Anonymous,
        Some(user) => principal_for_user(app, user, &TokenScope::User).await?,
    };
    Ok((principal, Some(claims.exp)))
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

// ------------------------------------------------------------------------ UI sessions

/// The session cookie's name.
pub const COOKIE_NAME: &str = "ARCA_SESSION";

/// The cookie holding the session's CSRF token (readable by the UI's script, unlike the
/// session cookie), and the header an unsafe cookie-authenticated request must echo it in.
pub const CSRF_COOKIE_NAME: &str = "ARCA_CSRF";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Random bytes in a session id (hex in the cookie).
pub const ID_BYTES: usize = 16;

/// The most the `db` provider waits between two recorded uses of a session.
const MAX_TOUCH_INTERVAL_MS: i64 = 30_000;

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
    Ok(live_session(app, id).await?.map(|(_, p)| p))
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

pub fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How often (at most) the `db` provider records a use: 1/20 of the idle timeout, at most 30 s.
fn touch_interval_ms(app: &App) -> i64 {
    (ms(app.settings.session_idle_timeout) / 20).min(MAX_TOUCH_INTERVAL_MS)
}

/// The live session `id` and its principal, recording the use.
pub async fn live_session(app: &App, id: &str) -> ApiResult<Option<(Session, Principal)>> {
    let hash = arca_crypto::sha256_hex(id.as_bytes());
    let now = app.now_ms();
    let idle = ms(app.settings.session_idle_timeout);
    let session = match app.settings.session_provider {
        MapProviderType::Local => match app.local_sessions.use_session(&hash, now, idle) {
            Some((s, stamp)) => {
                // a password change ends the session (as `update_user` does for `db` rows)
                if credential_stamp(app, &s.user_name).await?.as_deref() == Some(stamp.as_str()) {
                    Some(s)
                } else {
                    end_session(app, &hash).await?;
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
                    end_session(app, &hash).await?;
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
            end_session(app, &hash).await?;
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
pub async fn end_session(app: &App, id_hash: &str) -> ApiResult<()> {
    match app.settings.session_provider {
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

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_source_believes_x_forwarded_for_only_from_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.5:40000".parse().unwrap();
        let trusted = ["10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap()];
        let h = forwarded(&["1.1.1.1, 203.0.113.7"]);
        assert_eq!(
            client_source(&[], &h, Some(proxy)),
            "10.0.0.5",
            "nothing trusted"
        );
        assert_eq!(client_source(&trusted, &h, Some(proxy)), "203.0.113.7");
        // the right-most untrusted hop: what the client wrote on the left does not count
        let h = forwarded(&["6.6.6.6", "203.0.113.7, 10.0.0.6"]);
        assert_eq!(client_source(&trusted, &h, Some(proxy)), "203.0.113.7");
        let h = forwarded(&["203.0.113.7, not-an-ip, 10.0.0.6"]);
        assert_eq!(client_source(&trusted, &h, Some(proxy)), "10.0.0.5");
        assert_eq!(
            client_source(&trusted, &HeaderMap::new(), Some(proxy)),
            "10.0.0.5"
        );
        let other: SocketAddr = "192.0.2.1:5".parse().unwrap();
        let h = forwarded(&["203.0.113.7"]);
        assert_eq!(client_source(&trusted, &h, Some(other)), "192.0.2.1");
        let mapped: SocketAddr = "[::ffff:192.0.2.1]:5".parse().unwrap();
        assert_eq!(client_source(&[], &h, Some(mapped)), "192.0.2.1");
        assert_eq!(client_source(&trusted, &h, None), "unknown");
    }

    #[test]
    fn the_hash_pool_refuses_beyond_its_queue_and_frees_places() {
        let pool = HashPool::new(1, 2);
        let tickets: Vec<_> = (0..3).map(|_| pool.enter().unwrap()).collect();
        let refused = pool.enter().unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        drop(tickets);
        assert!(pool.enter().is_ok(), "places are given back");
    }

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

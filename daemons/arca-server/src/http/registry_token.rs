//! Registry tokens (`/v2/token`, `docs/formats/oci.md`): what they carry, sealed with the
//! master key's `SecretBox` so every node opens them, and where a request presents one. The
//! authentication of a request (`http/auth.rs`) and the registry API (`http/oci.rs`) both read
//! them here.

use serde::{Deserialize, Serialize};
use warp::http::{HeaderMap, header};

use crate::formats::oci::Scope;
use crate::state::App;

/// How long a registry token is valid.
pub const LIFETIME_SECS: i64 = 300;
/// The associated data registry tokens are sealed with.
const CONTEXT: &[u8] = b"oci:registry-token";

/// What a registry token carries.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user; `None`: anonymous.
    pub sub: Option<String>,
    /// Expiry, epoch ms.
    pub exp: i64,
    /// What it grants: `repository` scopes with the actions allowed.
    pub access: Vec<Scope>,
}

/// `claims` sealed into a token.
pub fn seal(app: &App, claims: &Claims) -> Result<String, serde_json::Error> {
    let plain = serde_json::to_vec(claims)?;
    Ok(app.secrets.seal(&plain, CONTEXT))
}

/// The claims of `token`, if it opens and has not expired at `now` (else why not, for a 401).
pub fn open(app: &App, token: &str, now: i64) -> Result<Claims, &'static str> {
    const INVALID: &str = "Invalid registry token: ask /v2/token for a new one";
    let plain = app.secrets.open(token, CONTEXT).map_err(|_| INVALID)?;
    let claims: Claims = serde_json::from_slice(&plain).map_err(|_| INVALID)?;
    if claims.exp <= now {
        return Err("Registry token expired: ask /v2/token for a new one");
    }
    Ok(claims)
}

/// The registry token of `Authorization: Bearer …`, if that is what the header holds (arca's
/// access tokens are Bearer tokens too, with their own prefix).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && is_registry_token(token)).then_some(token)
}

/// Whether `token` has the form of a registry token (sealed by [`seal`]).
pub fn is_registry_token(token: &str) -> bool {
    arca_crypto::master_key::is_sealed(token)
}

/// What follows `/v2` when `path` (a request's, percent-encoded) is the registry API's.
pub fn registry_path(path: &str) -> Option<&str> {
    let after = path.strip_prefix("/v2")?;
    (after.is_empty() || after.starts_with('/')).then_some(after)
}

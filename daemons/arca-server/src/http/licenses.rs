//! The cluster's license pool over REST (`/api/system/licenses`, admin only;
//! `docs/licenses.md`). This is the HTTP layer only: verifying, adding, listing and deleting
//! are `arca_cluster::licenses`, shared with `arcactl license` and the bootstrap file
//! `etc/cluster.license`.
//!
//! - `GET` lists the pool in the reference's shape (`License::to_json`'s fields).
//! - `POST` body `[{"licenseKey":"…"}, …]` (a `licenseKey` may hold several keys separated
//!   by whitespace or semicolons): each key is verified against
//!   `etc/security/license-issuers/` and today's date (UTC, from the app clock); the valid
//!   ones are added in one write transaction even when others are rejected.
//! - `DELETE ?licenseHash=h1,h2`: the pool's delete rules (`arca_db::licenses`).
//!
//! POST and DELETE answer `{"status":N,"messages":{"<license hash>":"OK" | "<reason>"}}`.
//! The messages are keyed by the license hash, never by the key itself: keys are
//! credentials (anyone holding one can use a seat), so they are not echoed back, logged or
//! listed.

use serde_json::{Map, Value};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_cluster::licenses::{self as pool, KeyVerdict};
use arca_config::Home;
use arca_license::TrustedIssuers;

use crate::http::auth::require_admin;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::{Request, read_small_body};

/// Largest POST body accepted (a batch of a few thousand keys).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// `/api/system/licenses`.
pub async fn handle(req: &mut Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    match req.method {
        Method::GET => list(req).await,
        Method::POST => add(req).await,
        Method::DELETE => delete(req).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The issuers this node trusts; a bad file is a 500 naming it.
fn trusted_issuers(home: &Home) -> ApiResult<TrustedIssuers> {
    pool::trusted_issuers(home).map_err(|e| {
        tracing::error!("cannot load the trusted license issuers: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot load the trusted license issuers: {e}"),
        )
    })
}

/// `{"status":N,"messages":{…}}` with `N` as the HTTP status too.
fn messages_response(status: StatusCode, messages: Map<String, Value>) -> Response {
    json_response(
        status,
        &serde_json::json!({ "status": status.as_u16(), "messages": messages }),
    )
}

/// `GET`: every license of the pool, latest `validThrough` first.
async fn list(req: &Request) -> ApiResult<Response> {
    let today_iso = pool::utc_date_iso(req.app.now_ms());
    let body = pool::list(&req.app.db, &today_iso).await?;
    let body = serde_json::to_value(body).map_err(|e| ApiError::internal("license list", e))?;
    Ok(json_response(StatusCode::OK, &body))
}

/// The `licenseKey` texts of a POST body: `[{"licenseKey":"…"}, …]` (a single object is
/// accepted too).
fn key_texts(body: &[u8]) -> ApiResult<Vec<String>> {
    const EXPECTED: &str = "expected a JSON array of objects like {\"licenseKey\":\"…\"}";
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body ({e}): {EXPECTED}")))?;
    let entries = match value {
        Value::Array(entries) => entries,
        object @ Value::Object(_) => vec![object],
        _ => return Err(ApiError::bad_request(format!("Invalid body: {EXPECTED}"))),
    };
    entries
        .iter()
        .map(|entry| {
            entry
                .get("licenseKey")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid body: an entry has no string licenseKey; {EXPECTED}"
                    ))
                })
        })
        .collect()
}

/// `POST`: verify every key, add the valid ones in one transaction. 200 when at least one key
/// was added or already present, 400 when none was valid (the reasons are listed either way).
async fn add(req: &Request) -> ApiResult<Response> {
    let body = read_small_body(&mut req.take_body(), MAX_BODY_BYTES).await?;
    let texts = key_texts(&body)?;
    let now = req.app.now_ms();
    let issuers = trusted_issuers(&req.app.home)?;
    let verified = pool::verify_keys(&texts, &issuers, pool::utc_date(now));
    if verified.is_empty() {
        return Err(ApiError::bad_request("No license key in the request"));
    }
    let results = pool::add_verified(&req.app.db, verified, now).await?;
    let mut messages = Map::new();
    for r in &results {
        messages.insert(
            r.hash.clone(),
            Value::String(r.verdict.message().to_string()),
        );
    }
    let added = results
        .iter()
        .filter(|r| r.verdict == KeyVerdict::Added)
        .count();
    if added > 0 {
        tracing::info!(
            arca_node_id = %req.app.node_id,
            "added {added} license(s) to the pool"
        );
    }
    let status = if results.iter().any(|r| r.verdict.in_pool()) {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(messages_response(status, messages))
}

/// `DELETE ?licenseHash=h1,h2`: one message per hash; 200 when at least one license was
/// deleted, 400 otherwise.
async fn delete(req: &Request) -> ApiResult<Response> {
    let hashes = req.list_param("licenseHash");
    if hashes.is_empty() {
        return Err(ApiError::bad_request(
            "Missing licenseHash: DELETE /api/system/licenses?licenseHash=h1,h2",
        ));
    }
    let now = req.app.now_ms();
    let stale_ms = req.app.settings.timing.stale_ms();
    let outcomes = pool::delete(&req.app.db, hashes, now, stale_ms).await?;
    let mut messages = Map::new();
    for (hash, outcome) in &outcomes {
        messages.insert(hash.clone(), Value::String(outcome.message(hash)));
    }
    let deleted = outcomes.iter().filter(|(_, o)| o.deleted()).count();
    if deleted > 0 {
        tracing::info!(
            arca_node_id = %req.app.node_id,
            "deleted {deleted} license(s) from the pool"
        );
    }
    let status = if deleted > 0 {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok(messages_response(status, messages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_bodies() {
        assert_eq!(
            key_texts(br#"[{"licenseKey":"a b"},{"licenseKey":"c"}]"#).unwrap(),
            ["a b", "c"]
        );
        assert_eq!(key_texts(br#"{"licenseKey":"a"}"#).unwrap(), ["a"]);
        for bad in [&b"nope"[..], b"[1]", b"[{\"key\":\"a\"}]", b"\"a\""] {
            assert_eq!(key_texts(bad).unwrap_err().status, StatusCode::BAD_REQUEST);
        }
    }
}

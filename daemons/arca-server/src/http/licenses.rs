//! The cluster's license pool over REST (`/api/system/licenses`, admin only) and the
//! bootstrap file `etc/cluster.license` (`docs/licenses.md`).
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

use std::path::Path;

use serde_json::{Map, Value};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_cluster::bootstrap::Identity;
use arca_config::Home;
use arca_db::cluster::NodeRole;
use arca_db::licenses::{self, AddOutcome, LicenseRow, NewLicenseRow};
use arca_db::{Clock, Db, DbError};
use arca_license::{
    Date, License, LicenseJson, NOT_IN_USE, TRUSTED_ISSUERS_DIR, TrustedIssuers, format_date_iso,
    format_date_long, license_hash, parse_date, split_batch, verify, verify_batch,
};

use crate::http::auth::require_admin;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::{Request, read_small_body};

/// The bootstrap file under `etc/`.
pub const BOOTSTRAP_FILE: &str = "cluster.license";

/// Largest POST body accepted (a batch of a few thousand keys).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The message for a key added by a POST.
const ADDED: &str = "OK";

/// The message for a key that is in the pool already.
const ALREADY_PRESENT: &str = "already in the pool";

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

/// The UTC calendar date of `now_ms`.
pub fn utc_date(now_ms: i64) -> Date {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// The issuers this node trusts; a bad file is a 500 naming it.
fn trusted_issuers(home: &Home) -> ApiResult<TrustedIssuers> {
    TrustedIssuers::load(&home.security().join(TRUSTED_ISSUERS_DIR)).map_err(|e| {
        tracing::error!("cannot load the trusted license issuers: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot load the trusted license issuers: {e}"),
        )
    })
}

/// The pool row of a verified key.
fn new_row(license: &License) -> NewLicenseRow {
    NewLicenseRow {
        hash: license.hash().to_string(),
        token: license.token().to_string(),
        licensee: license.licensee().to_string(),
        license_type: license.license_type().to_string(),
        valid_through: format_date_iso(license.valid_through()),
        issued: format_date_iso(license.issued()),
    }
}

/// A pool row in the REST shape of [`License::to_json`].
fn row_json(row: &LicenseRow, today_iso: &str) -> LicenseJson {
    let (node_id, node_url) = match (&row.holder_node_id, &row.holder_url) {
        (Some(id), Some(url)) => (id.clone(), url.clone()),
        _ => (NOT_IN_USE.to_string(), NOT_IN_USE.to_string()),
    };
    LicenseJson {
        license_type: row.license_type.clone(),
        valid_through: parse_date(&row.valid_through)
            .map(format_date_long)
            .unwrap_or_else(|_| row.valid_through.clone()),
        licensed_to: row.licensee.clone(),
        license_hash: row.hash.clone(),
        node_id,
        node_url,
        expired: row.is_expired(today_iso),
    }
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
    let today_iso = format_date_iso(utc_date(req.app.now_ms()));
    let rows = req.app.db.read(licenses::list_licenses).await?;
    let body: Vec<LicenseJson> = rows.iter().map(|r| row_json(r, &today_iso)).collect();
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
    let today = utc_date(now);
    let issuers = trusted_issuers(&req.app.home)?;
    let mut messages = Map::new();
    let mut valid = Vec::new();
    for key in texts.iter().flat_map(|t| split_batch(t)) {
        let hash = license_hash(key);
        if messages.contains_key(&hash) {
            continue; // the same key twice in one request: judged once
        }
        match verify(key, &issuers, today) {
            Ok(license) => {
                messages.insert(hash, Value::Null); // filled in after the insert
                valid.push(new_row(&license));
            }
            Err(rejection) => {
                messages.insert(hash, Value::String(rejection.to_string()));
            }
        }
    }
    if messages.is_empty() {
        return Err(ApiError::bad_request("No license key in the request"));
    }
    let outcomes = req
        .app
        .db
        .write(move |c| {
            valid
                .iter()
                .map(|row| Ok((row.hash.clone(), licenses::add_license(c, row, now)?)))
                .collect::<Result<Vec<_>, DbError>>()
        })
        .await?;
    for (hash, outcome) in &outcomes {
        let text = match outcome {
            AddOutcome::Added => ADDED,
            AddOutcome::AlreadyPresent => ALREADY_PRESENT,
        };
        messages.insert(hash.clone(), Value::String(text.to_string()));
    }
    let added = outcomes
        .iter()
        .filter(|(_, o)| *o == AddOutcome::Added)
        .count();
    if added > 0 {
        tracing::info!(
            arca_node_id = %req.app.node_id,
            "added {added} license(s) to the pool"
        );
    }
    let status = if outcomes.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(messages_response(status, messages))
}

/// `DELETE ?licenseHash=h1,h2`: one message per hash; 200 when at least one license was
/// deleted, 400 otherwise.
async fn delete(req: &Request) -> ApiResult<Response> {
    let hashes: Vec<String> = req
        .query
        .get("licenseHash")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if hashes.is_empty() {
        return Err(ApiError::bad_request(
            "Missing licenseHash: DELETE /api/system/licenses?licenseHash=h1,h2",
        ));
    }
    let now = req.app.now_ms();
    let today_iso = format_date_iso(utc_date(now));
    let stale_ms = req.app.settings.timing.stale_ms();
    let outcomes = req
        .app
        .db
        .write(move |c| licenses::delete_licenses(c, &hashes, &today_iso, now, stale_ms))
        .await?;
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

/// At start-up, on the primary or a standalone node: when the pool is empty, add the valid
/// keys of `etc/cluster.license` (separated by whitespace or semicolons). Rejected keys are
/// logged by hash with their reason. A missing file is fine; nothing here stops the start
/// (problems are logged as errors).
pub async fn load_bootstrap_file(home: &Home, db: &Db, identity: &Identity, clock: &dyn Clock) {
    let now_ms = clock.now_ms();
    if !matches!(identity.role, NodeRole::Primary | NodeRole::Standalone) {
        return;
    }
    let path = home.etc().join(BOOTSTRAP_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::error!(
                "cannot read {}: {e}; no license added from it",
                path.display()
            );
            return;
        }
    };
    if let Err(e) = bootstrap(home, db, &path, &text, now_ms).await {
        tracing::error!("could not add the licenses of {}: {e}", path.display());
    }
}

async fn bootstrap(
    home: &Home,
    db: &Db,
    path: &Path,
    text: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    let issuers = TrustedIssuers::load(&home.security().join(TRUSTED_ISSUERS_DIR))?;
    let mut valid = Vec::new();
    for (key, verdict) in verify_batch(text, &issuers, utc_date(now_ms)) {
        match verdict {
            Ok(license) => valid.push(new_row(&license)),
            Err(rejection) => tracing::warn!(
                "{}: license {} rejected: {rejection}",
                path.display(),
                license_hash(&key)
            ),
        }
    }
    let added = db
        .write(move |c| {
            if !licenses::list_licenses(c)?.is_empty() {
                return Ok::<_, DbError>(None);
            }
            let mut added = 0usize;
            for row in &valid {
                if licenses::add_license(c, row, now_ms)? == AddOutcome::Added {
                    added += 1;
                }
            }
            Ok(Some(added))
        })
        .await?;
    match added {
        None => tracing::info!(
            "the license pool is not empty: {} is not read (manage the pool with \
             /api/system/licenses)",
            path.display()
        ),
        Some(n) => tracing::info!("added {n} license(s) from etc/{BOOTSTRAP_FILE}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_date_of_millis() {
        assert_eq!(format_date_iso(utc_date(0)), "1970-01-01");
        // 2026-03-10T23:59:59.999Z and one millisecond later
        assert_eq!(format_date_iso(utc_date(1_773_187_199_999)), "2026-03-10");
        assert_eq!(format_date_iso(utc_date(1_773_187_200_000)), "2026-03-11");
    }

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

    #[test]
    fn rows_in_the_reference_shape() {
        let row = LicenseRow {
            hash: "ab".into(),
            token: "secret".into(),
            licensee: "ACME Corp.".into(),
            license_type: "Enterprise".into(),
            valid_through: "2018-05-15".into(),
            issued: "2017-05-15".into(),
            added_at: 0,
            holder_node_id: None,
            claimed_at: None,
            holder_url: None,
        };
        let json = serde_json::to_value(row_json(&row, "2018-05-16")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"Enterprise","validThrough":"May 15, 2018",
                "licensedTo":"ACME Corp.","licenseHash":"ab","nodeId":"Not in use",
                "nodeUrl":"Not in use","expired":true})
        );
        let held = LicenseRow {
            holder_node_id: Some("n1".into()),
            holder_url: Some("http://n1/artifactory".into()),
            ..row
        };
        let json = serde_json::to_value(row_json(&held, "2018-05-15")).unwrap();
        assert_eq!(json["nodeId"], "n1");
        assert_eq!(json["nodeUrl"], "http://n1/artifactory");
        assert_eq!(json["expired"], false);
    }
}

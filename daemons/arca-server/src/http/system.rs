//! `/api/system/*` and the `/api/v1/system/{readiness,liveness}` probes.

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use crate::gc;
use crate::http::Request;
use crate::http::auth::require_admin;
use crate::http::error::{ApiError, ApiResult, json_response, text_response};

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    match (req.method.clone(), tail) {
        (Method::GET | Method::HEAD, "ping") => ping(req).await,
        (Method::GET, "version") => version(req).await,
        (Method::POST, "storage/gc") => run_gc(req).await,
        (_, "ping" | "version" | "storage/gc") => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found(format!(
            "Unknown API endpoint /api/system/{tail}"
        ))),
    }
}

/// What stops this node from serving, if anything.
async fn unready_reason(req: &Request) -> Option<String> {
    if req.app.is_draining() {
        return Some("node is shutting down".into());
    }
    if let Err(e) = req.app.db.ping().await {
        return Some(format!("database unavailable: {e}"));
    }
    None
}

/// Load-balancer check: `OK`, or 503 while draining or when the DB is gone.
async fn ping(req: &Request) -> ApiResult<Response> {
    match unready_reason(req).await {
        None => Ok(text_response(StatusCode::OK, "OK")),
        Some(reason) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason)),
    }
}

pub async fn readiness(req: &Request) -> ApiResult<Response> {
    Ok(match unready_reason(req).await {
        None => json_response(StatusCode::OK, &serde_json::json!({ "code": "OK" })),
        Some(reason) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "code": "UNAVAILABLE", "message": reason }),
        ),
    })
}

pub fn liveness(_req: &Request) -> ApiResult<Response> {
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "code": "OK" }),
    ))
}

async fn version(req: &Request) -> ApiResult<Response> {
    let build = &arca_runtime::BUILD;
    let _ = req;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "version": build.version,
            "revision": build.revision,
            "releaseDate": build.timestamp,
            "addons": [],
        }),
    ))
}

/// Run garbage collection now (the reference's `POST /api/system/storage/gc`).
async fn run_gc(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let report = gc::collect(&req.app).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "binariesRemoved": report.binaries_removed,
            "orphanFilesRemoved": report.orphan_files_removed,
            "bytesFreed": report.bytes_freed,
            "expiredTokensRemoved": report.expired_tokens_removed,
        }),
    ))
}

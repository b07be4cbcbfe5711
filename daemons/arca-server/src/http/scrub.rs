//! `/api/system/storage/scrub`: the background scrubber's progress, and a pass started on
//! request (the scrubber itself is `crate::scrub`).

use arca_cluster::server_socket::ScrubReport;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::Request;
use crate::http::auth::require_admin;
use crate::http::error::{ApiError, ApiResult, json_response};

/// `GET /api/system/storage/scrub` (admin): the scrubber's progress.
pub async fn get(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    report_response(StatusCode::OK, &req.app.scrub.report())
}

/// `POST /api/system/storage/scrub[?rate.mb=N]` (admin): start a pass now (202), or report the
/// running one (200; `rate.mb` then changes its rate). `rate.mb=0`: no limit.
pub async fn post(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let rate = match req.query.get("rate.mb") {
        None => None,
        Some(v) => Some(arca_config::system::parse_rate_mb(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "rate.mb '{v}' is invalid; expected a number of MB per second from 0 (no \
                 limit) to 100000"
            ))
        })?),
    };
    let report = req
        .app
        .scrub
        .start(rate)
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    let status = if report.started {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    report_response(status, &report)
}

fn report_response(status: StatusCode, report: &ScrubReport) -> ApiResult<Response> {
    let body = serde_json::to_value(report).map_err(|e| ApiError::internal("scrub status", e))?;
    Ok(json_response(status, &body))
}

//! Every parser a request meets before the database, in one call, for the fuzz harness
//! (`daemons/dev/arca-fuzz`, target `front`).

use warp::http::{HeaderMap, Method};

use crate::front::{artifact_target, refuse_framing, strip_context};
use crate::http::error::{ApiError, ApiResult};

/// Every parser the server runs on a request's line and headers before it reads the database:
/// the context path, the query, an artifact path with its matrix parameters, and the headers
/// handlers parse (credentials, cookies, ranges, conditional requests, declared checksums).
/// Errors are the answers a client would get; nothing here may panic.
pub fn inspect(
    context_path: &str,
    max_path_length: usize,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
) -> ApiResult<()> {
    if let Some(message) = refuse_framing(headers) {
        return Err(ApiError::new(
            warp::http::StatusCode::NOT_IMPLEMENTED,
            message,
        ));
    }
    let rest = strip_context(context_path, path)?;
    let _query = crate::http::request::parse_query(raw_query);
    let _ = crate::http::auth::credentials(headers);
    let _ = crate::http::auth::cookie_id(headers);
    let _ = crate::http::format::base_url(headers, context_path, None);
    if rest.is_empty() || rest == "api" || rest.starts_with("api/") || rest.starts_with("ui/") {
        return Ok(());
    }
    artifact_target(method, rest, max_path_length)?;
    crate::http::artifacts::inspect_headers(headers, 1 << 20)
}

//! The request front end: what every request goes through before a handler runs.
//!
//! [`TargetGuard`] sits between hyper and warp and answers 400 to request targets that are not
//! origin-form or absolute-form (`GET x`, `CONNECT a:1`, `OPTIONS *`): warp 0.4's path filters
//! slice the URI's path assuming it starts with `/` and panic on the empty path of an
//! authority-form target — with `panic = "abort"` that was one packet to kill a node.
//! [`crate::inspect::inspect`] runs every parser the server applies to a request's line and headers before it
//! touches the database; the fuzz harness (`daemons/dev/arca-fuzz`) drives both through hyper.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use warp::http::{HeaderMap, Method, Uri};
use warp::reply::Response;

use crate::http::error::{ApiError, ApiResult};
use crate::paths::{RepoPath, parse_matrix, parse_repo_path};

/// Why a request target is refused before routing, or `None` when it may be routed.
pub fn refuse_target(uri: &Uri) -> Option<String> {
    if uri.path().starts_with('/') {
        return None;
    }
    Some(format!(
        "Malformed request target '{}': arca serves paths starting with '/' (origin-form or \
         absolute-form); authority-form and asterisk-form targets are not served",
        uri.to_string().escape_debug()
    ))
}

/// Why a request's framing is refused before routing: a transfer coding other than `chunked`
/// (`Transfer-Encoding: gzip, chunked`) would be stored undecoded, and arca decodes none (RFC
/// 9112 §6.1: 501 for a transfer coding the server does not understand).
pub fn refuse_framing(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(warp::http::header::TRANSFER_ENCODING) {
        let Ok(value) = value.to_str() else {
            return Some("Transfer-Encoding is not ASCII".into());
        };
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Some(format!(
                    "Transfer-Encoding '{}' is not supported: send the body as is or chunked",
                    coding.escape_debug()
                ));
            }
        }
    }
    None
}

/// A tower service that answers 400 to a request whose target [`refuse_target`] refuses, 501
/// to one whose framing [`refuse_framing`] refuses, and hands every other request to the inner
/// service (warp's).
#[derive(Clone, Debug)]
pub struct TargetGuard<S>(pub S);

impl<S, B> tower_service::Service<warp::http::Request<B>> for TargetGuard<S>
where
    S: tower_service::Service<warp::http::Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: warp::http::Request<B>) -> Self::Future {
        if let Some(message) = refuse_target(req.uri()) {
            tracing::debug!("{message}");
            return Either::Left(ready(Ok(ApiError::bad_request(message).into_response())));
        }
        if let Some(message) = refuse_framing(req.headers()) {
            tracing::debug!("{message}");
            let refusal = ApiError::new(warp::http::StatusCode::NOT_IMPLEMENTED, message);
            let mut resp = refusal.into_response();
            // the body that follows cannot be framed: the connection ends with this answer
            resp.headers_mut().insert(
                warp::http::header::CONNECTION,
                warp::http::HeaderValue::from_static("close"),
            );
            return Either::Left(ready(Ok(resp)));
        }
        Either::Right(self.0.call(req))
    }
}

/// The path after the context path, without its leading `/` (`""` for the context root);
/// 404 when the path is outside the context.
pub fn strip_context<'a>(context_path: &str, path: &'a str) -> ApiResult<&'a str> {
    let rest = if context_path.is_empty() {
        path
    } else if path == context_path {
        "/"
    } else {
        path.strip_prefix(context_path)
            .filter(|r| r.starts_with('/'))
            .ok_or_else(|| {
                ApiError::not_found(format!("Not found: arca serves under {context_path}/"))
            })?
    };
    Ok(rest.trim_start_matches('/'))
}

/// An artifact path (`repo/path;k=v`): where it points and the matrix parameters of a deploy.
pub type ArtifactTarget = (RepoPath, Option<BTreeMap<String, Vec<String>>>);

/// Parse the path of an artifact request (after the context path): the repository path and,
/// for a `PUT`, the matrix parameters.
pub fn artifact_target(
    method: &Method,
    rest: &str,
    max_path_length: usize,
) -> ApiResult<ArtifactTarget> {
    let (raw_path, matrix) = match rest.split_once(';') {
        Some((path, matrix)) => (path, Some(matrix)),
        None => (rest, None),
    };
    let target = parse_repo_path(raw_path, max_path_length)?;
    let props = match (method, matrix) {
        (&Method::PUT, Some(m)) => Some(parse_matrix(m)?),
        _ => None,
    };
    Ok((target, props))
}

//! One request as the handlers see it, and the reading of its query and body.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use warp::http::{HeaderMap, Method, StatusCode};

use crate::http::error::{ApiError, ApiResult};
use crate::state::{App, Principal};

/// A request body as a stream of chunks.
pub type BodyStream = BoxStream<'static, Result<Bytes, warp::Error>>;

/// One request, parsed just enough for routing.
pub struct Request {
    pub app: App,
    pub method: Method,
    pub headers: HeaderMap,
    /// Raw (percent-encoded) path after the context path, without the leading `/`.
    pub rest: String,
    pub query: HashMap<String, String>,
    pub raw_query: String,
    /// Behind a mutex only so `&Request` is `Sync` across awaits; taken once.
    pub(crate) body: std::sync::Mutex<Option<BodyStream>>,
    pub base_url: String,
    /// The request target as received (context path and query included), for node signatures.
    pub path_and_query: String,
    /// The connection's peer address (`None` where the transport has none).
    pub peer: Option<std::net::SocketAddr>,
    /// The connection's zero-copy queue, on plain HTTP ([`crate::zero_copy`]).
    pub zero_copy: Option<crate::zero_copy::SpanQueue>,
    /// The caller, resolved once per request by [`crate::http::auth::resolve_caller`] (see
    /// [`Request::principal`]).
    pub(crate) caller: tokio::sync::OnceCell<ApiResult<Principal>>,
}

impl Request {
    pub fn take_body(&self) -> BodyStream {
        self.body
            .lock()
            .ok()
            .and_then(|mut b| b.take())
            .unwrap_or_else(|| futures_util::stream::empty().boxed())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A query parameter as sent (still percent-encoded; `+` as `%20`), for values that are
    /// repository paths: [`crate::paths::parse_repo_path`] decodes them strictly, where the
    /// decoded [`Request::query`] has replaced invalid UTF-8.
    pub fn raw_query_value(&self, name: &str) -> Option<String> {
        // the last occurrence wins, as in `query`
        self.raw_query
            .rsplit('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| {
                percent_encoding::percent_decode_str(k)
                    .decode_utf8()
                    .ok()
                    .as_deref()
                    == Some(name)
            })
            .map(|(_, v)| v.replace('+', "%20"))
    }

    /// A comma-separated query parameter (`?x=a,b`) as its non-empty trimmed entries.
    pub fn list_param(&self, name: &str) -> Vec<String> {
        self.query
            .get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A query flag given as `?x`, `?x=1` or `?x=true`.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.query
            .get(name)
            .map(|v| matches!(v.as_str(), "" | "1" | "true"))
    }
}

/// The answer to a request body that failed while being read: 408 when the client stopped
/// sending (`arca.http.body.idle.timeout.secs`), 400 otherwise.
pub fn body_error(err: &warp::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<BodyIdleTimeout>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("Reading request body: {e}"),
            );
        }
        source = e.source();
    }
    ApiError::bad_request(format!("Reading request body: {err}"))
}

/// Read a whole (small) body, refusing more than `limit` bytes.
pub async fn read_small_body(body: &mut BodyStream, limit: usize) -> ApiResult<Bytes> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| body_error(&e))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The query string's pairs, percent-decoded (`+` is a space; a later duplicate wins).
pub fn parse_query(raw: &str) -> HashMap<String, String> {
    // Values may contain '=' (properties=a=1); split each pair at the first '='.
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// The error a request body ends with when the client sent nothing for too long.
#[derive(Debug, thiserror::Error)]
#[error("the client sent no request body data for {} s ({})", .0.as_secs(), arca_config::system::HTTP_BODY_IDLE_TIMEOUT_SECS)]
pub struct BodyIdleTimeout(pub Duration);

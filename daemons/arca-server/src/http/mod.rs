//! The HTTP surface: one warp filter hands every request to [`dispatch`],
//! which strips the context path and routes by hand — artifact paths are
//! free-form, so a table of typed routes would not fit them.

pub mod artifacts;
pub mod auth;
pub mod authz;
mod conditional;
pub mod error;
pub mod format;
pub mod licenses;
mod listing;
mod node_auth;
mod peer_storage;
pub mod repos_api;
mod search;
mod security_api;
mod security_users;
pub mod session;
mod storage_api;
mod system;
pub mod upload;
pub mod verify;

use std::collections::HashMap;
use std::convert::Infallible;

use bytes::{Buf, Bytes};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use warp::Filter;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

use crate::state::{App, Principal};
use error::{ApiError, ApiResult};

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
    body: std::sync::Mutex<Option<BodyStream>>,
    pub base_url: String,
    /// The request target as received (context path and query included), for node signatures.
    pub path_and_query: String,
    /// The connection's peer address (`None` where the transport has none).
    pub peer: Option<std::net::SocketAddr>,
    /// The caller, resolved once per request by [`auth::resolve_caller`] (see
    /// [`Request::principal`]).
    caller: tokio::sync::OnceCell<ApiResult<Principal>>,
}

impl Request {
    /// The caller (or why it is refused: 401, 403 for a missing CSRF token, 429, 503 …).
    /// Resolved once per request, by the credential module ([`auth::resolve_caller`]), when a
    /// handler first asks; every later call answers the same without authenticating again
    /// (a failed login is counted once). Resolution waits for the first ask, not for the
    /// dispatch: endpoints that never look at the caller (health checks, the UI login,
    /// node-signed calls) must not count a bad password or refuse one, and a handler's
    /// earlier answers (400 for a bad path, 405) come before any 401, as they always have.
    pub async fn principal(&self) -> ApiResult<Principal> {
        self.caller
            .get_or_init(|| auth::resolve_caller(self))
            .await
            .clone()
    }

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
        if e.is::<crate::serve::BodyIdleTimeout>() {
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

fn boxed_body<S, B>(stream: S) -> BodyStream
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf + Send,
{
    stream
        .map(|r| r.map(|mut b| b.copy_to_bytes(b.remaining())))
        .boxed()
}

/// The warp filter serving everything.
pub fn routes(app: App) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    warp::any()
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<auth::PeerAddr>())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  peer: Option<auth::PeerAddr>,
                  body| {
                let app = app.clone();
                let body = boxed_body(body);
                let head = RequestHead {
                    method,
                    path: path.as_str().to_string(),
                    raw_query: query,
                    headers,
                    peer: peer.map(|p| p.0),
                };
                async move { handle(app, head, body).await }
            },
        )
        .recover(|_rej: warp::Rejection| async {
            Ok::<_, Infallible>(ApiError::bad_request("Malformed request").into_response())
        })
        .unify()
}

/// A request's line, headers and connection details, as warp extracted them.
struct RequestHead {
    method: Method,
    path: String,
    raw_query: String,
    headers: HeaderMap,
    peer: Option<std::net::SocketAddr>,
}

async fn handle(app: App, head: RequestHead, body: BodyStream) -> Response {
    let path = head.path.clone();
    let node_header = app.node_id_header.clone();
    let started = std::time::Instant::now();
    let method_name = head.method.clone();
    let mut resp = match route(app, head, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert("x-arca-node-id", node_header);
    // No response is ever to be sniffed into another type (stored HTML served as text/plain, a
    // JSON error rendered as HTML).
    resp.headers_mut().insert(
        "x-content-type-options",
        warp::http::HeaderValue::from_static("nosniff"),
    );
    tracing::debug!(
        method = %method_name,
        path = %path,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
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

async fn route(app: App, head: RequestHead, body: BodyStream) -> ApiResult<Response> {
    let RequestHead {
        method,
        path,
        raw_query,
        headers,
        peer,
    } = head;
    let path = path.as_str();
    let ctx = app.settings.context_path.clone();
    let rest = crate::front::strip_context(&ctx, path)?.to_string();
    let base_url = format::base_url(&headers, &ctx, app.settings.url_base.as_deref());
    let path_and_query = if raw_query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{raw_query}")
    };
    let query = parse_query(&raw_query);
    let mut req = Request {
        app,
        method,
        headers,
        rest,
        query,
        raw_query,
        body: std::sync::Mutex::new(Some(body)),
        base_url,
        path_and_query,
        peer,
        caller: tokio::sync::OnceCell::new(),
    };
    if !req.app.license.allows_serving() && !serves_unlicensed(&req.rest) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{}: node '{}' has none (add one with POST /api/system/licenses or arcactl \
                 license add; arca-license-agent claims it)",
                arca_cluster::node_license::UNLICENSED_MESSAGE,
                req.app.node_id
            ),
        ));
    }
    if req.rest.is_empty() {
        if !matches!(req.method, Method::GET | Method::HEAD) {
            return Err(ApiError::method_not_allowed());
        }
        return repos_api::root_listing(&req).await;
    }
    if let Some(api) = req.rest.strip_prefix("api/").map(str::to_string) {
        return route_api(&mut req, &api).await;
    }
    if req.rest == "api" {
        return Err(ApiError::not_found("Not found"));
    }
    if let Some(ui) = req.rest.strip_prefix("ui/").map(str::to_string) {
        return session::handle(&mut req, &ui).await;
    }
    artifacts::handle(&mut req).await
}

/// What an HA node without a license still serves (`rest`: the path after the context path):
/// the license endpoints (to add one), the health checks, and the calls of other nodes.
fn serves_unlicensed(rest: &str) -> bool {
    matches!(
        rest,
        "api/system/licenses"
            | "api/system/ping"
            | "api/v1/system/readiness"
            | "api/v1/system/liveness"
            | "api/system/ha/self"
    ) || rest
        .strip_prefix("api/system/")
        .is_some_and(|t| t.starts_with(PEER_STORAGE_PREFIX))
}

/// Where other nodes fetch and push binaries, under `api/system/` ([`peer_storage`]).
const PEER_STORAGE_PREFIX: &str = "storage/binaries/";

async fn route_api(req: &mut Request, api: &str) -> ApiResult<Response> {
    let (head, tail) = match api.find('/') {
        Some(i) => (&api[..i], &api[i + 1..]),
        None => (api, ""),
    };
    match head {
        "system" if tail == "licenses" => licenses::handle(req).await,
        // other nodes' calls (node-signed), not the administrator's system endpoints
        "system" if tail.starts_with(PEER_STORAGE_PREFIX) => {
            peer_storage::handle(req, &tail[PEER_STORAGE_PREFIX.len()..]).await
        }
        "system" => system::handle(req, tail).await,
        "v2" if tail == "security/permissions" || tail.starts_with("security/permissions/") => {
            security_users::permissions(req, &tail["security/permissions".len()..]).await
        }
        "v1" => match tail {
            "system/readiness" => system::readiness(req).await,
            "system/liveness" => system::liveness(req),
            _ => Err(ApiError::not_found("Not found")),
        },
        "repositories" => repos_api::handle(req, tail).await,
        "storage" => storage_api::handle(req, tail).await,
        "copy" => storage_api::copy_or_move(req, tail, false).await,
        "move" => storage_api::copy_or_move(req, tail, true).await,
        "search" => search::handle(req, tail).await,
        "security" => security_api::handle(req, tail).await,
        _ => Err(ApiError::not_found(format!(
            "Unknown API endpoint /api/{head}"
        ))),
    }
}

//! The dispatch: the warp filter, the context path, the license gate, and the route of every
//! request to its handler.

use std::convert::Infallible;
use std::future::Future;

use bytes::Buf;
use futures_util::{Stream, StreamExt};
use warp::Filter;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

use crate::http::error::{ApiError, ApiResult};
use crate::http::request::{BodyStream, Request, parse_query};
use crate::http::{
    artifacts, auth, builds, format, licenses, npm, oci, peer_storage, pypi, repos_api, search,
    security_api, security_users, session, storage_api, system,
};
use crate::state::App;
use crate::zero_copy::SpanQueue;

fn boxed_body<S, B>(stream: S) -> BodyStream
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf + Send,
{
    stream
        .map(|r| r.map(|mut b| b.copy_to_bytes(b.remaining())))
        .boxed()
}

/// What warp extracts of every request: its head and its body. The `front` fuzz target runs
/// this same extraction.
pub fn extract() -> impl Filter<Extract = (RequestHead, BodyStream), Error = warp::Rejection> + Clone
{
    warp::any()
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<auth::PeerAddr>())
        .and(warp::ext::optional::<SpanQueue>())
        .and(warp::body::stream())
        .map(
            |method: Method,
             path: warp::path::FullPath,
             raw_query: String,
             headers: HeaderMap,
             peer: Option<auth::PeerAddr>,
             zero_copy: Option<SpanQueue>,
             body| {
                let head = RequestHead {
                    method,
                    path: path.as_str().to_string(),
                    raw_query,
                    headers,
                    peer: peer.map(|p| p.0),
                    zero_copy,
                };
                (head, boxed_body(body))
            },
        )
        .untuple_one()
}

/// The answer to a request warp could not extract.
pub fn malformed(
    _rejection: warp::Rejection,
) -> impl Future<Output = Result<Response, Infallible>> {
    std::future::ready(Ok(
        ApiError::bad_request("Malformed request").into_response()
    ))
}

/// The warp filter serving everything.
pub fn routes(app: App) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    extract()
        .then(move |head: RequestHead, body: BodyStream| {
            let app = app.clone();
            async move { handle(app, head, body).await }
        })
        .recover(malformed)
        .unify()
}

/// A request's line, headers and connection details, as warp extracted them.
pub struct RequestHead {
    pub method: Method,
    /// The full path, percent-encoded as received.
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub peer: Option<std::net::SocketAddr>,
    /// Set on a plain-HTTP connection: where a download registers the file it sends with
    /// `sendfile` ([`crate::zero_copy`]).
    pub zero_copy: Option<SpanQueue>,
}

async fn handle(app: App, head: RequestHead, body: BodyStream) -> Response {
    let path = head.path.clone();
    let node_header = app.node_id_header.clone();
    let started = std::time::Instant::now();
    let method_name = head.method.clone();
    // the web UI's calls: a 401 must not make the browser pop up its own login dialog
    let from_script = head
        .headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    let mut resp = match route(app, head, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if from_script && resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .remove(warp::http::header::WWW_AUTHENTICATE);
    }
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

async fn route(app: App, head: RequestHead, body: BodyStream) -> ApiResult<Response> {
    let RequestHead {
        method,
        path,
        raw_query,
        headers,
        peer,
        zero_copy,
    } = head;
    let path = path.as_str();
    let ctx = app.settings.context_path.clone();
    // the registry API is on the node's root whatever the context path: clients cannot add one
    let registry = crate::http::registry_token::registry_path(path);
    let rest = match registry {
        Some(_) => path.trim_start_matches('/').to_string(),
        None => crate::front::strip_context(&ctx, path)?.to_string(),
    };
    let url_base = app.settings.url_base.get();
    let base_url = format::base_url(&headers, &ctx, url_base.as_deref());
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
        zero_copy,
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
    if let Some(after_v2) = registry {
        return Ok(oci::handle(&mut req, after_v2).await);
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
    if req.rest == "ui" {
        // the page's relative links need the trailing slash
        let mut resp = Response::default();
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        if let Ok(to) =
            warp::http::HeaderValue::from_str(&format!("{}/ui/", req.app.settings.context_path))
        {
            resp.headers_mut().insert(warp::http::header::LOCATION, to);
        }
        return Ok(resp);
    }
    if let Some(ui) = req.rest.strip_prefix("ui/").map(str::to_string) {
        return session::handle(&mut req, &ui).await;
    }
    artifacts::handle(&mut req).await
}

/// What an HA node without a license still serves (`rest`: the path after the context path):
/// the license endpoints (to add one), the health checks, the web UI (which shows the missing
/// license and adds one), its log (which may say why), and the calls of other nodes.
fn serves_unlicensed(rest: &str) -> bool {
    if rest == "ui" || rest.starts_with("ui/") {
        return true;
    }
    matches!(
        rest,
        "api/system/licenses"
            | "api/system/ping"
            | "api/v1/system/readiness"
            | "api/v1/system/liveness"
            | "api/system/ha/self"
            | "api/system/ha/configuration/baseUrl"
            | "api/system/logs"
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
        "metadata" => storage_api::patch_metadata(req, tail).await,
        "copy" => storage_api::copy_or_move(req, tail, false).await,
        "move" => storage_api::copy_or_move(req, tail, true).await,
        "search" => search::handle(req, tail).await,
        "npm" => npm::handle(req, tail).await,
        "pypi" => pypi::handle(req, tail).await,
        "build" => builds::handle(req, tail).await,
        "security" => security_api::handle(req, tail).await,
        _ => Err(ApiError::not_found(format!(
            "Unknown API endpoint /api/{head}"
        ))),
    }
}

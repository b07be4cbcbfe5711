//! Target `front`: raw request bytes through the server's front end.
//!
//! Each input is written to an in-memory connection served by hyper's HTTP/1 server with the
//! stack of `arca_server::serve`: `TargetGuard(warp::service(filter))`, the filter extracting
//! what `arca_server::http::routes` extracts (method, full path, raw query, headers, body) and
//! running `arca_server::front::inspect` on it. The same input is also split into its parts by
//! hand and given to the guarded service directly (targets hyper itself would refuse) and to
//! `inspect` directly (paths warp would never hand over).
//!
//! Properties: nothing panics; every response is `HTTP/1.x` with a status below 500 (hyper
//! may also close the connection on a request it cannot parse); nothing hangs.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use arca_server::front::{TargetGuard, inspect};
use arca_server::http::error::{ApiError, text_response};
use base64::Engine as _;
use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_service::Service;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use warp::reply::Response;

use crate::mutate::{mutate, percent_escape};
use crate::runner::Target;

/// The context path of a default installation.
pub const CONTEXT_PATH: &str = "/artifactory";
/// `arca.path.max.length`'s default.
pub const MAX_PATH_LENGTH: usize = 1024;
/// Longest input (requests with very long segments and repeated headers fit).
const MAX_INPUT: usize = 64 * 1024;
/// How much of a request body the filter reads.
const MAX_BODY_READ: usize = 1 << 20;
/// One input taking longer than this is a hang.
const INPUT_TIMEOUT: Duration = Duration::from_secs(10);

/// A bug planted in the filter, for the harness's self-test: the fuzzer has to find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedBug {
    /// Panic when the path contains `%00`.
    Panic,
    /// Answer 500 when the path contains `..`.
    ServerError,
    /// No [`TargetGuard`]: warp's path filters meet authority-form targets (issue 14's crash).
    Unguarded,
}

/// The filter: `http::routes`' extraction, then [`inspect`] instead of the handlers.
fn front_filter(bug: Option<PlantedBug>) -> BoxedFilter<(Response,)> {
    warp::any()
        .and(warp::method())
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  body| {
                let path = path.as_str().to_string();
                async move { answer(bug, method, path, query, headers, body).await }
            },
        )
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, Infallible>(ApiError::bad_request("Malformed request").into_response())
        })
        .unify()
        .boxed()
}

async fn answer<S, B>(
    bug: Option<PlantedBug>,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    // Read the body as a handler would (chunked decoding, Content-Length), up to a limit.
    let mut body = std::pin::pin!(body);
    let mut read = 0;
    while read < MAX_BODY_READ {
        match body.next().await {
            Some(Ok(mut chunk)) => {
                read += chunk.remaining();
                chunk.advance(chunk.remaining());
            }
            Some(Err(_)) | None => break,
        }
    }
    match bug {
        Some(PlantedBug::Panic) if path.contains("%00") => {
            panic!("planted bug: a path with %00 ({path:?})")
        }
        Some(PlantedBug::ServerError) if path.contains("..") => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "planted bug").into_response();
        }
        _ => {}
    }
    match inspect(
        CONTEXT_PATH,
        MAX_PATH_LENGTH,
        &method,
        &path,
        &query,
        &headers,
    ) {
        Ok(()) => text_response(StatusCode::OK, "ok"),
        Err(e) => e.into_response(),
    }
}

/// The server's stack, `TargetGuard(warp::service(filter))` (without the guard for the
/// `selftest-unguarded` target), recording the status of every response it gives hyper.
#[derive(Clone)]
struct Recorder<S> {
    inner: TargetGuard<S>,
    guarded: bool,
    statuses: Rc<RefCell<Vec<StatusCode>>>,
}

impl<S, B> Service<Request<B>> for Recorder<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
    S::Future: 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let statuses = self.statuses.clone();
        let future: Self::Future = if self.guarded {
            Box::pin(self.inner.call(req))
        } else {
            Box::pin(self.inner.0.call(req))
        };
        Box::pin(async move {
            let response = future.await?;
            statuses.borrow_mut().push(response.status());
            Ok(response)
        })
    }
}

/// The `front` target (or a self-test variant with a planted bug).
pub struct Front {
    name: &'static str,
    runtime: tokio::runtime::Runtime,
    filter: BoxedFilter<(Response,)>,
    guarded: bool,
}

impl Front {
    pub fn new() -> std::io::Result<Front> {
        Front::build("front", None)
    }

    /// The front end with `bug` planted: `selftest-panic` / `selftest-5xx`.
    pub fn with_planted_bug(bug: PlantedBug) -> std::io::Result<Front> {
        let name = match bug {
            PlantedBug::Panic => "selftest-panic",
            PlantedBug::ServerError => "selftest-5xx",
            PlantedBug::Unguarded => "selftest-unguarded",
        };
        Front::build(name, Some(bug))
    }

    fn build(name: &'static str, bug: Option<PlantedBug>) -> std::io::Result<Front> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        Ok(Front {
            name,
            runtime,
            filter: front_filter(bug),
            guarded: bug != Some(PlantedBug::Unguarded),
        })
    }

    /// The input through hyper's HTTP/1 server and the guarded warp service.
    async fn through_hyper(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        let statuses = Rc::new(RefCell::new(Vec::new()));
        let service = TowerToHyperService::new(Recorder {
            inner: TargetGuard(warp::service(self.filter.clone())),
            guarded: self.guarded,
            statuses: statuses.clone(),
        });
        let (client, server) = tokio::io::duplex(MAX_INPUT);
        let connection = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(server), service);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        // Bytes of answer read so far: the writer waits for them to stop growing before it
        // closes its side, as a real client waits for its answers (hyper drops requests in
        // flight when the client's side closes).
        let received = std::cell::Cell::new(0usize);
        let write = async {
            // The server may close early (a parse error): a failed write is expected then.
            let _ = client_write.write_all(input).await;
            let mut quiet = 0;
            let mut last = received.get();
            // Everything is in memory on one thread: a few scheduling rounds without new
            // answer bytes mean the server waits for more input.
            for _ in 0..10_000 {
                if quiet >= 8 {
                    break;
                }
                tokio::task::yield_now().await;
                let now = received.get();
                quiet = if now == last { quiet + 1 } else { 0 };
                last = now;
            }
            let _ = client_write.shutdown().await;
        };
        let read = async {
            let mut out = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = client_read.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
                received.set(out.len());
            }
            out
        };
        let ((_connection_result, (), wire), timed_out) =
            match tokio::time::timeout(INPUT_TIMEOUT, async {
                tokio::join!(connection, write, read)
            })
            .await
            {
                Ok(done) => (done, false),
                Err(_) => return Err(format!("no answer within {INPUT_TIMEOUT:?} (hang)")),
            };
        debug_assert!(!timed_out);
        let transfer_coding = mentions_transfer_encoding(input);
        for status in statuses.borrow().iter() {
            if !acceptable(*status, transfer_coding) {
                return Err(format!("the service answered {status}"));
            }
        }
        check_wire(&wire, transfer_coding)?;
        Ok(wire)
    }

    /// The input split into its parts by hand, given to the guarded service and to [`inspect`].
    async fn direct(&self, input: &[u8]) -> Result<(), String> {
        let parts = split_request(input);
        let headers = header_map(&parts.headers);
        let transfer_coding = headers.contains_key(warp::http::header::TRANSFER_ENCODING);
        // inspect on the raw pieces: any text, not only what warp hands over.
        let method = Method::from_bytes(parts.method).unwrap_or(Method::GET);
        let target = String::from_utf8_lossy(parts.target);
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        check_inspect(&method, path, query, &headers)?;
        // The guarded service, for every target `http::Uri` accepts.
        let (Ok(method), Ok(uri)) = (
            Method::from_bytes(parts.method),
            Uri::try_from(parts.target),
        ) else {
            return Ok(());
        };
        check_inspect(&method, uri.path(), uri.query().unwrap_or(""), &headers)?;
        let mut request = Request::new(Full::new(Bytes::copy_from_slice(parts.body)));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let mut service = Recorder {
            inner: TargetGuard(warp::service(self.filter.clone())),
            guarded: self.guarded,
            statuses: Rc::new(RefCell::new(Vec::new())),
        };
        let response = match service.call(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if !acceptable(response.status(), transfer_coding) {
            return Err(format!(
                "the guarded service answered {} directly",
                response.status()
            ));
        }
        Ok(())
    }
}

/// A status the front end may answer: below 500, or 501 to a transfer coding it does not
/// implement (RFC 9112 §6.1 prescribes it; `Transfer-Encoding: gzip, chunked` was stored
/// undecoded before).
fn acceptable(status: StatusCode, transfer_coding: bool) -> bool {
    !status.is_server_error() || (transfer_coding && status == StatusCode::NOT_IMPLEMENTED)
}

/// Whether raw request bytes carry a `Transfer-Encoding` header (any case).
fn mentions_transfer_encoding(input: &[u8]) -> bool {
    input
        .windows(b"transfer-encoding".len())
        .any(|w| w.eq_ignore_ascii_case(b"transfer-encoding"))
}

fn check_inspect(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<(), String> {
    let transfer_coding = headers.contains_key(warp::http::header::TRANSFER_ENCODING);
    match inspect(CONTEXT_PATH, MAX_PATH_LENGTH, method, path, query, headers) {
        Err(e) if !acceptable(e.status, transfer_coding) => Err(format!(
            "inspect({method}, {path:?}, {query:?}) answered {}",
            e.status
        )),
        _ => Ok(()),
    }
}

/// What hyper wrote back: nothing (it closed the connection) or an `HTTP/1.x` status line with
/// an [`acceptable`] status.
fn check_wire(wire: &[u8], transfer_coding: bool) -> Result<(), String> {
    if wire.is_empty() {
        return Ok(());
    }
    let line_end = wire.iter().position(|b| *b == b'\n').unwrap_or(wire.len());
    let line = String::from_utf8_lossy(&wire[..line_end]);
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| {
            format!("the answer does not start with an HTTP/1.x status line: {line:?}")
        })?;
    if !StatusCode::from_u16(status).is_ok_and(|s| acceptable(s, transfer_coding)) {
        return Err(format!("answered {line:?}"));
    }
    Ok(())
}

impl Target for Front {
    fn name(&self) -> &'static str {
        self.name
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        generate_request_bytes(rng)
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        self.runtime.block_on(async {
            self.through_hyper(input).await?;
            self.direct(input).await
        })
    }
}

// ------------------------------------------------------------------ splitting raw requests

/// A request split by hand, leniently (LF or CRLF, headers at their first `:`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RawParts<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    pub body: &'a [u8],
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

pub fn split_request(input: &[u8]) -> RawParts<'_> {
    let mut lines = input.split(|b| *b == b'\n');
    let mut parts = RawParts::default();
    let request_line = trim(lines.next().unwrap_or_default());
    let mut words = request_line.splitn(3, |b| *b == b' ');
    parts.method = words.next().unwrap_or_default();
    parts.target = words.next().unwrap_or_default();
    let mut consumed = input
        .iter()
        .position(|b| *b == b'\n')
        .map_or(input.len(), |i| i + 1);
    for line in lines {
        consumed = (consumed + line.len() + 1).min(input.len());
        let line = trim(line);
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            parts
                .headers
                .push((trim(&line[..colon]), trim(&line[colon + 1..])));
        }
    }
    parts.body = &input[consumed..];
    parts
}

/// The headers `http` accepts (others are dropped, as hyper would refuse them).
fn header_map(headers: &[(&[u8], &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

// ------------------------------------------------------------------ generation

/// Requests the review sent, and other shapes every front end should survive.
pub const CORPUS: &[&str] = &[
    "GET x HTTP/1.1\r\n\r\n",
    "GET a:1 HTTP/1.1\r\n\r\n",
    "HEAD example.com HTTP/1.1\r\n\r\n",
    "CONNECT a:1 HTTP/1.1\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET http://h:8081/artifactory/api/system/ping HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /artifactory/libs-release/com/ex/a/1.0/a-1.0.jar HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-9\r\n\r\n",
    "PUT /artifactory/libs-release/a.jar;build.name=ci;build.number=7 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    "PUT /artifactory/generic-local/x.bin HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "PUT /artifactory/generic-local/x.bin HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "POST /artifactory/api/copy/libs/a?to=/other/a%c0%af HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    "GET /artifactory/libs/%F4%8F%BF%BFtop HTTP/1.1\r\nHost: h\r\n\r\n",
    "GET /artifactory/libs/../../etc/passwd HTTP/1.1\r\n\r\n",
    "GET //artifactory//libs HTTP/1.1\r\n\r\n",
    "DELETE /artifactory/libs/ HTTP/1.1\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\n\r\n",
    "GET /artifactory/api/repositories HTTP/1.1\r\nCookie: ARCA_SESSION=0123456789abcdef0123456789abcdef\r\n\r\n",
    "GET / HTTP/1.1\r\n\r\nGET x HTTP/1.1\r\n\r\n",
    "PUT /artifactory/libs/a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
];

/// Tokens mutations insert.
pub const DICTIONARY: &[&str] = &[
    "/",
    "//",
    "/./",
    "/../",
    "..",
    ".",
    ";",
    ";a=b,c",
    "?",
    "&",
    "=",
    "#",
    "%",
    "%0",
    "%00",
    "%2e%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%c0%af",
    "%C0%AE",
    "%e0%80%af",
    "%ff",
    "%F4%8F%BF%BF",
    "%f4%90%80%80",
    "%ed%a0%80",
    "\u{10FFFF}",
    "\u{FEFF}",
    "é",
    "\\",
    " ",
    "\t",
    "\r\n",
    "\n",
    "\r",
    "\r\n\r\n",
    ":",
    "*",
    "@",
    "http://",
    "https://",
    "a:1",
    "[::1]",
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/2.0",
    "GET ",
    "PUT ",
    "CONNECT ",
    "Host: h\r\n",
    "Content-Length: 0\r\n",
    "Content-Length: 18446744073709551616\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
    "0\r\n\r\n",
    "ffffffffffffffff\r\n",
    "Expect: 100-continue\r\n",
    "Authorization: Basic ",
    "Bearer ",
    "arca_",
    "ARCA_SESSION=",
    "bytes=",
    "bytes=-0",
    "W/\"",
    "\"",
    "/artifactory",
    "/artifactory/api/",
    "api/",
    "ui/",
    "libs-release",
    "maven-metadata.xml",
    ".sha1",
    ".sha256",
    "+",
    "~",
    "\x00",
    "\x7f",
    "\u{80}",
    "\u{2028}",
];

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "HEAD", "PUT", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "CONNECT",
    "TRACE", "MKCOL", "PROPFIND", "get", "G", "GET\x00", "X-CUSTOM", "ÄÖ",
];

/// Mostly HTTP/1.1: hyper refuses the others before arca sees them.
const VERSIONS: &[&str] = &[
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.1",
    "HTTP/1.0",
    "HTTP/1.0",
    "HTTP/2.0",
    "HTTP/0.9",
    "HTTP/1.2",
    "http/1.1",
    "HTTP/1.1 ",
    "",
];

const CONTEXTS: &[&str] = &[
    "/artifactory",
    "/artifactory",
    "/artifactory",
    "/artifactory",
    "/artifactory",
    "/artifactory/",
    "",
    "/other",
    "/artifactoryx",
    "/ARTIFACTORY",
    "/%61rtifactory",
    "//artifactory",
];

const REPOS: &[&str] = &[
    "libs-release",
    "libs-release",
    "generic-local",
    "npm-remote",
    "api",
    "ui",
    "a",
    "",
    "..",
    ".",
    "%2e%2e",
    "LIBS",
    "-bad",
    "ré",
    "%72epo",
    "r%00",
    "r%2fx",
    "r;x=1",
    "a.b_c-d",
];

const API_PATHS: &[&str] = &[
    "api/system/ping",
    "api/repositories",
    "api/storage/libs/a",
    "api/copy/libs/a",
    "api/move/libs/a",
    "api/search/artifact",
    "api/security/token",
    "api/v1/system/licenses",
    "api/",
    "api",
    "ui/login",
    "ui/",
    "api/storageinfo",
    "api/deploy/bundle/libs",
];

const SEGMENTS: &[&str] = &[
    "com",
    "example",
    "1.0",
    "a-1.0.jar",
    "a-1.0.pom",
    "maven-metadata.xml",
    "maven-metadata.xml.sha1",
    "x.jar.sha256",
    "..",
    ".",
    "",
    "%2e%2e",
    "%2E%2E",
    "%2e",
    "%c0%af",
    "%c0%ae%c0%ae",
    "%00",
    "a%00b",
    "%ff",
    "%F4%8F%BF%BF",
    "\u{10FFFF}",
    "%f4%90%80%80",
    "%2F",
    "a%2fb",
    "%5C",
    "a\\b",
    "a b",
    "a+b",
    "%",
    "%g0",
    "%%41",
    "~user",
    "@",
    "index.html",
    "x.svg",
    "%ed%a0%80",
    "CON",
    "a:b",
    "*",
    "é",
    "%EF%BF%BE",
    "%ef%bf%bf",
    "%EF%B7%90",
    "\u{FDD0}",
    "\u{FFFE}",
];

const MATRIX: &[&str] = &[
    "a=b",
    "a=b,c",
    "build.name=ci%20job",
    "build.number=7",
    "k=v1,v2",
    "k",
    "=v",
    "k=",
    "k=a\\,b",
    "bad key=1",
    "k=%ff",
    "k=%00",
    "k=\\",
    "a=b|c=d",
    "k%3Dx=1",
    "props=a=b",
    ";",
    "",
];

const QUERY: &[&str] = &[
    "list",
    "deep=1",
    "depth=3",
    "properties",
    "properties=a=1;b=2",
    "to=/other/a",
    "to=/x%c0%af",
    "dry=1",
    "name=*.jar",
    "repos=libs,generic",
    "expires_in=99999999999999",
    "%zz",
    "a=b&&c",
    "&",
    "=",
    "a=%",
    "a=%ff",
    "list&deep=1&listFolders=1",
    "+",
    "q=%00",
];

const HOSTS: &[&str] = &[
    "localhost",
    "localhost:8081",
    "h",
    "10.0.0.1:8081",
    "[::1]:8081",
    "",
    "a b",
    "x:99999",
    "é.example",
    "example.com",
    "h:0",
];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list.choose(rng).copied().unwrap_or_default()
}

fn alnum(rng: &mut StdRng, len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.";
    (0..len)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

fn hex_string(rng: &mut StdRng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdefABCDEFxg";
    let mut s: String = (0..len)
        .map(|_| char::from(HEX[rng.gen_range(0..16)]))
        .collect();
    if rng.gen_bool(0.1) && len > 0 {
        let i = rng.gen_range(0..len);
        s.replace_range(
            i..=i,
            &char::from(HEX[rng.gen_range(0..HEX.len())]).to_string(),
        );
    }
    s
}

fn segment(rng: &mut StdRng) -> String {
    // Plain names half of the time: a path with one bad segment is refused before its
    // matrix parameters and headers are parsed.
    match rng.gen_range(0..12) {
        0..=3 => pick(rng, SEGMENTS).to_string(),
        4 => {
            // a long segment, around the path length limit
            let len = *[100, 255, 256, 1000, 1024, 1025, 3000, 3100]
                .choose(rng)
                .unwrap_or(&255);
            "a".repeat(len)
        }
        5 => percent_escape(&[rng.r#gen(), rng.r#gen()]),
        _ => {
            let len = rng.gen_range(1..12);
            alnum(rng, len)
        }
    }
}

/// An origin-form path: the context, a repository or API path, segments, matrix parameters.
pub fn generate_path(rng: &mut StdRng) -> String {
    let mut path = pick(rng, CONTEXTS).to_string();
    if rng.gen_bool(0.2) {
        path.push('/');
        path.push_str(pick(rng, API_PATHS));
    } else {
        if !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(pick(rng, REPOS));
        for _ in 0..rng.gen_range(0..6) {
            path.push('/');
            path.push_str(&segment(rng));
        }
    }
    if rng.gen_bool(0.1) {
        path.push('/');
    }
    if rng.gen_bool(0.2) {
        for _ in 0..rng.gen_range(1..4) {
            path.push(';');
            path.push_str(pick(rng, MATRIX));
        }
    }
    path
}

fn generate_query(rng: &mut StdRng) -> String {
    let n = rng.gen_range(1..4);
    (0..n)
        .map(|_| pick(rng, QUERY))
        .collect::<Vec<_>>()
        .join("&")
}

/// The request target: origin-form mostly; absolute-form, authority-form, asterisk and junk.
pub fn generate_target(rng: &mut StdRng, method: &str) -> Vec<u8> {
    let origin = |rng: &mut StdRng| {
        let mut t = generate_path(rng);
        if rng.gen_bool(0.3) {
            t.push('?');
            t.push_str(&generate_query(rng));
        }
        t
    };
    let shape = if method == "CONNECT" && rng.gen_bool(0.7) {
        7
    } else {
        rng.gen_range(0..12)
    };
    let text = match shape {
        0..=5 => origin(rng),
        6 => {
            let scheme = pick(
                rng,
                &[
                    "http://",
                    "https://",
                    "HTTP://",
                    "ftp://",
                    "http://user:pw@",
                ],
            );
            format!("{scheme}{}{}", pick(rng, HOSTS), origin(rng))
        }
        7 => pick(
            rng,
            &[
                "a:1",
                "x",
                "example.com",
                "example.com:443",
                "[::1]:80",
                "h:0",
                "a:99999",
                "x:",
            ],
        )
        .to_string(),
        8 => "*".to_string(),
        9 => pick(
            rng,
            &[
                "",
                "/",
                "//",
                "/%",
                "?",
                "?a=b",
                "#frag",
                "/#x",
                "/a b",
                "/\u{10FFFF}",
                "/é",
            ],
        )
        .to_string(),
        10 => format!("{}?{}", pick(rng, &["", "x", "*"]), generate_query(rng)),
        _ => origin(rng),
    };
    text.into_bytes()
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub fn header_value(rng: &mut StdRng, name: &str) -> Vec<u8> {
    let token = || format!("arca_{}", "A".repeat(43));
    let text = match name {
        "Host" => pick(rng, HOSTS).to_string(),
        "Authorization" => match rng.gen_range(0..10) {
            0..=2 => basic(
                pick(
                    rng,
                    &[
                        "admin",
                        "",
                        "deployer",
                        "é",
                        "a:b",
                        "\0",
                        "x".repeat(300).as_str(),
                    ],
                ),
                pick(rng, &["password", "", ":", &token(), "p\u{10FFFF}"]),
            ),
            3 => format!(
                "Basic {}",
                pick(
                    rng,
                    &[
                        "",
                        "====",
                        "YWRtaW4",
                        "YWRtaW4=",
                        "!!!",
                        "YW Rt",
                        "/w==",
                        "gA==",
                        "YWRtaW46\u{0}"
                    ]
                )
            ),
            4 => format!(
                "Bearer {}",
                pick(rng, &[token().as_str(), "", "x", "arca_", "a.b.c"])
            ),
            5 => token(),
            6 => pick(
                rng,
                &[
                    "Digest x",
                    "basic",
                    "Basic",
                    " Basic  YQ== ",
                    "BASIC YTpi",
                    "Negotiate",
                ],
            )
            .to_string(),
            7 => return b"Basic \xff\xfe".to_vec(),
            _ => basic("admin", "password"),
        },
        "X-JFrog-Art-Api" => pick(rng, &["", "x", "arca_", "AKCp5bueTFQ"]).to_string(),
        "Cookie" => match rng.gen_range(0..5) {
            0 => format!("ARCA_SESSION={}", hex_string(rng, 32)),
            1 => format!("ARCA_SESSION=\"{}\"", hex_string(rng, 32)),
            2 => {
                let len = rng.gen_range(0..40);
                format!("a=b; ARCA_SESSION={}; c", hex_string(rng, len))
            }
            3 => pick(
                rng,
                &[
                    "ARCA_SESSION",
                    "=;=;",
                    ";;",
                    "ARCA_SESSION=",
                    "ARCA_SESSION==x",
                ],
            )
            .to_string(),
            _ => format!("ARCA_SESSION={}", "é".repeat(16)),
        },
        "Range" => match rng.gen_range(0..3) {
            0 => pick(
                rng,
                &[
                    "bytes=0-1",
                    "bytes=-5",
                    "bytes=5-",
                    "bytes=1-0",
                    "bytes=0-1,2-3",
                    "bytes=",
                    "items=1-2",
                    "bytes=-0",
                    "bytes=18446744073709551615-18446744073709551616",
                    "bytes=--1",
                    "bytes= 1 - 2 ",
                    "bytes=-18446744073709551615",
                    "bytes=0-",
                    "bytes",
                ],
            )
            .to_string(),
            1 => format!("bytes={}-{}", rng.r#gen::<u64>(), rng.r#gen::<u64>()),
            _ => format!("bytes=-{}", rng.r#gen::<u64>()),
        },
        "If-None-Match" => pick(
            rng,
            &[
                "\"abc\"",
                "*",
                "W/\"x\"",
                ",",
                "\"",
                "W/",
                ", ,",
                "\"0000\", *",
            ],
        )
        .to_string(),
        "If-Modified-Since" => pick(
            rng,
            &[
                "Thu, 01 Jan 1970 00:00:00 GMT",
                "Sun, 31 Dec 9999 23:59:59 GMT",
                "Mon, 01 Jan 0000 00:00:00 GMT",
                "yesterday",
                "",
                "Sunday, 06-Nov-94 08:49:37 GMT",
                "Sun Nov  6 08:49:37 1994",
                "Fri, 31 Feb 2025 25:61:61 GMT",
            ],
        )
        .to_string(),
        "X-Checksum-Sha1" | "X-Checksum-Sha256" | "X-Checksum-Md5" | "X-Checksum"
        | "X-Checksum-Deploy" => {
            let len = *[0, 31, 32, 40, 63, 64, 65, 128].choose(rng).unwrap_or(&40);
            if name == "X-Checksum-Deploy" {
                pick(rng, &["true", "false", "1", ""]).to_string()
            } else {
                hex_string(rng, len)
            }
        }
        "Transfer-Encoding" => pick(
            rng,
            &[
                "chunked",
                "gzip, chunked",
                "chunked, gzip",
                "identity",
                "chunked\t",
                "x",
            ],
        )
        .to_string(),
        "Content-Length" => pick(
            rng,
            &[
                "0",
                "5",
                "-1",
                "18446744073709551616",
                "5, 5",
                "5,6",
                " 5",
                "0x5",
                "",
            ],
        )
        .to_string(),
        "X-Forwarded-Proto" => pick(rng, &["https", "http", "ftp", "", "https, http"]).to_string(),
        "X-Forwarded-For" => pick(rng, &["10.0.0.1", "a, b", "", "::1"]).to_string(),
        "X-Forwarded-Host" => pick(rng, HOSTS).to_string(),
        "X-Artifactory-Override-Base-Url" | "X-JFrog-Override-Base-Url" => pick(
            rng,
            &[
                "http://x/",
                "https://",
                "javascript:alert(1)",
                "http://a b",
                "https://h/ctx//",
            ],
        )
        .to_string(),
        "Expect" => pick(rng, &["100-continue", "200-ok", ""]).to_string(),
        "Connection" => pick(
            rng,
            &["close", "keep-alive", "Upgrade", "close, close", "TE"],
        )
        .to_string(),
        "Upgrade" => pick(rng, &["h2c", "websocket", ""]).to_string(),
        "X-Requested-With" => "XMLHttpRequest".to_string(),
        _ => pick(
            rng,
            &["application/json", "*/*", "", "text/html; charset=utf-8"],
        )
        .to_string(),
    };
    text.into_bytes()
}

pub const HEADER_NAMES: &[&str] = &[
    "Authorization",
    "Authorization",
    "Cookie",
    "Range",
    "If-None-Match",
    "If-Modified-Since",
    "X-Checksum-Sha1",
    "X-Checksum-Sha256",
    "X-Checksum-Md5",
    "X-Checksum",
    "X-Checksum-Deploy",
    "Transfer-Encoding",
    "Content-Length",
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Artifactory-Override-Base-Url",
    "X-JFrog-Override-Base-Url",
    "X-JFrog-Art-Api",
    "Expect",
    "Connection",
    "Upgrade",
    "Content-Type",
    "Accept",
    "X-Requested-With",
    "Host",
];

/// A request as bytes: request line, headers and a body (chunked or sized, sometimes wrong).
pub fn generate_structured_request(rng: &mut StdRng) -> Vec<u8> {
    let method = pick(rng, METHODS);
    let mut out = Vec::new();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(&generate_target(rng, method));
    out.push(b' ');
    out.extend_from_slice(pick(rng, VERSIONS).as_bytes());
    out.extend_from_slice(b"\r\n");
    if rng.gen_bool(0.9) {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(&header_value(rng, "Host"));
        out.extend_from_slice(b"\r\n");
    }
    let mut chunked = false;
    let mut length = None;
    for _ in 0..rng.gen_range(0..7) {
        let name = pick(rng, HEADER_NAMES);
        let value = header_value(rng, name);
        chunked |= name == "Transfer-Encoding" && value.ends_with(b"chunked");
        if name == "Content-Length" {
            length = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok());
        }
        let name = if rng.gen_bool(0.1) {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        };
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let body: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.r#gen()).collect();
    if chunked {
        match rng.gen_range(0..4) {
            0 => out.extend_from_slice(b"zz\r\nxx\r\n0\r\n\r\n"),
            1 => out.extend_from_slice(b"ffffffffffffffffff\r\n"),
            2 => out.extend_from_slice(format!("{:x};ext=1\r\n", body.len()).as_bytes()),
            _ => {
                out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
                out.extend_from_slice(b"\r\n0\r\n\r\n");
            }
        }
    } else if let Some(n) = length {
        let n = if rng.gen_bool(0.8) {
            n.min(body.len())
        } else {
            body.len()
        };
        out.extend_from_slice(&body[..n]);
    } else if rng.gen_bool(0.1) {
        out.extend_from_slice(&body);
    }
    out
}

/// One input of `front`: a generated request (sometimes two, pipelined) or a corpus entry,
/// mutated half of the time.
pub fn generate_request_bytes(rng: &mut StdRng) -> Vec<u8> {
    let mut data = if rng.gen_bool(0.1) {
        pick(rng, CORPUS).as_bytes().to_vec()
    } else {
        generate_structured_request(rng)
    };
    if rng.gen_bool(0.05) {
        let second = generate_structured_request(rng);
        data.extend_from_slice(&second);
    }
    if rng.gen_bool(0.5) {
        let other = if rng.gen_bool(0.5) {
            pick(rng, CORPUS).as_bytes().to_vec()
        } else {
            generate_structured_request(rng)
        };
        mutate(rng, &mut data, DICTIONARY, &other, 6, MAX_INPUT);
    }
    data.truncate(MAX_INPUT);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_requests_reach_every_kind_of_answer() {
        // A generator that only produced what hyper refuses would test nothing of arca.
        let mut front = Front::new().unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for i in 0..1500 {
            let input = front.generate(&mut crate::runner::iteration_rng(1, "front", i));
            let wire = front.runtime.block_on(front.through_hyper(&input)).unwrap();
            let status = String::from_utf8_lossy(wire.get(9..12).unwrap_or_default()).into_owned();
            *seen.entry(status).or_insert(0) += 1;
        }
        for status in ["", "200", "400", "404"] {
            assert!(
                seen.get(status).is_some_and(|n| *n >= 20),
                "{status}: {seen:?}"
            );
        }
        assert!(seen.contains_key("501"), "{seen:?}");
        eprintln!("answers to 1500 generated requests: {seen:?}");
    }

    #[test]
    fn split_request_finds_the_parts() {
        let parts = split_request(b"PUT /a?b HTTP/1.1\r\nHost: h \r\nX:y:z\r\n\r\nbody");
        assert_eq!(parts.method, b"PUT");
        assert_eq!(parts.target, b"/a?b");
        assert_eq!(
            parts.headers,
            vec![(&b"Host"[..], &b"h"[..]), (&b"X"[..], &b"y:z"[..])]
        );
        assert_eq!(parts.body, b"body");
        assert_eq!(split_request(b"").method, b"");
    }

    #[test]
    fn the_wire_check_accepts_client_errors_and_refuses_server_errors() {
        assert!(check_wire(b"", false).is_ok());
        assert!(check_wire(b"HTTP/1.1 400 Bad Request\r\n\r\n", false).is_ok());
        assert!(check_wire(b"HTTP/1.0 200 OK\r\n\r\n", false).is_ok());
        assert!(check_wire(b"HTTP/1.1 500 Internal Server Error\r\n\r\n", true).is_err());
        assert!(check_wire(b"HTTP/1.1 501 Not Implemented\r\n\r\n", false).is_err());
        assert!(check_wire(b"HTTP/1.1 501 Not Implemented\r\n\r\n", true).is_ok());
        assert!(check_wire(b"garbage", false).is_err());
        assert!(mentions_transfer_encoding(
            b"PUT / HTTP/1.1\r\ntransfer-ENCODING: gzip\r\n"
        ));
    }
}

//! Target `front`: raw request bytes through the server's front end.
//!
//! Each input is written to an in-memory connection served by hyper's HTTP/1 server with the
//! stack of `arca_server::serve`: `TargetGuard(warp::service(filter))`, the filter being the
//! server's own extraction (`arca_server::http::router::extract`: method, full path, raw query,
//! headers, peer, body) followed by `arca_server::inspect::inspect` instead of the handlers. The same input is also split into its parts by
//! hand and given to the guarded service directly (targets hyper itself would refuse) and to
//! `inspect` directly (paths warp would never hand over).
//!
//! Properties: nothing panics; every response is `HTTP/1.x` with a status below 500 (hyper
//! may also close the connection on a request it cannot parse); nothing hangs.
//!
//! [`generate`] writes the inputs; [`checks`] holds the properties every answer must have and
//! the by-hand splitting of a raw request.

mod checks;
mod generate;

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use arca_server::front::TargetGuard;
use arca_server::http::BodyStream;
use arca_server::http::error::{ApiError, text_response};
use arca_server::http::router::{RequestHead, extract, malformed};
use arca_server::inspect::inspect;
use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_service::Service;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{Method, Request, StatusCode, Uri};
use warp::reply::Response;

pub use checks::{CONTEXT_PATH, MAX_PATH_LENGTH, RawParts, split_request};
use checks::{acceptable, check_inspect, check_wire, header_map, mentions_transfer_encoding};
use generate::MAX_INPUT;
pub use generate::{
    CORPUS, DICTIONARY, HEADER_NAMES, generate_path, generate_request_bytes,
    generate_structured_request, generate_target, header_value,
};

use crate::runner::Target;

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

/// The filter: `http::router::routes`' extraction, then [`inspect`] instead of the handlers.
fn front_filter(bug: Option<PlantedBug>) -> BoxedFilter<(Response,)> {
    extract()
        .then(
            move |head: RequestHead, body: BodyStream| async move { answer(bug, head, body).await },
        )
        .recover(malformed)
        .unify()
        .boxed()
}

async fn answer(bug: Option<PlantedBug>, head: RequestHead, body: BodyStream) -> Response {
    let RequestHead {
        method,
        path,
        raw_query: query,
        headers,
        ..
    } = head;
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
}

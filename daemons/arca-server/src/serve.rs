//! The accept loop. warp's own `Server` can't set socket options on accepted
//! connections and logs every client that hangs up mid-request as an error, so
//! arca drives hyper itself: `TCP_NODELAY` on every connection (small
//! responses are written as headers + body; Nagle would hold the second write
//! for a delayed ACK, ~40 ms per request), connection errors at debug level,
//! and a graceful shutdown that stops accepting and lets in-flight requests finish.
//!
//! Slow or idle clients cannot hold the node's file descriptors: a connection must send a
//! request's headers within the header read timeout (an idle keep-alive connection is closed
//! after the same time), a request body that sends nothing for the body idle timeout is
//! aborted, and at most `max_connections` connections are open at once (further ones wait in
//! the listen backlog, with one log line a minute saying so).

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::front::TargetGuard;
use crate::http::request::BodyIdleTimeout;
use crate::state::App;
use crate::zero_copy::{SpanQueue, ZeroCopyIo};

/// How often the "connection limit reached" line may be logged.
const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The connection-level limits (`arca.http.*` of system.properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to send a request's headers; an idle keep-alive connection is closed after it.
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long is aborted.
    pub body_idle_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// Plain-HTTP downloads of stored files with `sendfile` ([`crate::zero_copy`]).
    pub zero_copy: bool,
}

impl Default for HttpLimits {
    fn default() -> Self {
        use arca_config::system::{
            DEFAULT_HTTP_BODY_IDLE_TIMEOUT_SECS, DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS,
            DEFAULT_HTTP_MAX_CONNECTIONS,
        };
        HttpLimits {
            header_read_timeout: Duration::from_secs(DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS),
            body_idle_timeout: Duration::from_secs(DEFAULT_HTTP_BODY_IDLE_TIMEOUT_SECS),
            max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
            zero_copy: true,
        }
    }
}

impl HttpLimits {
    /// The limits configured in `system.properties`.
    pub fn from_settings(sys: &arca_config::SystemSettings) -> HttpLimits {
        HttpLimits {
            header_read_timeout: sys.http_header_read_timeout,
            body_idle_timeout: sys.http_body_idle_timeout,
            max_connections: sys.http_max_connections,
            zero_copy: sys.http_zero_copy,
        }
    }
}

/// The optional HTTPS listener and its TLS acceptor.
pub struct HttpsListener {
    pub listener: TcpListener,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// The next connection of the HTTPS listener; never, without one.
async fn accept_https(
    https: Option<&HttpsListener>,
) -> std::io::Result<(TcpStream, SocketAddr, Option<tokio_rustls::TlsAcceptor>)> {
    match https {
        Some(h) => {
            let (stream, peer) = h.listener.accept().await?;
            Ok((stream, peer, Some(h.acceptor.clone())))
        }
        None => std::future::pending().await,
    }
}

/// Serve HTTP/1.1 on `listener` (and HTTPS on `https`) until `shutdown` resolves, then wait
/// for the open connections to finish their current request.
pub async fn serve_http(
    app: App,
    listener: TcpListener,
    https: Option<HttpsListener>,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let filter = crate::http::router::routes(app);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut limit_logged: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A permit first: above the limit, new connections stay in the listen backlog.
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if limit_logged.is_none_or(|at| at.elapsed() >= LIMIT_LOG_INTERVAL) {
                    limit_logged = Some(Instant::now());
                    tracing::warn!(
                        "connection limit reached: {} connections are open \
                         ({} in system.properties); new connections wait until one closes",
                        limits.max_connections,
                        arca_config::system::HTTP_MAX_CONNECTIONS
                    );
                }
                tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break, // never closed
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted.map(|(stream, peer)| (stream, peer, None)),
            accepted = accept_https(https.as_ref()) => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer, tls) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let service = TowerToHyperService::new(TargetGuard(warp::service(filter.clone())));
        let idle = limits.body_idle_timeout;
        // Plain connections send stored files with sendfile; TLS ones stream them.
        let spans = (tls.is_none() && limits.zero_copy).then(SpanQueue::default);
        let request_spans = spans.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(|body| IdleTimeoutBody::new(body, idle));
                // the client's address, for the login back-off (`http::auth::client_source`)
                req.extensions_mut()
                    .insert(crate::http::auth::PeerAddr(peer));
                if let Some(spans) = &request_spans {
                    req.extensions_mut().insert(spans.clone());
                }
                hyper::service::Service::call(&service, req)
            });
        let watcher = graceful.watcher();
        let header_read_timeout = limits.header_read_timeout;
        // The same connection setup for plain TCP and TLS streams.
        macro_rules! serve_connection {
            ($io:expr) => {{
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new($io), service);
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }};
        }
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => match spans {
                    Some(spans) => serve_connection!(ZeroCopyIo::new(stream, spans)),
                    None => serve_connection!(stream),
                },
                // The handshake gets the header read timeout too: a client that opens a TLS
                // connection and sends nothing holds it no longer than a plain one.
                Some(acceptor) => {
                    match tokio::time::timeout(header_read_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection!(stream),
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    drop(https);
    graceful.shutdown().await;
}

/// A request body that fails with [`BodyIdleTimeout`] when its reader waits longer than the
/// idle timeout for the next frame. The clock runs only while the handler waits for data, so a
/// handler that is slow to read (writing to a slow disk) never trips it, and a slow client that
/// keeps sending is never cut off.
pub struct IdleTimeoutBody<B> {
    inner: B,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The timer counts from the first `Pending` after the last frame.
    armed: bool,
    /// Once timed out, the body stays failed.
    timed_out: bool,
}

impl<B> IdleTimeoutBody<B> {
    pub fn new(inner: B, idle: Duration) -> IdleTimeoutBody<B> {
        IdleTimeoutBody {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            armed: false,
            timed_out: false,
        }
    }
}

impl<B> Body for IdleTimeoutBody<B>
where
    B: Body + Unpin,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(Some(Err(BodyIdleTimeout(this.idle).into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.armed {
                    this.armed = true;
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.timed_out = true;
                        let e = BodyIdleTimeout(this.idle);
                        tracing::info!("aborting a request: {e}");
                        Poll::Ready(Some(Err(e.into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, StreamBody};

    type Chunks =
        StreamBody<futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, std::io::Error>>>;

    fn delayed_chunks(gaps_ms: &'static [u64]) -> Chunks {
        let stream = futures_util::stream::unfold(0usize, move |i| async move {
            let gap = *gaps_ms.get(i)?;
            tokio::time::sleep(Duration::from_millis(gap)).await;
            Some((Ok(Frame::data(Bytes::from_static(b"x"))), i + 1))
        });
        StreamBody::new(futures_util::StreamExt::boxed(stream))
    }

    #[tokio::test]
    async fn a_body_that_keeps_sending_is_read_to_the_end() {
        // Eight chunks 100 ms apart: 800 ms in all, each gap under the 300 ms idle timeout.
        let body = IdleTimeoutBody::new(delayed_chunks(&[100; 8]), Duration::from_millis(300));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 8);
    }

    #[tokio::test]
    async fn a_body_silent_for_longer_than_the_timeout_fails() {
        let mut body =
            IdleTimeoutBody::new(delayed_chunks(&[10, 10, 5000]), Duration::from_millis(1000));
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.unwrap().is_ok());
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.is::<BodyIdleTimeout>(), "{err}");
        assert!(
            err.to_string()
                .contains("no request body data for 1 s (arca.http.body.idle.timeout.secs)"),
            "{err}"
        );
    }
}

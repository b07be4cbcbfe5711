//! The accept loop. warp's own `Server` can't set socket options on accepted
//! connections and logs every client that hangs up mid-request as an error, so
//! arca drives hyper itself: `TCP_NODELAY` on every connection (small
//! responses are written as headers + body; Nagle would hold the second write
//! for a delayed ACK, ~40 ms per request), connection errors at debug level,
//! and a graceful shutdown that stops accepting and lets in-flight requests finish.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::state::App;

/// Serve HTTP/1.1 on `listener` until `shutdown` resolves, then wait for the
/// open connections to finish their current request.
pub async fn serve_http(
    app: App,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let filter = crate::http::routes(app);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
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
        let service = TowerToHyperService::new(warp::service(filter.clone()));
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

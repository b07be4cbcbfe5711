//! The `remote` provider of a sharding-cluster: another node's own store, reached over HTTP
//! at `{context.url}/api/system/storage/binaries/{sha256}`.
//!
//! Every request is signed with the cluster's master key ([`RequestSigner`], v2) in this
//! node's name, for the peer's node id and the body's SHA-256 (the binary's own for a `PUT`,
//! the empty body's otherwise), so a captured request is good for that peer and body only;
//! the peer answers from its own state-aware store only, never through its chain, so a
//! request can't bounce between nodes. Parameters come from the `remote` provider
//! ([`RemoteSpec`]): connect and socket timeouts, at most `maxConnections` requests in flight
//! per peer, `connectionRetry` retries of a connection that fails, and a peer that fails to
//! connect (or times out) is skipped for `checkPeriod` — the circuit breaker — so a dead node
//! costs one timeout per period instead of one per deploy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arca_config::storage_plan::RemoteSpec;
use arca_crypto::master_key::{EMPTY_SHA256, NodeRequest, RequestSigner};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::checksums::validate_sha256;
use arca_ipc::error_chain;

use crate::download::HashingWriter;
use crate::{Checksums, StorageError};

/// The peer endpoint below a node's context URL.
pub const PEER_BINARIES_PATH: &str = "/api/system/storage/binaries/";

/// First pause before retrying a connection (doubled per retry).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// A peer node as the node registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub node_id: String,
    /// Its `context.url`, without a trailing `/` (e.g. `http://10.0.0.12:8081/artifactory`).
    pub url: String,
}

/// What a peer did with a delete request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerDelete {
    /// The copy was deleted.
    Deleted,
    /// The peer had no copy.
    Absent,
    /// The peer kept its copy because its database still knows the binary (a deploy of the
    /// same content committed meanwhile).
    Kept,
}

/// Per-peer state: the circuit breaker and the connection limit.
#[derive(Debug)]
struct PeerState {
    skip_until: Option<Instant>,
    permits: Arc<Semaphore>,
}

/// HTTP client for peer nodes' stores. Cheap to share (`Arc` inside reqwest).
#[derive(Debug)]
pub struct PeerClient {
    http: reqwest::Client,
    signer: RequestSigner,
    node_id: String,
    spec: RemoteSpec,
    peers: Mutex<HashMap<String, PeerState>>,
}

/// The outcome of one attempt, before retries.
enum Failure {
    /// Could not connect, or the peer did not answer in time: retried, and trips the breaker.
    Connection(String),
    /// Anything else (an HTTP status, a broken body, a local error).
    Other(StorageError),
}

impl PeerClient {
    /// A client signing as `node_id` with `signer`.
    pub fn new(
        spec: &RemoteSpec,
        signer: RequestSigner,
        node_id: &str,
    ) -> Result<PeerClient, StorageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(spec.connection_timeout)
            // Per read, not per request: a large binary may take longer than any fixed limit,
            // but a peer that stops sending for a socket timeout is dead.
            .read_timeout(spec.socket_timeout)
            .pool_max_idle_per_host(spec.max_connections)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // Peers are addressed by their context URL; never follow a redirect elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StorageError::Unusable {
                path: PathBuf::from(PEER_BINARIES_PATH),
                reason: format!("cannot build the peer HTTP client: {e}"),
            })?;
        Ok(PeerClient {
            http,
            signer,
            node_id: node_id.to_owned(),
            spec: spec.clone(),
            peers: Mutex::new(HashMap::new()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HashMap<String, PeerState>> {
        // A poisoned lock only means another thread panicked while updating plain fields.
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// False while the peer is skipped after a connection failure (for `checkPeriod`).
    pub fn is_available(&self, node_id: &str) -> bool {
        self.state()
            .get(node_id)
            .and_then(|s| s.skip_until)
            .is_none_or(|until| Instant::now() >= until)
    }

    fn trip(&self, peer: &Peer, why: &str) {
        let mut state = self.state();
        let entry = state
            .entry(peer.node_id.clone())
            .or_insert_with(|| self.new_state());
        let first = entry.skip_until.is_none_or(|u| Instant::now() >= u);
        entry.skip_until = Some(Instant::now() + self.spec.check_period);
        drop(state);
        if first {
            tracing::warn!(
                peer = %peer.node_id,
                url = %peer.url,
                error = why,
                "peer node unreachable; skipping it for {} ms (checkPeriod)",
                self.spec.check_period.as_millis()
            );
        }
    }

    fn reset(&self, peer: &Peer) {
        let mut state = self.state();
        if let Some(s) = state.get_mut(&peer.node_id)
            && s.skip_until.take().is_some()
        {
            tracing::info!(peer = %peer.node_id, "peer node reachable again");
        }
    }

    fn new_state(&self) -> PeerState {
        PeerState {
            skip_until: None,
            permits: Arc::new(Semaphore::new(self.spec.max_connections.max(1))),
        }
    }

    fn permits(&self, peer: &Peer) -> Arc<Semaphore> {
        self.state()
            .entry(peer.node_id.clone())
            .or_insert_with(|| self.new_state())
            .permits
            .clone()
    }

    /// URL of `sha256` on `peer`, and the path and query the signature covers.
    fn target(&self, peer: &Peer, sha256: &str) -> Result<(reqwest::Url, String), StorageError> {
        let raw = format!(
            "{}{PEER_BINARIES_PATH}{sha256}",
            peer.url.trim_end_matches('/')
        );
        let url = reqwest::Url::parse(&raw).map_err(|e| StorageError::Peer {
            op: "address",
            node: peer.node_id.clone(),
            sha256: sha256.to_owned(),
            status: None,
            message: format!("context URL {:?} is unusable: {e}", peer.url),
            transient: false,
        })?;
        let signed = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        Ok((url, signed))
    }

    /// A request signed for `peer` with a body hashing to `content_sha256` (fresh timestamp
    /// and nonce: each retry is signed anew, since the peer refuses a replayed nonce).
    fn request(
        &self,
        method: reqwest::Method,
        peer: &Peer,
        url: &reqwest::Url,
        signed_path: &str,
        content_sha256: &str,
    ) -> reqwest::RequestBuilder {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let headers = self.signer.headers(
            &NodeRequest {
                method: method.as_str(),
                path_and_query: signed_path,
                target_node: &peer.node_id,
                content_sha256,
            },
            &self.node_id,
            now,
            &arca_crypto::random_hex(16),
        );
        // `header` appends: in v1 compatibility mode both signatures are sent, v1 first.
        headers.into_iter().fold(
            self.http.request(method, url.clone()),
            |builder, (name, value)| builder.header(name, value),
        )
    }

    /// One of the peer's `maxConnections` slots, held for a whole request (body included).
    async fn slot(&self, peer: &Peer) -> Result<OwnedSemaphorePermit, StorageError> {
        self.permits(peer)
            .acquire_owned()
            .await
            .map_err(|e| StorageError::Worker("peer connection limit", e.to_string()))
    }

    /// Run `attempt`, retrying connection failures `connectionRetry` times; the last
    /// connection failure trips the breaker.
    async fn with_retries<T, F, Fut>(
        &self,
        op: &'static str,
        peer: &Peer,
        sha256: &str,
        mut attempt: F,
    ) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        if !self.is_available(&peer.node_id) {
            return Err(StorageError::Peer {
                op,
                node: peer.node_id.clone(),
                sha256: sha256.to_owned(),
                status: None,
                message: "skipped: it failed recently (checkPeriod)".into(),
                transient: true,
            });
        }
        let mut pause = RETRY_PAUSE;
        let mut tries = 0;
        loop {
            match attempt().await {
                Ok(v) => {
                    self.reset(peer);
                    return Ok(v);
                }
                Err(Failure::Other(e)) => {
                    // it answered (or the failure is ours): reachable
                    self.reset(peer);
                    return Err(e);
                }
                Err(Failure::Connection(message)) => {
                    if tries < self.spec.connection_retry {
                        tries += 1;
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                        continue;
                    }
                    self.trip(peer, &message);
                    return Err(StorageError::Peer {
                        op,
                        node: peer.node_id.clone(),
                        sha256: sha256.to_owned(),
                        status: None,
                        message,
                        transient: true,
                    });
                }
            }
        }
    }

    /// Classify a transport error: connection problems and timeouts are retried.
    fn transport(&self, op: &'static str, peer: &Peer, sha256: &str, e: reqwest::Error) -> Failure {
        if e.is_connect() || e.is_timeout() {
            Failure::Connection(error_chain(&e))
        } else {
            Failure::Other(StorageError::Peer {
                op,
                node: peer.node_id.clone(),
                sha256: sha256.to_owned(),
                status: None,
                message: error_chain(&e),
                transient: true,
            })
        }
    }

    /// An unexpected answer; the peer's `{"errors":[…]}` message is kept when there is one.
    async fn status_error(
        op: &'static str,
        peer: &Peer,
        sha256: &str,
        resp: reqwest::Response,
    ) -> StorageError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        StorageError::Peer {
            op,
            node: peer.node_id.clone(),
            sha256: sha256.to_owned(),
            status: Some(status.as_u16()),
            message: format!("HTTP {status}: {message}"),
            transient: status.is_server_error()
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Store `file` (complete, with these checksums) on `peer` as `sha256`. The peer hashes
    /// what it receives and refuses (409) content that does not match.
    pub async fn put(
        &self,
        peer: &Peer,
        sha256: &str,
        file: &Path,
        sums: &Checksums,
    ) -> Result<(), StorageError> {
        validate_sha256(sha256)?;
        let (url, signed) = self.target(peer, sha256)?;
        let _slot = self.slot(peer).await?;
        self.with_retries("put", peer, sha256, || async {
            let f = tokio::fs::File::open(file)
                .await
                .map_err(|e| Failure::Other(StorageError::io("open", file, e)))?;
            let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
                f,
                crate::download::BATCH,
            ));
            let resp = self
                .request(reqwest::Method::PUT, peer, &url, &signed, &sums.sha256)
                .header(reqwest::header::CONTENT_LENGTH, sums.size)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header("x-checksum-sha256", &sums.sha256)
                .header("x-checksum-sha1", &sums.sha1)
                .header("x-checksum-md5", &sums.md5)
                .body(body)
                .send()
                .await
                .map_err(|e| self.transport("put", peer, sha256, e))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(Failure::Other(
                    Self::status_error("put", peer, sha256, resp).await,
                ))
            }
        })
        .await
    }

    /// Size of `peer`'s copy of `sha256`, `None` when it has none.
    pub async fn head(&self, peer: &Peer, sha256: &str) -> Result<Option<u64>, StorageError> {
        validate_sha256(sha256)?;
        let (url, signed) = self.target(peer, sha256)?;
        let _slot = self.slot(peer).await?;
        self.with_retries("head", peer, sha256, || async {
            let resp = self
                .request(reqwest::Method::HEAD, peer, &url, &signed, EMPTY_SHA256)
                .timeout(self.spec.connection_timeout + self.spec.socket_timeout)
                .send()
                .await
                .map_err(|e| self.transport("head", peer, sha256, e))?;
            match resp.status() {
                s if s.is_success() => Ok(resp
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())),
                reqwest::StatusCode::NOT_FOUND => Ok(None),
                _ => Err(Failure::Other(
                    Self::status_error("head", peer, sha256, resp).await,
                )),
            }
        })
        .await
    }

    /// Ask `peer` to delete its copy of `sha256`; it does so only when its database does not
    /// know the binary (garbage collection deleted the row first).
    pub async fn delete(&self, peer: &Peer, sha256: &str) -> Result<PeerDelete, StorageError> {
        validate_sha256(sha256)?;
        let (url, signed) = self.target(peer, sha256)?;
        let _slot = self.slot(peer).await?;
        self.with_retries("delete", peer, sha256, || async {
            let resp = self
                .request(reqwest::Method::DELETE, peer, &url, &signed, EMPTY_SHA256)
                .timeout(self.spec.connection_timeout + self.spec.socket_timeout)
                .send()
                .await
                .map_err(|e| self.transport("delete", peer, sha256, e))?;
            match resp.status() {
                s if s.is_success() => Ok(PeerDelete::Deleted),
                reqwest::StatusCode::NOT_FOUND => Ok(PeerDelete::Absent),
                reqwest::StatusCode::CONFLICT => Ok(PeerDelete::Kept),
                _ => Err(Failure::Other(
                    Self::status_error("delete", peer, sha256, resp).await,
                )),
            }
        })
        .await
    }

    /// Download `peer`'s copy of `sha256` into `dest` (created, or truncated when it exists;
    /// the caller owns it and removes it on failure), fsync it, and return its checksums,
    /// computed while writing on a blocking thread, with a bounded queue in between. The caller
    /// compares them with what it expects. A peer without a copy is
    /// [`StorageError::NotFound`].
    pub async fn download_to(
        &self,
        peer: &Peer,
        sha256: &str,
        dest: &Path,
    ) -> Result<Checksums, StorageError> {
        validate_sha256(sha256)?;
        let (url, signed) = self.target(peer, sha256)?;
        let _slot = self.slot(peer).await?;
        let mut resp = self
            .with_retries("get", peer, sha256, || async {
                let resp = self
                    .request(reqwest::Method::GET, peer, &url, &signed, EMPTY_SHA256)
                    .send()
                    .await
                    .map_err(|e| self.transport("get", peer, sha256, e))?;
                match resp.status() {
                    s if s.is_success() => Ok(resp),
                    reqwest::StatusCode::NOT_FOUND => {
                        Err(Failure::Other(StorageError::NotFound(sha256.to_owned())))
                    }
                    _ => Err(Failure::Other(
                        Self::status_error("get", peer, sha256, resp).await,
                    )),
                }
            })
            .await?;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(dest)
            .map_err(|e| StorageError::io("create", dest, e))?;
        let mut writer = HashingWriter::spawn(file, dest.to_path_buf());
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    if e.is_timeout() {
                        self.trip(peer, &e.to_string());
                    }
                    return Err(StorageError::Peer {
                        op: "get",
                        node: peer.node_id.clone(),
                        sha256: sha256.to_owned(),
                        status: None,
                        message: format!("reading the body: {}", error_chain(&e)),
                        transient: true,
                    });
                }
            };
            writer.push(&chunk).await?;
        }
        writer.finish().await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use arca_testkit::now_ms;

    fn spec(check_period: Duration) -> RemoteSpec {
        RemoteSpec {
            id: "remote".into(),
            connection_timeout: Duration::from_millis(500),
            socket_timeout: Duration::from_millis(500),
            max_connections: 4,
            connection_retry: 2,
            check_period,
        }
    }

    /// A peer address nothing listens on (connection refused at once).
    fn dead_peer() -> Peer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Peer {
            node_id: "dead".into(),
            url: format!("http://127.0.0.1:{port}/artifactory/"),
        }
    }

    #[tokio::test]
    async fn a_peer_that_refuses_connections_is_retried_then_skipped_for_check_period() {
        let client = PeerClient::new(
            &spec(Duration::from_millis(300)),
            RequestSigner::new(&[1; 16]),
            "me",
        )
        .unwrap();
        let peer = dead_peer();
        let sha = "ab".repeat(32);
        let started = Instant::now();
        let e = client.head(&peer, &sha).await.unwrap_err();
        // two retries with 200 ms and 400 ms pauses
        assert!(started.elapsed() >= Duration::from_millis(600), "{e}");
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("dead"), "{e}");
        assert!(!client.is_available("dead"));
        // skipped without trying while the breaker is open
        let started = Instant::now();
        let e = client.delete(&peer, &sha).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(100), "{e}");
        assert!(e.to_string().contains("skipped"), "{e}");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(client.is_available("dead"), "tried again after checkPeriod");
    }

    #[test]
    fn the_signed_path_includes_the_context_path() {
        let client = PeerClient::new(
            &spec(Duration::from_secs(1)),
            RequestSigner::new(&[1; 16]),
            "me",
        )
        .unwrap();
        let peer = Peer {
            node_id: "p".into(),
            url: "http://10.0.0.2:8081/artifactory/".into(),
        };
        let sha = "cd".repeat(32);
        let (url, signed) = client.target(&peer, &sha).unwrap();
        assert_eq!(
            url.as_str(),
            format!("http://10.0.0.2:8081/artifactory/api/system/storage/binaries/{sha}")
        );
        assert_eq!(
            signed,
            format!("/artifactory/api/system/storage/binaries/{sha}")
        );
        let bad = Peer {
            node_id: "p".into(),
            url: "not a url".into(),
        };
        assert!(client.target(&bad, &sha).is_err());
    }

    /// Accept one HTTP request on `listener`, answer `status` with an empty body, and return
    /// the request's head lines and its body.
    async fn capture(listener: tokio::net::TcpListener, status: &str) -> (Vec<String>, Vec<u8>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed before the request head ended");
            raw.extend_from_slice(&buf[..n]);
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
        };
        let head: Vec<String> = String::from_utf8(raw[..head_end].to_vec())
            .unwrap()
            .split("\r\n")
            .map(str::to_owned)
            .collect();
        let len: usize = head
            .iter()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = raw[head_end + 4..].to_vec();
        while body.len() < len {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&buf[..n]);
        }
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        conn.write_all(answer.as_bytes()).await.unwrap();
        (head, body)
    }

    /// Values of header `name` in `head`, in order.
    fn values(head: &[String], name: &str) -> Vec<String> {
        head.iter()
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .collect()
    }

    async fn listener() -> (tokio::net::TcpListener, Peer) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = Peer {
            node_id: "node-b".into(),
            url: format!("http://127.0.0.1:{port}/artifactory"),
        };
        (listener, peer)
    }

    #[tokio::test]
    async fn a_put_is_signed_v2_for_the_peer_and_the_body_digest() {
        use arca_crypto::master_key::{CONTENT_SHA256_HEADER, ReceivedRequest, SIGNATURE_HEADER};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("blob");
        let data = b"the binary".to_vec();
        std::fs::write(&file, &data).unwrap();
        let sums = Checksums::of_bytes(&data);
        let signer = RequestSigner::new(&[1; 16]);
        let client =
            PeerClient::new(&spec(Duration::from_secs(1)), signer.clone(), "node-a").unwrap();
        let (listener, peer) = listener().await;
        let server = tokio::spawn(capture(listener, "201 Created"));
        client.put(&peer, &sums.sha256, &file, &sums).await.unwrap();
        let (head, body) = server.await.unwrap();
        assert_eq!(body, data);
        let path = format!("/artifactory/api/system/storage/binaries/{}", sums.sha256);
        assert_eq!(head[0], format!("PUT {path} HTTP/1.1"));
        let signatures = values(&head, SIGNATURE_HEADER);
        assert_eq!(signatures.len(), 1, "v2 only: {head:?}");
        assert_eq!(
            values(&head, CONTENT_SHA256_HEADER),
            vec![sums.sha256.clone()]
        );
        let received = ReceivedRequest {
            method: "PUT",
            path_and_query: &path,
            this_node: "node-b",
            content_sha256: Some(&sums.sha256),
        };
        let by = signer
            .verify_request(
                signatures.iter().map(String::as_str),
                &received,
                now_ms(),
                60_000,
            )
            .unwrap();
        assert_eq!(by.node_id, "node-a");
        assert_eq!(by.content_sha256.as_deref(), Some(sums.sha256.as_str()));
        // the same request is no good at another node
        let elsewhere = ReceivedRequest {
            this_node: "node-c",
            ..received
        };
        assert!(
            signer
                .verify_request(
                    signatures.iter().map(String::as_str),
                    &elsewhere,
                    now_ms(),
                    60_000
                )
                .is_err()
        );
    }

    #[tokio::test]
    async fn in_v1_compatibility_mode_a_v1_signature_goes_first() {
        use arca_crypto::master_key::{CONTENT_SHA256_HEADER, EMPTY_SHA256, SIGNATURE_HEADER};
        let signer = RequestSigner::new(&[1; 16]).with_v1_compat(true);
        let client =
            PeerClient::new(&spec(Duration::from_secs(1)), signer.clone(), "node-a").unwrap();
        let (listener, peer) = listener().await;
        let server = tokio::spawn(capture(listener, "404 Not Found"));
        let sha = "ab".repeat(32);
        assert_eq!(client.head(&peer, &sha).await.unwrap(), None);
        let (head, _) = server.await.unwrap();
        let path = format!("/artifactory/api/system/storage/binaries/{sha}");
        let signatures = values(&head, SIGNATURE_HEADER);
        assert_eq!(signatures.len(), 2, "{head:?}");
        // what a node of an older version reads (the first value) verifies as v1
        signer
            .verify_v1(&signatures[0], "HEAD", &path, now_ms(), 60_000)
            .unwrap();
        assert!(
            signatures[1].starts_with("v2 node=node-a to=node-b "),
            "{head:?}"
        );
        assert_eq!(
            values(&head, CONTENT_SHA256_HEADER),
            vec![EMPTY_SHA256.to_owned()]
        );
    }
}

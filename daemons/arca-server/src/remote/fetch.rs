//! One download from an upstream, once for the whole cluster (see the module above).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::{Reply, Response};

use arca_db::items::{self, ChecksumKind};
use arca_db::remote::{self as shared, FetchClaim};
use arca_db::{Binary, Item, NewFile, Repo};

use super::remotes::{Done, PathKey};
use super::upstream::{Answer, Upstream};
use super::{Origin, assumed_offline, known_miss};
use crate::formats::Format;
use crate::http::Request;
use crate::http::error::{ApiError, ApiResult};
use crate::http::format;
use crate::state::AppState;

/// What a request gets: a stored item, or a response streaming the upstream's bytes while
/// they are cached.
pub enum Obtained {
    Streaming(Response),
    Stored(Box<Item>),
}

/// How the leader of a download answers its own request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stream to the client while caching.
    Stream,
    /// Cache first, then answer from the cache (`HEAD`, metadata merging, pure proxies).
    Whole,
    /// The cached copy is stale metadata: fetch it again; if another node is already doing
    /// so, the cached copy is served.
    Refresh,
}

/// A claim whose heartbeat is older than this belongs to a node that died (or hangs).
const CLAIM_STALE_MS: i64 = 15_000;
/// How often a running download refreshes its claim.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);
/// How often a node waiting for another node's download looks for the result.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// Chunks buffered between the download and a slow client (each ≤ the upstream's chunk).
const CLIENT_BUFFER: usize = 8;

/// Fetch `path` of remote repository `repo` from its upstream, or wait for the download of
/// it that is already running on this node or another.
pub async fn fetch(
    req: &Request,
    repo: &Repo,
    path: &str,
    mode: Mode,
    origin: &Origin,
) -> ApiResult<Obtained> {
    let app = req.app.clone();
    let user = match req.principal().await {
        Ok(p) => p.name().to_string(),
        Err(_) => arca_db::security::ANONYMOUS.to_string(),
    };
    let key: PathKey = (repo.key.clone(), path.to_string());
    loop {
        let role = {
            let mut in_flight = app
                .remotes
                .in_flight
                .lock()
                .map_err(|_| ApiError::internal("remote downloads", "lock poisoned"))?;
            match in_flight.get(&key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    in_flight.insert(key.clone(), rx);
                    Ok(tx)
                }
            }
        };
        match role {
            Ok(done) => {
                let leader = Leader {
                    app: app.clone(),
                    repo: repo.clone(),
                    path: path.to_string(),
                    user,
                    key,
                    done,
                    origin: origin.clone(),
                };
                return leader.run(mode).await;
            }
            Err(mut rx) => {
                let outcome = rx
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|d| d.clone());
                match outcome {
                    Some(Done::Stored) => {
                        if let Some(item) = stored_file(&app, &repo.key, path).await? {
                            return Ok(Obtained::Stored(Box::new(item)));
                        }
                    }
                    Some(Done::Failed(e)) => return Err(e),
                    // the leader's request went away before the end: try again
                    None => {}
                }
            }
        }
    }
}

/// A remote repository that does not store what it fetches (`storeArtifactsLocally=false`):
/// the upstream's answer is passed on, nothing is cached or shared.
pub async fn pass_through(
    req: &Request,
    repo: &Repo,
    path: &str,
    origin: &Origin,
) -> ApiResult<Obtained> {
    let upstream = req.app.remotes.upstream(&req.app.secrets, repo)?;
    match upstream
        .get_accepting(
            &upstream_url(&upstream, repo, path, origin),
            origin.accept.as_deref(),
        )
        .await
    {
        Answer::Found(response) => {
            let mut headers = warp::http::HeaderMap::new();
            artifact_headers(&mut headers, repo, path, &response);
            let body = response
                .bytes_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other));
            let mut resp = if req.method == warp::http::Method::HEAD {
                Response::default()
            } else {
                warp::reply::stream(body).into_response()
            };
            resp.headers_mut().extend(headers);
            Ok(Obtained::Streaming(resp))
        }
        Answer::Missing(said) => Err(ApiError::not_found(format!(
            "Could not find resource: {said}"
        ))),
        Answer::Failed { error, .. } => Err(error),
    }
}

/// The headers of an artifact streamed from the upstream: its type (as arca would serve
/// it), the download protections, its length and the checksums the upstream states.
fn artifact_headers(
    headers: &mut warp::http::HeaderMap,
    repo: &Repo,
    path: &str,
    response: &reqwest::Response,
) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let mime = format::mime_type(name);
    let mut put = |n: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(n, v);
        }
    };
    put("content-type", &mime);
    put("content-security-policy", crate::http::stored::ARTIFACT_CSP);
    put("x-artifactory-filename", &format::url_path(name));
    if !repo.content_inline && format::is_active_content(&mime) {
        put("content-disposition", &format::attachment(name));
    }
    if let Some(len) = response.content_length() {
        put("content-length", &len.to_string());
    }
    for name in ["x-checksum-sha1", "x-checksum-sha256"] {
        if let Some(v) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            put(name, v);
        }
    }
}

/// Where `path` of `repo` is upstream: the URL a format found it at (`origin`), the format's
/// name for it, or the path under the upstream's URL.
fn upstream_url(upstream: &Upstream, repo: &Repo, path: &str, origin: &Origin) -> String {
    if let Some(url) = &origin.url {
        return url.clone();
    }
    let encoded = Format::of(repo).upstream_path(repo, path);
    upstream.url_of(path, encoded.as_deref())
}

/// The file stored at `repo/path`, if any.
async fn stored_file(app: &Arc<AppState>, repo: &str, path: &str) -> ApiResult<Option<Item>> {
    let (r, p) = (repo.to_string(), path.to_string());
    let item = app.db.read(move |c| items::get(c, &r, &p)).await?;
    Ok(item.filter(|i| !i.folder))
}

/// The one request on this node that fetches (or waits for another node's fetch of) a path;
/// the others wait on `done`. Dropping it takes the path out of the in-flight map.
struct Leader {
    app: Arc<AppState>,
    repo: Repo,
    path: String,
    user: String,
    key: PathKey,
    done: watch::Sender<Option<Done>>,
    origin: Origin,
}

impl Drop for Leader {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.app.remotes.in_flight.lock()
            && in_flight
                .get(&self.key)
                .is_some_and(|rx| rx.same_channel(&self.done.subscribe()))
        {
            in_flight.remove(&self.key);
        }
    }
}

impl Leader {
    async fn run(self, mode: Mode) -> ApiResult<Obtained> {
        loop {
            let now = self.app.now_ms();
            let (k, p, owner) = (
                self.repo.key.clone(),
                self.path.clone(),
                self.app.remotes.owner.clone(),
            );
            let claim = self
                .app
                .db
                .write(move |tx| shared::claim_fetch(tx, &k, &p, &owner, now, now - CLAIM_STALE_MS))
                .await;
            match claim {
                Ok(FetchClaim::Won) => break,
                Ok(FetchClaim::HeldBy { owner }) => {
                    tracing::debug!(arca_repo = %self.repo.key, arca_path = %self.path, %owner,
                        "waiting for another node's download");
                    if let Some(obtained) = self.wait_for_holder(mode).await? {
                        return Ok(obtained);
                    }
                }
                Err(e) => return Err(self.finish_failed(e.into())),
            }
        }
        // Another node may have stored it between our look and our claim.
        if mode != Mode::Refresh
            && let Some(item) = stored_file(&self.app, &self.repo.key, &self.path).await?
        {
            self.release().await;
            return Ok(self.finish_stored(item));
        }
        let upstream = match self.app.remotes.upstream(&self.app.secrets, &self.repo) {
            Ok(up) => up,
            Err(e) => return Err(self.fail(e).await),
        };
        let url = upstream_url(&upstream, &self.repo, &self.path, &self.origin);
        match upstream
            .get_accepting(&url, self.origin.accept.as_deref())
            .await
        {
            Answer::Found(response) => match mode {
                Mode::Stream => Ok(Obtained::Streaming(self.stream(upstream, url, response))),
                Mode::Whole | Mode::Refresh => {
                    let item = self.pump(&upstream, &url, response, None).await?;
                    Ok(Obtained::Stored(Box::new(item)))
                }
            },
            Answer::Missing(said) => {
                let period = self.repo.settings.missed_retrieval_cache_period_secs;
                let now = self.app.now_ms();
                let until = now.saturating_add(secs_to_ms(period));
                let (k, p) = (self.repo.key.clone(), self.path.clone());
                if period > 0
                    && let Err(e) = self
                        .app
                        .db
                        .write(move |tx| shared::record_miss(tx, &k, &p, until, now))
                        .await
                {
                    tracing::warn!(error = %e, "could not record an upstream miss");
                }
                let e = ApiError::not_found(format!("Could not find resource: {said}"));
                Err(self.fail(e).await)
            }
            Answer::Failed { error, offline } => {
                let period = self.repo.settings.assumed_offline_period_secs;
                if offline && period > 0 {
                    let now = self.app.now_ms();
                    let until = now.saturating_add(secs_to_ms(period));
                    let (k, message) = (self.repo.key.clone(), error.message.clone());
                    tracing::warn!(arca_repo = %self.repo.key, error = %error.message,
                        "upstream failed: assumed offline for {period} s (assumedOfflinePeriodSecs)");
                    if let Err(e) = self
                        .app
                        .db
                        .write(move |tx| {
                            shared::record_upstream_failure(tx, &k, until, &message, now)
                        })
                        .await
                    {
                        tracing::warn!(error = %e, "could not record an upstream failure");
                    }
                }
                Err(self.fail(error).await)
            }
        }
    }

    /// Another node holds the claim: wait until it stored the item (served from here) or gave
    /// up (its miss or failure is ours), or its claim goes stale (`None`: claim again).
    async fn wait_for_holder(&self, mode: Mode) -> ApiResult<Option<Obtained>> {
        if mode == Mode::Refresh
            && let Some(item) = stored_file(&self.app, &self.repo.key, &self.path).await?
        {
            // someone else refreshes it: the cached copy answers meanwhile
            return Ok(Some(self.finish_stored(item)));
        }
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let now = self.app.now_ms();
            let (k, p) = (self.repo.key.clone(), self.path.clone());
            let (item, holder, miss, failure) = self
                .app
                .db
                .read(move |c| {
                    Ok::<_, arca_db::DbError>((
                        items::get(c, &k, &p)?,
                        shared::fetch_holder(c, &k, &p)?,
                        shared::miss_until(c, &k, &p, now)?,
                        shared::upstream_failure(c, &k, now)?,
                    ))
                })
                .await?;
            if let Some(item) = item.filter(|i| !i.folder) {
                return Ok(Some(self.finish_stored(item)));
            }
            if holder.is_some_and(|(_, beat)| beat >= now - CLAIM_STALE_MS) {
                continue;
            }
            if let Some(until) = miss {
                return Err(self.finish_failed(known_miss(&self.repo, &self.path, until)));
            }
            if let Some(failure) = failure {
                return Err(self.finish_failed(assumed_offline(&self.repo, &failure)));
            }
            return Ok(None);
        }
    }

    fn finish_stored(&self, item: Item) -> Obtained {
        self.done.send_replace(Some(Done::Stored));
        Obtained::Stored(Box::new(item))
    }

    fn finish_failed(&self, e: ApiError) -> ApiError {
        self.done.send_replace(Some(Done::Failed(e.clone())));
        e
    }

    /// Drop our claim (best effort: a claim left behind goes stale).
    async fn release(&self) {
        let (k, p, owner) = (
            self.repo.key.clone(),
            self.path.clone(),
            self.app.remotes.owner.clone(),
        );
        if let Err(e) = self
            .app
            .db
            .write(move |tx| shared::release_fetch(tx, &k, &p, &owner))
            .await
        {
            tracing::warn!(error = %e, "could not release an upstream fetch claim (it goes stale)");
        }
    }

    /// The download failed: release the claim, tell the waiters.
    async fn fail(&self, e: ApiError) -> ApiError {
        self.release().await;
        self.finish_failed(e)
    }

    /// Answer now with a response whose body is the download, which runs on its own task
    /// (a client that goes away does not stop the caching).
    fn stream(self, upstream: Upstream, url: String, response: reqwest::Response) -> Response {
        let mut headers = warp::http::HeaderMap::new();
        artifact_headers(&mut headers, &self.repo, &self.path, &response);
        let (to_client, from_download) = mpsc::channel::<std::io::Result<Bytes>>(CLIENT_BUFFER);
        tokio::spawn(async move {
            // the outcome reaches the waiters through `done`; the client through the stream
            let _ = self.pump(&upstream, &url, response, Some(to_client)).await;
        });
        let body = futures_util::stream::unfold(from_download, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let mut resp = warp::reply::stream(body).into_response();
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut().extend(headers);
        resp
    }

    /// Write the upstream's body to the staging area (and to the client), verify it, store it
    /// with its item, release the claim, tell the waiters. The chunk that ends the file is
    /// held back from the client until the content is verified and stored, so a client never
    /// sees a complete transfer of something that was refused.
    async fn pump(
        &self,
        upstream: &Upstream,
        url: &str,
        response: reqwest::Response,
        to_client: Option<mpsc::Sender<std::io::Result<Bytes>>>,
    ) -> ApiResult<Item> {
        let mut client = ClientSink(to_client);
        match self.download(upstream, url, response, &mut client).await {
            Ok((item, last)) => {
                if let Some(last) = last {
                    client.send(Ok(last)).await;
                }
                self.done.send_replace(Some(Done::Stored));
                Ok(item)
            }
            Err(e) => {
                client
                    .send(Err(std::io::Error::other(e.message.clone())))
                    .await;
                tracing::warn!(arca_repo = %self.repo.key, arca_path = %self.path,
                    error = %e.message, "upstream download failed");
                Err(self.fail(e).await)
            }
        }
    }

    async fn download(
        &self,
        upstream: &Upstream,
        url: &str,
        response: reqwest::Response,
        client: &mut ClientSink,
    ) -> ApiResult<(Item, Option<Bytes>)> {
        let told = Told::from_headers(response.headers());
        let max = self.app.settings.max_upload_bytes;
        let mut upload = self.app.storage.begin_upload().await?;
        let mut body = response.bytes_stream();
        let mut held: Option<Bytes> = None;
        let mut last_beat = Instant::now();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| upstream.body_error(url, &e))?;
            if upload.bytes_written() + chunk.len() as u64 > max {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "'{}' from the upstream of '{}' is larger than arca.upload.max.bytes \
                         ({max} bytes); nothing was cached",
                        self.path, self.repo.key
                    ),
                ));
            }
            upload.write(chunk.clone()).await?;
            if let Some(previous) = held.replace(chunk) {
                client.send(Ok(previous)).await;
            }
            if last_beat.elapsed() >= HEARTBEAT_EVERY {
                last_beat = Instant::now();
                self.heartbeat().await;
            }
        }
        let staged = upload.finish().await?;
        self.verify(upstream, staged.checksums(), &told).await?;
        let c = staged.checksums().clone();
        let binary = Binary {
            sha256: c.sha256.clone(),
            sha1: c.sha1.clone(),
            md5: c.md5.clone(),
            size: c.size,
        };
        let mut new_file = NewFile::new(binary, &self.user, self.app.now_ms());
        new_file.sha1_original = told.sha1.clone();
        new_file.sha256_original = told.sha256.clone();
        let storage = self.app.storage.clone();
        storage.prepare(&staged).await?;
        let (k, p, owner) = (
            self.repo.key.clone(),
            self.path.clone(),
            self.app.remotes.owner.clone(),
        );
        let tx_storage = storage.clone();
        let (item, committed) = self
            .app
            .db
            .write(move |tx| {
                let new_binary = items::insert_binary(tx, &new_file.binary, new_file.now)?;
                let item = items::put_file(tx, &k, &p, &new_file)?;
                shared::release_fetch(tx, &k, &p, &owner)?;
                shared::clear_upstream_failure(tx, &k)?;
                let committed = tx_storage.commit(staged, !new_binary)?;
                Ok::<_, ApiError>((item, committed))
            })
            .await?;
        storage.after_commit(&committed);
        self.app.wake_mover();
        tracing::info!(arca_repo = %item.repo, arca_path = %item.path, arca_sha256 = %c.sha256,
            size = c.size, "cached from the upstream");
        Ok((item, held))
    }

    async fn heartbeat(&self) {
        let (k, p, owner, now) = (
            self.repo.key.clone(),
            self.path.clone(),
            self.app.remotes.owner.clone(),
            self.app.now_ms(),
        );
        if let Err(e) = self
            .app
            .db
            .write(move |tx| shared::heartbeat_fetch(tx, &k, &p, &owner, now))
            .await
        {
            tracing::warn!(error = %e, "could not refresh an upstream fetch claim");
        }
    }

    /// The content against what the upstream says it is: its checksum headers, else the
    /// format's checksum file upstream (Maven's `.sha1`). A mismatch is not cached.
    async fn verify(
        &self,
        upstream: &Upstream,
        got: &arca_storage::Checksums,
        told: &Told,
    ) -> ApiResult<()> {
        let mut expected: Vec<(&str, String, &str)> = Vec::new();
        if let Some(sha256) = &told.sha256 {
            expected.push(("X-Checksum-Sha256", sha256.clone(), &got.sha256));
        }
        if let Some(sha1) = &told.sha1 {
            expected.push(("X-Checksum-Sha1", sha1.clone(), &got.sha1));
        }
        if let Some(sha256) = &self.origin.sha256 {
            expected.push(("index", sha256.to_ascii_lowercase(), &got.sha256));
        }
        if expected.is_empty()
            && let Some((side, kind)) = Format::of(&self.repo).upstream_checksum(&self.path)
        {
            match upstream.small_text(&side, 4096).await {
                Ok(Some(text)) => match parse_checksum_file(&text, kind) {
                    Some(sum) => expected.push(("checksum file", sum, checksum_of(got, kind))),
                    None => tracing::warn!(arca_repo = %self.repo.key, path = %side,
                        "the upstream's checksum file is not a checksum; not verified"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(arca_repo = %self.repo.key, path = %side,
                    error = %e.message, "could not read the upstream's checksum file; not verified"),
            }
        }
        for (source, want, actual) in expected {
            if want != actual {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "Checksum mismatch for '{}' from the upstream of remote repository \
                         '{}': its {source} says {want}, the content is {actual}; nothing was \
                         cached",
                        self.path, self.repo.key
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The client's end of a streaming download; gone once the client went away (the download
/// goes on, for the cache).
struct ClientSink(Option<mpsc::Sender<std::io::Result<Bytes>>>);

impl ClientSink {
    async fn send(&mut self, chunk: std::io::Result<Bytes>) {
        if let Some(tx) = &self.0
            && tx.send(chunk).await.is_err()
        {
            self.0 = None;
        }
    }
}

/// The checksums an upstream states in its headers (another arca, or the reference).
struct Told {
    sha1: Option<String>,
    sha256: Option<String>,
}

impl Told {
    fn from_headers(headers: &reqwest::header::HeaderMap) -> Told {
        let hex = |name: &str, len: usize| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_ascii_lowercase())
                .filter(|v| v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        Told {
            sha1: hex("x-checksum-sha1", 40),
            sha256: hex("x-checksum-sha256", 64),
        }
    }
}

/// The checksum in a checksum file (`<hex>` or `<hex>  <name>`), if it is one of `kind`.
pub fn parse_checksum_file(text: &str, kind: ChecksumKind) -> Option<String> {
    let len = match kind {
        ChecksumKind::Sha1 => 40,
        ChecksumKind::Sha256 => 64,
        ChecksumKind::Md5 => 32,
    };
    let first = text.split_whitespace().next()?.to_ascii_lowercase();
    (first.len() == len && first.bytes().all(|b| b.is_ascii_hexdigit())).then_some(first)
}

fn checksum_of(c: &arca_storage::Checksums, kind: ChecksumKind) -> &str {
    match kind {
        ChecksumKind::Sha1 => &c.sha1,
        ChecksumKind::Sha256 => &c.sha256,
        ChecksumKind::Md5 => &c.md5,
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files() {
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        assert_eq!(
            parse_checksum_file(sha1, ChecksumKind::Sha1).as_deref(),
            Some(sha1)
        );
        assert_eq!(
            parse_checksum_file(
                &format!("{}  x.jar\n", sha1.to_uppercase()),
                ChecksumKind::Sha1
            )
            .as_deref(),
            Some(sha1)
        );
        assert_eq!(parse_checksum_file("<html>", ChecksumKind::Sha1), None);
        assert_eq!(parse_checksum_file("", ChecksumKind::Sha1), None);
        assert_eq!(parse_checksum_file(sha1, ChecksumKind::Md5), None);
    }
}

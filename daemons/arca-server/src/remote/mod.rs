//! Remote repositories: a caching proxy of an upstream (`docs/repositories.md`).
//!
//! A `GET` of a path that is not cached asks the upstream once for the whole cluster: on this
//! node, concurrent requests for the path wait for one leader ([`Remotes`]' in-flight map);
//! across nodes, the leader claims the path in the shared database (`remote_fetches`) and the
//! other nodes' leaders wait for the item to appear. The leader streams the upstream's bytes
//! to its client while they are written to the staging area, verifies them against the
//! upstream's checksums, and stores them through the normal storage chain in one transaction
//! with the item; nothing is visible before that. A miss is remembered for
//! `missedRetrievalCachePeriodSecs`, an upstream failure for `assumedOfflinePeriodSecs`
//! (both in the database, for every node). Metadata (as the format says) is fetched again
//! after `retrievalCachePeriodSecs`; the stale copy is served while the upstream fails.

mod fetch;
pub mod remotes;
pub mod upstream;

use std::sync::Arc;

use warp::http::StatusCode;
use warp::reply::Response;

use arca_db::{Item, Repo, items, remote as shared};

use crate::formats::Format;
use crate::http::Request;
use crate::http::authz::Authz;
use crate::http::error::{ApiError, ApiResult};
use crate::paths::RepoPath;
use crate::state::AppState;

pub use fetch::Obtained;

/// The suffix of the read-only view of a remote repository's cache (`{key}-cache`).
pub const CACHE_SUFFIX: &str = "-cache";

/// The remote repository `{key}` behind a `{key}-cache` name, if `key` names none itself.
pub fn cache_view_base(key: &str) -> Option<&str> {
    key.strip_suffix(CACHE_SUFFIX)
        .filter(|base| !base.is_empty())
}

/// Whether a cached `item` of `repo` is due for a check upstream at `now`.
fn is_stale(repo: &Repo, item: &Item, now: i64) -> bool {
    Format::of(repo).is_metadata(&item.path)
        && now.saturating_sub(item.updated)
            >= i64::try_from(
                repo.settings
                    .retrieval_cache_period_secs
                    .saturating_mul(1000),
            )
            .unwrap_or(i64::MAX)
}

/// Answer a `GET`/`HEAD` of `target` in remote repository `repo` (the caller may read it);
/// `cached`: the item stored at the path, if any.
pub async fn serve(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
    cached: Option<Item>,
) -> ApiResult<Response> {
    // A checksum file of a cached file is generated from its recorded checksums.
    if cached.is_none()
        && let Some((base, _)) = crate::formats::checksums::side_file(&target.path)
    {
        let (key, b) = (repo.key.clone(), base.to_string());
        let base_item = req.app.db.read(move |c| items::get(c, &key, &b)).await?;
        if base_item.is_some_and(|i| !i.folder) {
            return Format::of(repo)
                .serve_generated(req, authz, repo, target)
                .await;
        }
    }
    match obtain(req, authz, repo, &target.path, cached).await? {
        Obtained::Streaming(resp) => Ok(resp),
        Obtained::Stored(item) => crate::http::stored::serve_file(req, repo, &item).await,
    }
}

/// The item at `path` of remote repository `repo`, from the cache or the upstream: stored
/// (fetched whole first when `whole`, or when the request is a `HEAD`), or a response that
/// streams it while it is being cached. 404 when neither has it.
pub async fn obtain(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    path: &str,
    cached: Option<Item>,
) -> ApiResult<Obtained> {
    obtain_as(
        req,
        authz,
        repo,
        path,
        cached,
        req.method == warp::http::Method::HEAD,
    )
    .await
}

/// Where a file is upstream when it is not at its path under the upstream's URL (a PyPI page
/// links its files anywhere), and the checksum the upstream stated for it there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The file's absolute URL; `None`: the path under the upstream's URL (or the format's name
    /// for it, `Format::upstream_path`).
    pub url: Option<String>,
    /// The sha256 the upstream's index states (PyPI's `#sha256=` fragment, an OCI digest):
    /// the content is verified against it.
    pub sha256: Option<String>,
    /// The `Accept` header to ask with (an OCI manifest's media types); `None`: none.
    pub accept: Option<String>,
}

/// [`obtain`], with the item fetched whole (never streamed) when `whole`.
pub async fn obtain_as(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    path: &str,
    cached: Option<Item>,
    whole: bool,
) -> ApiResult<Obtained> {
    obtain_from(req, authz, repo, path, cached, whole, &Origin::default()).await
}

/// [`obtain_as`] of a file found upstream at `origin`.
pub async fn obtain_from(
    req: &Request,
    _authz: &Authz,
    repo: &Repo,
    path: &str,
    cached: Option<Item>,
    whole: bool,
    origin: &Origin,
) -> ApiResult<Obtained> {
    let settings = &repo.settings;
    if settings.blacked_out {
        return Err(ApiError::not_found(format!(
            "Repository '{}' is blacked out (blackedOut=true): nothing is served from it",
            repo.key
        )));
    }
    let now = req.app.now_ms();
    if let Some(item) = cached {
        if item.folder || settings.offline || !is_stale(repo, &item, now) {
            return Ok(Obtained::Stored(Box::new(item)));
        }
        // Metadata past its TTL: ask again; while the upstream fails, the stale copy serves
        // (unless hardFail).
        return match fetch::fetch(req, repo, path, fetch::Mode::Refresh, origin).await {
            Ok(obtained) => Ok(obtained),
            Err(e) if settings.hard_fail => Err(e),
            Err(e) => {
                tracing::warn!(arca_repo = %repo.key, arca_path = %path, error = %e.message,
                    "serving stale metadata: the upstream could not refresh it");
                Ok(Obtained::Stored(Box::new(item)))
            }
        };
    }
    if settings.offline {
        return Err(ApiError::not_found(format!(
            "Repository '{}' is offline: only cached content is served, and '{path}' is not \
             cached",
            repo.key
        )));
    }
    if let Err(refused) = crate::policy::check_patterns(repo, path) {
        return Err(ApiError::not_found(refused.message));
    }
    let (key, p) = (repo.key.clone(), path.to_string());
    let (miss, failure) = req
        .app
        .db
        .read(move |c| {
            Ok::<_, arca_db::DbError>((
                shared::miss_until(c, &key, &p, now)?,
                shared::upstream_failure(c, &key, now)?,
            ))
        })
        .await?;
    if let Some(until) = miss {
        return Err(known_miss(repo, path, until));
    }
    if let Some(failure) = failure {
        return Err(assumed_offline(repo, &failure));
    }
    if !settings.store_artifacts_locally {
        return fetch::pass_through(req, repo, path, origin).await;
    }
    let mode = if whole {
        fetch::Mode::Whole
    } else {
        fetch::Mode::Stream
    };
    fetch::fetch(req, repo, path, mode, origin).await
}

fn known_miss(repo: &Repo, path: &str, until: i64) -> ApiError {
    ApiError::not_found(format!(
        "Could not find resource: the upstream of remote repository '{}' did not have '{path}' \
         (not asked again before {}; missedRetrievalCachePeriodSecs)",
        repo.key,
        crate::http::format::iso8601(until)
    ))
}

fn assumed_offline(repo: &Repo, failure: &shared::UpstreamFailure) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        format!(
            "The upstream of remote repository '{}' is assumed offline until {} \
             (assumedOfflinePeriodSecs) after: {}",
            repo.key,
            crate::http::format::iso8601(failure.offline_until),
            failure.last_error
        ),
    )
}

/// The read-only cache view: the remote repository behind `{key}-cache`, when `key` names no
/// repository itself.
pub async fn resolve_cache_view(app: &Arc<AppState>, key: &str) -> ApiResult<Option<Repo>> {
    let Some(base) = cache_view_base(key) else {
        return Ok(None);
    };
    let b = base.to_string();
    let repo = app.db.read(move |c| arca_db::repos::get(c, &b)).await?;
    Ok(repo.filter(Repo::is_remote))
}

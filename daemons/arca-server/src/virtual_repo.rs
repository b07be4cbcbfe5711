//! Virtual repositories: one URL over an ordered list of members (local, remote, and other
//! virtual repositories). A `GET` resolves through the members in order, each with the
//! caller's permissions on that member; metadata the format merges (Maven's
//! `maven-metadata.xml`) is the merge of every readable member's copy, kept for
//! `virtualRetrievalCachePeriodSecs`; a deploy goes to `defaultDeploymentRepo`.

use std::collections::BTreeSet;

use bytes::Bytes;
use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;

use arca_db::permissions::Action;
use arca_db::{Item, Repo, items, repos};

use crate::formats::Format;
use crate::formats::checksums::side_file;
use crate::http::Request;
use crate::http::authz::Authz;
use crate::http::error::{ApiError, ApiResult, text_response};
use crate::http::{listing, stored};
use crate::paths::RepoPath;
use crate::remote::{self, Obtained};

/// Nested virtual repositories are followed this deep at most.
const MAX_DEPTH: usize = 8;

/// The members of virtual `repo` in resolution order: nested virtual repositories replaced by
/// their members, each repository once.
pub async fn members(req: &Request, repo: &Repo) -> ApiResult<Vec<Repo>> {
    let all = req.app.db.read(repos::list).await?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::from([repo.key.clone()]);
    flatten(&all, repo, &mut out, &mut seen, 0);
    Ok(out)
}

fn flatten(
    all: &[Repo],
    repo: &Repo,
    out: &mut Vec<Repo>,
    seen: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for key in &repo.settings.repositories {
        if !seen.insert(key.clone()) {
            continue;
        }
        let Some(member) = all.iter().find(|r| r.key == *key) else {
            continue;
        };
        if member.is_virtual() {
            flatten(all, member, out, seen, depth + 1);
        } else {
            out.push(member.clone());
        }
    }
}

/// The repository a deploy to virtual `repo` goes to: its `defaultDeploymentRepo`.
pub async fn deployment_repo(req: &Request, repo: &Repo) -> ApiResult<Repo> {
    let target = &repo.settings.default_deployment_repo;
    if target.is_empty() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "Virtual repository '{}' has no defaultDeploymentRepo: deploys to it are \
                 refused; set one, or deploy to a local repository",
                repo.key
            ),
        ));
    }
    let k = target.clone();
    let found = req.app.db.read(move |c| repos::get(c, &k)).await?;
    found.filter(Repo::is_local).ok_or_else(|| {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "The defaultDeploymentRepo '{target}' of virtual repository '{}' is not a \
                 local repository",
                repo.key
            ),
        )
    })
}

/// Where a format's API writes when asked at `repo` (`verb`: what the client does there,
/// "publish", "upload"): a local repository itself, a virtual one's `defaultDeploymentRepo` (of
/// the same format); a remote repository takes nothing.
pub async fn writable_repo(
    req: &Request,
    repo: Repo,
    format: Format,
    verb: &str,
) -> ApiResult<Repo> {
    let kind = repo.package_type.clone();
    if repo.is_local() {
        return Ok(repo);
    }
    if repo.is_remote() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "Repository '{}' is a remote repository: {verb} to a local {kind} repository, \
                 or to a virtual one with a defaultDeploymentRepo",
                repo.key
            ),
        ));
    }
    let target = deployment_repo(req, &repo).await?;
    if Format::of(&target) != format {
        return Err(ApiError::bad_request(format!(
            "The defaultDeploymentRepo '{}' of virtual repository '{}' is a {} repository, not \
             one of package type '{kind}'",
            target.key, repo.key, target.package_type
        )));
    }
    Ok(target)
}

/// Answer a `GET`/`HEAD` of `target` in virtual `repo`.
pub async fn download(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
) -> ApiResult<Response> {
    let members = members(req, repo).await?;
    let path = target.path.as_str();
    if path.is_empty() || target.trailing_slash {
        return merged_listing(req, authz, repo, &members, path).await;
    }
    // the virtual repository's own patterns narrow what it resolves
    if let Err(refused) = crate::policy::check_patterns(repo, path) {
        return Err(ApiError::not_found(refused.message));
    }
    let format = Format::of(repo);
    if format.merges(path) {
        let merged = merged_metadata(req, authz, repo, &members, path).await?;
        return Ok(metadata_response(req, path, merged));
    }
    if let Some((base, kind)) = side_file(path)
        && format.merges(base)
    {
        let merged = merged_metadata(req, authz, repo, &members, base).await?;
        let sums = arca_storage::Checksums::of_bytes(&merged);
        let text = match kind {
            items::ChecksumKind::Sha1 => sums.sha1,
            items::ChecksumKind::Sha256 => sums.sha256,
            items::ChecksumKind::Md5 => sums.md5,
        };
        return Ok(text_response(StatusCode::OK, text));
    }
    // the first member that has it; an upstream failure is reported only if none has it
    let mut upstream_error: Option<ApiError> = None;
    let mut folder_seen = false;
    for member in &members {
        if !authz.allows(member, path, Action::Read) || member.settings.blacked_out {
            continue;
        }
        let (k, p) = (member.key.clone(), path.to_string());
        let item = req.app.db.read(move |c| items::get(c, &k, &p)).await?;
        if item.as_ref().is_some_and(|i| i.folder) {
            folder_seen = true;
            continue;
        }
        let member_target = RepoPath {
            repo: member.key.clone(),
            path: path.to_string(),
            trailing_slash: false,
        };
        let answer = match item {
            Some(item) if member.is_local() => {
                return stored::serve_file(req, member, &item).await;
            }
            _ if member.is_remote() => {
                remote::serve(req, authz, member, &member_target, item).await
            }
            _ => {
                Format::of(member)
                    .serve_generated(req, authz, member, &member_target)
                    .await
            }
        };
        match answer {
            Ok(resp) => return Ok(resp),
            Err(e) if e.status == StatusCode::NOT_FOUND => {}
            Err(e) if e.is_upstream_failure() => {
                upstream_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    if folder_seen {
        return merged_listing(req, authz, repo, &members, path).await;
    }
    Err(upstream_error.unwrap_or_else(|| ApiError::not_found("Could not find resource")))
}

/// The merge of every readable member's copy of `path`, kept for a while per set of members
/// read (callers who may read different members get different views).
async fn merged_metadata(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    members: &[Repo],
    path: &str,
) -> ApiResult<Bytes> {
    let readable: Vec<&Repo> = members
        .iter()
        .filter(|m| authz.allows(m, path, Action::Read) && !m.settings.blacked_out)
        .collect();
    let view = readable
        .iter()
        .map(|m| m.key.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let cache_key = format!("{path}\n{view}");
    let now = req.app.now_ms();
    if let Some(bytes) = req.app.remotes.merged(&repo.key, &cache_key, now) {
        return Ok(bytes);
    }
    let mut parts = Vec::new();
    for member in readable {
        let (k, p) = (member.key.clone(), path.to_string());
        let item = req.app.db.read(move |c| items::get(c, &k, &p)).await?;
        let item: Option<Item> = if member.is_remote() {
            match remote::obtain_as(req, authz, member, path, item, true).await {
                Ok(Obtained::Stored(item)) => Some(*item),
                Ok(Obtained::Streaming(_)) => None,
                Err(e) => {
                    if e.status != StatusCode::NOT_FOUND {
                        tracing::warn!(arca_repo = %member.key, arca_path = %path,
                            error = %e.message, "a member's metadata is left out of the merge");
                    }
                    None
                }
            }
        } else {
            item
        };
        if let Some(item) = item.filter(|i| !i.folder) {
            parts.push(Bytes::from(stored::read_item(req, &item).await?));
        }
    }
    if parts.is_empty() {
        return Err(ApiError::not_found("Could not find resource"));
    }
    let merged = Format::of(repo)
        .merge(&parts)
        .map_err(|e| ApiError::internal("merging metadata", e))?;
    let ttl = i64::try_from(
        repo.settings
            .virtual_retrieval_cache_period_secs
            .saturating_mul(1000),
    )
    .unwrap_or(i64::MAX);
    req.app.remotes.keep_merged(
        &repo.key,
        &cache_key,
        now.saturating_add(ttl),
        merged.clone(),
    );
    Ok(merged)
}

fn metadata_response(req: &Request, path: &str, bytes: Bytes) -> Response {
    let sums = arca_storage::Checksums::of_bytes(&bytes);
    let len = bytes.len();
    let mut resp = if req.method == Method::HEAD {
        Response::default()
    } else {
        Response::new(bytes.into())
    };
    let name = path.rsplit('/').next().unwrap_or(path);
    let headers = resp.headers_mut();
    for (n, v) in [
        ("content-type", crate::http::format::mime_type(name)),
        ("content-length", len.to_string()),
        ("x-checksum-sha1", sums.sha1.clone()),
        ("x-checksum-sha256", sums.sha256),
        ("x-checksum-md5", sums.md5),
        ("etag", format!("\"{}\"", sums.sha1)),
        ("content-security-policy", stored::ARTIFACT_CSP.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(n, v);
        }
    }
    resp
}

/// The index of `path` in virtual `repo`: what the readable members hold there (local
/// content, remote caches), the first member's entry winning a name.
async fn merged_listing(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    members: &[Repo],
    path: &str,
) -> ApiResult<Response> {
    let mut children: Vec<Item> = Vec::new();
    for member in members {
        if member.settings.blacked_out {
            continue;
        }
        let (k, p) = (member.key.clone(), path.to_string());
        let found = req.app.db.read(move |c| items::children(c, &k, &p)).await?;
        for child in found {
            if authz.allows(member, &child.path, Action::Read)
                && !children.iter().any(|c| c.name == child.name)
            {
                children.push(child);
            }
        }
    }
    children.sort_by(|a, b| b.folder.cmp(&a.folder).then_with(|| a.name.cmp(&b.name)));
    Ok(listing::render(req, &repo.key, path, &children))
}

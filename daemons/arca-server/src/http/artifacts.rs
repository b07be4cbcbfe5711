//! Deploy (`PUT`), retrieve (`GET`/`HEAD`) and delete artifacts at
//! `/{repo}/{path}`.

use std::collections::BTreeMap;

use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use arca_db::items::{self, ChecksumKind};
use arca_db::permissions::Action;
use arca_db::{Binary, Item, NewFile, Repo, repos};
use arca_storage::Checksums;

use crate::formats::{self, Format};
use crate::http::authz::{self, Authz};
use crate::http::conditional::{etag_matches, not_modified_since, parse_range};
use crate::http::error::{ApiError, ApiResult, empty_response, json_response};
use crate::http::{Request, format, listing, stored, upload};
use crate::paths::RepoPath;
use crate::policy;
use crate::state::Principal;

pub async fn handle(req: &mut Request) -> ApiResult<Response> {
    // Matrix parameters (`;k=v`) ride on the path of a deploy.
    let (target, props) =
        crate::front::artifact_target(&req.method, &req.rest, req.app.settings.max_path_length)?;
    match req.method {
        Method::GET | Method::HEAD => download(req, &target).await,
        Method::PUT => deploy(req, &target, props.unwrap_or_default()).await,
        Method::DELETE => delete(req, &target).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Load a repository, or answer as [`missing_repo`] does.
/// `{key}-cache` names the cache of remote repository `key` (when no repository has that name).
pub async fn load_repo(req: &Request, key: &str) -> ApiResult<Repo> {
    match req.app.meta.repo(key)? {
        Some(repo) => Ok(repo),
        None => match crate::remote::resolve_cache_view(&req.app, key).await? {
            Some(remote) => Ok(remote),
            None => Err(missing_repo(req, key).await),
        },
    }
}

/// The repository a format API's URL names (`tail`: `{repo}/{rest}`) and the rest: 400 when it
/// is of another format (`what`: the format's name with its article, "an npm").
pub async fn load_format_repo<'t>(
    req: &Request,
    tail: &'t str,
    format: crate::formats::Format,
    what: &str,
) -> ApiResult<(Repo, &'t str)> {
    let (key, rest) = tail.split_once('/').unwrap_or((tail, ""));
    crate::paths::validate_repo_key(key)?;
    let repo = load_repo(req, key).await?;
    if crate::formats::Format::of(&repo) != format {
        return Err(ApiError::bad_request(format!(
            "Repository '{}' is a {} repository, not {what} one",
            repo.key, repo.package_type
        )));
    }
    Ok((repo, rest))
}

/// The answer for a repository that does not exist, the same as for one the caller may not
/// read, so names cannot be probed: anonymous callers get 401 (they may log in), users 404
/// "Could not find resource"; only administrators learn that the repository does not exist.
pub async fn missing_repo(req: &Request, key: &str) -> ApiError {
    match req.principal().await {
        Ok(p) if p.is_admin() => ApiError::not_found(format!("Repository '{key}' does not exist")),
        Ok(p) if p.is_anonymous() => {
            ApiError::unauthorized("Authentication is required: anonymous may not read here")
        }
        Ok(_) => ApiError::not_found(authz::HIDDEN_MESSAGE),
        Err(e) => e,
    }
}

/// The item at `repo/path`, if any (the root `""` has no item).
pub async fn fetch_item(req: &Request, repo: &str, path: &str) -> ApiResult<Option<Item>> {
    if path.is_empty() {
        return Ok(None);
    }
    Ok(req.app.meta.item(repo, path)?)
}

/// Authorise reading `path` of a repository (grants, or the repository's `anonymousRead`).
pub async fn authorize_read(req: &Request, repo: &Repo, path: &str) -> ApiResult<Authz> {
    let (_, authz) = authz::require(req, repo, path, Action::Read).await?;
    Ok(authz)
}

// ---------------------------------------------------------------- download

async fn download(req: &Request, target: &RepoPath) -> ApiResult<Response> {
    // from the node's cache, else one query for both: a single round trip on PostgreSQL
    let found = req.app.meta.repo_and_item(&target.repo, &target.path)?;
    let (repo, item, cache_view) = match found {
        Some((repo, item)) => (repo, item, false),
        None => {
            // `{key}-cache`: what remote repository `key` holds, never its upstream
            let Some(remote) = crate::remote::resolve_cache_view(&req.app, &target.repo).await?
            else {
                return Err(missing_repo(req, &target.repo).await);
            };
            let item = fetch_item(req, &remote.key, &target.path).await?;
            (remote, item, true)
        }
    };
    let authz = authorize_read(req, &repo, &target.path).await?;
    if repo.is_virtual() {
        return crate::virtual_repo::download(req, &authz, &repo, target).await;
    }
    if repo.settings.blacked_out {
        return Err(ApiError::not_found(format!(
            "Repository '{}' is blacked out (blackedOut=true): nothing is served from it",
            repo.key
        )));
    }
    match item {
        Some(item) if item.folder => listing::folder_listing(req, &authz, &repo, &item.path).await,
        None if target.path.is_empty() => listing::folder_listing(req, &authz, &repo, "").await,
        item if repo.is_remote() && !cache_view => {
            crate::remote::serve(req, &authz, &repo, target, item).await
        }
        Some(item) => stored::serve_file(req, &repo, &item).await,
        None => {
            Format::of(&repo)
                .serve_generated(req, &authz, &repo, target)
                .await
        }
    }
}

/// The request headers a download or deploy parses, parsed as they would be for a file of
/// `size` bytes (for the fuzz harness: [`crate::inspect::inspect`]).
pub fn inspect_headers(headers: &warp::http::HeaderMap, size: u64) -> ApiResult<()> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = get("range") {
        let _ = parse_range(v, size);
    }
    if let Some(v) = get("if-none-match") {
        let _ = etag_matches(v, "0000000000000000000000000000000000000000");
    }
    if let Some(v) = get("if-modified-since") {
        let _ = not_modified_since(v, 0);
    }
    declared_checksums(headers)?;
    Ok(())
}

// ---------------------------------------------------------------- deploy

/// Client-declared checksums from `X-Checksum-*` headers (validated hex).
struct Declared {
    sha1: Option<String>,
    sha256: Option<String>,
    md5: Option<String>,
}

impl Declared {
    /// Nothing declared.
    fn none() -> Declared {
        Declared {
            sha1: None,
            sha256: None,
            md5: None,
        }
    }

    /// What a deploy records: the binary, and what the client declared as the originals.
    fn into_new_file(self, binary: Binary, user: String, now: i64) -> NewFile {
        NewFile {
            binary,
            sha1_original: self.sha1,
            md5_original: self.md5,
            sha256_original: self.sha256,
            user,
            now,
        }
    }
}

fn declared_checksums(headers: &warp::http::HeaderMap) -> ApiResult<Declared> {
    let get = |name: &str, len: usize| -> ApiResult<Option<String>> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => {
                let s = v
                    .to_str()
                    .map_err(|_| ApiError::bad_request(format!("Header {name} is not ASCII")))?
                    .trim()
                    .to_ascii_lowercase();
                if s.len() != len || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ApiError::bad_request(format!(
                        "Header {name} must be {len} hex characters, got '{}'",
                        s.escape_debug()
                    )));
                }
                Ok(Some(s))
            }
        }
    };
    let mut declared = Declared {
        sha1: get("x-checksum-sha1", 40)?,
        sha256: get("x-checksum-sha256", 64)?,
        md5: get("x-checksum-md5", 32)?,
    };
    // The generic `X-Checksum` header: its length says which algorithm it is.
    if let Some(v) = headers.get("x-checksum") {
        let v = v
            .to_str()
            .map_err(|_| ApiError::bad_request("Header X-Checksum is not ASCII"))?
            .trim()
            .to_ascii_lowercase();
        if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request("Header X-Checksum must be hex"));
        }
        match v.len() {
            40 => declared.sha1 = declared.sha1.or(Some(v)),
            64 => declared.sha256 = declared.sha256.or(Some(v)),
            32 => declared.md5 = declared.md5.or(Some(v)),
            _ => {
                return Err(ApiError::bad_request(
                    "Header X-Checksum has an unknown length",
                ));
            }
        }
    }
    Ok(declared)
}

async fn deploy(
    req: &mut Request,
    target: &RepoPath,
    props: BTreeMap<String, Vec<String>>,
) -> ApiResult<Response> {
    let (principal, authz) = authz::caller(req).await?;
    // Only a repository that is really absent is a 404: a database that could not answer
    // is a 503 (clients cache 404s).
    let repo = load_repo(req, &target.repo).await.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            ApiError::not_found(format!(
                "No target local repository specified in deploy request: '{}' does not exist",
                target.repo
            ))
        } else {
            e
        }
    })?;
    let (repo, mut target) = deploy_target(req, &authz, repo, target).await?;
    if !target.trailing_slash
        && let Some(moved) = Format::of(&repo)
            .deploy_path(req, &repo, &target.path)
            .await?
    {
        tracing::debug!(arca_repo = %repo.key, from = %target.path, to = %moved, "deploy path rewritten");
        target.path = moved;
    }
    let target = &target;
    // Authorised before anything else is said about the repository.
    authz.require(&repo, &target.path, Action::Deploy)?;
    if target.path.is_empty() {
        return Err(ApiError::bad_request(
            "Deploy needs a path inside the repository",
        ));
    }
    if target.trailing_slash {
        return create_folder(req, &repo, &target.path, &principal).await;
    }
    // Replacing a file needs `delete` as well (the reference's "Delete/Overwrite"). Checked
    // here to refuse early, and again in the commit transaction (`at_commit`): a file published
    // or a permission revoked while the body streams in is honoured.
    let exists = fetch_item(req, &repo.key, &target.path)
        .await?
        .is_some_and(|i| !i.folder);
    authz.require_deploy(
        &repo,
        &target.path,
        formats::replaces_protected_file(&repo, &target.path, exists),
    )?;
    policy::check_deploy(&repo, &target.path)?;
    let declared = declared_checksums(&req.headers)?;
    let user = principal.name().to_string();

    if req
        .header("x-checksum-deploy")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return deploy_by_checksum(req, &authz, &repo, target, declared, props, user).await;
    }
    if let Some(resp) = Format::of(&repo)
        .accept_deploy(req, &authz, &repo, target)
        .await?
    {
        return Ok(resp);
    }

    if repo.quota_bytes > 0
        && let Some(len) = req
            .header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
    {
        let (key, path) = (repo.key.clone(), target.path.clone());
        let (used, replaced) = req
            .app
            .db
            .read(move |c| {
                let used = items::repo_usage(c, &key)?;
                let replaced = items::get(c, &key, &path)?.map_or(0, |i| i.size());
                Ok::<_, arca_db::DbError>((used, replaced))
            })
            .await?;
        check_quota(&repo, used, replaced, len)?;
    }
    let staged = upload::receive_upload(req).await?;
    let checksums: Checksums = staged.checksums().clone();
    let declared = if formats::checksums::server_generates_checksums(&repo) {
        Declared::none()
    } else {
        declared
    };
    let mismatches = arca_storage::verify_declared(
        &checksums,
        declared.sha1.as_deref(),
        declared.sha256.as_deref(),
        declared.md5.as_deref(),
    );
    if !mismatches.is_empty() {
        let detail: Vec<String> = mismatches
            .iter()
            .map(|(alg, expected, actual)| {
                format!("{alg}: client sent {expected}, content is {actual}")
            })
            .collect();
        return Err(ApiError::conflict(format!(
            "Checksum mismatch for {}/{}: {}; nothing was stored",
            target.repo,
            target.path,
            detail.join("; ")
        )));
    }
    Format::of(&repo).check_content(&repo, &target.path, staged.path())?;
    let binary = Binary {
        sha256: checksums.sha256.clone(),
        sha1: checksums.sha1.clone(),
        md5: checksums.md5.clone(),
        size: checksums.size,
    };
    let new_file = declared.into_new_file(binary, user, req.app.now_ms());
    let storage = req.app.storage.clone();
    // Network part first (a direct object-store upload), outside the DB transaction.
    storage.prepare(&staged).await?;
    let (repo_key, path, after_repo) = (repo.key.clone(), target.path.clone(), repo.clone());
    let tx_storage = storage.clone();
    let (item, committed) = req
        .app
        .db
        .write(move |tx| {
            require_deploy_at_commit(tx, &authz, &repo, &path)?;
            require_quota_at_commit(tx, &repo, &path, new_file.binary.size)?;
            let new_binary = items::insert_binary(tx, &new_file.binary, new_file.now)?;
            let item = items::put_file(tx, &repo_key, &path, &new_file)?;
            if !props.is_empty() {
                items::set_props(tx, item.id, &props)?;
            }
            // Last step before commit: the content becomes durable in the persistent tier
            // together with its row (GC and remote deletions run in write transactions too).
            let committed = tx_storage.commit(staged, !new_binary)?;
            Ok::<_, ApiError>((item, committed))
        })
        .await?;
    storage.after_commit(&committed);
    req.app.wake_mover();
    Format::of(&after_repo)
        .after_change(&req.app, &after_repo, &item.path, &item.modified_by)
        .await;
    tracing::info!(
        arca_repo = %item.repo,
        arca_path = %item.path,
        arca_sha256 = %checksums.sha256,
        size = checksums.size,
        user = %item.modified_by,
        "deployed"
    );
    Ok(created(req, &item))
}

/// Where a deploy to `repo` lands: `repo` itself when it is local, the `defaultDeploymentRepo`
/// of a virtual repository; a remote repository takes no deploys (405). Nothing is said about
/// a virtual or remote repository to a caller who may not read it.
async fn deploy_target(
    req: &Request,
    authz: &Authz,
    repo: Repo,
    target: &RepoPath,
) -> ApiResult<(Repo, RepoPath)> {
    if repo.is_local() {
        return Ok((repo, target.clone()));
    }
    authz.require(&repo, &target.path, Action::Read)?;
    if repo.is_virtual() {
        let local = crate::virtual_repo::deployment_repo(req, &repo).await?;
        let redirected = RepoPath {
            repo: local.key.clone(),
            ..target.clone()
        };
        return Ok((local, redirected));
    }
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Repository '{}' is a {} repository: deploy to a local repository (or to a virtual \
             one with a defaultDeploymentRepo)",
            repo.key, repo.rclass
        ),
    ))
}

/// The deploy rule once more inside the commit transaction: the caller's grants as of now
/// and whether the path holds a file now ([`Authz::at_commit`]). Returns that view of the
/// caller, for further decisions in the same transaction.
fn require_deploy_at_commit(
    tx: &arca_db::Conn<'_>,
    authz: &Authz,
    repo: &Repo,
    path: &str,
) -> ApiResult<Authz> {
    let authz = authz.at_commit(tx)?;
    let exists = items::get(tx, &repo.key, path)?.is_some_and(|i| !i.folder);
    authz.require_deploy(
        repo,
        path,
        formats::replaces_protected_file(repo, path, exists),
    )?;
    Ok(authz)
}

/// A repository's quota (`quotaBytes`): refused with 507 when the repository would hold more.
/// `replaced` is the size of the file the deploy replaces (0 for a new path).
fn check_quota(repo: &Repo, used: u64, replaced: u64, incoming: u64) -> ApiResult<()> {
    if repo.quota_bytes == 0 {
        return Ok(());
    }
    let after = used.saturating_sub(replaced).saturating_add(incoming);
    if after > repo.quota_bytes {
        return Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "Repository '{}' is over its quota: it holds {} of {} (quotaBytes) and this \
                 upload needs {}; nothing was stored",
                repo.key,
                format::human_bytes(used),
                format::human_bytes(repo.quota_bytes),
                format::human_bytes(incoming)
            ),
        ));
    }
    Ok(())
}

/// The quota rule inside the commit transaction, with the repository's usage as of now.
fn require_quota_at_commit(
    tx: &arca_db::Conn<'_>,
    repo: &Repo,
    path: &str,
    incoming: u64,
) -> ApiResult<()> {
    if repo.quota_bytes == 0 {
        return Ok(());
    }
    let used = items::repo_usage(tx, &repo.key)?;
    let replaced = items::get(tx, &repo.key, path)?.map_or(0, |i| i.size());
    check_quota(repo, used, replaced, incoming)
}

fn created(req: &Request, item: &Item) -> Response {
    let body = format::item_created(&req.base_url, item);
    let mut resp = json_response(StatusCode::CREATED, &body);
    if let Ok(v) =
        HeaderValue::from_str(&format::download_uri(&req.base_url, &item.repo, &item.path))
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn create_folder(
    req: &Request,
    repo: &Repo,
    path: &str,
    principal: &Principal,
) -> ApiResult<Response> {
    let (repo_key, p, user, now) = (
        repo.key.clone(),
        path.to_string(),
        principal.name().to_string(),
        req.app.now_ms(),
    );
    let item = req
        .app
        .db
        .write(move |tx| {
            items::ensure_folders(tx, &repo_key, &p, &user, now)?;
            items::get(tx, &repo_key, &p)?
                .ok_or_else(|| ApiError::internal("create folder", "folder vanished"))
        })
        .await?;
    Ok(created(req, &item))
}

/// `X-Checksum-Deploy: true`: reference an already stored binary, no body. Only a binary the
/// caller can already read somewhere may be referenced: otherwise a checksum would be a key to
/// content in repositories the caller may not read. Unknown and unreadable checksums get the
/// same answer, and no answer shows a stored checksum.
async fn deploy_by_checksum(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
    declared: Declared,
    props: BTreeMap<String, Vec<String>>,
    user: String,
) -> ApiResult<Response> {
    let lookup = match (&declared.sha256, &declared.sha1) {
        (Some(s), _) => (ChecksumKind::Sha256, s.clone()),
        (None, Some(s)) => (ChecksumKind::Sha1, s.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "Checksum deploy needs an X-Checksum-Sha256 or X-Checksum-Sha1 header",
            ));
        }
    };
    let (repo, path, now, authz, after_repo) = (
        repo.clone(),
        target.path.clone(),
        req.app.now_ms(),
        authz.clone(),
        repo.clone(),
    );
    let item = req
        .app
        .db
        .write(move |tx| {
            let authz = require_deploy_at_commit(tx, &authz, &repo, &path)?;
            let not_found = || {
                ApiError::not_found(format!(
                    "Checksum deploy failed: no file you may read has checksum {}",
                    lookup.1
                ))
            };
            if !readable_copy_exists(tx, &authz, lookup.0, &lookup.1)? {
                return Err(not_found());
            }
            let binary = items::binary_by(tx, lookup.0, &lookup.1)?.ok_or_else(not_found)?;
            require_quota_at_commit(tx, &repo, &path, binary.size)?;
            if let Some(md5) = &declared.md5
                && *md5 != binary.md5
            {
                return Err(ApiError::conflict(format!(
                    "Checksum deploy failed: md5 {md5} does not match the stored binary's md5"
                )));
            }
            let new_file = declared.into_new_file(binary, user, now);
            let item = items::put_file(tx, &repo.key, &path, &new_file)?;
            if !props.is_empty() {
                items::set_props(tx, item.id, &props)?;
            }
            Ok(item)
        })
        .await?;
    Format::of(&after_repo)
        .after_change(&req.app, &after_repo, &item.path, &item.modified_by)
        .await;
    Ok(created(req, &item))
}

/// Whether some file with this checksum is one the caller may read.
fn readable_copy_exists(
    conn: &arca_db::Conn<'_>,
    authz: &Authz,
    kind: ChecksumKind,
    value: &str,
) -> ApiResult<bool> {
    let mut repos: BTreeMap<String, Option<Repo>> = BTreeMap::new();
    for item in items::search_checksum(conn, kind, value, &[])? {
        if !repos.contains_key(&item.repo) {
            repos.insert(item.repo.clone(), repos::get(conn, &item.repo)?);
        }
        if let Some(Some(repo)) = repos.get(&item.repo)
            && authz.allows(repo, &item.path, Action::Read)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------- delete

/// Require `action` on everything below `path` of `repo` (the path itself is checked by the
/// caller). Administrators skip the walk.
pub fn require_tree(
    conn: &arca_db::Conn<'_>,
    authz: &Authz,
    repo: &Repo,
    path: &str,
    action: Action,
) -> ApiResult<()> {
    if authz.is_admin() {
        return Ok(());
    }
    for item in items::descendants(conn, &repo.key, path)? {
        authz.require(repo, &item.path, action)?;
    }
    Ok(())
}

async fn delete(req: &Request, target: &RepoPath) -> ApiResult<Response> {
    let repo = load_repo(req, &target.repo).await?;
    let (principal, authz) = authz::require(req, &repo, &target.path, Action::Delete).await?;
    if repo.is_virtual() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "Repository '{}' is virtual: delete from the member repository that holds the \
                 file",
                repo.key
            ),
        ));
    }
    let (repo_key, path, checked) = (repo.key.clone(), target.path.clone(), repo.clone());
    let removed = req
        .app
        .db
        .write(move |tx| {
            // A folder goes only if the caller may delete everything in it.
            require_tree(tx, &authz, &checked, &path, Action::Delete)?;
            Ok::<_, ApiError>(items::delete_tree(tx, &repo_key, &path)?)
        })
        .await?;
    if removed == 0 && !target.path.is_empty() {
        return Err(ApiError::not_found("Could not find resource"));
    }
    Format::of(&repo)
        .after_change(&req.app, &repo, &target.path, principal.name())
        .await;
    tracing::info!(arca_repo = %target.repo, arca_path = %target.path, removed, user = %principal.name(), "deleted");
    Ok(empty_response(StatusCode::NO_CONTENT))
}

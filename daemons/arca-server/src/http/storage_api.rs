//! `/api/storage/{repo}/{path}` (item info, file lists, properties), `/api/metadata` (the
//! properties PATCH) and `/api/copy`, `/api/move`.

use std::collections::BTreeMap;

use serde_json::Value;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::items::{self, TransferCount};
use arca_db::listing::{self, Columns, Listed};
use arca_db::{Item, Repo};

use arca_db::permissions::Action;

use crate::formats;
use crate::http::artifacts::{authorize_read, fetch_item, load_repo, require_tree};
use crate::http::authz::{self, Authz};
use crate::http::error::{ApiError, ApiResult, empty_response, json_response, json_typed};
use crate::http::streamed::{Element, JsonEntries, LISTING_PAGE, Listing, PrettyArray, Walk};
use crate::http::{Request, format, read_small_body};
use crate::paths::{RepoPath, parse_properties, parse_repo_path, validate_property_key};
use crate::policy;

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    let mut target = parse_repo_path(tail, req.app.settings.max_path_length)?;
    let repo = load_repo(req, &target.repo).await?;
    // `{key}-cache` is remote repository `key`'s content
    target.repo = repo.key.clone();
    let has = |k: &str| req.query.contains_key(k);
    match req.method {
        Method::GET | Method::HEAD if has("properties") => {
            get_properties(req, &repo, &target).await
        }
        Method::GET | Method::HEAD if has("list") => file_list(req, &repo, &target).await,
        Method::GET | Method::HEAD if has("stats") => stats(req, &repo, &target).await,
        Method::GET | Method::HEAD => info(req, &repo, &target).await,
        Method::PUT if has("properties") => set_properties(req, &repo, &target).await,
        Method::DELETE if has("properties") => delete_properties(req, &repo, &target).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn load_item(req: &Request, target: &RepoPath) -> ApiResult<Option<Item>> {
    fetch_item(req, &target.repo, &target.path).await
}

fn missing() -> ApiError {
    ApiError::not_found("Unable to find item")
}

async fn info(req: &Request, repo: &Repo, target: &RepoPath) -> ApiResult<Response> {
    let authz = authorize_read(req, repo, &target.path).await?;
    let item = load_item(req, target).await?;
    if let Some(item) = &item
        && !item.folder
    {
        return Ok(json_typed(
            StatusCode::OK,
            &format::file_info(&req.base_url, item),
            "application/vnd.org.jfrog.artifactory.storage.FileInfo+json",
        ));
    }
    if item.is_none() && !target.path.is_empty() {
        return Err(missing());
    }
    if let Some(page) = child_page(req)? {
        return paged_folder_info(req, &authz, repo, target, item.as_ref(), page).await;
    }
    // Every child: streamed a page at a time, whatever the folder's size.
    let document = folder_document(req, repo, target, item.as_ref(), Vec::new());
    let (head, array) = PrettyArray::split(document, "children");
    let (shown_repo, authz) = (repo.clone(), authz.clone());
    let mut uri = String::new();
    let element = move |c: &Listed, out: &mut Element<'_>| {
        if authz.allows(&shown_repo, &c.path, Action::Read) {
            uri.clear();
            uri.push('/');
            uri.push_str(&c.name);
            out.push(&FolderChild {
                folder: c.folder,
                uri: &uri,
            });
        }
    };
    Listing {
        repo: repo.key.clone(),
        path: target.path.clone(),
        walk: Walk::children(Columns::Plain),
        head: head.into_bytes(),
        entries: JsonEntries::new(array, element),
    }
    .respond(&req.app.db, FOLDER_INFO)
    .await
}

const FOLDER_INFO: &str = "application/vnd.org.jfrog.artifactory.storage.FolderInfo+json";

/// The FolderInfo answer: the folder's own fields (the repository's for its root) with
/// `children`, and the page's fields when paged.
fn folder_info(
    req: &Request,
    repo: &Repo,
    target: &RepoPath,
    item: Option<&Item>,
    children: Vec<Value>,
    page: Option<serde_json::Map<String, Value>>,
) -> Response {
    let mut body = folder_document(req, repo, target, item, children);
    if let (Some(page), Some(obj)) = (page, body.as_object_mut()) {
        obj.extend(page);
    }
    json_typed(StatusCode::OK, &body, FOLDER_INFO)
}

/// The FolderInfo document: the folder's own fields (the repository's for its root) with
/// `children`.
fn folder_document(
    req: &Request,
    repo: &Repo,
    target: &RepoPath,
    item: Option<&Item>,
    children: Vec<Value>,
) -> Value {
    let (created, created_by, modified, modified_by, updated) = match item {
        Some(i) => (
            i.created,
            i.created_by.as_str(),
            i.modified,
            i.modified_by.as_str(),
            i.updated,
        ),
        None => (repo.created, "system", repo.created, "system", repo.created),
    };
    serde_json::json!({
        "repo": repo.key,
        "path": format::slash_path(&target.path),
        "created": format::iso8601(created),
        "createdBy": created_by,
        "lastModified": format::iso8601(modified),
        "modifiedBy": modified_by,
        "lastUpdated": format::iso8601(updated),
        "children": children,
        "uri": format::storage_uri(&req.base_url, &repo.key, &target.path),
    })
}

/// The most children one page of folder info holds, and how many it holds unless `limit` says.
pub const MAX_CHILD_PAGE: u64 = 10_000;
const DEFAULT_CHILD_PAGE: u64 = 1_000;

/// Folder info's paging (arca's addition, `docs/api.md`): `offset`, `limit`, `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChildPage {
    offset: u64,
    limit: u64,
    /// Only children whose name matches (`*`/`?` wildcards, else a substring; case ignored).
    name: Option<String>,
}

/// The page asked for, `None` when no paging parameter is given (the reference's answer).
fn child_page(req: &Request) -> ApiResult<Option<ChildPage>> {
    child_page_of(&req.query)
}

fn child_page_of(
    query: &std::collections::HashMap<String, String>,
) -> ApiResult<Option<ChildPage>> {
    if !["offset", "limit", "name"]
        .iter()
        .any(|k| query.contains_key(*k))
    {
        return Ok(None);
    }
    let number = |key: &str, default: u64| -> ApiResult<u64> {
        match query.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "Query parameter '{key}' must be a number from 0, got '{v}'"
                ))
            }),
        }
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", DEFAULT_CHILD_PAGE)?;
    if limit > MAX_CHILD_PAGE {
        return Err(ApiError::bad_request(format!(
            "Query parameter 'limit' is at most {MAX_CHILD_PAGE}, got {limit}"
        )));
    }
    let name = query
        .get("name")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Ok(Some(ChildPage {
        offset,
        limit,
        name,
    }))
}

/// Folder info with one page of the children (folders first, then by name) and `offset`,
/// `limit`, `total` (the children the caller may read that match `name`) and `hasMore`. Each
/// child also has `lastModified`, and `size` for a file.
async fn paged_folder_info(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
    item: Option<&Item>,
    page: ChildPage,
) -> ApiResult<Response> {
    let (repo_key, path) = (repo.key.clone(), target.path.clone());
    let name = page.name.clone();
    let window = (page.offset, page.limit);
    // When the caller may read everything below the folder, the database pages; otherwise
    // every matching child is decided on, so `total` and the pages stay exact.
    let (children, total) = if authz.allows_everything_below(repo, &target.path, Action::Read) {
        req.app
            .db
            .read(move |conn| {
                let total = items::count_children(conn, &repo_key, &path, name.as_deref())?;
                let shown =
                    items::children_page(conn, &repo_key, &path, name.as_deref(), Some(window))?;
                Ok::<_, ApiError>((shown, total))
            })
            .await?
    } else {
        // Every matching child is walked a page at a time; only the window's are kept.
        let (authz, repo) = (authz.clone(), repo.clone());
        req.app
            .db
            .read(move |conn| {
                let (mut cursor, mut total, mut shown) =
                    (listing::ChildrenCursor::default(), 0u64, Vec::new());
                loop {
                    let page = listing::next_children_named(
                        conn,
                        &repo_key,
                        &path,
                        name.as_deref(),
                        &mut cursor,
                        LISTING_PAGE,
                    )?;
                    if page.is_empty() {
                        break;
                    }
                    for child in page {
                        if !authz.allows(&repo, &child.path, Action::Read) {
                            continue;
                        }
                        if total >= window.0 && total - window.0 < window.1 {
                            shown.push(child);
                        }
                        total += 1;
                    }
                }
                Ok::<_, ApiError>((shown, total))
            })
            .await?
    };
    let has_more = page.offset.saturating_add(children.len() as u64) < total;
    let children: Vec<Value> = children
        .iter()
        .map(|c| {
            let mut child = serde_json::json!({
                "uri": format!("/{}", c.name),
                "folder": c.folder,
                "lastModified": format::iso8601(c.modified),
            });
            if !c.folder
                && let Some(obj) = child.as_object_mut()
            {
                obj.insert("size".into(), c.size().into());
            }
            child
        })
        .collect();
    let paging = serde_json::Map::from_iter([
        ("offset".to_string(), Value::from(page.offset)),
        ("limit".to_string(), Value::from(page.limit)),
        ("total".to_string(), Value::from(total)),
        ("hasMore".to_string(), Value::from(has_more)),
    ]);
    Ok(folder_info(req, repo, target, item, children, Some(paging)))
}

/// `?list[&deep=1][&depth=n][&listFolders=1][&includeRootPath=1]`
async fn file_list(req: &Request, repo: &Repo, target: &RepoPath) -> ApiResult<Response> {
    let authz = authorize_read(req, repo, &target.path).await?;
    let item = load_item(req, target).await?;
    if let Some(i) = &item
        && !i.folder
    {
        return Err(ApiError::bad_request(
            "File list needs a folder, not a file",
        ));
    }
    if item.is_none() && !target.path.is_empty() {
        return Err(missing());
    }
    let deep = req.flag("deep").unwrap_or(false);
    let depth: Option<usize> = match req.query.get("depth") {
        Some(d) => Some(d.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Query parameter 'depth' must be a number, got '{d}'"
            ))
        })?),
        None => None,
    };
    let list_folders = req.flag("listFolders").unwrap_or(false);
    let include_root = req.flag("includeRootPath").unwrap_or(false);
    let base_depth = if target.path.is_empty() {
        0
    } else {
        target.path.matches('/').count() + 1
    };
    let max_depth = match (deep, depth) {
        (false, _) => 1,
        (true, Some(d)) => d,
        (true, None) => usize::MAX,
    };
    let document = serde_json::json!({
        "uri": format::storage_uri(&req.base_url, &repo.key, &target.path),
        "created": format::iso8601(item.as_ref().map(|i| i.created).unwrap_or(repo.created)),
        "files": [],
    });
    let (head, mut array) = PrettyArray::split(document, "files");
    let mut head = head.into_bytes();
    if include_root {
        array.push(&serde_json::json!({ "uri": "/", "size": -1, "lastModified": format::iso8601(item.as_ref().map(|i| i.modified).unwrap_or(repo.created)), "folder": true }), &mut head);
    }
    let (shown_repo, authz, folder) = (repo.clone(), authz.clone(), target.path.clone());
    let mut uri = String::new();
    let element = move |i: &Listed, out: &mut Element<'_>| {
        let rel_depth = i.path.matches('/').count() + 1 - base_depth;
        if rel_depth > max_depth
            || (i.folder && !list_folders)
            || !authz.allows(&shown_repo, &i.path, Action::Read)
        {
            return;
        }
        uri.clear();
        uri.push('/');
        uri.push_str(i.path[folder.len()..].trim_start_matches('/'));
        let (sha1, sha2) = i.sha1.as_deref().zip(i.sha256.as_deref()).unzip();
        out.push(&ListedFile {
            folder: i.folder,
            last_modified: format::Iso8601(i.modified),
            sha1,
            sha2,
            size: if i.folder { -1 } else { i.size as i64 },
            uri: &uri,
        });
    };
    // Every item below (or child of) the folder: streamed a page at a time.
    Listing {
        repo: repo.key.clone(),
        path: target.path.clone(),
        walk: if deep {
            Walk::tree(Columns::WithChecksums)
        } else {
            Walk::children(Columns::WithChecksums)
        },
        head,
        entries: JsonEntries::new(array, element),
    }
    .respond(&req.app.db, "application/json")
    .await
}

/// One entry of `?list`: a typed record rather than a `Value` (a 100k-file listing builds
/// one per file); the fields in the order the `Value` printed its keys (sorted).
#[derive(serde::Serialize)]
struct ListedFile<'a> {
    folder: bool,
    #[serde(rename = "lastModified")]
    last_modified: format::Iso8601,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha2: Option<&'a str>,
    size: i64,
    uri: &'a str,
}

/// One child in a folder info (sorted keys, as a `Value` prints them).
#[derive(serde::Serialize)]
struct FolderChild<'a> {
    folder: bool,
    uri: &'a str,
}

async fn get_properties(req: &Request, repo: &Repo, target: &RepoPath) -> ApiResult<Response> {
    authorize_read(req, repo, &target.path).await?;
    let item = load_item(req, target).await?.ok_or_else(missing)?;
    let id = item.id;
    let mut props = req.app.db.read(move |conn| items::props(conn, id)).await?;
    if let Some(wanted) = req.query.get("properties").filter(|w| !w.is_empty()) {
        let wanted: Vec<&str> = wanted.split(',').collect();
        props.retain(|k, _| wanted.contains(&k.as_str()));
    }
    if props.is_empty() {
        return Err(ApiError::not_found("No properties could be found."));
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "uri": format::storage_uri(&req.base_url, &item.repo, &item.path),
            "properties": props,
        }),
    ))
}

/// `?stats`: how often the file was downloaded, when last and by whom (the reference's shape;
/// arca keeps no separate figures for remote downloads, so those are 0).
async fn stats(req: &Request, repo: &Repo, target: &RepoPath) -> ApiResult<Response> {
    authorize_read(req, repo, &target.path).await?;
    let item = load_item(req, target).await?.ok_or_else(missing)?;
    if item.folder {
        return Err(ApiError::bad_request(
            "Download statistics are kept for files, not folders",
        ));
    }
    let id = item.id;
    let stored = req
        .app
        .db
        .read(move |conn| arca_db::builds::download_stats(conn, id))
        .await?;
    let s = req.app.downloads.with_pending(id, stored);
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "uri": format::storage_uri(&req.base_url, &item.repo, &item.path),
            "downloadCount": s.downloads,
            "lastDownloaded": s.last_downloaded,
            "lastDownloadedBy": s.last_by,
            "remoteDownloadCount": 0,
            "remoteLastDownloaded": 0,
        }),
    ))
}

/// Item ids a property change applies to: the item, and for a folder (unless
/// `recursive=0`) everything below it. The caller needs `annotate` on each of them.
async fn property_targets(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
) -> ApiResult<Vec<i64>> {
    let recursive = req.flag("recursive").unwrap_or(true);
    property_targets_below(req, authz, repo, target, recursive).await
}

/// [`property_targets`] with the recursion chosen by the caller.
async fn property_targets_below(
    req: &Request,
    authz: &Authz,
    repo: &Repo,
    target: &RepoPath,
    recursive: bool,
) -> ApiResult<Vec<i64>> {
    let item = load_item(req, target).await?.ok_or_else(missing)?;
    if !item.folder || !recursive {
        return Ok(vec![item.id]);
    }
    let (repo_key, path) = (target.repo.clone(), target.path.clone());
    let below = req
        .app
        .db
        .read(move |conn| items::descendants(conn, &repo_key, &path))
        .await?;
    for i in &below {
        authz.require(repo, &i.path, Action::Annotate)?;
    }
    Ok(std::iter::once(item.id)
        .chain(below.iter().map(|i| i.id))
        .collect())
}

async fn set_properties(req: &Request, repo: &Repo, target: &RepoPath) -> ApiResult<Response> {
    let (_, authz) = authz::require(req, repo, &target.path, Action::Annotate).await?;
    let spec = req.query.get("properties").cloned().unwrap_or_default();
    let props: BTreeMap<String, Vec<String>> = parse_properties(&spec)?;
    if props.is_empty() {
        return Err(ApiError::bad_request(
            "Query parameter 'properties' names no property",
        ));
    }
    let ids = property_targets(req, &authz, repo, target).await?;
    req.app
        .db
        .write(move |tx| {
            for id in &ids {
                items::set_props(tx, *id, &props)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

async fn delete_properties(req: &Request, repo: &Repo, target: &RepoPath) -> ApiResult<Response> {
    let (_, authz) = authz::require(req, repo, &target.path, Action::Annotate).await?;
    let keys: Vec<String> = req
        .query
        .get("properties")
        .map(|s| {
            s.split(',')
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        return Err(ApiError::bad_request(
            "Query parameter 'properties' names no property",
        ));
    }
    for k in &keys {
        validate_property_key(k)?;
    }
    let ids = property_targets(req, &authz, repo, target).await?;
    req.app
        .db
        .write(move |tx| {
            for id in &ids {
                items::delete_props(tx, *id, &keys)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `PATCH /api/metadata/{repo}/{path}[?recursiveProperties=0|1][&atomicProperties=0|1]` with
/// `{"props": {"k": "v" | ["v1", "v2"] | null}}`: set (replacing the values of) or remove
/// (`null`) properties of the item, and of everything below a folder unless
/// `recursiveProperties=0`. One transaction: atomic whatever `atomicProperties` says.
pub async fn patch_metadata(req: &mut Request, tail: &str) -> ApiResult<Response> {
    if req.method != Method::PATCH {
        return Err(ApiError::method_not_allowed());
    }
    let mut target = parse_repo_path(tail, req.app.settings.max_path_length)?;
    let repo = load_repo(req, &target.repo).await?;
    target.repo = repo.key.clone();
    let (_, authz) = authz::require(req, &repo, &target.path, Action::Annotate).await?;
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, 1024 * 1024).await?;
    let (set, remove) = parse_props_patch(&bytes)?;
    let recursive = req.flag("recursiveProperties").unwrap_or(true);
    let ids = property_targets_below(req, &authz, &repo, &target, recursive).await?;
    req.app
        .db
        .write(move |tx| {
            for id in &ids {
                items::set_props(tx, *id, &set)?;
                items::delete_props(tx, *id, &remove)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// Properties to set (each key's values replaced) and keys to remove.
type PropsPatch = (BTreeMap<String, Vec<String>>, Vec<String>);

/// The body of a metadata PATCH; every key checked.
fn parse_props_patch(bytes: &[u8]) -> ApiResult<PropsPatch> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "The body is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let props = body
        .get("props")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("The body must be {\"props\": {…}}"))?;
    let (mut set, mut remove) = (BTreeMap::new(), Vec::new());
    for (key, value) in props {
        validate_property_key(key)?;
        let bad = || {
            ApiError::bad_request(format!(
                "props.{key}: a value is a string, a list of strings or null"
            ))
        };
        match value {
            Value::Null => remove.push(key.clone()),
            Value::String(v) => {
                set.insert(key.clone(), vec![v.clone()]);
            }
            Value::Array(list) => {
                let values = list
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
                    .collect::<ApiResult<Vec<String>>>()?;
                set.insert(key.clone(), values);
            }
            Value::Number(_) | Value::Bool(_) => {
                set.insert(key.clone(), vec![value.to_string()]);
            }
            Value::Object(_) => return Err(bad()),
        }
    }
    Ok((set, remove))
}

/// `POST /api/copy|move/{srcRepo}/{srcPath}?to=/{dstRepo}/{dstPath}[&dry=1]`
pub async fn copy_or_move(req: &mut Request, tail: &str, is_move: bool) -> ApiResult<Response> {
    if req.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let (principal, authz) = authz::caller(req).await?;
    let max = req.app.settings.max_path_length;
    let src = parse_repo_path(tail, max)?;
    // The target as sent, decoded by the one path parser every entry point uses.
    let to = req
        .raw_query_value("to")
        .ok_or_else(|| ApiError::bad_request("Query parameter 'to' is required (to=/repo/path)"))?;
    // Clients that encode the whole value send its slashes as %2F (an encoded slash inside a
    // name is refused anyway).
    let to = to.replace("%2F", "/").replace("%2f", "/");
    let dst = parse_repo_path(to.trim_start_matches('/'), max)?;
    if src.path.is_empty() {
        return Err(ApiError::bad_request(
            "Copy and move need a path inside the source repository",
        ));
    }
    let dst_repo = load_repo(req, &dst.repo).await?;
    if !dst_repo.is_local() {
        return Err(ApiError::bad_request(format!(
            "Target repository '{}' is not local",
            dst.repo
        )));
    }
    let src_repo = load_repo(req, &src.repo).await?;
    // `{key}-cache` is remote repository `key`'s content
    let src = RepoPath {
        repo: src_repo.key.clone(),
        ..src
    };
    // Copy reads the source, move deletes it; both deploy to the target.
    let src_action = if is_move {
        Action::Delete
    } else {
        Action::Read
    };
    authz.require(&src_repo, &src.path, src_action)?;
    authz.require(&dst_repo, &dst.path, Action::Deploy)?;
    let dry = req.flag("dry").unwrap_or(false);
    let (user, now) = (principal.name().to_string(), req.app.now_ms());
    let verb = if is_move { "move" } else { "copy" };
    let (s, d, repo_for_check) = (src.clone(), dst.clone(), dst_repo.clone());
    let (count, landed): (TransferCount, Vec<String>) = req
        .app
        .db
        .write(move |tx| {
            let item = items::get(tx, &s.repo, &s.path)?.ok_or_else(|| {
                ApiError::not_found(format!("Could not find {}/{}", s.repo, s.path))
            })?;
            if item.folder {
                require_tree(tx, &authz, &src_repo, &s.path, src_action)?;
            }
            let target = items::transfer_target(tx, &item, &d.repo, &d.path)?;
            // Every file must be acceptable where it lands.
            let files: Vec<String> = if item.folder {
                items::descendants(tx, &s.repo, &s.path)?
                    .into_iter()
                    .filter(|i| !i.folder)
                    .map(|i| {
                        items::join_path(&target, i.path[s.path.len()..].trim_start_matches('/'))
                    })
                    .collect()
            } else {
                vec![target.clone()]
            };
            for f in &files {
                let exists = items::get(tx, &d.repo, f)?.is_some_and(|i| !i.folder);
                authz.require_deploy(
                    &repo_for_check,
                    f,
                    formats::replaces_protected_file(&repo_for_check, f, exists),
                )?;
                policy::check_deploy(&repo_for_check, f)?;
            }
            let count = items::copy_tree(tx, &item, &d.repo, &target, &user, now, dry)?;
            if is_move && !dry {
                items::delete_tree(tx, &s.repo, &s.path)?;
            }
            Ok::<_, ApiError>((count, if dry { Vec::new() } else { files }))
        })
        .await?;
    // what the format keeps about its folders (Maven metadata) follows, on both sides
    if !dry {
        let mut folders_done = std::collections::HashSet::new();
        for path in &landed {
            if folders_done.insert(items::split_path(path).0) {
                formats::Format::of(&dst_repo)
                    .after_change(&req.app, &dst_repo, path, principal.name())
                    .await;
            }
        }
        if is_move {
            let src_repo = load_repo(req, &src.repo).await?;
            formats::Format::of(&src_repo)
                .after_change(&req.app, &src_repo, &src.path, principal.name())
                .await;
        }
    }
    let (done, past) = if is_move {
        ("moving", "moved")
    } else {
        ("copying", "copied")
    };
    let message = format!(
        "{}{done} {}:{} to {}:{} completed successfully, {} artifacts and {} folders were {past}",
        if dry { "Dry run for " } else { "" },
        src.repo,
        src.path,
        dst.repo,
        dst.path,
        count.files,
        count.folders
    );
    tracing::info!(arca_repo = %src.repo, arca_path = %src.path, to_repo = %dst.repo, to_path = %dst.path, dry, "{verb}");
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "messages": [{ "level": "INFO", "message": message }] }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(pairs: &[(&str, &str)]) -> ApiResult<Option<ChildPage>> {
        let query = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        child_page_of(&query)
    }

    #[test]
    fn folder_info_pages_only_when_asked() {
        assert_eq!(page(&[]).unwrap(), None);
        assert_eq!(page(&[("list", ""), ("deep", "1")]).unwrap(), None);
        let p = page(&[("offset", "500")]).unwrap().unwrap();
        assert_eq!((p.offset, p.limit, p.name), (500, DEFAULT_CHILD_PAGE, None));
        let p = page(&[("limit", "0"), ("name", "  ")]).unwrap().unwrap();
        assert_eq!((p.offset, p.limit, p.name), (0, 0, None));
        let p = page(&[("name", " lib-*.jar ")]).unwrap().unwrap();
        assert_eq!(p.name.as_deref(), Some("lib-*.jar"));
        let max = MAX_CHILD_PAGE.to_string();
        assert_eq!(
            page(&[("limit", &max)]).unwrap().unwrap().limit,
            MAX_CHILD_PAGE
        );
        let huge = u64::MAX.to_string();
        assert_eq!(
            page(&[("offset", &huge)]).unwrap().unwrap().offset,
            u64::MAX
        );
    }

    #[test]
    fn bad_paging_parameters_are_refused_naming_them() {
        let message = |pairs: &[(&str, &str)]| page(pairs).unwrap_err().message;
        for bad in ["-1", "x", "1.5", "", "18446744073709551616", "1e3"] {
            assert!(message(&[("offset", bad)]).contains("'offset'"), "{bad}");
            assert!(message(&[("limit", bad)]).contains("'limit'"), "{bad}");
        }
        let over = (MAX_CHILD_PAGE + 1).to_string();
        assert!(message(&[("limit", &over)]).contains("at most"));
    }
}

//! `/api/repositories` — local repositories of the package types in
//! [`crate::formats::PACKAGE_TYPES`].

use serde_json::{Map, Value};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::{Repo, repos};

use crate::formats::{Format, PACKAGE_TYPES};
use crate::http::auth::require_admin;
use crate::http::authz::{self, Authz};
use crate::http::error::{ApiError, ApiResult, json_response, text_response};
use crate::http::{Request, format, read_small_body};
use crate::paths::validate_repo_key;
use crate::policy::compile_patterns;

/// Reference fields we accept in a configuration and ignore (they have no
/// effect in arca yet), so configurations exported from the reference load.
const IGNORED_FIELDS: &[&str] = &[
    "repoLayoutRef",
    "maxUniqueSnapshots",
    "checksumPolicyType",
    "snapshotVersionBehavior",
    "suppressPomConsistencyChecks",
    "blackedOut",
    "propertySets",
    "archiveBrowsingEnabled",
    "xrayIndex",
    "downloadRedirect",
    "calculateYumMetadata",
    "yumRootDepth",
    "debianTrivialLayout",
    "enableFileListsIndexing",
    "priorityResolution",
    "cdnRedirect",
    "environments",
    "projectKey",
    "forceNugetAuthentication",
    "blockPushingSchema1",
    "url",
];

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    if tail.is_empty() {
        return match req.method {
            Method::GET | Method::HEAD => list(req).await,
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    let key = percent_encoding::percent_decode_str(tail)
        .decode_utf8_lossy()
        .into_owned();
    validate_repo_key(&key)?;
    match req.method {
        Method::GET | Method::HEAD => get(req, &key).await,
        Method::PUT => create(req, &key).await,
        Method::POST => update(req, &key).await,
        Method::DELETE => delete(req, &key).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn list_entry(req: &Request, r: &Repo) -> Value {
    serde_json::json!({
        "key": r.key,
        "type": r.rclass.to_ascii_uppercase(),
        "description": r.description,
        "url": format::download_uri(&req.base_url, &r.key, ""),
        "packageType": r.package_type,
    })
}

/// The repositories the caller may read something in (grants, or `anonymousRead`), with the
/// caller's view of the grants; the others' names are not leaked.
pub async fn readable_repos(req: &Request) -> ApiResult<(Vec<Repo>, Authz)> {
    let (_, authz) = authz::caller(req).await?;
    let all = req.app.db.read(repos::list).await?;
    let readable = all
        .into_iter()
        .filter(|r| authz.reads_somewhere(r))
        .collect();
    Ok((readable, authz))
}

async fn list(req: &Request) -> ApiResult<Response> {
    let (all, _) = readable_repos(req).await?;
    let want_type = req.query.get("type").map(|t| t.to_ascii_lowercase());
    let want_pkg = req.query.get("packageType").map(|t| t.to_ascii_lowercase());
    let out: Vec<Value> = all
        .iter()
        .filter(|r| want_type.as_deref().is_none_or(|t| t == r.rclass))
        .filter(|r| want_pkg.as_deref().is_none_or(|p| p == r.package_type))
        .map(|r| list_entry(req, r))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

/// Repository list at the context root, so a browser pointed at the server sees something useful.
pub async fn root_listing(req: &Request) -> ApiResult<Response> {
    let (all, _) = readable_repos(req).await?;
    let out: Vec<Value> = all.iter().map(|r| list_entry(req, r)).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

pub fn config_json(r: &Repo) -> Value {
    serde_json::json!({
        "key": r.key,
        "rclass": r.rclass,
        "packageType": r.package_type,
        "description": r.description,
        "notes": r.notes,
        "includesPattern": r.includes_pattern,
        "excludesPattern": r.excludes_pattern,
        "repoLayoutRef": Format::of(r).layout_ref(),
        "handleReleases": r.handle_releases,
        "handleSnapshots": r.handle_snapshots,
        "anonymousRead": r.anonymous_read,
        "activeContentInline": r.content_inline,
        "quotaBytes": r.quota_bytes,
        "maxUniqueSnapshots": 0,
        "checksumPolicyType": "client-checksums",
        "snapshotVersionBehavior": "unique",
        "suppressPomConsistencyChecks": false,
        "blackedOut": false,
        "propertySets": [],
        "archiveBrowsingEnabled": false,
    })
}

async fn get(req: &Request, key: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let k = key.to_string();
    let repo = req
        .app
        .db
        .read(move |conn| repos::get(conn, &k))
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("Repository {key} does not exist")))?;
    Ok(json_response(StatusCode::OK, &config_json(&repo)))
}

async fn read_config(req: &mut Request) -> ApiResult<Map<String, Value>> {
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, 1024 * 1024).await?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "Repository configuration is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request(
            "Repository configuration must be a JSON object",
        )),
    }
}

fn string_field(field: &str, v: &Value) -> ApiResult<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request(format!("Field '{field}' must be a string")))
}

fn bool_field(field: &str, v: &Value) -> ApiResult<bool> {
    v.as_bool()
        .ok_or_else(|| ApiError::bad_request(format!("Field '{field}' must be true or false")))
}

/// Apply the fields of `map` to `repo`, validating each; names any bad field.
fn apply_fields(repo: &mut Repo, map: &Map<String, Value>) -> ApiResult<()> {
    for (field, v) in map {
        match field.as_str() {
            "key" => {
                let key = string_field(field, v)?;
                if key != repo.key {
                    return Err(ApiError::bad_request(format!(
                        "Field 'key' ({key}) does not match the repository in the URL ({})",
                        repo.key
                    )));
                }
            }
            "rclass" => {
                let rclass = string_field(field, v)?.to_ascii_lowercase();
                if rclass != "local" {
                    return Err(ApiError::bad_request(format!(
                        "Field 'rclass': '{rclass}' repositories are not supported yet; use 'local'"
                    )));
                }
                repo.rclass = rclass;
            }
            "packageType" => {
                let pt = string_field(field, v)?.to_ascii_lowercase();
                if !PACKAGE_TYPES.contains(&pt.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "Field 'packageType': '{pt}' is not supported; use one of {}",
                        PACKAGE_TYPES.join(", ")
                    )));
                }
                repo.package_type = pt;
            }
            "description" => repo.description = string_field(field, v)?,
            "notes" => repo.notes = string_field(field, v)?,
            "includesPattern" => {
                let p = string_field(field, v)?;
                compile_patterns(field, &p)?;
                repo.includes_pattern = p;
            }
            "excludesPattern" => {
                let p = string_field(field, v)?;
                compile_patterns(field, &p)?;
                repo.excludes_pattern = p;
            }
            "handleReleases" => repo.handle_releases = bool_field(field, v)?,
            "handleSnapshots" => repo.handle_snapshots = bool_field(field, v)?,
            "anonymousRead" => repo.anonymous_read = bool_field(field, v)?,
            "activeContentInline" => repo.content_inline = bool_field(field, v)?,
            "quotaBytes" => {
                repo.quota_bytes = v.as_u64().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Field '{field}' must be a whole number of bytes (0: no quota)"
                    ))
                })?
            }
            other if IGNORED_FIELDS.contains(&other) => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown field '{other}' in repository configuration"
                )));
            }
        }
    }
    Ok(())
}

async fn create(req: &mut Request, key: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let map = read_config(req).await?;
    if !map.contains_key("rclass") {
        return Err(ApiError::bad_request(
            "Field 'rclass' is required (use \"local\")",
        ));
    }
    let mut repo = Repo::local(key, req.app.now_ms());
    apply_fields(&mut repo, &map)?;
    let to_insert = repo.clone();
    req.app
        .db
        .write(move |tx| repos::insert(tx, &to_insert))
        .await
        .map_err(|e| match e {
            arca_db::DbError::Conflict(m) => ApiError::bad_request(m),
            other => ApiError::from(other),
        })?;
    tracing::info!(arca_repo = %repo.key, package_type = %repo.package_type, user = %principal.name(), "repository created");
    Ok(text_response(
        StatusCode::OK,
        format!("Successfully created repository '{key}'"),
    ))
}

async fn update(req: &mut Request, key: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let map = read_config(req).await?;
    let k = key.to_string();
    let mut repo = req
        .app
        .db
        .read(move |conn| repos::get(conn, &k))
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("Repository {key} does not exist")))?;
    apply_fields(&mut repo, &map)?;
    req.app.db.write(move |tx| repos::update(tx, &repo)).await?;
    Ok(text_response(
        StatusCode::OK,
        format!("Repository {key} update successfully."),
    ))
}

async fn delete(req: &Request, key: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let k = key.to_string();
    let existed = req.app.db.write(move |tx| repos::delete(tx, &k)).await?;
    if !existed {
        return Err(ApiError::not_found(format!(
            "Repository {key} does not exist"
        )));
    }
    tracing::info!(arca_repo = %key, user = %principal.name(), "repository deleted");
    Ok(text_response(
        StatusCode::OK,
        format!("Repository '{key}' and all its content have been removed successfully."),
    ))
}

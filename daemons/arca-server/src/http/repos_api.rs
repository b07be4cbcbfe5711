//! `/api/repositories` — local, remote and virtual repositories of the package types in
//! [`crate::formats::PACKAGE_TYPES`] (`docs/repositories.md`).

use serde_json::{Map, Value};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::model::{LOCAL, REMOTE, VIRTUAL};
use arca_db::{Repo, repos};

use crate::formats::{Format, PACKAGE_TYPES};
use crate::http::auth::require_admin;
use crate::http::authz::{self, Authz};
use crate::http::error::{ApiError, ApiResult, json_response, text_response};
use crate::http::repo_fields::{self, ReferenceField};
use crate::http::{Request, format, read_small_body};
use crate::paths::validate_repo_key;
use crate::policy::compile_patterns;

/// The `rclass` values, and what each is.
const RCLASSES: [&str; 3] = [LOCAL, REMOTE, VIRTUAL];

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

/// A repository's configuration as the API shows it: the common fields and those of its
/// kind. The upstream password is never shown.
pub fn config_json(r: &Repo) -> Value {
    let x = &r.settings;
    let mut out = serde_json::json!({
        "key": r.key,
        "rclass": r.rclass,
        "packageType": r.package_type,
        "description": r.description,
        "notes": r.notes,
        "includesPattern": r.includes_pattern,
        "excludesPattern": r.excludes_pattern,
        "anonymousRead": r.anonymous_read,
    });
    let kind = match r.rclass.as_str() {
        REMOTE => serde_json::json!({
            "url": x.url,
            "username": x.username,
            "handleReleases": r.handle_releases,
            "handleSnapshots": r.handle_snapshots,
            "offline": x.offline,
            "blackedOut": x.blacked_out,
            "hardFail": x.hard_fail,
            "storeArtifactsLocally": x.store_artifacts_locally,
            "socketTimeoutMillis": x.socket_timeout_millis,
            "retrievalCachePeriodSecs": x.retrieval_cache_period_secs,
            "missedRetrievalCachePeriodSecs": x.missed_retrieval_cache_period_secs,
            "assumedOfflinePeriodSecs": x.assumed_offline_period_secs,
        }),
        VIRTUAL => serde_json::json!({
            "repositories": x.repositories,
            "defaultDeploymentRepo": x.default_deployment_repo,
            "virtualRetrievalCachePeriodSecs": x.virtual_retrieval_cache_period_secs,
        }),
        _ => serde_json::json!({
            "handleReleases": r.handle_releases,
            "handleSnapshots": r.handle_snapshots,
            "activeContentInline": r.content_inline,
            "quotaBytes": r.quota_bytes,
            "blackedOut": x.blacked_out,
            "maxUniqueSnapshots": x.max_unique_snapshots,
            "checksumPolicyType": x.checksum_policy_type,
            "snapshotVersionBehavior": x.snapshot_version_behavior,
            "suppressPomConsistencyChecks": x.suppress_pom_consistency_checks,
        }),
    };
    if let (Value::Object(out), Value::Object(kind)) = (&mut out, kind) {
        out.extend(kind);
        let shown = repo_fields::shown(r, Format::of(r).layout_ref());
        out.extend(shown.into_iter().map(|(k, v)| (k.to_string(), v)));
    }
    out
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

/// A string field; `null` is "" (the reference's exports have nulls for unset strings).
fn string_field(field: &str, v: &Value) -> ApiResult<String> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        _ => Err(ApiError::bad_request(format!(
            "Field '{field}' must be a string"
        ))),
    }
}

/// A boolean field; `"true"`/`"false"` as strings too, as the reference's documents spell some.
fn bool_field(field: &str, v: &Value) -> ApiResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Field '{field}' must be true or false"
        ))),
    }
}

fn number_field(field: &str, v: &Value, what: &str) -> ApiResult<u64> {
    v.as_u64()
        .ok_or_else(|| ApiError::bad_request(format!("Field '{field}' must be {what}")))
}

fn choice_field(field: &str, v: &Value, choices: &[&str]) -> ApiResult<String> {
    let s = string_field(field, v)?;
    if !choices.contains(&s.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Field '{field}': '{}' is not one of {}",
            s.escape_debug(),
            choices.join(", ")
        )));
    }
    Ok(s)
}

/// Which kinds of repository a kind-specific field applies to.
fn field_kinds(field: &str) -> Option<&'static [&'static str]> {
    const R: &[&str] = &[REMOTE];
    const V: &[&str] = &[VIRTUAL];
    const L: &[&str] = &[LOCAL];
    const LR: &[&str] = &[LOCAL, REMOTE];
    Some(match field {
        "username"
        | "password"
        | "offline"
        | "hardFail"
        | "storeArtifactsLocally"
        | "socketTimeoutMillis"
        | "retrievalCachePeriodSecs"
        | "missedRetrievalCachePeriodSecs"
        | "assumedOfflinePeriodSecs" => R,
        "repositories" | "defaultDeploymentRepo" | "virtualRetrievalCachePeriodSecs" => V,
        "activeContentInline"
        | "quotaBytes"
        | "maxUniqueSnapshots"
        | "checksumPolicyType"
        | "snapshotVersionBehavior"
        | "suppressPomConsistencyChecks" => L,
        "handleReleases" | "handleSnapshots" | "blackedOut" => LR,
        _ => return None,
    })
}

/// Apply the fields of `map` to `repo` (its `rclass` already set), validating each that
/// belongs to it (400 naming a bad one). Fields of other kinds or package types, and fields
/// arca does not know, are ignored: returned as `name (why)`.
fn apply_fields(
    req: &Request,
    repo: &mut Repo,
    map: &Map<String, Value>,
) -> ApiResult<Vec<String>> {
    let mut ignored = Vec::new();
    // the package type first: which fields belong depends on it
    let fields = map
        .iter()
        .filter(|(f, _)| *f == "packageType")
        .chain(map.iter().filter(|(f, _)| *f != "packageType"));
    for (field, v) in fields {
        if let Some(kinds) = field_kinds(field)
            && !kinds.contains(&repo.rclass.as_str())
        {
            match ReferenceField::named(field) {
                Some(f) if f.belongs_to(repo) => keep_reference_field(repo, f, v)?,
                _ => ignored.push(format!("{field} ({} repositories only)", kinds.join("/"))),
            }
            continue;
        }
        let x = &mut repo.settings;
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
                if rclass != repo.rclass {
                    return Err(ApiError::bad_request(format!(
                        "Field 'rclass': a {} repository can't become {rclass}; delete it and \
                         create a new one",
                        repo.rclass
                    )));
                }
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
                repo.quota_bytes = number_field(field, v, "a whole number of bytes (0: no quota)")?
            }
            "blackedOut" => x.blacked_out = bool_field(field, v)?,
            "maxUniqueSnapshots" => {
                x.max_unique_snapshots = u32::try_from(number_field(
                    field,
                    v,
                    "a whole number (0: keep every snapshot)",
                )?)
                .unwrap_or(u32::MAX)
            }
            "snapshotVersionBehavior" => {
                x.snapshot_version_behavior =
                    choice_field(field, v, &["unique", "non-unique", "deployer"])?
            }
            "checksumPolicyType" => {
                x.checksum_policy_type = choice_field(
                    field,
                    v,
                    &["client-checksums", "server-generated-checksums"],
                )?
            }
            "suppressPomConsistencyChecks" => {
                x.suppress_pom_consistency_checks = bool_field(field, v)?
            }
            // remote
            "url" if repo.rclass == REMOTE => x.url = upstream_url(&string_field(field, v)?)?,
            // a local repository's `url` is where it is served (the reference exports it)
            "url" => ignored.push("url (remote repositories only)".into()),
            "username" => x.username = string_field(field, v)?,
            "password" => {
                let password = string_field(field, v)?;
                x.password_sealed = if password.is_empty() {
                    String::new()
                } else {
                    req.app.secrets.seal(
                        password.as_bytes(),
                        &crate::remote::upstream::password_context(&repo.key),
                    )
                };
            }
            "offline" => x.offline = bool_field(field, v)?,
            "hardFail" => x.hard_fail = bool_field(field, v)?,
            "storeArtifactsLocally" => x.store_artifacts_locally = bool_field(field, v)?,
            "socketTimeoutMillis" => {
                x.socket_timeout_millis = number_field(field, v, "a number of milliseconds")?;
                if x.socket_timeout_millis == 0 {
                    return Err(ApiError::bad_request(
                        "Field 'socketTimeoutMillis' must be at least 1",
                    ));
                }
            }
            "retrievalCachePeriodSecs" => {
                x.retrieval_cache_period_secs = number_field(field, v, "a number of seconds")?
            }
            "missedRetrievalCachePeriodSecs" => {
                x.missed_retrieval_cache_period_secs =
                    number_field(field, v, "a number of seconds")?
            }
            "assumedOfflinePeriodSecs" => {
                x.assumed_offline_period_secs = number_field(field, v, "a number of seconds")?
            }
            // virtual
            "repositories" => {
                let list = v.as_array().ok_or_else(|| {
                    ApiError::bad_request("Field 'repositories' must be a list of repository keys")
                })?;
                let mut keys = Vec::with_capacity(list.len());
                for k in list {
                    let k = string_field("repositories", k)?;
                    validate_repo_key(&k)?;
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                x.repositories = keys;
            }
            "defaultDeploymentRepo" => {
                x.default_deployment_repo = match v {
                    Value::Null => String::new(),
                    v => string_field(field, v)?,
                }
            }
            "virtualRetrievalCachePeriodSecs" => {
                x.virtual_retrieval_cache_period_secs =
                    number_field(field, v, "a number of seconds")?
            }
            other => match ReferenceField::named(other) {
                Some(f) if f.belongs_to(repo) => keep_reference_field(repo, f, v)?,
                Some(f) => ignored.push(format!("{other} ({})", f.why_not(repo))),
                None => ignored.push(format!("{} (unknown)", other.escape_debug())),
            },
        }
    }
    Ok(ignored)
}

/// Store reference field `f` of `repo` (`null`: back to its default).
fn keep_reference_field(repo: &mut Repo, f: &ReferenceField, v: &Value) -> ApiResult<()> {
    let value = f.check(v)?;
    if v.is_null() {
        repo.settings.reference.remove(f.name);
    } else {
        repo.settings.reference.insert(f.name.to_string(), value);
    }
    Ok(())
}

/// The answer to a create or update: `message`, with the ignored fields named in
/// `X-Arca-Ignored-Fields` (and the journal).
fn applied(key: &str, message: String, ignored: &[String]) -> Response {
    let mut resp = text_response(StatusCode::OK, message);
    if !ignored.is_empty() {
        tracing::info!(arca_repo = %key, ignored = %ignored.join(", "),
            "repository configuration: fields that do not belong to this repository ignored");
        let names: Vec<String> = ignored
            .iter()
            .map(|f| {
                f.split(' ')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| c.is_ascii_graphic() && *c != ',')
                    .collect()
            })
            .collect();
        if let Ok(value) = warp::http::HeaderValue::from_str(&names.join(", ")) {
            resp.headers_mut().insert("x-arca-ignored-fields", value);
        }
    }
    resp
}

/// A remote repository's `url`: http or https, with a host; kept without a trailing `/`.
fn upstream_url(text: &str) -> ApiResult<String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "Field 'url': '{}' is not a URL: {e}",
            text.escape_debug()
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::bad_request(format!(
            "Field 'url': '{}' must be an http:// or https:// URL with a host",
            text.escape_debug()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::bad_request(
            "Field 'url' must not carry credentials; use 'username' and 'password'",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The checks that need the whole configuration (and, for a virtual repository, the others).
fn check_complete(repo: &Repo, all: &[Repo]) -> ApiResult<()> {
    let x = &repo.settings;
    match repo.rclass.as_str() {
        REMOTE if x.url.is_empty() => Err(ApiError::bad_request(
            "Field 'url' is required for a remote repository (its upstream)",
        )),
        VIRTUAL => {
            for member in &x.repositories {
                let Some(found) = all.iter().find(|r| r.key == *member) else {
                    return Err(ApiError::bad_request(format!(
                        "Field 'repositories': repository '{member}' does not exist"
                    )));
                };
                if found.package_type != repo.package_type {
                    return Err(ApiError::bad_request(format!(
                        "Field 'repositories': '{member}' is a {} repository, this one is {}",
                        found.package_type, repo.package_type
                    )));
                }
                if reaches(all, member, &repo.key, 0) {
                    return Err(ApiError::bad_request(format!(
                        "Field 'repositories': '{member}' includes '{}' itself: a virtual \
                         repository can't contain itself",
                        repo.key
                    )));
                }
            }
            let target = &x.default_deployment_repo;
            if !target.is_empty() {
                let is_local_member = x.repositories.contains(target)
                    && all.iter().any(|r| r.key == *target && r.is_local());
                if !is_local_member {
                    return Err(ApiError::bad_request(format!(
                        "Field 'defaultDeploymentRepo': '{target}' must be a local repository \
                         listed in 'repositories'"
                    )));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether virtual repository `from` is or contains `to` (through nested virtuals).
fn reaches(all: &[Repo], from: &str, to: &str, depth: usize) -> bool {
    if from == to {
        return true;
    }
    if depth > 16 {
        return true;
    }
    all.iter()
        .find(|r| r.key == from && r.is_virtual())
        .is_some_and(|r| {
            r.settings
                .repositories
                .iter()
                .any(|m| reaches(all, m, to, depth + 1))
        })
}

async fn create(req: &mut Request, key: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let map = read_config(req).await?;
    let rclass = match map.get("rclass") {
        None => {
            return Err(ApiError::bad_request(
                "Field 'rclass' is required (local, remote or virtual)",
            ));
        }
        Some(v) => string_field("rclass", v)?.to_ascii_lowercase(),
    };
    if !RCLASSES.contains(&rclass.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Field 'rclass': '{}' is not one of {}",
            rclass.escape_debug(),
            RCLASSES.join(", ")
        )));
    }
    let mut repo = Repo::local(key, req.app.now_ms());
    repo.rclass = rclass;
    let ignored = apply_fields(req, &mut repo, &map)?;
    let to_insert = repo.clone();
    req.app
        .db
        .write(move |tx| {
            check_complete(&to_insert, &repos::list(tx)?)?;
            repos::insert(tx, &to_insert).map_err(|e| match e {
                arca_db::DbError::Conflict(m) => ApiError::bad_request(m),
                other => ApiError::from(other),
            })
        })
        .await?;
    tracing::info!(arca_repo = %repo.key, rclass = %repo.rclass, package_type = %repo.package_type, user = %principal.name(), "repository created");
    Ok(applied(
        key,
        format!("Successfully created repository '{key}'"),
        &ignored,
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
    let ignored = apply_fields(req, &mut repo, &map)?;
    req.app
        .db
        .write(move |tx| {
            check_complete(&repo, &repos::list(tx)?)?;
            repos::update(tx, &repo)?;
            if repo.is_remote() {
                // another upstream, or other credentials: what it did not have may be there now
                arca_db::remote::clear_misses(tx, &repo.key)?;
                arca_db::remote::clear_upstream_failure(tx, &repo.key)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    req.app.remotes.forget(key);
    Ok(applied(
        key,
        format!("Repository {key} update successfully."),
        &ignored,
    ))
}

async fn delete(req: &Request, key: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let k = key.to_string();
    let existed = req.app.db.write(move |tx| repos::delete(tx, &k)).await?;
    // its upstream client, and merged metadata of virtual repositories that aggregated it
    req.app.remotes.forget(key);
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

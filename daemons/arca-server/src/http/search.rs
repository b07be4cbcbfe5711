//! `/api/search/…`: checksum, artifact (quick), GAVC, property, dates, creation and pattern
//! searches (`docs/api.md`). Every search is an item query ([`arca_db::item_query`]): bound
//! parameters, at most [`MAX_RESULTS`] results, then filtered by what the caller may read.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::Item;
use arca_db::item_query::{self, Arg, Criterion, Field, ItemQuery, Op};
use arca_db::items::{self, ChecksumKind};
use arca_db::permissions::Action;

use crate::http::authz::Authz;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::repos_api::readable_repos;
use crate::http::streamed::PrettyArray;
use crate::http::{Request, format};

/// The most items a search returns (before the read filter); the reference caps its searches
/// too (`artifactory.search.maxResults`).
pub const MAX_RESULTS: u64 = 10_000;

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    if tail == "aql" {
        return crate::http::aql::handle(req).await;
    }
    if !matches!(req.method, Method::GET | Method::HEAD) {
        return Err(ApiError::method_not_allowed());
    }
    let repos_filter = req.list_param("repos");
    let (found, shape) = match tail {
        "checksum" => (checksum(req, &repos_filter).await?, Shape::Uris),
        "artifact" => {
            let name = required(req, "name", "Artifact search")?;
            let filter = repos_filter.clone();
            let items = req
                .app
                .db
                .read(move |conn| items::search_name(conn, &name, &filter))
                .await?;
            (items, Shape::Uris)
        }
        "gavc" => (query(req, gavc(req)?, &repos_filter).await?, Shape::Uris),
        "prop" => (
            query(req, by_properties(req)?, &repos_filter).await?,
            Shape::Uris,
        ),
        "dates" => {
            let fields = date_fields(req)?;
            let criterion = Criterion::Any(
                fields
                    .iter()
                    .map(|(_, f)| in_range(req, *f))
                    .collect::<ApiResult<Vec<_>>>()?,
            );
            (
                query(req, Criterion::files_only(criterion), &repos_filter).await?,
                Shape::Dates(fields),
            )
        }
        "creation" => {
            let criterion = in_range(req, Field::Created)?;
            (
                query(req, Criterion::files_only(criterion), &repos_filter).await?,
                Shape::Dates(vec![("created", Field::Created)]),
            )
        }
        "pattern" => return pattern(req).await,
        _ => {
            return Err(ApiError::not_found(format!(
                "Unknown search /api/search/{tail}"
            )));
        }
    };
    let (readable, authz) = readable_repos(req).await?;
    let readable: HashMap<&str, &arca_db::Repo> =
        readable.iter().map(|r| (r.key.as_str(), r)).collect();
    let may_read = |i: &&Item| {
        readable
            .get(i.repo.as_str())
            .is_some_and(|r| authz.allows(r, &i.path, Action::Read))
    };
    let shown: Vec<&Item> = found.iter().filter(may_read).collect();
    let detail = req
        .header("x-result-detail")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (want_info, want_props) = (detail.contains("info"), detail.contains("properties"));
    let props = if want_props {
        let ids: Vec<i64> = shown.iter().map(|i| i.id).collect();
        req.app
            .db
            .read(move |conn| item_query::props_of(conn, &ids))
            .await?
    } else {
        BTreeMap::new()
    };
    // The answer is printed entry by entry: no tree of up to MAX_RESULTS values beside the items.
    let (head, mut results) = PrettyArray::split(json!({ "results": [] }), "results");
    let mut body = head.into_bytes();
    for item in shown {
        let mut entry = if want_info {
            format::file_info(&req.base_url, item)
        } else {
            json!({ "uri": format::storage_uri(&req.base_url, &item.repo, &item.path) })
        };
        if let Some(obj) = entry.as_object_mut() {
            if want_props {
                let p = props.get(&item.id).cloned().unwrap_or_default();
                obj.insert("properties".into(), json!(p));
            }
            if let Shape::Dates(fields) = &shape {
                for (name, field) in fields {
                    let ms = match field {
                        Field::Created => item.created,
                        _ => item.modified,
                    };
                    obj.insert((*name).into(), json!(format::iso8601(ms)));
                }
            }
        }
        results.push(&entry, &mut body);
    }
    results.finish(&mut body);
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// What each result shows besides its URI (and the `X-Result-Detail` parts).
enum Shape {
    Uris,
    /// The date fields searched, by their names in the answer.
    Dates(Vec<(&'static str, Field)>),
}

fn required(req: &Request, name: &str, what: &str) -> ApiResult<String> {
    req.query
        .get(name)
        .filter(|n| !n.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request(format!("{what} needs the query parameter '{name}'")))
}

async fn checksum(req: &Request, repos_filter: &[String]) -> ApiResult<Vec<Item>> {
    let (kind, value, len) = if let Some(v) = req.query.get("sha256") {
        (ChecksumKind::Sha256, v, 64)
    } else if let Some(v) = req.query.get("sha1") {
        (ChecksumKind::Sha1, v, 40)
    } else if let Some(v) = req.query.get("md5") {
        (ChecksumKind::Md5, v, 32)
    } else {
        return Err(ApiError::bad_request(
            "Checksum search needs one of the query parameters sha256, sha1 or md5",
        ));
    };
    if value.len() != len || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "Checksum '{value}' is not {len} hex characters"
        )));
    }
    let (value, filter) = (value.clone(), repos_filter.to_vec());
    Ok(req
        .app
        .db
        .read(move |conn| items::search_checksum(conn, kind, &value, &filter))
        .await?)
}

/// Run an item query (files and folders as `criterion` says) within `repos` (empty: all).
async fn query(req: &Request, criterion: Criterion, repos: &[String]) -> ApiResult<Vec<Item>> {
    let criterion = if repos.is_empty() {
        criterion
    } else {
        Criterion::All(vec![
            criterion,
            Criterion::Field {
                field: Field::Repo,
                op: Op::In,
                values: repos.iter().cloned().map(Arg::Text).collect(),
            },
        ])
    };
    let mut q = ItemQuery::new(criterion);
    q.limit = Some(MAX_RESULTS);
    Ok(req
        .app
        .db
        .read(move |conn| item_query::find(conn, &q))
        .await?)
}

fn matching(field: Field, wildcards: String) -> Criterion {
    Criterion::Field {
        field,
        op: Op::Match,
        values: vec![Arg::Text(wildcards)],
    }
}

/// `g` (dots or slashes), `a`, `v`, `c` — any of them, with `*`/`?` wildcards: files in
/// matching Maven version folders, `c` narrowing to that classifier.
fn gavc(req: &Request) -> ApiResult<Criterion> {
    let part = |k: &str| req.query.get(k).filter(|v| !v.is_empty()).cloned();
    let (g, a, v, c) = (part("g"), part("a"), part("v"), part("c"));
    if g.is_none() && a.is_none() && v.is_none() && c.is_none() {
        return Err(ApiError::bad_request(
            "GAVC search needs at least one of the query parameters g, a, v, c",
        ));
    }
    let folder = format!(
        "{}/{}/{}",
        g.map(|g| g.replace('.', "/")).unwrap_or_else(|| "*".into()),
        a.clone().unwrap_or_else(|| "*".into()),
        v.clone().unwrap_or_else(|| "*".into()),
    );
    let mut all = vec![matching(Field::Path, folder)];
    let name = match (&a, &v, &c) {
        (_, _, Some(c)) => Some(format!(
            "{}-{}-{c}.*",
            a.as_deref().unwrap_or("*"),
            v.as_deref().unwrap_or("*")
        )),
        (Some(a), Some(v), None) => Some(format!("{a}-{v}*")),
        _ => None,
    };
    all.extend(name.map(|n| matching(Field::Name, n)));
    Ok(Criterion::files_only(Criterion::All(all)))
}

/// `?k1=v1,v2&k2=v3`: items with every property named (any of its listed values).
fn by_properties(req: &Request) -> ApiResult<Criterion> {
    let mut all = Vec::new();
    for (key, values) in &req.query {
        if key == "repos" {
            continue;
        }
        crate::paths::validate_property_key(key)?;
        let values: Vec<Arg> = values
            .split(',')
            .map(|v| Arg::Text(v.to_string()))
            .collect();
        all.push(Criterion::Prop {
            key: key.clone(),
            op: Op::In,
            values,
        });
    }
    if all.is_empty() {
        return Err(ApiError::bad_request(
            "Property search needs at least one property: ?key=value[,value2]",
        ));
    }
    Ok(Criterion::All(all))
}

/// `dateFields` of a dates search (default `lastModified`): their answer names and fields.
fn date_fields(req: &Request) -> ApiResult<Vec<(&'static str, Field)>> {
    let spec = req
        .query
        .get("dateFields")
        .cloned()
        .unwrap_or_else(|| "lastModified".into());
    let mut fields = Vec::new();
    for name in spec.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let field = match name {
            "created" => ("created", Field::Created),
            "lastModified" => ("lastModified", Field::Modified),
            other => {
                return Err(ApiError::bad_request(format!(
                    "dateFields: '{}' is not one of created, lastModified (download dates are \
                     not searchable)",
                    other.escape_debug()
                )));
            }
        };
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    if fields.is_empty() {
        return Err(ApiError::bad_request("dateFields names no field"));
    }
    Ok(fields)
}

/// `from` (required) and `to` (default: now), epoch milliseconds, on `field`.
fn in_range(req: &Request, field: Field) -> ApiResult<Criterion> {
    let ms = |name: &str| -> ApiResult<Option<i64>> {
        match req.query.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "Query parameter '{name}' must be a time in epoch milliseconds, got '{}'",
                    v.escape_debug()
                ))
            }),
        }
    };
    let from = ms("from")?.ok_or_else(|| {
        ApiError::bad_request("Query parameter 'from' (epoch milliseconds) is required")
    })?;
    let to = ms("to")?.unwrap_or_else(|| req.app.now_ms());
    Ok(Criterion::All(vec![
        Criterion::Field {
            field,
            op: Op::Gte,
            values: vec![Arg::Int(from)],
        },
        Criterion::Field {
            field,
            op: Op::Lte,
            values: vec![Arg::Int(to)],
        },
    ]))
}

/// `?pattern=repo:path/with/**/and/*wildcards*.jar`: paths of the files that match in one
/// repository (`**` any folders, `*` within a name, `?` one character).
async fn pattern(req: &Request) -> ApiResult<Response> {
    let spec = required(req, "pattern", "Pattern search")?;
    let (repo_key, path_pattern) = spec.split_once(':').ok_or_else(|| {
        ApiError::bad_request("Query parameter 'pattern' is repo-key:path/pattern")
    })?;
    let glob = globset::GlobBuilder::new(path_pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| ApiError::bad_request(format!("Query parameter 'pattern': {e}")))?
        .compile_matcher();
    let repo = crate::http::artifacts::load_repo(req, repo_key).await?;
    let (readable, authz) = readable_repos(req).await?;
    // whether the caller reads anything in the repository is decided once, not per path
    let reads_repo = readable.iter().any(|r| r.key == repo.key);
    let allowed = |authz: &Authz, path: &str| reads_repo && authz.allows(&repo, path, Action::Read);
    // the database narrows by the pattern read with `*` crossing folders; the glob decides
    let broad = if path_pattern.contains(['[', '{']) {
        "*".to_string()
    } else {
        path_pattern.replace("**/", "*").replace("/**", "*")
    };
    let criterion = Criterion::files_only(Criterion::All(vec![
        Criterion::Field {
            field: Field::Repo,
            op: Op::Eq,
            values: vec![Arg::Text(repo.key.clone())],
        },
        matching(Field::ItemPath, broad),
    ]));
    let mut q = ItemQuery::new(criterion);
    q.limit = Some(MAX_RESULTS * 10);
    let found = req
        .app
        .db
        .read(move |conn| item_query::find(conn, &q))
        .await?;
    let files: Vec<&str> = found
        .iter()
        .map(|i| i.path.as_str())
        .filter(|p| glob.is_match(p) && allowed(&authz, p))
        .take(MAX_RESULTS as usize)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "repoUri": format::repo_url(&req.base_url, &repo.key, ""),
            "sourcePattern": spec,
            "files": files,
        }),
    ))
}

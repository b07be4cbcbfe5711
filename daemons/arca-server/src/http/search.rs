//! `/api/search/checksum` and `/api/search/artifact`.

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use std::collections::HashMap;

use arca_db::Item;
use arca_db::items::{self, ChecksumKind};
use arca_db::permissions::Action;

use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::repos_api::readable_repos;
use crate::http::{Request, format};

pub async fn handle(req: &Request, tail: &str) -> ApiResult<Response> {
    if !matches!(req.method, Method::GET | Method::HEAD) {
        return Err(ApiError::method_not_allowed());
    }
    let repos_filter: Vec<String> = req
        .query
        .get("repos")
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let found: Vec<Item> = match tail {
        "checksum" => {
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
            let (value, filter) = (value.clone(), repos_filter.clone());
            req.app
                .db
                .read(move |conn| items::search_checksum(conn, kind, &value, &filter))
                .await?
        }
        "artifact" => {
            let name = req
                .query
                .get("name")
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request("Artifact search needs the query parameter 'name'")
                })?
                .clone();
            let filter = repos_filter.clone();
            req.app
                .db
                .read(move |conn| items::search_name(conn, &name, &filter))
                .await?
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "Unknown search /api/search/{tail}"
            )));
        }
    };
    // Only results the caller may read.
    let (readable, authz) = readable_repos(req).await?;
    let readable: HashMap<&str, &arca_db::Repo> =
        readable.iter().map(|r| (r.key.as_str(), r)).collect();
    let detail = req
        .header("x-result-detail")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (want_info, want_props) = (detail.contains("info"), detail.contains("properties"));
    let mut results = Vec::new();
    let may_read = |i: &&Item| {
        readable
            .get(i.repo.as_str())
            .is_some_and(|r| authz.allows(r, &i.path, Action::Read))
    };
    for item in found.iter().filter(may_read) {
        let mut entry = if want_info {
            format::file_info(&req.base_url, item)
        } else {
            serde_json::json!({ "uri": format::storage_uri(&req.base_url, &item.repo, &item.path) })
        };
        if want_props {
            let id = item.id;
            let props = req.app.db.read(move |conn| items::props(conn, id)).await?;
            if let Some(obj) = entry.as_object_mut() {
                obj.insert("properties".into(), serde_json::json!(props));
            }
        }
        results.push(entry);
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "results": results }),
    ))
}

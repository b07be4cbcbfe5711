//! `/api/build`: build-info documents as CI plugins and the JFrog clients upload them —
//! stored as sent, listed by name and number, and linked to the stored files they name by
//! checksum (`build.name`, `build.number`, `build.timestamp` properties, as the reference
//! sets them). Promotion and `artifacts=1` deletion are not there (`docs/api.md`).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::builds::{self, Build};
use arca_db::permissions::Action;
use arca_db::{items, repos};

use crate::http::auth::{require_admin, require_user};
use crate::http::authz;
use crate::http::error::{ApiError, ApiResult, empty_response, json_response, text_response};
use crate::http::{Request, format, read_small_body};

/// The largest build-info document accepted.
const MAX_BUILD_INFO: usize = 16 * 1024 * 1024;

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    let segments: Vec<String> = tail
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    match (req.method.clone(), segments.as_slice()) {
        (Method::PUT, []) => upload(req).await,
        (Method::GET | Method::HEAD, []) => list_names(req).await,
        (Method::GET | Method::HEAD, [name]) => list_numbers(req, name).await,
        (Method::GET | Method::HEAD, [name, number]) => get(req, name, number).await,
        (Method::DELETE, [name]) => delete(req, name).await,
        (_, [] | [_] | [_, _]) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found(
            "Unknown build endpoint (build names with '/' are sent encoded: %2F)",
        )),
    }
}

/// `PUT /api/build`: store a build-info document (replacing the same name and number).
async fn upload(req: &mut Request) -> ApiResult<Response> {
    let (principal, authz) = authz::caller(req).await?;
    require_user(&principal)?;
    let all = req.app.db.read(repos::list).await?;
    if !principal.is_admin() && !all.iter().any(|r| authz.deploys_somewhere(r)) {
        return Err(ApiError::forbidden(format!(
            "User '{}' may not upload build info: it needs deploy permission in some repository",
            principal.name()
        )));
    }
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, MAX_BUILD_INFO).await?;
    let info: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "Build info is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let field = |name: &str| -> ApiResult<String> {
        match info.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) if name == "number" => Ok(n.to_string()),
            _ => Err(ApiError::bad_request(format!(
                "Build info: field '{name}' is required (a non-empty string)"
            ))),
        }
    };
    let (name, number, started_text) = (field("name")?, field("number")?, field("started")?);
    let started = parse_started(&started_text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Build info: field 'started' ('{}') is not a time like 2026-12-07T10:00:00.000+0000",
            started_text.escape_debug()
        ))
    })?;
    let sha1s = artifact_sha1s(&info)?;
    let build = Build {
        name: name.clone(),
        number: number.clone(),
        started,
        info: String::from_utf8_lossy(&bytes).into_owned(),
    };
    let (user, now) = (principal.name().to_string(), req.app.now_ms());
    let repos_by_key: HashMap<String, arca_db::Repo> =
        all.into_iter().map(|r| (r.key.clone(), r)).collect();
    let linked = req
        .app
        .db
        .write(move |tx| {
            builds::put(tx, &build, &user, now)?;
            // the files of the build, where the uploader may annotate them
            let props = BTreeMap::from([
                ("build.name".to_string(), vec![build.name.clone()]),
                ("build.number".to_string(), vec![build.number.clone()]),
                (
                    "build.timestamp".to_string(),
                    vec![build.started.to_string()],
                ),
            ]);
            let mut linked = 0usize;
            for sha1 in &sha1s {
                for (id, repo, path) in builds::files_with_sha1(tx, sha1)? {
                    let may = repos_by_key
                        .get(&repo)
                        .is_some_and(|r| authz.allows(r, &path, Action::Annotate));
                    if may {
                        items::set_props(tx, id, &props)?;
                        linked += 1;
                    }
                }
            }
            Ok::<_, ApiError>(linked)
        })
        .await?;
    tracing::info!(build = %name, number = %number, files = linked, "build info stored");
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// The SHA-1s of the artifacts of every module (lower-case; malformed ones are a 400).
fn artifact_sha1s(info: &Value) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    let Some(modules) = info.get("modules") else {
        return Ok(out);
    };
    let modules = modules
        .as_array()
        .ok_or_else(|| ApiError::bad_request("Build info: field 'modules' must be a list"))?;
    for (m, module) in modules.iter().enumerate() {
        let Some(artifacts) = module.get("artifacts") else {
            continue;
        };
        let artifacts = artifacts.as_array().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Build info: field 'modules[{m}].artifacts' must be a list"
            ))
        })?;
        for (a, artifact) in artifacts.iter().enumerate() {
            match artifact.get("sha1") {
                None | Some(Value::Null) => {}
                Some(Value::String(s))
                    if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    let s = s.to_ascii_lowercase();
                    if !out.contains(&s) {
                        out.push(s);
                    }
                }
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Build info: field 'modules[{m}].artifacts[{a}].sha1' is not 40 hex \
                         characters: {other}"
                    )));
                }
            }
        }
    }
    Ok(out)
}

/// The reference's `started` (`2026-12-07T10:00:00.000+0000`), or RFC 3339; epoch ms.
fn parse_started(text: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| {
            time::OffsetDateTime::parse(
                text,
                time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
                ),
            )
        })
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

async fn require_reader(req: &Request) -> ApiResult<()> {
    let principal = req.principal().await?;
    require_user(&principal)
}

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn list_names(req: &Request) -> ApiResult<Response> {
    require_reader(req).await?;
    let names = req.app.db.read(builds::names).await?;
    let list: Vec<Value> = names
        .iter()
        .map(|(name, last)| json!({"uri": format!("/{}", encode(name)), "lastStarted": format::iso8601(*last)}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"uri": format!("{}/api/build", req.base_url), "builds": list}),
    ))
}

async fn list_numbers(req: &Request, name: &str) -> ApiResult<Response> {
    require_reader(req).await?;
    let n = name.to_string();
    let numbers = req.app.db.read(move |c| builds::numbers(c, &n)).await?;
    if numbers.is_empty() {
        return Err(ApiError::not_found(format!(
            "No build was found for build name: {name}"
        )));
    }
    let list: Vec<Value> = numbers
        .iter()
        .map(|(number, started)| {
            json!({"uri": format!("/{}", encode(number)), "started": format::iso8601(*started)})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "uri": format!("{}/api/build/{}", req.base_url, encode(name)),
            "buildsNumbers": list,
        }),
    ))
}

async fn get(req: &Request, name: &str, number: &str) -> ApiResult<Response> {
    require_reader(req).await?;
    let (n, m) = (name.to_string(), number.to_string());
    let build = req
        .app
        .db
        .read(move |c| builds::get(c, &n, &m))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No build was found for build name: {name}, build number: {number}"
            ))
        })?;
    let info: Value = serde_json::from_str(&build.info)
        .map_err(|e| ApiError::internal("stored build info does not parse", e))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "uri": format!("{}/api/build/{}/{}", req.base_url, encode(name), encode(number)),
            "buildInfo": info,
        }),
    ))
}

/// `DELETE /api/build/{name}?buildNumbers=1,2` or `?deleteAll=1` (admin).
async fn delete(req: &Request, name: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    if req.flag("artifacts").unwrap_or(false) {
        return Err(ApiError::bad_request(
            "artifacts=1 (deleting the build's files) is not supported; delete them by their \
             build.name/build.number properties (AQL) instead",
        ));
    }
    let numbers = req.list_param("buildNumbers");
    if numbers.is_empty() && !req.flag("deleteAll").unwrap_or(false) {
        return Err(ApiError::bad_request(
            "Name the builds: buildNumbers=1,2 or deleteAll=1",
        ));
    }
    let n = name.to_string();
    let deleted = req
        .app
        .db
        .write(move |tx| builds::delete(tx, &n, &numbers))
        .await?;
    if deleted.is_empty() {
        return Err(ApiError::not_found(format!(
            "No build was found for build name: {name}"
        )));
    }
    tracing::info!(build = %name, numbers = %deleted.join(","), user = %principal.name(), "builds deleted");
    let list: Vec<String> = deleted.iter().map(|d| format!("'{name}#{d}'")).collect();
    Ok(text_response(
        StatusCode::OK,
        format!(
            "The following builds has been deleted successfully: {}.",
            list.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_in_both_spellings() {
        assert_eq!(
            parse_started("2026-12-07T10:00:00.000+0000"),
            Some(1_796_637_600_000)
        );
        assert_eq!(
            parse_started("2026-12-07T12:00:00.000+0200"),
            Some(1_796_637_600_000)
        );
        assert_eq!(
            parse_started("2026-12-07T10:00:00Z"),
            Some(1_796_637_600_000)
        );
        assert_eq!(parse_started("yesterday"), None);
    }

    #[test]
    fn sha1s_are_checked() {
        let ok = json!({"modules": [{"artifacts": [{"sha1": "A".repeat(40)}, {"name": "x"}]}]});
        assert_eq!(artifact_sha1s(&ok).unwrap(), vec!["a".repeat(40)]);
        let bad = json!({"modules": [{"artifacts": [{"sha1": "xyz"}]}]});
        assert!(
            artifact_sha1s(&bad)
                .unwrap_err()
                .message
                .contains("modules[0].artifacts[0]")
        );
    }
}

//! `GET {context}/api/system/logs?level=WARN&q=text&limit=500&after=SEQ[&node=ID]`: a node's
//! recent log (`arca_runtime::recent_log`: the start-up records, with the "HA Node ID" banner,
//! and the latest ones after them).
//!
//! Callers: an administrator, or another node (a node-to-node signature, see
//! [`crate::http::node_auth`]). With `node=` naming another node, this node asks that node
//! with a signed call — only a node of the registry, only at its registered URL (never a URL
//! taken from the request) — and returns its answer; a signed call is never forwarded again.

use std::sync::OnceLock;
use std::time::Duration;

use arca_crypto::master_key::{EMPTY_SHA256, NodeRequest, SIGNATURE_HEADER};
use arca_db::cluster;
use arca_runtime::{LogQuery, LogRecord};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::Request;
use crate::http::auth::require_admin;
use crate::http::error::{ApiError, ApiResult, json_response};
use crate::http::format::iso8601;
use crate::http::node_auth::{Body, verify_node_signature};

/// Lines of the ring returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 500;
/// The largest `limit` (the page shows a few thousand lines at most).
pub const MAX_LIMIT: usize = 5_000;
/// The longest text filter (`q`), in bytes.
pub const MAX_TEXT: usize = 1_000;
/// The largest answer taken from another node: its whole buffer, JSON-escaped, fits.
const MAX_PEER_ANSWER: usize = 64 * 1024 * 1024;

/// What the caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogParams {
    /// The least severe level wanted (`WARN`: warnings and errors).
    pub level: tracing::Level,
    pub text: String,
    pub after: u64,
    pub limit: usize,
    /// Another node whose log is wanted.
    pub node: Option<String>,
}

impl LogParams {
    /// The query parameters, checked (400 names the parameter); unknown ones are ignored.
    pub fn parse(query: &std::collections::HashMap<String, String>) -> ApiResult<LogParams> {
        let level = match query.get("level").map(|l| l.trim()) {
            None | Some("") => tracing::Level::TRACE,
            Some(l) => parse_level(l).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "level={l:?}: one of ERROR, WARN, INFO, DEBUG, TRACE"
                ))
            })?,
        };
        let text = query.get("q").cloned().unwrap_or_default();
        if text.len() > MAX_TEXT {
            return Err(ApiError::bad_request(format!(
                "q: at most {MAX_TEXT} bytes"
            )));
        }
        let number = |name: &str, default: u64, max: u64| -> ApiResult<u64> {
            match query.get(name).map(|v| v.trim()) {
                None | Some("") => Ok(default),
                Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
                    ApiError::bad_request(format!("{name}={v:?}: a number from 0 to {max}"))
                }),
            }
        };
        let after = number("after", 0, u64::MAX)?;
        let limit = number("limit", DEFAULT_LIMIT as u64, MAX_LIMIT as u64)?;
        let node = query
            .get("node")
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        Ok(LogParams {
            level,
            text,
            after,
            limit: usize::try_from(limit).unwrap_or(MAX_LIMIT),
            node,
        })
    }

    /// The query for another node: the same filters, without `node`.
    fn forward_pairs(&self) -> [(&'static str, String); 4] {
        [
            ("level", self.level.as_str().to_owned()),
            ("q", self.text.clone()),
            ("after", self.after.to_string()),
            ("limit", self.limit.to_string()),
        ]
    }
}

fn parse_level(s: &str) -> Option<tracing::Level> {
    [
        tracing::Level::ERROR,
        tracing::Level::WARN,
        tracing::Level::INFO,
        tracing::Level::DEBUG,
        tracing::Level::TRACE,
    ]
    .into_iter()
    .find(|l| {
        l.as_str().eq_ignore_ascii_case(s)
            || (s.eq_ignore_ascii_case("warning") && *l == tracing::Level::WARN)
    })
}

pub async fn handle(req: &Request) -> ApiResult<Response> {
    // Another node signs its call; anyone else must be an administrator.
    let from_node = req.headers.contains_key(SIGNATURE_HEADER);
    if from_node {
        verify_node_signature(req, Body::None)?;
    } else {
        require_admin(&req.principal().await?)?;
    }
    let params = LogParams::parse(&req.query)?;
    match params.node.as_deref() {
        Some(node) if node != req.app.node_id => {
            if from_node {
                return Err(ApiError::bad_request(format!(
                    "a node-to-node call is answered by the node called, not forwarded (to \
                     '{node}')"
                )));
            }
            forward(req, node, &params).await
        }
        _ => Ok(json_response(
            StatusCode::OK,
            &local(&req.app.node_id, &params)?,
        )),
    }
}

/// This node's answer.
fn local(node_id: &str, params: &LogParams) -> ApiResult<serde_json::Value> {
    let Some(log) = arca_runtime::recent_log() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this process keeps no log in memory",
        ));
    };
    let page = log.query(&LogQuery {
        level: params.level,
        text: &params.text,
        after: params.after,
        limit: params.limit,
    });
    let limits = log.limits();
    Ok(serde_json::json!({
        "node": node_id,
        "lines": page.lines.iter().map(line_json).collect::<Vec<_>>(),
        "startupLastSeq": page.startup_last_seq,
        "lastSeq": page.last_seq,
        "omitted": page.omitted,
        "evicted": page.evicted,
        "kept": {
            "startupLines": limits.startup_lines,
            "lines": limits.lines,
            "bytes": limits.bytes,
        },
    }))
}

fn line_json(r: &LogRecord) -> serde_json::Value {
    serde_json::json!({
        "seq": r.seq,
        "time": iso8601(r.time_ms),
        "level": r.level.as_str(),
        "target": r.target,
        "message": r.message,
    })
}

/// The client for other nodes: short timeouts (a page waits for it), no redirects (a node is
/// asked at its registered URL only).
fn peer_client() -> ApiResult<&'static reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ApiError::internal("building the node-to-node client", e))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Ask `node` (a node of the registry, at its registered URL) for its log.
async fn forward(req: &Request, node: &str, params: &LogParams) -> ApiResult<Response> {
    let id = node.to_owned();
    let record = req
        .app
        .db
        .read(move |c| cluster::get_node(c, &id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No node '{node}' in the registry")))?;
    let unreachable = |why: String| ApiError::new(StatusCode::BAD_GATEWAY, why);
    if record.context_url.trim().is_empty() {
        return Err(unreachable(format!(
            "node '{node}' has no URL in the registry (context.url in its ha-node.properties)"
        )));
    }
    let mut url = reqwest::Url::parse(&format!(
        "{}/api/system/logs",
        record.context_url.trim().trim_end_matches('/')
    ))
    .map_err(|e| {
        unreachable(format!(
            "node '{node}': its registered URL {:?} is unusable: {e}",
            record.context_url
        ))
    })?;
    url.query_pairs_mut().extend_pairs(params.forward_pairs());
    // The receiver checks the signature over the path and query as they arrive.
    let signed_path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let headers = req.app.signer.headers(
        &NodeRequest {
            method: "GET",
            path_and_query: &signed_path,
            target_node: node,
            content_sha256: EMPTY_SHA256,
        },
        &req.app.node_id,
        req.app.now_ms(),
        &arca_crypto::random_hex(16),
    );
    let request = headers
        .into_iter()
        .fold(peer_client()?.get(url.clone()), |r, (name, value)| {
            r.header(name, value)
        })
        .header(reqwest::header::ACCEPT, "application/json");
    let at = format!("node '{node}' ({})", record.context_url);
    let mut resp = request.send().await.map_err(|e| {
        unreachable(format!(
            "{at} did not answer: {}",
            arca_runtime::error_chain(&e.without_url())
        ))
    })?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        unreachable(format!(
            "{at}: the answer broke off: {}",
            arca_runtime::error_chain(&e.without_url())
        ))
    })? {
        if body.len() + chunk.len() > MAX_PEER_ANSWER {
            return Err(unreachable(format!(
                "{at}: the answer is larger than {MAX_PEER_ANSWER} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let answer: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    if !status.is_success() {
        let message = answer
            .as_ref()
            .and_then(|a| a["errors"][0]["message"].as_str())
            .map_or_else(
                || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                str::to_owned,
            );
        return Err(unreachable(format!("{at} answered {status}: {message}")));
    }
    match answer {
        Some(answer) if answer["node"] == node => Ok(json_response(StatusCode::OK, &answer)),
        _ => Err(unreachable(format!(
            "{at} answered something other than its log"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    fn params(pairs: &[(&str, &str)]) -> ApiResult<LogParams> {
        LogParams::parse(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults_and_checks() {
        let p = params(&[]).unwrap();
        assert_eq!(
            p,
            LogParams {
                level: tracing::Level::TRACE,
                text: String::new(),
                after: 0,
                limit: DEFAULT_LIMIT,
                node: None,
            }
        );
        let p = params(&[
            ("level", "warn"),
            ("q", "HA Node ID"),
            ("after", "42"),
            ("limit", "10"),
            ("node", " node-b "),
        ])
        .unwrap();
        assert_eq!(p.level, tracing::Level::WARN);
        assert_eq!(p.text, "HA Node ID");
        assert_eq!((p.after, p.limit), (42, 10));
        assert_eq!(p.node.as_deref(), Some("node-b"));
        for bad in [
            ("level", "LOUD"),
            ("limit", "5001"),
            ("limit", "-1"),
            ("after", "x"),
        ] {
            let e = params(&[bad]).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
            assert!(e.message.contains(bad.0), "{bad:?}: {}", e.message);
        }
        assert!(params(&[("q", &"x".repeat(MAX_TEXT + 1))]).is_err());
    }

    /// Any query: an answer, never a panic; what is accepted is within the bounds, and the query
    /// forwarded to another node parses back to the same filters there.
    #[test]
    fn any_query_parses_within_bounds_and_forwards_unchanged() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(19);
        let pieces = [
            "",
            "0",
            "1",
            "500",
            "5000",
            "5001",
            "-1",
            "WARN",
            "warn",
            "Debug",
            "TRACE",
            "ERROR",
            "é",
            "%",
            "&",
            "=",
            "+",
            " ",
            "18446744073709551615",
            "18446744073709551616",
            "a b",
            "node-b",
            "\u{0}",
            "HA Node ID",
        ];
        let keys = ["level", "q", "after", "limit", "node", "other"];
        for _ in 0..20_000 {
            let mut query = HashMap::new();
            for _ in 0..rng.gen_range(0..6) {
                let key = keys[rng.gen_range(0..keys.len())];
                let mut value = String::new();
                for _ in 0..rng.gen_range(0..4) {
                    value.push_str(pieces[rng.gen_range(0..pieces.len())]);
                }
                query.insert(key.to_owned(), value);
            }
            let Ok(p) = LogParams::parse(&query) else {
                continue;
            };
            assert!(p.limit <= MAX_LIMIT && p.text.len() <= MAX_TEXT);
            let mut url =
                reqwest::Url::parse("http://node-b:8081/artifactory/api/system/logs").unwrap();
            url.query_pairs_mut().extend_pairs(p.forward_pairs());
            let there = LogParams::parse(&crate::http::parse_query(url.query().unwrap())).unwrap();
            assert_eq!(
                there,
                LogParams {
                    node: None,
                    ..p.clone()
                },
                "{query:?}"
            );
        }
    }
}

//! `/api/system/*` and the `/api/v1/system/{readiness,liveness}` probes.

use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::cluster::{self, NodeRecord};

use crate::gc;
use crate::http::Request;
use crate::http::auth::require_admin;
use crate::http::error::{ApiError, ApiResult, json_response, text_response};
use crate::http::format::iso8601;
use crate::http::node_auth::{Body, verify_node_signature};

pub async fn handle(req: &mut Request, tail: &str) -> ApiResult<Response> {
    match (req.method.clone(), tail) {
        (Method::GET | Method::HEAD, "ping") => ping(req).await,
        (Method::GET, "version") => version(req).await,
        (Method::POST, "storage/gc") => run_gc(req).await,
        (Method::GET, "storage") => storage_summary(req).await,
        (Method::GET, "storage/scrub") => crate::http::scrub::get(req).await,
        (Method::POST, "storage/scrub") => crate::http::scrub::post(req).await,
        (Method::GET, "ha/nodes") => ha_nodes(req).await,
        (Method::DELETE, t) if t.starts_with("ha/nodes/") => {
            delete_ha_node(req, &t["ha/nodes/".len()..]).await
        }
        (Method::GET, "ha/self") => ha_self(req).await,
        (Method::GET, "logs") => crate::http::system_logs::handle(req).await,
        // Administration → General: the Custom URL Base (`crate::http::general`)
        (Method::GET, "configuration/baseUrl") => crate::http::general::get(req).await,
        (Method::PUT, "configuration/baseUrl") => crate::http::general::put(req).await,
        (Method::PUT, "ha/configuration/baseUrl") => crate::http::general::owner_put(req).await,
        (_, "configuration/baseUrl" | "ha/configuration/baseUrl") => {
            Err(ApiError::method_not_allowed())
        }
        (
            _,
            "ping" | "version" | "storage" | "storage/gc" | "storage/scrub" | "ha/nodes"
            | "ha/self" | "logs",
        ) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found(format!(
            "Unknown API endpoint /api/system/{tail}"
        ))),
    }
}

/// `GET /api/system/storage` (admin): the chain this node runs, its tiers' usage, the eventual
/// queue's backlog as seen on disk and, when the chain has one, the storage mover's own report
/// (`mover` is null with `moverError` when the mover does not answer on its socket).
async fn storage_summary(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let storage = &req.app.storage;
    let mut body = serde_json::to_value(storage.summary())
        .map_err(|e| ApiError::internal("storage summary", e))?;
    if let Some(backlog) = storage.backlog() {
        body["backlog"] = serde_json::json!({
            "adds": backlog.adds,
            "addBytes": backlog.add_bytes,
            "deletes": backlog.deletes,
            "oldestAgeSecs": backlog.oldest_age.map(|a| a.as_secs()),
        });
        match arca_storage::mover_proto::status(&req.app.home.mover_socket()).await {
            Ok(status) => {
                body["mover"] = serde_json::to_value(status)
                    .map_err(|e| ApiError::internal("storage summary", e))?;
            }
            Err(e) => {
                body["mover"] = serde_json::Value::Null;
                body["moverError"] = serde_json::Value::String(e.to_string());
            }
        }
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// What stops this node from serving, if anything.
async fn unready_reason(req: &Request) -> Option<String> {
    if req.app.is_draining() {
        return Some("node is shutting down".into());
    }
    if req.app.drain_requested() {
        return Some(
            "node is drained by an operator (arcactl node drain); `arcactl node undrain` serves again"
                .into(),
        );
    }
    if let Err(e) = req.app.db.ping().await {
        return Some(format!("database unavailable: {e}"));
    }
    None
}

/// Load-balancer check: `OK`, or 503 while draining or when the DB is gone.
async fn ping(req: &Request) -> ApiResult<Response> {
    match unready_reason(req).await {
        None => Ok(text_response(StatusCode::OK, "OK")),
        Some(reason) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason)),
    }
}

pub async fn readiness(req: &Request) -> ApiResult<Response> {
    let mut reason = unready_reason(req).await;
    if reason.is_none() && !req.app.license.allows_serving() {
        reason = Some(format!(
            "unlicensed: {}",
            arca_cluster::node_license::UNLICENSED_MESSAGE
        ));
    }
    if reason.is_none() && req.app.license.is_releasing() {
        reason = Some(
            "arca-license-agent is stopping: this node returns its license shortly".to_string(),
        );
    }
    Ok(match reason {
        None => json_response(StatusCode::OK, &serde_json::json!({ "code": "OK" })),
        Some(reason) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "code": "UNAVAILABLE", "message": reason }),
        ),
    })
}

pub fn liveness(_req: &Request) -> ApiResult<Response> {
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "code": "OK" }),
    ))
}

async fn version(req: &Request) -> ApiResult<Response> {
    let build = arca_runtime::build();
    let _ = req;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "version": build.version,
            "revision": build.revision,
            "releaseDate": build.timestamp,
            "addons": [],
        }),
    ))
}

/// Run garbage collection now (the reference's `POST /api/system/storage/gc`).
async fn run_gc(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let report = gc::collect(&req.app).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "binariesRemoved": report.binaries_removed,
            "orphanFilesRemoved": report.orphan_files_removed,
            "bytesFreed": report.bytes_freed,
            "expiredTokensRemoved": report.expired_tokens_removed,
            "ociUploadsExpired": report.oci_uploads_expired,
            "ociItemsRemoved": report.oci_items_removed,
        }),
    ))
}

/// One row of the HA table; `license`: the hash of the license the pool records for the node;
/// `restart_required`: shared files the config sync changed on it since it started.
fn node_json(
    n: &NodeRecord,
    now: i64,
    stale_ms: i64,
    leader: Option<&str>,
    license: Option<&str>,
    restart_required: &[&str],
    config_edits: ConfigEdits<'_>,
) -> serde_json::Value {
    serde_json::json!({
        "id": n.node_id,
        "startTime": iso8601(n.start_time),
        "url": n.context_url,
        "membershipPort": n.membership_port,
        "state": n.state.as_str(),
        "role": n.role.as_str(),
        "lastHeartbeat": iso8601(n.last_heartbeat),
        "heartbeatAgeSecs": (now - n.last_heartbeat).max(0) / 1000,
        "stale": n.is_stale(now, stale_ms),
        "version": n.version,
        "revision": n.revision,
        "releaseDate": n.release_date,
        "runsClusterDuties": leader == Some(n.node_id.as_str()),
        "licenseHash": license,
        "restartRequired": restart_required,
        "pendingConfigEdits": config_edits.pending,
        "lostConfigEdits": config_edits.lost.iter().map(|r| serde_json::json!({
            "file": r.name,
            "message": r.lost_edit,
            "at": iso8601(r.lost_edit_at),
        })).collect::<Vec<_>>(),
    })
}

/// A node's local edits of the shared config files (arca-config-sync): those it keeps until it
/// owns the config (the configured primary), and those that lost to the cluster's copy (kept as
/// `<file>.conflict` on the node until the operator removes it).
struct ConfigEdits<'a> {
    pending: Vec<&'a str>,
    lost: Vec<&'a arca_db::configs::NodeFileRow>,
}

/// The HA guide's HA table: one object per registered node.
async fn ha_nodes(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let (nodes, lease, licenses, config_files) = req
        .app
        .db
        .read(|c| {
            Ok::<_, arca_db::DbError>((
                cluster::list_nodes(c)?,
                cluster::get_lease(c, arca_cluster::DUTIES_LEASE)?,
                arca_db::licenses::list_licenses(c)?,
                arca_db::configs::list_node_files(c)?,
            ))
        })
        .await?;
    let now = req.app.now_ms();
    let stale_ms = req.app.settings.timing.stale_ms();
    let leader = lease.filter(|l| l.expires > now).map(|l| l.owner);
    let rows: Vec<serde_json::Value> = nodes
        .iter()
        .map(|n| {
            let license = licenses
                .iter()
                .find(|l| l.holder_node_id.as_deref() == Some(n.node_id.as_str()))
                .map(|l| l.hash.as_str());
            let restart: Vec<&str> = config_files
                .iter()
                .filter(|f| f.node_id == n.node_id && f.changed_at > n.start_time)
                .filter_map(|f| arca_cluster::shared_config::shared_file(&f.name))
                .filter(|f| f.needs_restart)
                .map(|f| f.name)
                .collect();
            let mine = || config_files.iter().filter(|f| f.node_id == n.node_id);
            let edits = ConfigEdits {
                pending: mine()
                    .filter(|f| f.pending_sha256.is_some())
                    .map(|f| f.name.as_str())
                    .collect(),
                lost: mine().filter(|f| f.lost_edit.is_some()).collect(),
            };
            node_json(
                n,
                now,
                stale_ms,
                leader.as_deref(),
                license,
                &restart,
                edits,
            )
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::Value::Array(rows),
    ))
}

/// Remove a stopped or stale node from the registry (refused for an active one).
async fn delete_ha_node(req: &Request, id: &str) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    let now = req.app.now_ms();
    let stale_ms = req.app.settings.timing.stale_ms();
    let target = id.clone();
    let removed = req
        .app
        .db
        .write(move |c| cluster::delete_node(c, &target, now, stale_ms))
        .await?;
    if !removed {
        return Err(ApiError::not_found(format!(
            "No node '{id}' in the registry"
        )));
    }
    tracing::info!(arca_node_id = %req.app.node_id, "removed node '{id}' from the registry");
    Ok(text_response(
        StatusCode::OK,
        format!("Node '{id}' removed from the registry"),
    ))
}

/// Node-to-node: this node's identity and master-key check value. Only for
/// callers that sign with the cluster's master key (peers, `arcactl ha check`).
async fn ha_self(req: &Request) -> ApiResult<Response> {
    let caller = verify_node_signature(req, Body::None)?;
    let app = &req.app;
    let m = &app.membership;
    let build = arca_runtime::build();
    tracing::debug!(caller = %caller, "signed node request");
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "nodeId": app.node_id,
            "role": m.identity().role.as_str(),
            "state": m.state().as_str(),
            "contextUrl": m.identity().context_url_text(),
            "version": build.version,
            "revision": build.revision,
            "releaseDate": build.timestamp,
            "masterKeyCheck": app.master_key_check,
            "database": app.db.backend_name(),
            "urlBase": app.settings.url_base.get().as_deref(),
            "drained": app.drain_requested(),
            "runsClusterDuties": m.is_duty_leader(),
            "licenseRequired": app.license.required(),
            "license": app.license.held(),
            "licenseAgentReportAgeSecs": app.license.agent_report_age_secs(),
            "restartRequiredFor": app.restart_required_for(),
        }),
    ))
}

//! Administration → General: the Custom URL Base (`arca.url.base`), the HA guide's "Set the URL
//! Base" (`docs/ui.md`, `docs/api.md`, `docs/config-sync.md`).
//!
//! * `GET /api/system/configuration/baseUrl` (admin): the value in this node's
//!   `system.properties`, the one its server applies, the base URL of this very request, who
//!   wrote the last change and how far it has travelled through the cluster.
//! * `PUT /api/system/configuration/baseUrl` (admin, the reference's endpoint: the URL as a
//!   `text/plain` body, empty clears it): validated ([`validate_url_base`]), then written into
//!   `etc/system.properties` **on the config owner** — the primary while it is active, else the
//!   holder of the cluster-duties lease, as `arca-config-sync` decides — whose config sync
//!   publishes it to every node. A node that is not the owner forwards the change to the
//!   owner's registered URL as a signed node-to-node call
//!   (`PUT /api/system/ha/configuration/baseUrl`). The value applies at once on the node that
//!   took the request and on the owner, and on every other node when its config sync mirrors
//!   the file (a change of `arca.url.base` alone needs no restart).
//!
//! The server may not write `etc/` (its systemd sandbox makes it read-only): the file is
//! written by the node's `arca-config-sync` ([`arca_cluster::config_socket`]), or by the
//! server itself when no config sync runs beside it (development, tests).

use std::sync::OnceLock;
use std::time::Duration;

use arca_cluster::config_socket;
use arca_config::system::{URL_BASE, validate_url_base};
use arca_crypto::master_key::{EMPTY_SHA256, NodeRequest};
use arca_db::cluster::{self, NodeRecord};
use arca_runtime::local_socket::RequestError;
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::http::Request;
use crate::http::auth::require_admin;
use crate::http::error::{ApiError, ApiResult, json_response, text_response};
use crate::http::format::iso8601;
use crate::http::node_auth::{Body, verify_node_signature};
use crate::http::read_small_body;
use crate::state::App;

/// The cluster setting recording the last change ([`Change`], JSON).
const LAST_CHANGE_SETTING: &str = "url-base.last-change";

/// A URL base is at most 1024 characters; the body may carry a little more (blanks).
const BODY_LIMIT: usize = 8 * 1024;

/// How long a forwarded change may take (the owner writes one small file).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(20);

/// The node-to-node path on the config owner, after the context path.
pub const OWNER_PATH: &str = "/api/system/ha/configuration/baseUrl";

/// A change as written by the config owner and recorded for the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The value written; `None`: cleared.
    pub url_base: Option<String>,
    /// The administrator who asked.
    pub user: String,
    /// The node whose REST API took the request.
    pub received_by: String,
    /// The node that wrote its `system.properties` (the config owner).
    pub written_by: String,
    /// When (ms since the epoch, the owner's clock).
    pub at: i64,
    /// SHA-256 of the owner's `system.properties` as written.
    pub sha256: String,
}

/// The body of the forwarded change (signed with its SHA-256).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Forwarded {
    url_base: Option<String>,
    user: String,
    received_by: String,
}

/// Who writes `etc/system.properties` for the cluster right now.
enum Owner {
    /// This node (a single node always).
    This,
    /// Another registered node, called at its registered URL.
    Other(NodeRecord),
    /// Nobody: why (503).
    Nobody(String),
}

/// The config owner as `arca-config-sync` sees it: the holder of the cluster-duties lease
/// (the primary while it is active).
async fn config_owner(app: &App) -> ApiResult<Owner> {
    if !app.membership.identity().is_ha() {
        return Ok(Owner::This);
    }
    let now = app.now_ms();
    let (lease, nodes) = app
        .db
        .read(|c| {
            Ok::<_, arca_db::DbError>((
                cluster::get_lease(c, arca_cluster::DUTIES_LEASE)?,
                cluster::list_nodes(c)?,
            ))
        })
        .await?;
    let Some(lease) = lease.filter(|l| l.expires > now) else {
        return Ok(Owner::Nobody(
            "No node owns the cluster's configuration right now (the cluster-duties lease is \
             free while the nodes elect one); try again in a few seconds"
                .to_string(),
        ));
    };
    if lease.owner == app.node_id {
        return Ok(Owner::This);
    }
    match nodes.into_iter().find(|n| n.node_id == lease.owner) {
        Some(n) if !n.context_url.is_empty() => Ok(Owner::Other(n)),
        _ => Ok(Owner::Nobody(format!(
            "The config owner, node '{}', is not registered with a URL; try again in a few \
             seconds",
            lease.owner
        ))),
    }
}

/// `GET /api/system/configuration/baseUrl` (admin).
pub async fn get(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let app = &req.app;
    let home = app.home.clone();
    let configured = tokio::task::spawn_blocking(move || {
        arca_config::SystemProperties::load(&home).map(|p| {
            (
                p.get(URL_BASE).unwrap_or_default().to_string(),
                p.url_base().err().map(|e| e.to_string()),
            )
        })
    })
    .await
    .map_err(|e| ApiError::internal("reading system.properties", e))?
    .map_err(|e| ApiError::internal("reading system.properties", e))?;
    let owner = config_owner(app).await?;
    let ha = app.membership.identity().is_ha();
    let (last_change, cluster_row, nodes, node_files) = app
        .db
        .read(move |c| {
            let last = cluster::get_setting(c, LAST_CHANGE_SETTING)?;
            if !ha {
                return Ok::<_, arca_db::DbError>((last, None, Vec::new(), Vec::new()));
            }
            Ok((
                last,
                arca_db::configs::get_file(c, "system.properties")?,
                cluster::list_nodes(c)?,
                arca_db::configs::list_node_files(c)?,
            ))
        })
        .await?;
    let last_change: Option<Change> = last_change.and_then(|v| serde_json::from_str(&v).ok());
    let now = app.now_ms();
    let stale_ms = app.settings.timing.stale_ms();
    let mut body = serde_json::json!({
        "urlBase": configured.0,
        "urlBaseError": configured.1,
        "appliedUrlBase": app.settings.url_base.get().as_deref().unwrap_or_default(),
        "effectiveBaseUrl": req.base_url,
        "nodeId": app.node_id,
        "ha": ha,
        "configOwner": match &owner {
            Owner::This => Some(app.node_id.clone()),
            Owner::Other(n) => Some(n.node_id.clone()),
            Owner::Nobody(_) => None,
        },
        "lastChange": last_change.as_ref().map(|c| serde_json::json!({
            "urlBase": c.url_base.as_deref().unwrap_or_default(),
            "user": c.user,
            "receivedBy": c.received_by,
            "writtenBy": c.written_by,
            "at": iso8601(c.at),
        })),
        "maxLength": arca_config::system::URL_BASE_MAX_LEN,
    });
    if let Some(row) = cluster_row {
        // The owner has not published the change yet (its config sync does within a moment).
        let unpublished = last_change
            .as_ref()
            .is_some_and(|c| c.sha256 != row.sha256 && c.at > row.updated_at);
        let rows: Vec<serde_json::Value> = nodes
            .iter()
            .filter(|n| n.is_active(now, stale_ms))
            .map(|n| {
                let file = node_files
                    .iter()
                    .find(|f| f.node_id == n.node_id && f.name == "system.properties");
                let in_sync = !unpublished && file.is_some_and(|f| f.sha256 == row.sha256);
                let restart = file.is_some_and(|f| f.changed_at > n.start_time);
                serde_json::json!({
                    "id": n.node_id,
                    "version": file.map(|f| f.version),
                    "inSync": in_sync,
                    "restartRequired": restart,
                })
            })
            .collect();
        let pending = unpublished || rows.iter().any(|r| r["inSync"] == false);
        body["cluster"] = serde_json::json!({
            "version": row.version,
            "storedBy": row.updated_by,
            "storedAt": iso8601(row.updated_at),
        });
        body["nodes"] = serde_json::Value::Array(rows);
        body["propagationPending"] = serde_json::Value::Bool(pending);
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `PUT /api/system/configuration/baseUrl` (admin): the reference's endpoint, the URL as the
/// body (empty clears it).
pub async fn put(req: &Request) -> ApiResult<Response> {
    let principal = req.principal().await?;
    require_admin(&principal)?;
    let body = read_small_body(&mut req.take_body(), BODY_LIMIT).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("The URL base must be UTF-8 text"))?;
    let value = validate_url_base(text).map_err(ApiError::bad_request)?;
    let app = &req.app;
    let user = principal.name().to_string();
    let change = match config_owner(app).await? {
        Owner::This => write_here(app, value, &user, &app.node_id).await?,
        Owner::Other(owner) => forward(app, &owner, value, &user).await?,
        Owner::Nobody(why) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why).with_retry_after(5));
        }
    };
    // At once here too; the node's own file follows when its config sync mirrors the owner's.
    app.apply_url_base(
        change.url_base.clone(),
        &format!("set by {user} through the REST API"),
    );
    let written = if change.written_by == app.node_id {
        format!(
            "written to system.properties by this node ('{}')",
            app.node_id
        )
    } else {
        format!(
            "written to system.properties by node '{}', the config owner; the other nodes apply \
             it when arca-config-sync mirrors the file",
            change.written_by
        )
    };
    let message = match &change.url_base {
        Some(v) => format!("URL base has been successfully updated to - \"{v}\" ({written})"),
        None => format!("URL base has been successfully cleared ({written})"),
    };
    Ok(text_response(StatusCode::OK, message))
}

/// `PUT /api/system/ha/configuration/baseUrl`: another node forwards an administrator's change
/// to this node, the config owner (node-signed, JSON body covered by the signature).
pub async fn owner_put(req: &Request) -> ApiResult<Response> {
    let caller = verify_node_signature(req, Body::Read)?;
    let Some(signed) = caller
        .signed_content_sha256()
        .filter(|s| *s != EMPTY_SHA256)
        .map(str::to_string)
    else {
        return Err(ApiError::unauthorized(
            "this node-to-node call needs a v2 signature covering its body",
        ));
    };
    let body = read_small_body(&mut req.take_body(), BODY_LIMIT).await?;
    if arca_crypto::sha256_hex(&body) != signed {
        return Err(ApiError::bad_request(
            "the body does not have the signed SHA-256; nothing was written",
        ));
    }
    let forwarded: Forwarded = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Malformed forwarded change: {e}")))?;
    // Checked again: this node writes it.
    let value = match forwarded.url_base.as_deref() {
        Some(v) => validate_url_base(v).map_err(ApiError::bad_request)?,
        None => None,
    };
    let app = &req.app;
    match config_owner(app).await? {
        Owner::This => {}
        Owner::Other(n) => {
            return Err(ApiError::conflict(format!(
                "node '{}' is not the config owner (node '{}' is)",
                app.node_id, n.node_id
            )));
        }
        Owner::Nobody(why) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why));
        }
    }
    tracing::info!(
        arca_node_id = %app.node_id,
        caller = %caller,
        "URL base change forwarded by node '{caller}' for {}",
        forwarded.user
    );
    let change = write_here(app, value, &forwarded.user, &forwarded.received_by).await?;
    let body = serde_json::to_value(&change).map_err(|e| ApiError::internal("URL base", e))?;
    Ok(json_response(StatusCode::OK, &body))
}

/// Write the change into this node's `system.properties` (it owns the config), apply it,
/// record it for the page.
async fn write_here(
    app: &App,
    value: Option<String>,
    user: &str,
    received_by: &str,
) -> ApiResult<Change> {
    let sha256 = write_file(app, value.as_deref()).await?;
    app.apply_url_base(value.clone(), &format!("set by {user}"));
    let change = Change {
        url_base: value,
        user: user.to_string(),
        received_by: received_by.to_string(),
        written_by: app.node_id.clone(),
        at: app.now_ms(),
        sha256,
    };
    tracing::info!(
        arca_node_id = %app.node_id,
        "{user} set arca.url.base to {} in system.properties (request taken by node '{}')",
        change.url_base.as_deref().unwrap_or("(unset)"),
        change.received_by
    );
    // The file is what counts; the record only informs the page.
    let record = serde_json::to_string(&change).unwrap_or_default();
    let at = change.at;
    if let Err(e) = app
        .db
        .write(move |c| cluster::put_setting(c, LAST_CHANGE_SETTING, &record, at))
        .await
    {
        tracing::warn!(arca_node_id = %app.node_id, "could not record the URL base change: {e}");
    }
    Ok(change)
}

/// Set `arca.url.base` in this node's `etc/system.properties`: through its `arca-config-sync`
/// when one runs (the server's sandbox makes `etc/` read-only), else directly. Returns the
/// file's SHA-256 as written.
async fn write_file(app: &App, value: Option<&str>) -> ApiResult<String> {
    let socket = app.home.config_sync_socket();
    let path = app.home.system_properties();
    if socket.exists() {
        match config_socket::set(&socket, URL_BASE, value.unwrap_or_default()).await {
            Ok(answer) => return Ok(answer.sha256),
            Err(RequestError::Refused { message, .. }) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "arca-config-sync could not write {}: {message}",
                        path.display()
                    ),
                ));
            }
            // A socket left by a sync that is gone: write it here, if this process may.
            Err(RequestError::Io { .. }) => {}
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("arca-config-sync did not write {}: {e}", path.display()),
                ));
            }
        }
    }
    let value = value.map(str::to_string);
    let target = path.clone();
    tokio::task::spawn_blocking(move || {
        arca_config::system::write_url_base(&target, value.as_deref())?;
        std::fs::read(&target)
            .map(|b| arca_crypto::sha256_hex(&b))
            .map_err(|e| arca_config::ConfigError::io(&target, "read file", &e))
    })
    .await
    .map_err(|e| ApiError::internal("writing system.properties", e))?
    .map_err(|e| {
        tracing::warn!(arca_node_id = %app.node_id, "could not write the URL base: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "Could not write {}: {e}. arca-config-sync writes this file for the server: \
                 start it on this node (systemctl start arca-config-sync)",
                path.display()
            ),
        )
    })
}

/// The HTTP client of forwarded changes (no redirects: the owner is called at its registered
/// URL only).
fn client() -> ApiResult<&'static reqwest::Client> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(FORWARD_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ApiError::internal("node-to-node HTTP client", e))
}

/// Forward the change to the config owner `owner` (signed) and return what it wrote.
async fn forward(
    app: &App,
    owner: &NodeRecord,
    value: Option<String>,
    user: &str,
) -> ApiResult<Change> {
    let id = &owner.node_id;
    let url = format!("{}{OWNER_PATH}", owner.context_url.trim_end_matches('/'));
    let bad_gateway = |what: String| {
        tracing::warn!(arca_node_id = %app.node_id, owner = %id, "URL base change: {what}");
        ApiError::new(StatusCode::BAD_GATEWAY, what)
    };
    let parsed = reqwest::Url::parse(&url).map_err(|e| {
        bad_gateway(format!(
            "The config owner, node '{id}', has an unusable URL {url:?}: {e}"
        ))
    })?;
    // The owner verifies the signature over the path as received, context path included.
    let path_and_query = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let body = serde_json::to_vec(&Forwarded {
        url_base: value,
        user: user.to_string(),
        received_by: app.node_id.clone(),
    })
    .map_err(|e| ApiError::internal("URL base", e))?;
    let digest = arca_crypto::sha256_hex(&body);
    let headers = app.signer.headers(
        &NodeRequest {
            method: "PUT",
            path_and_query: &path_and_query,
            target_node: id,
            content_sha256: &digest,
        },
        &app.node_id,
        app.now_ms(),
        &arca_crypto::random_hex(16),
    );
    // `header` appends: in v1 compatibility mode both signatures are sent, v1 first.
    let request = headers.into_iter().fold(
        client()?
            .put(parsed)
            .header("content-type", "application/json")
            .body(body),
        |r, (name, value)| r.header(name, value),
    );
    let resp = request.send().await.map_err(|e| {
        bad_gateway(format!(
            "The config owner, node '{id}' ({url}), did not answer: {}",
            arca_runtime::error_chain(&e.without_url())
        ))
    })?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status.is_success() {
        return serde_json::from_str(&text).map_err(|e| {
            bad_gateway(format!(
                "The config owner, node '{id}', answered unexpectedly: {e}"
            ))
        });
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("HTTP {status}"));
    Err(match status.as_u16() {
        // the owner's validation: the same message as here
        400 => ApiError::bad_request(message),
        // the owner changed meanwhile, or elects one: the client may retry
        409 | 503 => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The config owner, node '{id}', did not take the change: {message}; try again"),
        )
        .with_retry_after(5),
        _ => bad_gateway(format!(
            "The config owner, node '{id}', refused the change: {message}"
        )),
    })
}

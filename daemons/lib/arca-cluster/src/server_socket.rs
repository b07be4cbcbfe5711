//! The local control socket of `arca-server`, `<run>/arca-server.sock`
//! ([`arca_ipc::local_socket`]: JSON lines, root and the arca user only):
//!
//! ```text
//! {"op":"license","license":{"hash":"…","licensedTo":"ACME","type":"Enterprise",
//!                            "validThrough":"2027-05-15"}}           -> {"ok":true}
//! {"op":"license","license":null}                                   -> {"ok":true}
//! {"op":"releasing","seconds":3}                                    -> {"ok":true}
//! {"op":"config","changed":["binarystore.xml"],"restart":false,"live":["system.properties"]}
//!                                                                   -> {"ok":true}
//! {"op":"status"}  -> {"ok":true,"nodeId":"n1","licenseRequired":true,"license":{…}|null,
//!                      "restartRequiredFor":["binarystore.xml"]}
//! {"op":"scrub-start","bytesPerSec":50000000}  -> {"ok":true,"started":true,"state":"running",…}
//! {"op":"scrub-status"}                        -> {"ok":true,"state":"idle","pass":null,…}
//! ```
//!
//! `arcactl storage scrub` sends `scrub-start` (a pass starts now, or the running one is
//! reported with `"started":false`; `bytesPerSec` sets its read rate, 0 = no limit, absent = the
//! configured one) and then `scrub-status` until the pass ends ([`ScrubReport`]).
//!
//! `arca-license-agent` sends `license` after every round and at stop; `arca-config-sync`
//! sends `config` after it changed files of this node: `changed` are read at start (the server
//! then says in its journal and `/api/system/ha/self` that a restart is needed, or restarts
//! itself when `restart` is true), `live` are read again at once for the keys the server applies
//! without a restart (`system.properties`: `arca.url.base`).

use std::path::Path;
use std::time::Duration;

use arca_ipc::local_socket::{self, RequestError};
use serde::{Deserialize, Serialize};

use crate::node_license::HeldLicense;

/// How long a report to the server may take (reporters never wait longer).
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// A request on the server's socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ServerRequest {
    /// The license agent's report: the license this node holds now, or none.
    License { license: Option<HeldLicense> },
    /// The license agent stops and returns the license after `seconds`: readiness answers 503
    /// from now on so the load balancer takes the node out first (requests are still served).
    Releasing { seconds: u64 },
    /// The config sync changed these files (read at start) on this node; `restart`: the
    /// operator enabled automatic restarts (`arca.config.sync.restart`); `live`: changed files
    /// whose live keys the server reads again now (absent from older senders).
    Config {
        changed: Vec<String>,
        restart: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        live: Vec<String>,
    },
    /// The server's view.
    Status,
    /// Start a scrub pass of this node's stored copies now (or report the running one).
    #[serde(rename = "scrub-start")]
    ScrubStart {
        /// The pass's read rate in bytes per second (0: no limit); absent: the configured one.
        #[serde(
            default,
            rename = "bytesPerSec",
            skip_serializing_if = "Option::is_none"
        )]
        bytes_per_sec: Option<u64>,
    },
    /// The scrubber's progress.
    #[serde(rename = "scrub-status")]
    ScrubStatus,
}

/// Whether a scrub pass runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScrubState {
    #[default]
    Idle,
    Running,
}

/// The scrubber's progress: the answer to the scrub ops, and `GET /api/system/storage/scrub`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrubReport {
    pub state: ScrubState,
    /// `arca.storage.scrub.enabled`: background passes.
    pub enabled: bool,
    /// The read rate in effect, bytes per second (0: no limit).
    pub rate_bytes_per_sec: u64,
    /// `arca.storage.scrub.interval.hours`.
    pub interval_hours: u64,
    /// The pass running, or interrupted (it continues at the next start).
    pub pass: Option<ScrubPass>,
    /// The last finished pass.
    pub last_pass: Option<ScrubPass>,
    /// When the next background pass starts (Unix ms); none while one runs or when disabled.
    pub next_pass_ms: Option<i64>,
    /// Answers to a start only: whether this request started the pass (false: it was
    /// running already).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub started: bool,
}

/// One pass over every binary of the database, in SHA-256 order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrubPass {
    /// Random id; kept when an interrupted pass continues.
    pub id: String,
    /// `schedule` (background) or `request` (`arcactl storage scrub`, the REST API).
    pub trigger: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// Reading time so far (the time the server was stopped not included).
    pub elapsed_ms: u64,
    /// Binaries and their bytes in the database when the pass started.
    pub total: u64,
    pub total_bytes: u64,
    /// Binaries done (and the bytes the database records for them).
    pub checked: u64,
    pub checked_bytes: u64,
    /// Bytes read from this node's copies.
    pub read_bytes: u64,
    /// Every local copy matched.
    pub ok: u64,
    /// Not held by this node (in a remote tier): skipped.
    pub missing: u64,
    /// Binaries with a corrupt copy (quarantined): `repaired + unrepairable`.
    pub corrupt: u64,
    pub repaired: u64,
    pub unrepairable: u64,
    /// Binaries whose check failed (a read or database error, logged): not counted above.
    #[serde(default)]
    pub failed: u64,
    /// The last SHA-256 done (the pass continues after it).
    pub position: String,
}

impl ScrubPass {
    /// Done so far, 0–100, by bytes (by binaries when they hold no bytes).
    pub fn percent(&self) -> f64 {
        let (done, all) = if self.total_bytes > 0 {
            (self.checked_bytes, self.total_bytes)
        } else {
            (self.checked, self.total)
        };
        if all == 0 {
            return if self.finished_ms.is_some() {
                100.0
            } else {
                0.0
            };
        }
        (done as f64 * 100.0 / all as f64).min(100.0)
    }

    /// Checked bytes per second of reading time.
    pub fn bytes_per_sec(&self) -> f64 {
        if self.elapsed_ms == 0 {
            return 0.0;
        }
        self.checked_bytes as f64 * 1000.0 / self.elapsed_ms as f64
    }
}

/// The server's answer to [`ServerRequest::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub node_id: String,
    /// HA nodes need a license; a single node does not.
    pub license_required: bool,
    pub license: Option<HeldLicense>,
    /// Files changed by the config sync since the server started (a restart applies them).
    #[serde(default)]
    pub restart_required_for: Vec<String>,
}

/// Parse a request line.
pub fn parse_request(line: &str) -> Result<ServerRequest, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Send `request` to the server at `socket`.
pub async fn send(socket: &Path, request: &ServerRequest) -> Result<(), RequestError> {
    local_socket::request(socket, request, REPORT_TIMEOUT)
        .await
        .map(drop)
}

/// Tell the server at `socket` which license this node holds now.
pub async fn report_license(
    socket: &Path,
    license: Option<&HeldLicense>,
) -> Result<(), RequestError> {
    send(
        socket,
        &ServerRequest::License {
            license: license.cloned(),
        },
    )
    .await
}

/// Ask the server at `socket` for its view.
pub async fn server_status(socket: &Path) -> Result<ServerStatus, RequestError> {
    let value = local_socket::request(socket, &ServerRequest::Status, REPORT_TIMEOUT).await?;
    serde_json::from_value(value).map_err(|e| RequestError::BadResponse {
        socket: socket.to_path_buf(),
        detail: e.to_string(),
    })
}

/// Send a scrub op (`ScrubStart` / `ScrubStatus`) to the server at `socket`.
pub async fn scrub(socket: &Path, request: &ServerRequest) -> Result<ScrubReport, RequestError> {
    let value = local_socket::request(socket, request, REPORT_TIMEOUT).await?;
    serde_json::from_value(value).map_err(|e| RequestError::BadResponse {
        socket: socket.to_path_buf(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format() {
        let held = HeldLicense {
            hash: "ab".repeat(32),
            licensed_to: "ACME".into(),
            license_type: "Enterprise".into(),
            valid_through: "2027-05-15".into(),
        };
        let line = serde_json::to_string(&ServerRequest::License {
            license: Some(held.clone()),
        })
        .unwrap();
        assert!(line.contains(r#""op":"license""#), "{line}");
        assert_eq!(
            parse_request(&line).unwrap(),
            ServerRequest::License {
                license: Some(held)
            }
        );
        assert_eq!(
            parse_request(r#"{"op":"license","license":null}"#).unwrap(),
            ServerRequest::License { license: None }
        );
        assert_eq!(
            parse_request(r#"{"op":"config","changed":["binarystore.xml"],"restart":false}"#)
                .unwrap(),
            ServerRequest::Config {
                changed: vec!["binarystore.xml".into()],
                restart: false,
                live: vec![],
            }
        );
        let live = ServerRequest::Config {
            changed: vec![],
            restart: false,
            live: vec!["system.properties".into()],
        };
        let line = serde_json::to_string(&live).unwrap();
        assert_eq!(
            line,
            r#"{"op":"config","changed":[],"restart":false,"live":["system.properties"]}"#
        );
        assert_eq!(parse_request(&line).unwrap(), live);
        assert_eq!(
            parse_request(r#"{"op":"releasing","seconds":3}"#).unwrap(),
            ServerRequest::Releasing { seconds: 3 }
        );
        assert_eq!(
            parse_request(r#"{"op":"status"}"#).unwrap(),
            ServerRequest::Status
        );
        assert_eq!(
            parse_request(r#"{"op":"scrub-start","bytesPerSec":5}"#).unwrap(),
            ServerRequest::ScrubStart {
                bytes_per_sec: Some(5)
            }
        );
        assert_eq!(
            serde_json::to_string(&ServerRequest::ScrubStart {
                bytes_per_sec: None
            })
            .unwrap(),
            r#"{"op":"scrub-start"}"#
        );
        assert_eq!(
            parse_request(r#"{"op":"scrub-status"}"#).unwrap(),
            ServerRequest::ScrubStatus
        );
        assert!(parse_request(r#"{"op":"explode"}"#).is_err());
    }
}

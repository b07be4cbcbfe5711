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
//! ```
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
        assert!(parse_request(r#"{"op":"explode"}"#).is_err());
    }
}

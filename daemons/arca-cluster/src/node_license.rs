//! The license a node holds, and how `arca-license-agent` tells its local `arca-server`.
//!
//! The pool is in the database (`arca_db::licenses`); the agent claims, swaps and releases
//! there, then reports the result on the server's local socket `<run>/arca-server.sock`
//! ([`arca_runtime::local_socket`]: JSON lines, root and the arca user only):
//!
//! ```text
//! {"op":"license","license":{"hash":"…","licensedTo":"ACME","type":"Enterprise",
//!                            "validThrough":"2027-05-15"}}           -> {"ok":true}
//! {"op":"license","license":null}                                   -> {"ok":true}
//! {"op":"status"}  -> {"ok":true,"nodeId":"n1","licenseRequired":true,"license":{…}|null}
//! ```
//!
//! The server also reads the registry (`license_of(node)`) every heartbeat, so a restarted
//! agent or server converges to the database's answer without the socket.

use std::path::Path;
use std::time::Duration;

use arca_db::licenses::LicenseRow;
use arca_runtime::local_socket::{self, RequestError};
use serde::{Deserialize, Serialize};

/// What an HA node without a license answers (503) on repository and REST endpoints.
pub const UNLICENSED_MESSAGE: &str = "no license available in the cluster pool";

/// How long a report to the server may take (the agent never waits longer for it).
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// The license a node holds (never the key itself: only its hash and metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldLicense {
    /// SHA-256 (hex) of the key: what the API and the journal show.
    pub hash: String,
    pub licensed_to: String,
    #[serde(rename = "type")]
    pub license_type: String,
    /// Last valid day, `YYYY-MM-DD` (UTC).
    pub valid_through: String,
}

impl HeldLicense {
    /// The first 12 characters of the hash (journal lines and `STATUS=`).
    pub fn short_hash(&self) -> &str {
        self.hash.get(..12).unwrap_or(&self.hash)
    }

    /// Expired on `today_iso` (`YYYY-MM-DD`; a key is valid on its last day).
    pub fn is_expired(&self, today_iso: &str) -> bool {
        self.valid_through.as_str() < today_iso
    }
}

impl From<&LicenseRow> for HeldLicense {
    fn from(row: &LicenseRow) -> Self {
        HeldLicense {
            hash: row.hash.clone(),
            licensed_to: row.licensee.clone(),
            license_type: row.license_type.clone(),
            valid_through: row.valid_through.clone(),
        }
    }
}

/// A request on the server's socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum ServerRequest {
    /// The agent's report: the license this node holds now, or none.
    License { license: Option<HeldLicense> },
    /// The server's view: node id, whether it needs a license, the one it has.
    Status,
}

/// The server's answer to [`ServerRequest::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerLicenseStatus {
    pub node_id: String,
    /// HA nodes need a license; a single node does not.
    pub license_required: bool,
    pub license: Option<HeldLicense>,
}

/// Parse a request line.
pub fn parse_request(line: &str) -> Result<ServerRequest, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Tell the server at `socket` which license this node holds now.
pub async fn report(socket: &Path, license: Option<&HeldLicense>) -> Result<(), RequestError> {
    let request = ServerRequest::License {
        license: license.cloned(),
    };
    local_socket::request(socket, &request, REPORT_TIMEOUT)
        .await
        .map(drop)
}

/// Ask the server at `socket` for its license view.
pub async fn server_status(socket: &Path) -> Result<ServerLicenseStatus, RequestError> {
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
            hash: "00bcdb14aa".repeat(6) + "abcd",
            licensed_to: "ACME".into(),
            license_type: "Enterprise".into(),
            valid_through: "2027-05-15".into(),
        };
        let line = serde_json::to_string(&ServerRequest::License {
            license: Some(held.clone()),
        })
        .unwrap();
        assert!(line.contains(r#""op":"license""#), "{line}");
        assert!(line.contains(r#""type":"Enterprise""#), "{line}");
        assert!(line.contains(r#""validThrough":"2027-05-15""#), "{line}");
        assert_eq!(
            parse_request(&line).unwrap(),
            ServerRequest::License {
                license: Some(held.clone())
            }
        );
        assert_eq!(
            parse_request(r#"{"op":"license","license":null}"#).unwrap(),
            ServerRequest::License { license: None }
        );
        assert_eq!(
            parse_request(r#"{"op":"status"}"#).unwrap(),
            ServerRequest::Status
        );
        assert!(parse_request(r#"{"op":"explode"}"#).is_err());
        assert_eq!(held.short_hash(), "00bcdb14aa00");
        assert!(!held.is_expired("2027-05-15"));
        assert!(held.is_expired("2027-05-16"));
    }
}

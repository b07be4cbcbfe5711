//! The protocol of `arca-config-sync`'s local socket `<run>/arca-config-sync.sock`
//! ([`arca_ipc::local_socket`]: JSON lines, root and the arca user only):
//!
//! ```text
//! {"op":"set","key":"arca.url.base","value":"https://lb.example.com/artifactory"}
//!     -> {"ok":true,"changed":true,"sha256":"…"}
//! {"op":"set","key":"arca.url.base","value":""}        (clears it)
//! ```
//!
//! `arca-server` may not write `etc/` (its sandbox makes it read-only; the config sync, which
//! already rewrites the shared files there, may): to change a setting an administrator gives
//! through the REST API it asks its node's config sync, which writes `etc/system.properties`
//! (keeping every other line, mode and owner) and, on the config owner, publishes it to the
//! other nodes at once. Only the keys the server applies live may be set this way
//! ([`arca_config::system::LIVE_KEYS`]).

use std::path::Path;
use std::time::Duration;

use arca_ipc::local_socket::{self, RequestError};
use serde::{Deserialize, Serialize};

/// How long the server waits for the sync to write the file.
pub const SET_TIMEOUT: Duration = Duration::from_secs(10);

/// A request on the config sync's socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum SyncRequest {
    /// Set `key` of `etc/system.properties` to `value` (empty: unset).
    Set { key: String, value: String },
}

/// The answer to [`SyncRequest::Set`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAnswer {
    /// Whether the file changed.
    pub changed: bool,
    /// SHA-256 (hex) of the file as written.
    pub sha256: String,
}

/// Parse a request line.
pub fn parse_request(line: &str) -> Result<SyncRequest, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Check a `set` request: a key the server applies live, and a valid value for it. Returns the
/// value to write (`None`: unset).
pub fn check_set(key: &str, value: &str) -> Result<Option<String>, String> {
    if key != arca_config::system::URL_BASE {
        return Err(format!(
            "only {} may be set through this socket, not '{key}'",
            arca_config::system::LIVE_KEYS.join(", ")
        ));
    }
    arca_config::system::validate_url_base(value)
}

/// Ask the config sync at `socket` to set `key` to `value`.
pub async fn set(socket: &Path, key: &str, value: &str) -> Result<SetAnswer, RequestError> {
    let request = SyncRequest::Set {
        key: key.to_string(),
        value: value.to_string(),
    };
    let answer = local_socket::request(socket, &request, SET_TIMEOUT).await?;
    serde_json::from_value(answer).map_err(|e| RequestError::BadResponse {
        socket: socket.to_path_buf(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_and_checks() {
        let line = r#"{"op":"set","key":"arca.url.base","value":"https://lb/a"}"#;
        assert_eq!(
            parse_request(line).unwrap(),
            SyncRequest::Set {
                key: "arca.url.base".into(),
                value: "https://lb/a".into()
            }
        );
        assert!(parse_request(r#"{"op":"delete"}"#).is_err());
        assert_eq!(
            check_set("arca.url.base", "https://lb/a/")
                .unwrap()
                .as_deref(),
            Some("https://lb/a")
        );
        assert_eq!(check_set("arca.url.base", "").unwrap(), None);
        assert!(check_set("arca.url.base", "ftp://x").is_err());
        let e = check_set("arca.gc.interval.secs", "1").unwrap_err();
        assert!(e.contains("only arca.url.base"), "{e}");
    }
}

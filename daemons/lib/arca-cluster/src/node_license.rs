//! The license a node holds (never the key: its hash and metadata), as
//! `arca-license-agent` reports it to the local `arca-server`
//! ([`crate::server_socket`]). The server also reads the registry (`license_of(node)`)
//! every heartbeat, so a restarted agent or server converges to the database's answer.

use arca_db::licenses::LicenseRow;
use serde::{Deserialize, Serialize};

/// What an HA node without a license answers (503) on repository and REST endpoints.
pub const UNLICENSED_MESSAGE: &str = "no license available in the cluster pool";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hash_and_expiry() {
        let held = HeldLicense {
            hash: "00bcdb14aa".repeat(6) + "abcd",
            licensed_to: "ACME".into(),
            license_type: "Enterprise".into(),
            valid_through: "2027-05-15".into(),
        };
        assert_eq!(held.short_hash(), "00bcdb14aa00");
        assert!(!held.is_expired("2027-05-15"));
        assert!(held.is_expired("2027-05-16"));
        let json = serde_json::to_string(&held).unwrap();
        assert!(json.contains(r#""type":"Enterprise""#), "{json}");
        assert!(json.contains(r#""validThrough":"2027-05-15""#), "{json}");
    }
}

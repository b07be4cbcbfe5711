//! The config files every node of a cluster shares (`arca-config-sync`,
//! `docs/config-sync.md`): which ones, how each is validated before it is propagated, and
//! whether a node must restart to apply a change.
//!
//! Never shared (node-specific or secret): `security/master.key`, `db.properties`,
//! `ha-node.properties`, anything else under `security/` (e.g. the trusted license issuers,
//! which an operator installs on purpose), the drain flag and the run directory. arca has no
//! mime-types or logging config file (logging is journald, filtered with `ARCA_LOG` in a unit
//! drop-in); they would be listed here.

use std::path::Path;

use arca_config::{BinaryStoreConfig, Severity, SystemProperties};
use sha2::{Digest, Sha256};

/// Largest shared file accepted (they are a few KiB).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// One shared file of `etc/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFile {
    /// Its name under `etc/`.
    pub name: &'static str,
    /// `arca-server` reads it at start only: a change needs a restart of the node.
    pub needs_restart: bool,
    /// The mode of a file the sync creates (an existing file keeps its own).
    pub mode: u32,
}

/// Every shared file.
pub const SHARED_FILES: [SharedFile; 3] = [
    SharedFile {
        name: "binarystore.xml",
        needs_restart: true,
        // may hold object-store credentials (sealed with the master key)
        mode: 0o640,
    },
    SharedFile {
        name: "system.properties",
        needs_restart: true,
        mode: 0o644,
    },
    SharedFile {
        name: "cluster.license",
        // read at start by the primary into an empty pool only
        needs_restart: false,
        mode: 0o640,
    },
];

/// The shared file called `name`, if it is one.
pub fn shared_file(name: &str) -> Option<&'static SharedFile> {
    SHARED_FILES.iter().find(|f| f.name == name)
}

/// SHA-256 (lowercase hex) of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl SharedFile {
    /// Check `bytes` as this file (at `path`, for the messages) with the parsers the daemons
    /// use; `Err` says what is wrong, naming file, line and key where they tell.
    pub fn validate(&self, bytes: &[u8], path: &Path) -> Result<(), String> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{}: {} bytes, more than the {MAX_FILE_BYTES} a shared config file may have",
                path.display(),
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("{}: not UTF-8 text: {e}", path.display()))?;
        match self.name {
            "binarystore.xml" => BinaryStoreConfig::parse(text, path)
                .map(drop)
                .map_err(|e| e.to_string()),
            "system.properties" => {
                let props = SystemProperties::parse(text, path).map_err(|e| e.to_string())?;
                let errors: Vec<String> = props
                    .check()
                    .into_iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(|d| d.error.to_string())
                    .collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors.join("; "))
                }
            }
            // Keys are verified one by one when the primary reads the file; any text will do.
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_uses_the_daemons_parsers() {
        let xml = shared_file("binarystore.xml").unwrap();
        let path = Path::new("/etc/arca/binarystore.xml");
        assert!(
            xml.validate(
                b"<config version=\"2\"><chain template=\"file-system\"/></config>",
                path
            )
            .is_ok()
        );
        let e = xml
            .validate(
                b"<config version=\"2\"><chain template=\"nope\"/></config>",
                path,
            )
            .unwrap_err();
        assert!(e.contains("binarystore.xml") && e.contains("nope"), "{e}");
        assert!(xml.validate(b"<config", path).is_err());
        let props = shared_file("system.properties").unwrap();
        let path = Path::new("/etc/arca/system.properties");
        assert!(props.validate(b"arca.gc.interval.secs=60\n", path).is_ok());
        let e = props
            .validate(b"\narca.gc.interval.secs=soon\n", path)
            .unwrap_err();
        assert!(
            e.contains("system.properties:2") && e.contains("arca.gc.interval.secs"),
            "{e}"
        );
        assert!(props.validate(&[0xff, 0xfe], path).is_err());
        assert!(
            shared_file("cluster.license")
                .unwrap()
                .validate(b"k1\nk2\n", path)
                .is_ok()
        );
        assert!(shared_file("db.properties").is_none());
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

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

impl SharedFile {
    /// Whether changing this file from `old` to `new` (`None`: absent) needs a restart of
    /// `arca-server`. `system.properties` needs one unless only keys the server applies live
    /// changed ([`arca_config::system::LIVE_KEYS`]: `arca.url.base`) — or no key at all (a
    /// comment); a copy that does not parse counts as a change of everything.
    pub fn change_needs_restart(&self, old: Option<&[u8]>, new: Option<&[u8]>) -> bool {
        if !self.needs_restart {
            return false;
        }
        if self.name != "system.properties" {
            return true;
        }
        let parse = |bytes: Option<&[u8]>| -> Option<SystemProperties> {
            let text = std::str::from_utf8(bytes?).ok()?;
            SystemProperties::parse(text, Path::new(self.name)).ok()
        };
        match (parse(old), parse(new)) {
            (Some(old), Some(new)) => old
                .changed_keys(&new)
                .iter()
                .any(|k| !arca_config::system::LIVE_KEYS.contains(&k.as_str())),
            _ => true,
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
        // only arca.url.base (or a comment) changed: applied live, no restart
        let before = b"# c\narca.gc.interval.secs=60\n".as_slice();
        let url = b"# c\narca.gc.interval.secs=60\narca.url.base=https://lb\n".as_slice();
        let comment = b"# other\narca.gc.interval.secs=60\n".as_slice();
        let gc = b"# c\narca.gc.interval.secs=61\narca.url.base=https://lb\n".as_slice();
        assert!(!props.change_needs_restart(Some(before), Some(url)));
        assert!(!props.change_needs_restart(Some(url), Some(before)));
        assert!(!props.change_needs_restart(Some(before), Some(comment)));
        assert!(props.change_needs_restart(Some(url), Some(gc)));
        assert!(props.change_needs_restart(None, Some(url)));
        assert!(props.change_needs_restart(Some(before), Some(b"a=\\u12".as_slice())));
        assert!(xml.change_needs_restart(Some(b"<a/>".as_slice()), Some(b"<b/>".as_slice())));
        let license = shared_file("cluster.license").unwrap();
        assert!(!license.change_needs_restart(None, Some(b"k".as_slice())));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

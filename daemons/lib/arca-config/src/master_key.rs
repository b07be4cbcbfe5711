//! `etc/security/master.key`: 32 hex characters (an AES-128 key). Never printed.

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{ConfigError, Diags};
use crate::home::Home;
use crate::props::read_text;

/// The cluster's master key. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 16]);

impl MasterKey {
    pub fn bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parse the file contents: 32 hex characters, surrounding whitespace ignored.
    pub fn parse(text: &str, file: &Path) -> Result<MasterKey, ConfigError> {
        let hex = text.trim();
        let expected = "expected 32 hexadecimal characters (an AES-128 key, \
                        e.g. from `openssl rand -hex 16`)";
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::new(
                file,
                format!("contains characters that are not hexadecimal; {expected}"),
            ));
        }
        if hex.len() != 32 {
            return Err(ConfigError::new(
                file,
                format!("has {} characters; {expected}", hex.len()),
            ));
        }
        let mut key = [0u8; 16];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| ConfigError::new(file, expected))?;
        }
        Ok(MasterKey(key))
    }

    /// Read `<home>/etc/security/master.key`; `Ok(None)` when absent.
    pub fn load(home: &Home) -> Result<Option<MasterKey>, ConfigError> {
        let path = home.master_key();
        match read_text(&path)? {
            Some(text) => MasterKey::parse(&text, &path).map(Some),
            None => Ok(None),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Check the key file. `secondary`: this node is an HA node with `primary=false`, which cannot
/// generate the key and must be given the cluster's.
pub(crate) fn analyse(home: &Home, secondary: bool, diags: &mut Diags) {
    let path = home.master_key();
    match MasterKey::load(home) {
        Ok(Some(_)) => {
            crate::perms::check_owner(&path, diags);
            if let Ok(meta) = fs::metadata(&path) {
                let mode = meta.permissions().mode() & 0o7777;
                if mode & 0o007 != 0 {
                    diags.warn(ConfigError::new(
                        &path,
                        format!(
                            "permissions {mode:04o} let every user read the key; run: chmod 600 {}",
                            path.display()
                        ),
                    ));
                }
            }
        }
        Ok(None) if secondary => diags.error(ConfigError::new(
            &path,
            "missing: a secondary node (primary=false) cannot generate the master key; \
             copy etc/security/master.key from an existing node",
        )),
        Ok(None) => {}
        Err(e) => diags.error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn parses_and_redacts() {
        let k = MasterKey::parse(&format!("{KEY}\n"), Path::new("/k")).unwrap();
        assert_eq!(k.bytes()[1], 0x11);
        assert_eq!(k.bytes()[15], 0xff);
        assert!(!format!("{k:?}").contains("aabb"));
    }

    #[test]
    fn bad_keys_never_printed() {
        for bad in [
            "00112233",
            "zz112233445566778899aabbccddeeff",
            "00112233445566778899aabbccddeeff00",
            "",
        ] {
            let e = MasterKey::parse(bad, Path::new("/h/etc/security/master.key")).unwrap_err();
            assert_eq!(e.file, Path::new("/h/etc/security/master.key"));
            assert!(e.message.contains("32 hexadecimal"), "{e}");
            if !bad.is_empty() {
                assert!(!e.to_string().contains(bad), "{e}");
            }
        }
    }

    #[test]
    fn secondary_needs_key_and_modes_warn() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let mut d = Diags::default();
        analyse(&home, false, &mut d);
        assert!(d.list.is_empty());
        analyse(&home, true, &mut d);
        assert_eq!(d.list.len(), 1);
        assert!(d.list[0].is_error());
        assert!(
            d.list[0]
                .error
                .message
                .contains("copy etc/security/master.key")
        );

        fs::create_dir_all(home.security()).unwrap();
        fs::write(home.master_key(), KEY).unwrap();
        fs::set_permissions(home.master_key(), fs::Permissions::from_mode(0o644)).unwrap();
        let mut d = Diags::default();
        analyse(&home, true, &mut d);
        assert_eq!(d.list.len(), 1);
        assert!(!d.list[0].is_error());
        assert!(MasterKey::load(&home).unwrap().is_some());
    }
}

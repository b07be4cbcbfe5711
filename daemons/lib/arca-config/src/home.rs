//! The home layout: `<root>/etc`, `data`, `backup`, `run` (the reference's `$ARTIFACTORY_HOME`).

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// Default `etc/db.properties` written on first start (single node, embedded SQLite).
pub const DEFAULT_DB_PROPERTIES: &str = include_str!("../../../../etc/db.properties");
/// Default `etc/binarystore.xml` written on first start (`file-system` template).
pub const DEFAULT_BINARYSTORE_XML: &str = include_str!("../../../../etc/binarystore.xml");
/// Default `etc/system.properties` written on first start (every key commented out).
pub const DEFAULT_SYSTEM_PROPERTIES: &str = include_str!("../../../../etc/system.properties");
/// Commented HA example; never written by `init_layout` (its absence means single node).
pub const HA_NODE_PROPERTIES_EXAMPLE: &str =
    include_str!("../../../../etc/ha-node.properties.example");

pub const DB_PROPERTIES: &str = "db.properties";
pub const BINARYSTORE_XML: &str = "binarystore.xml";
pub const SYSTEM_PROPERTIES: &str = "system.properties";
pub const HA_NODE_PROPERTIES: &str = "ha-node.properties";
pub const MASTER_KEY: &str = "master.key";

/// File name of the first admin's generated password, under `etc/security/`.
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

/// One node's home directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/etc`
    pub fn etc(&self) -> PathBuf {
        self.root.join("etc")
    }

    /// `<root>/data`
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `<root>/backup`
    pub fn backup(&self) -> PathBuf {
        self.root.join("backup")
    }

    /// `<root>/run/drain`: present while an operator has drained the node
    /// (`arcactl node drain`); `arca-server` answers 503 on its health checks
    /// then, and removes a leftover flag when it starts.
    pub fn drain_flag(&self) -> PathBuf {
        self.run_dir().join("drain")
    }

    /// `<root>/run` (unix sockets, pid files)
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `<run>/arca-server.sock`: the server's local control socket (license state from
    /// `arca-license-agent`).
    pub fn server_socket(&self) -> PathBuf {
        self.run_dir().join("arca-server.sock")
    }

    /// `<run>/arca-config-sync.sock`: the config sync's control socket (the server asks it to
    /// set `arca.url.base` in `etc/system.properties`, which the server may not write).
    pub fn config_sync_socket(&self) -> PathBuf {
        self.run_dir().join("arca-config-sync.sock")
    }

    /// `<run>/arca-storage-mover.sock`: the storage mover's control socket (wake-ups from the
    /// server after uploads, status queries).
    pub fn mover_socket(&self) -> PathBuf {
        self.run_dir().join("arca-storage-mover.sock")
    }

    /// `<root>/etc/security` (mode 0700)
    pub fn security(&self) -> PathBuf {
        self.etc().join("security")
    }

    /// `<root>/etc/security/initial-admin-password`: the generated password of the first
    /// `admin`, written at the first start and removed at the first change of that password
    /// (by the REST API or `arcactl user passwd`).
    pub fn initial_admin_password(&self) -> PathBuf {
        self.security().join(INITIAL_ADMIN_PASSWORD_FILE)
    }

    /// `<root>/etc/db.properties`
    pub fn db_properties(&self) -> PathBuf {
        self.etc().join(DB_PROPERTIES)
    }

    /// `<root>/etc/binarystore.xml`
    pub fn binarystore_xml(&self) -> PathBuf {
        self.etc().join(BINARYSTORE_XML)
    }

    /// `<root>/etc/system.properties`
    pub fn system_properties(&self) -> PathBuf {
        self.etc().join(SYSTEM_PROPERTIES)
    }

    /// `<root>/etc/ha-node.properties` (absent = single node)
    pub fn ha_node_properties(&self) -> PathBuf {
        self.etc().join(HA_NODE_PROPERTIES)
    }

    /// `<root>/etc/security/master.key`
    pub fn master_key(&self) -> PathBuf {
        self.security().join(MASTER_KEY)
    }

    /// `true` when `etc/ha-node.properties` exists (HA mode).
    pub fn is_ha(&self) -> bool {
        self.ha_node_properties().exists()
    }

    /// First start: create `etc/ data/ backup/ run/ etc/security` (the latter 0700) and write the
    /// default `db.properties`, `binarystore.xml` and `system.properties` if they are absent.
    /// Never overwrites an existing file. Returns the files it created.
    pub fn init_layout(&self) -> Result<Vec<PathBuf>, ConfigError> {
        for dir in [self.etc(), self.data(), self.backup(), self.run_dir()] {
            fs::create_dir_all(&dir).map_err(|e| ConfigError::io(&dir, "create directory", &e))?;
        }
        let security = self.security();
        match DirBuilder::new().mode(0o700).create(&security) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && security.is_dir() => {}
            Err(e) => return Err(ConfigError::io(&security, "create directory", &e)),
        }

        let mut created = Vec::new();
        // db.properties may hold a password: keep it away from other users.
        let files = [
            (self.db_properties(), DEFAULT_DB_PROPERTIES, 0o600),
            (self.binarystore_xml(), DEFAULT_BINARYSTORE_XML, 0o644),
            (self.system_properties(), DEFAULT_SYSTEM_PROPERTIES, 0o644),
        ];
        for (path, contents, mode) in files {
            if write_new_file(&path, contents, mode)? {
                created.push(path);
            }
        }
        Ok(created)
    }
}

/// Whether this process may replace the file `path` the way config files are rewritten (a temp
/// file renamed over it, which needs its directory writable). `false` under a unit whose
/// sandbox keeps /etc/arca read-only (`arca-server`): its writes there are done by
/// `arca-server prepare-config` before it starts.
pub fn can_replace(path: &Path) -> bool {
    use nix::unistd::{AccessFlags, access};
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => access(dir, AccessFlags::W_OK).is_ok(),
        _ => access(Path::new("."), AccessFlags::W_OK).is_ok(),
    }
}

/// Create `path` with `contents` unless it exists. `Ok(true)` when it was created.
pub fn write_new_file(path: &Path, contents: &str, mode: u32) -> Result<bool, ConfigError> {
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(ConfigError::io(path, "create file", &e)),
    };
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| ConfigError::io(path, "write file", &e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn paths() {
        let h = Home::new("/srv/arca");
        assert_eq!(h.root(), Path::new("/srv/arca"));
        assert_eq!(h.etc(), PathBuf::from("/srv/arca/etc"));
        assert_eq!(h.data(), PathBuf::from("/srv/arca/data"));
        assert_eq!(h.backup(), PathBuf::from("/srv/arca/backup"));
        assert_eq!(h.run_dir(), PathBuf::from("/srv/arca/run"));
        assert_eq!(h.security(), PathBuf::from("/srv/arca/etc/security"));
        assert_eq!(
            h.master_key(),
            PathBuf::from("/srv/arca/etc/security/master.key")
        );
    }

    #[test]
    fn init_layout_creates_then_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let h = Home::new(dir.path().join("home"));
        let created = h.init_layout().unwrap();
        assert_eq!(
            created,
            vec![
                h.db_properties(),
                h.binarystore_xml(),
                h.system_properties()
            ]
        );
        for d in [h.etc(), h.data(), h.backup(), h.run_dir(), h.security()] {
            assert!(d.is_dir(), "{}", d.display());
        }
        let mode = fs::metadata(h.security()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(
            fs::read_to_string(h.binarystore_xml()).unwrap(),
            DEFAULT_BINARYSTORE_XML
        );
        assert!(!h.ha_node_properties().exists());

        fs::write(h.db_properties(), "type=postgresql\n").unwrap();
        fs::remove_file(h.system_properties()).unwrap();
        let created = h.init_layout().unwrap();
        assert_eq!(created, vec![h.system_properties()]);
        assert_eq!(
            fs::read_to_string(h.db_properties()).unwrap(),
            "type=postgresql\n"
        );
    }

    #[test]
    fn can_replace_needs_a_writable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let h = Home::new(dir.path());
        h.init_layout().unwrap();
        assert!(can_replace(&h.db_properties()));
        fs::set_permissions(h.etc(), fs::Permissions::from_mode(0o500)).unwrap();
        // root may write anyway; the check then agrees with what a rename would do
        let root = nix::unistd::Uid::effective().is_root();
        assert_eq!(can_replace(&h.db_properties()), root);
        fs::set_permissions(h.etc(), fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn init_layout_reports_unwritable_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        fs::write(&file, "x").unwrap();
        let err = Home::new(&file).init_layout().unwrap_err();
        assert!(err.message.contains("cannot create directory"), "{err}");
        assert_eq!(err.file, file.join("etc"));
    }
}

//! Opening this node's database the way a tool does (`arcactl ha check`, `arcactl license
//! add|list|delete`): from `etc/db.properties`, decrypting an encrypted password with
//! `etc/security/master.key`, without running migrations, rewriting db.properties or creating
//! a missing SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};

use arca_cluster::ClusterError;
use arca_config::{ConfigError, DbProperties, DbType, Home, MasterKey};
use arca_db::Db;

/// Application name of arcactl's PostgreSQL connections.
const APPLICATION_NAME: &str = "arcactl";

/// Why the database could not be opened. Displays as one line naming the file.
#[derive(Debug)]
pub enum OpenError {
    /// db.properties cannot be read or is invalid.
    Properties(ConfigError),
    /// The SQLite database db.properties names does not exist (connecting would create it).
    NoSqliteFile(PathBuf),
    /// The password in db.properties is encrypted and the master key cannot be loaded.
    NoMasterKey {
        db_properties: PathBuf,
        master_key: PathBuf,
    },
    /// Connecting failed (server down, bad credentials, a password sealed with another key).
    Connect(ClusterError),
}

impl OpenError {
    /// A problem with the master key (missing, unreadable, or not the one that sealed the
    /// password): the fix is copying the cluster's key.
    pub fn is_master_key(&self) -> bool {
        match self {
            OpenError::NoMasterKey { .. } => true,
            OpenError::Connect(ClusterError::Refused(m)) => m.contains("master key"),
            _ => false,
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Properties(e) => write!(f, "{e}"),
            OpenError::NoSqliteFile(path) => {
                write!(f, "SQLite database {} does not exist", path.display())
            }
            OpenError::NoMasterKey {
                db_properties,
                master_key,
            } => write!(
                f,
                "the password in {} is encrypted and {} cannot be loaded to decrypt it",
                db_properties.display(),
                master_key.display()
            ),
            OpenError::Connect(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// Connect to the database `props` (loaded from `home`'s db.properties) describes. `key` is
/// the result of loading the master key: it is needed only to decrypt an encrypted password.
pub fn open(
    home: &Home,
    props: &Result<DbProperties, ConfigError>,
    key: &Result<Option<MasterKey>, ConfigError>,
) -> Result<Db, OpenError> {
    let props = props
        .as_ref()
        .map_err(|e| OpenError::Properties(e.clone()))?;
    if props.db_type == DbType::Sqlite
        && let Some(path) = props.sqlite_path().filter(|p| !p.exists())
    {
        return Err(OpenError::NoSqliteFile(path));
    }
    let key = match key {
        Ok(Some(key)) => key.clone(),
        // The key only decrypts an encrypted password; a plain one connects with any key.
        _ if !props.password_is_encrypted() => placeholder_key(),
        _ => {
            return Err(OpenError::NoMasterKey {
                db_properties: home.db_properties(),
                master_key: home.master_key(),
            });
        }
    };
    arca_cluster::bootstrap::connect_database(home, props, &key, APPLICATION_NAME)
        .map_err(OpenError::Connect)
}

fn placeholder_key() -> MasterKey {
    MasterKey::parse(&"0".repeat(32), Path::new("-")).expect("32 hex digits are a valid key")
}

//! Opening this node's database the way a tool does (`arcactl ha check`, `arcactl license
//! add|list|delete`): from `etc/db.properties`, decrypting an encrypted password with
//! `etc/security/master.key`, without running migrations, rewriting db.properties or creating
//! a missing SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use arca_cluster::ClusterError;
use arca_config::{ConfigError, DbProperties, DbType, Home, MasterKey};
use arca_db::{Db, migrate};

/// What a failure to open the database says about who may run arcactl.
const RUN_AS: &str = "run arcactl as root or as the arca user, on a node";

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

/// The database of `home` for a tool command (no migrations), at schema `min_version` or
/// newer (what `feature` needs) and not newer than this arcactl knows. Every failure is one
/// line naming the file and what to do.
pub fn open_for_tool(home: &Home, min_version: i64, feature: &str) -> anyhow::Result<Db> {
    if !home.root().is_dir() {
        bail!("{}: home directory does not exist", home.root().display());
    }
    let props = DbProperties::load(home);
    let key = MasterKey::load(home);
    let db = open(home, &props, &key)
        .map_err(|e| anyhow!(describe_open_error(home, &props, &key, &e)))?;
    let version = db.read_blocking(migrate::current_version).map_err(|e| {
        anyhow!(
            "cannot read the database of {}: {e}",
            home.db_properties().display()
        )
    })?;
    let known = migrate::known_version();
    if version > known {
        bail!(
            "the database of {} has schema version {version}, newer than this arcactl knows \
             ({known}): use the arcactl of the arca version the nodes run",
            home.db_properties().display()
        );
    }
    if version < min_version {
        bail!(
            "the database of {} has no {feature} yet (schema version {version}, {feature} \
             needs {min_version}): start a node of this arca version first",
            home.db_properties().display()
        );
    }
    Ok(db)
}

fn describe_open_error(
    home: &Home,
    props: &Result<DbProperties, ConfigError>,
    key: &Result<Option<MasterKey>, ConfigError>,
    e: &OpenError,
) -> String {
    let permission = |text: &str| text.contains("ermission denied");
    match e {
        OpenError::Properties(c) if permission(&c.message) => format!("{c} ({RUN_AS})"),
        OpenError::Properties(c) => format!(
            "{c} (arcactl config check --home {} lists every problem)",
            home.root().display()
        ),
        OpenError::NoSqliteFile(path) if !home.db_properties().exists() => format!(
            "{} does not exist and neither does the single-node database {}: {RUN_AS}, with \
             --home (or ARCA_HOME) set to the node's home",
            home.db_properties().display(),
            path.display()
        ),
        OpenError::NoSqliteFile(path) => format!(
            "SQLite database {} (from {}) does not exist: start the node once",
            path.display(),
            home.db_properties().display()
        ),
        OpenError::NoMasterKey { .. } => match key {
            Err(k) if permission(&k.message) => format!("{e}: {k} ({RUN_AS})"),
            Err(k) => format!("{e}: {k}"),
            Ok(_) => format!(
                "{e}: {} is missing; copy etc/security/master.key from an existing node",
                home.master_key().display()
            ),
        },
        OpenError::Connect(c) => {
            let what = match props {
                Ok(p) if p.sqlite_path().is_some() => "SQLite",
                _ => "PostgreSQL",
            };
            let hint = if e.is_master_key() {
                "copy etc/security/master.key from an existing node".to_string()
            } else if permission(&c.to_string()) || what == "SQLite" {
                RUN_AS.to_string()
            } else {
                format!(
                    "check url, username and password in {} and that the database server \
                     runs and accepts connections from this host",
                    home.db_properties().display()
                )
            };
            format!(
                "cannot open the {what} database of {}: {c} ({hint})",
                home.db_properties().display()
            )
        }
    }
}

//! `etc/db.properties`: which database holds the metadata and how to reach it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Diagnostic, Diags};
use crate::home::Home;
use crate::props::{Entry, PropFile};

/// Supported database kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbType {
    /// Embedded, one file; single node only.
    Sqlite,
    /// Shared by all nodes; required for HA.
    Postgresql,
}

impl DbType {
    /// The values `type=` accepts.
    pub const ALLOWED: [&'static str; 2] = ["sqlite", "postgresql"];

    pub fn as_str(&self) -> &'static str {
        match self {
            DbType::Sqlite => "sqlite",
            DbType::Postgresql => "postgresql",
        }
    }

    fn parse(value: &str) -> Option<DbType> {
        match value {
            "sqlite" => Some(DbType::Sqlite),
            "postgresql" => Some(DbType::Postgresql),
            _ => None,
        }
    }
}

impl fmt::Display for DbType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const DEFAULT_POOL_MAX_ACTIVE: u32 = 100;
pub const DEFAULT_POOL_MAX_IDLE: u32 = 10;
pub const DEFAULT_LOCK_POOL_MAX: u32 = 4;
/// File name of the SQLite database inside `<home>/data` when `url` is not set.
pub const DEFAULT_SQLITE_FILE: &str = "arca.db";

const KNOWN_KEYS: [&str; 7] = [
    "type",
    "url",
    "username",
    "password",
    "pool.max.active",
    "pool.max.idle",
    "pool.lock.max",
];

/// Contents of `etc/db.properties`.
#[derive(Clone, PartialEq, Eq)]
pub struct DbProperties {
    pub db_type: DbType,
    /// sqlite: path of the database file (default `<home>/data/arca.db`; relative paths are
    /// resolved against `<home>/data`). postgresql: `postgresql://…` (the `jdbc:postgresql://…`
    /// form is normalised to it).
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `pool.max.active`, default 100.
    pub pool_max_active: u32,
    /// `pool.max.idle`, default 10.
    pub pool_max_idle: u32,
    /// `pool.lock.max`, default 4: the separate pool used for cluster locks.
    pub lock_pool_max: u32,
}

impl fmt::Debug for DbProperties {
    // Never print the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbProperties")
            .field("db_type", &self.db_type)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("pool_max_active", &self.pool_max_active)
            .field("pool_max_idle", &self.pool_max_idle)
            .field("lock_pool_max", &self.lock_pool_max)
            .finish()
    }
}

impl DbProperties {
    /// The single-node default: SQLite in `<home>/data/arca.db`.
    pub fn default_for(home: &Home) -> DbProperties {
        DbProperties {
            db_type: DbType::Sqlite,
            url: Some(home.data().join(DEFAULT_SQLITE_FILE).display().to_string()),
            username: None,
            password: None,
            pool_max_active: DEFAULT_POOL_MAX_ACTIVE,
            pool_max_idle: DEFAULT_POOL_MAX_IDLE,
            lock_pool_max: DEFAULT_LOCK_POOL_MAX,
        }
    }

    /// Load `etc/db.properties`. An absent file means the single-node default (SQLite) — unless
    /// `etc/ha-node.properties` exists: HA needs `type=postgresql`, so SQLite is refused there.
    pub fn load(home: &Home) -> Result<DbProperties, ConfigError> {
        Self::load_with_warnings(home).map(|(db, _)| db)
    }

    /// Like [`DbProperties::load`], also returning the warnings (unknown keys, …).
    pub fn load_with_warnings(home: &Home) -> Result<(DbProperties, Vec<Diagnostic>), ConfigError> {
        let (value, diags) = analyse(home);
        diags.finish(value)
    }

    /// The SQLite database file (`None` for PostgreSQL).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self.db_type {
            DbType::Sqlite => self.url.as_ref().map(PathBuf::from),
            DbType::Postgresql => None,
        }
    }
}

/// Analyse `etc/db.properties` of `home`, collecting every problem.
pub(crate) fn analyse(home: &Home) -> (Option<DbProperties>, Diags) {
    let path = home.db_properties();
    let mut diags = Diags::default();
    let file = match PropFile::read(&path) {
        Ok(Some(f)) => f,
        Ok(None) => {
            if home.is_ha() {
                diags.error(
                    ConfigError::new(
                        &path,
                        "missing: HA (etc/ha-node.properties exists) needs type=postgresql here",
                    )
                    .with_key("type"),
                );
                return (None, diags);
            }
            return (Some(DbProperties::default_for(home)), diags);
        }
        Err(e) => {
            diags.error(e);
            return (None, diags);
        }
    };
    crate::perms::check_owner(&path, &mut diags);
    let value = analyse_file(&file, home, home.is_ha(), &mut diags);
    (value, diags)
}

fn analyse_file(file: &PropFile, home: &Home, ha: bool, diags: &mut Diags) -> Option<DbProperties> {
    file.check_duplicates(diags);
    for e in &file.entries {
        if e.key == "driver" {
            diags.warn(file.err(e, "ignored: arca connects without JDBC drivers"));
        } else if !KNOWN_KEYS.contains(&e.key.as_str()) {
            diags.warn(file.err(
                e,
                format!("unknown key; known keys: {}", KNOWN_KEYS.join(", ")),
            ));
        }
    }

    let allowed = DbType::ALLOWED.join(", ");
    let db_type = match file.get_set("type") {
        None => {
            diags.error(
                ConfigError::new(
                    &file.path,
                    format!("missing required key; allowed values: {allowed}"),
                )
                .with_key("type"),
            );
            None
        }
        Some(e) => match DbType::parse(&e.value) {
            Some(DbType::Sqlite) if ha => {
                diags.error(file.err(
                    e,
                    "sqlite is only for single node; HA needs type=postgresql \
                     (etc/ha-node.properties exists)",
                ));
                None
            }
            Some(t) => Some(t),
            None => {
                diags.error(file.err(
                    e,
                    format!("unknown database type '{}'; allowed: {allowed}", e.value),
                ));
                None
            }
        },
    };

    let url = match db_type {
        Some(DbType::Sqlite) => sqlite_url(file, home, diags),
        Some(DbType::Postgresql) => postgres_url(file, diags),
        None => None,
    };
    let pool_max_active = positive(file, "pool.max.active", DEFAULT_POOL_MAX_ACTIVE, diags);
    let pool_max_idle = positive(file, "pool.max.idle", DEFAULT_POOL_MAX_IDLE, diags);
    let lock_pool_max = positive(file, "pool.lock.max", DEFAULT_LOCK_POOL_MAX, diags);
    if let (Some(active), Some(idle)) = (pool_max_active, pool_max_idle)
        && idle > active
        && let Some(e) = file.get_set("pool.max.idle")
    {
        diags.warn(file.err(
            e,
            format!("{idle} is more than pool.max.active ({active}); at most {active} are used"),
        ));
    }

    let db_type = db_type?;
    Some(DbProperties {
        db_type,
        url: Some(url?),
        username: file.get_set("username").map(|e| e.value.clone()),
        password: file.get_set("password").map(|e| e.value.clone()),
        pool_max_active: pool_max_active?,
        pool_max_idle: pool_max_idle?,
        lock_pool_max: lock_pool_max?,
    })
}

fn sqlite_url(file: &PropFile, home: &Home, diags: &mut Diags) -> Option<String> {
    let Some(e) = file.get_set("url") else {
        return Some(home.data().join(DEFAULT_SQLITE_FILE).display().to_string());
    };
    let raw = e.value.as_str();
    if is_postgres_url(raw) {
        diags.error(file.err(
            e,
            "a PostgreSQL URL needs type=postgresql (type=sqlite takes the database file path)",
        ));
        return None;
    }
    let path = raw
        .strip_prefix("jdbc:sqlite:")
        .or_else(|| raw.strip_prefix("sqlite://"))
        .or_else(|| raw.strip_prefix("sqlite:"))
        .unwrap_or(raw);
    if path.is_empty() || path.contains("://") {
        diags.error(file.err(
            e,
            format!("'{raw}' is not a file path; expected e.g. url=/var/lib/arca/data/arca.db"),
        ));
        return None;
    }
    let path = Path::new(path);
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        home.data().join(path)
    };
    Some(path.display().to_string())
}

fn is_postgres_url(s: &str) -> bool {
    ["jdbc:postgresql:", "postgresql:", "postgres:"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Accept `postgresql://…`, `postgres://…` and the reference's `jdbc:postgresql://…`; the JDBC
/// form is normalised to `postgresql://…`.
pub fn normalize_postgres_url(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let rest = raw
        .strip_prefix("jdbc:postgresql://")
        .or_else(|| raw.strip_prefix("postgresql://"))
        .or_else(|| raw.strip_prefix("postgres://"))?;
    if rest.chars().any(char::is_whitespace) {
        return None;
    }
    Some(format!("postgresql://{rest}"))
}

fn postgres_url(file: &PropFile, diags: &mut Diags) -> Option<String> {
    let Some(e) = file.get_set("url") else {
        diags.error(
            ConfigError::new(
                &file.path,
                "missing required key for type=postgresql; \
                 expected url=postgresql://host:5432/dbname",
            )
            .with_key("url"),
        );
        return None;
    };
    match normalize_postgres_url(&e.value) {
        Some(url) => Some(url),
        None => {
            diags.error(file.err(
                e,
                format!(
                    "'{}' is not a PostgreSQL URL; expected postgresql://host:5432/dbname \
                     or jdbc:postgresql://host:5432/dbname",
                    e.value
                ),
            ));
            None
        }
    }
}

fn positive(file: &PropFile, key: &str, default: u32, diags: &mut Diags) -> Option<u32> {
    let Some(e) = file.get_set(key) else {
        return Some(default);
    };
    match parse_positive(e) {
        Some(n) => Some(n),
        None => {
            diags.error(file.err(
                e,
                format!(
                    "'{}' is not a positive whole number (default {default})",
                    e.value
                ),
            ));
            None
        }
    }
}

fn parse_positive(e: &Entry) -> Option<u32> {
    e.value.parse::<u32>().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::has_errors;
    use std::fs;

    fn home_with(db: Option<&str>, ha: bool) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        fs::create_dir_all(home.etc()).unwrap();
        if let Some(text) = db {
            fs::write(home.db_properties(), text).unwrap();
        }
        if ha {
            fs::write(home.ha_node_properties(), "node.id=n1\n").unwrap();
        }
        (dir, home)
    }

    #[test]
    fn shipped_default_is_sqlite_in_data() {
        let (_d, home) = home_with(Some(crate::home::DEFAULT_DB_PROPERTIES), false);
        let (db, warnings) = DbProperties::load_with_warnings(&home).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(db, DbProperties::default_for(&home));
        assert_eq!(db.sqlite_path().unwrap(), home.data().join("arca.db"));
        assert_eq!(db.pool_max_active, 100);
        assert_eq!(db.pool_max_idle, 10);
        assert_eq!(db.lock_pool_max, 4);
    }

    #[test]
    fn absent_file_single_node_is_default() {
        let (_d, home) = home_with(None, false);
        assert_eq!(
            DbProperties::load(&home).unwrap(),
            DbProperties::default_for(&home)
        );
    }

    #[test]
    fn absent_file_in_ha_is_error() {
        let (_d, home) = home_with(None, true);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!(e.file, home.db_properties());
        assert_eq!(e.key.as_deref(), Some("type"));
    }

    #[test]
    fn sqlite_relative_and_prefixed_urls() {
        let (_d, home) = home_with(Some("type=sqlite\nurl=meta/x.db\n"), false);
        let db = DbProperties::load(&home).unwrap();
        assert_eq!(db.sqlite_path().unwrap(), home.data().join("meta/x.db"));
        let (_d, home) = home_with(Some("type=sqlite\nurl=jdbc:sqlite:/srv/a.db\n"), false);
        assert_eq!(
            DbProperties::load(&home).unwrap().url.as_deref(),
            Some("/srv/a.db")
        );
    }

    #[test]
    fn sqlite_with_postgres_url_is_error() {
        let (_d, home) = home_with(Some("type=sqlite\nurl=postgresql://h/db\n"), false);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("url")));
    }

    #[test]
    fn sqlite_with_other_scheme_is_error() {
        let (_d, home) = home_with(Some("type=sqlite\nurl=mysql://h/db\n"), false);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("url")));
        assert!(e.message.contains("not a file path"), "{e}");
    }

    #[test]
    fn postgres_jdbc_url_is_normalised() {
        let (_d, home) = home_with(
            Some(
                "type=postgresql\nurl=jdbc:postgresql://db1:5432/arca\nusername=arca\n\
                 password=s3cret\npool.max.active=50\npool.max.idle=5\npool.lock.max=2\n",
            ),
            true,
        );
        let db = DbProperties::load(&home).unwrap();
        assert_eq!(db.db_type, DbType::Postgresql);
        assert_eq!(db.url.as_deref(), Some("postgresql://db1:5432/arca"));
        assert_eq!(db.username.as_deref(), Some("arca"));
        assert_eq!(db.password.as_deref(), Some("s3cret"));
        assert_eq!(
            (db.pool_max_active, db.pool_max_idle, db.lock_pool_max),
            (50, 5, 2)
        );
        assert!(!format!("{db:?}").contains("s3cret"));
    }

    #[test]
    fn postgres_url_forms() {
        assert_eq!(
            normalize_postgres_url("postgres://h/db").as_deref(),
            Some("postgresql://h/db")
        );
        assert_eq!(
            normalize_postgres_url("postgresql://h1,h2/db?targetServerType=primary").as_deref(),
            Some("postgresql://h1,h2/db?targetServerType=primary")
        );
        assert_eq!(normalize_postgres_url("jdbc:mysql://h/db"), None);
        assert_eq!(normalize_postgres_url("postgresql://h/d b"), None);
    }

    #[test]
    fn postgres_bad_or_missing_url() {
        let (_d, home) = home_with(Some("type=postgresql\nurl=jdbc:mysql://h/db\n"), false);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("url")));
        assert!(e.message.contains("postgresql://host:5432/dbname"), "{e}");
        let (_d, home) = home_with(Some("type=postgresql\n"), false);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (None, Some("url")));
    }

    #[test]
    fn sqlite_refused_in_ha_at_type_line() {
        let (_d, home) = home_with(Some("# c\ntype=sqlite\n"), true);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!(e.file, home.db_properties());
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("type")));
        assert!(
            e.message
                .starts_with("sqlite is only for single node; HA needs type=postgresql"),
            "{e}"
        );
    }

    #[test]
    fn unknown_and_missing_type() {
        let (_d, home) = home_with(Some("type=mysql\n"), false);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert_eq!(e.key.as_deref(), Some("type"));
        assert!(e.message.contains("'mysql'") && e.message.contains("sqlite, postgresql"));
        let (_d, home) = home_with(Some("url=x\n"), false);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (None, Some("type")));
    }

    #[test]
    fn bad_pool_sizes_all_reported() {
        let (_d, home) = home_with(
            Some("type=sqlite\npool.max.active=0\npool.max.idle=lots\npool.lock.max=-1\n"),
            false,
        );
        let (value, diags) = analyse(&home);
        assert!(value.is_none());
        let errs: Vec<_> = diags
            .list
            .iter()
            .filter(|d| d.is_error())
            .map(|d| (d.error.line, d.error.key.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            errs,
            vec![
                (Some(2), "pool.max.active".to_string()),
                (Some(3), "pool.max.idle".to_string()),
                (Some(4), "pool.lock.max".to_string()),
            ]
        );
    }

    #[test]
    fn warnings_unknown_driver_idle() {
        let (_d, home) = home_with(
            Some("type=sqlite\ndriver=org.x\nfoo=1\npool.max.active=5\npool.max.idle=9\n"),
            false,
        );
        let (db, w) = DbProperties::load_with_warnings(&home).unwrap();
        assert_eq!(db.pool_max_idle, 9);
        assert!(!has_errors(&w));
        let keys: Vec<_> = w
            .iter()
            .map(|d| d.error.key.clone().unwrap_or_default())
            .collect();
        assert_eq!(keys, vec!["driver", "foo", "pool.max.idle"]);
        assert_eq!(w[1].error.line, Some(3));
        assert!(w[1].error.message.starts_with("unknown key"));
    }
}

//! `etc/db.properties`: which database holds the metadata and how to reach it.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Diagnostic, Diags};
use crate::home::Home;
use crate::props::{Entry, PropFile, escape_value, read_text, replace_key};

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
/// Start of a `password` value sealed with `etc/security/master.key` (the same token format as
/// arca-crypto's `SEALED_PREFIX`); any other value is plaintext.
pub const ENCRYPTED_PREFIX: &str = "enc:v1:";

/// The keys `db.properties` knows (any other gets a warning).
pub const KNOWN_KEYS: [&str; 9] = [
    "type",
    "url",
    "username",
    "password",
    "pool.max.active",
    "pool.max.idle",
    "pool.lock.max",
    "ssl.mode",
    "ssl.ca.file",
];

/// PostgreSQL TLS, with libpq's `sslmode` values and meaning (arca-db implements them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, certificate not checked (libpq's and the JDBC driver's
    /// default).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is checked only against a CA file, if given.
    Require,
    /// TLS; the certificate must be issued by a CA of `ssl.ca.file`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host of the url.
    VerifyFull,
}

impl SslMode {
    /// The values `ssl.mode=` (and `sslmode=` in the url) accept.
    pub const ALLOWED: [&'static str; 5] =
        ["disable", "prefer", "require", "verify-ca", "verify-full"];

    pub fn as_str(&self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    pub fn parse(value: &str) -> Option<SslMode> {
        match value {
            "disable" => Some(SslMode::Disable),
            "prefer" => Some(SslMode::Prefer),
            "require" => Some(SslMode::Require),
            "verify-ca" => Some(SslMode::VerifyCa),
            "verify-full" => Some(SslMode::VerifyFull),
            _ => None,
        }
    }

    /// Whether this mode refuses to connect without a CA file.
    pub fn needs_ca(&self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// `ssl.mode` (or `sslmode=` in the url), default `prefer`; PostgreSQL only.
    pub ssl_mode: SslMode,
    /// `ssl.ca.file` (or `sslrootcert=` in the url): PEM CA certificate(s) the server's
    /// certificate must chain to; relative paths are resolved against `<home>/etc`.
    pub ssl_ca_file: Option<PathBuf>,
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
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_ca_file", &self.ssl_ca_file)
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
            ssl_mode: SslMode::default(),
            ssl_ca_file: None,
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

    /// Parse and validate `db.properties` text as [`DbProperties::load_with_warnings`] does the
    /// file (`file` names it in messages, `ha`: `etc/ha-node.properties` exists). For the fuzz
    /// harness and tools that hold the text already.
    pub fn parse_with_warnings(
        text: &str,
        file: &Path,
        home: &Home,
        ha: bool,
    ) -> Result<(DbProperties, Vec<Diagnostic>), ConfigError> {
        let mut diags = Diags::default();
        let value = match PropFile::parse(text, file) {
            Ok(f) => analyse_file(&f, home, ha, &mut diags),
            Err(e) => {
                diags.error(e);
                None
            }
        };
        diags.finish(value)
    }

    /// `true` when `password` is set and sealed (`enc:v1:…`); `false` for a plaintext or absent
    /// password.
    pub fn password_is_encrypted(&self) -> bool {
        self.password
            .as_deref()
            .is_some_and(|p| p.starts_with(ENCRYPTED_PREFIX))
    }

    /// The PostgreSQL URL, normalised to `postgresql://…` (`None` for SQLite).
    pub fn postgres_url(&self) -> Option<&str> {
        match self.db_type {
            DbType::Postgresql => self.url.as_deref(),
            DbType::Sqlite => None,
        }
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
                        "missing: HA needs an external database — etc/ha-node.properties exists, \
                         so set type=postgresql, url, username and password here",
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
                    "HA needs an external database: sqlite is only for a single node and \
                     etc/ha-node.properties exists; set type=postgresql with url, username \
                     and password",
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

    let mut tls = Some((SslMode::default(), None));
    let url = match db_type {
        Some(DbType::Sqlite) => {
            for key in ["ssl.mode", "ssl.ca.file"] {
                if let Some(e) = file.get_set(key) {
                    diags.warn(file.err(e, "ignored: only type=postgresql connects over TLS"));
                }
            }
            sqlite_url(file, home, diags)
        }
        Some(DbType::Postgresql) => read_postgres_url(file, diags).map(|url| {
            let (url, from_url) = take_tls_params(&url);
            tls = read_tls(file, home, from_url, diags);
            url
        }),
        None => None,
    };
    if db_type == Some(DbType::Postgresql)
        && file.get_set("username").is_none()
        // A URL that names the user (postgresql://arca@host/db or ?user=arca) is enough.
        && !url.as_deref().is_some_and(url_names_user)
        // An unusable URL is reported already; the user may be in it once it is fixed.
        && (url.is_some() || file.get_set("url").is_none())
    {
        diags.error(missing_for_postgres(
            file,
            "username",
            "the PostgreSQL user, e.g. username=arca (or in the URL: postgresql://arca@host:5432/dbname)",
        ));
    }
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
    let (ssl_mode, ssl_ca_file) = tls?;
    Some(DbProperties {
        db_type,
        url: Some(url?),
        username: file.get_set("username").map(|e| e.value.clone()),
        password: file.get_set("password").map(|e| e.value.clone()),
        pool_max_active: pool_max_active?,
        pool_max_idle: pool_max_idle?,
        lock_pool_max: lock_pool_max?,
        ssl_mode,
        ssl_ca_file,
    })
}

/// `sslmode` and `sslrootcert` of a PostgreSQL url's query (libpq's and the JDBC driver's
/// names), taken out of it: arca-db sets TLS up itself.
#[derive(Debug, Default, PartialEq, Eq)]
struct UrlTls {
    mode: Option<String>,
    ca_file: Option<String>,
}

/// Split the TLS parameters off `url`; the other parameters keep their order.
fn take_tls_params(url: &str) -> (String, UrlTls) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), UrlTls::default());
    };
    let mut tls = UrlTls::default();
    let mut kept = Vec::new();
    for param in query.split('&') {
        match param.split_once('=') {
            Some(("sslmode", v)) => tls.mode = Some(percent_decode(v)),
            Some(("sslrootcert", v)) => tls.ca_file = Some(percent_decode(v)),
            _ => kept.push(param),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, tls)
}

/// A url query value with its `%XX` escapes decoded (`+` stays: libpq does not read it as a
/// space); an invalid escape or non-UTF-8 result is kept as written.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

/// Where a TLS setting came from: its own key, or a parameter of the url.
struct TlsSetting<'a> {
    entry: &'a Entry,
    value: String,
    /// `ssl.mode` / `ssl.ca.file`, or `sslmode` / `sslrootcert` when from the url.
    name: &'static str,
}

/// One TLS setting from its key or the url, not both.
fn tls_setting<'a>(
    file: &'a PropFile,
    key: &'static str,
    url_name: &'static str,
    from_url: Option<String>,
    diags: &mut Diags,
) -> Option<TlsSetting<'a>> {
    let own = file.get_set(key);
    let url_entry = file.get_set("url");
    match (own, from_url, url_entry) {
        (Some(e), Some(in_url), Some(u)) => {
            diags.error(file.err(
                e,
                format!(
                    "set twice: here and as {url_name}={in_url} in url (line {}); keep one",
                    u.line
                ),
            ));
            None
        }
        (Some(e), _, _) => Some(TlsSetting {
            entry: e,
            value: e.value.clone(),
            name: key,
        }),
        (None, Some(value), Some(u)) => Some(TlsSetting {
            entry: u,
            value,
            name: url_name,
        }),
        _ => None,
    }
}

/// `ssl.mode` and `ssl.ca.file` (or the url's `sslmode`/`sslrootcert`), checked: a known mode,
/// a readable CA file with a PEM certificate, and a CA file where the mode verifies.
fn read_tls(
    file: &PropFile,
    home: &Home,
    from_url: UrlTls,
    diags: &mut Diags,
) -> Option<(SslMode, Option<PathBuf>)> {
    let errors_before = diags.list.iter().filter(|d| d.is_error()).count();
    let mode_setting = tls_setting(file, "ssl.mode", "sslmode", from_url.mode, diags);
    let ca_setting = tls_setting(file, "ssl.ca.file", "sslrootcert", from_url.ca_file, diags);
    let mode = match &mode_setting {
        None => Some(SslMode::default()),
        Some(s) => {
            let mode = SslMode::parse(&s.value);
            if mode.is_none() {
                diags.error(file.err(
                    s.entry,
                    format!(
                        "unknown {} '{}'; allowed: {}",
                        s.name,
                        s.value,
                        SslMode::ALLOWED.join(", ")
                    ),
                ));
            }
            mode
        }
    };
    let ca_file = ca_setting.as_ref().and_then(|s| {
        let path = Path::new(&s.value);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            home.etc().join(path)
        };
        let problem = match fs::read(&path) {
            Err(e) => Some(format!("cannot read the CA file {}: {e}", path.display())),
            Ok(bytes) if !contains(&bytes, b"-----BEGIN CERTIFICATE-----") => Some(format!(
                "{} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                path.display()
            )),
            Ok(_) => None,
        };
        match problem {
            Some(p) => {
                // From the url: say which of its parameters.
                let message = if s.entry.key == s.name {
                    p
                } else {
                    format!("{}: {p}", s.name)
                };
                diags.error(file.err(s.entry, message));
                None
            }
            None => Some(path),
        }
    });
    match (mode, &mode_setting, &ca_setting) {
        (Some(m @ (SslMode::VerifyCa | SslMode::VerifyFull)), Some(s), None) => {
            diags.error(file.err(
                s.entry,
                format!(
                    "{}={m} checks the server's certificate against a CA: set \
                     ssl.ca.file=/etc/arca/postgresql-ca.pem (PEM file of the CA that issued \
                     PostgreSQL's certificate)",
                    s.name
                ),
            ));
        }
        (Some(SslMode::Disable), _, Some(s)) => {
            diags.warn(file.err(s.entry, "ignored: the TLS mode is disable (no TLS)"));
        }
        _ => {}
    }
    let errors_after = diags.list.iter().filter(|d| d.is_error()).count();
    if errors_after > errors_before {
        return None;
    }
    Some((mode?, ca_file))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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

/// A key `type=postgresql` requires but that is unset: reported on the key's own (empty) line
/// when it has one, else on the `type` line that made it required.
fn missing_for_postgres(file: &PropFile, key: &str, expected: &str) -> ConfigError {
    let mut e = ConfigError::new(
        &file.path,
        format!("missing; type=postgresql requires it: {expected}"),
    )
    .with_key(key);
    e.line = file
        .get(key)
        .or_else(|| file.get("type"))
        .map(|entry| entry.line);
    e
}

/// Whether a `postgresql://…` URL names the user: `user@` in the authority or a `user=` query
/// parameter (libpq's forms).
fn url_names_user(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = before_query.split('/').next().unwrap_or("");
    let user_info = authority
        .split_once('@')
        .is_some_and(|(user, _)| !user.is_empty() && !user.starts_with(':'));
    user_info
        || query
            .split('&')
            .any(|p| p.strip_prefix("user=").is_some_and(|u| !u.is_empty()))
}

fn read_postgres_url(file: &PropFile, diags: &mut Diags) -> Option<String> {
    let Some(e) = file.get_set("url") else {
        diags.error(missing_for_postgres(
            file,
            "url",
            "url=postgresql://host:5432/dbname (or jdbc:postgresql://host:5432/dbname)",
        ));
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

/// Set the `password` of the db.properties file `path` to `new_value` (typically
/// `enc:v1:…` after sealing a plaintext password). Every other line (comments, blank lines,
/// other keys, their order, line endings) stays byte-identical; the password's logical line,
/// including its continuation lines, becomes one `password=<escaped value>` line. Earlier
/// duplicate `password` lines are removed so that no old plaintext stays on disk.
///
/// The file is replaced atomically (temp file in the same directory, fsync, rename, fsync of
/// the directory), keeping its mode and, when permitted, owner; a symlink is followed and its
/// target rewritten. Errors: the file is missing or unreadable, has no `password` key, or
/// `new_value` is empty or starts/ends with whitespace (values are trimmed when read, so it would
/// not read back as written).
pub fn rewrite_password(path: &Path, new_value: &str) -> Result<(), ConfigError> {
    if new_value.is_empty() || new_value.trim() != new_value {
        return Err(ConfigError::new(
            path,
            "refusing to write an empty value or one with leading or trailing whitespace: \
             values are trimmed when read, so it would not read back as written",
        )
        .with_key("password"));
    }
    // Rewrite the target, not the link: renaming over a symlink would replace it by a file.
    let real = fs::canonicalize(path).map_err(|e| ConfigError::io(path, "resolve path", &e))?;
    let text = read_text(&real)?.ok_or_else(|| ConfigError::new(path, "file does not exist"))?;
    let new_text = replace_key(
        &text,
        path,
        "password",
        &format!("password={}", escape_value(new_value)),
    )?;
    // Guard against an escaping or line-splitting mistake before the file is touched.
    let (before, after) = (
        PropFile::parse(&text, path)?,
        PropFile::parse(&new_text, path)?,
    );
    let others = |f: &PropFile| -> Vec<(String, String)> {
        f.entries
            .iter()
            .filter(|e| e.key != "password")
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect()
    };
    let password_ok = after.get("password").is_some_and(|e| e.value == new_value)
        && after.entries.iter().filter(|e| e.key == "password").count() == 1;
    if !password_ok || others(&before) != others(&after) {
        return Err(ConfigError::new(
            path,
            "internal error: the rewritten file would not read back",
        )
        .with_key("password"));
    }
    crate::atomic::replace_file(&real, new_text.as_bytes())
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
    use crate::error::{error_sites, has_errors};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

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

    fn errors(home: &Home) -> Vec<String> {
        analyse(home)
            .1
            .list
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn postgres_bad_or_missing_url() {
        // A bad URL is the only error: whether it names the user is unknown until it is fixed.
        let (_d, home) = home_with(Some("type=postgresql\nurl=jdbc:mysql://h/db\n"), false);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("url")));
        assert!(e.message.contains("postgresql://host:5432/dbname"), "{e}");
        assert_eq!(errors(&home).len(), 1);
    }

    #[test]
    fn postgres_without_url_and_username_names_file_line_key() {
        let (_d, home) = home_with(Some("# c\ntype=postgresql\n"), false);
        let f = home.db_properties().display().to_string();
        assert_eq!(
            errors(&home),
            vec![
                format!(
                    "error: {f}:2: url: missing; type=postgresql requires it: \
                     url=postgresql://host:5432/dbname (or jdbc:postgresql://host:5432/dbname)"
                ),
                format!(
                    "error: {f}:2: username: missing; type=postgresql requires it: the PostgreSQL \
                     user, e.g. username=arca (or in the URL: postgresql://arca@host:5432/dbname)"
                ),
            ]
        );
        // An empty value is reported on its own line.
        let (_d, home) = home_with(
            Some("type=postgresql\nurl=postgresql://h/db\nusername=\n"),
            false,
        );
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("username")));
    }

    #[test]
    fn postgres_user_in_url_is_enough() {
        for url in [
            "postgresql://arca@db:5432/arca",
            "jdbc:postgresql://arca:pw@db/arca?sslmode=require",
            "postgresql://db/arca?sslmode=require&user=arca",
        ] {
            let (_d, home) = home_with(Some(&format!("type=postgresql\nurl={url}\n")), false);
            let db = DbProperties::load(&home).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(db.username, None);
        }
        for url in ["postgresql://db/arca?user=", "postgresql://:pw@db/arca"] {
            let (_d, home) = home_with(Some(&format!("type=postgresql\nurl={url}\n")), false);
            let e = DbProperties::load(&home).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("username"), "{url}");
        }
    }

    #[test]
    fn postgres_url_both_forms_with_query() {
        for (raw, want) in [
            ("postgresql://db1:5432/arca", "postgresql://db1:5432/arca"),
            (
                "jdbc:postgresql://db1:5432/arca",
                "postgresql://db1:5432/arca",
            ),
            // The TLS parameters move to ssl_mode / ssl_ca_file (arca-db sets TLS up).
            (
                "postgresql://db1:5432/arca?sslmode=require",
                "postgresql://db1:5432/arca",
            ),
            (
                "jdbc:postgresql://db1:5432/arca?connect_timeout=5&sslmode=require",
                "postgresql://db1:5432/arca?connect_timeout=5",
            ),
        ] {
            let (_d, home) = home_with(
                Some(&format!("type=postgresql\nurl={raw}\nusername=arca\n")),
                true,
            );
            let db = DbProperties::load(&home).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(db.postgres_url(), Some(want), "{raw}");
            assert_eq!(db.sqlite_path(), None);
        }
        let (_d, home) = home_with(Some("type=sqlite\n"), false);
        assert_eq!(DbProperties::load(&home).unwrap().postgres_url(), None);
    }

    const CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn pg_with(extra: &str) -> (tempfile::TempDir, Home) {
        let (d, home) = home_with(
            Some(&format!(
                "type=postgresql\nurl=postgresql://db:5432/arca\nusername=arca\n{extra}"
            )),
            false,
        );
        fs::write(home.etc().join("pg-ca.pem"), CA_PEM).unwrap();
        (d, home)
    }

    #[test]
    fn tls_default_is_prefer_without_ca() {
        let (_d, home) = pg_with("");
        let db = DbProperties::load(&home).unwrap();
        assert_eq!((db.ssl_mode, db.ssl_ca_file), (SslMode::Prefer, None));
    }

    #[test]
    fn tls_keys_modes_and_relative_ca_file() {
        for mode in SslMode::ALLOWED {
            let (_d, home) = pg_with(&format!("ssl.mode={mode}\nssl.ca.file=pg-ca.pem\n"));
            let (db, warnings) = DbProperties::load_with_warnings(&home).unwrap();
            assert_eq!(db.ssl_mode.as_str(), mode);
            assert_eq!(db.ssl_ca_file, Some(home.etc().join("pg-ca.pem")));
            // A CA file with TLS off is a mistake worth a warning, not an error.
            let keys: Vec<_> = warnings.iter().map(|w| w.error.key.clone()).collect();
            let want = if mode == "disable" {
                vec![Some("ssl.ca.file".to_string())]
            } else {
                vec![]
            };
            assert_eq!(keys, want, "{mode}");
        }
        let (_d, home) = pg_with("ssl.mode=require\n");
        let db = DbProperties::load(&home).unwrap();
        assert_eq!((db.ssl_mode, db.ssl_ca_file), (SslMode::Require, None));
    }

    #[test]
    fn tls_from_jdbc_url_query() {
        let (_d, home) = pg_with("");
        let ca = home.etc().join("pg-ca.pem");
        fs::write(
            home.db_properties(),
            format!(
                "type=postgresql\nusername=arca\nurl=jdbc:postgresql://db:5432/arca?\
                 sslmode=verify-full&sslrootcert={}&connect_timeout=5\n",
                ca.display()
            ),
        )
        .unwrap();
        let db = DbProperties::load(&home).unwrap();
        assert_eq!(db.ssl_mode, SslMode::VerifyFull);
        assert_eq!(db.ssl_ca_file, Some(ca.clone()));
        assert_eq!(
            db.postgres_url(),
            Some("postgresql://db:5432/arca?connect_timeout=5")
        );
        // percent-encoded, as a url may carry it
        let encoded = ca.display().to_string().replace('/', "%2F");
        fs::write(
            home.db_properties(),
            format!(
                "type=postgresql\nusername=arca\n\
                 url=postgresql://db/arca?sslrootcert={encoded}&sslmode=verify%2Dca\n"
            ),
        )
        .unwrap();
        let db = DbProperties::load(&home).unwrap();
        assert_eq!(db.postgres_url(), Some("postgresql://db/arca"));
        assert_eq!((db.ssl_mode, db.ssl_ca_file), (SslMode::VerifyCa, Some(ca)));
        assert_eq!(percent_decode("a%zz%4"), "a%zz%4");
        assert_eq!(percent_decode("%C3%A9t%C3%A9+x"), "été+x");
        assert_eq!(percent_decode("%FF"), "%FF");
    }

    #[test]
    fn tls_errors_name_file_line_and_key() {
        let f = |home: &Home| home.db_properties().display().to_string();
        // unknown mode (libpq's `allow` is not supported)
        let (_d, home) = pg_with("ssl.mode=allow\n");
        assert_eq!(
            errors(&home),
            vec![format!(
                "error: {}:4: ssl.mode: unknown ssl.mode 'allow'; allowed: disable, prefer, \
                 require, verify-ca, verify-full",
                f(&home)
            )]
        );
        // verify-full / verify-ca without a CA file
        for mode in ["verify-full", "verify-ca"] {
            let (_d, home) = pg_with(&format!("# tls\nssl.mode={mode}\n"));
            let e = DbProperties::load(&home).unwrap_err();
            assert_eq!(
                (e.line, e.key.as_deref()),
                (Some(5), Some("ssl.mode")),
                "{e}"
            );
            assert!(e.message.contains("set ssl.ca.file="), "{e}");
        }
        // a missing CA file, a directory, a file without a certificate
        let (_d, home) = pg_with("");
        fs::write(home.etc().join("not-pem.txt"), "hello").unwrap();
        for (value, want) in [
            ("absent.pem", "cannot read the CA file"),
            (".", "cannot read the CA file"),
            ("not-pem.txt", "holds no PEM certificate"),
        ] {
            fs::write(
                home.db_properties(),
                format!(
                    "type=postgresql\nurl=postgresql://db/arca\nusername=arca\n\
                     ssl.mode=verify-full\nssl.ca.file={value}\n"
                ),
            )
            .unwrap();
            let errs = errors(&home);
            assert_eq!(errs.len(), 1, "{errs:?}");
            let e = DbProperties::load(&home).unwrap_err();
            assert_eq!((e.line, e.key.as_deref()), (Some(5), Some("ssl.ca.file")));
            assert!(e.message.contains(want), "{value}: {e}");
            assert!(!e.message.starts_with("ssl.ca.file"), "key said once: {e}");
            assert!(
                e.message
                    .contains(&home.etc().join(value).display().to_string()),
                "{e}"
            );
        }
        // in the url: reported on the url's line
        let (_d, home) = pg_with("");
        fs::write(
            home.db_properties(),
            "type=postgresql\nusername=arca\nurl=postgresql://db/arca?sslmode=verify-ful\n",
        )
        .unwrap();
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("url")));
        assert!(e.message.starts_with("unknown sslmode 'verify-ful'"), "{e}");
        fs::write(
            home.db_properties(),
            "type=postgresql\nusername=arca\nurl=postgresql://db/arca?sslrootcert=/nope.pem\n",
        )
        .unwrap();
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("url")));
        assert!(
            e.message
                .starts_with("sslrootcert: cannot read the CA file /nope.pem"),
            "{e}"
        );
        // set twice
        let (_d, home) = pg_with("");
        fs::write(
            home.db_properties(),
            "type=postgresql\nusername=arca\nurl=postgresql://db/arca?sslmode=require\n\
             ssl.mode=disable\n",
        )
        .unwrap();
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("ssl.mode")));
        assert!(e.message.contains("sslmode=require in url (line 3)"), "{e}");
    }

    #[test]
    fn tls_keys_ignored_for_sqlite() {
        let (_d, home) = home_with(Some("type=sqlite\nssl.mode=bogus\n"), false);
        let (_, warnings) = DbProperties::load_with_warnings(&home).unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].error.key.as_deref(), Some("ssl.mode"));
        assert!(warnings[0].error.message.starts_with("ignored"));
    }

    #[test]
    fn password_encrypted_or_not() {
        let load = |password: &str| {
            let (_d, home) = home_with(
                Some(&format!(
                    "type=postgresql\nurl=postgresql://h/db\nusername=u\n{password}\n"
                )),
                false,
            );
            DbProperties::load(&home).unwrap()
        };
        assert!(load("password=enc:v1:AAECAwQ").password_is_encrypted());
        assert!(!load("password=enc:v2:AAECAwQ").password_is_encrypted());
        assert!(!load("password=s3cret").password_is_encrypted());
        assert!(!load("password=").password_is_encrypted());
        assert!(!load("").password_is_encrypted());
    }

    fn db_file(text: &str) -> (tempfile::TempDir, Home) {
        let (d, home) = home_with(Some(text), false);
        fs::set_permissions(home.db_properties(), fs::Permissions::from_mode(0o600)).unwrap();
        (d, home)
    }

    const SEALED: &str = "enc:v1:q83vEjRWeJAB-_cd";

    #[test]
    fn rewrite_password_keeps_every_other_byte() {
        let head = "# db\r\n\ntype=postgresql\nurl = postgresql://h/db\nusername:arca\n";
        let tail = "  # trailing comment\npool.max.active=5\n!bang comment";
        let (_d, home) = db_file(&format!("{head}password = s3cret\n{tail}"));
        rewrite_password(&home.db_properties(), SEALED).unwrap();
        assert_eq!(
            fs::read_to_string(home.db_properties()).unwrap(),
            format!("{head}password=enc:v1:q83vEjRWeJAB-_cd\n{tail}")
        );
        let db = DbProperties::load(&home).unwrap();
        assert_eq!(db.password.as_deref(), Some(SEALED));
        assert!(db.password_is_encrypted());
        assert_eq!(
            (db.username.as_deref(), db.pool_max_active),
            (Some("arca"), 5)
        );
        let mode = fs::metadata(home.db_properties())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o600);
        // Only db.properties is left in etc/ (no temporary file).
        assert_eq!(fs::read_dir(home.etc()).unwrap().count(), 1);
    }

    #[test]
    fn rewrite_password_continuation_lines_and_duplicates() {
        let (_d, home) = db_file(
            "type=sqlite\npassword=old-\\\n   plain\\\n   text\nurl=/x.db\n\
             password=second \\\r\n  part\r\n# end\n",
        );
        rewrite_password(&home.db_properties(), SEALED).unwrap();
        assert_eq!(
            fs::read_to_string(home.db_properties()).unwrap(),
            "type=sqlite\nurl=/x.db\npassword=enc:v1:q83vEjRWeJAB-_cd\r\n# end\n"
        );
        let db = DbProperties::load(&home).unwrap();
        assert_eq!(db.password.as_deref(), Some(SEALED));
        assert_eq!(db.url.as_deref(), Some("/x.db"));
    }

    #[test]
    fn rewrite_password_escapes_and_reads_back() {
        let (_d, home) = db_file("type=sqlite\npassword=x\n");
        let nasty = "=a\\b=c:d#e!f\tg\u{1}h été";
        rewrite_password(&home.db_properties(), nasty).unwrap();
        let db = DbProperties::load(&home).unwrap();
        assert_eq!(db.password.as_deref(), Some(nasty));
        let text = fs::read_to_string(home.db_properties()).unwrap();
        assert_eq!(
            text,
            "type=sqlite\npassword=\\=a\\\\b=c:d#e!f\\tg\\u0001h été\n"
        );
    }

    #[test]
    fn rewrite_password_keeps_mode_owner_and_symlink() {
        let (_d, home) = db_file("type=sqlite\npassword=x");
        let p = home.db_properties();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let root = nix::unistd::geteuid().is_root();
        if root {
            std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
        }
        let link = home.root().join("link.properties");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        rewrite_password(&link, SEALED).unwrap();
        // The link still points at the file, which holds the new value (no terminator was there).
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "type=sqlite\npassword=enc:v1:q83vEjRWeJAB-_cd"
        );
        let m = fs::metadata(&p).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o640);
        if root {
            assert_eq!((m.uid(), m.gid()), (65534, 65534));
        }
    }

    #[test]
    fn rewrite_password_errors_leave_file_alone() {
        let text = "type=sqlite\n#password=x\nurl=/p\\\n  assword=y\n";
        let (_d, home) = db_file(text);
        let p = home.db_properties();
        let e = rewrite_password(&p, SEALED).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: password: not set in this file", p.display())
        );
        for bad in ["", " lead", "trail\t"] {
            let e = rewrite_password(&p, bad).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("password"));
            assert!(e.message.contains("trimmed"), "{e}");
        }
        assert_eq!(fs::read_to_string(&p).unwrap(), text);
        let absent = home.etc().join("absent.properties");
        let e = rewrite_password(&absent, SEALED).unwrap_err();
        assert_eq!(e.file, absent);
    }

    #[test]
    fn sqlite_refused_in_ha_at_type_line() {
        let (_d, home) = home_with(Some("# c\ntype=sqlite\n"), true);
        let e = DbProperties::load(&home).unwrap_err();
        assert_eq!(e.file, home.db_properties());
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("type")));
        assert!(
            e.message
                .starts_with("HA needs an external database: sqlite is only for a single node"),
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
        let errs = error_sites(&diags.list);
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

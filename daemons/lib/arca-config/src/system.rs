//! `etc/system.properties`: cluster-wide settings, a free key/value map; its values are read
//! once into [`SystemSettings`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfigError, Diagnostic, Diags};
use crate::ha_node::ContextUrl;
use crate::home::Home;
use crate::props::PropFile;

pub const CONTEXT_PATH: &str = "arca.http.context.path";
pub const UPLOAD_MAX_BYTES: &str = "arca.upload.max.bytes";
pub const STORAGE_RESERVE_BYTES: &str = "arca.storage.reserve.bytes";
pub const PATH_MAX_LENGTH: &str = "arca.path.max.length";
pub const GC_INTERVAL_SECS: &str = "arca.gc.interval.secs";
pub const GC_GRACE_SECS: &str = "arca.gc.grace.secs";
pub const MAP_PROVIDER_TYPE: &str = "arca.map.provider.type";
pub const SESSION_CLEANUP_CRON: &str = "arca.db.session.cleanup.cron";
pub const AUTH_CACHE_SECS: &str = "arca.auth.cache.secs";
pub const DRAIN_DELAY_SECS: &str = "arca.shutdown.drain.delay.secs";
pub const HA_HEARTBEAT_SECS: &str = "arca.ha.heartbeat.interval.secs";
pub const HA_STALE_SECS: &str = "arca.ha.node.stale.secs";
pub const HA_LOCK_LEASE_SECS: &str = "arca.ha.lock.lease.secs";
pub const URL_BASE: &str = "arca.url.base";
pub const LICENSE_SWAP_WINDOW_DAYS: &str = "arca.license.swap.window.days";
pub const LICENSE_AGENT_INTERVAL_SECS: &str = "arca.license.agent.interval.secs";
pub const CONFIG_SYNC_POLL_SECS: &str = "arca.config.sync.poll.secs";
pub const CONFIG_SYNC_RESTART: &str = "arca.config.sync.restart";
pub const NODE_SIGNATURE_V1: &str = "arca.node.signature.v1";
pub const SESSION_IDLE_TIMEOUT_SECS: &str = "arca.session.idle.timeout.secs";
pub const SESSION_ABSOLUTE_TIMEOUT_SECS: &str = "arca.session.absolute.timeout.secs";
pub const LOGIN_MAX_FAILURES: &str = "arca.security.login.max.failures";
pub const LOGIN_LOCKOUT_SECS: &str = "arca.security.login.lockout.secs";
pub const LOGIN_TRUSTED_PROXIES: &str = "arca.security.login.trusted.proxies";
pub const TOKEN_MAX_EXPIRES_SECS: &str = "arca.security.token.max.expires.secs";
pub const PASSWORD_CHECK_QUEUE: &str = "arca.security.password.check.queue";
pub const HTTP_HEADER_READ_TIMEOUT_SECS: &str = "arca.http.header.read.timeout.secs";
pub const HTTP_BODY_IDLE_TIMEOUT_SECS: &str = "arca.http.body.idle.timeout.secs";
pub const HTTP_MAX_CONNECTIONS: &str = "arca.http.max.connections";
pub const HTTP_ZERO_COPY: &str = "arca.http.zero.copy";
pub const HTTPS_LISTEN: &str = "arca.https.listen";
pub const HTTPS_CERT_FILE: &str = "arca.https.cert.file";
pub const HTTPS_KEY_FILE: &str = "arca.https.key.file";
pub const SCRUB_ENABLED: &str = "arca.storage.scrub.enabled";
pub const SCRUB_RATE_MB: &str = "arca.storage.scrub.rate.mb";
pub const SCRUB_INTERVAL_HOURS: &str = "arca.storage.scrub.interval.hours";
pub const OCI_UPLOAD_EXPIRY_SECS: &str = "arca.oci.upload.expiry.secs";
pub const OCI_UNTAGGED_RETENTION_SECS: &str = "arca.oci.untagged.retention.secs";

/// Every key system.properties knows; others are warned about.
/// Free space uploads leave on the node's local storage.
pub const DEFAULT_STORAGE_RESERVE_BYTES: u64 = 256 << 20;

pub const KNOWN_KEYS: &[&str] = &[
    CONTEXT_PATH,
    UPLOAD_MAX_BYTES,
    STORAGE_RESERVE_BYTES,
    PATH_MAX_LENGTH,
    GC_INTERVAL_SECS,
    GC_GRACE_SECS,
    MAP_PROVIDER_TYPE,
    SESSION_CLEANUP_CRON,
    AUTH_CACHE_SECS,
    DRAIN_DELAY_SECS,
    HA_HEARTBEAT_SECS,
    HA_STALE_SECS,
    HA_LOCK_LEASE_SECS,
    URL_BASE,
    LICENSE_SWAP_WINDOW_DAYS,
    LICENSE_AGENT_INTERVAL_SECS,
    CONFIG_SYNC_POLL_SECS,
    CONFIG_SYNC_RESTART,
    NODE_SIGNATURE_V1,
    SESSION_IDLE_TIMEOUT_SECS,
    SESSION_ABSOLUTE_TIMEOUT_SECS,
    LOGIN_MAX_FAILURES,
    LOGIN_LOCKOUT_SECS,
    LOGIN_TRUSTED_PROXIES,
    TOKEN_MAX_EXPIRES_SECS,
    PASSWORD_CHECK_QUEUE,
    HTTP_HEADER_READ_TIMEOUT_SECS,
    HTTP_BODY_IDLE_TIMEOUT_SECS,
    HTTP_MAX_CONNECTIONS,
    HTTP_ZERO_COPY,
    HTTPS_LISTEN,
    HTTPS_CERT_FILE,
    HTTPS_KEY_FILE,
    SCRUB_ENABLED,
    SCRUB_RATE_MB,
    SCRUB_INTERVAL_HOURS,
    OCI_UPLOAD_EXPIRY_SECS,
    OCI_UNTAGGED_RETENTION_SECS,
];

pub const DEFAULT_CONTEXT_PATH: &str = "/artifactory";
pub const DEFAULT_UPLOAD_MAX_BYTES: u64 = 100 * 1024 * 1024 * 1024;
pub const DEFAULT_PATH_MAX_LENGTH: usize = 1024;
pub const DEFAULT_GC_INTERVAL_SECS: u64 = 3600;
pub const DEFAULT_GC_GRACE_SECS: u64 = 60;
/// An OCI upload session idle this long is ended (and its chunks collected); a blob no
/// manifest references is kept as long, for the manifest that is still to come.
pub const DEFAULT_OCI_UPLOAD_EXPIRY_SECS: u64 = 24 * 3600;
/// 0: untagged OCI manifests are kept.
pub const DEFAULT_OCI_UNTAGGED_RETENTION_SECS: u64 = 0;
pub const DEFAULT_AUTH_CACHE_SECS: u64 = 300;
pub const DEFAULT_DRAIN_DELAY_SECS: u64 = 0;
pub const DEFAULT_HA_HEARTBEAT_SECS: u64 = 5;
pub const DEFAULT_HA_STALE_SECS: u64 = 30;
pub const DEFAULT_HA_LOCK_LEASE_SECS: u64 = 30;
pub const DEFAULT_LICENSE_SWAP_WINDOW_DAYS: u32 = 30;
pub const DEFAULT_LICENSE_AGENT_INTERVAL_SECS: u64 = 2;
pub const DEFAULT_CONFIG_SYNC_POLL_SECS: u64 = 10;
/// A UI session ends after 30 minutes without a request…
pub const DEFAULT_SESSION_IDLE_TIMEOUT_SECS: u64 = 30 * 60;
/// …and 12 hours after login in any case.
pub const DEFAULT_SESSION_ABSOLUTE_TIMEOUT_SECS: u64 = 12 * 3600;
/// Failed logins in a row before the account is locked for a while.
pub const DEFAULT_LOGIN_MAX_FAILURES: u32 = 5;
/// First lockout; it doubles with each further failure, up to an hour.
pub const DEFAULT_LOGIN_LOCKOUT_SECS: u64 = 30;
/// The longest a non-admin's access token may live: one year.
pub const DEFAULT_TOKEN_MAX_EXPIRES_SECS: u64 = 365 * 24 * 3600;
/// Password checks that may wait for a hashing thread; more are answered 429 at once.
pub const DEFAULT_PASSWORD_CHECK_QUEUE: usize = 64;
/// A client has this long to send a request's headers (also: how long an idle keep-alive
/// connection stays open).
pub const DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS: u64 = 30;
/// A request body that sends nothing for this long is aborted.
pub const DEFAULT_HTTP_BODY_IDLE_TIMEOUT_SECS: u64 = 60;
/// Open client connections (HTTP and HTTPS together); more wait in the listen backlog.
/// The units' `LimitNOFILE=65536` covers two descriptors per connection with room to spare.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 4096;
/// Upper bound of `arca.http.max.connections`.
pub const MAX_HTTP_MAX_CONNECTIONS: usize = 1_000_000;
/// The background scrubber reads the node's stored copies at this many MB/s (10^6 bytes).
pub const DEFAULT_SCRUB_RATE_MB: u64 = 20;
/// Upper bound of `arca.storage.scrub.rate.mb` (100 GB/s: no disk is faster).
pub const MAX_SCRUB_RATE_MB: f64 = 100_000.0;
/// A new scrub pass starts this long after the previous one finished: a week.
pub const DEFAULT_SCRUB_INTERVAL_HOURS: u64 = 168;
/// Upper bound of `arca.storage.scrub.interval.hours` (ten years).
pub const MAX_SCRUB_INTERVAL_HOURS: u64 = 87_600;

/// The optional HTTPS listener (`arca.https.*`): all three keys set, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsSettings {
    pub listen: std::net::SocketAddr,
    /// PEM certificate chain, leaf first (relative paths are under `etc/`).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1), not readable by group or others.
    pub key_file: PathBuf,
}

/// Where UI sessions are kept (`arca.map.provider.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MapProviderType {
    /// In the shared database (default): any node can serve any session.
    #[default]
    Db,
    /// In this node's memory: needs sticky sessions at the load balancer.
    Local,
}

impl fmt::Display for MapProviderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapProviderType::Db => "db",
            MapProviderType::Local => "local",
        })
    }
}

/// Contents of `etc/system.properties` (absent file = empty = all defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemProperties {
    /// key → (value, line)
    map: BTreeMap<String, (String, usize)>,
    file: PathBuf,
    /// Problems seen while reading (duplicate keys).
    read_warnings: Vec<Diagnostic>,
}

impl SystemProperties {
    /// Read `<home>/etc/system.properties`; an absent file is an empty map. Values are checked by
    /// the getters (and all at once by [`SystemProperties::check`]).
    pub fn load(home: &Home) -> Result<SystemProperties, ConfigError> {
        let path = home.system_properties();
        match PropFile::read(&path)? {
            Some(f) => Ok(Self::from_file(f)),
            None => Ok(SystemProperties {
                file: path,
                ..SystemProperties::default()
            }),
        }
    }

    /// Parse properties text (`file` is used in messages).
    pub fn parse(text: &str, file: &Path) -> Result<SystemProperties, ConfigError> {
        PropFile::parse(text, file).map(Self::from_file)
    }

    fn from_file(f: PropFile) -> SystemProperties {
        let mut diags = Diags::default();
        f.check_duplicates(&mut diags);
        let map = f
            .entries
            .into_iter()
            .map(|e| (e.key, (e.value, e.line)))
            .collect();
        SystemProperties {
            map,
            file: f.path,
            read_warnings: diags.list,
        }
    }

    /// The file these came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Raw value of any key (empty values included).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|(v, _)| v.as_str())
    }

    /// Line `key` is set on.
    pub fn line(&self, key: &str) -> Option<usize> {
        self.map.get(key).map(|(_, l)| *l)
    }

    /// All keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// A set, non-empty value and its line.
    fn value(&self, key: &str) -> Option<(&str, usize)> {
        self.map
            .get(key)
            .filter(|(v, _)| !v.is_empty())
            .map(|(v, l)| (v.as_str(), *l))
    }

    fn bad(&self, key: &str, line: usize, value: &str, expected: &str) -> ConfigError {
        ConfigError::new(
            &self.file,
            format!("'{value}' is invalid; expected {expected}"),
        )
        .at_line(line)
        .with_key(key)
    }

    /// `arca.http.context.path`, default `/artifactory`. Must start with `/` and not end with
    /// `/`; `/` means the root and is returned as `""`.
    pub(crate) fn context_path(&self) -> Result<String, ConfigError> {
        let Some((v, line)) = self.value(CONTEXT_PATH) else {
            return Ok(DEFAULT_CONTEXT_PATH.to_string());
        };
        if v == "/" {
            return Ok(String::new());
        }
        let expected = "a path such as /artifactory (starts with '/', no trailing '/', \
                        segments of letters, digits, '.', '_', '~', '-') or / for the root";
        let valid = v.starts_with('/')
            && v[1..].split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-'))
            });
        if valid {
            Ok(v.to_string())
        } else {
            Err(self.bad(CONTEXT_PATH, line, v, expected))
        }
    }

    /// `arca.upload.max.bytes`, default 100 GiB. Plain bytes or with a suffix `k`, `m`, `g`, `t`
    /// or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024, case-insensitive).
    /// `arca.storage.reserve.bytes`, default 256 MiB: uploads are refused (507) when they would
    /// leave less free space than this on the node's local storage, so deletes, garbage
    /// collection and the database always have room. 0 turns the reserve off.
    pub(crate) fn storage_reserve_bytes(&self) -> Result<u64, ConfigError> {
        let Some((v, line)) = self.value(STORAGE_RESERVE_BYTES) else {
            return Ok(DEFAULT_STORAGE_RESERVE_BYTES);
        };
        parse_size(v).ok_or_else(|| {
            self.bad(
                STORAGE_RESERVE_BYTES,
                line,
                v,
                "a size in bytes, optionally with a suffix k, m, g, t, KiB, MiB, GiB or TiB \
                 (e.g. 256MiB; 0 for no reserve)",
            )
        })
    }

    pub(crate) fn max_upload_bytes(&self) -> Result<u64, ConfigError> {
        let Some((v, line)) = self.value(UPLOAD_MAX_BYTES) else {
            return Ok(DEFAULT_UPLOAD_MAX_BYTES);
        };
        parse_size(v).filter(|n| *n > 0).ok_or_else(|| {
            self.bad(
                UPLOAD_MAX_BYTES,
                line,
                v,
                "a positive size in bytes, optionally with a suffix k, m, g, t, KiB, MiB, GiB \
                 or TiB (e.g. 107374182400 or 100GiB)",
            )
        })
    }

    /// `arca.path.max.length`, default 1024.
    pub(crate) fn max_path_length(&self) -> Result<usize, ConfigError> {
        let Some((v, line)) = self.value(PATH_MAX_LENGTH) else {
            return Ok(DEFAULT_PATH_MAX_LENGTH);
        };
        v.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| self.bad(PATH_MAX_LENGTH, line, v, "a positive whole number of bytes"))
    }

    fn secs(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        let Some((v, line)) = self.value(key) else {
            return Ok(default);
        };
        v.parse::<u64>()
            .map_err(|_| self.bad(key, line, v, "a whole number of seconds"))
    }

    /// Like `secs`, but the value must be at least `min`.
    fn secs_at_least(&self, key: &str, default: u64, min: u64) -> Result<u64, ConfigError> {
        let Some((v, line)) = self.value(key) else {
            return Ok(default);
        };
        v.parse::<u64>().ok().filter(|n| *n >= min).ok_or_else(|| {
            self.bad(
                key,
                line,
                v,
                &format!("a whole number of seconds, at least {min}"),
            )
        })
    }

    /// `arca.license.swap.window.days`, default 30, at most 3650: a node whose license expires
    /// within this many days moves to a free license that is valid longer (0: only once it
    /// has expired).
    pub(crate) fn license_swap_window_days(&self) -> Result<u32, ConfigError> {
        let Some((v, line)) = self.value(LICENSE_SWAP_WINDOW_DAYS) else {
            return Ok(DEFAULT_LICENSE_SWAP_WINDOW_DAYS);
        };
        v.parse::<u32>().ok().filter(|d| *d <= 3650).ok_or_else(|| {
            self.bad(
                LICENSE_SWAP_WINDOW_DAYS,
                line,
                v,
                "a whole number of days from 0 to 3650",
            )
        })
    }

    /// `arca.license.agent.interval.secs`, default 2, at least 1: how often
    /// `arca-license-agent` checks the pool (claim when unlicensed, swap before expiry).
    pub(crate) fn license_agent_interval_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(
            LICENSE_AGENT_INTERVAL_SECS,
            DEFAULT_LICENSE_AGENT_INTERVAL_SECS,
            1,
        )
    }

    /// `arca.config.sync.poll.secs`, default 10, at least 1: how often `arca-config-sync`
    /// compares the shared files with the cluster's copies without being told (PostgreSQL
    /// notifications and the file watcher make changes arrive sooner).
    pub(crate) fn config_sync_poll_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(CONFIG_SYNC_POLL_SECS, DEFAULT_CONFIG_SYNC_POLL_SECS, 1)
    }

    /// `arca.config.sync.restart`, default false: whether `arca-server` restarts itself when
    /// the config sync changed a file it reads at start only.
    pub(crate) fn config_sync_restart(&self) -> Result<bool, ConfigError> {
        let Some((v, line)) = self.value(CONFIG_SYNC_RESTART) else {
            return Ok(false);
        };
        match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(CONFIG_SYNC_RESTART, line, v, "true or false")),
        }
    }

    /// `arca.node.signature.v1`, default false: node-to-node calls also carry, and this node
    /// also accepts, the v1 signature of versions before v2 (not bound to the body or the
    /// receiving node). Only for a rolling upgrade from such a version.
    pub(crate) fn node_signature_v1(&self) -> Result<bool, ConfigError> {
        let Some((v, line)) = self.value(NODE_SIGNATURE_V1) else {
            return Ok(false);
        };
        match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(NODE_SIGNATURE_V1, line, v, "true or false")),
        }
    }

    /// `arca.http.zero.copy`, default true: plain-HTTP downloads of stored files are sent with
    /// `sendfile` (from the page cache to the socket); false streams them through the process.
    pub(crate) fn http_zero_copy(&self) -> Result<bool, ConfigError> {
        let Some((v, line)) = self.value(HTTP_ZERO_COPY) else {
            return Ok(true);
        };
        match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(HTTP_ZERO_COPY, line, v, "true or false")),
        }
    }

    /// `arca.gc.interval.secs`, default 3600; 0 disables GC.
    pub(crate) fn gc_interval_secs(&self) -> Result<u64, ConfigError> {
        self.secs(GC_INTERVAL_SECS, DEFAULT_GC_INTERVAL_SECS)
    }

    /// `arca.gc.grace.secs`, default 60.
    pub(crate) fn gc_grace_secs(&self) -> Result<u64, ConfigError> {
        self.secs(GC_GRACE_SECS, DEFAULT_GC_GRACE_SECS)
    }

    /// `arca.oci.upload.expiry.secs`, default 86400.
    pub(crate) fn oci_upload_expiry_secs(&self) -> Result<u64, ConfigError> {
        self.secs(OCI_UPLOAD_EXPIRY_SECS, DEFAULT_OCI_UPLOAD_EXPIRY_SECS)
    }

    /// `arca.oci.untagged.retention.secs`, default 0 (kept).
    pub(crate) fn oci_untagged_retention_secs(&self) -> Result<u64, ConfigError> {
        self.secs(
            OCI_UNTAGGED_RETENTION_SECS,
            DEFAULT_OCI_UNTAGGED_RETENTION_SECS,
        )
    }

    /// `arca.auth.cache.secs`, default 300.
    pub(crate) fn auth_cache_secs(&self) -> Result<u64, ConfigError> {
        self.secs(AUTH_CACHE_SECS, DEFAULT_AUTH_CACHE_SECS)
    }

    /// `arca.shutdown.drain.delay.secs`, default 0: after SIGTERM, how long the node keeps
    /// accepting connections while its health checks answer 503, so a load balancer stops
    /// routing to it before the listener closes.
    pub(crate) fn drain_delay_secs(&self) -> Result<u64, ConfigError> {
        self.secs(DRAIN_DELAY_SECS, DEFAULT_DRAIN_DELAY_SECS)
    }

    /// `arca.ha.heartbeat.interval.secs`, default 5, at least 1: how often each HA node records
    /// that it is alive.
    pub(crate) fn ha_heartbeat_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(HA_HEARTBEAT_SECS, DEFAULT_HA_HEARTBEAT_SECS, 1)
    }

    /// `arca.ha.node.stale.secs`, default 30: a node whose last heartbeat is older is considered
    /// gone. Must be at least twice the heartbeat interval, so one late heartbeat does not get a
    /// live node declared dead. When only the heartbeat is set (and the default stale time is
    /// too short for it) the error points at the heartbeat's line.
    ///
    /// Public for the tools that read this one key of a file that may be broken elsewhere;
    /// daemons read [`SystemSettings::ha_stale`](SystemSettings::ha_stale).
    pub fn ha_stale_secs(&self) -> Result<u64, ConfigError> {
        // Own value first, so that check() reports both keys when both are malformed.
        let stale = self.secs(HA_STALE_SECS, DEFAULT_HA_STALE_SECS)?;
        let heartbeat = self.ha_heartbeat_secs()?;
        let min = heartbeat.saturating_mul(2);
        if stale >= min {
            return Ok(stale);
        }
        let why = format!(
            "{HA_STALE_SECS} ({stale}) must be at least 2 x {HA_HEARTBEAT_SECS} ({heartbeat}) = \
             {min}, so that one late heartbeat does not get a live node declared gone"
        );
        let (key, line) = match (self.value(HA_STALE_SECS), self.value(HA_HEARTBEAT_SECS)) {
            (Some((_, line)), _) => (HA_STALE_SECS, line),
            (None, Some((_, line))) => (HA_HEARTBEAT_SECS, line),
            // Both defaults: 30 >= 2 x 5, so this cannot happen; keep an error anyway.
            (None, None) => return Err(ConfigError::new(&self.file, why).with_key(HA_STALE_SECS)),
        };
        Err(ConfigError::new(&self.file, why)
            .at_line(line)
            .with_key(key))
    }

    /// `arca.ha.lock.lease.secs`, default 30, at least 2: how long a cluster lock stays held
    /// without renewal before another node may take it over.
    pub(crate) fn ha_lock_lease_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(HA_LOCK_LEASE_SECS, DEFAULT_HA_LOCK_LEASE_SECS, 2)
    }

    /// `arca.url.base`: the external URL clients use (the load balancer's, e.g.
    /// `https://repo.example.com/artifactory`), with trailing `/` trimmed; `None` when unset or
    /// empty. Must be an absolute `http`/`https` URL with a host (see
    /// [`ContextUrl::parse`](crate::ha_node::ContextUrl::parse)).
    ///
    /// Public for `arcactl ha check`, which reports this key's own error.
    pub fn url_base(&self) -> Result<Option<String>, ConfigError> {
        let Some((v, line)) = self.value(URL_BASE) else {
            return Ok(None);
        };
        url_base_value(v).map(Some).map_err(|why| {
            self.bad(
                URL_BASE,
                line,
                v,
                &format!(
                    "an absolute http:// or https:// URL with a host, e.g. \
                     https://repo.example.com/artifactory ({why})"
                ),
            )
        })
    }

    /// `arca.map.provider.type`: `db` (default) or `local`. The reference's other names are
    /// mapped: `distributed` (Hazelcast there; arca has no data grid, the database is what every
    /// node shares) → `db`, `jvm` (node memory) → `local`.
    pub(crate) fn map_provider_type(&self) -> Result<MapProviderType, ConfigError> {
        match self.value(MAP_PROVIDER_TYPE) {
            None | Some(("db" | "distributed", _)) => Ok(MapProviderType::Db),
            Some(("local" | "jvm", _)) => Ok(MapProviderType::Local),
            Some((v, line)) => Err(self.bad(
                MAP_PROVIDER_TYPE,
                line,
                v,
                "db (sessions in the database, any node serves them) or local (node memory, \
                 needs sticky sessions); the reference's distributed means db here, jvm means \
                 local",
            )),
        }
    }

    /// `arca.session.idle.timeout.secs`: a UI session unused this long ends (≥ 1).
    pub(crate) fn session_idle_timeout_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(
            SESSION_IDLE_TIMEOUT_SECS,
            DEFAULT_SESSION_IDLE_TIMEOUT_SECS,
            1,
        )
    }

    /// `arca.session.absolute.timeout.secs`: a UI session ends this long after login (≥ 1).
    pub(crate) fn session_absolute_timeout_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(
            SESSION_ABSOLUTE_TIMEOUT_SECS,
            DEFAULT_SESSION_ABSOLUTE_TIMEOUT_SECS,
            1,
        )
    }

    /// `arca.security.login.max.failures`: failed password checks in a row before a user is
    /// locked out for a while (≥ 1).
    pub(crate) fn login_max_failures(&self) -> Result<u32, ConfigError> {
        let Some((v, line)) = self.value(LOGIN_MAX_FAILURES) else {
            return Ok(DEFAULT_LOGIN_MAX_FAILURES);
        };
        v.parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| self.bad(LOGIN_MAX_FAILURES, line, v, "a whole number, at least 1"))
    }

    /// `arca.security.login.lockout.secs`: the first lockout (≥ 1); doubles per further failure.
    pub(crate) fn login_lockout_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(LOGIN_LOCKOUT_SECS, DEFAULT_LOGIN_LOCKOUT_SECS, 1)
    }

    /// `arca.http.header.read.timeout.secs` (≥ 1): how long a client may take to send a
    /// request's headers, and how long an idle keep-alive connection stays open.
    pub(crate) fn http_header_read_timeout_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(
            HTTP_HEADER_READ_TIMEOUT_SECS,
            DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS,
            1,
        )
    }

    /// `arca.http.body.idle.timeout.secs` (≥ 1): a request body that sends nothing for this
    /// long is aborted (a slow body that keeps sending is not).
    pub(crate) fn http_body_idle_timeout_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(
            HTTP_BODY_IDLE_TIMEOUT_SECS,
            DEFAULT_HTTP_BODY_IDLE_TIMEOUT_SECS,
            1,
        )
    }

    /// `arca.http.max.connections` (1 to 1,000,000): open client connections at most.
    pub(crate) fn http_max_connections(&self) -> Result<usize, ConfigError> {
        let Some((v, line)) = self.value(HTTP_MAX_CONNECTIONS) else {
            return Ok(DEFAULT_HTTP_MAX_CONNECTIONS);
        };
        v.parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_HTTP_MAX_CONNECTIONS).contains(n))
            .ok_or_else(|| {
                self.bad(
                    HTTP_MAX_CONNECTIONS,
                    line,
                    v,
                    "a whole number of connections from 1 to 1000000",
                )
            })
    }

    /// The HTTPS listener: `None` unless `arca.https.listen` is set, which then needs
    /// `arca.https.cert.file` and `arca.https.key.file` (relative paths are under the directory
    /// of this file, `etc/`). The files themselves are checked by [`crate::tls`].
    pub(crate) fn https(&self) -> Result<Option<HttpsSettings>, ConfigError> {
        let listen = self.value(HTTPS_LISTEN);
        let cert = self.value(HTTPS_CERT_FILE);
        let key = self.value(HTTPS_KEY_FILE);
        let Some((addr, line)) = listen else {
            if let Some((_, line)) = cert.or(key) {
                let key = if cert.is_some() {
                    HTTPS_CERT_FILE
                } else {
                    HTTPS_KEY_FILE
                };
                let why = format!(
                    "{key} is set but {HTTPS_LISTEN} is not; set {HTTPS_LISTEN} (e.g. \
                     0.0.0.0:8443) to serve HTTPS, or remove {key}"
                );
                return Err(ConfigError::new(&self.file, why)
                    .at_line(line)
                    .with_key(key));
            }
            return Ok(None);
        };
        let listen: std::net::SocketAddr = addr.parse().map_err(|_| {
            self.bad(
                HTTPS_LISTEN,
                line,
                addr,
                "an address and port to listen on, e.g. 0.0.0.0:8443 or [::]:8443",
            )
        })?;
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let path = |key: &str, v: Option<(&str, usize)>| {
            let Some((v, _)) = v else {
                let why = format!(
                    "{HTTPS_LISTEN} is set but {key} is not: HTTPS needs a certificate and its \
                     private key (PEM files)"
                );
                return Err(ConfigError::new(&self.file, why)
                    .at_line(line)
                    .with_key(key));
            };
            Ok(dir.join(v))
        };
        Ok(Some(HttpsSettings {
            listen,
            cert_file: path(HTTPS_CERT_FILE, cert)?,
            key_file: path(HTTPS_KEY_FILE, key)?,
        }))
    }

    /// `arca.security.login.trusted.proxies`: comma-separated IP addresses of the proxies (load
    /// balancers) whose `X-Forwarded-For` names the client for the login back-off. Empty
    /// (default): the connection's peer address is the client and the header is ignored.
    pub(crate) fn login_trusted_proxies(&self) -> Result<Vec<std::net::IpAddr>, ConfigError> {
        let Some((v, line)) = self.value(LOGIN_TRUSTED_PROXIES) else {
            return Ok(Vec::new());
        };
        v.split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.parse::<std::net::IpAddr>().map_err(|_| {
                    self.bad(
                        LOGIN_TRUSTED_PROXIES,
                        line,
                        v,
                        &format!(
                            "comma-separated IP addresses, e.g. 10.0.0.5,10.0.0.6 ('{a}' is none)"
                        ),
                    )
                })
            })
            .collect()
    }

    /// `arca.security.token.max.expires.secs` (≥ 1): the longest `expires_in` a non-admin may
    /// give an access token (administrators may create any, and non-expiring ones).
    pub(crate) fn token_max_expires_secs(&self) -> Result<u64, ConfigError> {
        self.secs_at_least(TOKEN_MAX_EXPIRES_SECS, DEFAULT_TOKEN_MAX_EXPIRES_SECS, 1)
    }

    /// `arca.security.password.check.queue` (0 to 100000): password checks (and hashes) that
    /// may wait for a hashing thread; beyond that they are answered 429 with `Retry-After`.
    pub(crate) fn password_check_queue(&self) -> Result<usize, ConfigError> {
        let Some((v, line)) = self.value(PASSWORD_CHECK_QUEUE) else {
            return Ok(DEFAULT_PASSWORD_CHECK_QUEUE);
        };
        v.parse::<usize>()
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| {
                self.bad(
                    PASSWORD_CHECK_QUEUE,
                    line,
                    v,
                    "a whole number of waiting password checks from 0 to 100000",
                )
            })
    }

    /// `arca.storage.scrub.enabled`, default true: whether `arca-server` re-reads the node's
    /// stored copies in the background (a pass every `arca.storage.scrub.interval.hours`).
    /// A pass asked for with `arcactl storage scrub` runs either way.
    pub(crate) fn scrub_enabled(&self) -> Result<bool, ConfigError> {
        let Some((v, line)) = self.value(SCRUB_ENABLED) else {
            return Ok(true);
        };
        match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(SCRUB_ENABLED, line, v, "true or false")),
        }
    }

    /// `arca.storage.scrub.rate.mb`, default 20: how fast the scrubber reads, in MB/s
    /// (10^6 bytes; decimals allowed, more than 0). Returned as bytes per second.
    pub(crate) fn scrub_rate_bytes(&self) -> Result<u64, ConfigError> {
        let Some((v, line)) = self.value(SCRUB_RATE_MB) else {
            return Ok(DEFAULT_SCRUB_RATE_MB * 1_000_000);
        };
        parse_rate_mb(v).filter(|bytes| *bytes > 0).ok_or_else(|| {
            self.bad(
                SCRUB_RATE_MB,
                line,
                v,
                "a number of MB per second greater than 0 and at most 100000 (e.g. 20 or \
                     2.5)",
            )
        })
    }

    /// `arca.storage.scrub.interval.hours`, default 168 (a week), 1 to 87600: a new scrub pass
    /// starts this long after the previous one finished.
    pub(crate) fn scrub_interval_hours(&self) -> Result<u64, ConfigError> {
        let Some((v, line)) = self.value(SCRUB_INTERVAL_HOURS) else {
            return Ok(DEFAULT_SCRUB_INTERVAL_HOURS);
        };
        v.parse::<u64>()
            .ok()
            .filter(|h| (1..=MAX_SCRUB_INTERVAL_HOURS).contains(h))
            .ok_or_else(|| {
                self.bad(
                    SCRUB_INTERVAL_HOURS,
                    line,
                    v,
                    "a whole number of hours from 1 to 87600",
                )
            })
    }

    /// `arca.db.session.cleanup.cron`: a Quartz cron expression (6 or 7 fields), `None` when unset
    /// (the timer then runs hourly at a fixed random minute per host).
    ///
    /// Public for the timer's generator, which reads this key alone.
    pub fn session_cleanup_cron(&self) -> Result<Option<String>, ConfigError> {
        let Some((v, line)) = self.value(SESSION_CLEANUP_CRON) else {
            return Ok(None);
        };
        let fields: Vec<&str> = v.split_whitespace().collect();
        let valid = (6..=7).contains(&fields.len())
            && fields.iter().all(|f| {
                f.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '*' | '?' | '/' | ',' | '-' | '#')
                })
            });
        if valid {
            Ok(Some(fields.join(" ")))
        } else {
            Err(self.bad(
                SESSION_CLEANUP_CRON,
                line,
                v,
                "a Quartz cron expression: sec min hour day-of-month month day-of-week [year], \
                 e.g. 0 17 * * * ?",
            ))
        }
    }

    /// Every problem: unknown keys and duplicates (warnings), bad values (errors).
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut diags = Diags::default();
        diags.extend(self.read_warnings.clone());
        for (key, (_, line)) in &self.map {
            if KNOWN_KEYS.contains(&key.as_str()) {
                continue;
            }
            let ours = key
                .strip_prefix("artifactory.")
                .map(|rest| format!("arca.{rest}"));
            let msg = match ours {
                Some(ours) if KNOWN_KEYS.contains(&ours.as_str()) => {
                    format!("unknown key (the reference's name); arca reads {ours}")
                }
                _ => format!("unknown key; known keys: {}", KNOWN_KEYS.join(", ")),
            };
            diags.warn(
                ConfigError::new(&self.file, msg)
                    .at_line(*line)
                    .with_key(key),
            );
        }
        for e in SystemSettings::read(self).errors {
            diags.error(e);
        }
        diags.list
    }
}

/// The settings of `etc/system.properties`, with their defaults where a key is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSettings {
    /// `arca.http.context.path`; `""` means the root.
    pub context_path: String,
    /// `arca.url.base`, trailing `/` trimmed.
    pub url_base: Option<String>,
    pub max_upload_bytes: u64,
    pub storage_reserve_bytes: u64,
    pub max_path_length: usize,
    /// Zero disables the garbage collection.
    pub gc_interval: Duration,
    pub gc_grace: Duration,
    /// `arca.oci.upload.expiry.secs`: idle OCI upload sessions end, unreferenced blobs go.
    pub oci_upload_expiry: Duration,
    /// `arca.oci.untagged.retention.secs`: untagged OCI manifests older than this go (zero:
    /// kept).
    pub oci_untagged_retention: Duration,
    pub auth_cache: Duration,
    pub drain_delay: Duration,
    pub ha_heartbeat: Duration,
    pub ha_stale: Duration,
    pub ha_lock_lease: Duration,
    pub license_swap_window_days: u32,
    pub license_agent_interval: Duration,
    pub config_sync_poll: Duration,
    pub config_sync_restart: bool,
    pub node_signature_v1: bool,
    pub map_provider_type: MapProviderType,
    /// `arca.db.session.cleanup.cron`, fields joined by one space.
    pub session_cleanup_cron: Option<String>,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    pub login_max_failures: u32,
    pub login_lockout: Duration,
    pub login_trusted_proxies: Vec<IpAddr>,
    pub token_max_expires: Duration,
    pub password_check_queue: usize,
    pub http_header_read_timeout: Duration,
    pub http_body_idle_timeout: Duration,
    pub http_max_connections: usize,
    pub http_zero_copy: bool,
    pub https: Option<HttpsSettings>,
    /// `arca.storage.scrub.enabled`: background scrub passes.
    pub scrub_enabled: bool,
    /// `arca.storage.scrub.rate.mb` in bytes per second (> 0).
    pub scrub_rate_bytes: u64,
    /// `arca.storage.scrub.interval.hours`: from the end of a pass to the start of the next.
    pub scrub_interval: Duration,
}

impl Default for SystemSettings {
    fn default() -> Self {
        let secs = Duration::from_secs;
        SystemSettings {
            context_path: DEFAULT_CONTEXT_PATH.to_string(),
            url_base: None,
            max_upload_bytes: DEFAULT_UPLOAD_MAX_BYTES,
            storage_reserve_bytes: DEFAULT_STORAGE_RESERVE_BYTES,
            max_path_length: DEFAULT_PATH_MAX_LENGTH,
            gc_interval: secs(DEFAULT_GC_INTERVAL_SECS),
            gc_grace: secs(DEFAULT_GC_GRACE_SECS),
            oci_upload_expiry: secs(DEFAULT_OCI_UPLOAD_EXPIRY_SECS),
            oci_untagged_retention: secs(DEFAULT_OCI_UNTAGGED_RETENTION_SECS),
            auth_cache: secs(DEFAULT_AUTH_CACHE_SECS),
            drain_delay: secs(DEFAULT_DRAIN_DELAY_SECS),
            ha_heartbeat: secs(DEFAULT_HA_HEARTBEAT_SECS),
            ha_stale: secs(DEFAULT_HA_STALE_SECS),
            ha_lock_lease: secs(DEFAULT_HA_LOCK_LEASE_SECS),
            license_swap_window_days: DEFAULT_LICENSE_SWAP_WINDOW_DAYS,
            license_agent_interval: secs(DEFAULT_LICENSE_AGENT_INTERVAL_SECS),
            config_sync_poll: secs(DEFAULT_CONFIG_SYNC_POLL_SECS),
            config_sync_restart: false,
            node_signature_v1: false,
            map_provider_type: MapProviderType::default(),
            session_cleanup_cron: None,
            session_idle_timeout: secs(DEFAULT_SESSION_IDLE_TIMEOUT_SECS),
            session_absolute_timeout: secs(DEFAULT_SESSION_ABSOLUTE_TIMEOUT_SECS),
            login_max_failures: DEFAULT_LOGIN_MAX_FAILURES,
            login_lockout: secs(DEFAULT_LOGIN_LOCKOUT_SECS),
            login_trusted_proxies: Vec::new(),
            token_max_expires: secs(DEFAULT_TOKEN_MAX_EXPIRES_SECS),
            password_check_queue: DEFAULT_PASSWORD_CHECK_QUEUE,
            http_header_read_timeout: secs(DEFAULT_HTTP_HEADER_READ_TIMEOUT_SECS),
            http_body_idle_timeout: secs(DEFAULT_HTTP_BODY_IDLE_TIMEOUT_SECS),
            http_max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
            http_zero_copy: true,
            https: None,
            scrub_enabled: true,
            scrub_rate_bytes: DEFAULT_SCRUB_RATE_MB * 1_000_000,
            scrub_interval: secs(DEFAULT_SCRUB_INTERVAL_HOURS * 3600),
        }
    }
}

/// Settings read leniently: a bad value keeps its default and its error is listed.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    pub settings: SystemSettings,
    /// One error per bad value (a bad heartbeat once, not again for the stale time), in line
    /// order.
    pub errors: Vec<ConfigError>,
}

impl SystemSettings {
    /// Every value of `props`; a bad value keeps its default and its error is listed (the
    /// tools read a broken file this way; the daemons only start on a clean one).
    pub fn read(props: &SystemProperties) -> ReadSettings {
        let mut e = Vec::new();
        let mut s = SystemSettings::default();
        let p = props;
        // The order the check has always reported them in (before sorting by line).
        take(&mut e, p.context_path(), &mut s.context_path);
        take(&mut e, p.max_upload_bytes(), &mut s.max_upload_bytes);
        take(
            &mut e,
            p.storage_reserve_bytes(),
            &mut s.storage_reserve_bytes,
        );
        take(&mut e, p.max_path_length(), &mut s.max_path_length);
        take_secs(&mut e, p.gc_interval_secs(), &mut s.gc_interval);
        take_secs(&mut e, p.gc_grace_secs(), &mut s.gc_grace);
        take_secs(&mut e, p.oci_upload_expiry_secs(), &mut s.oci_upload_expiry);
        take_secs(
            &mut e,
            p.oci_untagged_retention_secs(),
            &mut s.oci_untagged_retention,
        );
        take(&mut e, p.map_provider_type(), &mut s.map_provider_type);
        take(
            &mut e,
            p.session_cleanup_cron(),
            &mut s.session_cleanup_cron,
        );
        take_secs(&mut e, p.auth_cache_secs(), &mut s.auth_cache);
        take_secs(&mut e, p.drain_delay_secs(), &mut s.drain_delay);
        take_secs(&mut e, p.ha_heartbeat_secs(), &mut s.ha_heartbeat);
        take_secs(&mut e, p.ha_stale_secs(), &mut s.ha_stale);
        take_secs(&mut e, p.ha_lock_lease_secs(), &mut s.ha_lock_lease);
        take(&mut e, p.url_base(), &mut s.url_base);
        let window = p.license_swap_window_days();
        take(&mut e, window, &mut s.license_swap_window_days);
        let interval = p.license_agent_interval_secs();
        take_secs(&mut e, interval, &mut s.license_agent_interval);
        take_secs(&mut e, p.config_sync_poll_secs(), &mut s.config_sync_poll);
        take(&mut e, p.config_sync_restart(), &mut s.config_sync_restart);
        take(&mut e, p.node_signature_v1(), &mut s.node_signature_v1);
        let idle = p.session_idle_timeout_secs();
        take_secs(&mut e, idle, &mut s.session_idle_timeout);
        let absolute = p.session_absolute_timeout_secs();
        take_secs(&mut e, absolute, &mut s.session_absolute_timeout);
        take(&mut e, p.login_max_failures(), &mut s.login_max_failures);
        take_secs(&mut e, p.login_lockout_secs(), &mut s.login_lockout);
        take(
            &mut e,
            p.login_trusted_proxies(),
            &mut s.login_trusted_proxies,
        );
        take_secs(&mut e, p.token_max_expires_secs(), &mut s.token_max_expires);
        take(
            &mut e,
            p.password_check_queue(),
            &mut s.password_check_queue,
        );
        let header = p.http_header_read_timeout_secs();
        take_secs(&mut e, header, &mut s.http_header_read_timeout);
        let body = p.http_body_idle_timeout_secs();
        take_secs(&mut e, body, &mut s.http_body_idle_timeout);
        take(
            &mut e,
            p.http_max_connections(),
            &mut s.http_max_connections,
        );
        take(&mut e, p.http_zero_copy(), &mut s.http_zero_copy);
        take(&mut e, p.https(), &mut s.https);
        take(&mut e, p.scrub_enabled(), &mut s.scrub_enabled);
        take(&mut e, p.scrub_rate_bytes(), &mut s.scrub_rate_bytes);
        let hours = p.scrub_interval_hours().map(|h| h * 3600);
        take_secs(&mut e, hours, &mut s.scrub_interval);
        // Stable: errors without a line keep their place before the others.
        e.sort_by_key(|e| e.line);
        ReadSettings {
            settings: s,
            errors: e,
        }
    }

    /// Every value of `props`, or the first bad one (in line order).
    pub fn from_properties(props: &SystemProperties) -> Result<SystemSettings, ConfigError> {
        let read = SystemSettings::read(props);
        match read.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(read.settings),
        }
    }
}

/// `field = result`, or the error listed once (the stale time repeats a bad heartbeat's).
fn take<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>, field: &mut T) {
    match result {
        Ok(value) => *field = value,
        Err(e) => {
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
    }
}

fn take_secs(
    errors: &mut Vec<ConfigError>,
    result: Result<u64, ConfigError>,
    field: &mut Duration,
) {
    take(errors, result.map(Duration::from_secs), field);
}

/// A rate in MB/s (`20`, `2.5`; 10^6 bytes, at most [`MAX_SCRUB_RATE_MB`]) as bytes per
/// second; `None` when it is not such a number. `0` is `Some(0)` (callers decide what it means).
pub fn parse_rate_mb(s: &str) -> Option<u64> {
    let s = s.trim();
    // digits with at most one '.', nothing else (no sign, exponent, inf or NaN)
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.matches('.').count() <= 1
        && s.chars().any(|c| c.is_ascii_digit());
    if !plain {
        return None;
    }
    let mb: f64 = s.parse().ok()?;
    if !(0.0..=MAX_SCRUB_RATE_MB).contains(&mb) {
        return None;
    }
    // at most 10^11, exact enough in f64; sub-byte rates round to 1 byte/s
    let bytes = (mb * 1_000_000.0).round() as u64;
    Some(if mb > 0.0 { bytes.max(1) } else { 0 })
}

/// `123`, `10k`, `5 MiB`, `100GiB`, … (powers of 1024, suffix case-insensitive).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let shift = match suffix.trim().to_ascii_lowercase().as_str() {
        "" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// The keys of `system.properties` that `arca-server` applies without a restart (when the
/// config sync or the REST API changes them): a change of these alone needs no restart.
pub const LIVE_KEYS: &[&str] = &[URL_BASE];

/// The longest `arca.url.base` accepted, in characters (a load balancer's URL is far shorter).
pub const URL_BASE_MAX_LEN: usize = 1024;

/// `arca.url.base` as stored and applied: an absolute `http`/`https` URL with a host (DNS name,
/// IPv4, or bracketed IPv6), an optional port and path, no user info, query or fragment (see
/// [`ContextUrl::parse`]), at most [`URL_BASE_MAX_LEN`] characters; trailing `/` trimmed.
/// `Err`: why not.
fn url_base_value(v: &str) -> Result<String, String> {
    let len = v.chars().count();
    if len > URL_BASE_MAX_LEN {
        return Err(format!(
            "{len} characters long, at most {URL_BASE_MAX_LEN} are allowed"
        ));
    }
    ContextUrl::parse(v)
        .map(|url| url.configured)
        .map_err(str::to_string)
}

/// A Custom URL Base as an administrator gives it (the REST API, the web UI): surrounding
/// whitespace is ignored and an empty value clears the setting (`Ok(None)`); otherwise the
/// value as it is stored (see [`SystemProperties::url_base`] for the rules). `Err` is the
/// message the REST API answers with and the web UI shows next to the field.
pub fn validate_url_base(raw: &str) -> Result<Option<String>, String> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let len = v.chars().count();
    if len > URL_BASE_MAX_LEN {
        return Err(format!(
            "The URL base is {len} characters long; at most {URL_BASE_MAX_LEN} are allowed"
        ));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("The URL base must not contain spaces or control characters".to_string());
    }
    url_base_value(v).map(Some).map_err(|why| {
        format!(
            "Invalid URL base: {why}; expected an absolute http:// or https:// URL such as \
             https://repo.example.com/artifactory (or nothing, to clear it)"
        )
    })
}

/// Set `arca.url.base` in the system.properties file `path` (`None` clears it: an existing
/// setting becomes `arca.url.base=`, which means unset), keeping every other line, comment and
/// key byte for byte; a new setting goes after the shipped commented-out example, else at the
/// end. Written atomically, keeping the file's mode and (when allowed) owner; a missing file is
/// created 0644. `value` must be what [`validate_url_base`] returns. Returns whether the file
/// changed.
pub fn write_url_base(path: &Path, value: Option<&str>) -> Result<bool, ConfigError> {
    if let Some(v) = value
        && validate_url_base(v).ok().flatten().as_deref() != Some(v)
    {
        return Err(ConfigError::new(
            path,
            format!("refusing to write '{v}': not a valid URL base as stored"),
        )
        .with_key(URL_BASE));
    }
    crate::props::set_property(path, URL_BASE, value.unwrap_or_default(), 0o644)
}

impl SystemProperties {
    /// The keys whose effective value differs between `self` and `other` (a key set in one
    /// only counts; an empty value and an absent key differ), sorted.
    pub fn changed_keys(&self, other: &SystemProperties) -> Vec<String> {
        let mut keys: Vec<String> = self
            .keys()
            .chain(other.keys())
            .filter(|k| self.get(k) != other.get(k))
            .map(str::to_string)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
#[path = "url_base_tests.rs"]
mod url_base_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::has_errors;

    const F: &str = "/h/etc/system.properties";

    fn sp(text: &str) -> SystemProperties {
        SystemProperties::parse(text, Path::new(F)).unwrap()
    }

    #[test]
    fn login_and_token_keys_parse_with_defaults_and_located_errors() {
        let s = sp("");
        assert!(s.login_trusted_proxies().unwrap().is_empty());
        assert_eq!(
            s.token_max_expires_secs().unwrap(),
            DEFAULT_TOKEN_MAX_EXPIRES_SECS
        );
        assert_eq!(
            s.password_check_queue().unwrap(),
            DEFAULT_PASSWORD_CHECK_QUEUE
        );
        let s = sp("arca.security.login.trusted.proxies=10.0.0.5, ::1\n\
             arca.security.token.max.expires.secs=60\narca.security.password.check.queue=0\n");
        assert_eq!(
            s.login_trusted_proxies().unwrap(),
            [
                "10.0.0.5".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(s.token_max_expires_secs().unwrap(), 60);
        assert_eq!(s.password_check_queue().unwrap(), 0);
        let s = sp(
            "\narca.security.login.trusted.proxies=10.0.0.5,lb.example\n\
             arca.security.token.max.expires.secs=0\narca.security.password.check.queue=-1\n",
        );
        let e = s.login_trusted_proxies().unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some(LOGIN_TRUSTED_PROXIES))
        );
        assert!(e.to_string().contains("'lb.example' is none"), "{e}");
        assert_eq!(
            s.token_max_expires_secs().unwrap_err().key.as_deref(),
            Some(TOKEN_MAX_EXPIRES_SECS)
        );
        assert_eq!(s.password_check_queue().unwrap_err().line, Some(4));
        assert!(has_errors(&s.check()));
    }

    #[test]
    fn defaults_and_shipped_file() {
        for s in [sp(""), sp(crate::home::DEFAULT_SYSTEM_PROPERTIES)] {
            assert_eq!(s.context_path().unwrap(), "/artifactory");
            assert_eq!(s.max_upload_bytes().unwrap(), 107_374_182_400);
            assert_eq!(s.max_path_length().unwrap(), 1024);
            assert_eq!(s.gc_interval_secs().unwrap(), 3600);
            assert_eq!(s.gc_grace_secs().unwrap(), 60);
            assert_eq!(s.auth_cache_secs().unwrap(), 300);
            assert_eq!(s.map_provider_type().unwrap(), MapProviderType::Db);
            assert_eq!(s.session_cleanup_cron().unwrap(), None);
            assert_eq!(s.ha_heartbeat_secs().unwrap(), 5);
            assert_eq!(s.ha_stale_secs().unwrap(), 30);
            assert_eq!(s.ha_lock_lease_secs().unwrap(), 30);
            assert_eq!(s.url_base().unwrap(), None);
            assert!(s.scrub_enabled().unwrap());
            assert_eq!(s.scrub_rate_bytes().unwrap(), 20_000_000);
            assert_eq!(s.scrub_interval_hours().unwrap(), 168);
            assert!(s.check().is_empty());
        }
    }

    #[test]
    fn shipped_commented_values_are_valid() {
        // Uncomment every "#arca.…=" line of the shipped file: all values must pass.
        let text: String = crate::home::DEFAULT_SYSTEM_PROPERTIES
            .lines()
            .map(|l| {
                l.strip_prefix("#arca.")
                    .map(|r| format!("arca.{r}"))
                    .unwrap_or_else(|| l.to_string())
                    + "\n"
            })
            .collect();
        let s = sp(&text);
        assert_eq!(s.keys().count(), KNOWN_KEYS.len());
        assert!(s.check().is_empty(), "{:?}", s.check());
        assert_eq!(s.max_upload_bytes().unwrap(), DEFAULT_UPLOAD_MAX_BYTES);
        // The shown values are the defaults (the URL base has none: its example is shown).
        assert_eq!(s.ha_heartbeat_secs().unwrap(), DEFAULT_HA_HEARTBEAT_SECS);
        assert_eq!(s.ha_stale_secs().unwrap(), DEFAULT_HA_STALE_SECS);
        assert_eq!(s.ha_lock_lease_secs().unwrap(), DEFAULT_HA_LOCK_LEASE_SECS);
        assert_eq!(
            s.url_base().unwrap().as_deref(),
            Some("https://repo.example.com/artifactory")
        );
    }

    #[test]
    fn node_signature_v1_is_a_boolean_off_by_default() {
        assert!(!sp("").node_signature_v1().unwrap());
        assert!(
            sp("arca.node.signature.v1=true\n")
                .node_signature_v1()
                .unwrap()
        );
        assert!(
            !sp("arca.node.signature.v1=false\n")
                .node_signature_v1()
                .unwrap()
        );
        let s = sp("\narca.node.signature.v1=yes\n");
        let e = s.node_signature_v1().unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some(NODE_SIGNATURE_V1))
        );
        assert!(has_errors(&s.check()));
    }

    #[test]
    fn absent_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let s = SystemProperties::load(&home).unwrap();
        assert_eq!(s.get("anything"), None);
        assert_eq!(s.file(), home.system_properties());
    }

    #[test]
    fn values() {
        let s = sp(
            "arca.http.context.path=/\narca.upload.max.bytes=10 MiB\narca.path.max.length=2048\n\
             arca.gc.interval.secs=0\narca.gc.grace.secs=5\narca.map.provider.type=local\n\
             arca.db.session.cleanup.cron=0  17 * * * ?\narca.auth.cache.secs=0\n",
        );
        assert_eq!(s.context_path().unwrap(), "");
        assert_eq!(s.max_upload_bytes().unwrap(), 10 << 20);
        assert_eq!(s.max_path_length().unwrap(), 2048);
        assert_eq!(s.gc_interval_secs().unwrap(), 0);
        assert_eq!(s.gc_grace_secs().unwrap(), 5);
        assert_eq!(s.map_provider_type().unwrap(), MapProviderType::Local);
        assert_eq!(
            s.session_cleanup_cron().unwrap().as_deref(),
            Some("0 17 * * * ?")
        );
        assert_eq!(s.auth_cache_secs().unwrap(), 0);
        assert_eq!(s.get("arca.gc.grace.secs"), Some("5"));
        assert_eq!(s.line("arca.gc.grace.secs"), Some(5));
        assert_eq!(
            sp("arca.http.context.path=/a/b-c\n")
                .context_path()
                .unwrap(),
            "/a/b-c"
        );
    }

    #[test]
    fn scrub_rates() {
        assert_eq!(parse_rate_mb("20"), Some(20_000_000));
        assert_eq!(parse_rate_mb("2.5"), Some(2_500_000));
        assert_eq!(parse_rate_mb("0"), Some(0));
        assert_eq!(parse_rate_mb("0.0000001"), Some(1));
        for bad in [
            "", ".", "1.2.3", "-1", "+1", "1e3", "inf", "NaN", "20 MB", "100001",
        ] {
            assert_eq!(parse_rate_mb(bad), None, "{bad}");
        }
        let s = sp(
            "arca.storage.scrub.enabled=false\narca.storage.scrub.rate.mb=0.5\n\
                    arca.storage.scrub.interval.hours=2\n",
        );
        let settings = SystemSettings::from_properties(&s).unwrap();
        assert!(!settings.scrub_enabled);
        assert_eq!(settings.scrub_rate_bytes, 500_000);
        assert_eq!(settings.scrub_interval, Duration::from_secs(7200));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size("3M"), Some(3 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1 KiB"), Some(1024));
        assert_eq!(parse_size("100GiB"), Some(107_374_182_400));
        assert_eq!(parse_size("1TiB"), Some(1 << 40));
        for bad in [
            "",
            "k",
            "1.5g",
            "10GB",
            "-1",
            "99999999999999999999",
            "20000000t",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_values_name_file_line_key_and_form() {
        let cases = [
            (CONTEXT_PATH, "artifactory", "starts with '/'"),
            (CONTEXT_PATH, "/artifactory/", "no trailing '/'"),
            (CONTEXT_PATH, "/a//b", "segments"),
            (CONTEXT_PATH, "/a b", "segments"),
            (UPLOAD_MAX_BYTES, "10GB", "suffix"),
            (UPLOAD_MAX_BYTES, "0", "positive"),
            (PATH_MAX_LENGTH, "0", "positive whole number"),
            (GC_INTERVAL_SECS, "1h", "whole number of seconds"),
            (GC_GRACE_SECS, "-1", "whole number of seconds"),
            (AUTH_CACHE_SECS, "x", "whole number of seconds"),
            (MAP_PROVIDER_TYPE, "hazelcast", "distributed means db here"),
            (SESSION_IDLE_TIMEOUT_SECS, "0", "at least 1"),
            (LOGIN_MAX_FAILURES, "never", "whole number"),
            (HTTP_HEADER_READ_TIMEOUT_SECS, "0", "at least 1"),
            (HTTP_BODY_IDLE_TIMEOUT_SECS, "1m", "whole number of seconds"),
            (HTTP_MAX_CONNECTIONS, "0", "from 1 to 1000000"),
            (HTTP_MAX_CONNECTIONS, "unlimited", "from 1 to 1000000"),
            (SCRUB_ENABLED, "yes", "true or false"),
            (SCRUB_RATE_MB, "0", "greater than 0"),
            (SCRUB_RATE_MB, "20MB", "number of MB per second"),
            (SCRUB_RATE_MB, "-1", "number of MB per second"),
            (SCRUB_RATE_MB, "1e3", "number of MB per second"),
            (SCRUB_RATE_MB, "100001", "at most 100000"),
            (SCRUB_INTERVAL_HOURS, "0", "from 1 to 87600"),
            (SCRUB_INTERVAL_HOURS, "1.5", "whole number of hours"),
            (SESSION_CLEANUP_CRON, "17 * * *", "Quartz cron"),
            (HA_HEARTBEAT_SECS, "0", "at least 1"),
            (
                HA_HEARTBEAT_SECS,
                "5s",
                "whole number of seconds, at least 1",
            ),
            (HA_LOCK_LEASE_SECS, "1", "at least 2"),
            (HA_LOCK_LEASE_SECS, "-3", "whole number of seconds"),
            (HA_STALE_SECS, "soon", "whole number of seconds"),
            (URL_BASE, "repo.example.com/artifactory", "missing http://"),
            (
                URL_BASE,
                "ftp://repo.example.com",
                "scheme must be http or https",
            ),
            (URL_BASE, "https:///artifactory", "missing host"),
            (URL_BASE, "/artifactory", "absolute http:// or https:// URL"),
            (
                URL_BASE,
                "https://repo.example.com (optional)",
                "whitespace",
            ),
        ];
        for (key, value, expected) in cases {
            let s = sp(&format!("# c\n{key}={value}\n"));
            let d = s.check();
            assert_eq!(d.len(), 1, "{key}={value}: {d:?}");
            let e = &d[0].error;
            assert!(d[0].is_error());
            assert_eq!((e.line, e.key.as_deref()), (Some(2), Some(key)));
            let text = d[0].to_string();
            assert!(
                text.starts_with(&format!(
                    "error: {F}:2: {key}: '{value}' is invalid; expected "
                )),
                "{text}"
            );
            assert!(text.contains(expected), "{text}");
        }
    }

    #[test]
    fn https_needs_its_three_keys_together() {
        assert_eq!(sp("").https().unwrap(), None);
        let s = sp(
            "arca.https.listen=0.0.0.0:8443\narca.https.cert.file=tls/a.crt\n\
             arca.https.key.file=/k/a.key\n",
        );
        let h = s.https().unwrap().unwrap();
        assert_eq!(h.listen.port(), 8443);
        assert_eq!(h.cert_file, Path::new("/h/etc/tls/a.crt"));
        assert_eq!(h.key_file, Path::new("/k/a.key"));
        assert!(s.check().is_empty(), "{:?}", s.check());
        // The listener without a file: the error is on the listener's line, for the missing key.
        let e = sp("arca.https.listen=[::]:8443\narca.https.key.file=k\n")
            .https()
            .unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some(HTTPS_CERT_FILE)));
        // A file without the listener.
        let e = sp("# c\narca.https.key.file=k\n").https().unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some(HTTPS_KEY_FILE)));
        assert!(e.message.contains("arca.https.listen is not"), "{e}");
        // Not an address.
        let s = sp("arca.https.listen=8443\narca.https.cert.file=c\narca.https.key.file=k\n");
        let d = s.check();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].error.key.as_deref(), Some(HTTPS_LISTEN));
        assert!(d[0].error.message.contains("e.g. 0.0.0.0:8443"), "{}", d[0]);
    }

    #[test]
    fn ha_timings_and_url_base() {
        let s = sp(
            "arca.ha.heartbeat.interval.secs=1\narca.ha.node.stale.secs=2\n\
                    arca.ha.lock.lease.secs=2\narca.url.base=HTTPS://lb.example.com:8443/art//\n",
        );
        assert_eq!(s.ha_heartbeat_secs().unwrap(), 1);
        assert_eq!(s.ha_stale_secs().unwrap(), 2);
        assert_eq!(s.ha_lock_lease_secs().unwrap(), 2);
        assert_eq!(
            s.url_base().unwrap().as_deref(),
            Some("HTTPS://lb.example.com:8443/art")
        );
        assert!(s.check().is_empty(), "{:?}", s.check());
        for (url, want) in [
            ("http://[fd00::2]:8081/", "http://[fd00::2]:8081"),
            ("http://10.0.0.1", "http://10.0.0.1"),
        ] {
            let s = sp(&format!("arca.url.base={url}\n"));
            assert_eq!(s.url_base().unwrap().as_deref(), Some(want));
        }
        // Empty means unset.
        assert_eq!(sp("arca.url.base=\n").url_base().unwrap(), None);
    }

    #[test]
    fn stale_must_cover_two_heartbeats() {
        // Stale set too low: the error is on its line.
        let s = sp("# c\narca.ha.heartbeat.interval.secs=10\narca.ha.node.stale.secs=19\n");
        let d = s.check();
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].is_error());
        assert_eq!(
            d[0].to_string(),
            format!(
                "error: {F}:3: arca.ha.node.stale.secs: arca.ha.node.stale.secs (19) must be at \
                 least 2 x arca.ha.heartbeat.interval.secs (10) = 20, so that one late heartbeat \
                 does not get a live node declared gone"
            )
        );
        assert_eq!(
            sp("arca.ha.heartbeat.interval.secs=10\narca.ha.node.stale.secs=20\n")
                .ha_stale_secs()
                .unwrap(),
            20
        );
        // Only the heartbeat set, beyond the default stale time: the error is on its line.
        let s = sp("arca.ha.heartbeat.interval.secs=16\n");
        let e = s.ha_stale_secs().unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(1), Some(HA_HEARTBEAT_SECS))
        );
        assert!(e.message.contains("(30) must be at least"), "{e}");
        assert_eq!(s.check().len(), 1);
        // A malformed heartbeat is reported once, and a malformed stale time too.
        let s = sp("arca.ha.heartbeat.interval.secs=x\narca.ha.node.stale.secs=y\n");
        let lines: Vec<_> = s
            .check()
            .iter()
            .map(|d| (d.error.line, d.error.key.clone()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (Some(1), Some(HA_HEARTBEAT_SECS.to_string())),
                (Some(2), Some(HA_STALE_SECS.to_string())),
            ]
        );
    }

    #[test]
    fn check_home_reports_bad_ha_keys() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init_layout().unwrap();
        std::fs::write(
            home.system_properties(),
            "arca.ha.lock.lease.secs=1\narca.url.base=lb:443\n",
        )
        .unwrap();
        let d = crate::check_home(&home);
        let got: Vec<_> = d
            .iter()
            .map(|d| (d.is_error(), d.error.line, d.error.key.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (true, Some(1), Some(HA_LOCK_LEASE_SECS.to_string())),
                (true, Some(2), Some(URL_BASE.to_string())),
            ]
        );
    }

    #[test]
    fn unknown_keys_and_duplicates_warn() {
        let s = sp(
            "arca.gc.grace.secs=1\nfoo=1\nartifactory.map.provider.type=db\narca.gc.grace.secs=2\n",
        );
        let d = s.check();
        assert!(!has_errors(&d));
        let got: Vec<_> = d
            .iter()
            .map(|d| (d.error.line, d.error.key.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(4), "arca.gc.grace.secs".into()),
                (Some(3), "artifactory.map.provider.type".into()),
                (Some(2), "foo".into()),
            ]
        );
        assert!(
            d[1].error
                .message
                .contains("arca reads arca.map.provider.type")
        );
        assert_eq!(s.gc_grace_secs().unwrap(), 2);
    }
}

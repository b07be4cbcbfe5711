//! Rows of the metadata store.

use serde::{Deserialize, Serialize};

/// A repository's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    pub key: String,
    pub rclass: String,
    pub package_type: String,
    pub description: String,
    pub notes: String,
    pub includes_pattern: String,
    pub excludes_pattern: String,
    pub handle_releases: bool,
    pub handle_snapshots: bool,
    pub anonymous_read: bool,
    /// Serve active content (HTML, SVG, XML, JavaScript…) inline as its own type; off: such
    /// files are downloaded as attachments (the default: stored content can't run script on
    /// the API's origin).
    pub content_inline: bool,
    /// The most bytes of files the repository may hold (0: no limit).
    pub quota_bytes: u64,
    pub created: i64,
    /// What only some kinds or formats of repository use (remote, virtual, Maven), stored as
    /// one JSON column: fields are added without a migration, and an older node reading a
    /// newer row keeps its defaults for fields it does not know.
    pub settings: RepoSettings,
}

/// The kinds of repository (`rclass`).
pub const LOCAL: &str = "local";
pub const REMOTE: &str = "remote";
pub const VIRTUAL: &str = "virtual";

/// Settings of a repository beyond the common ones, with the reference's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RepoSettings {
    // ---- remote
    /// The upstream's URL (no trailing `/`).
    pub url: String,
    pub username: String,
    /// The upstream password sealed with the master key (`enc:v1:…`), "" for none.
    pub password_sealed: String,
    /// Serve only what is cached; never contact the upstream.
    pub offline: bool,
    /// Metadata is re-checked upstream when older than this.
    pub retrieval_cache_period_secs: u64,
    /// A path the upstream did not have is not asked for again for this long.
    pub missed_retrieval_cache_period_secs: u64,
    /// After the upstream failed (unreachable, 5xx), it is not asked again for this long.
    pub assumed_offline_period_secs: u64,
    /// Cache what is fetched (false: a pure proxy).
    pub store_artifacts_locally: bool,
    /// Connect and read timeout of upstream requests.
    pub socket_timeout_millis: u64,
    /// An upstream error is the client's error even when a stale copy is cached.
    pub hard_fail: bool,
    /// Neither served nor fetched (remote) / not served (local).
    pub blacked_out: bool,
    // ---- virtual
    /// Member repositories, resolved in this order.
    pub repositories: Vec<String>,
    /// Where a deploy to the virtual repository goes ("": deploys are refused).
    pub default_deployment_repo: String,
    /// How long merged metadata of a virtual repository is kept.
    pub virtual_retrieval_cache_period_secs: u64,
    // ---- Maven (local)
    /// Timestamped snapshots kept per snapshot version (0: all).
    pub max_unique_snapshots: u32,
    /// `unique`, `non-unique` or `deployer`.
    pub snapshot_version_behavior: String,
    /// `client-checksums` or `server-generated-checksums`.
    pub checksum_policy_type: String,
    /// Accept POMs whose coordinates disagree with their path.
    pub suppress_pom_consistency_checks: bool,
    // ---- the reference's
    /// Fields of the reference's configuration that belong to this repository and that arca
    /// keeps and shows without acting on them (`xrayIndex`, `propertySets`, …), by name.
    pub reference: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Default for RepoSettings {
    fn default() -> Self {
        RepoSettings {
            url: String::new(),
            username: String::new(),
            password_sealed: String::new(),
            offline: false,
            retrieval_cache_period_secs: 7200,
            missed_retrieval_cache_period_secs: 1800,
            assumed_offline_period_secs: 300,
            store_artifacts_locally: true,
            socket_timeout_millis: 15_000,
            hard_fail: false,
            blacked_out: false,
            repositories: Vec::new(),
            default_deployment_repo: String::new(),
            virtual_retrieval_cache_period_secs: 600,
            max_unique_snapshots: 0,
            snapshot_version_behavior: "unique".into(),
            checksum_policy_type: "client-checksums".into(),
            suppress_pom_consistency_checks: false,
            reference: std::collections::BTreeMap::new(),
        }
    }
}

impl RepoSettings {
    /// The JSON stored in the `settings` column.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Read the `settings` column (unknown fields are ignored: a newer node wrote them).
    pub fn from_json(text: &str) -> Result<RepoSettings, String> {
        serde_json::from_str(text).map_err(|e| format!("repository settings: {e}"))
    }
}

impl Repo {
    pub fn is_local(&self) -> bool {
        self.rclass == LOCAL
    }
    pub fn is_remote(&self) -> bool {
        self.rclass == REMOTE
    }
    pub fn is_virtual(&self) -> bool {
        self.rclass == VIRTUAL
    }

    /// A local `generic` repository with the reference's defaults
    /// (`includesPattern` `**/*`, releases and snapshots handled, no anonymous read).
    pub fn local(key: impl Into<String>, created: i64) -> Repo {
        Repo {
            key: key.into(),
            rclass: "local".into(),
            package_type: "generic".into(),
            description: String::new(),
            notes: String::new(),
            includes_pattern: "**/*".into(),
            excludes_pattern: String::new(),
            handle_releases: true,
            handle_snapshots: true,
            anonymous_read: false,
            content_inline: false,
            quota_bytes: 0,
            created,
            settings: RepoSettings::default(),
        }
    }
}

/// A stored binary (content), named by SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
    pub size: u64,
}

/// A file or folder in a repository. `path` is relative to the repository
/// root without a leading slash; `parent` is `path`'s folder ("" at the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub repo: String,
    pub path: String,
    pub parent: String,
    pub name: String,
    pub folder: bool,
    /// Present for files.
    pub binary: Option<Binary>,
    pub sha1_original: Option<String>,
    pub md5_original: Option<String>,
    pub sha256_original: Option<String>,
    pub created: i64,
    pub created_by: String,
    pub modified: i64,
    pub modified_by: String,
    pub updated: i64,
}

impl Item {
    pub fn size(&self) -> u64 {
        self.binary.as_ref().map(|b| b.size).unwrap_or(0)
    }
}

/// What a deploy records for a file.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub binary: Binary,
    pub sha1_original: Option<String>,
    pub md5_original: Option<String>,
    pub sha256_original: Option<String>,
    pub user: String,
    pub now: i64,
}

impl NewFile {
    /// `binary` deployed by `user` at `now`, without checksums from the client.
    pub fn new(binary: Binary, user: &str, now: i64) -> NewFile {
        NewFile {
            binary,
            sha1_original: None,
            md5_original: None,
            sha256_original: None,
            user: user.to_string(),
            now,
        }
    }
}

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
}

impl Repo {
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

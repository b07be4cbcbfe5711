//! One pass of the config sync, either direction, against the database and this node's `etc/`.
//!
//! - [`Syncer::publish`] (the config owner): each shared file whose content differs from the
//!   cluster's copy is validated and stored sealed with the master key (or recorded as
//!   rejected, never propagated); a file deleted on the owner is recorded as deleted.
//! - [`Syncer::mirror`] (every other node): each file whose SHA-256 differs from the cluster's
//!   copy is rewritten atomically with the cluster's bytes — modification times are never
//!   looked at — keeping the replaced copy as `<name>.previous`; a deleted file is moved to
//!   `<name>.previous`.
//!
//! Both report what this node has to `config_file_nodes` when it changed. Blocking (files and
//! the database): run a pass on a blocking thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arca_cluster::shared_config::{SHARED_FILES, SharedFile, sha256_hex, shared_file};
use arca_crypto::master_key::SecretBox;
use arca_db::configs::{self, ConfigFileRow, NodeFileRow};
use arca_db::{Clock, Db, DbError};

/// The suffix of the copy a change replaced (rollback: rename it back on the owner).
pub const PREVIOUS_SUFFIX: &str = ".previous";

/// What a pass did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Owner: stored this node's copy as the cluster's `version`; `changed_at`: its mtime
    /// (ms), i.e. when this node's copy changed.
    Stored {
        name: String,
        version: i64,
        changed_at: i64,
    },
    /// Owner: the file is gone here; recorded as deleted (`version`).
    Deleted { name: String, version: i64 },
    /// Owner: this copy failed validation and was not propagated.
    Rejected { name: String, error: String },
    /// Member: wrote the cluster's `version` (its copy had other content, or none).
    Applied {
        name: String,
        version: i64,
        needs_restart: bool,
        /// An earlier copy was replaced (and kept as `<name>.previous`).
        replaced: bool,
    },
    /// Member: removed its copy (deleted on the owner).
    Removed {
        name: String,
        version: i64,
        needs_restart: bool,
    },
}

impl Action {
    /// A file the server reads at start only changed on this node after `server_started`
    /// (ms; the owner's own copy may predate its server's start: then it is already in use).
    pub fn needs_restart_since(&self, server_started: i64) -> Option<&str> {
        match self {
            Action::Stored { changed_at, .. } if *changed_at <= server_started => None,
            _ => self.needs_restart(),
        }
    }

    /// A file the server reads at start only changed on this node.
    pub fn needs_restart(&self) -> Option<&str> {
        match self {
            Action::Applied {
                name,
                needs_restart: true,
                ..
            }
            | Action::Removed {
                name,
                needs_restart: true,
                ..
            } => Some(name),
            Action::Stored { name, .. } | Action::Deleted { name, .. } => shared_file(name)
                .filter(|f| f.needs_restart)
                .map(|f| f.name),
            _ => None,
        }
    }
}

/// Errors of a pass. The database being down is [`SyncError::Db`]: callers retry.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] arca_config::ConfigError),
    /// The cluster's copy does not open with this node's master key, or its hash is wrong.
    #[error("the cluster's copy of {name}: {detail}")]
    Corrupt { name: String, detail: String },
}

/// Syncs the shared files of one node.
pub struct Syncer {
    db: Db,
    etc: PathBuf,
    node_id: String,
    secrets: SecretBox,
    clock: Arc<dyn Clock>,
    /// What this node last reported per file (`sha256`, version): reports are written only
    /// when they change.
    reported: Mutex<HashMap<String, (String, i64)>>,
}

impl Syncer {
    pub fn new(
        db: Db,
        etc: &Path,
        node_id: &str,
        master_key: &[u8; 16],
        clock: Arc<dyn Clock>,
    ) -> Syncer {
        Syncer {
            db,
            etc: etc.to_path_buf(),
            node_id: node_id.to_string(),
            secrets: SecretBox::new(master_key),
            clock,
            reported: Mutex::new(HashMap::new()),
        }
    }

    pub fn etc(&self) -> &Path {
        &self.etc
    }

    /// The additional data a file is sealed with: a sealed copy only opens as its own file.
    fn context(name: &str) -> Vec<u8> {
        format!("arca-config-sync:{name}").into_bytes()
    }

    /// Owner: store every shared file that differs from the cluster's copy.
    pub fn publish(&self) -> Result<Vec<Action>, SyncError> {
        let mut actions = Vec::new();
        for file in &SHARED_FILES {
            let path = self.etc.join(file.name);
            let local = read_local(&path)?;
            let row = self.db.read_blocking(|c| configs::get_file(c, file.name))?;
            let now = self.clock.now_ms();
            match local {
                Some(bytes) => {
                    let sha = sha256_hex(&bytes);
                    if let Some(row) = &row
                        && !row.deleted()
                        && row.sha256 == sha
                    {
                        if row.rejected.is_some() {
                            // back to the valid copy: forget the rejection
                            self.store(file.name, Some(&bytes), &sha, now)?;
                        }
                        self.report(file.name, &sha, row.version, None)?;
                        continue;
                    }
                    if let Err(error) = file.validate(&bytes, &path) {
                        let (name, sha, node) =
                            (file.name.to_string(), sha.clone(), self.node_id.clone());
                        let e = error.clone();
                        let new = self.db.write_blocking(move |c| {
                            configs::record_rejection(c, &name, &sha, &e, now, &node)
                        })?;
                        if new {
                            actions.push(Action::Rejected {
                                name: file.name.to_string(),
                                error,
                            });
                        }
                        continue;
                    }
                    if let Some(version) = self.store(file.name, Some(&bytes), &sha, now)? {
                        let changed_at = mtime_ms(&path, now);
                        self.report(file.name, &sha, version, Some(changed_at))?;
                        actions.push(Action::Stored {
                            name: file.name.to_string(),
                            version,
                            changed_at,
                        });
                    }
                }
                None => {
                    let stored = row.as_ref().is_some_and(|r| !r.deleted() && r.version > 0);
                    if !stored {
                        continue;
                    }
                    if let Some(version) = self.store(file.name, None, "", now)? {
                        self.report(file.name, "", version, Some(now))?;
                        actions.push(Action::Deleted {
                            name: file.name.to_string(),
                            version,
                        });
                    }
                }
            }
        }
        Ok(actions)
    }

    /// Seal and store (`None`: a deletion) and notify the listeners, in one transaction.
    fn store(
        &self,
        name: &str,
        bytes: Option<&[u8]>,
        sha: &str,
        now: i64,
    ) -> Result<Option<i64>, SyncError> {
        let sealed = bytes.map(|b| self.secrets.seal(b, &Self::context(name)));
        let (name, sha, node) = (name.to_string(), sha.to_string(), self.node_id.clone());
        Ok(self.db.write_blocking(move |c| {
            let version = configs::store_file(c, &name, sealed.as_deref(), &sha, now, &node)?;
            if version.is_some() {
                configs::notify_changed(c, &name)?;
            }
            Ok::<_, DbError>(version)
        })?)
    }

    /// Member: make every shared file identical to the cluster's copy.
    pub fn mirror(&self) -> Result<Vec<Action>, SyncError> {
        let rows = self.db.read_blocking(configs::list_files)?;
        let mut actions = Vec::new();
        for row in rows.iter().filter(|r| r.version > 0) {
            // Only files this build shares (a newer node may share more).
            let Some(file) = shared_file(&row.name) else {
                continue;
            };
            if let Some(action) = self.mirror_one(file, row)? {
                actions.push(action);
            }
        }
        Ok(actions)
    }

    fn mirror_one(
        &self,
        file: &SharedFile,
        row: &ConfigFileRow,
    ) -> Result<Option<Action>, SyncError> {
        let path = self.etc.join(file.name);
        let local = read_local(&path)?;
        let now = self.clock.now_ms();
        let Some(sealed) = &row.content else {
            // Deleted on the owner.
            if local.is_none() {
                self.report(file.name, "", row.version, None)?;
                return Ok(None);
            }
            let previous = previous_path(&path);
            std::fs::rename(&path, &previous).map_err(|source| SyncError::Io {
                path: path.clone(),
                op: "move aside",
                source,
            })?;
            sync_dir(&self.etc)?;
            self.report(file.name, "", row.version, Some(now))?;
            return Ok(Some(Action::Removed {
                name: file.name.to_string(),
                version: row.version,
                needs_restart: file.needs_restart,
            }));
        };
        if let Some(bytes) = &local
            && sha256_hex(bytes) == row.sha256
        {
            self.report(file.name, &row.sha256, row.version, None)?;
            return Ok(None);
        }
        let bytes = self
            .secrets
            .open(sealed, &Self::context(file.name))
            .map_err(|e| SyncError::Corrupt {
                name: file.name.to_string(),
                detail: format!("does not open with this node's master key: {e}"),
            })?;
        if sha256_hex(&bytes) != row.sha256 {
            return Err(SyncError::Corrupt {
                name: file.name.to_string(),
                detail: format!(
                    "its content does not have the recorded SHA-256 {}",
                    row.sha256
                ),
            });
        }
        if let Some(old) = &local {
            arca_config::write_file_atomically(&previous_path(&path), old, file.mode)?;
        }
        arca_config::write_file_atomically(&path, &bytes, file.mode)?;
        self.report(
            file.name,
            &row.sha256,
            row.version,
            Some(mtime_ms(&path, now)),
        )?;
        Ok(Some(Action::Applied {
            name: file.name.to_string(),
            version: row.version,
            needs_restart: file.needs_restart,
            replaced: local.is_some(),
        }))
    }

    /// Record what this node has of `name` when it differs from the last report (`changed_at`:
    /// its copy changed then).
    fn report(
        &self,
        name: &str,
        sha: &str,
        version: i64,
        changed_at: Option<i64>,
    ) -> Result<(), SyncError> {
        let key = (sha.to_string(), version);
        if changed_at.is_none()
            && self
                .reported
                .lock()
                .is_ok_and(|r| r.get(name) == Some(&key))
        {
            return Ok(());
        }
        let row = NodeFileRow {
            node_id: self.node_id.clone(),
            name: name.to_string(),
            sha256: sha.to_string(),
            version,
            reported_at: self.clock.now_ms(),
            changed_at: changed_at.unwrap_or(0),
        };
        let changed = changed_at.is_some();
        self.db
            .write_blocking(move |c| configs::report_node_file(c, &row, changed))?;
        if let Ok(mut r) = self.reported.lock() {
            r.insert(name.to_string(), key);
        }
        Ok(())
    }
}

/// The file's bytes, `None` when it does not exist.
fn read_local(path: &Path) -> Result<Option<Vec<u8>>, SyncError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SyncError::Io {
            path: path.to_path_buf(),
            op: "read",
            source,
        }),
    }
}

/// `<path>.previous`.
pub fn previous_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(PREVIOUS_SUFFIX);
    PathBuf::from(name)
}

/// The modification time of `path` in ms (`fallback` when unreadable).
fn mtime_ms(path: &Path, fallback: i64) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(fallback)
}

fn sync_dir(dir: &Path) -> Result<(), SyncError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| SyncError::Io {
            path: dir.to_path_buf(),
            op: "sync",
            source,
        })
}

#[cfg(test)]
mod tests {
    //! Two nodes' `etc/` directories on one SQLite database: an owner publishing, a member
    //! mirroring.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use arca_db::SystemClock;

    const KEY: [u8; 16] = *b"0123456789abcdef";
    const XML: &str = "<config version=\"2\"><chain template=\"file-system\"/></config>\n";

    struct Pair {
        _dir: tempfile::TempDir,
        db: Db,
        owner: Syncer,
        member: Syncer,
    }

    fn pair() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("arca.db"), 4).unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Pair {
            owner: Syncer::new(db.clone(), &a, "a", &KEY, clock.clone()),
            member: Syncer::new(db.clone(), &b, "b", &KEY, clock),
            db,
            _dir: dir,
        }
    }

    fn read(s: &Syncer, name: &str) -> Option<String> {
        std::fs::read_to_string(s.etc().join(name)).ok()
    }

    fn write(s: &Syncer, name: &str, text: &str) {
        std::fs::write(s.etc().join(name), text).unwrap();
    }

    #[test]
    fn members_mirror_the_owner_byte_for_byte_whatever_their_mtime() {
        let p = pair();
        write(&p.owner, "binarystore.xml", XML);
        write(&p.owner, "cluster.license", "key-1\nkey-2\n");
        let actions = p.owner.publish().unwrap();
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert!(p.owner.publish().unwrap().is_empty(), "nothing new");
        // The database holds sealed copies only.
        let rows = p.db.read_blocking(configs::list_files).unwrap();
        assert!(
            rows.iter()
                .all(|r| !r.content.as_ref().unwrap().contains("key-1"))
        );
        assert!(
            rows.iter()
                .all(|r| !r.content.as_ref().unwrap().contains("chain"))
        );
        // The member has an older and different copy with a newer mtime: replaced anyway.
        write(
            &p.member,
            "binarystore.xml",
            "<config version=\"2\"><chain template=\"cache-fs\"/></config>",
        );
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(p.member.etc().join("binarystore.xml"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        let actions = p.member.mirror().unwrap();
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert_eq!(read(&p.member, "binarystore.xml").as_deref(), Some(XML));
        assert_eq!(
            read(&p.member, "cluster.license").as_deref(),
            Some("key-1\nkey-2\n")
        );
        assert!(
            read(&p.member, "binarystore.xml.previous")
                .unwrap()
                .contains("cache-fs"),
            "the replaced copy is kept"
        );
        assert_eq!(
            actions
                .iter()
                .filter_map(Action::needs_restart)
                .collect::<Vec<_>>(),
            ["binarystore.xml"],
            "cluster.license needs no restart"
        );
        assert!(p.member.mirror().unwrap().is_empty());
        // Each node's report: the same hashes.
        let reports = p.db.read_blocking(configs::list_node_files).unwrap();
        let of = |node: &str, name: &str| {
            reports
                .iter()
                .find(|r| r.node_id == node && r.name == name)
                .map(|r| r.sha256.clone())
        };
        assert_eq!(of("a", "binarystore.xml"), of("b", "binarystore.xml"));
        assert_eq!(of("b", "binarystore.xml"), Some(sha256_hex(XML.as_bytes())));
    }

    #[test]
    fn invalid_files_are_not_propagated_and_deletions_are() {
        let p = pair();
        write(&p.owner, "binarystore.xml", XML);
        write(&p.owner, "system.properties", "arca.gc.interval.secs=60\n");
        p.owner.publish().unwrap();
        p.member.mirror().unwrap();
        write(
            &p.owner,
            "binarystore.xml",
            "<config version=\"2\"><chain template=\"bogus\"/>",
        );
        let actions = p.owner.publish().unwrap();
        assert!(
            matches!(&actions[..], [Action::Rejected { name, error }]
                if name == "binarystore.xml" && error.contains("binarystore.xml")),
            "{actions:?}"
        );
        assert!(p.owner.publish().unwrap().is_empty(), "rejected once");
        let row =
            p.db.read_blocking(|c| configs::get_file(c, "binarystore.xml"))
                .unwrap()
                .unwrap();
        assert_eq!(row.version, 1);
        assert!(row.rejected.is_some());
        assert!(p.member.mirror().unwrap().is_empty());
        assert_eq!(read(&p.member, "binarystore.xml").as_deref(), Some(XML));
        // Fixed on the owner: propagated, rejection cleared.
        let fixed = XML.replace("\n", "<!-- fixed -->\n");
        write(&p.owner, "binarystore.xml", &fixed);
        p.owner.publish().unwrap();
        let row =
            p.db.read_blocking(|c| configs::get_file(c, "binarystore.xml"))
                .unwrap()
                .unwrap();
        assert_eq!((row.version, row.rejected), (2, None));
        p.member.mirror().unwrap();
        assert_eq!(read(&p.member, "binarystore.xml"), Some(fixed));
        // Deleted on the owner: moved aside on the member.
        std::fs::remove_file(p.owner.etc().join("system.properties")).unwrap();
        assert!(matches!(
            &p.owner.publish().unwrap()[..],
            [Action::Deleted { .. }]
        ));
        assert!(matches!(
            &p.member.mirror().unwrap()[..],
            [Action::Removed { .. }]
        ));
        assert_eq!(read(&p.member, "system.properties"), None);
        assert_eq!(
            read(&p.member, "system.properties.previous").as_deref(),
            Some("arca.gc.interval.secs=60\n")
        );
        assert!(p.member.mirror().unwrap().is_empty());
    }

    #[test]
    fn a_copy_sealed_with_another_master_key_is_refused() {
        let p = pair();
        write(&p.owner, "cluster.license", "k\n");
        p.owner.publish().unwrap();
        let stranger = Syncer::new(
            p.db.clone(),
            p.member.etc(),
            "c",
            b"fedcba9876543210",
            Arc::new(SystemClock),
        );
        let e = stranger.mirror().unwrap_err();
        assert!(e.to_string().contains("master key"), "{e}");
        assert_eq!(read(&p.member, "cluster.license"), None, "nothing written");
    }
}

//! One pass of the config sync against the database and this node's `etc/` ([`Syncer::sync`]).
//!
//! For each shared file, [`decide`] picks the copy that wins from three hashes: this node's
//! file, the copy it last had in sync with the cluster (its report in `config_file_nodes`), and
//! the cluster's. A copy that is not a local edit takes the cluster's (a stale disk never wins,
//! whichever node it is on); a local edit is published by the config owner — validated first,
//! stored sealed with the master key, never propagated when invalid — or kept by the configured
//! primary until it owns the config; an edit that loses (the cluster's copy changed too, or it
//! was made on another node) is kept as `<name>.conflict` and reported, never dropped silently.
//! The cluster's copy is written atomically — modification times are never looked at — and the
//! replaced copy kept as `<name>.previous`.
//!
//! Each pass reports what this node has to `config_file_nodes` when it changed. Blocking (files
//! and the database): run a pass on a blocking thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arca_cluster::config_socket::{self, SetAnswer};
use arca_cluster::shared_config::{SHARED_FILES, SharedFile, sha256_hex, shared_file};
use arca_crypto::master_key::SecretBox;
use arca_db::configs::{self, ConfigFileRow, NodeFileRow};
use arca_db::{Clock, Db, DbError};

/// The suffix of the copy a change replaced (rollback: rename it back on the owner).
pub const PREVIOUS_SUFFIX: &str = ".previous";

/// The suffix of a local edit that lost to the cluster's copy (`.conflict.2`, … when taken).
pub const CONFLICT_SUFFIX: &str = ".conflict";

/// What a pass did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Owner: stored this node's copy as the cluster's `version`; `changed_at`: its mtime
    /// (ms), i.e. when this node's copy changed; `needs_restart`: the change from the cluster's
    /// previous copy is one the server applies at start only
    /// ([`SharedFile::change_needs_restart`]).
    Stored {
        name: String,
        version: i64,
        changed_at: i64,
        needs_restart: bool,
    },
    /// Owner: the file is gone here; recorded as deleted (`version`).
    Deleted { name: String, version: i64 },
    /// Owner: this copy failed validation and was not propagated.
    Rejected { name: String, error: String },
    /// Wrote the cluster's `version` (this node's copy had other content, or none);
    /// `needs_restart`: see [`SharedFile::change_needs_restart`] (false when only
    /// `arca.url.base` of `system.properties` changed: the server applies it live).
    Applied {
        name: String,
        version: i64,
        needs_restart: bool,
        /// An earlier copy was replaced (and kept as `<name>.previous`, or `.conflict`).
        replaced: bool,
        /// The replaced copy was a local edit that lost: what happened, where it is kept.
        lost_edit: Option<String>,
    },
    /// Removed this node's copy (deleted on the owner).
    Removed {
        name: String,
        version: i64,
        needs_restart: bool,
        lost_edit: Option<String>,
    },
    /// The configured primary keeps its local edit until it owns the config.
    Kept { name: String },
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
            }
            | Action::Stored {
                name,
                needs_restart: true,
                ..
            } => Some(name),
            Action::Deleted { name, .. } => shared_file(name)
                .filter(|f| f.needs_restart)
                .map(|f| f.name),
            _ => None,
        }
    }

    /// A file whose new copy the server reads again at once for the keys it applies live
    /// (`system.properties`: `arca.url.base`), whether or not the change also needs a restart.
    pub fn live_reload(&self) -> Option<&str> {
        match self {
            Action::Applied { name, .. } | Action::Stored { name, .. }
                if name == "system.properties" =>
            {
                Some(name)
            }
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
    /// The configured primary (`primary=true`): its local edits wait until it owns the config.
    primary: bool,
    /// What this node last reported per file (`sha256`, version, pending edit): reports are
    /// written only when they change.
    reported: Mutex<HashMap<String, Report>>,
}

type Report = (String, i64, Option<String>);

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
            primary: false,
            reported: Mutex::new(HashMap::new()),
        }
    }

    /// This node is the configured primary (`primary=true` in `ha-node.properties`).
    pub fn configured_primary(mut self, primary: bool) -> Syncer {
        self.primary = primary;
        self
    }

    pub fn etc(&self) -> &Path {
        &self.etc
    }

    /// The additional data a file is sealed with: a sealed copy only opens as its own file.
    fn context(name: &str) -> Vec<u8> {
        format!("arca-config-sync:{name}").into_bytes()
    }

    /// One pass over every shared file, as the config owner (`owner`) or as another node: see
    /// [`decide`] for which copy wins.
    pub fn sync(&self, owner: bool) -> Result<Vec<Action>, SyncError> {
        let rows = self.db.read_blocking(configs::list_files)?;
        let node = self.node_id.clone();
        let mine = self
            .db
            .read_blocking(move |c| configs::node_files(c, &node))?;
        let mut actions = Vec::new();
        for file in &SHARED_FILES {
            let row = rows.iter().find(|r| r.name == file.name && r.version > 0);
            let base = mine.iter().find(|r| r.name == file.name);
            // Before this pass may record a new lost edit of the file.
            self.forget_handled_lost_edit(file.name, base)?;
            if let Some(action) = self.sync_one(file, row, base, owner)? {
                actions.push(action);
            }
        }
        Ok(actions)
    }

    /// A pass as the config owner.
    pub fn publish(&self) -> Result<Vec<Action>, SyncError> {
        self.sync(true)
    }

    /// A pass as a node that does not own the config.
    pub fn mirror(&self) -> Result<Vec<Action>, SyncError> {
        self.sync(false)
    }

    fn sync_one(
        &self,
        file: &SharedFile,
        row: Option<&ConfigFileRow>,
        base: Option<&NodeFileRow>,
        owner: bool,
    ) -> Result<Option<Action>, SyncError> {
        let path = self.etc.join(file.name);
        let local = read_local(&path)?;
        let local_sha = local.as_deref().map(sha256_hex).unwrap_or_default();
        let decision = decide(
            &local_sha,
            base.map(|b| (b.sha256.as_str(), b.version)),
            row.map(|r| (r.sha256.as_str(), r.version)),
            owner,
            self.primary,
        );
        match (decision, row) {
            (Decision::Nothing, _) => Ok(None),
            (Decision::InSync, Some(row)) => {
                if owner && row.rejected.is_some() {
                    // back to the valid copy: forget the rejection
                    self.store(file.name, local.as_deref(), &local_sha, self.clock.now_ms())?;
                }
                self.report(file.name, &row.sha256, row.version, None, None)?;
                Ok(None)
            }
            (Decision::Publish, _) => self.publish_one(file, &path, local.as_deref(), row),
            (Decision::Keep, _) => {
                let Some(base) = base else {
                    return Ok(None);
                };
                self.report(
                    file.name,
                    &base.sha256,
                    base.version,
                    None,
                    Some(&local_sha),
                )?;
                let new = base.pending_sha256.as_deref() != Some(local_sha.as_str());
                Ok(new.then(|| Action::Kept {
                    name: file.name.to_string(),
                }))
            }
            (Decision::TakeCluster(lost), Some(row)) => {
                self.apply_cluster_copy(file, &path, local, row, lost)
            }
            (Decision::InSync | Decision::TakeCluster(_), None) => Ok(None),
        }
    }

    /// Owner: validate this node's copy and store it as the cluster's (or record a deletion, or
    /// a rejection: never propagated).
    fn publish_one(
        &self,
        file: &SharedFile,
        path: &Path,
        local: Option<&[u8]>,
        row: Option<&ConfigFileRow>,
    ) -> Result<Option<Action>, SyncError> {
        let now = self.clock.now_ms();
        let Some(bytes) = local else {
            let stored = row.is_some_and(|r| !r.deleted());
            if !stored {
                return Ok(None);
            }
            return Ok(match self.store(file.name, None, "", now)? {
                Some(version) => {
                    self.report(file.name, "", version, Some(now), None)?;
                    Some(Action::Deleted {
                        name: file.name.to_string(),
                        version,
                    })
                }
                None => None,
            });
        };
        let sha = sha256_hex(bytes);
        if let Err(error) = file.validate(bytes, path) {
            let (name, sha, node) = (file.name.to_string(), sha, self.node_id.clone());
            let e = error.clone();
            let new = self.db.write_blocking(move |c| {
                configs::record_rejection(c, &name, &sha, &e, now, &node)
            })?;
            return Ok(new.then(|| Action::Rejected {
                name: file.name.to_string(),
                error,
            }));
        }
        // Compared with the copy the other nodes have now (none yet: a restart applies it).
        let previous = row
            .and_then(|r| r.content.as_deref())
            .and_then(|sealed| self.secrets.open(sealed, &Self::context(file.name)).ok());
        let needs_restart = file.change_needs_restart(previous.as_deref(), Some(bytes));
        let Some(version) = self.store(file.name, Some(bytes), &sha, now)? else {
            return Ok(None);
        };
        let changed_at = mtime_ms(path, now);
        // `changed_at` of the report is when this node's copy last changed in a way its server
        // applies at start only (the HA table's "restart required"): kept for a live change.
        self.report(
            file.name,
            &sha,
            version,
            needs_restart.then_some(changed_at),
            None,
        )?;
        Ok(Some(Action::Stored {
            name: file.name.to_string(),
            version,
            changed_at,
            needs_restart,
        }))
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

    /// Make this node's copy the cluster's `row` (written atomically; a deletion moves the file
    /// aside). The replaced copy is kept as `<name>.previous`, or, when it was a local edit that
    /// loses (`lost`), as `<name>.conflict` and recorded for `arcactl config status` and the API.
    fn apply_cluster_copy(
        &self,
        file: &SharedFile,
        path: &Path,
        local: Option<Vec<u8>>,
        row: &ConfigFileRow,
        lost: Lost,
    ) -> Result<Option<Action>, SyncError> {
        let now = self.clock.now_ms();
        // Where a losing local edit is kept, and what to say about it.
        let kept = match (&local, lost) {
            (Some(_), Lost::Conflict | Lost::NotOwner) => Some(free_conflict_path(path)),
            _ => None,
        };
        let lost_edit = lost_edit_message(file.name, row, lost, kept.as_deref());
        let Some(sealed) = &row.content else {
            // Deleted on the owner.
            if local.is_some() {
                let aside = kept.clone().unwrap_or_else(|| previous_path(path));
                std::fs::rename(path, &aside).map_err(|source| SyncError::Io {
                    path: path.to_path_buf(),
                    op: "move aside",
                    source,
                })?;
                sync_dir(&self.etc)?;
            }
            self.report(file.name, "", row.version, Some(now), None)?;
            self.remember_lost_edit(file.name, kept.as_ref(), lost_edit.as_deref(), now)?;
            return Ok(local.is_some().then(|| Action::Removed {
                name: file.name.to_string(),
                version: row.version,
                needs_restart: file.needs_restart,
                lost_edit,
            }));
        };
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
            let aside = kept.clone().unwrap_or_else(|| previous_path(path));
            arca_config::write_file_atomically(&aside, old, file.mode)?;
        }
        arca_config::write_file_atomically(path, &bytes, file.mode)?;
        // Only arca.url.base changed (the server applies it live): no restart required, so the
        // report keeps the time this node's copy last changed in a way that needs one.
        let needs_restart = file.change_needs_restart(local.as_deref(), Some(&bytes));
        self.report(
            file.name,
            &row.sha256,
            row.version,
            needs_restart.then(|| mtime_ms(path, now)),
            None,
        )?;
        self.remember_lost_edit(file.name, kept.as_ref(), lost_edit.as_deref(), now)?;
        Ok(Some(Action::Applied {
            name: file.name.to_string(),
            version: row.version,
            needs_restart,
            replaced: local.is_some(),
            lost_edit,
        }))
    }

    /// Record a lost edit that was kept in a file (one without content, a local deletion, is
    /// only in the journal: there is nothing to merge).
    fn remember_lost_edit(
        &self,
        name: &str,
        kept: Option<&PathBuf>,
        what: Option<&str>,
        now: i64,
    ) -> Result<(), SyncError> {
        let (Some(_), Some(what)) = (kept, what) else {
            return Ok(());
        };
        let (node, name, what) = (self.node_id.clone(), name.to_string(), what.to_string());
        self.db.write_blocking(move |c| {
            configs::record_lost_edit(c, &node, &name, Some(&what), now)
        })?;
        Ok(())
    }

    /// A recorded lost edit is handled once the operator removed every `<name>.conflict*` copy.
    fn forget_handled_lost_edit(
        &self,
        name: &str,
        base: Option<&NodeFileRow>,
    ) -> Result<(), SyncError> {
        if base.is_none_or(|b| b.lost_edit.is_none()) || has_conflict_copy(&self.etc, name) {
            return Ok(());
        }
        let (node, name) = (self.node_id.clone(), name.to_string());
        let now = self.clock.now_ms();
        self.db
            .write_blocking(move |c| configs::record_lost_edit(c, &node, &name, None, now))?;
        Ok(())
    }

    /// Record what this node has of `name` when it differs from the last report: the copy it
    /// has in sync with the cluster (`sha`, `version`; `changed_at`: its copy changed then) and
    /// a local edit it keeps unpublished (`pending`).
    fn report(
        &self,
        name: &str,
        sha: &str,
        version: i64,
        changed_at: Option<i64>,
        pending: Option<&str>,
    ) -> Result<(), SyncError> {
        let key = (sha.to_string(), version, pending.map(str::to_string));
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
            pending_sha256: pending.map(str::to_string),
            lost_edit: None,
            lost_edit_at: 0,
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

/// Set `key` of `<etc>/system.properties` to `value` for the server
/// ([`arca_cluster::config_socket`]): checked ([`config_socket::check_set`]), written
/// atomically keeping every other line, the mode and the owner. On the config owner the next
/// pass publishes it like any local edit. `Err` is the message for the server.
pub fn set_system_property(etc: &Path, key: &str, value: &str) -> Result<SetAnswer, String> {
    let value = config_socket::check_set(key, value)?;
    let path = etc.join("system.properties");
    let changed =
        arca_config::system::write_url_base(&path, value.as_deref()).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(SetAnswer {
        changed,
        sha256: sha256_hex(&bytes),
    })
}

/// Why a local edit loses to the cluster's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Not a local edit (this node's copy is the one it last had in sync, or it never synced).
    No,
    /// Edited here while the cluster's copy changed too: the cluster's copy wins.
    Conflict,
    /// Edited on a node that does not own the config and is not the configured primary.
    NotOwner,
}

/// What a pass does with one shared file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The cluster has no copy and this node does not publish one.
    Nothing,
    /// This node's copy is the cluster's.
    InSync,
    /// Owner: store this node's copy (a local edit, or the first copy of the cluster).
    Publish,
    /// The configured primary's local edit while it does not own the config: kept until it
    /// does, then published.
    Keep,
    /// Write the cluster's copy here.
    TakeCluster(Lost),
}

/// Which copy wins. `local`: SHA-256 of this node's file ("" when absent); `base`: the copy
/// (SHA-256, cluster version) this node last had in sync with the cluster, `None` when it never
/// synced; `cluster`: the cluster's copy (SHA-256, "" when deleted; version), `None` when never
/// stored.
///
/// A node's copy that is not a local edit (the one it last had in sync, or a node that never
/// synced) takes the cluster's: a stale disk never overwrites the cluster's files, whichever
/// node it is on. A local edit is published when the cluster's copy did not change since: by
/// the owner at once, by the configured primary once it owns the config (meanwhile it is kept).
/// On another node it is put back. When the cluster's copy changed meanwhile, the cluster's
/// copy wins. An edit that loses is never silent: it is kept as `<name>.conflict`, in the
/// journal, `arcactl config status` and `GET /api/system/ha/nodes`.
pub fn decide(
    local: &str,
    base: Option<(&str, i64)>,
    cluster: Option<(&str, i64)>,
    owner: bool,
    primary: bool,
) -> Decision {
    let Some((cluster_sha, cluster_version)) = cluster else {
        return if owner && !local.is_empty() {
            Decision::Publish
        } else {
            Decision::Nothing
        };
    };
    if local == cluster_sha {
        return Decision::InSync;
    }
    let Some((base_sha, base_version)) = base else {
        return Decision::TakeCluster(Lost::No);
    };
    if local == base_sha {
        return Decision::TakeCluster(Lost::No);
    }
    if cluster_version > base_version {
        Decision::TakeCluster(Lost::Conflict)
    } else if owner {
        Decision::Publish
    } else if primary {
        Decision::Keep
    } else {
        Decision::TakeCluster(Lost::NotOwner)
    }
}

/// What the journal and `arcactl config status` say about a local edit that lost.
fn lost_edit_message(
    name: &str,
    row: &ConfigFileRow,
    lost: Lost,
    kept: Option<&Path>,
) -> Option<String> {
    let cluster = if row.deleted() {
        format!("the cluster's copy was deleted (version {})", row.version)
    } else {
        format!(
            "the cluster's copy is version {} (stored by {})",
            row.version, row.updated_by
        )
    };
    let kept = match kept {
        Some(p) => format!(
            "the edit is kept as {} — merge what is still wanted into the config owner's copy, \
             then delete that file",
            p.display()
        ),
        None => "this node had deleted it; the cluster's copy is back".to_string(),
    };
    match lost {
        Lost::No => None,
        Lost::Conflict => Some(format!(
            "LOCAL EDIT LOST: {name} was edited on this node while the cluster's copy changed \
             too; {cluster} and wins; {kept}"
        )),
        Lost::NotOwner => Some(format!(
            "LOCAL EDIT LOST: {name} was edited on this node, which does not own the cluster's \
             config (edit it on the config owner, the primary while it is active); {cluster} and \
             was put back; {kept}"
        )),
    }
}

/// `<path>.conflict`, or `.conflict.2`, `.3`, … when taken: an earlier lost edit is never
/// overwritten.
fn free_conflict_path(path: &Path) -> PathBuf {
    let base = with_suffix(path, CONFLICT_SUFFIX);
    if !base.exists() {
        return base;
    }
    (2..)
        .map(|n| with_suffix(&base, &format!(".{n}")))
        .find(|p| !p.exists())
        .unwrap_or(base)
}

/// Whether `etc` holds a `<name>.conflict*` copy.
fn has_conflict_copy(etc: &Path, name: &str) -> bool {
    let prefix = format!("{name}{CONFLICT_SUFFIX}");
    std::fs::read_dir(etc).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
    })
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
    with_suffix(path, PREVIOUS_SUFFIX)
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
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
    fn which_copy_wins() {
        use Decision::*;
        // (local, base, cluster, owner, primary)
        type Case<'a> = (
            &'a str,
            Option<(&'a str, i64)>,
            Option<(&'a str, i64)>,
            bool,
            bool,
            Decision,
        );
        // the cluster's copy, or the one this node last had in sync
        const A3: Option<(&str, i64)> = Some(("a", 3));
        const B4: Option<(&str, i64)> = Some(("b", 4));
        let cases: &[Case<'_>] = &[
            // nothing stored yet: the owner publishes its copy, nobody else does anything
            ("a", None, None, true, true, Publish),
            ("a", None, None, false, true, Nothing),
            ("", None, None, true, true, Nothing),
            // same content: in sync, whatever the base
            ("a", Some(("x", 1)), A3, false, false, InSync),
            // never synced (a new or rebuilt node, even the primary owning): the cluster's wins
            ("pkg", None, A3, true, true, TakeCluster(Lost::No)),
            // a stale copy (not edited since its last sync): the cluster's wins
            ("a", A3, B4, true, true, TakeCluster(Lost::No)),
            ("a", A3, B4, false, true, TakeCluster(Lost::No)),
            // a local edit on top of the cluster's copy
            ("e", A3, A3, true, false, Publish),
            ("e", A3, A3, false, true, Keep),
            ("e", A3, A3, false, false, TakeCluster(Lost::NotOwner)),
            // a local deletion is an edit too
            ("", A3, A3, true, true, Publish),
            // edited here while the cluster's copy changed: the cluster's wins, the edit is kept
            ("e", A3, B4, true, true, TakeCluster(Lost::Conflict)),
            ("e", A3, B4, false, true, TakeCluster(Lost::Conflict)),
        ];
        for &(local, base, cluster, owner, primary, expected) in cases {
            assert_eq!(
                decide(local, base, cluster, owner, primary),
                expected,
                "local {local:?} base {base:?} cluster {cluster:?} owner {owner} primary {primary}"
            );
        }
    }

    /// The configured primary `a` and a member `b` on one database.
    fn primary_pair() -> Pair {
        let mut p = pair();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        p.owner =
            Syncer::new(p.db.clone(), p.owner.etc(), "a", &KEY, clock).configured_primary(true);
        p
    }

    fn lost_edit(p: &Pair, node: &str, name: &str) -> Option<String> {
        p.db.read_blocking(configs::list_node_files)
            .unwrap()
            .into_iter()
            .find(|r| r.node_id == node && r.name == name)
            .and_then(|r| r.lost_edit)
    }

    const PROPS_1: &str = "arca.gc.interval.secs=60\n";
    const PROPS_2: &str = "arca.gc.interval.secs=120\n";
    const PROPS_3: &str = "arca.gc.interval.secs=180\n";

    #[test]
    fn an_edit_made_on_the_primary_while_it_was_away_is_published_once_it_owns_the_config() {
        let p = primary_pair();
        write(&p.owner, "system.properties", PROPS_1);
        p.owner.sync(true).unwrap();
        p.member.sync(false).unwrap();
        // The primary is down: the member owns the config and nothing changes. The operator
        // edits the primary's file; it starts again, first not owning the config.
        write(&p.owner, "system.properties", PROPS_2);
        let actions = p.owner.sync(false).unwrap();
        assert_eq!(
            actions,
            [Action::Kept {
                name: "system.properties".into()
            }]
        );
        assert!(p.owner.sync(false).unwrap().is_empty(), "kept once");
        assert_eq!(
            read(&p.owner, "system.properties").as_deref(),
            Some(PROPS_2)
        );
        let pending =
            p.db.read_blocking(configs::list_node_files)
                .unwrap()
                .into_iter()
                .find(|r| r.node_id == "a" && r.name == "system.properties")
                .unwrap();
        assert_eq!(pending.pending_sha256, Some(sha256_hex(PROPS_2.as_bytes())));
        // The member (owning meanwhile) has nothing new to publish.
        assert!(p.member.sync(true).unwrap().is_empty());
        // The primary owns the config again: its edit is published and reaches the member.
        assert!(matches!(
            &p.owner.sync(true).unwrap()[..],
            [Action::Stored { version: 2, .. }]
        ));
        p.member.sync(false).unwrap();
        assert_eq!(
            read(&p.member, "system.properties").as_deref(),
            Some(PROPS_2)
        );
        assert_eq!(lost_edit(&p, "a", "system.properties"), None);
    }

    #[test]
    fn a_stale_primary_takes_the_copy_the_member_published_while_it_was_away() {
        let p = primary_pair();
        write(&p.owner, "system.properties", PROPS_1);
        p.owner.sync(true).unwrap();
        p.member.sync(false).unwrap();
        // The member owns the config while the primary is down, and an edit is made there.
        write(&p.member, "system.properties", PROPS_2);
        assert!(matches!(
            &p.member.sync(true).unwrap()[..],
            [Action::Stored { version: 2, .. }]
        ));
        // The primary comes back with its old copy, and even owning the config it takes the
        // cluster's: its copy was not edited, only stale.
        let actions = p.owner.sync(true).unwrap();
        assert!(
            matches!(
                &actions[..],
                [Action::Applied {
                    version: 2,
                    lost_edit: None,
                    ..
                }]
            ),
            "{actions:?}"
        );
        assert_eq!(
            read(&p.owner, "system.properties").as_deref(),
            Some(PROPS_2)
        );
        assert_eq!(
            read(&p.owner, "system.properties.previous").as_deref(),
            Some(PROPS_1)
        );
    }

    #[test]
    fn an_edit_that_loses_is_kept_as_conflict_and_reported_until_removed() {
        let p = primary_pair();
        write(&p.owner, "system.properties", PROPS_1);
        p.owner.sync(true).unwrap();
        p.member.sync(false).unwrap();
        // Both changed while the primary was away: the member published PROPS_2 and the primary
        // was edited to PROPS_3. The cluster's copy wins; the primary's edit is kept.
        write(&p.member, "system.properties", PROPS_2);
        p.member.sync(true).unwrap();
        write(&p.owner, "system.properties", PROPS_3);
        let actions = p.owner.sync(false).unwrap();
        let [
            Action::Applied {
                lost_edit: Some(message),
                ..
            },
        ] = &actions[..]
        else {
            panic!("{actions:?}");
        };
        assert!(
            message.contains(
                "LOCAL EDIT LOST: system.properties was edited on this node while \
                              the cluster's copy changed too"
            ) && message.contains("system.properties.conflict"),
            "{message}"
        );
        assert_eq!(
            read(&p.owner, "system.properties").as_deref(),
            Some(PROPS_2)
        );
        assert_eq!(
            read(&p.owner, "system.properties.conflict").as_deref(),
            Some(PROPS_3)
        );
        assert_eq!(
            lost_edit(&p, "a", "system.properties").as_deref(),
            Some(message.as_str())
        );
        // A member's own edit is put back, and kept without overwriting an earlier one.
        write(&p.member, "system.properties", PROPS_3);
        p.owner.sync(true).unwrap();
        std::fs::write(p.member.etc().join("system.properties.conflict"), "older").unwrap();
        let actions = p.member.sync(false).unwrap();
        assert!(
            matches!(&actions[..], [Action::Applied { lost_edit: Some(m), .. }]
                if m.contains("which does not own the cluster's config")
                    && m.contains("system.properties.conflict.2")),
            "{actions:?}"
        );
        assert_eq!(
            read(&p.member, "system.properties").as_deref(),
            Some(PROPS_2)
        );
        assert_eq!(
            read(&p.member, "system.properties.conflict").as_deref(),
            Some("older")
        );
        assert_eq!(
            read(&p.member, "system.properties.conflict.2").as_deref(),
            Some(PROPS_3)
        );
        // Handled: once the kept copies are removed, the report is cleared.
        std::fs::remove_file(p.owner.etc().join("system.properties.conflict")).unwrap();
        assert!(p.owner.sync(true).unwrap().is_empty());
        assert_eq!(lost_edit(&p, "a", "system.properties"), None);
        std::fs::remove_file(p.member.etc().join("system.properties.conflict")).unwrap();
        p.member.sync(false).unwrap();
        assert!(
            lost_edit(&p, "b", "system.properties").is_some(),
            ".conflict.2 is left"
        );
        std::fs::remove_file(p.member.etc().join("system.properties.conflict.2")).unwrap();
        p.member.sync(false).unwrap();
        assert_eq!(lost_edit(&p, "b", "system.properties"), None);
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

    /// What `config_file_nodes` says about node `node`'s copy of `name`: (version, changed_at).
    fn node_report(p: &Pair, node: &str, name: &str) -> (i64, i64) {
        p.db.read_blocking(configs::list_node_files)
            .unwrap()
            .into_iter()
            .find(|r| r.node_id == node && r.name == name)
            .map(|r| (r.version, r.changed_at))
            .unwrap()
    }

    #[test]
    fn a_change_of_the_url_base_alone_needs_no_restart_anywhere() {
        let p = pair();
        write(&p.owner, "system.properties", PROPS_1);
        p.owner.publish().unwrap();
        p.member.mirror().unwrap();
        let (_, owner_changed) = node_report(&p, "a", "system.properties");
        let (_, member_changed) = node_report(&p, "b", "system.properties");
        // The server sets the URL base through the socket: owner publishes, member applies;
        // both say "read it again live", neither "restart".
        std::thread::sleep(std::time::Duration::from_millis(5));
        let answer =
            set_system_property(p.owner.etc(), "arca.url.base", "https://lb.example/art/").unwrap();
        assert!(answer.changed);
        let text = read(&p.owner, "system.properties").unwrap();
        assert_eq!(
            text,
            format!("{PROPS_1}arca.url.base=https://lb.example/art\n")
        );
        assert_eq!(answer.sha256, sha256_hex(text.as_bytes()));
        let published = p.owner.publish().unwrap();
        assert!(
            matches!(
                &published[..],
                [Action::Stored {
                    version: 2,
                    needs_restart: false,
                    ..
                }]
            ),
            "{published:?}"
        );
        assert_eq!(published[0].needs_restart(), None);
        assert_eq!(published[0].live_reload(), Some("system.properties"));
        let applied = p.member.mirror().unwrap();
        assert!(
            matches!(
                &applied[..],
                [Action::Applied {
                    version: 2,
                    needs_restart: false,
                    ..
                }]
            ),
            "{applied:?}"
        );
        assert_eq!(applied[0].live_reload(), Some("system.properties"));
        assert_eq!(read(&p.member, "system.properties"), Some(text.clone()));
        // the reports moved to version 2 but kept when the copies last changed for a restart
        assert_eq!(
            node_report(&p, "a", "system.properties"),
            (2, owner_changed)
        );
        assert_eq!(
            node_report(&p, "b", "system.properties"),
            (2, member_changed)
        );
        // Any other key: restart required again, as before.
        write(&p.owner, "system.properties", &text.replace("=60", "=61"));
        let published = p.owner.publish().unwrap();
        assert_eq!(published[0].needs_restart(), Some("system.properties"));
        let applied = p.member.mirror().unwrap();
        assert_eq!(applied[0].needs_restart(), Some("system.properties"));
        assert!(node_report(&p, "b", "system.properties").1 > member_changed);
        // The socket sets nothing else, and nothing invalid.
        let e = set_system_property(p.owner.etc(), "arca.gc.interval.secs", "1").unwrap_err();
        assert!(e.contains("only arca.url.base"), "{e}");
        let e = set_system_property(p.owner.etc(), "arca.url.base", "lb").unwrap_err();
        assert!(e.starts_with("Invalid URL base"), "{e}");
        let cleared = set_system_property(p.owner.etc(), "arca.url.base", "").unwrap();
        assert!(cleared.changed);
        assert!(
            read(&p.owner, "system.properties")
                .unwrap()
                .ends_with("arca.url.base=\n")
        );
    }
}

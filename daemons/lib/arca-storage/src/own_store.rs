//! Where a sharding-cluster node keeps its own copies: the `state-aware` file store
//! (`cluster-file-system`), or the `eventual-cluster` queue of uploads waiting for the object
//! store (`cluster-s3-storage-v3`: a copy lives on the node only until the mover uploaded it).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::eventual::{EntryKind, EventualQueue};
use crate::{FileStore, StagedBlob, StorageError};

/// A node's own store in a sharding-cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub enum OwnStore {
    /// `state-aware`: content-addressed files kept for good.
    Files(FileStore),
    /// `eventual-cluster`: `_add` entries of the queue, uploaded and then dropped by the mover.
    Queue(EventualQueue),
}

impl OwnStore {
    /// The directory holding the copies (`_add` for a queue).
    pub fn root(&self) -> &Path {
        match self {
            OwnStore::Files(store) => store.root(),
            OwnStore::Queue(queue) => queue.add_dir(),
        }
    }

    /// The queue, when copies wait for the object store.
    pub fn queue(&self) -> Option<&EventualQueue> {
        match self {
            OwnStore::Files(_) => None,
            OwnStore::Queue(queue) => Some(queue),
        }
    }

    /// Where the copy of `sha256` is (whether or not it exists).
    pub fn path(&self, sha256: &str) -> Result<PathBuf, StorageError> {
        match self {
            OwnStore::Files(store) => store.blob_path(sha256),
            OwnStore::Queue(queue) => queue.entry_path(EntryKind::Add, sha256),
        }
    }

    pub fn contains(&self, sha256: &str) -> Result<bool, StorageError> {
        match self {
            OwnStore::Files(store) => store.contains(sha256),
            OwnStore::Queue(queue) => Ok(queue.pending_add(sha256).is_some()),
        }
    }

    /// Move a staged upload in (rename, then fsync the directory). Returns whether it is a new
    /// copy (false: the same content was already here and is kept).
    pub fn place(&self, staged: StagedBlob) -> Result<bool, StorageError> {
        match self {
            OwnStore::Files(store) => staged.commit_into(store),
            OwnStore::Queue(queue) => {
                let existed = queue.pending_add(&staged.checksums().sha256).is_some();
                staged.commit_with(|src, sums| queue.commit_add(src, &sums.sha256))?;
                Ok(!existed)
            }
        }
    }

    /// Delete the copy. Returns whether one existed.
    pub fn remove(&self, sha256: &str) -> Result<bool, StorageError> {
        match self {
            OwnStore::Files(store) => store.remove_blob(sha256),
            OwnStore::Queue(queue) => queue.remove_entry(EntryKind::Add, sha256, None),
        }
    }

    /// Every copy with its modification time (reconcile, orphan sweep).
    pub fn list(&self) -> Result<Vec<(String, SystemTime)>, StorageError> {
        match self {
            OwnStore::Files(store) => store.list_blobs(),
            OwnStore::Queue(queue) => Ok(queue
                .entries(EntryKind::Add)?
                .into_iter()
                .map(|e| (e.sha256, e.modified))
                .collect()),
        }
    }

    /// Make the copy young again (the orphan sweep's grace period then protects the deploy
    /// that pushed it once more). Best effort.
    pub fn touch(&self, sha256: &str) {
        let Ok(path) = self.path(sha256) else { return };
        let result = fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        if let Err(e) = result {
            tracing::debug!(path = %path.display(), error = %e, "could not refresh the mtime of a stored copy");
        }
    }

    /// Move the copy to `<root>/.quarantine/<sha256>.<unix ms>` (it failed verification).
    pub fn quarantine(&self, sha256: &str) -> Result<PathBuf, StorageError> {
        match self {
            OwnStore::Queue(queue) => queue.quarantine_add(sha256),
            OwnStore::Files(store) => {
                let dest = quarantine_path(store.root(), sha256)?;
                let src = store.blob_path(sha256)?;
                fs::rename(&src, &dest).map_err(|e| StorageError::io("quarantine", &dest, e))?;
                Ok(dest)
            }
        }
    }
}

/// `<root>/.quarantine/<sha256>.<unix ms>`, creating the directory.
pub(crate) fn quarantine_path(root: &Path, sha256: &str) -> Result<PathBuf, StorageError> {
    let dir = root.join(".quarantine");
    fs::create_dir_all(&dir).map_err(|e| StorageError::io("create directory", &dir, e))?;
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Ok(dir.join(format!("{sha256}.{stamp}")))
}

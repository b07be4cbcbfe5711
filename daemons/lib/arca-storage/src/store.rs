//! The content-addressed directory layout: `<root>/<sha[0..2]>/<sha>`, temp files in `temp_dir`.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::StorageError;
use crate::checksums::validate_sha256;

/// Content-addressed local file store. Cheap to clone; clones share the same directories.
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    temp: PathBuf,
}

/// Filesystem usage of the store's filesystem, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskUsage {
    pub total: u64,
    pub used: u64,
    /// Space available to unprivileged writers.
    pub available: u64,
}

impl FileStore {
    /// Create the directories if missing and verify the store is usable: `temp_dir` must be a
    /// separate directory on the same filesystem as `file_store_dir` (uploads are renamed into
    /// place), and writable (a probe file is written, fsynced and removed).
    pub fn open(file_store_dir: PathBuf, temp_dir: PathBuf) -> Result<FileStore, StorageError> {
        for dir in [&file_store_dir, &temp_dir] {
            fs::create_dir_all(dir).map_err(|e| StorageError::io("create directory", dir, e))?;
        }
        let root = fs::canonicalize(&file_store_dir)
            .map_err(|e| StorageError::io("resolve", &file_store_dir, e))?;
        let temp =
            fs::canonicalize(&temp_dir).map_err(|e| StorageError::io("resolve", &temp_dir, e))?;

        let unusable = |reason: &str| StorageError::Unusable {
            path: temp.clone(),
            reason: reason.to_owned(),
        };
        if root.starts_with(&temp) {
            // clean_temp() would wipe the blobs.
            return Err(unusable(
                "temp_dir must not be the file store directory or one of its parents",
            ));
        }
        if temp.parent() == Some(root.as_path())
            && temp
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(unusable("temp_dir collides with a blob shard directory"));
        }
        let dev = |p: &Path| {
            fs::metadata(p)
                .map(|m| m.dev())
                .map_err(|e| StorageError::io("stat", p, e))
        };
        if dev(&root)? != dev(&temp)? {
            return Err(unusable(
                "temp_dir must be on the same filesystem as the file store directory",
            ));
        }

        let store = FileStore {
            inner: Arc::new(Inner { root, temp }),
        };
        store.probe_writable()?;
        Ok(store)
    }

    fn probe_writable(&self) -> Result<(), StorageError> {
        let path = self
            .inner
            .temp
            .join(format!(".probe{:016x}.tmp", rand::random::<u64>()));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            f.write_all(b"arca storage probe\n")?;
            f.sync_all()
        })();
        let removed = fs::remove_file(&path);
        result.map_err(|e| StorageError::io("write probe file", &path, e))?;
        removed.map_err(|e| StorageError::io("remove probe file", &path, e))
    }

    /// The directory holding the blobs.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The directory where uploads are staged.
    pub fn temp_dir(&self) -> &Path {
        &self.inner.temp
    }

    /// Remove everything left in the temp directory (leftovers of crashed uploads).
    /// Call at startup only, before any upload begins. Returns the number of entries removed.
    pub fn clean_temp(&self) -> Result<usize, StorageError> {
        let dir = &self.inner.temp;
        let entries = fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("list", dir, e))?;
            let path = entry.path();
            let is_dir = entry
                .file_type()
                .map_err(|e| StorageError::io("stat", &path, e))?
                .is_dir();
            let result = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove", &path, e)),
            }
        }
        if removed > 0 {
            tracing::info!(dir = %dir.display(), removed, "removed leftover upload temp files");
        }
        Ok(removed)
    }

    /// Path of the blob with this SHA-256 (64 lowercase hex characters, else `InvalidDigest`).
    pub fn blob_path(&self, sha256: &str) -> Result<PathBuf, StorageError> {
        validate_sha256(sha256)?;
        Ok(self.shard_dir(sha256).join(sha256))
    }

    /// `<root>/<first two hex>`; `sha256` must already be validated.
    pub(crate) fn shard_dir(&self, sha256: &str) -> PathBuf {
        self.inner.root.join(&sha256[..2])
    }

    /// Open a stored blob for reading; `NotFound` when it does not exist.
    pub async fn open_blob(&self, sha256: &str) -> Result<tokio::fs::File, StorageError> {
        let path = self.blob_path(sha256)?;
        match tokio::fs::File::open(&path).await {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StorageError::NotFound(sha256.to_owned()))
            }
            Err(e) => Err(StorageError::io("open", path, e)),
        }
    }

    /// Whether a blob with this SHA-256 is stored.
    pub fn contains(&self, sha256: &str) -> Result<bool, StorageError> {
        let path = self.blob_path(sha256)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::io("stat", path, e)),
        }
    }

    /// Delete a blob file (garbage collection). A missing file is `Ok(false)`.
    pub fn remove_blob(&self, sha256: &str) -> Result<bool, StorageError> {
        let path = self.blob_path(sha256)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::io("remove", path, e)),
        }
    }

    /// Every stored blob as `(sha256, modification time)`, in no particular order (for the
    /// orphan sweep of garbage collection). Blocking; run it via `spawn_blocking`. Entries that
    /// are not `<xx>/<64 lowercase hex starting with xx>` (e.g. the temp dir) are skipped;
    /// files removed while listing are ignored.
    pub fn list_blobs(&self) -> Result<Vec<(String, SystemTime)>, StorageError> {
        let root = &self.inner.root;
        let mut blobs = Vec::new();
        for shard in fs::read_dir(root).map_err(|e| StorageError::io("list", root, e))? {
            let shard = shard.map_err(|e| StorageError::io("list", root, e))?;
            let Some(prefix) = shard.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if prefix.len() != 2 || validate_sha256(&prefix.repeat(32)).is_err() {
                continue;
            }
            let dir = shard.path();
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io("list", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| StorageError::io("list", &dir, e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if !name.starts_with(&prefix) || validate_sha256(&name).is_err() {
                    continue;
                }
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StorageError::io("stat", entry.path(), e)),
                };
                if !meta.is_file() {
                    continue;
                }
                let mtime = meta
                    .modified()
                    .map_err(|e| StorageError::io("stat", entry.path(), e))?;
                blobs.push((name, mtime));
            }
        }
        Ok(blobs)
    }

    /// Space used / available on the store's filesystem (for health output).
    // c_ulong / fsblkcnt_t are u64 on 64-bit Linux but narrower elsewhere.
    #[allow(clippy::useless_conversion)]
    pub fn disk_usage(&self) -> Result<DiskUsage, StorageError> {
        let root = &self.inner.root;
        let st = nix::sys::statvfs::statvfs(root.as_path())
            .map_err(|e| StorageError::io("statvfs", root, e.into()))?;
        let frag = u64::from(st.fragment_size());
        let blocks = u64::from(st.blocks());
        let free = u64::from(st.blocks_free());
        Ok(DiskUsage {
            total: blocks.saturating_mul(frag),
            used: blocks.saturating_sub(free).saturating_mul(frag),
            available: u64::from(st.blocks_available()).saturating_mul(frag),
        })
    }
}

/// fsync a directory so that entries created/renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io("fsync directory", dir, e))
}

/// A file in the temp directory that is deleted on drop unless disarmed.
#[derive(Debug)]
pub(crate) struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        TempFile { path, armed: true }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file has been moved away; do not delete anything on drop.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "failed to remove upload temp file")
            }
        }
    }
}

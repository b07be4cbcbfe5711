//! `cache-fs`: a node-local, size-bounded LRU copy of binaries kept in front of slower or
//! remote tiers.
//!
//! Layout is the file store's (`<dir>/<sha[..2]>/<sha>`, downloads staged in `<dir>/_pre`).
//! The LRU order lives in memory; at start it is rebuilt from the files' modification times,
//! which is a good enough approximation of "recently used" after a restart.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arca_config::storage_plan::CacheFsSpec;

use crate::store::TempFile;
use crate::{FileStore, StorageError};

/// Usage figures for the storage summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheUsage {
    pub entries: usize,
    pub bytes: u64,
    pub max_bytes: u64,
}

#[derive(Debug, Default)]
struct Lru {
    /// sha256 → (last-use tick, size)
    entries: HashMap<String, (u64, u64)>,
    /// last-use tick → sha256 (ticks are unique)
    order: BTreeMap<u64, String>,
    bytes: u64,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, sha256: &str, size: u64) {
        self.tick += 1;
        let tick = self.tick;
        match self.entries.insert(sha256.to_owned(), (tick, size)) {
            Some((old_tick, old_size)) => {
                self.order.remove(&old_tick);
                self.bytes = self.bytes - old_size + size;
            }
            None => self.bytes += size,
        }
        self.order.insert(tick, sha256.to_owned());
    }

    fn forget(&mut self, sha256: &str) -> Option<u64> {
        let (tick, size) = self.entries.remove(sha256)?;
        self.order.remove(&tick);
        self.bytes -= size;
        Some(size)
    }

    fn oldest(&self) -> Option<String> {
        self.order.values().next().cloned()
    }
}

/// The cache tier.
#[derive(Debug)]
pub struct CacheFs {
    store: FileStore,
    spec: CacheFsSpec,
    lru: Mutex<Lru>,
}

impl CacheFs {
    /// Open (creating) the cache directory, drop leftovers of interrupted downloads and index
    /// what is there, evicting down to `maxCacheSize` if it was lowered.
    pub fn open(spec: &CacheFsSpec) -> Result<CacheFs, StorageError> {
        let store = FileStore::open(spec.dir.clone(), spec.dir.join("_pre"))?;
        store.clean_temp()?;
        let mut listed = store.list_blobs()?;
        listed.sort_by_key(|(_, mtime)| *mtime);
        let mut lru = Lru::default();
        for (sha, _) in listed {
            let size = match store.blob_path(&sha).and_then(|p| {
                fs::metadata(&p)
                    .map(|m| m.len())
                    .map_err(|e| StorageError::io("stat", p, e))
            }) {
                Ok(size) => size,
                Err(_) => continue, // removed while listing
            };
            lru.touch(&sha, size);
        }
        let cache = CacheFs {
            store,
            spec: spec.clone(),
            lru: Mutex::new(lru),
        };
        cache.evict();
        Ok(cache)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        self.store.root()
    }

    /// The store holding the cached files (its temp dir stages downloads and, for chains
    /// without a local persistent store, uploads).
    pub fn store(&self) -> &FileStore {
        &self.store
    }

    /// Whether uploads are copied into the cache (`skipDuringUpload=false`).
    pub fn caches_uploads(&self) -> bool {
        !self.spec.skip_during_upload
    }

    /// Whether cached copies are verified against their SHA-256 when read.
    pub fn validates(&self) -> bool {
        self.spec.validate_checksum
    }

    /// Whether a binary of this size may be cached at all.
    pub fn admits(&self, size: u64) -> bool {
        size <= self.spec.max_cache_size && self.spec.max_file_size_limit.is_none_or(|m| size <= m)
    }

    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        // A poisoned lock only means another thread panicked mid-update of plain counters.
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Path of the cached copy, marking it recently used; `None` when not cached.
    pub fn get(&self, sha256: &str) -> Option<PathBuf> {
        let path = self.store.blob_path(sha256).ok()?;
        let size = match fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            _ => {
                self.lru().forget(sha256);
                return None;
            }
        };
        self.lru().touch(sha256, size);
        Some(path)
    }

    /// Put a copy of a committed local file into the cache (hard link when on the same
    /// filesystem, else a copy). Best effort: a cache that cannot take the file is not an
    /// error for the caller, so failures are logged and swallowed.
    pub fn insert_copy_of(&self, src: &Path, sha256: &str, size: u64) {
        if !self.admits(size) {
            return;
        }
        let result = (|| -> Result<(), StorageError> {
            // A copy, not a hard link: a link would share one inode with the persistent copy,
            // so corruption of either would be corruption of both and the cache could not
            // stand in for a bad filestore copy (or the other way round). `fs::copy` uses
            // copy_file_range, which shares extents where the filesystem can (reflinks).
            let temp = self.store.reserve_temp_path();
            fs::copy(src, temp.path())
                .map_err(|e| StorageError::io("copy into cache", temp.path(), e))?;
            self.store.place(temp, sha256, size)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.lru().touch(sha256, size);
                self.evict();
            }
            Err(e) => tracing::warn!(sha256, error = %e, "could not copy a binary into the cache"),
        }
    }

    /// A fresh (not yet existing) temp path in the cache's `_pre` for a download; whatever is
    /// there is deleted on drop unless adopted.
    pub(crate) fn temp_path(&self) -> TempFile {
        self.store.reserve_temp_path()
    }

    /// Move a downloaded, verified temp file into the cache; returns its path.
    pub(crate) fn adopt(
        &self,
        temp: TempFile,
        sha256: &str,
        size: u64,
    ) -> Result<PathBuf, StorageError> {
        self.store.place(temp, sha256, size)?;
        self.lru().touch(sha256, size);
        self.evict();
        self.store.blob_path(sha256)
    }

    /// Drop a cached copy (garbage collection, quarantine). Missing is fine.
    pub fn remove(&self, sha256: &str) -> Result<(), StorageError> {
        self.lru().forget(sha256);
        self.store.remove_blob(sha256).map(|_| ())
    }

    /// Remove least recently used files until the cache fits `maxCacheSize`. Files being
    /// read stay readable by their open handles (unlinking does not truncate them).
    fn evict(&self) {
        loop {
            let victim = {
                let lru = self.lru();
                if lru.bytes <= self.spec.max_cache_size {
                    return;
                }
                lru.oldest()
            };
            let Some(sha) = victim else { return };
            self.lru().forget(&sha);
            if let Err(e) = self.store.remove_blob(&sha) {
                tracing::warn!(sha256 = %sha, error = %e, "could not evict a cached binary");
            }
        }
    }

    pub fn usage(&self) -> CacheUsage {
        let lru = self.lru();
        CacheUsage {
            entries: lru.entries.len(),
            bytes: lru.bytes,
            max_bytes: self.spec.max_cache_size,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(dir: &Path, max: u64) -> CacheFsSpec {
        CacheFsSpec {
            id: "cache-fs".into(),
            dir: dir.to_path_buf(),
            max_cache_size: max,
            max_file_size_limit: Some(max / 2),
            skip_during_upload: false,
            validate_checksum: true,
        }
    }

    fn sha(n: u8) -> String {
        format!("{:02x}", n).repeat(32)
    }

    #[test]
    fn evicts_least_recently_used_and_respects_limits() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheFs::open(&spec(&dir.path().join("cache"), 300)).unwrap();
        let src = dir.path().join("src");
        fs::write(&src, vec![7u8; 100]).unwrap();
        for n in 1..=3 {
            cache.insert_copy_of(&src, &sha(n), 100);
        }
        assert_eq!(cache.usage().bytes, 300);
        // 1 becomes the most recently used; inserting 4 evicts 2, the least recently used.
        assert!(cache.get(&sha(1)).is_some());
        cache.insert_copy_of(&src, &sha(4), 100);
        assert!(cache.get(&sha(2)).is_none());
        for n in [1, 3, 4] {
            assert!(cache.get(&sha(n)).is_some(), "{n} should be cached");
        }
        assert_eq!(cache.usage().entries, 3);
        // larger than maxFileSizeLimit (150): not cached
        let big = dir.path().join("big");
        fs::write(&big, vec![1u8; 200]).unwrap();
        cache.insert_copy_of(&big, &sha(5), 200);
        assert!(cache.get(&sha(5)).is_none());
        // the index is rebuilt at start
        drop(cache);
        let again = CacheFs::open(&spec(&dir.path().join("cache"), 300)).unwrap();
        assert_eq!(again.usage().entries, 3);
        // lowering the limit evicts at start
        drop(again);
        let small = CacheFs::open(&spec(&dir.path().join("cache"), 150)).unwrap();
        assert_eq!(small.usage().entries, 1);
        assert!(small.usage().bytes <= 150);
    }
}

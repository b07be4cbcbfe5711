//! The storage chain a node runs: the tiers of a [`StoragePlan`] put together.
//!
//! Write path (the server drives it around its DB transaction):
//!
//! 1. [`Storage::begin_upload`] streams into the node-local staging dir while hashing;
//! 2. [`Storage::prepare`] (before the transaction) does the network part of a deploy: the
//!    object-store upload of a `-direct` chain;
//! 3. [`Storage::commit`] (inside the transaction, synchronous) makes the content durable and
//!    visible in the persistent tier: rename into the file store, or into the eventual
//!    queue's `_add` for the mover to upload, or (direct chains) a HEAD proving the object is
//!    there — deletions of remote objects also run inside a write transaction after checking
//!    the binary is unreferenced, so a deploy and a delete of the same content serialise;
//! 4. [`Storage::after_commit`] copies the upload into the cache.
//!
//! Read path: [`Storage::locate`] tries the cache, then the node's own persistent copy (file
//! store, or an upload still waiting in the eventual queue), then the peers of a
//! sharding-cluster (for `cluster-s3-storage-v3`: the peers recorded as holding a copy not
//! uploaded yet), then the object store, then (sharding-cluster) any other peer. Remote
//! copies are downloaded into the cache (or a temp file) and verified against the SHA-256
//! before they are served; local copies are verified by the reader while it streams them,
//! and a corrupt copy is moved to quarantine with [`Storage::quarantine`], so the next
//! [`Storage::locate`] falls through to the next tier.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arca_config::storage_plan::{
    BackendSpec, ClusterLocalSpec, ObjectStoreSpec, RetrySpec, StoragePlan,
};

use crate::cache::{CacheFs, CacheUsage};
use crate::eventual::{Backlog, EventualQueue};
use crate::own_store::{OwnStore, quarantine_path};
use crate::retry::with_retry;
use crate::s3::ObjectStore;
use crate::sharding::{ClusterContext, ClusterTier, PeerScope};
use crate::store::TempFile;
use crate::{Checksums, FileStore, StagedBlob, StorageError, Upload};

/// Run-time inputs that are not in the plan.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    /// In a cluster each node stages uploads in its own sub-directory of the staging dir (it
    /// may be on a mount shared by the nodes, and each node empties its own at start).
    pub node_id: Option<String>,
    /// Unsealed object-store credentials (`identity`, `credential`).
    pub identity: Option<String>,
    pub credential: Option<String>,
    /// Database and node identity for a sharding-cluster chain (required by it only).
    pub cluster: Option<ClusterContext>,
}

/// Which tier a copy was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Cache,
    FileStore,
    /// An upload waiting in the eventual queue.
    Pending,
    ObjectStore,
    /// Another node of a sharding-cluster.
    Peer,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Cache => "cache",
            Tier::FileStore => "filestore",
            Tier::Pending => "eventual",
            Tier::ObjectStore => "object store",
            Tier::Peer => "peer node",
        }
    }
}

/// A local file holding a binary, ready to be served.
#[derive(Debug)]
pub struct Located {
    pub path: PathBuf,
    pub tier: Tier,
    /// Already checked against the SHA-256 (downloads are); else ask
    /// [`Storage::needs_no_check`] once the file is open.
    pub verified: bool,
    /// Set when the file is a one-off download that disappears when this is dropped (an open
    /// handle keeps it readable).
    _temp: Option<TempFile>,
}

/// What the storage summary endpoint shows.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageSummary {
    pub chain: String,
    pub backend: &'static str,
    pub staging_dir: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_store_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eventual_dir: Option<PathBuf>,
}

#[derive(Debug)]
enum Backend {
    FileSystem(FileStore),
    ObjectStore(ObjectTier),
    /// A sharding-cluster; `objects` is the object store below its `eventual-cluster` queues
    /// (`cluster-s3-storage-v3`), with the node's own queue as its `eventual`.
    Cluster {
        tier: ClusterTier,
        objects: Option<ObjectTier>,
    },
}

#[derive(Debug)]
struct ObjectTier {
    eventual: Option<EventualQueue>,
    retry: RetrySpec,
    objects: ObjectStore,
}

/// Bytes available to unprivileged writers on a filesystem.
// fsblkcnt_t and the fragment size are not u64 on every target
#[allow(clippy::useless_conversion)]
fn free_bytes(stat: &nix::sys::statvfs::Statvfs) -> u64 {
    u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()))
}

/// The running chain. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    description: String,
    /// Uploads are received here (its root is the store they are committed into when that is
    /// a local content-addressed store).
    staging: FileStore,
    cache: Option<CacheFs>,
    backend: Backend,
    /// The local copies this process hashed (see `trust.rs`).
    checked_here: crate::trust::CheckedHere,
}

impl Storage {
    /// Open every tier: create directories, index the cache, connect to the object store
    /// (and test it when `testConnection` is on).
    pub async fn open(plan: &StoragePlan, opts: StorageOptions) -> Result<Storage, StorageError> {
        let staging_dir = match &opts.node_id {
            Some(node) => plan.staging_dir.join(node),
            None => plan.staging_dir.clone(),
        };
        let cache = plan.cache.as_ref().map(CacheFs::open).transpose()?;
        let (backend, staging) = match &plan.backend {
            BackendSpec::FileSystem(fs_spec) => {
                let store = FileStore::open(fs_spec.file_store_dir.clone(), staging_dir)?;
                (Backend::FileSystem(store.clone()), store)
            }
            BackendSpec::ObjectStore(spec) => {
                let tier = ObjectTier::open(spec, &opts).await?;
                // Staged next to where a committed upload goes: the eventual queue, else the
                // cache (so it can be renamed in), else any local dir.
                let root = match (&tier.eventual, &cache) {
                    (Some(q), _) => q.add_dir().to_path_buf(),
                    (None, Some(c)) => c.dir().to_path_buf(),
                    (None, None) => plan.staging_dir.clone(),
                };
                let staging = FileStore::open(root, staging_dir)?;
                (Backend::ObjectStore(tier), staging)
            }
            BackendSpec::Cluster(spec) => {
                let Some(ctx) = &opts.cluster else {
                    return Err(StorageError::Unusable {
                        path: plan.staging_dir.clone(),
                        reason: format!(
                            "chain '{}' (sharding-cluster) needs the node's database",
                            plan.description
                        ),
                    });
                };
                let objects = match &spec.local {
                    ClusterLocalSpec::ObjectStore(os) => Some(ObjectTier::open(os, &opts).await?),
                    ClusterLocalSpec::StateAware(_) => None,
                };
                let tier = ClusterTier::open(
                    spec,
                    staging_dir,
                    ctx,
                    objects.as_ref().map(|o| o.objects.clone()),
                )?;
                let staging = tier.staging().clone();
                (Backend::Cluster { tier, objects }, staging)
            }
        };
        Ok(Storage {
            inner: Arc::new(Inner {
                description: plan.description.clone(),
                staging,
                cache,
                backend,
                checked_here: Default::default(),
            }),
        })
    }

    /// e.g. `cache-fs -> eventual -> retry -> s3-storage-v3`.
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// Where this node stages uploads.
    pub fn staging_dir(&self) -> &Path {
        self.inner.staging.temp_dir()
    }

    /// Free bytes (for unprivileged writers) on the local filesystems an upload is written to
    /// — the staging dir and the local file store — the smallest of them, with its directory.
    pub fn free_space(&self) -> Result<(u64, PathBuf), StorageError> {
        let mut dirs = vec![self.staging_dir().to_path_buf()];
        if let Some(store) = self.file_store() {
            dirs.push(store.root().to_path_buf());
        }
        let mut smallest: Option<(u64, PathBuf)> = None;
        for dir in dirs {
            let stat = nix::sys::statvfs::statvfs(&dir).map_err(|e| {
                StorageError::io("statvfs", &dir, std::io::Error::from_raw_os_error(e as i32))
            })?;
            let free = free_bytes(&stat);
            if smallest.as_ref().is_none_or(|(f, _)| free < *f) {
                smallest = Some((free, dir));
            }
        }
        smallest.ok_or_else(|| StorageError::Unusable {
            path: self.staging_dir().to_path_buf(),
            reason: "no local directory to measure".into(),
        })
    }

    /// The local persistent file store, if the chain has one (for GC's orphan sweep and
    /// health output).
    pub fn file_store(&self) -> Option<&FileStore> {
        match &self.inner.backend {
            Backend::FileSystem(store) => Some(store),
            Backend::ObjectStore(_) => None,
            Backend::Cluster { tier, .. } => match tier.own() {
                OwnStore::Files(store) => Some(store),
                OwnStore::Queue(_) => None,
            },
        }
    }

    /// The eventual queue, if the chain has one.
    pub fn eventual(&self) -> Option<&EventualQueue> {
        self.object_tier().and_then(|t| t.eventual.as_ref())
    }

    fn object_tier(&self) -> Option<&ObjectTier> {
        match &self.inner.backend {
            Backend::ObjectStore(t) => Some(t),
            Backend::Cluster { objects, .. } => objects.as_ref(),
            Backend::FileSystem(_) => None,
        }
    }

    /// The object store, if the chain has one.
    pub fn object_store(&self) -> Option<&ObjectStore> {
        self.object_tier().map(|t| &t.objects)
    }

    /// The sharding-cluster tier, if the chain is one.
    pub fn cluster(&self) -> Option<&ClusterTier> {
        match &self.inner.backend {
            Backend::Cluster { tier, .. } => Some(tier),
            Backend::FileSystem(_) | Backend::ObjectStore(_) => None,
        }
    }

    /// Remove leftovers of interrupted uploads from this node's staging dir (start-up only).
    pub fn clean_staging(&self) -> Result<usize, StorageError> {
        self.inner.staging.clean_temp()
    }

    /// Start receiving an upload.
    pub async fn begin_upload(&self) -> Result<Upload, StorageError> {
        self.inner.staging.begin_upload().await
    }

    /// Before the DB transaction: the network part of storing `staged` (direct chains upload
    /// to the object store here, with retries).
    pub async fn prepare(&self, staged: &StagedBlob) -> Result<(), StorageError> {
        if let Backend::ObjectStore(t) = &self.inner.backend
            && t.eventual.is_none()
        {
            let (path, sums) = (staged.path().to_path_buf(), staged.checksums().clone());
            with_retry(&t.retry, "upload to the object store", || {
                t.objects.put_file(&path, &sums)
            })
            .await?;
        }
        // sharding-cluster: copies on peers, so the binary has its redundancy at commit —
        // unless it is known and below an object store (uploaded, or queued on its holders)
        if let Backend::Cluster { tier, objects } = &self.inner.backend
            && !(objects.is_some() && tier.binary_known(&staged.checksums().sha256).await)
        {
            tier.replicate(staged.path(), staged.checksums()).await?;
        }
        Ok(())
    }

    /// Inside the DB write transaction: make the content durable in the persistent tier.
    /// `known` says the database already had the binary before this transaction: then an
    /// eventual queue does not take it again (it is in the object store, or queued already —
    /// a garbage collection of it would have deleted the row first). Synchronous (it runs on the transaction's blocking thread); a direct chain's HEAD
    /// check blocks on the runtime handle, which is fine on a blocking thread.
    pub fn commit(&self, staged: StagedBlob, known: bool) -> Result<Committed, StorageError> {
        let sums = staged.checksums().clone();
        match &self.inner.backend {
            Backend::FileSystem(store) => {
                let path = store.blob_path(&sums.sha256)?;
                if staged.commit_into(store)? {
                    // hashed on its way in (a copy already there is not: it was kept instead)
                    self.written(&sums.sha256, &path);
                }
                Ok(Committed { path, sums })
            }
            Backend::Cluster {
                objects: Some(_), ..
            } if known => Ok(Committed {
                path: PathBuf::new(),
                sums,
            }),
            Backend::Cluster { tier, .. } => {
                let path = tier.commit_local(staged)?.unwrap_or_default();
                Ok(Committed { path, sums })
            }
            Backend::ObjectStore(t) => match &t.eventual {
                Some(_) if known => Ok(Committed {
                    path: PathBuf::new(),
                    sums,
                }),
                Some(queue) => {
                    staged.commit_with(|src, s| queue.commit_add(src, &s.sha256))?;
                    let path = queue.add_dir().join(&sums.sha256);
                    Ok(Committed { path, sums })
                }
                None => {
                    let handle = tokio::runtime::Handle::current();
                    let present = handle.block_on(t.objects.head(&sums.sha256))?;
                    if present != Some(sums.size) {
                        return Err(StorageError::Unusable {
                            path: PathBuf::from(t.objects.object_key(&sums.sha256)),
                            reason: "the object uploaded for this deploy is gone (deleted \
                                     concurrently); deploy again"
                                .into(),
                        });
                    }
                    // Keep the staged file as the cached copy when there is a cache (it was
                    // staged inside the cache directory, so this is a rename).
                    match &self.inner.cache {
                        Some(cache) if cache.admits(sums.size) => {
                            let path = cache.store().blob_path(&sums.sha256)?;
                            staged.commit_into(cache.store())?;
                            Ok(Committed { path, sums })
                        }
                        _ => Ok(Committed {
                            path: PathBuf::new(),
                            sums,
                        }),
                    }
                }
            },
        }
    }

    /// Store a copy of the binary in the file at `path` (its content must have `sha256`) in
    /// this chain's persistent tier, as a deploy would but without a database transaction: a
    /// storage migration (`arcactl storage migrate`). A sharding-cluster keeps it in this
    /// node's own store only (the peers may be stopped; the cluster's redundancy restore copies
    /// it to them later); an eventual queue takes it like an upload.
    pub async fn import(&self, path: &Path, sha256: &str) -> Result<(), StorageError> {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| StorageError::io("open", path, e))?;
        let mut upload = self.begin_upload().await?;
        loop {
            let mut chunk = bytes::BytesMut::with_capacity(256 * 1024);
            let n = file
                .read_buf(&mut chunk)
                .await
                .map_err(|e| StorageError::io("read", path, e))?;
            if n == 0 {
                break;
            }
            upload.write(chunk.freeze()).await?;
        }
        let staged = upload.finish().await?;
        if staged.checksums().sha256 != sha256 {
            return Err(StorageError::Unusable {
                path: path.to_path_buf(),
                reason: format!(
                    "its content has SHA-256 {}, not the binary's {sha256}",
                    staged.checksums().sha256
                ),
            });
        }
        if !matches!(self.inner.backend, Backend::Cluster { .. }) {
            self.prepare(&staged).await?;
        }
        // commit() may block on the runtime (a direct object store's HEAD): off this thread.
        let storage = self.clone();
        let committed = tokio::task::spawn_blocking(move || storage.commit(staged, false))
            .await
            .map_err(|e| StorageError::Unavailable(format!("import worker: {e}")))??;
        self.after_commit(&committed);
        Ok(())
    }

    /// After the transaction committed: copy the upload into the cache (unless
    /// `skipDuringUpload`). Best effort.
    pub fn after_commit(&self, committed: &Committed) {
        if let Backend::Cluster { tier, .. } = &self.inner.backend
            && !committed.path.as_os_str().is_empty()
        {
            tier.note_local_copy(&committed.sums.sha256);
        }
        let Some(cache) = &self.inner.cache else {
            return;
        };
        if !cache.caches_uploads() || committed.path.as_os_str().is_empty() {
            return;
        }
        if committed.path.starts_with(cache.dir()) {
            return; // already the cached copy
        }
        cache.insert_copy_of(&committed.path, &committed.sums.sha256, committed.sums.size);
    }

    /// Synchronous lookup of a local copy (cache, file store, pending upload); no network.
    pub fn locate_local(&self, sha256: &str) -> Result<Option<Located>, StorageError> {
        let local = |path: PathBuf, tier: Tier| Located {
            path,
            tier,
            verified: false,
            _temp: None,
        };
        if let Some(cache) = &self.inner.cache
            && let Some(path) = cache.get(sha256)
        {
            return Ok(Some(local(path, Tier::Cache)));
        }
        match &self.inner.backend {
            Backend::FileSystem(store) => {
                if store.contains(sha256)? {
                    return Ok(Some(local(store.blob_path(sha256)?, Tier::FileStore)));
                }
            }
            Backend::Cluster { tier, .. } => {
                if let Some(found) = own_copy(tier.own(), sha256)? {
                    return Ok(Some(found));
                }
            }
            Backend::ObjectStore(t) => {
                if let Some(path) = t.eventual.as_ref().and_then(|q| q.pending_add(sha256)) {
                    return Ok(Some(local(path, Tier::Pending)));
                }
            }
        }
        Ok(None)
    }

    /// Whether a reader may send `located` without hashing it; `meta` is the metadata of the
    /// file it opened (`File::metadata`, so the answer is about that very file): a verified
    /// download, or a file this process hashed and that is unchanged since (`trust.rs`) —
    /// except in a cache that validates every read (`validateChecksum=true`).
    pub fn needs_no_check(&self, located: &Located, sha256: &str, meta: &fs::Metadata) -> bool {
        if located.verified {
            return true;
        }
        if located.tier == Tier::Cache && self.inner.cache.as_ref().is_some_and(CacheFs::validates)
        {
            return false;
        }
        self.inner.checked_here.holds(sha256, meta)
    }

    /// A reader hashed the whole file it opened (`meta`: its metadata at open) and it is
    /// `sha256`: later reads send it without hashing while it stays unchanged.
    pub fn checked(&self, sha256: &str, meta: &fs::Metadata) {
        self.inner.checked_here.insert(sha256, meta);
    }

    /// The file at `path` was just written from bytes hashed as `sha256`.
    fn written(&self, sha256: &str, path: &Path) {
        if let Ok(meta) = fs::metadata(path) {
            self.inner.checked_here.insert(sha256, &meta);
        }
    }

    /// Find a copy, fetching it from a remote tier when no local one exists. A fetched copy is
    /// verified (size and SHA-256) before it is returned; a mismatch is an error naming the
    /// tier and nothing corrupt is kept.
    pub async fn locate(&self, sha256: &str, size: u64) -> Result<Located, StorageError> {
        if let Some(found) = self.locate_local(sha256)? {
            return Ok(found);
        }
        match &self.inner.backend {
            Backend::FileSystem(_) => Err(StorageError::NotFound(sha256.to_owned())),
            Backend::ObjectStore(t) => {
                self.fetch_into(sha256, size, Tier::ObjectStore, |dest| async move {
                    with_retry(&t.retry, "download from the object store", || {
                        t.objects.download_to(sha256, &dest)
                    })
                    .await
                })
                .await
            }
            Backend::Cluster {
                tier,
                objects: None,
            } => {
                self.fetch_into(sha256, size, Tier::Peer, |dest| async move {
                    tier.fetch(sha256, size, &dest, PeerScope::All).await
                })
                .await
            }
            Backend::Cluster {
                tier,
                objects: Some(t),
            } => {
                // A binary not uploaded yet is on the nodes that recorded a copy; most
                // binaries are in the object store; the rows may lag behind, so the other
                // peers are asked last. A failing tier does not stop the search: a holder that
                // just died may still look active, and S3 has the binary by then.
                let from_holders = self
                    .fetch_into(sha256, size, Tier::Peer, |dest| async move {
                        tier.fetch(sha256, size, &dest, PeerScope::Recorded).await
                    })
                    .await;
                let holders_err = match from_holders {
                    Ok(found) => return Ok(found),
                    Err(e) => e,
                };
                let from_store = self
                    .fetch_into(sha256, size, Tier::ObjectStore, |dest| async move {
                        with_retry(&t.retry, "download from the object store", || {
                            t.objects.download_to(sha256, &dest)
                        })
                        .await
                    })
                    .await;
                let store_err = match from_store {
                    Ok(found) => return Ok(found),
                    Err(e) => e,
                };
                let from_others = self
                    .fetch_into(sha256, size, Tier::Peer, |dest| async move {
                        tier.fetch(sha256, size, &dest, PeerScope::Unrecorded).await
                    })
                    .await;
                match from_others {
                    Ok(found) => Ok(found),
                    // Nobody has it for sure only if every tier said so; otherwise report the
                    // failure that may have hidden it (the object store's first).
                    Err(others_err) => Err([store_err, holders_err, others_err]
                        .into_iter()
                        .find(|e| !matches!(e, StorageError::NotFound(_)))
                        .unwrap_or_else(|| StorageError::NotFound(sha256.to_owned()))),
                }
            }
        }
    }

    /// The node's own persistent copy only (file store / the sharding-cluster's own store):
    /// no cache, no network. What the peer endpoint serves, so a peer request never travels
    /// on to another node.
    pub fn locate_own(&self, sha256: &str) -> Result<Option<Located>, StorageError> {
        match &self.inner.backend {
            Backend::Cluster { tier, .. } => own_copy(tier.own(), sha256),
            _ => match self.file_store() {
                Some(store) => own_copy(&OwnStore::Files(store.clone()), sha256),
                None => Ok(None),
            },
        }
    }

    /// Download a copy from a remote tier with `fetch(dest)`: into the cache when it takes
    /// the size, else into a temp file that lives as long as the returned copy. The download
    /// is verified (size and SHA-256) before it is adopted; a corrupt one is deleted.
    async fn fetch_into<F, Fut>(
        &self,
        sha256: &str,
        size: u64,
        tier: Tier,
        fetch: F,
    ) -> Result<Located, StorageError>
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: std::future::Future<Output = Result<Checksums, StorageError>>,
    {
        let cache = self.inner.cache.as_ref().filter(|c| c.admits(size));
        let temp = match cache {
            Some(c) => c.temp_path(),
            None => self.inner.staging.reserve_temp_path(),
        };
        let dest = temp.path().to_path_buf();
        let sums = fetch(dest.clone()).await?;
        verify_fetched(&sums, sha256, size, tier)?;
        let (path, temp) = match cache {
            Some(c) => (c.adopt(temp, sha256, size)?, None),
            None => (dest, Some(temp)),
        };
        self.written(sha256, &path);
        Ok(Located {
            path,
            tier,
            verified: true,
            _temp: temp,
        })
    }

    /// A copy failed verification: move it out of the way (to `<its dir>/.quarantine/`) so
    /// the next lookup uses another tier. Pending uploads are never moved: they are the only
    /// copy, so they are reported instead.
    pub fn quarantine(&self, located: &Located, sha256: &str) -> Result<(), StorageError> {
        self.inner.checked_here.remove(sha256);
        tracing::error!(
            arca_sha256 = sha256,
            tier = located.tier.name(),
            path = %located.path.display(),
            "stored copy does not match its SHA-256; quarantining it"
        );
        if located.tier == Tier::Pending || located._temp.is_some() {
            return Ok(());
        }
        match located.tier {
            Tier::Cache => {
                if let Some(c) = &self.inner.cache {
                    let dest = quarantine_path(c.dir(), sha256)?;
                    fs::rename(&located.path, &dest)
                        .map_err(|e| StorageError::io("quarantine", &dest, e))?;
                    c.remove(sha256)?;
                }
            }
            Tier::FileStore => match &self.inner.backend {
                Backend::Cluster { tier, .. } => {
                    tier.own().quarantine(sha256)?;
                    tier.note_local_copy_gone(sha256);
                }
                _ => {
                    if let Some(store) = self.file_store() {
                        OwnStore::Files(store.clone()).quarantine(sha256)?;
                    }
                }
            },
            _ => {}
        }
        Ok(())
    }

    /// Garbage collection, inside its DB write transaction, after the binary's row was
    /// deleted: drop the local copies and the remote object (queued for the mover when the
    /// chain has an eventual queue; else deleted now, and left to the orphan sweep if the
    /// object store is unreachable).
    pub fn remove(&self, sha256: &str) -> Result<(), StorageError> {
        if let Some(cache) = &self.inner.cache {
            cache.remove(sha256)?;
        }
        match &self.inner.backend {
            Backend::FileSystem(store) => {
                store.remove_blob(sha256)?;
            }
            Backend::Cluster { tier, objects } => {
                tier.remove(sha256)?;
                if let Some(queue) = objects.as_ref().and_then(|t| t.eventual.as_ref()) {
                    queue.request_delete(sha256)?;
                }
            }
            Backend::ObjectStore(t) => match &t.eventual {
                Some(queue) => queue.request_delete(sha256)?,
                None => {
                    let handle = tokio::runtime::Handle::current();
                    if let Err(e) = handle.block_on(t.objects.delete(sha256)) {
                        tracing::warn!(
                            arca_sha256 = sha256,
                            error = %e,
                            "could not delete an unreferenced object; the orphan sweep will retry"
                        );
                    }
                }
            },
        }
        Ok(())
    }

    /// Backlog of the eventual queue, if any (read from the directory).
    pub fn backlog(&self) -> Option<Backlog> {
        self.eventual().map(EventualQueue::backlog)
    }

    pub fn summary(&self) -> StorageSummary {
        let (backend, file_store_dir, object_store, eventual_dir) = match &self.inner.backend {
            Backend::FileSystem(s) => ("file-system", Some(s.root().to_path_buf()), None, None),
            Backend::Cluster { tier, objects } => (
                "sharding-cluster",
                tier.own()
                    .queue()
                    .is_none()
                    .then(|| tier.own().root().to_path_buf()),
                objects.as_ref().map(|t| t.objects.describe()),
                tier.own().queue().map(|q| q.dir().to_path_buf()),
            ),
            Backend::ObjectStore(t) => (
                "object-store",
                None,
                Some(t.objects.describe()),
                t.eventual.as_ref().map(|q| q.dir().to_path_buf()),
            ),
        };
        StorageSummary {
            chain: self.inner.description.clone(),
            backend,
            staging_dir: self.staging_dir().to_path_buf(),
            file_store_dir,
            object_store,
            cache: self.inner.cache.as_ref().map(CacheFs::usage),
            eventual_dir,
        }
    }
}

impl ObjectTier {
    async fn open(spec: &ObjectStoreSpec, opts: &StorageOptions) -> Result<Self, StorageError> {
        let objects = ObjectStore::new(
            &spec.s3,
            opts.identity.as_deref(),
            opts.credential.as_deref(),
        )?;
        if spec.s3.test_connection {
            objects.test_connection().await?;
        }
        let eventual = spec
            .eventual
            .as_ref()
            .map(EventualQueue::open)
            .transpose()?;
        Ok(ObjectTier {
            eventual,
            retry: spec.retry.clone(),
            objects,
        })
    }
}

/// This node's own copy of `sha256` in `own`, unverified: a file-store copy, or an upload
/// waiting in the queue (never quarantined: it may be the only copy).
fn own_copy(own: &OwnStore, sha256: &str) -> Result<Option<Located>, StorageError> {
    if !own.contains(sha256)? {
        return Ok(None);
    }
    let tier = match own {
        OwnStore::Files(_) => Tier::FileStore,
        OwnStore::Queue(_) => Tier::Pending,
    };
    Ok(Some(Located {
        path: own.path(sha256)?,
        tier,
        verified: false,
        _temp: None,
    }))
}

/// The result of [`Storage::commit`]: where the content now is locally (empty path when
/// there is no local copy) and its checksums.
#[derive(Debug, Clone)]
pub struct Committed {
    path: PathBuf,
    sums: Checksums,
}

fn verify_fetched(
    sums: &Checksums,
    sha256: &str,
    size: u64,
    tier: Tier,
) -> Result<(), StorageError> {
    if sums.sha256 == sha256 && sums.size == size {
        return Ok(());
    }
    Err(StorageError::Corrupt {
        sha256: sha256.to_owned(),
        tier: tier.name(),
        detail: format!(
            "got {} bytes with SHA-256 {}, expected {size} bytes",
            sums.size, sums.sha256
        ),
    })
}

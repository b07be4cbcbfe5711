//! Streaming uploads.
//!
//! Chunks go through bounded queues to two blocking worker threads running in parallel:
//!
//! * the *writer* writes each chunk to the temp file and then feeds it to SHA-256 and SHA-1
//!   (with SHA-NI both together run at ~1 GB/s, so this thread keeps ahead of the other);
//! * the *md5* thread feeds MD5, the slowest digest (~650-700 MB/s, inherently serial).
//!
//! MD5 therefore bounds single-upload throughput. Two workers rather than one per digest on
//! purpose: with two cores, a third CPU-bound thread makes the scheduler time-slice the MD5
//! thread and throughput drops and fluctuates (measured). Chunks are `Bytes`, shared by
//! both queues without copying; small network frames are coalesced into 256 KiB batches.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{Buf, Bytes, BytesMut};
use digest::Digest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::join_error;
use crate::store::{TempFile, sync_dir};
use crate::{Checksums, FileStore, StorageError};

/// Incoming chunks smaller than this are copied together into batches of [`BATCH`] bytes, so
/// that tiny network frames don't cost two queue hand-offs each.
const DIRECT_MIN: usize = 64 * 1024;
/// Size of a coalesced batch.
const BATCH: usize = 256 * 1024;
/// Larger chunks are split (without copying) into pieces of at most this size.
const MAX_PIECE: usize = 256 * 1024;
/// Pieces queued per worker. Both workers share the same `Bytes`, so at most about
/// `(QUEUE + 2) * MAX_PIECE` bytes (4.5 MiB) are in flight per upload. Shallower queues
/// (8) measurably let the MD5 thread run dry when the writer hiccups.
const QUEUE: usize = 16;
/// While writing, ask the kernel to start writeback every this many bytes, so the final
/// fsync has little left to do.
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;

impl FileStore {
    /// Start a streaming upload into a new temp file `<temp_dir>/dbrecord<random>.bin`.
    pub async fn begin_upload(&self) -> Result<Upload, StorageError> {
        let store = self.clone();
        let (file, temp) = tokio::task::spawn_blocking(move || store.create_temp_file())
            .await
            .map_err(|e| join_error("create", e))??;
        let path = temp.path().to_path_buf();
        Ok(Upload {
            store: self.clone(),
            pipeline: Some(Pipeline::spawn(file, path)),
            temp,
            pending: BytesMut::new(),
            written: 0,
            busy: false,
        })
    }

    /// A fresh random path in the temp dir, not created: for writers that create the file
    /// themselves (downloads). Deleted on drop unless disarmed.
    pub(crate) fn reserve_temp_path(&self) -> TempFile {
        TempFile::new(
            self.temp_dir()
                .join(format!("dbrecord{:032x}.bin", rand::random::<u128>())),
        )
    }

    pub(crate) fn create_temp_file(&self) -> Result<(fs::File, TempFile), StorageError> {
        let mut attempt = 0;
        loop {
            let path = self
                .temp_dir()
                .join(format!("dbrecord{:032x}.bin", rand::random::<u128>()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => return Ok((f, TempFile::new(path))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(e) => return Err(StorageError::io("create temp file", path, e)),
            }
        }
    }
}

/// The two workers of one upload and the queues feeding them.
struct Pipeline {
    to_writer: mpsc::Sender<Bytes>,
    to_md5: mpsc::Sender<Bytes>,
    writer: JoinHandle<Result<Written, StorageError>>,
    md5: JoinHandle<String>,
}

/// What the writer thread hands back at end of stream.
struct Written {
    file: fs::File,
    len: u64,
    sha256: String,
    sha1: String,
}

impl Pipeline {
    fn spawn(file: fs::File, path: PathBuf) -> Pipeline {
        let (to_writer, rx) = mpsc::channel::<Bytes>(QUEUE);
        let writer = tokio::task::spawn_blocking(move || write_and_hash(file, &path, rx));

        let (to_md5, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let md5 = tokio::task::spawn_blocking(move || {
            let mut md5 = md5::Md5::new();
            while let Some(chunk) = rx.blocking_recv() {
                md5.update(&chunk);
            }
            hex::encode(md5.finalize())
        });

        Pipeline {
            to_writer,
            to_md5,
            writer,
            md5,
        }
    }

    /// Hand one piece to both workers. `Err(())` means a worker has stopped.
    async fn send(&self, piece: Bytes) -> Result<(), ()> {
        self.to_md5.send(piece.clone()).await.map_err(drop)?;
        self.to_writer.send(piece).await.map_err(drop)
    }

    /// A worker stopped early: find out why.
    async fn failure(self) -> StorageError {
        let Pipeline { writer, md5, .. } = self; // drops the senders: the other worker ends
        match writer.await {
            Ok(Err(e)) => return e,
            Err(e) => return join_error("writer", e),
            Ok(Ok(_)) => {}
        }
        if let Err(e) = md5.await {
            return join_error("md5", e);
        }
        StorageError::Worker("pipeline", "a worker stopped unexpectedly".to_owned())
    }
}

/// Writer thread body: write each chunk, then hash it with SHA-256 and SHA-1 (while it is
/// still in cache), until the queue closes.
fn write_and_hash(
    mut file: fs::File,
    path: &std::path::Path,
    mut rx: mpsc::Receiver<Bytes>,
) -> Result<Written, StorageError> {
    let mut sha256 = sha2::Sha256::new();
    let mut sha1 = sha1::Sha1::new();
    let mut len = 0u64;
    let mut flushed = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        file.write_all(&chunk)
            .map_err(|e| StorageError::io("write", path, e))?;
        len += chunk.len() as u64;
        if len - flushed >= WRITEBACK_EVERY {
            start_writeback(&file, flushed, len - flushed);
            flushed = len;
        }
        sha256.update(&chunk);
        sha1.update(&chunk);
    }
    Ok(Written {
        file,
        len,
        sha256: hex::encode(sha256.finalize()),
        sha1: hex::encode(sha1.finalize()),
    })
}

/// Start (not wait for) writeback of a freshly written range: on Linux, `POSIX_FADV_DONTNEED`
/// submits dirty pages for writeback without blocking on completion (pages still dirty or
/// under writeback are not dropped). Purely an optimisation; errors are ignored.
fn start_writeback(file: &fs::File, offset: u64, len: u64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
        use std::os::fd::AsRawFd;
        if let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) {
            let _ = posix_fadvise(
                file.as_raw_fd(),
                offset,
                len,
                PosixFadviseAdvice::POSIX_FADV_DONTNEED,
            );
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (file, offset, len);
}

/// A streaming upload into a temp file. Dropping it (e.g. the client disconnected mid-body)
/// deletes the temp file.
pub struct Upload {
    store: FileStore,
    // Declared before `temp`: on drop the queues close first, then the file is unlinked.
    pipeline: Option<Pipeline>,
    temp: TempFile,
    pending: BytesMut,
    written: u64,
    /// Set while a `write` is between its first and last hand-off; if still set on entry, a
    /// previous `write` future was cancelled half-way and the stream is inconsistent.
    busy: bool,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("temp", &self.temp.path())
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl Upload {
    /// Append a chunk: it is hashed (SHA-256, SHA-1 and MD5) and written to the temp file on
    /// background threads. Waits only when the bounded queues are full.
    ///
    /// If this future is cancelled before completing, the upload is poisoned.
    pub async fn write(&mut self, mut chunk: Bytes) -> Result<(), StorageError> {
        if self.busy || self.pipeline.is_none() {
            return Err(StorageError::Poisoned);
        }
        self.busy = true;
        self.written += chunk.len() as u64;
        while !chunk.is_empty() {
            if self.pending.is_empty() && chunk.len() >= DIRECT_MIN {
                let piece = chunk.split_to(chunk.len().min(MAX_PIECE));
                self.dispatch(piece).await?;
                continue;
            }
            if self.pending.capacity() == 0 {
                self.pending.reserve(BATCH);
            }
            let n = (BATCH - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..n]);
            chunk.advance(n);
            if self.pending.len() >= BATCH {
                let batch = self.pending.split().freeze();
                self.dispatch(batch).await?;
            }
        }
        self.busy = false;
        Ok(())
    }

    async fn dispatch(&mut self, piece: Bytes) -> Result<(), StorageError> {
        let Some(pipeline) = &self.pipeline else {
            return Err(StorageError::Poisoned);
        };
        if pipeline.send(piece).await.is_ok() {
            return Ok(());
        }
        match self.pipeline.take() {
            Some(p) => Err(p.failure().await),
            None => Err(StorageError::Poisoned),
        }
    }

    /// Number of bytes accepted so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flush and fsync the temp file and return the checksums. The data is then durable in the
    /// temp directory but not yet visible; [`StagedBlob::commit`] makes it visible.
    pub async fn finish(mut self) -> Result<StagedBlob, StorageError> {
        if self.busy {
            return Err(StorageError::Poisoned);
        }
        if !self.pending.is_empty() {
            let batch = self.pending.split().freeze();
            self.dispatch(batch).await?;
        }
        let Upload {
            store,
            pipeline,
            temp,
            written,
            ..
        } = self;
        let Pipeline {
            to_writer,
            to_md5,
            writer,
            md5,
        } = pipeline.ok_or(StorageError::Poisoned)?;
        drop((to_writer, to_md5));

        let Written {
            file,
            len,
            sha256,
            sha1,
        } = writer.await.map_err(|e| join_error("writer", e))??;
        if len != written {
            return Err(StorageError::SizeMismatch {
                path: temp.path().to_path_buf(),
                expected: written,
                actual: len,
            });
        }
        // fsync while the MD5 thread drains its queue.
        let path = temp.path().to_path_buf();
        let sync = tokio::task::spawn_blocking(move || {
            file.sync_all()
                .map_err(|e| StorageError::io("fsync", path, e))
        });
        let (sync, md5) = tokio::join!(sync, md5);
        sync.map_err(|e| join_error("fsync", e))??;
        let md5 = md5.map_err(|e| join_error("md5", e))?;

        Ok(StagedBlob {
            store,
            temp,
            checksums: Checksums {
                sha256,
                sha1,
                md5,
                size: written,
            },
        })
    }
}

/// A fully written, fsynced and hashed upload waiting in the temp directory.
/// Dropping it without [`commit`](StagedBlob::commit) deletes the temp file.
#[derive(Debug)]
pub struct StagedBlob {
    store: FileStore,
    temp: TempFile,
    checksums: Checksums,
}

impl StagedBlob {
    pub fn checksums(&self) -> &Checksums {
        &self.checksums
    }

    /// Atomically move the file into place (rename, then fsync the directory). If a blob with
    /// this SHA-256 already exists the existing file is kept and the temp file deleted (same
    /// content by definition). Returns true if a new file was placed.
    ///
    /// Synchronous on purpose: callers run it inside a DB write transaction (via
    /// `spawn_blocking`) so garbage collection cannot interleave.
    pub fn commit(self) -> Result<bool, StorageError> {
        let store = self.store.clone();
        self.commit_into(&store)
    }

    /// Like [`StagedBlob::commit`], into another store on the same filesystem (e.g. the
    /// cache, when the upload was staged there).
    pub fn commit_into(self, store: &FileStore) -> Result<bool, StorageError> {
        store.place(self.temp, &self.checksums.sha256, self.checksums.size)
    }

    /// Hand the staged file to `place`, which must move it away (e.g. rename it into a queue
    /// on the same filesystem); on success the temp file is no longer deleted on drop.
    pub fn commit_with(
        self,
        place: impl FnOnce(&Path, &Checksums) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        place(self.temp.path(), &self.checksums)?;
        self.temp.disarm();
        Ok(())
    }

    /// The staged file (complete and fsynced), e.g. to upload it elsewhere before committing.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }
}

impl FileStore {
    /// Move a complete, fsynced file of this filesystem into place as blob `sha256` (rename,
    /// then fsync the directory). If a blob with this SHA-256 already exists the existing file
    /// is kept and `temp` deleted (same content by definition). Returns true if a new file was
    /// placed.
    pub(crate) fn place(
        &self,
        temp: TempFile,
        sha256: &str,
        size: u64,
    ) -> Result<bool, StorageError> {
        let dest = self.blob_path(sha256)?;
        let shard = self.shard_dir(sha256);
        match fs::create_dir(&shard) {
            Ok(()) => sync_dir(self.root())?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StorageError::io("create directory", &shard, e)),
        }

        let src = temp.path();
        if !rename_noreplace(src, &dest)? {
            let existing = fs::metadata(&dest).map_err(|e| StorageError::io("stat", &dest, e))?;
            if existing.is_file() && existing.len() == size {
                return Ok(false); // dropping `temp` deletes the duplicate
            }
            tracing::warn!(
                path = %dest.display(),
                expected = size,
                actual = existing.len(),
                "stored blob has the wrong size, replacing it"
            );
            fs::rename(src, &dest).map_err(|e| StorageError::io("rename", &dest, e))?;
        }
        temp.disarm();
        sync_dir(&shard)?;
        Ok(true)
    }
}

/// Rename `src` to `dest` unless `dest` exists. `Ok(true)` when renamed, `Ok(false)` when
/// `dest` already existed.
fn rename_noreplace(src: &std::path::Path, dest: &std::path::Path) -> Result<bool, StorageError> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::errno::Errno;
        use nix::fcntl::{RenameFlags, renameat2};
        match renameat2(None, src, None, dest, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(Errno::EEXIST) => return Ok(false),
            // Filesystem or kernel without RENAME_NOREPLACE: fall back below.
            Err(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {}
            Err(e) => return Err(StorageError::io("rename", dest, e.into())),
        }
    }
    match fs::symlink_metadata(dest) {
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io("stat", dest, e)),
    }
    fs::rename(src, dest).map_err(|e| StorageError::io("rename", dest, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Writes to /dev/full fail with ENOSPC: the error must surface from `write` or `finish`.
    #[tokio::test]
    async fn write_error_surfaces() {
        let Ok(file) = fs::OpenOptions::new().write(true).open("/dev/full") else {
            return; // no /dev/full on this system
        };
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path().join("fs"), dir.path().join("fs/_pre")).unwrap();
        let path = store.temp_dir().join("dbrecordfull.bin");
        let mut up = Upload {
            store: store.clone(),
            pipeline: Some(Pipeline::spawn(file, path.clone())),
            temp: TempFile::new(path),
            pending: BytesMut::new(),
            written: 0,
            busy: false,
        };
        let chunk = Bytes::from(vec![0u8; MAX_PIECE]);
        let mut err = None;
        for _ in 0..(4 * QUEUE) {
            if let Err(e) = up.write(chunk.clone()).await {
                err = Some(e);
                break;
            }
        }
        let err = match err {
            Some(e) => {
                // Once failed, the upload stays failed.
                assert!(matches!(up.write(chunk).await, Err(StorageError::Poisoned)));
                e
            }
            None => up.finish().await.unwrap_err(),
        };
        assert!(err.is_storage_full(), "{err}");
        assert!(err.to_string().contains("dbrecordfull.bin"), "{err}");
    }
}

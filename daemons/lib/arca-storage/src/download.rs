//! Writing a download to disk while hashing it, so a fetched copy is verified in the same pass.

use std::io::Write;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::error::join_error;
use crate::{Checksums, StorageError};

/// Downloaded chunks are coalesced into batches of this size before the writer thread gets
/// them (HTTP clients yield small frames; one hand-off each would cost more than hashing).
pub(crate) const BATCH: usize = 256 * 1024;
/// Batches queued for the writer thread (bounds the memory of one download to about 4 MiB).
const QUEUE: usize = 16;

/// Writes a download (from the object store or a peer) to its file and hashes it (SHA-256,
/// SHA-1, MD5) on one blocking thread. One thread rather than the upload pipeline's two: a
/// single download stream is network-bound well below the rate one core hashes all three
/// digests at. (The upload pipeline writes only into the file store's `_pre`, so it cannot be
/// reused for an arbitrary destination.)
pub(crate) struct HashingWriter {
    tx: mpsc::Sender<Bytes>,
    pending: BytesMut,
    /// `None` once its result was taken (after a failure).
    worker: Option<tokio::task::JoinHandle<Result<Checksums, StorageError>>>,
}

impl HashingWriter {
    pub(crate) fn spawn(mut file: std::fs::File, path: PathBuf) -> HashingWriter {
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let worker = tokio::task::spawn_blocking(move || {
            use digest::Digest;
            let mut sha256 = sha2::Sha256::new();
            let mut sha1 = sha1::Sha1::new();
            let mut md5 = md5::Md5::new();
            let mut size = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                file.write_all(&chunk)
                    .map_err(|e| StorageError::io("write", &path, e))?;
                sha256.update(&chunk);
                sha1.update(&chunk);
                md5.update(&chunk);
                size += chunk.len() as u64;
            }
            file.sync_all()
                .map_err(|e| StorageError::io("fsync", &path, e))?;
            Ok(Checksums {
                sha256: hex::encode(sha256.finalize()),
                sha1: hex::encode(sha1.finalize()),
                md5: hex::encode(md5.finalize()),
                size,
            })
        });
        HashingWriter {
            tx,
            pending: BytesMut::new(),
            worker: Some(worker),
        }
    }

    /// Add a received chunk (batched before it goes to the writer thread). Fails with the
    /// writer's error when it has stopped (a full disk, …).
    pub(crate) async fn push(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        self.pending.extend_from_slice(chunk);
        if self.pending.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StorageError> {
        let batch = self.pending.split().freeze();
        if self.tx.send(batch).await.is_ok() {
            return Ok(());
        }
        // The worker stopped: its result says why.
        Err(match self.result().await {
            Err(e) => e,
            Ok(_) => StorageError::Worker("download", "the writer stopped unexpectedly".into()),
        })
    }

    async fn result(&mut self) -> Result<Checksums, StorageError> {
        match self.worker.take() {
            Some(worker) => worker.await.map_err(|e| join_error("download", e))?,
            None => Err(StorageError::Worker(
                "download",
                "the writer already failed".into(),
            )),
        }
    }

    /// Close the stream, wait for the fsync and return the checksums.
    pub(crate) async fn finish(mut self) -> Result<Checksums, StorageError> {
        if !self.pending.is_empty() {
            self.flush().await?;
        }
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, closed));
        self.result().await
    }
}

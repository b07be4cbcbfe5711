//! Scrubbing: re-read this node's own stored copies of a binary and check them against the
//! SHA-256 and size the database records, so a copy that rotted on disk is found before a
//! download would serve it.
//!
//! [`check_blob`] checks the copies the node holds itself — the cache-fs copy, the file store
//! copy (or a sharding-cluster node's own copy), an upload waiting in the eventual queue — and
//! never the network tiers (their copies are verified when they are downloaded). A corrupt copy
//! is moved to quarantine ([`Storage::quarantine`]); then [`Storage::locate`] looks for a good
//! one through the rest of the chain (peers, object store, a cached copy), and when the corrupt
//! copy was in the node's persistent store the good one is written back there
//! ([`Storage::import`]), so the redundancy is what it was.
//!
//! Reading ([`hash_file`]) runs on the calling (blocking) thread in 1 MiB reads, paced by a
//! [`Throttle`] (bytes per second, changeable while it runs, cancellable between reads). Files
//! are opened with `O_DIRECT` where the filesystem allows it: the bytes then come from the
//! disk, not from a cached page that may hide the rot, and the page cache (the downloads' hot
//! data) is left as it was. Elsewhere the file is read through the cache and its pages are
//! dropped afterwards (`POSIX_FADV_DONTNEED`).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use digest::Digest;

use crate::{Located, Storage, StorageError, Tier};

/// Bytes per read.
pub const READ_SIZE: usize = 1 << 20;
/// `O_DIRECT` buffers and offsets must be aligned to the device's logical block size; a page
/// covers every common one.
const DIRECT_ALIGN: usize = 4096;
/// A throttled reader sleeps in slices this long, so a cancel is seen quickly.
const SLEEP_SLICE: Duration = Duration::from_millis(100);
/// Pacing forgets an idle time longer than this (no burst after a pause between binaries).
const PACE_SLACK: Duration = Duration::from_secs(1);
/// Sources tried for a repair (each corrupt one is quarantined before the next is looked for).
const REPAIR_ATTEMPTS: usize = 3;

/// Why a check stopped without an outcome.
#[derive(Debug, thiserror::Error)]
pub enum ScrubError {
    /// [`Throttle::cancel`] was called (the server stops): the binary was not finished.
    #[error("scrub cancelled")]
    Cancelled,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Paces reads to a rate in bytes per second (0: unlimited) and carries the cancel flag.
/// Cheap to clone; clones share the pace.
#[derive(Debug, Clone)]
pub struct Throttle {
    inner: Arc<ThrottleInner>,
}

#[derive(Debug)]
struct ThrottleInner {
    rate: AtomicU64,
    cancelled: AtomicBool,
    pace: Mutex<Pace>,
}

/// Bytes read since `origin` at `rate`: the next read may start at `origin + bytes / rate`.
#[derive(Debug)]
struct Pace {
    origin: Instant,
    bytes: u64,
    rate: u64,
}

impl Throttle {
    pub fn new(bytes_per_sec: u64) -> Throttle {
        Throttle {
            inner: Arc::new(ThrottleInner {
                rate: AtomicU64::new(bytes_per_sec),
                cancelled: AtomicBool::new(false),
                pace: Mutex::new(Pace {
                    origin: Instant::now(),
                    bytes: 0,
                    rate: bytes_per_sec,
                }),
            }),
        }
    }

    /// The rate in bytes per second (0: unlimited).
    pub fn rate(&self) -> u64 {
        self.inner.rate.load(Ordering::Relaxed)
    }

    /// Change the rate; reads in progress follow it from their next read.
    pub fn set_rate(&self, bytes_per_sec: u64) {
        self.inner.rate.store(bytes_per_sec, Ordering::Relaxed);
    }

    /// Make every check in progress (and every later one until [`Throttle::resume`]) stop
    /// with [`ScrubError::Cancelled`] at its next read.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn resume(&self) {
        self.inner.cancelled.store(false, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    fn check_cancelled(&self) -> Result<(), ScrubError> {
        if self.is_cancelled() {
            return Err(ScrubError::Cancelled);
        }
        Ok(())
    }

    /// Account for `n` bytes just read; sleep (on this thread) until the rate allows more.
    fn spent(&self, n: u64) -> Result<(), ScrubError> {
        let due = {
            let mut pace = self.inner.pace.lock().unwrap_or_else(|p| p.into_inner());
            let rate = self.rate();
            let now = Instant::now();
            let behind = pace
                .origin
                .checked_add(Duration::from_secs_f64(
                    pace.bytes as f64 / pace.rate.max(1) as f64,
                ))
                .is_none_or(|due| due + PACE_SLACK < now);
            if rate != pace.rate || behind {
                *pace = Pace {
                    origin: now,
                    bytes: 0,
                    rate,
                };
            }
            if rate == 0 {
                return self.check_cancelled();
            }
            pace.bytes = pace.bytes.saturating_add(n);
            pace.origin + Duration::from_secs_f64(pace.bytes as f64 / rate as f64)
        };
        loop {
            self.check_cancelled()?;
            let now = Instant::now();
            if now >= due {
                return Ok(());
            }
            std::thread::sleep((due - now).min(SLEEP_SLICE));
        }
    }
}

/// What a file holds: its SHA-256 (hex) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub sha256: String,
    pub size: u64,
}

/// Read `path` whole, paced by `throttle`, and hash it. `Ok(None)` when the file is gone.
/// Blocking: call it on a blocking thread.
pub fn hash_file(path: &Path, throttle: &Throttle) -> Result<Option<Hashed>, ScrubError> {
    throttle.check_cancelled()?;
    let direct = File::options()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
        .open(path);
    match direct {
        Ok(file) => match read_hashed(file, path, throttle, true) {
            // The filesystem takes O_DIRECT at open but not at read (some FUSE, older NFS).
            Err(ScrubError::Storage(StorageError::Io { source, .. }))
                if source.raw_os_error() == Some(nix::libc::EINVAL) => {}
            other => return other,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // e.g. tmpfs: no O_DIRECT; read through the page cache instead
        Err(_) => {}
    }
    match File::open(path) {
        Ok(file) => read_hashed(file, path, throttle, false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io("open", path, e).into()),
    }
}

fn read_hashed(
    mut file: File,
    path: &Path,
    throttle: &Throttle,
    direct: bool,
) -> Result<Option<Hashed>, ScrubError> {
    let mut buffer = vec![0u8; READ_SIZE + DIRECT_ALIGN];
    // The aligned window of the buffer (O_DIRECT needs it; harmless otherwise).
    let skew = buffer.as_ptr() as usize % DIRECT_ALIGN;
    let start = if skew == 0 { 0 } else { DIRECT_ALIGN - skew };
    let window = &mut buffer[start..start + READ_SIZE];
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    let result = loop {
        let n = match file.read(window) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(StorageError::io("read", path, e).into()),
        };
        hasher.update(&window[..n]);
        size += n as u64;
        if let Err(e) = throttle.spent(n as u64) {
            break Err(e);
        }
    };
    if !direct {
        // Read through the cache: drop what this pass brought in (a whole-store pass would
        // otherwise push the downloads' hot data out).
        let _ = nix::fcntl::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
            0,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        );
    }
    result.map(|()| {
        Some(Hashed {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    })
}

/// The verdict on one binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every copy the node holds matches.
    Ok,
    /// A corrupt copy was quarantined and a good one is available again: written back into
    /// the node's persistent store when the corrupt one was there, else in another tier
    /// (the next read fetches it).
    Repaired,
    /// A corrupt copy was found and no tier of the chain has a good one (or it is an upload
    /// waiting in the eventual queue, which is the only copy and is left for the mover, which
    /// refuses to upload it).
    Unrepairable,
    /// The node holds no copy itself (it is in a remote tier, or lost): not for this node to
    /// check.
    Missing,
}

/// What [`check_blob`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobCheck {
    pub outcome: Outcome,
    /// Bytes read from the node's copies (repairs not included).
    pub bytes_read: u64,
    /// Corrupt copies found (a binary may have a corrupt cached and a corrupt stored copy).
    pub corrupt_copies: u32,
}

/// Check this node's own copies of binary `sha256` (`size` bytes), quarantine corrupt ones
/// and repair what the chain allows (see the module documentation). Reads are paced by
/// `throttle` on blocking threads.
pub async fn check_blob(
    storage: &Storage,
    sha256: &str,
    size: u64,
    throttle: &Throttle,
) -> Result<BlobCheck, ScrubError> {
    let mut held = false;
    let mut bytes_read = 0;
    let mut corrupt_copies = 0;
    // A corrupt copy in the persistent store (a good one is written back) / an upload waiting
    // in the eventual queue (left alone: it may be the only copy).
    let (mut persistent_corrupt, mut pending_corrupt) = (false, false);

    // The cached copy, if any (locate_local answers with the cache first).
    if let Some(cached) = storage.locate_local(sha256)?
        && cached.tier == Tier::Cache
        && let Some(verdict) = verify_copy(storage, &cached, sha256, size, throttle).await?
    {
        held = true;
        bytes_read += verdict.bytes;
        if !verdict.good {
            corrupt_copies += 1;
            storage.quarantine(&cached, sha256)?;
        }
    }
    // The node's own persistent copy: the file store, or its own store in a sharding-cluster
    // (files, or uploads waiting in its eventual-cluster queue).
    if let Some(own) = storage.locate_own(sha256)?
        && let Some(verdict) = verify_copy(storage, &own, sha256, size, throttle).await?
    {
        held = true;
        bytes_read += verdict.bytes;
        if !verdict.good {
            corrupt_copies += 1;
            storage.quarantine(&own, sha256)?;
            match own.tier {
                Tier::Pending => pending_corrupt = true,
                _ => persistent_corrupt = true,
            }
        }
    } else if let Some(path) = storage.eventual().and_then(|q| q.pending_add(sha256))
        && let Some(found) = blocking_hash(&path, throttle).await?
    {
        // An upload of an object-store chain still waiting for the mover.
        held = true;
        bytes_read += found.size;
        if found.sha256 != sha256 || found.size != size {
            corrupt_copies += 1;
            pending_corrupt = true;
            tracing::error!(
                arca_sha256 = sha256,
                path = %path.display(),
                "an upload waiting in the eventual queue does not match its SHA-256; the storage \
                 mover quarantines it instead of uploading it"
            );
        }
    }

    let outcome = if !held {
        Outcome::Missing
    } else if corrupt_copies == 0 {
        Outcome::Ok
    } else if pending_corrupt {
        unrepairable(sha256);
        Outcome::Unrepairable
    } else if repair(storage, sha256, size, persistent_corrupt, throttle).await? {
        tracing::warn!(
            arca_sha256 = sha256,
            rewritten = persistent_corrupt,
            "scrub: repaired a corrupt copy from another copy of the chain"
        );
        Outcome::Repaired
    } else {
        unrepairable(sha256);
        Outcome::Unrepairable
    };
    Ok(BlobCheck {
        outcome,
        bytes_read,
        corrupt_copies,
    })
}

fn unrepairable(sha256: &str) {
    tracing::error!(
        arca_sha256 = sha256,
        "scrub: binary {sha256} is corrupt on this node and no tier of the storage chain has a \
         good copy; the corrupt copy is in quarantine (.quarantine/ beside it). `arcactl storage \
         verify` lists the missing binaries with the files that hold them: deploy those again or \
         restore them from a backup"
    );
}

/// Whether a copy matched, and how much was read.
struct Verdict {
    good: bool,
    bytes: u64,
}

/// Hash `copy` and compare; `None` when its file went away meanwhile (moved by a garbage
/// collection, uploaded by the mover).
async fn verify_copy(
    storage: &Storage,
    copy: &Located,
    sha256: &str,
    size: u64,
    throttle: &Throttle,
) -> Result<Option<Verdict>, ScrubError> {
    // Taken before the read: if the file changes meanwhile, its change time moves past this
    // and the good hash vouches for nothing.
    let before = std::fs::metadata(&copy.path).ok();
    let Some(found) = blocking_hash(&copy.path, throttle).await? else {
        return Ok(None);
    };
    let good = found.sha256 == sha256 && found.size == size;
    if good && let Some(meta) = &before {
        // downloads may send it without hashing it again (trust.rs)
        storage.checked(sha256, meta);
    }
    if !good {
        tracing::error!(
            arca_sha256 = sha256,
            tier = copy.tier.name(),
            path = %copy.path.display(),
            "scrub: stored copy has {} bytes with SHA-256 {}, expected {size} bytes",
            found.size,
            found.sha256
        );
    }
    Ok(Some(Verdict {
        good,
        bytes: found.size,
    }))
}

async fn blocking_hash(path: &Path, throttle: &Throttle) -> Result<Option<Hashed>, ScrubError> {
    let (path, throttle) = (path.to_path_buf(), throttle.clone());
    tokio::task::spawn_blocking(move || hash_file(&path, &throttle))
        .await
        .map_err(|e| ScrubError::Storage(crate::error::join_error("scrub", e)))?
}

/// After the corrupt copies were quarantined: find a good copy through the chain. With
/// `put_back`, write it into the node's persistent store (where the corrupt one was). Each
/// source that turns out corrupt too is quarantined and the next one tried.
async fn repair(
    storage: &Storage,
    sha256: &str,
    size: u64,
    put_back: bool,
    throttle: &Throttle,
) -> Result<bool, ScrubError> {
    for _ in 0..REPAIR_ATTEMPTS {
        throttle.check_cancelled()?;
        let source = match storage.locate(sha256, size).await {
            Ok(source) => source,
            Err(StorageError::NotFound(_)) => return Ok(false),
            Err(e) => {
                tracing::warn!(arca_sha256 = sha256, error = %e, "scrub: looking for a good copy failed");
                return Ok(false);
            }
        };
        let good = if put_back {
            // import hashes what it copies and refuses content that is not this binary
            match storage.import(&source.path, sha256).await {
                Ok(()) => return Ok(true),
                Err(StorageError::Unusable { reason, .. }) => {
                    tracing::error!(
                        arca_sha256 = sha256,
                        tier = source.tier.name(),
                        "scrub: the copy to repair from is corrupt too: {reason}"
                    );
                    false
                }
                Err(e) => {
                    tracing::warn!(arca_sha256 = sha256, error = %e, "scrub: writing the good copy back failed");
                    return Ok(false);
                }
            }
        } else {
            match verify_copy(storage, &source, sha256, size, throttle).await? {
                Some(verdict) => verdict.good,
                None => continue,
            }
        };
        if good {
            return Ok(true);
        }
        storage.quarantine(&source, sha256)?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_files_of_every_size_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let throttle = Throttle::new(0);
        for len in [
            0usize,
            1,
            4095,
            4096,
            READ_SIZE,
            READ_SIZE + 17,
            3 * READ_SIZE,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            let found = hash_file(&path, &throttle).unwrap().unwrap();
            assert_eq!(found.size, len as u64);
            assert_eq!(found.sha256, hex::encode(sha2::Sha256::digest(&data)));
        }
        assert!(
            hash_file(&dir.path().join("gone"), &throttle)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_cancelled_throttle_stops_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 2 * READ_SIZE]).unwrap();
        // 1 byte/s: the first read's pacing waits, and sees the cancel
        let throttle = Throttle::new(1);
        let canceller = throttle.clone();
        let reader = std::thread::spawn(move || hash_file(&path, &throttle));
        canceller.cancel();
        assert!(matches!(reader.join().unwrap(), Err(ScrubError::Cancelled)));
        canceller.resume();
        assert!(!canceller.is_cancelled());
    }
}

//! The eventual queue: uploads acknowledged to the client before they reach the object store.
//!
//! A queue is a directory (the reference's `<baseDataDir>/eventual`) with three parts:
//!
//! ```text
//! _pre/<node>/...          uploads being received and hashed (the server's staging dir)
//! _add/<sha256>            committed uploads waiting to be copied to the object store
//! _delete/<sha256>         empty markers: delete this object once the database agrees
//! ```
//!
//! The server renames a finished upload into `_add` inside its DB write transaction
//! ([`EventualQueue::commit_add`]); `arca-storage-mover` uploads it and removes the local file.
//! The directory may be an NFS mount shared by several nodes, each running a mover, so a mover
//! [claims](EventualQueue::claim) an entry before working on it: `<sha256>.claim` next to the
//! entry, created with `link(2)` from a unique temp file (atomic on NFS, unlike `O_EXCL` on old
//! clients or `flock`). A claim records its owner; its mtime is its heartbeat, set with
//! `UTIME_NOW` so that on NFS it is the server's clock. A claim older than the queue's `timeout`
//! belongs to a dead mover and is taken over by renaming it away (only one renamer wins).
//! Staleness is judged against the mtime of a file just created in the same directory, never
//! against the local clock, so clock skew between nodes does not matter.
//!
//! Entry names are exactly 64 lowercase hex digits; everything else in `_add`/`_delete`
//! (claims, temp files, NFS's `.nfsXXXX`) is ignored when listing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use arca_config::storage_plan::EventualSpec;

use crate::checksums::validate_sha256;
use crate::store::sync_dir;
use crate::{Checksums, StorageError};

const PRE: &str = "_pre";
const ADD: &str = "_add";
const DELETE: &str = "_delete";
const CLAIM_SUFFIX: &str = ".claim";

/// The two kinds of pending work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// `_add/<sha256>`: upload this file to the object store.
    Add,
    /// `_delete/<sha256>`: delete the object if no binary row references it any more.
    Delete,
}

impl EntryKind {
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Add => "add",
            EntryKind::Delete => "delete",
        }
    }
}

/// One pending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    pub sha256: String,
    /// Bytes to upload (0 for deletes).
    pub size: u64,
    /// When the entry was written (for an add: when the upload was staged).
    pub modified: SystemTime,
}

/// How much work is waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    pub adds: u64,
    pub add_bytes: u64,
    pub deletes: u64,
    /// Age of the oldest entry (add or delete); `None` when the queue is empty.
    pub oldest_age: Option<Duration>,
}

impl Backlog {
    pub fn is_empty(&self) -> bool {
        self.adds == 0 && self.deletes == 0
    }

    /// Sum up a listing, ages relative to `now`.
    pub fn of(entries: &[Entry], now: SystemTime) -> Backlog {
        let mut b = Backlog::default();
        for e in entries {
            match e.kind {
                EntryKind::Add => {
                    b.adds += 1;
                    b.add_bytes += e.size;
                }
                EntryKind::Delete => b.deletes += 1,
            }
            let age = now.duration_since(e.modified).unwrap_or_default();
            b.oldest_age = Some(b.oldest_age.map_or(age, |o| o.max(age)));
        }
        b
    }
}

impl std::fmt::Display for Backlog {
    /// `3 uploads (12.0 MiB), 1 delete, oldest 42 s`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} upload{} ({:.1} MiB), {} delete{}",
            self.adds,
            plural(self.adds),
            self.add_bytes as f64 / (1024.0 * 1024.0),
            self.deletes,
            plural(self.deletes)
        )?;
        if let Some(age) = self.oldest_age {
            write!(f, ", oldest {} s", age.as_secs())?;
        }
        Ok(())
    }
}

/// An eventual queue directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventualQueue {
    dir: PathBuf,
    pre: PathBuf,
    add: PathBuf,
    delete: PathBuf,
}

impl EventualQueue {
    /// Open the queue of an `eventual` / `eventual-cluster` provider, creating its directories.
    pub fn open(spec: &EventualSpec) -> Result<EventualQueue, StorageError> {
        Self::open_dir(&spec.dir)
    }

    /// Open the queue in `dir`, creating `_pre`, `_add` and `_delete`.
    pub fn open_dir(dir: &Path) -> Result<EventualQueue, StorageError> {
        let queue = EventualQueue {
            dir: dir.to_path_buf(),
            pre: dir.join(PRE),
            add: dir.join(ADD),
            delete: dir.join(DELETE),
        };
        for d in [&queue.pre, &queue.add, &queue.delete] {
            fs::create_dir_all(d).map_err(|e| StorageError::io("create directory", d, e))?;
        }
        Ok(queue)
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `_pre`: where uploads are staged (same filesystem as `_add`, so committing is a rename).
    pub fn staging_dir(&self) -> &Path {
        &self.pre
    }

    /// `_add`.
    pub fn add_dir(&self) -> &Path {
        &self.add
    }

    /// `_delete`.
    pub fn delete_dir(&self) -> &Path {
        &self.delete
    }

    fn kind_dir(&self, kind: EntryKind) -> &Path {
        match kind {
            EntryKind::Add => &self.add,
            EntryKind::Delete => &self.delete,
        }
    }

    /// Path of an entry (whether or not it exists).
    pub fn entry_path(&self, kind: EntryKind, sha256: &str) -> Result<PathBuf, StorageError> {
        validate_sha256(sha256)?;
        Ok(self.kind_dir(kind).join(sha256))
    }

    /// Queue a staged (fsynced) upload: rename it to `_add/<sha256>` and fsync `_add`, then
    /// cancel a pending delete of the same content. Synchronous and quick: the server calls it
    /// inside its DB write transaction, so a mover's delete (which checks the database in its
    /// own write transaction) never races with it.
    pub fn commit_add(&self, staged: &Path, sha256: &str) -> Result<(), StorageError> {
        let dest = self.entry_path(EntryKind::Add, sha256)?;
        fs::rename(staged, &dest)
            .map_err(|e| StorageError::io("rename into the eventual queue", &dest, e))?;
        sync_dir(&self.add)?;
        // Not fsynced: a cancelled delete that comes back after a crash is dropped by the mover,
        // which finds the binary in the database.
        let marker = self.delete.join(sha256);
        match fs::remove_file(&marker) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("remove", marker, e)),
        }
    }

    /// The local copy of an upload that has not reached the object store yet.
    pub fn pending_add(&self, sha256: &str) -> Option<PathBuf> {
        let path = self.entry_path(EntryKind::Add, sha256).ok()?;
        path.is_file().then_some(path)
    }

    /// Ask the mover to delete the object (garbage collection, after the binary row was
    /// deleted in the caller's transaction). The mover deletes it only if the database still
    /// does not know the binary when it gets there.
    pub fn request_delete(&self, sha256: &str) -> Result<(), StorageError> {
        let marker = self.entry_path(EntryKind::Delete, sha256)?;
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&marker)
            .map_err(|e| StorageError::io("create", &marker, e))?;
        sync_dir(&self.delete)
    }

    /// The entries of one kind, oldest first. Files that vanish while listing are skipped.
    pub fn entries(&self, kind: EntryKind) -> Result<Vec<Entry>, StorageError> {
        let dir = self.kind_dir(kind);
        let mut out = Vec::new();
        for item in fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))? {
            let item = item.map_err(|e| StorageError::io("list", dir, e))?;
            let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_sha256(&name).is_err() {
                continue; // claims, temp files, NFS silly-renamed files
            }
            let meta = match item.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io("stat", item.path(), e)),
            };
            if !meta.is_file() {
                continue;
            }
            out.push(Entry {
                kind,
                sha256: name,
                size: if kind == EntryKind::Add {
                    meta.len()
                } else {
                    0
                },
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
        out.sort_by(|a, b| a.modified.cmp(&b.modified).then(a.sha256.cmp(&b.sha256)));
        Ok(out)
    }

    /// Backlog read from the directories.
    pub fn try_backlog(&self) -> Result<Backlog, StorageError> {
        let mut all = self.entries(EntryKind::Add)?;
        all.extend(self.entries(EntryKind::Delete)?);
        Ok(Backlog::of(&all, SystemTime::now()))
    }

    /// [`EventualQueue::try_backlog`] for status displays: an unreadable directory is logged
    /// and counts as empty.
    pub fn backlog(&self) -> Backlog {
        self.try_backlog().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the eventual queue's backlog");
            Backlog::default()
        })
    }

    /// Read an add entry once and compute its checksums (the mover verifies the SHA-256 against
    /// the name before uploading, and the object store wants the MD5). Also returns the metadata
    /// of the file read, for [`EventualQueue::remove_entry`]. `Ok(None)` when it is gone.
    /// Blocking.
    pub fn hash_add(
        &self,
        sha256: &str,
    ) -> Result<Option<(Checksums, fs::Metadata)>, StorageError> {
        use digest::Digest;
        let path = self.entry_path(EntryKind::Add, sha256)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io("open", path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| StorageError::io("stat", &path, e))?;
        let (mut sha256, mut sha1, mut md5) =
            (sha2::Sha256::new(), sha1::Sha1::new(), md5::Md5::new());
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StorageError::io("read", &path, e)),
            };
            sha256.update(&buf[..n]);
            sha1.update(&buf[..n]);
            md5.update(&buf[..n]);
            size += n as u64;
        }
        let sums = Checksums {
            sha256: hex::encode(sha256.finalize()),
            sha1: hex::encode(sha1.finalize()),
            md5: hex::encode(md5.finalize()),
            size,
        };
        Ok(Some((sums, meta)))
    }

    /// Remove an entry if it is still the file `expected` describes (same inode): an upload of
    /// the same content committed while the mover was busy is a new file, and stays. Returns
    /// whether something was removed.
    pub fn remove_entry(
        &self,
        kind: EntryKind,
        sha256: &str,
        expected: Option<&fs::Metadata>,
    ) -> Result<bool, StorageError> {
        let path = self.entry_path(kind, sha256)?;
        if let Some(expected) = expected {
            match fs::symlink_metadata(&path) {
                Ok(m)
                    if same_file(&m, expected) && m.modified().ok() == expected.modified().ok() => {
                }
                Ok(_) => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(StorageError::io("stat", path, e)),
            }
        }
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(self.kind_dir(kind))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::io("remove", path, e)),
        }
    }

    /// Move an add entry whose content does not match its name out of the queue, to
    /// `<dir>/_quarantine/<sha256>.<unix ms>`, and return the new path. It is never uploaded.
    pub fn quarantine_add(&self, sha256: &str) -> Result<PathBuf, StorageError> {
        let path = self.entry_path(EntryKind::Add, sha256)?;
        let dir = self.dir.join("_quarantine");
        fs::create_dir_all(&dir).map_err(|e| StorageError::io("create directory", &dir, e))?;
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let dest = dir.join(format!("{sha256}.{stamp}"));
        fs::rename(&path, &dest).map_err(|e| StorageError::io("quarantine", &dest, e))?;
        sync_dir(&self.add)?;
        Ok(dest)
    }

    /// Claim an entry (which need not exist: a delete also claims the add of the same content
    /// so that no upload of it starts meanwhile). `Ok(None)` when another live mover holds it.
    pub fn claim(
        &self,
        kind: EntryKind,
        sha256: &str,
        claimer: &Claimer,
    ) -> Result<Option<Claim>, StorageError> {
        validate_sha256(sha256)?;
        let dir = self.kind_dir(kind);
        let path = dir.join(format!("{sha256}{CLAIM_SUFFIX}"));
        // A few rounds: after taking over a stale claim, another mover may win the new one.
        for _ in 0..3 {
            let nonce = format!("{}.{:016x}", claimer.owner, rand::random::<u64>());
            let tmp = dir.join(format!("{sha256}{CLAIM_SUFFIX}.{nonce}.tmp"));
            // Its mtime is "now" on the clock that stamps the claims (the file server's).
            // The content names the claim uniquely (inode numbers are reused at once by many
            // filesystems, so they cannot tell a new claim from a removed one).
            let token = format!("{} {nonce}", claimer.owner);
            let tmp_meta = write_new_file(&tmp, format!("{token}\n").as_bytes())?;
            let linked = link_new(&tmp, &path);
            remove_quietly(&tmp);
            match linked {
                Ok(()) => {
                    return Ok(Some(Claim {
                        path,
                        kind,
                        sha256: sha256.to_owned(),
                        token,
                        released: AtomicBool::new(false),
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StorageError::io("create claim", &path, e)),
            }
            let Some((held, holder)) = inspect_claim(&path)? else {
                continue; // released meanwhile
            };
            let age = mtime(&tmp_meta)
                .duration_since(mtime(&held))
                .unwrap_or_default();
            if age < claimer.timeout {
                return Ok(None);
            }
            // Stale: rename it away. Only one mover's rename finds it; then check that what we
            // moved is the stale claim we looked at, not a fresh one that replaced it meanwhile.
            let reap = dir.join(format!("{sha256}{CLAIM_SUFFIX}.{nonce}.reap"));
            match fs::rename(&path, &reap) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io("take over claim", &path, e)),
            }
            let moved = inspect_claim(&reap)?;
            if moved.as_ref().is_some_and(|(m, token)| {
                *token == holder && m.modified().ok() == held.modified().ok()
            }) {
                tracing::warn!(
                    arca_sha256 = sha256,
                    kind = kind.name(),
                    previous_owner = holder.split(' ').next().unwrap_or_default(),
                    age_secs = age.as_secs(),
                    "took over a stale claim (its mover stopped refreshing it)"
                );
                remove_quietly(&reap);
                continue;
            }
            // Not ours to take: put it back (fails only if yet another claim appeared, whose
            // owner then finds its claim gone at its next refresh and stops).
            let _ = fs::hard_link(&reap, &path);
            remove_quietly(&reap);
            return Ok(None);
        }
        Ok(None)
    }

    /// Remove the claims an earlier run of `claimer`'s mover left (same name — the node — but
    /// another process): it was killed while holding them. Only for the one mover a node runs,
    /// called once that is certain (its control socket is bound); claims of other nodes'
    /// movers on a shared queue are left to expire. Returns how many were removed.
    pub fn release_claims_of_earlier_runs(&self, claimer: &Claimer) -> Result<usize, StorageError> {
        let mut released = 0;
        for dir in [&self.add, &self.delete] {
            for item in fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))? {
                let item = item.map_err(|e| StorageError::io("list", dir, e))?;
                let is_claim = item
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(CLAIM_SUFFIX))
                    .is_some_and(|sha| validate_sha256(sha).is_ok());
                if !is_claim {
                    continue;
                }
                let Some((_, token)) = inspect_claim(&item.path())? else {
                    continue;
                };
                let owner = token.split(' ').next().unwrap_or_default();
                if owner != claimer.owner && Claimer::name_of(owner) == Some(claimer.name.as_str())
                {
                    remove_quietly(&item.path());
                    released += 1;
                }
            }
        }
        Ok(released)
    }

    /// Remove leftovers of movers that died: temp and reap files, and claims whose entry is
    /// gone, last touched more than `older_than` ago (local clock; pass a generous margin over
    /// the claim timeout). Returns how many files were removed.
    pub fn sweep(&self, older_than: Duration) -> Result<usize, StorageError> {
        let now = SystemTime::now();
        let mut removed = 0;
        for dir in [&self.add, &self.delete] {
            for item in fs::read_dir(dir).map_err(|e| StorageError::io("list", dir, e))? {
                let item = item.map_err(|e| StorageError::io("list", dir, e))?;
                let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let leftover = if name.ends_with(".tmp") || name.ends_with(".reap") {
                    true
                } else if let Some(sha) = name.strip_suffix(CLAIM_SUFFIX) {
                    validate_sha256(sha).is_ok() && !dir.join(sha).exists()
                } else {
                    false
                };
                if !leftover {
                    continue;
                }
                let old = item
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .is_some_and(|t| now.duration_since(t).unwrap_or_default() > older_than);
                if old && fs::remove_file(item.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// Who claims entries: one per mover process (the owner string is unique per start).
#[derive(Debug, Clone)]
pub struct Claimer {
    /// The mover's name (the node id, sanitised).
    name: String,
    /// `<name>-<pid>-<random>`: unique per start.
    owner: String,
    timeout: Duration,
}

impl Claimer {
    /// `name` identifies the mover in claims and logs (e.g. the node id); a pid and a random
    /// suffix make it unique. `timeout`: age after which another mover's claim is stale.
    pub fn new(name: &str, timeout: Duration) -> Claimer {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        Claimer {
            owner: format!(
                "{name}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            name,
            timeout,
        }
    }

    /// The name part of an owner string (`<name>-<pid>-<random>`).
    fn name_of(owner: &str) -> Option<&str> {
        let (rest, _random) = owner.rsplit_once('-')?;
        let (name, _pid) = rest.rsplit_once('-')?;
        Some(name)
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often a holder should refresh its claims: well within the timeout, leaving room for
    /// NFS attribute caching on the other nodes.
    pub fn refresh_interval(&self) -> Duration {
        (self.timeout / 4).max(Duration::from_millis(10))
    }
}

/// A held claim. Dropping it releases it (best effort); a mover that dies leaves it to expire.
///
/// Known by path and content only, without an open file: on NFS, unlinking a file that is
/// open leaves a `.nfsXXXX` file behind until it is closed.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    kind: EntryKind,
    sha256: String,
    /// `<owner> <nonce>`: the claim file's content.
    token: String,
    released: AtomicBool,
}

impl Claim {
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Does `<sha256>.claim` still name our claim file?
    pub fn is_held(&self) -> bool {
        !self.released.load(Ordering::Acquire)
            && inspect_claim(&self.path)
                .ok()
                .flatten()
                .is_some_and(|(_, token)| token == self.token)
    }

    /// Heartbeat: set the claim's mtime to now (the file server's clock). Fails when the claim
    /// was released or taken over; the holder must then stop working on the entry.
    pub fn refresh(&self) -> Result<(), StorageError> {
        // A mover that wrongly judged our claim stale moves it away for an instant before it
        // puts it back: look again before giving up.
        for attempt in 0..3 {
            if self.is_held() {
                let now = nix::sys::time::TimeSpec::UTIME_NOW;
                return nix::sys::stat::utimensat(
                    None,
                    &self.path,
                    &now,
                    &now,
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| StorageError::io("refresh claim", &self.path, e.into()));
            }
            if self.released.load(Ordering::Acquire) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5 << attempt));
        }
        Err(StorageError::Unusable {
            path: self.path.clone(),
            reason: "the claim was released or taken over by another mover".into(),
        })
    }

    /// Give the claim up (idempotent). A claim that is not ours any more is left alone.
    pub fn release(&self) -> Result<(), StorageError> {
        if !self.is_held() {
            self.released.store(true, Ordering::Release);
            return Ok(());
        }
        self.released.store(true, Ordering::Release);
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("release claim", &self.path, e)),
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            tracing::warn!(error = %e, "could not release a claim; it expires by itself");
        }
    }
}

fn mtime(meta: &fs::Metadata) -> SystemTime {
    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)
}

fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove a temp file");
    }
}

/// Create `path` (it must not exist), write `content`, return its metadata.
fn write_new_file(path: &Path, content: &[u8]) -> Result<fs::Metadata, StorageError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| StorageError::io("create", path, e))?;
    f.write_all(content)
        .map_err(|e| StorageError::io("write", path, e))?;
    f.metadata().map_err(|e| StorageError::io("stat", path, e))
}

/// `link(2)` that survives NFS's lost-reply case: when the reply is lost and the retried
/// request fails, the link count of the source tells whether the first attempt succeeded.
fn link_new(src: &Path, dest: &Path) -> io::Result<()> {
    match fs::hard_link(src, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match fs::symlink_metadata(src) {
            Ok(m) if m.nlink() == 2 => Ok(()),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Metadata and content (`<owner> <nonce>`) of an existing claim; `None` when there is none. Opening the file (not
/// just `stat`) makes NFS revalidate its attributes (close-to-open consistency).
fn inspect_claim(path: &Path) -> Result<Option<(fs::Metadata, String)>, StorageError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("open claim", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| StorageError::io("stat", path, e))?;
    let mut owner = String::new();
    let _ = (&mut file).take(256).read_to_string(&mut owner);
    Ok(Some((meta, owner.trim().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Barrier};

    fn sha(i: u32) -> String {
        format!("{:064x}", u64::from(i) + 0xabc)
    }

    fn queue() -> (tempfile::TempDir, EventualQueue) {
        let dir = tempfile::tempdir().unwrap();
        let q = EventualQueue::open_dir(&dir.path().join("eventual")).unwrap();
        (dir, q)
    }

    fn stage(q: &EventualQueue, content: &[u8]) -> PathBuf {
        let p = q
            .staging_dir()
            .join(format!("dbrecord{:x}.bin", rand::random::<u64>()));
        fs::write(&p, content).unwrap();
        p
    }

    /// Make a claim look abandoned: its mtime far in the past.
    fn age_claim(q: &EventualQueue, kind: EntryKind, sha: &str) {
        let path = q.kind_dir(kind).join(format!("{sha}.claim"));
        let f = OpenOptions::new().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(600))
            .unwrap();
    }

    #[test]
    fn a_restarted_mover_releases_only_its_earlier_runs_claims() {
        let (_dir, q) = queue();
        let timeout = Duration::from_secs(60);
        // node-1's mover was killed holding two claims; node-1-b is another node whose name
        // starts the same way; node-2's mover is alive
        let killed = Claimer::new("node-1", timeout);
        let other_node = Claimer::new("node-1-b", timeout);
        let alive = Claimer::new("node-2", timeout);
        let held: Vec<Claim> = [(EntryKind::Add, 1), (EntryKind::Delete, 2)]
            .into_iter()
            .map(|(kind, i)| q.claim(kind, &sha(i), &killed).unwrap().unwrap())
            .collect();
        let kept_other = q
            .claim(EntryKind::Add, &sha(3), &other_node)
            .unwrap()
            .unwrap();
        let kept_alive = q.claim(EntryKind::Add, &sha(4), &alive).unwrap().unwrap();
        std::mem::forget(held); // a killed process releases nothing

        let restarted = Claimer::new("node-1", timeout);
        let mine = q
            .claim(EntryKind::Add, &sha(5), &restarted)
            .unwrap()
            .unwrap();
        assert_eq!(q.release_claims_of_earlier_runs(&restarted).unwrap(), 2);
        assert!(
            q.claim(EntryKind::Add, &sha(1), &restarted)
                .unwrap()
                .is_some()
        );
        assert!(
            q.claim(EntryKind::Delete, &sha(2), &restarted)
                .unwrap()
                .is_some()
        );
        for (i, claim) in [(3, &kept_other), (4, &kept_alive), (5, &mine)] {
            assert!(claim.is_held(), "claim {i} stays");
        }
        assert!(
            q.claim(EntryKind::Add, &sha(3), &restarted)
                .unwrap()
                .is_none()
        );
        assert_eq!(q.release_claims_of_earlier_runs(&restarted).unwrap(), 0);
    }

    #[test]
    fn open_creates_the_directories() {
        let (dir, q) = queue();
        for d in ["_pre", "_add", "_delete"] {
            assert!(dir.path().join("eventual").join(d).is_dir(), "{d}");
        }
        assert_eq!(q.staging_dir(), dir.path().join("eventual/_pre"));
        assert_eq!(q.add_dir(), dir.path().join("eventual/_add"));
        assert_eq!(q.dir(), dir.path().join("eventual"));
    }

    #[test]
    fn commit_add_pending_and_delete_cancel() {
        let (_dir, q) = queue();
        let a = sha(1);
        assert_eq!(q.pending_add(&a), None);
        q.request_delete(&a).unwrap();
        q.request_delete(&a).unwrap(); // idempotent
        assert_eq!(q.entries(EntryKind::Delete).unwrap().len(), 1);

        let staged = stage(&q, b"hello");
        q.commit_add(&staged, &a).unwrap();
        assert!(!staged.exists());
        let pending = q.pending_add(&a).unwrap();
        assert_eq!(fs::read(&pending).unwrap(), b"hello");
        assert!(
            q.entries(EntryKind::Delete).unwrap().is_empty(),
            "a new upload cancels the pending delete"
        );
        assert_eq!(q.pending_add("not-a-digest"), None);
        assert!(matches!(
            q.commit_add(&stage(&q, b"x"), "../escape"),
            Err(StorageError::InvalidDigest(_))
        ));
        assert!(q.request_delete("ABC").is_err());
    }

    #[test]
    fn listing_ignores_claims_and_temp_files_and_backlog_adds_up() {
        let (_dir, q) = queue();
        let (a, b, c) = (sha(1), sha(2), sha(3));
        q.commit_add(&stage(&q, &[1u8; 100]), &a).unwrap();
        q.commit_add(&stage(&q, &[2u8; 50]), &b).unwrap();
        q.request_delete(&c).unwrap();
        let old = SystemTime::now() - Duration::from_secs(90);
        OpenOptions::new()
            .write(true)
            .open(q.add_dir().join(&b))
            .unwrap()
            .set_modified(old)
            .unwrap();
        for junk in [
            format!("{a}.claim"),
            format!("{a}.claim.me-1.00.tmp"),
            ".nfs000123".to_string(),
            "README".to_string(),
            a.to_uppercase(),
        ] {
            fs::write(q.add_dir().join(junk), b"junk").unwrap();
        }
        fs::create_dir(q.add_dir().join(sha(9))).unwrap();

        let adds = q.entries(EntryKind::Add).unwrap();
        let names: Vec<&str> = adds.iter().map(|e| e.sha256.as_str()).collect();
        assert_eq!(
            names,
            [b.as_str(), a.as_str()],
            "oldest first, junk ignored"
        );
        assert_eq!(adds[1].size, 100);

        let backlog = q.try_backlog().unwrap();
        assert_eq!(backlog.adds, 2);
        assert_eq!(backlog.add_bytes, 150);
        assert_eq!(backlog.deletes, 1);
        let age = backlog.oldest_age.unwrap();
        assert!(
            age >= Duration::from_secs(89) && age < Duration::from_secs(120),
            "{age:?}"
        );
        assert_eq!(q.backlog().add_bytes, backlog.add_bytes);
        assert!(
            backlog
                .to_string()
                .starts_with("2 uploads (0.0 MiB), 1 delete, oldest")
        );

        let (_d2, empty) = queue();
        assert!(empty.backlog().is_empty());
        assert_eq!(empty.backlog().oldest_age, None);
    }

    #[test]
    fn remove_entry_keeps_a_file_committed_again_meanwhile() {
        let (_dir, q) = queue();
        let a = sha(1);
        q.commit_add(&stage(&q, b"v"), &a).unwrap();
        let seen = fs::metadata(q.pending_add(&a).unwrap()).unwrap();
        q.commit_add(&stage(&q, b"v"), &a).unwrap(); // same content deployed again: new inode
        assert!(!q.remove_entry(EntryKind::Add, &a, Some(&seen)).unwrap());
        assert!(q.pending_add(&a).is_some());
        let now = fs::metadata(q.pending_add(&a).unwrap()).unwrap();
        assert!(q.remove_entry(EntryKind::Add, &a, Some(&now)).unwrap());
        assert!(q.pending_add(&a).is_none());
        assert!(!q.remove_entry(EntryKind::Add, &a, None).unwrap());
    }

    #[test]
    fn hash_add_reads_the_entry() {
        let (_dir, q) = queue();
        let data = vec![7u8; 300_000];
        let sums = Checksums::of_bytes(&data);
        q.commit_add(&stage(&q, &data), &sums.sha256).unwrap();
        let (got, meta) = q.hash_add(&sums.sha256).unwrap().unwrap();
        assert_eq!(got, sums);
        assert_eq!(meta.len(), 300_000);
        assert!(q.hash_add(&sha(5)).unwrap().is_none());
    }

    #[test]
    fn quarantine_moves_the_entry_out_of_the_queue() {
        let (_dir, q) = queue();
        let a = sha(1);
        q.commit_add(&stage(&q, b"bad"), &a).unwrap();
        let moved = q.quarantine_add(&a).unwrap();
        assert!(moved.starts_with(q.dir().join("_quarantine")));
        assert_eq!(fs::read(moved).unwrap(), b"bad");
        assert!(q.entries(EntryKind::Add).unwrap().is_empty());
    }

    #[test]
    fn a_claim_is_exclusive_until_released() {
        let (_dir, q) = queue();
        let a = sha(1);
        let one = Claimer::new("node one", Duration::from_secs(60));
        let two = Claimer::new("node/two", Duration::from_secs(60));
        assert!(one.owner().starts_with("node_one-"));
        let held = q.claim(EntryKind::Add, &a, &one).unwrap().unwrap();
        assert!(held.is_held());
        assert_eq!((held.kind(), held.sha256()), (EntryKind::Add, a.as_str()));
        assert!(q.claim(EntryKind::Add, &a, &two).unwrap().is_none());
        assert!(
            q.claim(EntryKind::Add, &a, &one).unwrap().is_none(),
            "not re-entrant"
        );
        // the same digest in the other directory is another entry
        let del = q.claim(EntryKind::Delete, &a, &two).unwrap().unwrap();
        let owner = fs::read_to_string(q.add_dir().join(format!("{a}.claim"))).unwrap();
        assert!(owner.starts_with(&format!("{} ", one.owner())), "{owner}");
        held.refresh().unwrap();
        held.release().unwrap();
        held.release().unwrap();
        assert!(!held.is_held());
        assert!(
            held.refresh().is_err(),
            "a released claim cannot be refreshed"
        );
        let again = q.claim(EntryKind::Add, &a, &two).unwrap().unwrap();
        drop(again); // drop releases
        assert!(!q.add_dir().join(format!("{a}.claim")).exists());
        drop(del);
        let leftovers: Vec<_> = fs::read_dir(q.add_dir()).unwrap().collect();
        assert!(leftovers.is_empty(), "no temp files left: {leftovers:?}");
    }

    #[test]
    fn racing_claimers_get_each_entry_once() {
        let (_dir, q) = queue();
        let shas: Vec<String> = (0..200).map(sha).collect();
        let threads = 4;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (q, shas, barrier) = (q.clone(), shas.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let me = Claimer::new(&format!("t{t}"), Duration::from_secs(60));
                    barrier.wait();
                    // every thread walks the same entries in the same order: maximal contention
                    let won: Vec<Claim> = shas
                        .iter()
                        .filter_map(|s| q.claim(EntryKind::Add, s, &me).unwrap())
                        .collect();
                    // hold them until every thread is done, so nothing is claimed twice
                    barrier.wait();
                    won.iter()
                        .map(|c| c.sha256().to_owned())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut count: HashMap<String, usize> = HashMap::new();
        for h in handles {
            for s in h.join().unwrap() {
                *count.entry(s).or_default() += 1;
            }
        }
        assert_eq!(count.len(), shas.len(), "every entry claimed");
        assert!(count.values().all(|&n| n == 1), "{count:?}");
    }

    #[test]
    fn a_stale_claim_is_taken_over_once() {
        let (_dir, q) = queue();
        let a = sha(7);
        let dead = Claimer::new("dead", Duration::from_secs(60));
        let abandoned = q.claim(EntryKind::Add, &a, &dead).unwrap().unwrap();
        age_claim(&q, EntryKind::Add, &a);

        let threads = 6;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (q, a, barrier) = (q.clone(), a.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let me = Claimer::new(&format!("t{t}"), Duration::from_secs(60));
                    barrier.wait();
                    let won = q.claim(EntryKind::Add, &a, &me).unwrap();
                    barrier.wait();
                    won.map(|c| (me.owner().to_owned(), c.is_held()))
                })
            })
            .collect();
        let winners: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert!(winners[0].1);
        // the dead owner's handle lost it: refresh fails, release leaves the new claim alone
        assert!(!abandoned.is_held());
        assert!(abandoned.refresh().is_err());
        let fresh = Claimer::new("fresh", Duration::from_secs(60));
        let taken = q.claim(EntryKind::Add, &a, &fresh).unwrap();
        assert!(
            taken.is_some(),
            "the winner released it when its thread ended"
        );
        let blocked = Claimer::new("late", Duration::from_secs(60));
        abandoned.release().unwrap();
        assert!(q.claim(EntryKind::Add, &a, &blocked).unwrap().is_none());
    }

    #[test]
    fn refreshing_keeps_a_claim_alive() {
        let (_dir, q) = queue();
        let a = sha(3);
        let short = Duration::from_millis(300);
        let owner = Claimer::new("owner", short);
        let other = Claimer::new("other", short);
        let held = q.claim(EntryKind::Delete, &a, &owner).unwrap().unwrap();
        age_claim(&q, EntryKind::Delete, &a);
        held.refresh().unwrap(); // the owner is alive after all
        assert!(q.claim(EntryKind::Delete, &a, &other).unwrap().is_none());
        for _ in 0..5 {
            std::thread::sleep(owner.refresh_interval());
            held.refresh().unwrap();
            assert!(q.claim(EntryKind::Delete, &a, &other).unwrap().is_none());
        }
        // the owner stops refreshing: after the timeout the claim is taken over
        std::thread::sleep(short + Duration::from_millis(100));
        let taken = q.claim(EntryKind::Delete, &a, &other).unwrap();
        assert!(taken.is_some());
        assert!(held.refresh().is_err());
    }

    #[test]
    fn sweep_removes_only_old_leftovers() {
        let (_dir, q) = queue();
        let (a, b) = (sha(1), sha(2));
        q.commit_add(&stage(&q, b"a"), &a).unwrap();
        let me = Claimer::new("me", Duration::from_secs(60));
        let live = q.claim(EntryKind::Add, &b, &me).unwrap().unwrap(); // no entry, but live
        let old = SystemTime::now() - Duration::from_secs(3600);
        let leftovers = [
            q.add_dir().join(format!("{a}.claim.x-1-0.0.tmp")),
            q.delete_dir().join(format!("{a}.claim.x-1-0.0.reap")),
            q.delete_dir().join(format!("{b}.claim")),
        ];
        for p in &leftovers {
            fs::write(p, b"x").unwrap();
            OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let young_tmp = q.add_dir().join("young.tmp");
        fs::write(&young_tmp, b"x").unwrap();
        let stale_with_entry = q.add_dir().join(format!("{a}.claim"));
        fs::write(&stale_with_entry, b"x").unwrap();
        OpenOptions::new()
            .write(true)
            .open(&stale_with_entry)
            .unwrap()
            .set_modified(old)
            .unwrap();

        assert_eq!(q.sweep(Duration::from_secs(600)).unwrap(), 3);
        for p in &leftovers {
            assert!(!p.exists(), "{}", p.display());
        }
        assert!(young_tmp.exists());
        assert!(
            stale_with_entry.exists(),
            "a stale claim with its entry is taken over by a claimer, not swept"
        );
        assert!(live.is_held());
        assert!(q.pending_add(&a).is_some());
    }
}

//! Which local copies a reader may send without hashing them.
//!
//! A large copy is sent unhashed (with `sendfile`) only when this process hashed that very
//! file before — on its way in (an upload, a verified download), while a previous download
//! streamed it whole, or in a scrubber pass — and the file is unchanged since: same inode, size and change time
//! (`ctime`, which every write, truncation, rename or replacement moves, and which no user
//! can set back). So a copy written by another node into a store the nodes share, a copy a
//! peer pushed, a copy edited or replaced on disk, and every copy after a restart are hashed
//! on their first full read; what remains — media corruption that leaves the inode untouched
//! — is the background scrubber's to find. A `cache-fs` with `validateChecksum=true` has every
//! read checked, as configured.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;

/// How many checked copies are remembered; when full the map starts over (those copies are
/// hashed once more). 64k entries of ~40 bytes: a few MiB at most, and only if that many large
/// binaries are read.
const REMEMBERED: usize = 1 << 16;

/// What identifies one state of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    ctime_sec: i64,
    ctime_nsec: i64,
}

impl Stamp {
    fn of(meta: &Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            ctime_sec: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        }
    }
}

/// The copies this process hashed, by the first 8 bytes of their SHA-256, with the state of the
/// file they were hashed in.
#[derive(Debug, Default)]
pub(crate) struct CheckedHere(Mutex<HashMap<u64, Stamp>>);

impl CheckedHere {
    fn key(sha256: &str) -> Option<u64> {
        u64::from_str_radix(sha256.get(..16)?, 16).ok()
    }

    /// Whether the file described by `meta` is the one hashed as `sha256`, unchanged.
    pub(crate) fn holds(&self, sha256: &str, meta: &Metadata) -> bool {
        let Some(key) = Self::key(sha256) else {
            return false;
        };
        self.0
            .lock()
            .is_ok_and(|map| map.get(&key) == Some(&Stamp::of(meta)))
    }

    /// The file described by `meta` was hashed and is `sha256`.
    pub(crate) fn insert(&self, sha256: &str, meta: &Metadata) {
        let Some(key) = Self::key(sha256) else {
            return;
        };
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= REMEMBERED {
                map.clear();
            }
            map.insert(key, Stamp::of(meta));
        }
    }

    pub(crate) fn remove(&self, sha256: &str) {
        if let (Some(key), Ok(mut map)) = (Self::key(sha256), self.0.lock()) {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_checked_file_is_trusted_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, b"content").unwrap();
        let sha = format!("{:064x}", 1u8);
        let checked = CheckedHere::default();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(!checked.holds(&sha, &meta));
        checked.insert(&sha, &meta);
        assert!(checked.holds(&sha, &std::fs::metadata(&path).unwrap()));
        // rewritten in place (same inode, same size): the change time moves
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"CONTENT").unwrap();
        assert!(!checked.holds(&sha, &std::fs::metadata(&path).unwrap()));
        checked.remove(&sha);
        assert!(!checked.holds(&sha, &meta));
        assert!(!checked.holds("not hex", &meta));
    }

    #[test]
    fn stays_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let checked = CheckedHere::default();
        for i in 0..(REMEMBERED as u64 + 1) {
            checked.insert(&format!("{i:016x}{:048x}", 0), &meta);
        }
        assert!(checked.0.lock().is_ok_and(|m| m.len() <= REMEMBERED));
    }
}

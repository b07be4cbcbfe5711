//! Error type of the storage crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the local file store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The string is not a 64-character lowercase hex SHA-256 digest.
    #[error("invalid sha256 digest {0:?}")]
    InvalidDigest(String),

    /// No blob with this SHA-256 is stored.
    #[error("blob {0} not found")]
    NotFound(String),

    /// A filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The store directory cannot be used (e.g. not writable, bad layout).
    #[error("storage directory {} is unusable: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },

    /// The staged file does not hold what the pipeline wrote into it.
    #[error("staged upload {}: wrote {expected} bytes but file has {actual}", path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    /// A hashing/writing worker thread died (panic or runtime shutdown).
    #[error("upload {0} worker failed: {1}")]
    Worker(&'static str, String),

    /// The upload can no longer be used: an earlier write failed or was cancelled mid-way.
    #[error("upload is poisoned by an earlier failed or cancelled write")]
    Poisoned,
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the underlying cause is "no space left on device" or quota exceeded,
    /// so callers can map it to HTTP 507.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StorageError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }
}

pub(crate) fn join_error(what: &'static str, e: tokio::task::JoinError) -> StorageError {
    StorageError::Worker(what, e.to_string())
}

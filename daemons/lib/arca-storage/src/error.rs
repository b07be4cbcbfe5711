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

    /// A copy read from a tier does not match the SHA-256 it is stored under.
    #[error("copy of {sha256} from the {tier} is corrupt: {detail}")]
    Corrupt {
        sha256: String,
        tier: &'static str,
        detail: String,
    },

    /// The upload can no longer be used: an earlier write failed or was cancelled mid-way.
    #[error("upload is poisoned by an earlier failed or cancelled write")]
    Poisoned,

    /// An object-store (S3) request failed or returned something unexpected.
    ///
    /// `transient` is true for failures worth retrying (connection refused/reset, timeout,
    /// HTTP 5xx, 408, 429); false for permanent ones (other 4xx such as bad credentials or a
    /// missing bucket, checksum or size mismatch after an upload).
    #[error("object store {store}: {op} {key} failed: {message}")]
    ObjectStore {
        /// What was attempted, e.g. `put`, `get`, `head`, `delete`, `list`.
        op: &'static str,
        /// The object key (or the prefix for a listing).
        key: String,
        /// [`ObjectStore::describe`](crate::ObjectStore::describe): bucket, prefix, endpoint.
        store: String,
        /// The HTTP status when the server answered, `None` for transport failures.
        status: Option<u16>,
        message: String,
        transient: bool,
    },

    /// The object-store parameters cannot be used (e.g. missing credentials, bad endpoint).
    #[error("object store configuration: {0}")]
    ObjectStoreConfig(String),

    /// A request to a peer node's store (the `remote` provider of a sharding-cluster) failed.
    /// `transient` as for [`StorageError::ObjectStore`]: connection failures, timeouts, 5xx.
    #[error("peer node {node}: {op} {sha256} failed: {message}")]
    Peer {
        op: &'static str,
        node: String,
        sha256: String,
        /// The HTTP status when the peer answered, `None` for transport failures.
        status: Option<u16>,
        message: String,
        transient: bool,
    },

    /// Too little of the storage is reachable to do this now (e.g. fewer copies written than a
    /// sharding-cluster's `lenientLimit`); the server answers 503, the client may retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True for failures that may go away by themselves (an object store that is down,
    /// overloaded or slow), so a caller may retry the operation; false for everything else,
    /// including local filesystem errors and object-store answers that will not change.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StorageError::ObjectStore {
                transient: true,
                ..
            } | StorageError::Peer {
                transient: true,
                ..
            }
        )
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

//! arca-storage: the storage chain of a node ([`Storage`]: cache, file store, eventual queue,
//! object store) over a content-addressed local file store ([`FileStore`]).
//!
//! Blobs live at `<file_store_dir>/<sha256[0..2]>/<sha256>`. Uploads stream into
//! `<temp_dir>/dbrecord<random>.bin` (same filesystem) while SHA-256, SHA-1 and MD5 are
//! computed on background threads in parallel with the file writes; the finished temp file
//! is fsynced, then atomically renamed into place by [`StagedBlob::commit`].

mod cache;
mod chain;
mod checksums;
mod download;
mod error;
pub mod eventual;
pub mod mover_proto;
mod own_store;
mod remote;
mod retry;
mod s3;
pub mod scrub;
pub mod sharding;
mod store;
mod trust;
mod upload;

pub use cache::{CacheFs, CacheUsage};
pub use chain::{Committed, Located, Storage, StorageOptions, StorageSummary, Tier};
pub use checksums::{Checksums, validate_sha256, verify_declared};
pub use error::StorageError;
pub use eventual::{Backlog, Claim, Claimer, Entry, EntryKind, EventualQueue};
pub use mover_proto::MoverStatus;
pub use own_store::OwnStore;
pub use remote::{PEER_BINARIES_PATH, Peer, PeerClient, PeerDelete};
pub use retry::{MAX_BACKOFF, with_retry};
pub use s3::ObjectStore;
pub use sharding::{ClusterContext, ClusterTier, ReconcileReport, RestoreReport};
pub use store::{DiskUsage, FileStore};
pub use upload::{StagedBlob, Upload};

#[cfg(test)]
mod tests;

//! arca-storage: content-addressed local file store.
//!
//! Blobs live at `<file_store_dir>/<sha256[0..2]>/<sha256>`. Uploads stream into
//! `<temp_dir>/dbrecord<random>.bin` (same filesystem) while SHA-256, SHA-1 and MD5 are
//! computed on background threads in parallel with the file writes; the finished temp file
//! is fsynced, then atomically renamed into place by [`StagedBlob::commit`].

mod checksums;
mod error;
mod store;
mod upload;

pub use checksums::{Checksums, validate_sha256, verify_declared};
pub use error::StorageError;
pub use store::{DiskUsage, FileStore};
pub use upload::{StagedBlob, Upload};

#[cfg(test)]
mod tests;

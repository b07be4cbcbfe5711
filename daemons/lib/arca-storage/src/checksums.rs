//! Checksum value type, digest validation and client checksum verification.

use crate::StorageError;

/// Digests of a stored binary (all lowercase hex) and its size in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksums {
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
    pub size: u64,
}

impl Checksums {
    /// Hash an in-memory buffer in one shot (sequentially; for small data and tests).
    pub fn of_bytes(data: &[u8]) -> Checksums {
        use digest::Digest;
        Checksums {
            sha256: hex::encode(sha2::Sha256::digest(data)),
            sha1: hex::encode(sha1::Sha1::digest(data)),
            md5: hex::encode(md5::Md5::digest(data)),
            size: data.len() as u64,
        }
    }
}

/// Returns `Ok(())` when `s` is exactly 64 lowercase hex characters.
pub fn validate_sha256(s: &str) -> Result<(), StorageError> {
    if is_lower_hex(s, 64) {
        Ok(())
    } else {
        Err(StorageError::InvalidDigest(s.to_owned()))
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Check client-declared checksums (any subset, case-insensitive hex) against the actual ones.
///
/// Returns the mismatches as `(algorithm, expected, actual)` where `algorithm` is
/// `"sha1"`, `"sha256"` or `"md5"`, `expected` is the declared value as given (trimmed)
/// and `actual` the computed lowercase hex. An empty vector means everything matched.
pub fn verify_declared(
    actual: &Checksums,
    sha1: Option<&str>,
    sha256: Option<&str>,
    md5: Option<&str>,
) -> Vec<(&'static str, String, String)> {
    [
        ("sha1", sha1, &actual.sha1),
        ("sha256", sha256, &actual.sha256),
        ("md5", md5, &actual.md5),
    ]
    .into_iter()
    .filter_map(|(name, declared, actual)| {
        let declared = declared?.trim();
        (!declared.eq_ignore_ascii_case(actual))
            .then(|| (name, declared.to_owned(), actual.clone()))
    })
    .collect()
}

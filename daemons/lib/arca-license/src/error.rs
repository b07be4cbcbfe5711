//! Errors of the operations that are not key verification (key files, issuing, dates).
//! A key that fails verification is a [`Rejection`](crate::Rejection), not an error.

use std::io;
use std::path::PathBuf;

/// Errors from key files, issuing and date parsing. Messages name the file (and the line for
/// parse errors) and never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// A file or directory could not be read, created or written.
    #[error("{}: cannot {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
    /// A key file has a bad line.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        message: String,
    },
    /// A key file has no key line.
    #[error("{}: no key found (expected a line '{tag} <64 hexadecimal characters>')", path.display())]
    NoKey { path: PathBuf, tag: &'static str },
    /// An issuer's private key file that group or others can access.
    #[error(
        "{}: permissions {mode:04o} let group or others access the issuer's private key; \
         refusing to use it (run: chmod 600 {})",
        path.display(),
        path.display()
    )]
    InsecureMode { path: PathBuf, mode: u32 },
    /// A key file that would be overwritten.
    #[error("{}: already exists; refusing to overwrite it", path.display())]
    AlreadyExists { path: PathBuf },
    /// Two different public keys in the trusted issuers directory have the same id.
    #[error(
        "{} and {}: two different public keys with the same issuer id {id}",
        first.display(),
        second.display()
    )]
    IssuerIdCollision {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// The fields of a license to issue are not acceptable.
    #[error("invalid license: {0}")]
    InvalidLicense(String),
    /// A date that is not a calendar date `YYYY-MM-DD`.
    #[error("invalid date {text:?}: expected a calendar date YYYY-MM-DD")]
    InvalidDate { text: String },
}

impl LicenseError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, error: io::Error) -> Self {
        LicenseError::Io {
            path: path.into(),
            action,
            error,
        }
    }
}

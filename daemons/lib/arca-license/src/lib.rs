//! arca-license: license keys for HA nodes (`docs/licenses.md`).
//!
//! A license key is a signed, printable, single-line token:
//!
//! ```text
//! arca-lic-v1.<base64url(payload JSON)>.<base64url(Ed25519 signature)>
//! ```
//!
//! base64url is without padding. The payload is a JSON object with its fields in this order:
//! `id` (32 random lowercase hex characters), `licensee`, `type` (e.g. `Enterprise`), `issued`
//! and `validThrough` (calendar dates `YYYY-MM-DD`, valid through the whole last day) and
//! `issuer` (the [issuer id](IssuerKey::id): the first 16 lowercase hex characters of SHA-256 of
//! the issuer's 32-byte public key). The signature is Ed25519 over the ASCII text before the
//! last `.` (prefix and encoded payload), so the prefix is signed too.
//!
//! - [`Issuer`]: a signing key (`arcactl license issuer-new`); [`Issuer::issue`] makes keys.
//! - [`TrustedIssuers`]: the public keys of `etc/security/license-issuers/*.pub`.
//! - [`verify`] / [`verify_batch`]: a key (or a pasted batch, see [`split_batch`]) checked
//!   against the trusted issuers and a date passed in by the caller: the library never reads
//!   the clock. A key is either a [`License`] or a [`Rejection`] with a reason.
//! - [`license_hash`]: what the UI and the API show for a key (SHA-256 hex of the key).
//! - [`License::to_json`]: the REST shape of a license.
//!
//! Key files hold one key line each (`#` comments and blank lines allowed):
//! `arca-license-issuer-v1 <64 hex: Ed25519 seed>` for an issuer's private key (mode 0600;
//! [`Issuer::load`] refuses a file group or others can access) and
//! `arca-license-issuer-pub-v1 <64 hex: Ed25519 public key>` for a trusted public key.

mod dates;
mod error;
mod issuer;
mod token;

pub use dates::{format_date_iso, format_date_long, parse_date};
pub use error::LicenseError;
pub use issuer::{
    ISSUER_KEY_TAG, ISSUER_PUB_TAG, Issuer, IssuerKey, TRUSTED_ISSUERS_DIR, TrustedIssuers,
};
pub use time::Date;
pub use token::{
    DEFAULT_LICENSE_TYPE, License, LicenseJson, MAX_TOKEN_LEN, NOT_IN_USE, NewLicense, Rejection,
    TOKEN_PREFIX, license_hash, split_batch, verify, verify_batch,
};

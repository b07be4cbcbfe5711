//! The `generic` format: files at any path, no rules of its own. Its checksum side files are
//! the ones every format shares ([`super::checksums`]).

/// Its package type.
pub const PACKAGE_TYPE: &str = "generic";

/// Its `repoLayoutRef` (also that of the package types without a module of their own).
pub const LAYOUT_REF: &str = "simple-default";

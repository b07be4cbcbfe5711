//! arca-crypto

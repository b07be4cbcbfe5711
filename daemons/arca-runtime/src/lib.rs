//! arca-runtime

//! arca-config
